//! eventfd: a 64-bit counter that writes add to and reads take.

use crate::error::SysError;
use crate::kernel::poll::{new_io_id, notify_events, Readiness, READABLE, WRITABLE};
use crate::kernel::task::WaitKey;
use abi::linux::errno;

/// The largest value the counter holds (a write that would pass it waits).
pub const MAX: u64 = u64::MAX - 1;

/// An eventfd's counter.
#[derive(Debug)]
pub struct EventFd {
    id: u64,
    count: spin::Mutex<u64>,
    /// EFD_SEMAPHORE: a read takes 1 rather than the whole count.
    semaphore: bool,
}

impl EventFd {
    pub fn new(initval: u64, semaphore: bool) -> Self {
        Self { id: new_io_id(), count: spin::Mutex::new(initval), semaphore }
    }

    pub fn key(&self) -> WaitKey {
        WaitKey::Io(self.id)
    }

    pub fn readiness(&self) -> Readiness {
        let c = *self.count.lock();
        let mut events = 0;
        if c > 0 {
            events |= READABLE;
        }
        if c < MAX {
            events |= WRITABLE;
        }
        Readiness { events, key: Some(self.key()), at: None }
    }

    /// Takes the count (or 1 with EFD_SEMAPHORE); None when it is 0.
    pub fn read(&self) -> Option<u64> {
        let mut c = self.count.lock();
        if *c == 0 {
            return None;
        }
        let v = if self.semaphore { 1 } else { *c };
        *c -= v;
        drop(c);
        notify_events(self.key(), WRITABLE);
        Some(v)
    }

    /// Adds `v`; `Ok(false)` when it does not fit yet.
    pub fn write(&self, v: u64) -> Result<bool, SysError> {
        if v == u64::MAX {
            return Err(SysError::new(errno::EINVAL, "eventfd write of 0xffffffffffffffff"));
        }
        let mut c = self.count.lock();
        if MAX - *c < v {
            return Ok(false);
        }
        *c += v;
        drop(c);
        // Linux wakes readers even for a write of 0.
        notify_events(self.key(), READABLE);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_semaphore_and_overflow() {
        let e = EventFd::new(2, false);
        assert_eq!(e.read(), Some(2));
        assert_eq!(e.read(), None);
        assert_eq!(e.readiness().events, WRITABLE);
        assert_eq!(e.write(MAX).map_err(|e| e.errno), Ok(true));
        assert_eq!(e.readiness().events, READABLE);
        assert_eq!(e.write(1).map_err(|e| e.errno), Ok(false));
        assert_eq!(e.write(u64::MAX).map_err(|e| e.errno), Err(errno::EINVAL));
        let s = EventFd::new(2, true);
        assert_eq!((s.read(), s.read(), s.read()), (Some(1), Some(1), None));
    }
}
