//! Preemption: a one-shot host timer, armed while application code runs,
//! whose signal interrupts the sentry's `waitpid`; the switch then stops
//! the stub and returns `Trap::Interrupted` (the APIC tick on KVM).

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

/// The tick period (the KVM platform's APIC tick).
const TICK_NS: i64 = 5_000_000;

static FIRED: AtomicBool = AtomicBool::new(false);
static ARMED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_tick(_: libc::c_int) {
    ARMED.store(false, Ordering::Relaxed);
    FIRED.store(true, Ordering::Relaxed);
}

/// The tick signal (SIGRTMIN + 1; the VMM's kick uses SIGRTMIN).
fn tick_signal() -> libc::c_int {
    libc::SIGRTMIN() + 1
}

/// The sentry thread's preemption timer.
#[derive(Debug)]
pub struct Tick {
    timer: libc::timer_t,
}

impl Tick {
    /// A timer signalling the calling thread (the sentry's).
    pub fn new() -> io::Result<Self> {
        // SAFETY: installs a handler that only stores to atomics; no
        // SA_RESTART, so the sentry's waitpid returns EINTR.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_tick as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            if libc::sigaction(tick_signal(), &sa, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        // SAFETY: sigevent is plain data; all-zero is valid.
        let mut ev: libc::sigevent = unsafe { std::mem::zeroed() };
        ev.sigev_notify = libc::SIGEV_THREAD_ID;
        ev.sigev_signo = tick_signal();
        // SAFETY: gettid has no preconditions.
        ev.sigev_notify_thread_id = unsafe { libc::gettid() };
        let mut timer: libc::timer_t = std::ptr::null_mut();
        // SAFETY: writes the new timer's id to a live local.
        if unsafe { libc::timer_create(libc::CLOCK_MONOTONIC, &mut ev, &mut timer) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Self { timer })
    }

    /// Starts a tick unless one is pending.
    pub fn arm(&self) {
        if ARMED.swap(true, Ordering::Relaxed) {
            return;
        }
        let spec = libc::itimerspec {
            it_interval: libc::timespec { tv_sec: 0, tv_nsec: 0 },
            it_value: libc::timespec { tv_sec: 0, tv_nsec: TICK_NS },
        };
        // SAFETY: `timer` is ours; the spec is a live local.
        unsafe { libc::timer_settime(self.timer, 0, &spec, std::ptr::null_mut()) };
    }

    /// A pending tick keeps running: the next switch uses the rest of it.
    pub fn disarm(&self) {}

    /// Whether a tick fired since the last call.
    pub fn due(&self) -> bool {
        FIRED.swap(false, Ordering::Relaxed)
    }
}
