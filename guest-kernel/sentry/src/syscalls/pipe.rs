//! pipe, pipe2, and reads and writes of pipe ends.

use alloc::vec::Vec;

use super::read_write::{clip, user_segments, Dir};
use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::fs::pipe::{PipeEnd, PIPE_BUF};
use crate::kernel::deliver::{self, Sender};
use crate::kernel::fd::File;
use crate::kernel::signal::SigInfo;
use crate::kernel::task::WaitKey;
use crate::kernel::{Kernel, Task};
use crate::platform::Platform;
use crate::vfs::file::flags::{O_CLOEXEC, O_DIRECT, O_NONBLOCK};
use abi::linux::signal::{SIGPIPE, SI_USER};
use abi::linux::{errno, Iovec};

/// Implements Linux `pipe2(2)`.
pub fn sys_pipe2<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let flags = a.uint(1);
    if flags & !(O_CLOEXEC | O_NONBLOCK | O_DIRECT) != 0 {
        return Err(SysError::einval("bad pipe2 flags"));
    }
    let (r, w) = PipeEnd::pair(flags & O_NONBLOCK);
    let cloexec = flags & O_CLOEXEC != 0;
    let limit = t.fd_limit();
    let (rfd, wfd) = {
        let mut fds = t.fds.lock();
        let rfd = fds.install(File::Pipe(r), 0, limit, cloexec)?;
        match fds.install(File::Pipe(w), 0, limit, cloexec) {
            Ok(wfd) => (rfd, wfd),
            Err(e) => {
                let _ = fds.close(rfd);
                return Err(e);
            }
        }
    };
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&rfd.to_le_bytes());
    b[4..].copy_from_slice(&wfd.to_le_bytes());
    if let Err(e) = t.mm.lock().copy_out(&mut k.frames, a.u64(0), &b) {
        let mut fds = t.fds.lock();
        let _ = fds.close(rfd);
        let _ = fds.close(wfd);
        return Err(e);
    }
    Ok(0)
}

/// Implements Linux `pipe(2)`.
pub fn sys_pipe<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    sys_pipe2(k, t, &SyscallArgs { nr: a.nr, a: [a.u64(0), 0, 0, 0, 0, 0] })
}

/// Reads from or writes to a pipe end with Linux's blocking rules: a read
/// waits for data or the last writer to go; a write of up to PIPE_BUF
/// bytes goes in whole, a longer one in pieces, waiting for room; writing
/// with no reader raises SIGPIPE and fails with EPIPE.
pub(super) fn transfer<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    end: &PipeEnd,
    iovs: &[Iovec],
    dir: Dir,
) -> SysResult {
    if !(if dir == Dir::Write { end.write } else { end.read }) {
        return Err(SysError::ebadf("pipe end not open in this direction"));
    }
    let total: u64 = iovs.iter().map(|i| i.len).sum();
    if total == 0 {
        return Ok(0);
    }
    let phys = *k.frames.phys();
    let id = end.id();
    match dir {
        Dir::Read => {
            let avail = end.pipe.lock().len() as u64;
            // Only the part of the buffer the data fills is faulted in.
            let segs = if avail == 0 { Vec::new() } else { user_segments(k, t, &clip(iovs, avail), true, 0)? };
            let mut p = end.pipe.lock();
            if p.is_empty() {
                if p.writers == 0 {
                    return Ok(0);
                }
                if end.nonblocking() {
                    return Err(SysError::new(errno::EAGAIN, "pipe empty"));
                }
                drop(p);
                t.wait_on(WaitKey::Io(id));
                return Err(SysError::block());
            }
            Ok(p.read_into(&phys, &segs) as u64)
        }
        Dir::Write => {
            let done = t.progress;
            let p = end.pipe.lock();
            if p.readers == 0 {
                drop(p);
                let info = SigInfo::from_process(SIGPIPE, SI_USER, t.pid, 0);
                let tid = t.tid;
                let _ = deliver::send_thread(k, t, tid, info, Sender::Kernel);
                if done > 0 {
                    return Ok(done);
                }
                return Err(SysError::new(errno::EPIPE, "no reader"));
            }
            let left = usize::try_from(total - done).unwrap_or(usize::MAX);
            let atomic = total <= PIPE_BUF as u64;
            let room = p.room();
            if (atomic && room < left) || room == 0 {
                if end.nonblocking() {
                    if done > 0 {
                        return Ok(done);
                    }
                    return Err(SysError::new(errno::EAGAIN, "pipe full"));
                }
                drop(p);
                t.wait_on(WaitKey::Io(id));
                return Err(SysError::block());
            }
            drop(p);
            let segs = user_segments(k, t, &clip(iovs, done + room.min(left) as u64), false, done)?;
            let n = end.pipe.lock().write_from(&phys, &segs, room.min(left)) as u64;
            let done = done + n;
            if done < total && !end.nonblocking() {
                t.progress = done;
                t.wait_on(WaitKey::Io(id));
                return Err(SysError::block());
            }
            Ok(done)
        }
    }
}
