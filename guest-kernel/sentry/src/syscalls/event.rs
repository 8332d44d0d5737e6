//! eventfd, eventfd2, timerfd_create, timerfd_settime, timerfd_gettime,
//! signalfd, signalfd4, and reads and writes of event files.

use alloc::vec::Vec;

use super::read_write::Dir;
use super::time::timespec_bytes;
use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::fs::event::{EventFile, EventKind};
use crate::fs::eventfd::EventFd;
use crate::fs::signalfd::{signalfd_siginfo, SignalFd};
use crate::fs::timerfd::{Setting, TimerFd};
use crate::kernel::deliver::{pending_set, take_pending};
use crate::kernel::fd::File;
use crate::kernel::poll::notify_events;
use crate::kernel::signal::first;
use crate::kernel::task::WaitKey;
use crate::kernel::{Kernel, Task};
use crate::platform::{Host, Platform};
use crate::time::{ns_from_timespec, timespec_from_ns};
use abi::linux::clock::{CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_REALTIME};
use abi::linux::eventfd::{EFD_CLOEXEC, EFD_NONBLOCK, EFD_SEMAPHORE};
use abi::linux::poll::POLLIN;
use abi::linux::signalfd::{SFD_CLOEXEC, SFD_NONBLOCK, SIGNALFD_SIGINFO_SIZE};
use abi::linux::timerfd::*;
use abi::linux::{errno, Iovec, Timespec};

fn install<P: Platform>(t: &mut Task<P::AddressSpace>, kind: EventKind, nonblock: bool, cloexec: bool) -> SysResult {
    let file = EventFile::new(kind, nonblock);
    let limit = t.fd_limit();
    t.fds.lock().install(File::Event(file), 0, limit, cloexec).map(|fd| fd.unsigned_abs().into())
}

/// Implements Linux `eventfd2(2)`.
pub fn sys_eventfd2<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let flags = a.uint(1);
    if flags & !(EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE) != 0 {
        return Err(SysError::einval("unknown eventfd flags"));
    }
    let e = EventFd::new(u64::from(a.uint(0)), flags & EFD_SEMAPHORE != 0);
    install::<P>(t, EventKind::EventFd(e), flags & EFD_NONBLOCK != 0, flags & EFD_CLOEXEC != 0)
}

/// Implements Linux `eventfd(2)` (no flags).
pub fn sys_eventfd<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    sys_eventfd2(k, t, &SyscallArgs { nr: a.nr, a: [a.u64(0), 0, 0, 0, 0, 0] })
}

/// Implements Linux `timerfd_create(2)`. CLOCK_BOOTTIME is the monotonic
/// clock (the sandbox never suspends); the alarm clocks need
/// CAP_WAKE_ALARM, which the sandbox does not grant.
pub fn sys_timerfd_create<P: Platform>(
    _k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    a: &SyscallArgs,
) -> SysResult {
    let (clock, flags) = (a.int(0), a.uint(1));
    let clock = u64::try_from(clock).map_err(|_| SysError::einval("unknown clock"))?;
    if flags & !(TFD_CLOEXEC | TFD_NONBLOCK) != 0 {
        return Err(SysError::einval("unknown timerfd_create flags"));
    }
    let realtime = match clock {
        CLOCK_REALTIME => true,
        CLOCK_MONOTONIC | CLOCK_BOOTTIME => false,
        CLOCK_REALTIME_ALARM | CLOCK_BOOTTIME_ALARM => {
            return Err(SysError::new(errno::EPERM, "alarm clocks need CAP_WAKE_ALARM"))
        }
        _ => return Err(SysError::einval("clock not supported by timerfd")),
    };
    install::<P>(t, EventKind::TimerFd(TimerFd::new(realtime)), flags & TFD_NONBLOCK != 0, flags & TFD_CLOEXEC != 0)
}

/// The timerfd at `fd`.
fn timerfd<A: crate::platform::AddressSpace>(t: &Task<A>, fd: i32) -> Result<alloc::sync::Arc<EventFile>, SysError> {
    match t.file(fd)? {
        File::Event(e) if matches!(e.kind, EventKind::TimerFd(_)) => Ok(e),
        _ => Err(SysError::einval("not a timerfd")),
    }
}

/// A `struct itimerspec`: interval, then value.
fn itimerspec_bytes(s: Setting) -> [u8; 32] {
    let mut b = [0u8; 32];
    b[..16].copy_from_slice(&timespec_bytes(timespec_from_ns(s.interval)));
    b[16..].copy_from_slice(&timespec_bytes(timespec_from_ns(s.value)));
    b
}

fn timespec_at(b: &[u8]) -> Result<u64, SysError> {
    let (mut s, mut n) = ([0u8; 8], [0u8; 8]);
    s.copy_from_slice(&b[..8]);
    n.copy_from_slice(&b[8..16]);
    let ts = Timespec { tv_sec: i64::from_le_bytes(s), tv_nsec: i64::from_le_bytes(n) };
    ns_from_timespec(&ts).ok_or(SysError::einval("invalid timespec in itimerspec"))
}

/// Implements Linux `timerfd_settime(2)`. TFD_TIMER_CANCEL_ON_SET is
/// accepted; the sandbox's realtime clock is never set, so it never cancels.
pub fn sys_timerfd_settime<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    a: &SyscallArgs,
) -> SysResult {
    let flags = a.uint(1);
    let mut b = [0u8; 32];
    t.mm.lock().copy_in(&mut k.frames, a.u64(2), &mut b)?;
    if flags & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 {
        return Err(SysError::einval("unknown timerfd_settime flags"));
    }
    let new = Setting { interval: timespec_at(&b[..16])?, value: timespec_at(&b[16..])? };
    let f = timerfd(t, a.fd(0))?;
    let EventKind::TimerFd(tf) = &f.kind else { return Err(SysError::einval("not a timerfd")) };
    let old = tf.set(&k.host().clocks(), new, flags & TFD_TIMER_ABSTIME != 0);
    if a.u64(3) != 0 {
        t.mm.lock().copy_out(&mut k.frames, a.u64(3), &itimerspec_bytes(old))?;
    }
    Ok(0)
}

/// Implements Linux `timerfd_gettime(2)`.
pub fn sys_timerfd_gettime<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    a: &SyscallArgs,
) -> SysResult {
    let f = timerfd(t, a.fd(0))?;
    let EventKind::TimerFd(tf) = &f.kind else { return Err(SysError::einval("not a timerfd")) };
    let cur = tf.get(&k.host().clocks());
    t.mm.lock().copy_out(&mut k.frames, a.u64(1), &itimerspec_bytes(cur))?;
    Ok(0)
}

/// Implements Linux `signalfd4(2)`: a new signalfd, or with `fd` an
/// existing one, a new mask for it (the flags are then ignored).
pub fn sys_signalfd4<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let (fd, flags) = (a.fd(0), a.uint(3));
    if a.u64(2) != 8 {
        return Err(SysError::einval("sizemask is not 8"));
    }
    let mask = t.mm.lock().read_u64(&mut k.frames, a.u64(1))?;
    if flags & !(SFD_CLOEXEC | SFD_NONBLOCK) != 0 {
        return Err(SysError::einval("unknown signalfd flags"));
    }
    if fd == -1 {
        let kind = EventKind::SignalFd(SignalFd::new(mask));
        return install::<P>(t, kind, flags & SFD_NONBLOCK != 0, flags & SFD_CLOEXEC != 0);
    }
    match t.file(fd)? {
        File::Event(e) => match &e.kind {
            EventKind::SignalFd(s) => {
                s.set_mask(mask);
                // Readers re-check against the new mask.
                notify_events(WaitKey::Signal, POLLIN);
                Ok(fd.unsigned_abs().into())
            }
            _ => Err(SysError::einval("not a signalfd")),
        },
        _ => Err(SysError::einval("not a signalfd")),
    }
}

/// Implements Linux `signalfd(2)` (no flags).
pub fn sys_signalfd<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    sys_signalfd4(k, t, &SyscallArgs { nr: a.nr, a: [a.u64(0), a.u64(1), a.u64(2), 0, 0, 0] })
}

/// Copies `bytes` into the user buffers `iovs`, in order.
fn copy_to_iovs<P: Platform>(
    k: &mut Kernel<P>,
    t: &Task<P::AddressSpace>,
    iovs: &[Iovec],
    mut bytes: &[u8],
) -> Result<(), SysError> {
    let mut mm = t.mm.lock();
    for iov in iovs {
        if bytes.is_empty() {
            break;
        }
        let n = usize::try_from(iov.len).unwrap_or(usize::MAX).min(bytes.len());
        mm.copy_out(&mut k.frames, iov.base, &bytes[..n])?;
        bytes = &bytes[n..];
    }
    Ok(())
}

/// Fills `buf` from the user buffers `iovs`, in order.
fn copy_from_iovs<P: Platform>(
    k: &mut Kernel<P>,
    t: &Task<P::AddressSpace>,
    iovs: &[Iovec],
    buf: &mut [u8],
) -> Result<(), SysError> {
    let mut mm = t.mm.lock();
    let mut done = 0;
    for iov in iovs {
        if done == buf.len() {
            break;
        }
        let n = usize::try_from(iov.len).unwrap_or(usize::MAX).min(buf.len() - done);
        mm.copy_in(&mut k.frames, iov.base, &mut buf[done..done + n])?;
        done += n;
    }
    Ok(())
}

/// Fails with EAGAIN on a non-blocking file, else blocks on `key`.
fn would_block<A: crate::platform::AddressSpace>(t: &mut Task<A>, f: &EventFile, key: WaitKey) -> SysResult {
    if f.nonblocking() {
        return Err(SysError::new(errno::EAGAIN, "nothing to read or no room yet"));
    }
    t.wait_on(key);
    Err(SysError::block())
}

/// Reads or writes an event file: an eventfd's counter, a timerfd's
/// expiration count, a signalfd's pending signals. Epolls have neither
/// read nor write, nor have timerfds and signalfds a write (EINVAL, as
/// Linux for a file without the operation).
pub(super) fn transfer<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    f: &EventFile,
    iovs: &[Iovec],
    dir: Dir,
) -> SysResult {
    let total: u64 = iovs.iter().map(|i| i.len).sum();
    match (&f.kind, dir) {
        (EventKind::EventFd(e), Dir::Read) => {
            if total < 8 {
                return Err(SysError::einval("eventfd read of less than 8 bytes"));
            }
            match e.read() {
                Some(v) => copy_to_iovs(k, t, iovs, &v.to_le_bytes()).map(|()| 8),
                None => would_block(t, f, e.key()),
            }
        }
        (EventKind::EventFd(e), Dir::Write) => {
            if total < 8 {
                return Err(SysError::einval("eventfd write of less than 8 bytes"));
            }
            let mut b = [0u8; 8];
            copy_from_iovs(k, t, iovs, &mut b)?;
            if e.write(u64::from_le_bytes(b))? {
                Ok(8)
            } else {
                would_block(t, f, e.key())
            }
        }
        (EventKind::TimerFd(tf), Dir::Read) => {
            if total < 8 {
                return Err(SysError::einval("timerfd read of less than 8 bytes"));
            }
            let clocks = k.host().clocks();
            if let Some(n) = tf.read(&clocks) {
                return copy_to_iovs(k, t, iovs, &n.to_le_bytes()).map(|()| 8);
            }
            // Woken at the next expiration, or when the timer is set.
            t.begin_timed_wait(clocks.monotonic_ns, None);
            if let Some(at) = tf.readiness_at(&clocks).at {
                t.wake_by(at);
            }
            would_block(t, f, tf.key())
        }
        (EventKind::SignalFd(s), Dir::Read) => {
            let size = SIGNALFD_SIGINFO_SIZE as u64;
            if total < size {
                return Err(SysError::einval("signalfd read of less than 128 bytes"));
            }
            let mut out = Vec::new();
            while (out.len() as u64) + size <= total {
                let Some(sig) = first(pending_set(k, t) & s.mask()) else { break };
                let Some(info) = take_pending(k, t, sig) else { break };
                out.extend_from_slice(&signalfd_siginfo(&info));
            }
            if out.is_empty() {
                return would_block(t, f, WaitKey::Signal);
            }
            copy_to_iovs(k, t, iovs, &out).map(|()| out.len() as u64)
        }
        (EventKind::Epoll(_), _) | (EventKind::TimerFd(_) | EventKind::SignalFd(_), Dir::Write) => {
            Err(SysError::einval("file has no such operation"))
        }
    }
}
