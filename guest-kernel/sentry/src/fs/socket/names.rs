//! Socket names: `struct sockaddr_un` decoding and the table of bound
//! names.
//!
//! An abstract name (a leading NUL in `sun_path`) is looked up in a table
//! of its own. A filesystem name is a socket node that `bind` creates; the
//! table maps the node's identity to the socket, so `connect` resolves the
//! path as any other and finds the socket from the node. Removing the node
//! (unlink) makes the name unreachable, as on Linux.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use super::Socket;
use crate::error::SysError;
use abi::linux::errno;

/// AF_UNIX.
pub const AF_UNIX: u16 = 1;
/// `sizeof(struct sockaddr_un)`.
pub const SOCKADDR_UN_LEN: usize = 110;
/// Where `sun_path` starts.
const PATH_OFF: usize = 2;

/// A socket's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    /// An abstract name: the bytes after the leading NUL.
    Abstract(Vec<u8>),
    /// A filesystem name: the path as bound and the socket node's identity.
    Path { path: Vec<u8>, node: (u64, u64) },
}

/// A decoded `sockaddr_un`, before any lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name {
    /// Only the family (bind: pick an abstract name).
    Unnamed,
    Abstract(Vec<u8>),
    Path(Vec<u8>),
}

/// Decodes a `sockaddr_un` of `raw.len()` bytes as Linux's `unix_validate_addr`
/// and `unix_mkname_bsd` do.
pub fn decode(raw: &[u8]) -> Result<Name, SysError> {
    if raw.len() < PATH_OFF || raw.len() > SOCKADDR_UN_LEN {
        return Err(SysError::einval("bad sockaddr_un length"));
    }
    if u16::from_le_bytes([raw[0], raw[1]]) != AF_UNIX {
        return Err(SysError::einval("address family is not AF_UNIX"));
    }
    let path = &raw[PATH_OFF..];
    match path.first() {
        None => Ok(Name::Unnamed),
        Some(0) => Ok(Name::Abstract(path[1..].to_vec())),
        Some(_) => {
            let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
            Ok(Name::Path(path[..end].to_vec()))
        }
    }
}

impl Addr {
    /// The `sockaddr_un` bytes getsockname and recvfrom report.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = AF_UNIX.to_le_bytes().to_vec();
        match self {
            Addr::Abstract(n) => {
                b.push(0);
                b.extend_from_slice(n);
            }
            Addr::Path { path, .. } => {
                b.extend_from_slice(path);
                b.push(0);
            }
        }
        b
    }
}

/// The address of an unnamed socket: the family alone.
pub fn unnamed_bytes() -> Vec<u8> {
    AF_UNIX.to_le_bytes().to_vec()
}

#[derive(Default)]
struct Table {
    abstract_names: BTreeMap<Vec<u8>, Weak<Socket>>,
    nodes: BTreeMap<(u64, u64), Weak<Socket>>,
    /// The next autobind name.
    next_auto: u32,
}

static TABLE: spin::Mutex<Table> =
    spin::Mutex::new(Table { abstract_names: BTreeMap::new(), nodes: BTreeMap::new(), next_auto: 0 });

fn in_use() -> SysError {
    SysError::new(errno::EADDRINUSE, "address already in use")
}

/// Binds abstract name `name` to `s`.
pub fn bind_abstract(s: &Arc<Socket>, name: Vec<u8>) -> Result<Addr, SysError> {
    let mut t = TABLE.lock();
    if t.abstract_names.get(&name).is_some_and(|w| w.strong_count() > 0) {
        return Err(in_use());
    }
    let a = Addr::Abstract(name.clone());
    s.set_addr(a.clone())?;
    t.abstract_names.insert(name, Arc::downgrade(s));
    Ok(a)
}

/// Binds a fresh abstract name of five hex digits (autobind).
pub fn autobind(s: &Arc<Socket>) -> Result<Addr, SysError> {
    for _ in 0..0x10_0000 {
        let n = {
            let mut t = TABLE.lock();
            t.next_auto = (t.next_auto + 1) & 0xf_ffff;
            t.next_auto
        };
        let name = alloc::format!("{n:05x}").into_bytes();
        match bind_abstract(s, name) {
            Err(e) if e.errno == errno::EADDRINUSE => continue,
            r => return r,
        }
    }
    Err(in_use())
}

/// Binds `s` to the socket node `node` (just created at `path`).
pub fn bind_node(s: &Arc<Socket>, path: Vec<u8>, node: (u64, u64)) -> Result<Addr, SysError> {
    let a = Addr::Path { path, node };
    s.set_addr(a.clone())?;
    TABLE.lock().nodes.insert(node, Arc::downgrade(s));
    Ok(a)
}

/// The socket bound to abstract name `name`.
pub fn find_abstract(name: &[u8]) -> Option<Arc<Socket>> {
    TABLE.lock().abstract_names.get(name).and_then(Weak::upgrade)
}

/// The socket bound at the node with identity `node`.
pub fn find_node(node: (u64, u64)) -> Option<Arc<Socket>> {
    TABLE.lock().nodes.get(&node).and_then(Weak::upgrade)
}

/// Forgets a name whose socket is gone.
pub fn release(a: &Addr) {
    let mut t = TABLE.lock();
    match a {
        Addr::Abstract(n) => {
            if t.abstract_names.get(n).is_some_and(|w| w.strong_count() == 0) {
                t.abstract_names.remove(n);
            }
        }
        Addr::Path { node, .. } => {
            if t.nodes.get(node).is_some_and(|w| w.strong_count() == 0) {
                t.nodes.remove(node);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_linux() {
        assert_eq!(decode(&[1, 0]), Ok(Name::Unnamed));
        assert_eq!(decode(&[1, 0, 0, b'a', 0]), Ok(Name::Abstract(b"a\0".to_vec())));
        assert_eq!(decode(&[1, 0, b'/', b't', 0, b'x']), Ok(Name::Path(b"/t".to_vec())));
        assert_eq!(decode(&[2, 0, b'x']).err().map(|e| e.errno), Some(errno::EINVAL));
        assert_eq!(decode(&[1]).err().map(|e| e.errno), Some(errno::EINVAL));
        let p = Addr::Path { path: b"/t".to_vec(), node: (1, 2) };
        assert_eq!(p.to_bytes(), vec![1, 0, b'/', b't', 0]);
    }
}
