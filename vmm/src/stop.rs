//! Stopping a running VM from another thread (timeouts, SIGINT/SIGTERM),
//! and nudging it (a control request waits, see `control.rs`).
//!
//! Firecracker's shape: the stopper records the reason, sets the vCPU's
//! `immediate_exit` and kicks the vCPU thread with a signal so that a
//! `KVM_RUN` in progress returns `EINTR`; the run loop then sees the reason
//! and returns [`crate::VmmError::Stopped`]. A hostcall sleeping on the host
//! waits on the same condition variable and wakes at once. A nudge kicks
//! the vCPUs and wakes sleeping hostcalls the same way without ending the
//! run: the run loop then looks at the control queue and goes on.

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
    /// Nudges so far (a sleep ends when this changes).
    nudges: u64,
    /// The running vCPUs' kick handles, registered for the duration of a run.
    vcpus: Vec<VcpuKick>,
}

/// Shared between the thread running the VM and any thread that may stop it.
pub struct StopSignal {
    state: Mutex<State>,
    wake: Condvar,
    /// Readable after a nudge, so a `Poll` hostcall waiting on a host fd
    /// wakes too (None if no eventfd could be made: it then notices at its
    /// next poll slice).
    wake_fd: Option<vmm_sys_util::eventfd::EventFd>,
}

impl Default for StopSignal {
    fn default() -> Self {
        let wake_fd = vmm_sys_util::eventfd::EventFd::new(libc::EFD_NONBLOCK | libc::EFD_CLOEXEC).ok();
        Self { state: Mutex::default(), wake: Condvar::new(), wake_fd }
    }
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

    /// Wakes the VM without stopping it: kicks the vCPUs out of `KVM_RUN`
    /// and ends `Sleep` and `Poll` hostcalls early, so the run loop looks at
    /// the control queue (or the pause flag) at once.
    pub fn nudge(&self) {
        let mut state = self.lock();
        state.nudges = state.nudges.wrapping_add(1);
        for vcpu in &state.vcpus {
            if let Err(err) = vcpu.kick() {
                tracing::warn!(%err, "cannot kick vCPU thread");
            }
        }
        if let Some(fd) = &self.wake_fd {
            let _ = fd.write(1);
        }
        self.wake.notify_all();
    }

    /// The eventfd a nudge makes readable (see [`Self::take_nudge`]): a
    /// thread waiting on host descriptors adds it to wake on a nudge.
    pub fn wake_fd(&self) -> Option<std::os::fd::RawFd> {
        self.wake_fd.as_ref().map(std::os::fd::AsRawFd::as_raw_fd)
    }

    /// Clears the eventfd of [`Self::wake_fd`]. A waiter clears it before
    /// looking at what a nudge announces, so a later nudge wakes it.
    pub fn take_nudge(&self) {
        if let Some(fd) = &self.wake_fd {
            let _ = fd.read();
        }
    }

    /// Waits up to `timeout` for [`Self::nudge`] or [`Self::stop`]
    /// (a paused vCPU thread waits here).
    pub(crate) fn wait_nudge(&self, timeout: Duration) {
        let state = self.lock();
        if state.reason.is_some() {
            return;
        }
        let _ = self.wake.wait_timeout(state, timeout).unwrap_or_else(PoisonError::into_inner);
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

    /// Sleeps up to `duration`, until stopped or until nudged. Returns the
    /// stop reason if stopped.
    pub(crate) fn sleep(&self, duration: Duration) -> Option<StopReason> {
        let deadline = Instant::now().checked_add(duration);
        let mut state = self.lock();
        let nudges = state.nudges;
        loop {
            if let Some(reason) = state.reason {
                return Some(reason);
            }
            if state.nudges != nudges {
                return None;
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
    fn nudge_ends_a_sleep_without_stopping() {
        let stop = Arc::new(StopSignal::new());
        let s2 = Arc::clone(&stop);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            s2.nudge();
        });
        let start = Instant::now();
        assert_eq!(stop.sleep(Duration::from_secs(30)), None);
        assert!(start.elapsed() < Duration::from_secs(5));
        assert_eq!(stop.reason(), None);
        t.join().expect("join");
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
