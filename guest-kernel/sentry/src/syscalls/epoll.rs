//! epoll_create, epoll_create1, epoll_ctl, epoll_wait, epoll_pwait,
//! epoll_pwait2 over [`crate::fs::epoll`].

use alloc::vec::Vec;

use super::poll::{finish_masked, set_temp_mask};
use super::time::read_timespec;
use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::fs::epoll::{as_epoll, scan, Epoll};
use crate::fs::event::{EventFile, EventKind};
use crate::kernel::fd::File;
use crate::kernel::poll::poll_file;
use crate::kernel::task::WaitKey;
use crate::kernel::{Kernel, Task};
use crate::platform::{Host, Platform};
use abi::layout::USER_END;
use abi::linux::epoll::*;
use abi::linux::errno;
use abi::linux::poll::{POLLERR, POLLHUP, POLLIN, POLLOUT};

/// Most events one epoll_wait returns (EP_MAX_EVENTS: INT_MAX / 12).
const EP_MAX_EVENTS: i32 = i32::MAX / 12;
/// Events an EPOLLEXCLUSIVE entry may ask for.
const EXCLUSIVE_OK_BITS: u32 = POLLIN | POLLOUT | POLLERR | POLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;

fn create<P: Platform>(t: &mut Task<P::AddressSpace>, cloexec: bool) -> SysResult {
    let file = EventFile::new(EventKind::Epoll(Epoll::new()), false);
    let limit = t.fd_limit();
    t.fds.lock().install(File::Event(file), 0, limit, cloexec).map(|fd| fd.unsigned_abs().into())
}

/// Implements Linux `epoll_create(2)`: the size hint must be positive.
pub fn sys_epoll_create<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    if a.int(0) <= 0 {
        return Err(SysError::einval("epoll_create size must be positive"));
    }
    create::<P>(t, false)
}

/// Implements Linux `epoll_create1(2)`.
pub fn sys_epoll_create1<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let flags = a.uint(0);
    if flags & !EPOLL_CLOEXEC != 0 {
        return Err(SysError::einval("unknown epoll_create1 flags"));
    }
    create::<P>(t, flags & EPOLL_CLOEXEC != 0)
}

/// Implements Linux `epoll_ctl(2)`. EPOLLWAKEUP is dropped, as Linux does
/// without CAP_BLOCK_SUSPEND. Sandbox files that are always ready (regular
/// files, directories, device nodes) are refused with EPERM, like Linux's
/// files without a poll operation.
pub fn sys_epoll_ctl<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let (op, fd) = (a.int(1), a.fd(2));
    let (mut events, mut data) = (0u32, 0u64);
    if op != EPOLL_CTL_DEL {
        let mut b = [0u8; 12];
        t.mm.lock().copy_in(&mut k.frames, a.u64(3), &mut b)?;
        events = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let mut d = [0u8; 8];
        d.copy_from_slice(&b[4..]);
        data = u64::from_le_bytes(d);
    }
    let epf = t.file(a.fd(0))?;
    let target = t.file(fd)?;
    let r = poll_file(k, t, &target);
    // Sandbox files whose readiness never changes (regular files,
    // directories, most device nodes) have no poll on Linux.
    if matches!(target, File::Vfs(_)) && r.key.is_none() {
        return Err(SysError::new(errno::EPERM, "file does not support epoll"));
    }
    let ep = match as_epoll(&epf) {
        Some(ep) if epf.identity() != target.identity() => ep,
        Some(_) => return Err(SysError::einval("an epoll cannot watch itself")),
        None => return Err(SysError::einval("not an epoll fd")),
    };
    events &= !EPOLLWAKEUP;
    if op != EPOLL_CTL_DEL && events & EPOLLEXCLUSIVE != 0 {
        if op == EPOLL_CTL_MOD {
            return Err(SysError::einval("EPOLLEXCLUSIVE with EPOLL_CTL_MOD"));
        }
        if op == EPOLL_CTL_ADD && (as_epoll(&target).is_some() || events & !EXCLUSIVE_OK_BITS != 0) {
            return Err(SysError::einval("EPOLLEXCLUSIVE with these events or on an epoll"));
        }
    }
    match op {
        EPOLL_CTL_ADD => {
            if let Some(child) = as_epoll(&target) {
                if ep.would_loop(&child) {
                    return Err(SysError::new(errno::ELOOP, "epoll loop or nesting too deep"));
                }
            }
            ep.insert(fd, &target, events, data, r)?;
        }
        EPOLL_CTL_MOD => ep.modify(fd, &target, events, data)?,
        EPOLL_CTL_DEL => ep.remove(fd, &target)?,
        _ => return Err(SysError::einval("unknown epoll_ctl op")),
    }
    Ok(0)
}

/// The common wait of the epoll_wait family: `timeout_ns` None waits
/// forever. Interrupted by a signal it fails with EINTR (never restarted,
/// as on Linux).
fn do_wait<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    a: &SyscallArgs,
    timeout_ns: Option<u64>,
) -> SysResult {
    let (addr, max) = (a.u64(1), a.int(2));
    if max <= 0 || max > EP_MAX_EVENTS {
        return Err(SysError::einval("maxevents out of range"));
    }
    let max = max.unsigned_abs() as usize;
    let len = max as u64 * EPOLL_EVENT_SIZE;
    // Linux's access_ok: the buffer must lie in the user half.
    if addr.checked_add(len).is_none_or(|end| end > USER_END) {
        return Err(SysError::efault("events buffer outside user memory"));
    }
    let file = t.file(a.fd(0))?;
    let ep = as_epoll(&file).ok_or(SysError::einval("not an epoll fd"))?;
    let now = k.host().clocks().monotonic_ns;
    let deadline = t.begin_timed_wait(now, timeout_ns);
    let expired = deadline.is_some_and(|d| now >= d);
    let s = scan(k, t, &ep, max, true);
    if !s.ready.is_empty() {
        let mut b = Vec::with_capacity(s.ready.len() * 12);
        for (events, data) in &s.ready {
            b.extend_from_slice(&events.to_le_bytes());
            b.extend_from_slice(&data.to_le_bytes());
        }
        t.mm.lock().copy_out(&mut k.frames, addr, &b)?;
        return Ok(s.ready.len() as u64);
    }
    if expired {
        return Ok(0);
    }
    // A wake-up of an entry's I/O key reaches the epoll's own key (the
    // epoll watches it); the signal and host-stdin keys are looked for in
    // the task's waits by whoever posts them, so those are waited on too.
    t.wait_on(ep.key());
    for key in s.keys {
        if !matches!(key, WaitKey::Io(_)) {
            t.wait_on(key);
        }
    }
    if let Some(at) = s.at {
        t.wake_by(at);
    }
    Err(SysError::block())
}

fn ms_timeout(ms: i32) -> Option<u64> {
    u64::try_from(ms).ok().map(|ms| ms * 1_000_000)
}

/// Implements Linux `epoll_wait(2)`.
pub fn sys_epoll_wait<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_wait(k, t, a, ms_timeout(a.int(3)))
}

/// Implements Linux `epoll_pwait(2)`: the signal mask is in place while it waits.
pub fn sys_epoll_pwait<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    set_temp_mask(k, t, a.u64(4), a.u64(5))?;
    let r = do_wait(k, t, a, ms_timeout(a.int(3)));
    finish_masked(t, r)
}

/// Implements Linux `epoll_pwait2(2)`: a timespec timeout (NULL: none).
pub fn sys_epoll_pwait2<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let tsp = a.u64(3);
    let timeout = if tsp == 0 { None } else { Some(read_timespec(k, t, tsp)?) };
    set_temp_mask(k, t, a.u64(4), a.u64(5))?;
    let r = do_wait(k, t, a, timeout);
    finish_masked(t, r)
}
