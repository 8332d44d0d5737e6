//! The gofer's only raw system calls: the ones rustix does not wrap, or
//! wraps as `unsafe`.
//! Everything else goes through rustix's safe wrappers.

use std::os::fd::{AsRawFd, BorrowedFd};

use rustix::io::Errno;

fn last_errno() -> Errno {
    Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO))
}

/// `fchmodat2(fd, "", mode, AT_EMPTY_PATH)`: changes the mode of the inode
/// `fd` refers to, which may be an `O_PATH` fd, without resolving any name
/// (Linux 6.6+; `ENOSYS` before). rustix's `chmodat` rejects `AT_EMPTY_PATH`.
pub fn fchmod_empty_path(fd: BorrowedFd<'_>, mode: u32) -> Result<(), Errno> {
    const EMPTY: &std::ffi::CStr = c"";
    // SAFETY: fchmodat2 reads the NUL-terminated path (a static empty
    // C string) and no other memory; `fd` is a live descriptor borrowed for
    // the duration of the call, so the kernel cannot act on a reused number.
    let ret = unsafe { libc::syscall(libc::SYS_fchmodat2, fd.as_raw_fd(), EMPTY.as_ptr(), mode, libc::AT_EMPTY_PATH) };
    if ret == 0 {
        Ok(())
    } else {
        Err(last_errno())
    }
}

/// A POSIX byte-range lock description (`struct flock` without the libc
/// type leaking out of this module).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeLock {
    /// `F_RDLCK`, `F_WRLCK` or `F_UNLCK`.
    pub ty: i16,
    pub start: i64,
    /// 0 means "to the end of the file".
    pub len: i64,
    /// -1 for open file description locks.
    pub pid: i32,
}

fn ofd_fcntl(fd: BorrowedFd<'_>, cmd: libc::c_int, lock: &mut RangeLock) -> Result<(), Errno> {
    // SAFETY: an all-zero `flock` is a valid value of this plain C struct.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = lock.ty;
    fl.l_whence = 0; // SEEK_SET; the libc constant is a c_int.
    fl.l_start = lock.start;
    fl.l_len = lock.len;
    fl.l_pid = 0; // must be 0 for OFD locks
                  // SAFETY: F_OFD_SETLK/F_OFD_GETLK read and (GETLK) write exactly one
                  // `struct flock`, which `fl` is, alive and exclusively borrowed for the
                  // call; `fd` is a live borrowed descriptor.
    let ret = unsafe { libc::fcntl(fd.as_raw_fd(), cmd, &mut fl as *mut libc::flock) };
    if ret == -1 {
        return Err(last_errno());
    }
    *lock = RangeLock { ty: fl.l_type, start: fl.l_start, len: fl.l_len, pid: fl.l_pid };
    Ok(())
}

/// `fcntl(F_OFD_SETLK)`: take or release an open-file-description lock
/// without blocking (`EAGAIN` when it conflicts).
pub fn ofd_setlk(fd: BorrowedFd<'_>, lock: RangeLock) -> Result<(), Errno> {
    let mut lock = lock;
    ofd_fcntl(fd, libc::F_OFD_SETLK, &mut lock)
}

/// `fcntl(F_OFD_GETLK)`: the first lock that would conflict with `lock`, or
/// `lock` with type `F_UNLCK` when none would.
pub fn ofd_getlk(fd: BorrowedFd<'_>, lock: RangeLock) -> Result<RangeLock, Errno> {
    let mut lock = lock;
    ofd_fcntl(fd, libc::F_OFD_GETLK, &mut lock)?;
    Ok(lock)
}

pub const F_RDLCK: i16 = 0;
pub const F_WRLCK: i16 = 1;
pub const F_UNLCK: i16 = 2;

/// `unshare(CLONE_NEWNS)`: gives the calling thread its own copy of the
/// mount table. rustix marks `unshare` unsafe because of `CLONE_FILES`
/// (threads could then see fds from another table); this asks only for a
/// new mount namespace, which affects path resolution, not descriptors.
pub fn unshare_mount_namespace() -> Result<(), Errno> {
    // SAFETY: `unshare_unsafe`'s contract concerns `UnshareFlags::FILES`
    // only; with `NEWNS` alone no descriptor table is split, so no thread
    // can observe a descriptor from an unshared table.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNS) }
}

/// Takes ownership of the connected unix socket `fd` that the process
/// inherited from the runtime (`ringfence gofer --fd N`).
///
/// Refuses stdio (0–2), a descriptor that is not open, or one that is not a
/// socket, and succeeds at most once per process, so a second call cannot
/// create a second owner of the same descriptor.
pub fn inherited_socket(fd: i32) -> Result<std::os::unix::net::UnixStream, Errno> {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::sync::atomic::{AtomicBool, Ordering};

    static TAKEN: AtomicBool = AtomicBool::new(false);
    if fd <= 2 {
        return Err(Errno::BADF);
    }
    // SAFETY: fstat writes one `struct stat`, which `st` is (zeroed is a
    // valid value of this plain C struct); any fd number is at worst EBADF.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above; `st` is alive and exclusively borrowed for the call.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(last_errno());
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFSOCK {
        return Err(Errno::NOTSOCK);
    }
    if TAKEN.swap(true, Ordering::SeqCst) {
        return Err(Errno::BUSY);
    }
    // SAFETY: `fd` is open (fstat succeeded) and is a socket the process
    // was started with: this process creates no sockets before serving, and
    // std owns only stdio, which is refused above. `TAKEN` makes this the
    // only `OwnedFd` ever made here, so the descriptor has exactly one
    // owner and is closed once.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok(std::os::unix::net::UnixStream::from(owned))
}
