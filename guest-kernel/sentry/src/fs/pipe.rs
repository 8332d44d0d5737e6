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
use crate::vfs::InodeRef;
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
    /// Read and write ends ever opened (a FIFO opener waits for the other
    /// side's count to change, as Linux's `wait_for_partner`).
    pub r_counter: u64,
    pub w_counter: u64,
}

impl Pipe {
    /// An empty pipe with no ends yet.
    pub fn new() -> Arc<Shared<Pipe>> {
        let id = crate::kernel::poll::new_io_id();
        Shared::new(Pipe {
            id,
            buf: VecDeque::new(),
            capacity: PIPE_CAPACITY,
            readers: 0,
            writers: 0,
            r_counter: 0,
            w_counter: 0,
        })
    }

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

/// One end of a pipe, as an open file description: the read end, the
/// write end, or both (a FIFO opened O_RDWR).
pub struct PipeEnd {
    pub pipe: Arc<Shared<Pipe>>,
    pub read: bool,
    pub write: bool,
    /// Status flags (O_NONBLOCK and the access mode).
    pub flags: spin::Mutex<u32>,
    /// The FIFO node this end was opened through (fstat shows it).
    pub fifo: Option<InodeRef>,
}

impl core::fmt::Debug for PipeEnd {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PipeEnd(read {}, write {}, fifo {})", self.read, self.write, self.fifo.is_some())
    }
}

impl PipeEnd {
    /// A new pipe: its read end and write end.
    pub fn pair(flags: u32) -> (Arc<PipeEnd>, Arc<PipeEnd>) {
        let pipe = Pipe::new();
        let r = PipeEnd::open(&pipe, true, false, flags, None);
        let w = PipeEnd::open(&pipe, false, true, flags | 1, None);
        (r, w)
    }

    /// A new end of `pipe`, counted among its readers and/or writers.
    pub fn open(pipe: &Arc<Shared<Pipe>>, read: bool, write: bool, flags: u32, fifo: Option<InodeRef>) -> Arc<PipeEnd> {
        let mut p = pipe.lock();
        if read {
            p.readers += 1;
            p.r_counter += 1;
        }
        if write {
            p.writers += 1;
            p.w_counter += 1;
        }
        sched::notify(WaitKey::Io(p.id));
        drop(p);
        Arc::new(PipeEnd { pipe: Arc::clone(pipe), read, write, flags: spin::Mutex::new(flags), fifo })
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
        // Readers see the hang-up, writers the error (a FIFO end opened
        // O_RDWR is both).
        let mut events = 0;
        if self.write {
            p.writers -= 1;
            events |= READABLE | POLLHUP;
        }
        if self.read {
            p.readers -= 1;
            events |= WRITABLE | POLLERR;
        }
        notify_events(WaitKey::Io(p.id), events);
    }
}
