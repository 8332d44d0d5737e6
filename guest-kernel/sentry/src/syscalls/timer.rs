//! Interval timers (`alarm`, `setitimer`, `getitimer`) and POSIX timers
//! (`timer_create` and friends), over kernel/timer.rs.

use super::time::clock_ns;
use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::kernel::timer::{self, Arming, Notify, PosixTimer, TimerClock, ITIMER_KINDS};
use crate::kernel::{Kernel, Task};
use crate::platform::{Host, Platform};
use crate::time::NSEC_PER_SEC;
use abi::linux::clock::*;
use abi::linux::errno;
use abi::linux::signal::{NSIG, SIGALRM};
use abi::linux::timer::*;

const NSEC_PER_USEC: u64 = 1000;

/// Reads `N` little-endian i64 words at `addr`.
fn read_words<P: Platform, const N: usize>(
    k: &mut Kernel<P>,
    t: &Task<P::AddressSpace>,
    addr: u64,
) -> Result<[i64; N], SysError> {
    let mut b = [0u8; 64];
    t.mm.lock().copy_in(&mut k.frames, addr, &mut b[..N * 8])?;
    let mut w = [0i64; N];
    for (i, v) in w.iter_mut().enumerate() {
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[i * 8..i * 8 + 8]);
        *v = i64::from_le_bytes(x);
    }
    Ok(w)
}

/// Writes (interval, value) ns as a pair of timevals or timespecs (`unit`:
/// ns per sub-second unit) at `addr`.
fn write_pair<P: Platform>(
    k: &mut Kernel<P>,
    t: &Task<P::AddressSpace>,
    addr: u64,
    (interval, value): (u64, u64),
    unit: u64,
) -> Result<(), SysError> {
    let mut b = [0u8; 32];
    for (i, ns) in [interval, value].into_iter().enumerate() {
        b[i * 16..i * 16 + 8].copy_from_slice(&(ns / NSEC_PER_SEC).to_le_bytes());
        b[i * 16 + 8..i * 16 + 16].copy_from_slice(&(ns % NSEC_PER_SEC / unit).to_le_bytes());
    }
    t.mm.lock().copy_out(&mut k.frames, addr, &b)?;
    Ok(())
}

/// One (seconds, sub-second units) pair in ns, `None` if invalid.
fn pair_ns(sec: i64, sub: i64, unit: u64) -> Option<u64> {
    let per_sec = i64::try_from(NSEC_PER_SEC / unit).ok()?;
    if sec < 0 || !(0..per_sec).contains(&sub) {
        return None;
    }
    // Values past what ns can hold saturate (Linux clamps to KTIME_MAX).
    let sec = u64::try_from(sec).ok()?;
    let sub = u64::try_from(sub).ok()?;
    Some(sec.saturating_mul(NSEC_PER_SEC).saturating_add(sub * unit))
}

/// Reads a `struct itimerval` (`unit` 1000) or `struct itimerspec` (`unit`
/// 1) as (interval, value) ns.
fn read_pair<P: Platform>(
    k: &mut Kernel<P>,
    t: &Task<P::AddressSpace>,
    addr: u64,
    unit: u64,
) -> Result<(u64, u64), SysError> {
    let w = read_words::<P, 4>(k, t, addr)?;
    let interval = pair_ns(w[0], w[1], unit).ok_or(SysError::einval("invalid interval"))?;
    let value = pair_ns(w[2], w[3], unit).ok_or(SysError::einval("invalid value"))?;
    Ok((interval, value))
}

/// The (interval, value) of interval timer `which` now.
fn itimer_get<P: Platform>(k: &Kernel<P>, t: &Task<P::AddressSpace>, which: usize, mono: u64) -> (u64, u64) {
    let a = k.procs.get(&t.pid).map(|p| p.timers.itimers[which]).unwrap_or_default();
    let (value, interval) = a.remaining(timer::clock_now(k, t, ITIMER_KINDS[which].0, mono));
    // A timer about to fire reads as 1 µs, not 0 (Linux).
    let value = if a.next.is_some() { value.max(NSEC_PER_USEC) } else { 0 };
    (interval, value)
}

/// Arms (or with a zero value disarms) interval timer `which`.
fn itimer_set<P: Platform>(
    k: &mut Kernel<P>,
    t: &Task<P::AddressSpace>,
    which: usize,
    (interval, value): (u64, u64),
    mono: u64,
) {
    let clock = ITIMER_KINDS[which].0;
    let now = timer::clock_now(k, t, clock, mono);
    let next = (value > 0).then(|| now.saturating_add(value));
    if let Some(p) = k.procs.get_mut(&t.pid) {
        p.timers.itimers[which] = Arming { next, interval };
    }
    if let (Some(at), TimerClock::Wall) = (next, clock) {
        timer::armed_wall(k, at);
    }
}

/// The interval timer index of `which`.
fn itimer_index(which: u64) -> Result<usize, SysError> {
    match which {
        ITIMER_REAL => Ok(0),
        ITIMER_VIRTUAL => Ok(1),
        ITIMER_PROF => Ok(2),
        _ => Err(SysError::einval("unknown interval timer")),
    }
}

/// Implements Linux `getitimer(2)`.
pub fn sys_getitimer<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let which = itimer_index(a.u64(0))?;
    let mono = k.host().clocks().monotonic_ns;
    let cur = itimer_get(k, t, which, mono);
    write_pair(k, t, a.u64(1), cur, NSEC_PER_USEC)?;
    Ok(0)
}

/// Implements Linux `setitimer(2)`; a NULL new value disarms, as Linux
/// still allows.
pub fn sys_setitimer<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let which = itimer_index(a.u64(0))?;
    let new = if a.u64(1) == 0 { (0, 0) } else { read_pair(k, t, a.u64(1), NSEC_PER_USEC)? };
    let mono = k.host().clocks().monotonic_ns;
    let old = itimer_get(k, t, which, mono);
    if a.u64(2) != 0 {
        write_pair(k, t, a.u64(2), old, NSEC_PER_USEC)?;
    }
    itimer_set(k, t, which, new, mono);
    Ok(0)
}

/// Implements Linux `alarm(2)`: returns the seconds the previous alarm had
/// left, rounded as Linux does (to the nearest, and never 0 for a pending
/// alarm).
pub fn sys_alarm<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let secs = a.u64(0) & u64::from(u32::MAX);
    let mono = k.host().clocks().monotonic_ns;
    let (_, old) = itimer_get(k, t, 0, mono);
    itimer_set(k, t, 0, (0, secs * NSEC_PER_SEC), mono);
    let (s, us) = (old / NSEC_PER_SEC, old % NSEC_PER_SEC / NSEC_PER_USEC);
    Ok(if (s == 0 && us > 0) || us >= 500_000 { s + 1 } else { s })
}

/// The timer clock for a `timer_create` clock id.
fn timer_clock(id: u64) -> Result<TimerClock, SysError> {
    match id {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME | 11 /* CLOCK_TAI */ => Ok(TimerClock::Wall),
        CLOCK_PROCESS_CPUTIME_ID => Ok(TimerClock::Cpu),
        CLOCK_THREAD_CPUTIME_ID => Err(SysError::einval("thread CPU-time timers are not supported")),
        CLOCK_MONOTONIC_RAW | CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE => {
            Err(SysError::new(errno::EOPNOTSUPP, "this clock has no timers"))
        }
        _ => Err(SysError::einval("unknown or unsupported clock")),
    }
}

/// Decodes the `struct sigevent` at `addr` (Linux's good_sigevent rules).
fn read_sigevent<P: Platform>(
    k: &mut Kernel<P>,
    t: &Task<P::AddressSpace>,
    addr: u64,
) -> Result<(Notify, u64), SysError> {
    let mut b = [0u8; SIGEVENT_SIZE];
    t.mm.lock().copy_in(&mut k.frames, addr, &mut b)?;
    let word = |o: usize| i32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[..8]);
    let value = u64::from_le_bytes(v);
    let (signo, notify, tid) = (word(8), word(12), word(16));
    let sig = u32::try_from(signo).ok().filter(|s| (1..=NSIG).contains(s));
    let bad_sig = || SysError::einval("invalid sigev_signo");
    let n = match notify {
        SIGEV_NONE => Notify::Nothing,
        // SIGEV_THREAD is glibc's business; the kernel signals the process.
        SIGEV_SIGNAL | SIGEV_THREAD => Notify::Process(sig.ok_or_else(bad_sig)?),
        SIGEV_THREAD_ID => {
            let tid = u32::try_from(tid).map_err(|_| SysError::einval("invalid thread id"))?;
            let same_group = tid == t.tid || k.tasks.get(&tid).is_some_and(|o| o.pid == t.pid);
            if !same_group {
                return Err(SysError::einval("not a thread of this process"));
            }
            Notify::Thread { tid, sig: sig.ok_or_else(bad_sig)? }
        }
        _ => return Err(SysError::einval("invalid sigev_notify")),
    };
    Ok((n, value))
}

/// Implements Linux `timer_create(2)` on CLOCK_REALTIME, CLOCK_MONOTONIC,
/// CLOCK_BOOTTIME, CLOCK_TAI and CLOCK_PROCESS_CPUTIME_ID.
pub fn sys_timer_create<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let clock_id = a.u64(0);
    let clock = timer_clock(clock_id)?;
    let (notify, value) = if a.u64(1) == 0 {
        (Notify::Process(SIGALRM), None)
    } else {
        let (n, v) = read_sigevent(k, t, a.u64(1))?;
        (n, Some(v))
    };
    let p = k.procs.get_mut(&t.pid).ok_or(SysError::einval("no process"))?;
    let id = p.timers.alloc_id().ok_or(SysError::new(errno::EAGAIN, "too many timers"))?;
    // Without a sigevent, si_value is the timer id.
    let value = value.unwrap_or(u64::from(id.cast_unsigned()));
    t.mm.lock().copy_out(&mut k.frames, a.u64(2), &id.to_le_bytes())?;
    let tm = PosixTimer { clock, clock_id, notify, value, arming: Arming::default(), overrun: 0, overrun_last: 0 };
    if let Some(p) = k.procs.get_mut(&t.pid) {
        p.timers.posix.insert(id, tm);
    }
    Ok(0)
}

/// The timer id argument.
fn timer_id(a: &SyscallArgs) -> i32 {
    a.int(0)
}

/// Timer `id` of the task's process.
fn get_timer<'a, P: Platform>(
    k: &'a Kernel<P>,
    t: &Task<P::AddressSpace>,
    id: i32,
) -> Result<&'a PosixTimer, SysError> {
    k.procs.get(&t.pid).and_then(|p| p.timers.posix.get(&id)).ok_or(SysError::einval("no such timer"))
}

/// (interval, time left) of timer `tm`.
fn timer_value<P: Platform>(k: &Kernel<P>, t: &Task<P::AddressSpace>, tm: &PosixTimer, mono: u64) -> (u64, u64) {
    let (value, interval) = tm.arming.remaining(timer::clock_now(k, t, tm.clock, mono));
    (interval, value)
}

/// Implements Linux `timer_settime(2)` (relative and TIMER_ABSTIME; an
/// absolute time already past fires at once).
pub fn sys_timer_settime<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let id = timer_id(a);
    let tm = get_timer(k, t, id)?.clone();
    if a.u64(2) == 0 {
        return Err(SysError::einval("no new value"));
    }
    let (interval, value) = read_pair(k, t, a.u64(2), 1)?;
    let mono = k.host().clocks().monotonic_ns;
    if a.u64(3) != 0 {
        let old = timer_value(k, t, &tm, mono);
        write_pair(k, t, a.u64(3), old, 1)?;
    }
    let now = timer::clock_now(k, t, tm.clock, mono);
    let next = if value == 0 {
        None
    } else if a.u64(1) & TIMER_ABSTIME == 0 {
        Some(now.saturating_add(value))
    } else if tm.clock == TimerClock::Wall {
        // An absolute time on the timer's own clock, as a monotonic expiry.
        let on_clock = clock_ns(k, t, tm.clock_id)?;
        Some(mono.saturating_add(value.saturating_sub(on_clock)))
    } else {
        Some(value)
    };
    if let Some(tm) = k.procs.get_mut(&t.pid).and_then(|p| p.timers.posix.get_mut(&id)) {
        tm.arming = Arming { next, interval };
        tm.overrun = 0;
        tm.overrun_last = 0;
    }
    if let (Some(at), TimerClock::Wall) = (next, tm.clock) {
        timer::armed_wall(k, at);
    }
    Ok(0)
}

/// Implements Linux `timer_gettime(2)`.
pub fn sys_timer_gettime<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let tm = get_timer(k, t, timer_id(a))?.clone();
    let mono = k.host().clocks().monotonic_ns;
    let cur = timer_value(k, t, &tm, mono);
    write_pair(k, t, a.u64(1), cur, 1)?;
    Ok(0)
}

/// Implements Linux `timer_getoverrun(2)`: the overruns of the last
/// delivered expiry signal.
pub fn sys_timer_getoverrun<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    a: &SyscallArgs,
) -> SysResult {
    Ok(get_timer(k, t, timer_id(a))?.overrun_last)
}

/// Implements Linux `timer_delete(2)`. A queued signal of the timer stays
/// queued (as Linux before 6.13; later ones drop it when it is dequeued).
pub fn sys_timer_delete<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let id = timer_id(a);
    get_timer(k, t, id)?;
    if let Some(p) = k.procs.get_mut(&t.pid) {
        p.timers.posix.remove(&id);
    }
    Ok(0)
}
