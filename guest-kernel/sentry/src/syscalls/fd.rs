//! fcntl and the dup family on the file descriptor table.

use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::kernel::fd::File;
use crate::kernel::{Kernel, Task};
use crate::platform::Platform;
use abi::linux::errno;

const F_DUPFD: i32 = 0;
const F_GETFD: i32 = 1;
const F_SETFD: i32 = 2;
const F_GETFL: i32 = 3;
const F_SETFL: i32 = 4;
const F_DUPFD_CLOEXEC: i32 = 1030;
const F_SETPIPE_SZ: i32 = 1031;
const F_GETPIPE_SZ: i32 = 1032;
const FD_CLOEXEC: u64 = 1;
use crate::vfs::file::flags::{O_APPEND, O_CLOEXEC, O_NONBLOCK, O_RDONLY, O_WRONLY};

/// Implements Linux `fcntl(2)`: F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_SETFD,
/// F_GETFL, F_SETFL. The standard streams have no status flags to change
/// (O_APPEND and O_NONBLOCK on a host stream are not supported yet).
pub fn sys_fcntl<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let fd = a.fd(0);
    let file = t.file(fd)?;
    match a.int(1) {
        cmd @ (F_DUPFD | F_DUPFD_CLOEXEC) => {
            let min = usize::try_from(a.int(2)).map_err(|_| SysError::einval("negative fd"))?;
            let limit = t.fd_limit();
            if min >= limit {
                return Err(SysError::einval("fd above RLIMIT_NOFILE"));
            }
            t.fds.lock().install(file, min, limit, cmd == F_DUPFD_CLOEXEC).map(|n| n.unsigned_abs().into())
        }
        F_GETFD => Ok(if t.fds.lock().cloexec(fd)? { FD_CLOEXEC } else { 0 }),
        F_SETFD => t.fds.lock().set_cloexec(fd, a.u64(2) & FD_CLOEXEC != 0).map(|()| 0),
        F_GETFL => match file {
            File::HostStdio { host_fd, .. } => Ok(u64::from(if host_fd == 0 { O_RDONLY } else { O_WRONLY })),
            File::HostTty { .. } => Ok(u64::from(crate::vfs::file::flags::O_RDWR)),
            File::Vfs(f) => Ok(u64::from(f.flags() & !O_CLOEXEC)),
            File::Pipe(p) => Ok(u64::from(*p.flags.lock())),
            File::Socket(s) => Ok(u64::from(*s.flags.lock())),
            File::Event(e) => Ok(u64::from(e.status_flags())),
            File::Tty(f) => Ok(u64::from(*f.flags.lock())),
        },
        F_SETFL if matches!(file, File::Tty(_)) => {
            if let File::Tty(t) = file {
                let mut f = t.flags.lock();
                *f = (*f & !O_NONBLOCK) | (a.uint(2) & O_NONBLOCK);
            }
            Ok(0)
        }
        F_SETFL if matches!(file, File::Socket(_)) => {
            if let File::Socket(s) = file {
                let mut f = s.flags.lock();
                *f = (*f & !O_NONBLOCK) | (a.uint(2) & O_NONBLOCK);
            }
            Ok(0)
        }
        F_SETFL if matches!(file, File::Pipe(_)) => {
            if let File::Pipe(p) = file {
                let mut f = p.flags.lock();
                *f = (*f & !O_NONBLOCK) | (a.uint(2) & O_NONBLOCK);
            }
            Ok(0)
        }
        F_SETFL if matches!(file, File::Event(_)) => {
            if let File::Event(e) = file {
                e.set_status_flags(a.uint(2));
            }
            Ok(0)
        }
        F_SETFL if matches!(file, File::Vfs(_)) => {
            if let File::Vfs(f) = file {
                f.set_status_flags(a.uint(2));
            }
            Ok(0)
        }
        F_SETFL => {
            if a.uint(2) & (O_APPEND | O_NONBLOCK) != 0 {
                return Err(SysError::new(errno::EINVAL, "O_APPEND/O_NONBLOCK on a host stream not supported yet"));
            }
            Ok(0)
        }
        F_GETPIPE_SZ => match file {
            File::Pipe(p) => Ok(p.pipe.lock().capacity() as u64),
            _ => Err(SysError::ebadf("not a pipe")),
        },
        F_SETPIPE_SZ => match file {
            File::Pipe(p) => p.pipe.lock().set_capacity(a.u64(2)).map(|n| n as u64),
            _ => Err(SysError::ebadf("not a pipe")),
        },
        _ => Err(SysError::einval("unknown fcntl command")),
    }
}

/// Implements Linux `dup(2)`.
pub fn sys_dup<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let file = t.file(a.fd(0))?;
    let limit = t.fd_limit();
    t.fds.lock().install(file, 0, limit, false).map(|n| n.unsigned_abs().into())
}

/// Implements Linux `dup2(2)`.
pub fn sys_dup2<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let (old, new) = (a.fd(0), a.fd(1));
    let file = t.file(old)?;
    if old == new {
        return Ok(old.unsigned_abs().into());
    }
    let limit = t.fd_limit();
    t.fds.lock().install_at(file, new, limit, false).map(|()| new.unsigned_abs().into())
}

/// Implements Linux `dup3(2)`.
pub fn sys_dup3<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let (old, new, flags) = (a.fd(0), a.fd(1), a.uint(2));
    if flags & !O_CLOEXEC != 0 {
        return Err(SysError::einval("unknown dup3 flags"));
    }
    if old == new {
        return Err(SysError::einval("dup3 to the same fd"));
    }
    let file = t.file(old)?;
    let limit = t.fd_limit();
    t.fds.lock().install_at(file, new, limit, flags & O_CLOEXEC != 0).map(|()| new.unsigned_abs().into())
}
