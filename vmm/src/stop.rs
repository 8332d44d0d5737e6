//! Stopping a running VM from another thread (timeouts, SIGINT/SIGTERM).
//!
//! Firecracker's shape: the stopper records the reason, sets the vCPU's
//! `immediate_exit` and kicks the vCPU thread with a signal so that a
//! `KVM_RUN` in progress returns `EINTR`; the run loop then sees the reason
//! and returns [`crate::VmmError::Stopped`]. A hostcall sleeping on the host
//! waits on the same condition variable and wakes at once.

use std::fmt;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::vstate::VcpuKick;

/// Why a run was stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StopReason {
    /// The run exceeded its time limit.
    Timeout(Duration),
    /// The runtime received this host signal (SIGINT, SIGTERM).
    Signal(i32),
    /// Stopped by the embedding program for another reason.
    Requested,
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout(d) => write!(f, "timed out after {}s", d.as_secs_f64()),
            Self::Signal(n) => write!(f, "received signal {n}"),
            Self::Requested => write!(f, "stop requested"),
        }
    }
}

#[derive(Default)]
struct State {
    reason: Option<StopReason>,
    /// The running vCPUs' kick handles, registered for the duration of a run.
    vcpus: Vec<VcpuKick>,
}

/// Shared between the thread running the VM and any thread that may stop it.
#[derive(Default)]
pub struct StopSignal {
    state: Mutex<State>,
    wake: Condvar,
}

impl fmt::Debug for StopSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StopSignal").field("reason", &self.reason()).finish()
    }
}

impl StopSignal {
    /// A signal that has not fired.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock aborts the process (panic=abort),
        // so poisoning carries no broken invariant.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops the VM: the first reason wins. Safe to call from any thread,
    /// any number of times, before, during or after the run. Not
    /// async-signal-safe: call it from a normal thread (e.g. one that waits
    /// for signals with `sigwait`).
    pub fn stop(&self, reason: StopReason) {
        let mut state = self.lock();
        if state.reason.is_none() {
            state.reason = Some(reason);
        }
        for vcpu in &state.vcpus {
            if let Err(err) = vcpu.kick() {
                tracing::warn!(%err, "cannot kick vCPU thread");
            }
        }
        self.wake.notify_all();
    }

    /// The reason, once stopped.
    pub fn reason(&self) -> Option<StopReason> {
        self.lock().reason
    }

    /// Registers a running vCPU so [`Self::stop`] can kick it. Returns the
    /// stop reason instead if the signal already fired.
    pub(crate) fn register(&self, kick: VcpuKick) -> Result<(), StopReason> {
        let mut state = self.lock();
        if let Some(reason) = state.reason {
            return Err(reason);
        }
        state.vcpus.push(kick);
        Ok(())
    }

    /// Removes vCPU `index`'s registration; must happen before its `kvm_run`
    /// mapping or thread goes away.
    pub(crate) fn unregister(&self, index: u64) {
        self.lock().vcpus.retain(|k| k.index() != index);
    }

    /// Sleeps up to `duration` or until stopped. Returns the stop reason if
    /// stopped.
    pub(crate) fn sleep(&self, duration: Duration) -> Option<StopReason> {
        let deadline = Instant::now().checked_add(duration);
        let mut state = self.lock();
        loop {
            if let Some(reason) = state.reason {
                return Some(reason);
            }
            let now = Instant::now();
            let left = match deadline {
                Some(d) if d > now => d - now,
                Some(_) => return None,
                None => duration,
            };
            state = self.wake.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn sleep_is_interrupted_by_stop() {
        let stop = Arc::new(StopSignal::new());
        let s2 = Arc::clone(&stop);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            s2.stop(StopReason::Signal(15));
        });
        let start = Instant::now();
        let r = stop.sleep(Duration::from_secs(30));
        assert_eq!(r, Some(StopReason::Signal(15)));
        assert!(start.elapsed() < Duration::from_secs(5));
        t.join().expect("join");
        // The first reason wins.
        stop.stop(StopReason::Requested);
        assert_eq!(stop.reason(), Some(StopReason::Signal(15)));
    }

    #[test]
    fn sleep_times_out() {
        let stop = StopSignal::new();
        assert_eq!(stop.sleep(Duration::from_millis(10)), None);
    }

    #[test]
    fn display() {
        assert_eq!(StopReason::Timeout(Duration::from_millis(1500)).to_string(), "timed out after 1.5s");
        assert_eq!(StopReason::Timeout(Duration::from_secs(2)).to_string(), "timed out after 2s");
    }
}
