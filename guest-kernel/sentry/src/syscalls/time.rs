//! Clocks and sleeping.

use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::kernel::{Kernel, Task};
use crate::platform::{Host, Platform};
use crate::time::{ns_from_timespec, timespec_from_ns, NSEC_PER_SEC};
use abi::linux::clock::*;
use abi::linux::{errno, Timespec};

/// The value of clock `id` in ns.
pub(super) fn clock_ns<P: Platform>(k: &Kernel<P>, t: &Task<P::AddressSpace>, id: u64) -> Result<u64, SysError> {
    let c = k.host().clocks();
    match id {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE | 11 /* CLOCK_TAI */ => Ok(c.realtime_ns),
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE | CLOCK_BOOTTIME => Ok(c.monotonic_ns),
        CLOCK_PROCESS_CPUTIME_ID => Ok(crate::kernel::timer::process_cpu(k, t, t.pid).1),
        CLOCK_THREAD_CPUTIME_ID => Ok(t.utime_ns + t.stime_ns),
        _ => Err(SysError::einval("unknown clock")),
    }
}

pub(super) fn timespec_bytes(ts: Timespec) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&ts.tv_sec.to_le_bytes());
    b[8..].copy_from_slice(&ts.tv_nsec.to_le_bytes());
    b
}

/// Reads a `struct timespec` from application memory, in ns.
pub(super) fn read_timespec<P: Platform>(
    k: &mut Kernel<P>,
    t: &Task<P::AddressSpace>,
    addr: u64,
) -> Result<u64, SysError> {
    let mut b = [0u8; 16];
    t.mm.lock().copy_in(&mut k.frames, addr, &mut b)?;
    let (mut s, mut n) = ([0u8; 8], [0u8; 8]);
    s.copy_from_slice(&b[..8]);
    n.copy_from_slice(&b[8..]);
    let ts = Timespec { tv_sec: i64::from_le_bytes(s), tv_nsec: i64::from_le_bytes(n) };
    ns_from_timespec(&ts).ok_or(SysError::einval("invalid timespec"))
}

/// Implements Linux `clock_gettime(2)`.
pub fn sys_clock_gettime<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let ns = clock_ns(k, t, a.u64(0))?;
    t.mm.lock().copy_out(&mut k.frames, a.u64(1), &timespec_bytes(timespec_from_ns(ns)))?;
    Ok(0)
}

/// Implements Linux `clock_getres(2)`.
pub fn sys_clock_getres<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let id = a.u64(0);
    clock_ns(k, t, id)?;
    let res = if id == CLOCK_REALTIME_COARSE || id == CLOCK_MONOTONIC_COARSE { 4_000_000 } else { 1 };
    if a.u64(1) != 0 {
        t.mm.lock().copy_out(&mut k.frames, a.u64(1), &timespec_bytes(timespec_from_ns(res)))?;
    }
    Ok(0)
}

/// Implements Linux `gettimeofday(2)`; the obsolete timezone reads as zero.
pub fn sys_gettimeofday<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let ns = k.host().clocks().realtime_ns;
    if a.u64(0) != 0 {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&(ns / NSEC_PER_SEC).to_le_bytes());
        b[8..].copy_from_slice(&(ns % NSEC_PER_SEC / 1000).to_le_bytes());
        t.mm.lock().copy_out(&mut k.frames, a.u64(0), &b)?;
    }
    if a.u64(1) != 0 {
        t.mm.lock().copy_out(&mut k.frames, a.u64(1), &[0u8; 8])?;
    }
    Ok(0)
}

/// Implements Linux `time(2)`.
pub fn sys_time<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let secs = k.host().clocks().realtime_ns / NSEC_PER_SEC;
    if a.u64(0) != 0 {
        t.mm.lock().copy_out(&mut k.frames, a.u64(0), &secs.to_le_bytes())?;
    }
    Ok(secs)
}

/// Implements Linux `nanosleep(2)`; a signal that interrupts it leaves the
/// time left in `rem` (see [`sleep_interrupted`]).
pub fn sys_nanosleep<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let ns = read_timespec(k, t, a.u64(0))?;
    sleep_until(k, t, ns, false)
}

/// Blocks the task until `ns` from its first attempt (or until the
/// monotonic time `ns` when `absolute`), letting other tasks run.
fn sleep_until<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, ns: u64, absolute: bool) -> SysResult {
    let now = k.host().clocks().monotonic_ns;
    let deadline = if absolute { *t.deadline.get_or_insert(ns) } else { t.deadline_after(now, ns) };
    if now >= deadline {
        return Ok(0);
    }
    Err(SysError::block())
}

/// Implements Linux `clock_nanosleep(2)` (relative and TIMER_ABSTIME).
pub fn sys_clock_nanosleep<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    a: &SyscallArgs,
) -> SysResult {
    let (id, flags) = (a.u64(0), a.u64(1));
    if id == CLOCK_THREAD_CPUTIME_ID {
        return Err(SysError::einval("cannot sleep on the thread CPU clock"));
    }
    if id == CLOCK_PROCESS_CPUTIME_ID {
        return Err(SysError::new(errno::EOPNOTSUPP, "sleeping on the process CPU clock"));
    }
    let now = clock_ns(k, t, id)?;
    let req = read_timespec(k, t, a.u64(2))?;
    if flags & TIMER_ABSTIME != 0 {
        // Convert to a monotonic deadline once.
        let mono = k.host().clocks().monotonic_ns;
        let target = if t.deadline.is_some() { 0 } else { mono.saturating_add(req.saturating_sub(now)) };
        return sleep_until(k, t, target, true);
    }
    sleep_until(k, t, req, false)
}

/// A sleep ended by a signal (EINTR): writes the time left to `rem`, as
/// `nanosleep` and a relative `clock_nanosleep` do. Called while the
/// interrupted syscall's deadline is still set.
pub(crate) fn sleep_interrupted<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>) {
    let a = t.regs.syscall_args();
    let rem = match t.orig_rax {
        abi::linux::sysno::nanosleep => a[1],
        abi::linux::sysno::clock_nanosleep if a[1] & TIMER_ABSTIME == 0 => a[3],
        _ => return,
    };
    let Some(deadline) = t.deadline else { return };
    if rem == 0 {
        return;
    }
    let left = deadline.saturating_sub(k.host().clocks().monotonic_ns);
    // As Linux, a bad `rem` does not change the EINTR.
    let _ = t.mm.lock().copy_out(&mut k.frames, rem, &timespec_bytes(timespec_from_ns(left)));
}
