//! The control channel (exec, ps, kill, pause...) on the ptrace platform:
//! the same [`vmm::control::Control`] the VMM serves on KVM, called
//! directly from the sentry's thread.
//!
//! On KVM a posting thread kicks the vCPU and the VMM raises a flag in the
//! control page; here the sentry's thread asks the queue itself at each
//! scheduling point (a switch returns at least every tick, 5 ms), and its
//! idle waits (`sleep`, `poll`) also wait on the nudge's eventfd, so a
//! request to an idle sandbox is seen at once. A pause holds the sentry's
//! thread at its next scheduling point: no stub runs then.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use abi::control::{MAX_REPLY, MAX_REQUEST};
use vmm::control::Control;
use vmm::StopSignal;

/// The sentry's end of a control channel.
#[derive(Debug)]
pub struct ControlLink {
    control: Arc<Control>,
    stop: Arc<StopSignal>,
}

/// A host descriptor an exec'd process's stdio may use.
pub enum Registered {
    /// Held open for the call.
    Open(Arc<OwnedFd>),
    /// Registered once, since closed (its process ended), or never.
    Gone,
}

impl ControlLink {
    /// Takes requests from now on.
    pub fn new(control: Arc<Control>) -> Self {
        control.started();
        let stop = control.stop_signal();
        Self { control, stop }
    }

    /// Whether requests wait; first waits out a pause.
    pub fn pending(&self) -> bool {
        if !self.control.needs_attention() {
            return false;
        }
        self.control.hold_while_paused();
        self.control.needs_attention()
    }

    /// The next request into `buf`: its size, 0 when none waits.
    pub fn fetch(&self, buf: &mut [u8]) -> Result<usize, i32> {
        if buf.len() < MAX_REQUEST {
            return Err(libc::ENOSPC);
        }
        let Some(msg) = self.control.take() else { return Ok(0) };
        // Requests are encoded within MAX_REQUEST by `Control`.
        let n = msg.len().min(buf.len());
        buf[..n].copy_from_slice(&msg[..n]);
        Ok(n)
    }

    /// A reply or event from the sentry.
    pub fn reply(&self, msg: &[u8]) -> Result<(), i32> {
        if msg.len() > MAX_REPLY {
            return Err(libc::EMSGSIZE);
        }
        self.control.deliver(msg.to_vec()).inspect_err(|e| tracing::debug!(errno = e, "control reply refused"))
    }

    /// Descriptor `fd` (above the sandbox's own 0, 1 and 2), registered
    /// for an exec'd process.
    pub fn host_fd(&self, fd: u32) -> Registered {
        self.control.host_fd(u64::from(fd)).map_or(Registered::Gone, Registered::Open)
    }

    /// The eventfd a nudge makes readable, cleared first; `None` when a
    /// request or a pause already waits (the caller should not block).
    pub fn arm_wake(&self) -> Option<Option<RawFd>> {
        self.stop.take_nudge();
        if self.control.needs_attention() {
            return None;
        }
        Some(self.stop.wake_fd())
    }
}

/// Polls `target` for `events` (none: only waits) and `wake` for POLLIN
/// until `deadline_ns` (CLOCK_MONOTONIC). Returns `target`'s ready events
/// (POLLIN, POLLOUT, POLLHUP, POLLERR), 0 on timeout or wake.
pub fn wait(target: Option<(RawFd, u32)>, wake: Option<RawFd>, deadline_ns: u64) -> u32 {
    let events = |e: u32| libc::c_short::try_from(e).unwrap_or(0);
    let mut fds = [
        libc::pollfd { fd: target.map_or(-1, |t| t.0), events: target.map_or(0, |t| events(t.1)), revents: 0 },
        libc::pollfd { fd: wake.unwrap_or(-1), events: libc::POLLIN, revents: 0 },
    ];
    loop {
        let left = deadline_ns.saturating_sub(crate::host::clock_ns(libc::CLOCK_MONOTONIC));
        let ts = libc::timespec {
            tv_sec: libc::time_t::try_from(left / 1_000_000_000).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::try_from(left % 1_000_000_000).unwrap_or(0),
        };
        // SAFETY: two pollfds and one timespec, all live locals; negative
        // fds are ignored by ppoll.
        let n = unsafe { libc::ppoll(fds.as_mut_ptr(), 2, &ts, std::ptr::null()) };
        if n > 0 {
            let mask = libc::POLLIN | libc::POLLOUT | libc::POLLHUP | libc::POLLERR;
            return u32::from(fds[0].revents.cast_unsigned() & mask.cast_unsigned());
        }
        // EINTR (the preemption tick, left armed by the last switch) waits
        // on for the same deadline.
        if n == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return 0;
        }
    }
}

impl Registered {
    /// The descriptor, while `self` holds it open.
    pub fn raw(&self) -> Option<RawFd> {
        match self {
            Self::Open(f) => Some(f.as_raw_fd()),
            Self::Gone => None,
        }
    }
}
