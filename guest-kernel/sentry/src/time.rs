//! Time conversions.

use abi::linux::Timespec;

/// Nanoseconds per second.
pub const NSEC_PER_SEC: u64 = 1_000_000_000;

/// A `Timespec` for `ns` nanoseconds.
pub fn timespec_from_ns(ns: u64) -> Timespec {
    Timespec {
        tv_sec: i64::try_from(ns / NSEC_PER_SEC).unwrap_or(i64::MAX),
        tv_nsec: i64::try_from(ns % NSEC_PER_SEC).unwrap_or(0),
    }
}

/// Nanoseconds in a `Timespec`, `None` if it is invalid.
pub fn ns_from_timespec(ts: &Timespec) -> Option<u64> {
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return None;
    }
    let sec = u64::try_from(ts.tv_sec).ok()?;
    let nsec = u64::try_from(ts.tv_nsec).ok()?;
    sec.checked_mul(NSEC_PER_SEC)?.checked_add(nsec)
}

/// CLOCK_REALTIME as of the last trap into the sentry, for file times
/// (Linux also stamps files with a coarse clock).
static COARSE_REALTIME_NS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Records the current realtime (called by the kernel on each trap).
pub fn set_coarse_realtime(ns: u64) {
    COARSE_REALTIME_NS.store(ns, core::sync::atomic::Ordering::Relaxed);
}

/// The coarse realtime clock.
pub fn coarse_now() -> Timespec {
    timespec_from_ns(COARSE_REALTIME_NS.load(core::sync::atomic::Ordering::Relaxed))
}
