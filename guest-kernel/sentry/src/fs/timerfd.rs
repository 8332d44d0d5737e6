//! timerfd: a timer on CLOCK_MONOTONIC, CLOCK_BOOTTIME or CLOCK_REALTIME
//! whose expirations are counted and read.
//!
//! Expirations are computed from the clock when the timer is looked at;
//! nothing runs when it fires. Its readiness says when the next one is due,
//! so pollers and readers are woken then.

use crate::kernel::poll::{new_io_id, notify_events, Readiness, READABLE};
use crate::kernel::task::WaitKey;
use crate::platform::Clocks;

#[derive(Debug, Default)]
struct State {
    /// The next expiration, on the timer's clock (None: disarmed).
    next: Option<u64>,
    /// The period (0: one shot).
    interval: u64,
    /// Expirations not yet read.
    ticks: u64,
}

impl State {
    /// Counts the expirations up to `now`.
    fn update(&mut self, now: u64) {
        let Some(next) = self.next else { return };
        if now < next {
            return;
        }
        match (now - next).checked_div(self.interval) {
            // One shot.
            None => {
                self.ticks = self.ticks.saturating_add(1);
                self.next = None;
            }
            Some(periods) => {
                let n = periods + 1;
                self.ticks = self.ticks.saturating_add(n);
                self.next = next.checked_add(n.saturating_mul(self.interval));
            }
        }
    }
}

/// A timerfd's timer.
#[derive(Debug)]
pub struct TimerFd {
    id: u64,
    /// On CLOCK_REALTIME (else the monotonic clock, which BOOTTIME equals
    /// in the sandbox: it never suspends).
    realtime: bool,
    state: spin::Mutex<State>,
}

/// A timer setting: time to the next expiration and period, in ns.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Setting {
    pub value: u64,
    pub interval: u64,
}

impl TimerFd {
    pub fn new(realtime: bool) -> Self {
        Self { id: new_io_id(), realtime, state: spin::Mutex::new(State::default()) }
    }

    pub fn key(&self) -> WaitKey {
        WaitKey::Io(self.id)
    }

    fn now(&self, c: &Clocks) -> u64 {
        if self.realtime {
            c.realtime_ns
        } else {
            c.monotonic_ns
        }
    }

    /// The readiness at the time `c`.
    pub fn readiness_at(&self, c: &Clocks) -> Readiness {
        let now = self.now(c);
        let mut s = self.state.lock();
        s.update(now);
        let events = if s.ticks > 0 { READABLE } else { 0 };
        // The next expiration, as a monotonic time for the scheduler.
        let at = s.next.map(|n| c.monotonic_ns.saturating_add(n.saturating_sub(now)));
        Readiness { events, key: Some(self.key()), at }
    }

    /// The current setting (timerfd_gettime).
    pub fn get(&self, c: &Clocks) -> Setting {
        let now = self.now(c);
        let mut s = self.state.lock();
        s.update(now);
        Setting { value: s.next.map_or(0, |n| n.saturating_sub(now)), interval: s.interval }
    }

    /// Arms (or with a zero value disarms) the timer; `abs`: `new.value`
    /// is a time on the timer's clock. Returns the old setting.
    pub fn set(&self, c: &Clocks, new: Setting, abs: bool) -> Setting {
        let old = self.get(c);
        let now = self.now(c);
        {
            let mut s = self.state.lock();
            s.ticks = 0;
            s.interval = new.interval;
            s.next = match (new.value, abs) {
                (0, _) => None,
                (v, true) => Some(v),
                (v, false) => Some(now.saturating_add(v)),
            };
            s.update(now);
        }
        notify_events(self.key(), READABLE);
        old
    }

    /// Takes the expirations counted so far (None: none yet).
    pub fn read(&self, c: &Clocks) -> Option<u64> {
        let now = self.now(c);
        let mut s = self.state.lock();
        s.update(now);
        (s.ticks > 0).then(|| core::mem::take(&mut s.ticks))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clocks(ns: u64) -> Clocks {
        Clocks { realtime_ns: ns + 1_000_000, monotonic_ns: ns }
    }

    #[test]
    fn counts_periodic_expirations() {
        let t = TimerFd::new(false);
        t.set(&clocks(100), Setting { value: 10, interval: 5 }, false);
        assert_eq!(t.read(&clocks(105)), None);
        assert_eq!(t.readiness_at(&clocks(105)).at, Some(110));
        assert_eq!(t.read(&clocks(121)), Some(3));
        assert_eq!(t.get(&clocks(121)), Setting { value: 4, interval: 5 });
        assert_eq!(t.read(&clocks(124)), None);
    }

    #[test]
    fn one_shot_and_disarm() {
        let t = TimerFd::new(true);
        // Absolute on the realtime clock, already past: fires at once.
        t.set(&clocks(0), Setting { value: 5, interval: 0 }, true);
        assert_eq!(t.readiness_at(&clocks(0)).events, READABLE);
        assert_eq!(t.read(&clocks(0)), Some(1));
        assert_eq!(t.readiness_at(&clocks(50)).at, None);
        let old = t.set(&clocks(0), Setting { value: 1000, interval: 0 }, false);
        assert_eq!(old, Setting::default());
        assert_eq!(t.set(&clocks(10), Setting::default(), false).value, 990);
        assert_eq!(t.read(&clocks(5000)), None);
    }
}
