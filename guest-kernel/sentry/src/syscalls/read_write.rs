//! read, write, readv, writev, close.

use alloc::vec::Vec;

use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::kernel::fd::File;
use crate::kernel::{Kernel, Task};
use crate::platform::{Host, PhysAddr, Platform};
use crate::vfs::file::OpenFile;
use abi::hostcall::{MAX_SEGMENTS, MAX_TRANSFER};
use abi::linux::{errno, signal, Iovec};

/// Largest `iovcnt` Linux accepts (UIO_MAXIOV).
const UIO_MAXIOV: usize = 1024;
/// Largest byte count of one read or write (MAX_RW_COUNT on Linux).
const MAX_RW_COUNT: u64 = 0x7fff_f000;

/// Direction of a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dir {
    Read,
    Write,
}

/// Collects the physical segments of user `iovs` for one host transfer,
/// stopping at the hostcall's segment and byte limits (a short transfer).
fn gather<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    iovs: &[Iovec],
    dir: Dir,
) -> Result<Vec<(PhysAddr, u64)>, SysError> {
    let mut segs: Vec<(PhysAddr, u64)> = Vec::new();
    let mut total = 0u64;
    for iov in iovs {
        let room = MAX_TRANSFER.min(MAX_RW_COUNT) - total;
        let len = iov.len.min(room);
        if len == 0 {
            continue;
        }
        let more = t.mm.lock().segments(&mut k.frames, iov.base, len, dir == Dir::Read);
        let more = match more {
            Ok(m) => m,
            // Linux transfers what it can before a bad buffer; with nothing
            // gathered yet the whole call fails.
            Err(e) if segs.is_empty() => return Err(e),
            Err(_) => break,
        };
        for s in more {
            if segs.len() == MAX_SEGMENTS {
                return Ok(segs);
            }
            segs.push(s);
            total += s.1;
        }
        if total >= MAX_TRANSFER.min(MAX_RW_COUNT) {
            break;
        }
    }
    Ok(segs)
}

fn transfer<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    fd: i32,
    iovs: &[Iovec],
    dir: Dir,
) -> SysResult {
    let host_fd = match t.file(fd)? {
        File::HostStdio { host_fd, .. } => host_fd,
        File::HostTty { read_fd, write_fd } => match dir {
            Dir::Read => read_fd,
            Dir::Write => write_fd,
        },
        File::Vfs(f) => return transfer_vfs(k, t, &f, iovs, dir, None),
        File::Pipe(p) => return super::pipe::transfer(k, t, &p, iovs, dir),
        File::Socket(s) => return super::socket::transfer(k, t, &s, iovs, dir),
        File::Event(e) => return super::event::transfer(k, t, &e, iovs, dir),
        File::Tty(f) => {
            return match dir {
                Dir::Read => super::tty::read(k, t, &f, iovs),
                Dir::Write => super::tty::write(k, t, &f, iovs),
            }
        }
    };
    // Above 2: an exec'd process's descriptor, whose direction only the
    // host knows (it fails the transfer with EBADF).
    let allowed = match dir {
        Dir::Read => host_fd == 0 || host_fd > 2,
        Dir::Write => host_fd == 1 || host_fd == 2 || host_fd > 2,
    };
    if !allowed {
        return Err(SysError::ebadf("stream not open in this direction"));
    }
    let segs = gather(k, t, iovs, dir)?;
    if segs.is_empty() {
        return Ok(0);
    }
    // A read of the host's stdin waits in the sentry, not in the host, so
    // the other tasks and timers go on meanwhile.
    if dir == Dir::Read && k.host().poll(host_fd, abi::linux::poll::POLLIN, 0) == 0 {
        t.wait_on(if host_fd == 0 {
            crate::kernel::task::WaitKey::HostStdin
        } else {
            crate::kernel::task::WaitKey::HostFd(host_fd)
        });
        return Err(SysError::block());
    }
    let r = match dir {
        Dir::Read => k.host().read(host_fd, &segs),
        Dir::Write => k.host().write(host_fd, &segs),
    };
    match r {
        Ok(n) => Ok(n as u64),
        Err(e) if e == errno::EPIPE && dir == Dir::Write => {
            // SIGPIPE's default action terminates; SIG_IGN (1) or a handler
            // (not yet delivered) leave the EPIPE error.
            let info = crate::kernel::signal::SigInfo::from_process(signal::SIGPIPE, signal::SI_USER, t.pid, 0);
            let tid = t.tid;
            let _ = crate::kernel::deliver::send_thread(k, t, tid, info, crate::kernel::deliver::Sender::Kernel);
            Err(SysError::new(errno::EPIPE, "host stream closed"))
        }
        Err(e) => Err(SysError::new(e, "host I/O failed")),
    }
}

/// The iovecs cut to their first `limit` bytes, so that only the part a
/// transfer touches is faulted in (as Linux copies no further).
pub(super) fn clip(iovs: &[Iovec], limit: u64) -> Vec<Iovec> {
    let mut left = limit;
    let mut out = Vec::new();
    for iov in iovs {
        if left == 0 {
            break;
        }
        let len = iov.len.min(left);
        out.push(Iovec { base: iov.base, len });
        left -= len;
    }
    out
}

/// The physical segments of user `iovs` (faulting pages in), skipping the
/// first `skip` bytes, for a pipe transfer of at most 1 MiB.
pub(super) fn user_segments<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    iovs: &[Iovec],
    write: bool,
    mut skip: u64,
) -> Result<Vec<(PhysAddr, u64)>, SysError> {
    let mut out = Vec::new();
    let mut total = 0u64;
    let mut mm = t.mm.lock();
    for iov in iovs {
        if skip >= iov.len {
            skip -= iov.len;
            continue;
        }
        let len = (iov.len - skip).min((1 << 20) - total);
        if len == 0 {
            break;
        }
        out.extend(mm.segments(&mut k.frames, iov.base + skip, len, write)?);
        total += len;
        skip = 0;
    }
    Ok(out)
}

/// Reads or writes a sandbox file at the file offset or at `at`
/// (pread/pwrite), moving data straight between the file and the
/// application's frames where the filesystem can.
pub(super) fn transfer_vfs<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    f: &OpenFile,
    iovs: &[Iovec],
    dir: Dir,
    at: Option<u64>,
) -> SysResult {
    let mut done = 0u64;
    for iov in iovs {
        let len = iov.len.min(MAX_RW_COUNT - done);
        if len == 0 {
            continue;
        }
        let segs = match t.mm.lock().segments(&mut k.frames, iov.base, len, dir == Dir::Read) {
            Ok(s) => s,
            Err(e) if done == 0 => return Err(e),
            Err(_) => return Ok(done),
        };
        let phys = *k.frames.phys();
        let off = at.map(|a| a + done);
        let cached = if k.page_cache.is_empty() { None } else { k.page_cache.lookup(&f.node.stat()?) };
        let r = match (dir, cached) {
            (Dir::Read, None) => f.read_phys(&phys, off, &segs),
            (Dir::Write, None) => f.write_phys(&phys, off, &segs),
            // A file mapped MAP_SHARED: reads come from its cached pages,
            // writes go to the file and to the cached pages.
            (Dir::Read, Some(id)) => f.transfer_at(off, false, |o| k.page_cache.read(&mut k.frames, id, o, &segs)),
            (Dir::Write, Some(id)) => f.transfer_at(off, true, |o| {
                let n = f.node.write_phys(&phys, o, &segs)?;
                k.page_cache.written(&mut k.frames, id, o, &segs, n);
                Ok(n)
            }),
        };
        let n = match r {
            Ok(n) => n as u64,
            Err(e) if done == 0 => return Err(e),
            Err(_) => return Ok(done),
        };
        done += n;
        if n < len {
            break;
        }
    }
    Ok(done)
}

/// Implements Linux `pread64(2)` (sandbox files; streams are not seekable).
pub fn sys_pread64<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let off = positional_offset(a.u64(3))?;
    match t.file(a.fd(0))? {
        File::Vfs(f) => transfer_vfs(k, t, &f, &[Iovec { base: a.u64(1), len: a.u64(2) }], Dir::Read, Some(off)),
        File::HostStdio { .. }
        | File::HostTty { .. }
        | File::Pipe(_)
        | File::Socket(_)
        | File::Event(_)
        | File::Tty(_) => Err(SysError::new(errno::ESPIPE, "stream is not seekable")),
    }
}

/// Implements Linux `pwrite64(2)`.
pub fn sys_pwrite64<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let off = positional_offset(a.u64(3))?;
    match t.file(a.fd(0))? {
        File::Vfs(f) => transfer_vfs(k, t, &f, &[Iovec { base: a.u64(1), len: a.u64(2) }], Dir::Write, Some(off)),
        File::HostStdio { .. }
        | File::HostTty { .. }
        | File::Pipe(_)
        | File::Socket(_)
        | File::Event(_)
        | File::Tty(_) => Err(SysError::new(errno::ESPIPE, "stream is not seekable")),
    }
}

fn positional_vectored<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    a: &SyscallArgs,
    dir: Dir,
) -> SysResult {
    let file = t.file(a.fd(0))?;
    let off = positional_offset(a.u64(3))?;
    let iovs = read_iovecs(k, t, a.u64(1), a.size(2)?)?;
    match file {
        File::Vfs(f) => transfer_vfs(k, t, &f, &iovs, dir, Some(off)),
        File::HostStdio { .. }
        | File::HostTty { .. }
        | File::Pipe(_)
        | File::Socket(_)
        | File::Event(_)
        | File::Tty(_) => Err(SysError::new(errno::ESPIPE, "stream is not seekable")),
    }
}

/// Implements Linux `preadv(2)` (the offset in one register on x86-64).
pub fn sys_preadv<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    positional_vectored(k, t, a, Dir::Read)
}

/// Implements Linux `pwritev(2)`.
pub fn sys_pwritev<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    positional_vectored(k, t, a, Dir::Write)
}

fn positional_offset(raw: u64) -> Result<u64, SysError> {
    if raw > i64::MAX as u64 {
        return Err(SysError::einval("negative offset"));
    }
    Ok(raw)
}

/// Implements Linux `read(2)` on the host's standard input.
pub fn sys_read<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    transfer(k, t, a.fd(0), &[Iovec { base: a.u64(1), len: a.u64(2) }], Dir::Read)
}

/// Implements Linux `write(2)` on the host's standard output and error.
pub fn sys_write<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    transfer(k, t, a.fd(0), &[Iovec { base: a.u64(1), len: a.u64(2) }], Dir::Write)
}

pub(super) fn read_iovecs<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    addr: u64,
    count: usize,
) -> Result<Vec<Iovec>, SysError> {
    if count > UIO_MAXIOV {
        return Err(SysError::einval("iovcnt above UIO_MAXIOV"));
    }
    let mut raw = alloc::vec![0u8; count * 16];
    t.mm.lock().copy_in(&mut k.frames, addr, &mut raw)?;
    let mut total = 0u64;
    let mut out = Vec::with_capacity(count);
    for c in raw.chunks_exact(16) {
        let mut b = [0u8; 8];
        b.copy_from_slice(&c[..8]);
        let base = u64::from_le_bytes(b);
        b.copy_from_slice(&c[8..]);
        let len = u64::from_le_bytes(b);
        // Linux rejects a total that overflows ssize_t.
        total = total
            .checked_add(len)
            .filter(|&t| t <= i64::MAX as u64)
            .ok_or(SysError::einval("iovec lengths overflow"))?;
        out.push(Iovec { base, len });
    }
    Ok(out)
}

/// Implements Linux `readv(2)`.
pub fn sys_readv<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    t.file(a.fd(0))?;
    let iovs = read_iovecs(k, t, a.u64(1), a.size(2)?)?;
    transfer(k, t, a.fd(0), &iovs, Dir::Read)
}

/// Implements Linux `writev(2)`.
pub fn sys_writev<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    t.file(a.fd(0))?;
    let iovs = read_iovecs(k, t, a.u64(1), a.size(2)?)?;
    transfer(k, t, a.fd(0), &iovs, Dir::Write)
}

/// Implements Linux `close(2)`.
pub fn sys_close<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    t.fds.lock().close(a.fd(0)).map(|()| 0)
}
