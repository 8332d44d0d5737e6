//! Pipes: a 64 KiB buffer between a read end and a write end.
//!
//! The ends are open file descriptions. Blocking is the caller's business
//! (the syscall layer blocks on [`WaitKey::Pipe`]); every change that can
//! let a blocked reader or writer go on posts a wake-up for the pipe.

use alloc::collections::VecDeque;
use alloc::sync::Arc;

use crate::error::SysError;
use crate::kernel::poll::{notify_events, READABLE, WRITABLE};
use crate::kernel::sched;
use crate::kernel::shared::Shared;
use crate::kernel::task::WaitKey;
use crate::platform::{PhysAddr, PhysMem};
use abi::linux::errno;
use abi::linux::poll::{POLLERR, POLLHUP};

/// Bytes a pipe holds (Linux's default pipe size).
pub const PIPE_CAPACITY: usize = 65536;
/// Largest size F_SETPIPE_SZ grants (Linux's default pipe-max-size).
pub const PIPE_MAX_SIZE: usize = 1 << 20;
/// Writes up to this size are atomic.
pub const PIPE_BUF: usize = 4096;

/// The shared buffer.
#[derive(Debug)]
pub struct Pipe {
    pub id: u64,
    buf: VecDeque<u8>,
    capacity: usize,
    pub readers: u32,
    pub writers: u32,
}

impl Pipe {
    /// Bytes waiting to be read.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Free room.
    pub fn room(&self) -> usize {
        self.capacity.saturating_sub(self.buf.len())
    }

    /// The size (F_GETPIPE_SZ).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Resizes the pipe as F_SETPIPE_SZ: a power of two of pages, at least
    /// one, at most [`PIPE_MAX_SIZE`]; never below what it holds.
    pub fn set_capacity(&mut self, want: u64) -> Result<usize, SysError> {
        let want = usize::try_from(want).map_err(|_| SysError::einval("pipe size too large"))?;
        let size = want.max(4096).checked_next_power_of_two().ok_or(SysError::einval("pipe size too large"))?;
        if size > PIPE_MAX_SIZE {
            return Err(SysError::new(errno::EPERM, "pipe size above pipe-max-size"));
        }
        if size < self.buf.len() {
            return Err(SysError::new(errno::EBUSY, "pipe holds more than the new size"));
        }
        self.capacity = size;
        notify_events(WaitKey::Io(self.id), WRITABLE);
        Ok(size)
    }

    /// Moves up to the segments' total from the buffer into them.
    pub fn read_into(&mut self, phys: &PhysMem, segs: &[(PhysAddr, u64)]) -> usize {
        let was_full = self.room() < PIPE_BUF;
        let mut done = 0;
        for &(pa, len) in segs {
            let want = usize::try_from(len).unwrap_or(usize::MAX).min(self.buf.len());
            if want == 0 {
                break;
            }
            let (a, b) = self.buf.as_slices();
            let first = want.min(a.len());
            phys.write(pa, &a[..first]);
            if want > first {
                phys.write(pa + first as u64, &b[..want - first]);
            }
            self.buf.drain(..want);
            done += want;
        }
        if done > 0 {
            // Room is a new event for epoll only when the pipe was too
            // full to write (Linux wakes writers' pollers only then).
            if was_full {
                notify_events(WaitKey::Io(self.id), WRITABLE);
            } else {
                sched::notify(WaitKey::Io(self.id));
            }
        }
        done
    }

    /// Appends up to `max` bytes from the segments.
    pub fn write_from(&mut self, phys: &PhysMem, segs: &[(PhysAddr, u64)], max: usize) -> usize {
        let mut done = 0;
        let mut chunk = [0u8; 512];
        for &(pa, len) in segs {
            let mut off = 0u64;
            while off < len && done < max {
                let n = usize::try_from(len - off).unwrap_or(usize::MAX).min(chunk.len()).min(max - done);
                phys.read(pa + off, &mut chunk[..n]);
                self.buf.extend(&chunk[..n]);
                off += n as u64;
                done += n;
            }
        }
        if done > 0 {
            notify_events(WaitKey::Io(self.id), READABLE);
        }
        done
    }
}

/// One end of a pipe, as an open file description.
#[derive(Debug)]
pub struct PipeEnd {
    pub pipe: Arc<Shared<Pipe>>,
    pub write: bool,
    /// Status flags (O_NONBLOCK and the access mode).
    pub flags: spin::Mutex<u32>,
}

impl PipeEnd {
    /// A new pipe: its read end and write end.
    pub fn pair(flags: u32) -> (Arc<PipeEnd>, Arc<PipeEnd>) {
        let id = crate::kernel::poll::new_io_id();
        let pipe = Shared::new(Pipe { id, buf: VecDeque::new(), capacity: PIPE_CAPACITY, readers: 1, writers: 1 });
        let r = PipeEnd { pipe: Arc::clone(&pipe), write: false, flags: spin::Mutex::new(flags) };
        let w = PipeEnd { pipe, write: true, flags: spin::Mutex::new(flags | 1) };
        (Arc::new(r), Arc::new(w))
    }

    pub fn id(&self) -> u64 {
        self.pipe.lock().id
    }

    pub fn nonblocking(&self) -> bool {
        *self.flags.lock() & crate::vfs::file::flags::O_NONBLOCK != 0
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let mut p = self.pipe.lock();
        // Readers see the hang-up, writers the error.
        let events = if self.write {
            p.writers -= 1;
            READABLE | POLLHUP
        } else {
            p.readers -= 1;
            WRITABLE | POLLERR
        };
        notify_events(WaitKey::Io(p.id), events);
    }
}
