//! socket, socketpair, bind, listen, accept, accept4, connect, shutdown,
//! getsockname, getpeername, getsockopt, setsockopt: unix domain sockets
//! (fs/socket). Other families fail with EAFNOSUPPORT: the sandbox has no
//! network yet. Sending and receiving are in `socket_io`.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::file::{base_location, new_entry_name, AT_FDCWD};
use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::fs::socket::names::{self, Name};
use crate::fs::socket::{Cred, Io, SockType, Socket};
use crate::kernel::fd::File;
use crate::kernel::task::WaitKey;
use crate::kernel::{Kernel, Task};
use crate::platform::{AddressSpace, Platform};
use crate::vfs::file::flags::{O_CLOEXEC, O_NONBLOCK, O_RDWR};
use crate::vfs::FileType;
use abi::linux::errno;
use abi::linux::socket::*;

pub(super) use super::socket_io::transfer;

/// The socket open at `fd` (ENOTSOCK for another file).
pub(super) fn sock<A: AddressSpace>(t: &Task<A>, fd: i32) -> Result<Arc<Socket>, SysError> {
    match t.file(fd)? {
        File::Socket(s) => Ok(s),
        _ => Err(SysError::new(errno::ENOTSOCK, "not a socket")),
    }
}

/// The calling task's credentials (the sandbox runs as root).
pub(super) fn cred<A: AddressSpace>(t: &Task<A>) -> Cred {
    Cred { pid: t.pid, uid: 0, gid: 0 }
}

/// Decodes socket(2)'s `type` argument: the type and the file flags.
fn sock_type(domain: u32, raw: u32, protocol: u32) -> Result<(SockType, u32), SysError> {
    if raw & !(SOCK_TYPE_MASK | SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(SysError::einval("unknown socket type flags"));
    }
    if domain != AF_UNIX {
        return Err(SysError::new(
            errno::EAFNOSUPPORT,
            "only AF_UNIX sockets: the sandbox has no network (AF_INET, AF_INET6, AF_NETLINK)",
        ));
    }
    let kind = match raw & SOCK_TYPE_MASK {
        SOCK_STREAM => SockType::Stream,
        // Linux takes SOCK_RAW on AF_UNIX as SOCK_DGRAM.
        SOCK_DGRAM | SOCK_RAW => SockType::Dgram,
        SOCK_SEQPACKET => SockType::SeqPacket,
        _ => return Err(SysError::new(errno::ESOCKTNOSUPPORT, "unknown socket type")),
    };
    if protocol != 0 && protocol != AF_UNIX {
        return Err(SysError::new(errno::EPROTONOSUPPORT, "AF_UNIX protocol must be 0"));
    }
    Ok((kind, raw))
}

fn install<A: AddressSpace>(t: &mut Task<A>, s: Arc<Socket>, cloexec: bool) -> Result<i32, SysError> {
    let limit = t.fd_limit();
    t.fds.lock().install(File::Socket(s), 0, limit, cloexec)
}

/// Implements Linux `socket(2)` for AF_UNIX.
pub fn sys_socket<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let (kind, raw) = sock_type(a.uint(0), a.uint(1), a.uint(2))?;
    let s = Socket::new(kind, O_RDWR | (raw & SOCK_NONBLOCK), cred(t));
    install(t, s, raw & SOCK_CLOEXEC != 0).map(|fd| fd.unsigned_abs().into())
}

/// Implements Linux `socketpair(2)` for AF_UNIX.
pub fn sys_socketpair<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    if matches!(a.uint(0), AF_INET | AF_INET6) {
        return Err(SysError::new(errno::EOPNOTSUPP, "internet sockets come in no pairs"));
    }
    let (kind, raw) = sock_type(a.uint(0), a.uint(1), a.uint(2))?;
    let (x, y) = Socket::pair(kind, O_RDWR | (raw & SOCK_NONBLOCK), cred(t));
    let cloexec = raw & SOCK_CLOEXEC != 0;
    let fx = install(t, x, cloexec)?;
    let fy = match install(t, y, cloexec) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = t.fds.lock().close(fx);
            return Err(e);
        }
    };
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&fx.to_le_bytes());
    b[4..].copy_from_slice(&fy.to_le_bytes());
    if let Err(e) = t.mm.lock().copy_out(&mut k.frames, a.u64(3), &b) {
        let mut fds = t.fds.lock();
        let _ = fds.close(fx);
        let _ = fds.close(fy);
        return Err(e);
    }
    Ok(0)
}

/// Reads a `sockaddr_un` of `len` bytes at `addr`.
pub(super) fn read_name<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    addr: u64,
    len: u64,
) -> Result<Name, SysError> {
    // Linux copies at most sizeof(struct sockaddr_storage) first.
    if len > 128 {
        return Err(SysError::einval("address length above sockaddr_storage"));
    }
    let mut raw = alloc::vec![0u8; usize::try_from(len).unwrap_or(0)];
    t.mm.lock().copy_in(&mut k.frames, addr, &mut raw)?;
    names::decode(&raw)
}

/// The socket of type `kind` a name refers to (connect, sendto). As
/// Linux, another type is ECONNREFUSED under an abstract name (those are
/// looked up by type) and EPROTOTYPE at a path.
pub(super) fn lookup<A: AddressSpace>(t: &Task<A>, name: &Name, kind: SockType) -> Result<Arc<Socket>, SysError> {
    let refused = || SysError::new(errno::ECONNREFUSED, "no socket bound at that name");
    match name {
        Name::Unnamed => Err(SysError::einval("no name in the address")),
        Name::Abstract(n) => names::find_abstract(n).filter(|s| s.kind == kind).ok_or_else(refused),
        Name::Path(p) => {
            if p.is_empty() {
                return Err(SysError::new(errno::ENOENT, "empty path"));
            }
            let loc = t.fs().resolve(&base_location(t, AT_FDCWD, p)?, p, true)?;
            if loc.node().stat()?.file_type() != Some(FileType::Socket) {
                return Err(refused());
            }
            let s = names::find_node(loc.node().id()).ok_or_else(refused)?;
            if s.kind != kind {
                return Err(SysError::new(errno::EPROTOTYPE, "the socket at that path is of another type"));
            }
            Ok(s)
        }
    }
}

/// Implements Linux `bind(2)`: an abstract name, a new socket node at a
/// path (EADDRINUSE if the path exists), or an autobound name.
pub fn sys_bind<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let s = sock(t, a.fd(0))?;
    let name = read_name(k, t, a.u64(1), a.u64(2))?;
    if s.addr().is_some() {
        return Err(SysError::einval("socket already bound"));
    }
    match name {
        Name::Unnamed => names::autobind(&s)?,
        Name::Abstract(n) => names::bind_abstract(&s, n)?,
        Name::Path(p) => {
            if p.is_empty() {
                return Err(SysError::new(errno::ENOENT, "empty path"));
            }
            let (dir, leaf) = t.fs().resolve_parent(&base_location(t, AT_FDCWD, &p)?, &p)?;
            new_entry_name(&leaf).map_err(|_| SysError::new(errno::EADDRINUSE, "address already in use"))?;
            let node = dir.node().create(&leaf, FileType::Socket, 0o777 & !t.umask, 0).map_err(|e| {
                if e.errno == errno::EEXIST {
                    SysError::new(errno::EADDRINUSE, "address already in use")
                } else {
                    e
                }
            })?;
            names::bind_node(&s, p, node.id())?
        }
    };
    Ok(0)
}

/// Implements Linux `listen(2)`.
pub fn sys_listen<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    sock(t, a.fd(0))?.listen(a.int(1)).map(|()| 0)
}

/// Writes a socket address to `(addr, len_ptr)` as Linux's
/// `move_addr_to_user`: at most the buffer's length, and the full length
/// into `*len_ptr`. Nothing when `addr` is NULL.
pub(super) fn put_name<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    addr: u64,
    len_ptr: u64,
    bytes: &[u8],
) -> Result<(), SysError> {
    if addr == 0 {
        return Ok(());
    }
    let mut lb = [0u8; 4];
    t.mm.lock().copy_in(&mut k.frames, len_ptr, &mut lb)?;
    let have = usize::try_from(i32::from_le_bytes(lb)).map_err(|_| SysError::einval("negative address length"))?;
    let n = have.min(bytes.len());
    let mut mm = t.mm.lock();
    mm.copy_out(&mut k.frames, addr, &bytes[..n])?;
    mm.copy_out(&mut k.frames, len_ptr, &u32::try_from(bytes.len()).unwrap_or(0).to_le_bytes())
}

/// The bytes of an optional name (the family alone when unnamed).
pub(super) fn name_bytes(a: Option<&names::Addr>) -> Vec<u8> {
    a.map_or_else(names::unnamed_bytes, names::Addr::to_bytes)
}

fn do_accept<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs, flags: u32) -> SysResult {
    if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return Err(SysError::einval("unknown accept4 flags"));
    }
    let s = sock(t, a.fd(0))?;
    if !s.kind.connection() {
        return Err(SysError::new(errno::EOPNOTSUPP, "accept on a datagram socket"));
    }
    let c = match s.accept()? {
        Io::Done(c) => c,
        Io::Wait(_) if s.nonblocking() => return Err(SysError::new(errno::EAGAIN, "no pending connection")),
        Io::Wait(_) => {
            t.wait_on(WaitKey::Io(s.id));
            return Err(SysError::block());
        }
    };
    *c.flags.lock() = O_RDWR | (flags & O_NONBLOCK);
    let peer = name_bytes(c.peer_addr().ok().flatten().as_ref());
    let fd = install(t, c, flags & O_CLOEXEC != 0)?;
    if let Err(e) = put_name(k, t, a.u64(1), a.u64(2), &peer) {
        let _ = t.fds.lock().close(fd);
        return Err(e);
    }
    Ok(fd.unsigned_abs().into())
}

/// Implements Linux `accept(2)`.
pub fn sys_accept<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_accept(k, t, a, 0)
}

/// Implements Linux `accept4(2)`.
pub fn sys_accept4<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_accept(k, t, a, a.uint(3))
}

/// Implements Linux `connect(2)`: a stream or seqpacket socket joins a
/// listener's backlog (waiting while it is full); a datagram socket sets
/// its default peer (AF_UNSPEC clears it).
pub fn sys_connect<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let s = sock(t, a.fd(0))?;
    let len = a.u64(2);
    if s.kind == SockType::Dgram && len >= 2 {
        let mut fam = [0u8; 2];
        t.mm.lock().copy_in(&mut k.frames, a.u64(1), &mut fam)?;
        if u32::from(u16::from_le_bytes(fam)) == AF_UNSPEC {
            return s.connect_dgram(None).map(|()| 0);
        }
    }
    let name = read_name(k, t, a.u64(1), len)?;
    if name == Name::Unnamed {
        return Err(SysError::einval("no name in the address"));
    }
    let target = lookup(t, &name, s.kind)?;
    if s.passcred() && s.addr().is_none() {
        names::autobind(&s)?;
    }
    if s.kind == SockType::Dgram {
        return s.connect_dgram(Some(&target)).map(|()| 0);
    }
    match Socket::connect_stream(&s, &target, cred(t))? {
        Io::Done(()) => Ok(0),
        Io::Wait(_) if s.nonblocking() => Err(SysError::new(errno::EAGAIN, "listener backlog full")),
        Io::Wait(ids) => {
            for id in ids {
                t.wait_on(WaitKey::Io(id));
            }
            Err(SysError::block())
        }
    }
}

/// Implements Linux `shutdown(2)`.
pub fn sys_shutdown<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let s = sock(t, a.fd(0))?;
    let (rd, wr) = match a.uint(1) {
        SHUT_RD => (true, false),
        SHUT_WR => (false, true),
        SHUT_RDWR => (true, true),
        _ => return Err(SysError::einval("bad shutdown mode")),
    };
    s.shutdown(rd, wr).map(|()| 0)
}

/// Implements Linux `getsockname(2)`.
pub fn sys_getsockname<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let s = sock(t, a.fd(0))?;
    let b = name_bytes(s.addr().as_ref());
    put_name(k, t, a.u64(1), a.u64(2), &b).map(|()| 0)
}

/// Implements Linux `getpeername(2)`.
pub fn sys_getpeername<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let s = sock(t, a.fd(0))?;
    let b = name_bytes(s.peer_addr()?.as_ref());
    put_name(k, t, a.u64(1), a.u64(2), &b).map(|()| 0)
}

/// Implements Linux `getsockopt(2)` at SOL_SOCKET: SO_TYPE, SO_ERROR,
/// SO_DOMAIN, SO_PROTOCOL, SO_ACCEPTCONN, SO_PEERCRED, SO_SNDBUF,
/// SO_RCVBUF, SO_PASSCRED, SO_REUSEADDR. Other options: ENOPROTOOPT.
pub fn sys_getsockopt<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let s = sock(t, a.fd(0))?;
    if a.int(1) != SOL_SOCKET {
        return Err(SysError::new(errno::EOPNOTSUPP, "unix sockets have options at SOL_SOCKET only"));
    }
    let int = |v: usize| u32::try_from(v).unwrap_or(u32::MAX).to_le_bytes().to_vec();
    let val: Vec<u8> = match a.int(2) {
        SO_TYPE => int(s.kind as usize),
        SO_ERROR => s.take_error().to_le_bytes().to_vec(),
        SO_DOMAIN => int(AF_UNIX as usize),
        SO_PROTOCOL => int(0),
        SO_ACCEPTCONN => int(usize::from(s.listening())),
        SO_PEERCRED => s.peer_cred().to_bytes().to_vec(),
        SO_SNDBUF => int(s.buf(true)),
        SO_RCVBUF => int(s.buf(false)),
        SO_PASSCRED => int(usize::from(s.passcred())),
        SO_REUSEADDR => int(usize::from(s.reuseaddr())),
        _ => return Err(SysError::new(errno::ENOPROTOOPT, "socket option not supported")),
    };
    let mut lb = [0u8; 4];
    t.mm.lock().copy_in(&mut k.frames, a.u64(4), &mut lb)?;
    let have = usize::try_from(i32::from_le_bytes(lb)).map_err(|_| SysError::einval("negative option length"))?;
    let n = have.min(val.len());
    let mut mm = t.mm.lock();
    mm.copy_out(&mut k.frames, a.u64(3), &val[..n])?;
    mm.copy_out(&mut k.frames, a.u64(4), &u32::try_from(n).unwrap_or(0).to_le_bytes())?;
    Ok(0)
}

/// Implements Linux `setsockopt(2)` at SOL_SOCKET: SO_SNDBUF, SO_RCVBUF,
/// SO_PASSCRED, SO_REUSEADDR (kept; unix names are never reused while
/// bound anyway). Other options: ENOPROTOOPT.
pub fn sys_setsockopt<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let s = sock(t, a.fd(0))?;
    if a.int(1) != SOL_SOCKET {
        return Err(SysError::new(errno::EOPNOTSUPP, "unix sockets have options at SOL_SOCKET only"));
    }
    if a.uint(4) < 4 {
        return Err(SysError::einval("option shorter than an int"));
    }
    let mut vb = [0u8; 4];
    t.mm.lock().copy_in(&mut k.frames, a.u64(3), &mut vb)?;
    let v = i32::from_le_bytes(vb);
    match a.int(2) {
        SO_SNDBUF => s.set_buf(true, v),
        SO_RCVBUF => s.set_buf(false, v),
        SO_PASSCRED => s.set_passcred(v != 0),
        SO_REUSEADDR => s.set_reuseaddr(v != 0),
        _ => return Err(SysError::new(errno::ENOPROTOOPT, "socket option not supported")),
    }
    Ok(0)
}
