//! Fids and the nodes they point at.
//!
//! A [`Node`] is one file the client has walked to: an `O_PATH|O_NOFOLLOW`
//! descriptor, never a path string. It remembers where it was found (parent
//! node + name) for the three things that need a name: `..` (the parent
//! node, so `..` can never rise above the root, which has no parent),
//! reopening a non-directory for I/O (`openat(parent, name, O_NOFOLLOW)`,
//! then a device/inode check against the node), and `Trename`/`Tremove`.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex, PoisonError};

use p9::{qid_type, Qid};
use rustix::fs::{FileType, Stat};
use rustix::io::Errno;

/// Where a node was found.
#[derive(Clone)]
pub struct Loc {
    pub parent: Arc<Node>,
    pub name: Vec<u8>,
}

pub struct Node {
    /// `O_PATH|O_NOFOLLOW|O_CLOEXEC`: usable as a dirfd, for `fstat`, and
    /// for `*at(fd, "", AT_EMPTY_PATH)`, but not for I/O.
    pub fd: OwnedFd,
    pub dev: u64,
    pub ino: u64,
    pub file_type: FileType,
    pub qid: Qid,
    /// `None` for the root.
    loc: Mutex<Option<Loc>>,
}

impl Node {
    pub fn new(fd: OwnedFd, st: &Stat, qid_path: u64, loc: Option<Loc>) -> Self {
        let file_type = FileType::from_raw_mode(st.st_mode);
        let qid = Qid { ty: qid_type_of(file_type), version: 0, path: qid_path };
        Self { fd, dev: st.st_dev, ino: st.st_ino, file_type, qid, loc: Mutex::new(loc) }
    }

    pub fn loc(&self) -> Option<Loc> {
        self.loc.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    pub fn set_loc(&self, loc: Loc) {
        *self.loc.lock().unwrap_or_else(PoisonError::into_inner) = Some(loc);
    }

    pub fn is_dir(&self) -> bool {
        self.file_type == FileType::Directory
    }

    /// Whether `st` describes this node's inode.
    pub fn same_inode(&self, st: &Stat) -> bool {
        st.st_dev == self.dev && st.st_ino == self.ino
    }

    pub fn same_node(&self, other: &Node) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }

    pub fn fstat(&self) -> Result<Stat, Errno> {
        rustix::fs::fstat(self.fd.as_fd())
    }
}

pub fn qid_type_of(ft: FileType) -> u8 {
    match ft {
        FileType::Directory => qid_type::DIR,
        FileType::Symlink => qid_type::SYMLINK,
        _ => qid_type::FILE,
    }
}

/// An open file behind a fid (after `Tlopen`/`Tlcreate`).
pub struct OpenFile {
    pub fd: OwnedFd,
    pub readable: bool,
    pub writable: bool,
}

pub struct Fid {
    pub node: Arc<Node>,
    /// The user the client attached as (`n_uname`); new files get this owner.
    pub uid: u32,
    pub open: Option<OpenFile>,
}

impl Fid {
    pub fn new(node: Arc<Node>, uid: u32) -> Self {
        Self { node, uid, open: None }
    }

    pub fn open_file(&self) -> Result<&OpenFile, Errno> {
        self.open.as_ref().ok_or(Errno::BADF)
    }
}

/// Checks one path component from the client: not empty, not `.` or `..`,
/// no `/` (the codec has already rejected NUL). `..` is handled by walk
/// alone, through the parent node.
pub fn validate_name(name: &[u8]) -> Result<&[u8], Errno> {
    match name {
        b"" | b"." | b".." => Err(Errno::INVAL),
        _ if name.contains(&b'/') => Err(Errno::INVAL),
        _ if name.len() > 255 => Err(Errno::NAMETOOLONG),
        _ => Ok(name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(validate_name(b"a.b"), Ok(&b"a.b"[..]));
        assert_eq!(validate_name(b"..."), Ok(&b"..."[..]));
        for bad in [&b""[..], b".", b"..", b"/", b"a/b", b"/etc", b"../x"] {
            assert_eq!(validate_name(bad), Err(Errno::INVAL), "{bad:?}");
        }
        assert_eq!(validate_name(&[b'x'; 256]), Err(Errno::NAMETOOLONG));
    }
}
