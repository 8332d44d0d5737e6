//! State shared between tasks (an address space between threads, an fd
//! table between `CLONE_FILES` clones, signal handlers between
//! `CLONE_SIGHAND` clones).

use alloc::sync::Arc;

/// A value shared between tasks, behind a lock.
///
/// The sentry runs one task at a time on one vCPU and never blocks while
/// holding one of these, so finding it locked means re-entrant use: a bug
/// that panics with a clear message instead of spinning forever. With more
/// vCPUs this becomes a waiting lock.
#[derive(Debug, Default)]
pub struct Shared<T>(spin::Mutex<T>);

impl<T> Shared<T> {
    /// A new shared value.
    pub fn new(v: T) -> Arc<Self> {
        Arc::new(Self(spin::Mutex::new(v)))
    }

    /// Locks the value.
    #[track_caller]
    pub fn lock(&self) -> spin::MutexGuard<'_, T> {
        match self.0.try_lock() {
            Some(g) => g,
            None => panic!("sentry bug: re-entrant lock of shared task state"),
        }
    }
}
