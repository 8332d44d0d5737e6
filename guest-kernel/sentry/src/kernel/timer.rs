//! A process's timers: the interval timers (`setitimer`, `alarm`) and the
//! POSIX timers (`timer_create`), and their expiry.
//!
//! Wall-clock timers keep their expiry in monotonic ns (the sentry never
//! steps CLOCK_REALTIME, so an absolute realtime expiry converts once);
//! CPU-time timers keep theirs in the process's CPU ns. The scheduler calls
//! [`fire_due`] at every decision and after every trap; `Kernel::next_timer`
//! is the earliest wall-clock expiry, which the idle loop sleeps until and
//! the platform's preemption timer is programmed for.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::deliver::{self, Sender};
use super::signal::SigInfo;
use super::task::{RunState, Task};
use super::Kernel;
use crate::platform::Platform;
use abi::linux::signal::{SIGALRM, SIGPROF, SIGVTALRM, SI_KERNEL, SI_TIMER};
use abi::linux::timer::DELAYTIMER_MAX;

/// Most POSIX timers a process may hold (Linux bounds them by memory and
/// RLIMIT_SIGPENDING; a hostile guest must not exhaust the sentry's heap).
pub const MAX_POSIX_TIMERS: usize = 4096;

/// What a timer counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerClock {
    /// Elapsed time (CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_BOOTTIME: they
    /// advance together in the sandbox).
    Wall,
    /// The process's user CPU time (ITIMER_VIRTUAL).
    User,
    /// The process's user + system CPU time (ITIMER_PROF,
    /// CLOCK_PROCESS_CPUTIME_ID).
    Cpu,
}

/// When a timer next expires and its period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Arming {
    /// The next expiry on the timer's clock (ns); `None` when disarmed.
    pub next: Option<u64>,
    /// The period in ns; 0 for a one-shot timer.
    pub interval: u64,
}

impl Arming {
    /// Counts the expirations due at `now` and rearms (or disarms) the
    /// timer past them; 0 if it is not due.
    pub fn expire(&mut self, now: u64) -> u64 {
        let Some(next) = self.next else { return 0 };
        if now < next {
            return 0;
        }
        if self.interval == 0 {
            self.next = None;
            return 1;
        }
        let n = (now - next) / self.interval + 1;
        self.next = Some(next.saturating_add(n.saturating_mul(self.interval)));
        n
    }

    /// The time left (never 0 while armed, as Linux reports an armed timer
    /// that is about to fire) and the period.
    pub fn remaining(&self, now: u64) -> (u64, u64) {
        (self.next.map_or(0, |n| n.saturating_sub(now).max(1)), self.interval)
    }
}

/// How a POSIX timer announces its expiry (`struct sigevent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notify {
    /// SIGEV_NONE: the timer only counts.
    Nothing,
    /// SIGEV_SIGNAL: `sig` to the process.
    Process(u32),
    /// SIGEV_THREAD_ID: `sig` to thread `tid` (of the same process).
    Thread { tid: u32, sig: u32 },
}

/// One `timer_create` timer.
#[derive(Debug, Clone)]
pub struct PosixTimer {
    pub clock: TimerClock,
    /// The clock id it was created on (TIMER_ABSTIME values are on it).
    pub clock_id: u64,
    pub notify: Notify,
    /// `sigev_value`, passed as `si_value`.
    pub value: u64,
    pub arming: Arming,
    /// Expirations while its signal was queued, not yet delivered.
    pub overrun: u64,
    /// The overrun count of the last delivered signal (timer_getoverrun).
    pub overrun_last: u64,
}

/// The timers of one process. Not inherited by fork; exec keeps the
/// interval timers and deletes the POSIX timers (as Linux).
#[derive(Debug, Clone, Default)]
pub struct Timers {
    /// ITIMER_REAL (also `alarm`), ITIMER_VIRTUAL, ITIMER_PROF.
    pub itimers: [Arming; 3],
    pub posix: BTreeMap<i32, PosixTimer>,
    /// The next id to try (ids count up from 0 per process, as Linux's).
    next_id: i32,
}

/// The clock and signal of interval timer `which` (0..3).
pub const ITIMER_KINDS: [(TimerClock, u32); 3] =
    [(TimerClock::Wall, SIGALRM), (TimerClock::User, SIGVTALRM), (TimerClock::Cpu, SIGPROF)];

impl Timers {
    /// A free timer id, or `None` when the process holds too many.
    pub fn alloc_id(&mut self) -> Option<i32> {
        if self.posix.len() >= MAX_POSIX_TIMERS {
            return None;
        }
        loop {
            let id = self.next_id;
            self.next_id = if id == i32::MAX { 0 } else { id + 1 };
            if !self.posix.contains_key(&id) {
                return Some(id);
            }
        }
    }

    /// The earliest wall-clock expiry.
    pub fn next_wall(&self) -> Option<u64> {
        let it = self.itimers[0].next;
        let px = self.posix.values().filter(|p| p.clock == TimerClock::Wall).filter_map(|p| p.arming.next).min();
        match (it, px) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether a CPU-time timer is armed.
    fn cpu_armed(&self) -> bool {
        self.itimers[1].next.is_some()
            || self.itimers[2].next.is_some()
            || self.posix.values().any(|p| p.clock != TimerClock::Wall && p.arming.next.is_some())
    }
}

/// The `si_timerid` of a timer signal.
pub fn info_timer_id(info: &SigInfo) -> i32 {
    i32::from_le_bytes([info.0[16], info.0[17], info.0[18], info.0[19]])
}

/// The siginfo of a POSIX timer's signal: SI_TIMER with `si_timerid` and
/// `si_value` (`si_overrun` is filled in when it is dequeued).
pub fn timer_info(sig: u32, id: i32, value: u64) -> SigInfo {
    let mut info = SigInfo::new(sig, SI_TIMER);
    info.0[16..20].copy_from_slice(&id.to_le_bytes());
    info.0[24..32].copy_from_slice(&value.to_le_bytes());
    info
}

/// Whether `info` is the queued signal of timer `id`.
fn is_timer_signal(info: &SigInfo, id: i32) -> bool {
    info.code() == SI_TIMER && info_timer_id(info) == id
}

/// The CPU time of process `pid` in ns: (user, user + system), counting
/// its live threads (`cur` is the running one, out of `k.tasks`) and the
/// ones that exited.
pub fn process_cpu<P: Platform>(k: &Kernel<P>, cur: &Task<P::AddressSpace>, pid: u32) -> (u64, u64) {
    let Some(p) = k.procs.get(&pid) else { return (0, 0) };
    let (mut user, mut sys) = (p.utime_ns, p.stime_ns);
    for &tid in &p.threads {
        let t = if tid == cur.tid { Some(cur) } else { k.tasks.get(&tid).map(|b| &**b) };
        if let Some(t) = t {
            user += t.utime_ns;
            sys += t.stime_ns;
        }
    }
    (user, user + sys)
}

/// The current value of `clock` for the running task's process.
pub fn clock_now<P: Platform>(k: &Kernel<P>, t: &Task<P::AddressSpace>, clock: TimerClock, mono: u64) -> u64 {
    match clock {
        TimerClock::Wall => mono,
        TimerClock::User => process_cpu(k, t, t.pid).0,
        TimerClock::Cpu => process_cpu(k, t, t.pid).1,
    }
}

/// Notes a newly armed wall-clock expiry for the scheduler.
pub fn armed_wall<P: Platform>(k: &mut Kernel<P>, at: u64) {
    k.next_timer = k.next_timer.min(at);
}

/// Fires the timers due at `now` (monotonic ns): every process's
/// wall-clock timers, and the CPU-time timers of the running task's
/// process (`cur`; only a running process accumulates CPU time).
pub fn fire_due<P: Platform>(k: &mut Kernel<P>, mut cur: Option<&mut Task<P::AddressSpace>>, now: u64) {
    if now >= k.next_timer {
        let due: Vec<u32> = k
            .procs
            .iter()
            .filter(|(_, p)| p.zombie.is_none() && p.timers.next_wall().is_some_and(|n| n <= now))
            .map(|(&pid, _)| pid)
            .collect();
        for pid in due {
            fire_clock(k, cur.as_deref_mut(), pid, TimerClock::Wall, now);
        }
        k.next_timer = k.procs.values().filter_map(|p| p.timers.next_wall()).min().unwrap_or(u64::MAX);
    }
    if let Some(t) = cur {
        let pid = t.pid;
        if k.procs.get(&pid).is_some_and(|p| p.timers.cpu_armed()) {
            let (user, total) = process_cpu(k, t, pid);
            fire_clock(k, Some(&mut *t), pid, TimerClock::User, user);
            fire_clock(k, Some(t), pid, TimerClock::Cpu, total);
        }
    }
}

/// Fires process `pid`'s timers on `clock` that are due at `now`.
fn fire_clock<P: Platform>(
    k: &mut Kernel<P>,
    mut cur: Option<&mut Task<P::AddressSpace>>,
    pid: u32,
    clock: TimerClock,
    now: u64,
) {
    let Some(p) = k.procs.get_mut(&pid) else { return };
    let mut itimer_sig = None;
    for (arming, &(c, sig)) in p.timers.itimers.iter_mut().zip(ITIMER_KINDS.iter()) {
        // A standard signal already pending absorbs the expiry, as on Linux.
        if c == clock && arming.expire(now) > 0 {
            itimer_sig = Some(sig);
        }
    }
    let mut expired: Vec<(i32, u64, Notify, u64)> = Vec::new();
    for (&id, tm) in p.timers.posix.iter_mut().filter(|(_, tm)| tm.clock == clock) {
        let n = tm.arming.expire(now);
        if n > 0 {
            expired.push((id, n, tm.notify, tm.value));
        }
    }
    if let Some(sig) = itimer_sig {
        send(k, cur.as_deref_mut(), pid, None, SigInfo::new(sig, SI_KERNEL));
    }
    for (id, n, notify, value) in expired {
        let (tid, sig) = match notify {
            Notify::Nothing => continue,
            Notify::Process(sig) => (None, sig),
            Notify::Thread { tid, sig } => (Some(tid), sig),
        };
        let queued = timer_signal_queued(k, cur.as_deref(), pid, tid, id);
        if let Some(tm) = k.procs.get_mut(&pid).and_then(|p| p.timers.posix.get_mut(&id)) {
            // Expirations while the signal waits are overruns; so are the
            // periods missed between two checks.
            tm.overrun = if queued { tm.overrun.saturating_add(n) } else { n - 1 };
        }
        if !queued {
            send(k, cur.as_deref_mut(), pid, tid, timer_info(sig, id, value));
        }
    }
}

/// Whether timer `id`'s signal is still queued on the process or thread.
fn timer_signal_queued<P: Platform>(
    k: &Kernel<P>,
    cur: Option<&Task<P::AddressSpace>>,
    pid: u32,
    tid: Option<u32>,
    id: i32,
) -> bool {
    match tid {
        None => k.procs.get(&pid).is_some_and(|p| p.pending.any(|i| is_timer_signal(i, id))),
        Some(tid) => match cur {
            Some(c) if c.tid == tid => c.pending.any(|i| is_timer_signal(i, id)),
            _ => k.tasks.get(&tid).is_some_and(|t| t.pending.any(|i| is_timer_signal(i, id))),
        },
    }
}

/// Sends a timer's signal to process `pid` (or its thread `tid`). With no
/// running task (a scheduling decision), a thread of the target stands in
/// as the current task for the send and is woken after.
pub(crate) fn send<P: Platform>(
    k: &mut Kernel<P>,
    cur: Option<&mut Task<P::AddressSpace>>,
    pid: u32,
    tid: Option<u32>,
    info: SigInfo,
) {
    if let Some(c) = cur {
        let _ = match tid {
            Some(tid) => deliver::send_thread(k, c, tid, info, Sender::Kernel),
            None => deliver::send_process(k, c, pid, info, Sender::Kernel),
        };
        return;
    }
    let stand = tid.or_else(|| k.procs.get(&pid).and_then(|p| p.threads.first().copied()));
    let Some(stand) = stand else { return };
    let Some(mut s) = k.tasks.remove(&stand) else { return };
    if s.pid != pid || s.state == RunState::Dead {
        k.tasks.insert(stand, s);
        return;
    }
    let _ = match tid {
        Some(tid) => deliver::send_thread(k, &mut s, tid, info, Sender::Kernel),
        None => deliver::send_process(k, &mut s, pid, info, Sender::Kernel),
    };
    let continued = s.state == RunState::Runnable;
    k.tasks.insert(stand, s);
    deliver::signal_wake(k, stand, info.signo());
    if continued {
        // SIGCONT/SIGKILL resumed it, or it was runnable already.
        k.runq.push(stand);
    }
}

/// Completes a timer signal as it is dequeued for delivery: `si_overrun`
/// gets the overruns counted while it was queued, which become what
/// `timer_getoverrun` reports.
pub fn dequeued<P: Platform>(k: &mut Kernel<P>, pid: u32, info: &mut SigInfo) {
    if info.code() != SI_TIMER {
        return;
    }
    let id = info_timer_id(info);
    let Some(tm) = k.procs.get_mut(&pid).and_then(|p| p.timers.posix.get_mut(&id)) else { return };
    let ov = tm.overrun.min(DELAYTIMER_MAX);
    tm.overrun_last = ov;
    tm.overrun = 0;
    let ov = i32::try_from(ov).unwrap_or(i32::MAX);
    info.0[20..24].copy_from_slice(&ov.to_le_bytes());
}

/// exec: the POSIX timers are deleted; the interval timers stay. A
/// queued timer signal stays queued, as on Linux.
pub fn on_exec<P: Platform>(k: &mut Kernel<P>, t: &Task<P::AddressSpace>) {
    if let Some(p) = k.procs.get_mut(&t.pid) {
        p.timers.posix.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shot_fires_once() {
        let mut a = Arming { next: Some(100), interval: 0 };
        assert_eq!(a.expire(99), 0);
        assert_eq!(a.expire(100), 1);
        assert_eq!(a.next, None);
        assert_eq!(a.expire(1000), 0);
    }

    #[test]
    fn periodic_counts_missed_periods() {
        let mut a = Arming { next: Some(100), interval: 10 };
        assert_eq!(a.expire(100), 1);
        assert_eq!(a.next, Some(110));
        assert_eq!(a.expire(145), 4);
        assert_eq!(a.next, Some(150));
    }

    #[test]
    fn remaining_is_never_zero_while_armed() {
        let a = Arming { next: Some(100), interval: 5 };
        assert_eq!(a.remaining(40), (60, 5));
        assert_eq!(a.remaining(100), (1, 5));
        assert_eq!(Arming::default().remaining(7), (0, 0));
    }

    #[test]
    fn ids_count_up_and_skip_used() {
        let mut t = Timers::default();
        assert_eq!(t.alloc_id(), Some(0));
        assert_eq!(t.alloc_id(), Some(1));
        t.next_id = 0;
        t.posix.insert(
            0,
            PosixTimer {
                clock: TimerClock::Wall,
                clock_id: 1,
                notify: Notify::Nothing,
                value: 0,
                arming: Arming::default(),
                overrun: 0,
                overrun_last: 0,
            },
        );
        assert_eq!(t.alloc_id(), Some(1));
    }

    #[test]
    fn timer_info_layout() {
        let i = timer_info(34, 7, 0x1122);
        assert_eq!(i.signo(), 34);
        assert_eq!(i.code(), SI_TIMER);
        assert_eq!(info_timer_id(&i), 7);
        assert_eq!(&i.0[24..32], &0x1122u64.to_le_bytes());
    }
}
