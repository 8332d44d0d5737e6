//! A second host thread for large `FileRead`s.
//!
//! The host copy is most of a large donated-file read (~250 µs per MiB
//! against ~32 µs for the exit that asks for it), so the second half of a
//! large read is read by this thread while the vCPU thread reads the
//! first. When the helper has not picked its half up by the time the vCPU
//! thread is done with its own (the other core is busy), the vCPU thread
//! takes the half back and reads it itself: never much slower than one
//! thread.
//!
//! The ranges are guest memory the caller validated and borrows for the
//! call; the vCPU thread does not return before the helper is done with
//! them (or never started), and the guest is stopped in the exit meanwhile.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use vm_memory::VolatileSlice;

use crate::sys::{self, RawRange};

/// Reads at least this large are split between the two threads.
pub const SPLIT_MIN: usize = 256 << 10;
/// iovecs per preadv (the kernel's IOV_MAX).
const IOV_MAX: usize = 1024;

/// Bytes read, and the error that stopped the read early, if any.
pub type Outcome = (usize, Option<io::Error>);

/// Half a read, handed to the helper.
struct Job {
    fd: RawFd,
    ranges: Vec<RawRange>,
    off: i64,
}

enum Slot {
    Idle,
    Queued(Job),
    Running,
    Done(Outcome),
    Closed,
}

struct Shared {
    slot: Mutex<Slot>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Slot> {
        // The slot holds no invariant a panicking holder could break.
        self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The helper thread of one vCPU.
pub struct ReadHelper {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ReadHelper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReadHelper")
    }
}

impl ReadHelper {
    /// Starts the helper thread.
    pub fn spawn() -> io::Result<Self> {
        let shared = Arc::new(Shared { slot: Mutex::new(Slot::Idle), changed: Condvar::new() });
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new().name("rf-read-helper".into()).spawn(move || serve(&theirs))?;
        Ok(Self { shared, thread: Some(thread) })
    }

    /// Reads `file` at `off` into `slices` (validated guest memory) until
    /// they are full, the file ends or a read fails, the second half on
    /// the helper thread.
    pub fn read(&self, file: &File, slices: &[VolatileSlice<'_>], off: i64) -> Outcome {
        let ranges = sys::raw_ranges(slices);
        let total: usize = ranges.iter().map(|r| r.len).sum();
        // Split on a page boundary of the transfer.
        let half = (total / 2) & !0xfff;
        let (first, second) = split(&ranges, half);
        let second_off = off.saturating_add(i64::try_from(half).unwrap_or(i64::MAX));
        let fd = file.as_raw_fd();
        {
            let mut slot = self.shared.lock();
            *slot = Slot::Queued(Job { fd, ranges: second, off: second_off });
        }
        self.shared.changed.notify_all();
        // SAFETY: `first` lies in `slices`, guest memory borrowed for this
        // call: mapped, writable, reached by no Rust reference.
        let (n1, e1) = unsafe { read_ranges(fd, &first, off) };
        let (n2, e2) = self.finish();
        if n1 < half {
            // End of file (or an error) inside the first half: what the
            // second half got is past the end of this read.
            return (n1, e1);
        }
        (half + n2, e2)
    }

    /// The second half's outcome: taken back and read here if the helper
    /// has not started it, else waited for.
    fn finish(&self) -> Outcome {
        let mut slot = self.shared.lock();
        loop {
            match std::mem::replace(&mut *slot, Slot::Idle) {
                Slot::Queued(job) => {
                    drop(slot);
                    // SAFETY: the job's ranges lie in the caller's borrowed
                    // guest memory (see `read`), and the helper can no
                    // longer see them.
                    return unsafe { read_ranges(job.fd, &job.ranges, job.off) };
                }
                Slot::Done(outcome) => return outcome,
                Slot::Running => {
                    *slot = Slot::Running;
                    slot = self.shared.changed.wait(slot).unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                // Unreachable: only `read` queues and only Drop closes.
                Slot::Idle | Slot::Closed => return (0, Some(io::Error::from_raw_os_error(libc::EIO))),
            }
        }
    }
}

impl Drop for ReadHelper {
    fn drop(&mut self) {
        *self.shared.lock() = Slot::Closed;
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads `file` at `off` into `slices` (validated guest memory) on this
/// thread alone: reads below [`SPLIT_MIN`], or no helper thread.
pub fn read_alone(file: &File, slices: &[VolatileSlice<'_>], off: i64) -> Outcome {
    // SAFETY: the ranges lie in `slices`, guest memory borrowed for this
    // call: mapped, writable, reached by no Rust reference.
    unsafe { read_ranges(file.as_raw_fd(), &sys::raw_ranges(slices), off) }
}

/// The helper's loop: take a queued half, read it, report.
fn serve(shared: &Shared) {
    let mut slot = shared.lock();
    loop {
        match std::mem::replace(&mut *slot, Slot::Idle) {
            Slot::Queued(job) => {
                *slot = Slot::Running;
                drop(slot);
                // SAFETY: the vCPU thread that queued the job waits in
                // `finish` until Done is reported, so the ranges (guest
                // memory it borrows) stay mapped, writable and free of Rust
                // references for this read.
                let outcome = unsafe { read_ranges(job.fd, &job.ranges, job.off) };
                slot = shared.lock();
                *slot = Slot::Done(outcome);
                shared.changed.notify_all();
            }
            Slot::Closed => return,
            other => {
                *slot = other;
                slot = shared.changed.wait(slot).unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        }
    }
}

/// `ranges` cut at `at` bytes: the part before and the part after.
fn split(ranges: &[RawRange], at: usize) -> (Vec<RawRange>, Vec<RawRange>) {
    let (mut before, mut after) = (Vec::new(), Vec::new());
    let mut left = at;
    for &r in ranges {
        if left >= r.len {
            before.push(r);
            left -= r.len;
        } else {
            if left > 0 {
                before.push(RawRange { addr: r.addr, len: left });
            }
            after.push(RawRange { addr: r.addr + left, len: r.len - left });
            left = 0;
        }
    }
    (before, after)
}

/// Reads `fd` at `off` into `ranges` until they are full, the file ends
/// or a read fails (EINTR is retried).
///
/// # Safety
///
/// As [`sys::preadv_raw`]: the ranges stay mapped, writable and free of
/// Rust references for the call.
unsafe fn read_ranges(fd: RawFd, ranges: &[RawRange], mut off: i64) -> Outcome {
    let mut rest = ranges.to_vec();
    rest.retain(|r| r.len != 0);
    let mut done = 0usize;
    while !rest.is_empty() {
        let n = rest.len().min(IOV_MAX);
        // SAFETY: forwarded from the caller.
        match unsafe { sys::preadv_raw(fd, &rest[..n], off) } {
            Ok(0) => break,
            Ok(got) => {
                done += got;
                off = off.saturating_add(i64::try_from(got).unwrap_or(i64::MAX));
                advance(&mut rest, got);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (done, Some(e)),
        }
    }
    (done, None)
}

/// Drops the first `n` bytes of `ranges`.
fn advance(ranges: &mut Vec<RawRange>, mut n: usize) {
    let mut skip = 0;
    for r in ranges.iter_mut() {
        if n >= r.len {
            n -= r.len;
            skip += 1;
        } else {
            r.addr += n;
            r.len -= n;
            break;
        }
    }
    ranges.drain(..skip);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vstate::GuestMemory;

    /// Reads through the helper into scattered guest segments: the bytes
    /// land where a single preadv would put them, the count stops at the
    /// end of the file whichever half it falls in.
    #[test]
    fn split_reads_match_the_file() {
        let len = (2 << 20) + 12345;
        let data: Vec<u8> = (0..len).map(|i: usize| ((i * 7 + i / 4096) % 251).to_le_bytes()[0]).collect();
        let path = std::env::temp_dir().join(format!("vmm-read-helper-{}", std::process::id()));
        std::fs::write(&path, &data).expect("write");
        let file = File::open(&path).expect("open");
        std::fs::remove_file(&path).expect("unlink");
        let mem = GuestMemory::new_anonymous(16 << 20);
        let helper = ReadHelper::spawn().expect("spawn");
        // Three segments, the cut falling inside the second.
        let segs = [(0x10_0000u64, 0x3_1000usize), (0x40_0000, 0x9_0000), (0x80_0000, 0x8_0000)];
        let total: usize = segs.iter().map(|s| s.1).sum();
        // The end of the file past both halves, in the second, in the first.
        for off in [0, len - total + 0x1000, len - 0x9_0000, len - 0x2_0000, len] {
            let want = total.min(len - off);
            let slices: Vec<_> = segs.iter().map(|&(gpa, l)| mem.slice(gpa, l).expect("slice")).collect();
            let (n, err) = helper.read(&file, &slices, i64::try_from(off).expect("off"));
            assert!(err.is_none());
            assert_eq!(n, want, "read at {off}");
            let mut got = Vec::new();
            for &(gpa, l) in &segs {
                let mut b = vec![0u8; l];
                mem.read_bytes(gpa, &mut b).expect("read back");
                got.extend_from_slice(&b);
            }
            assert_eq!(&got[..n], &data[off..off + n], "bytes at {off}");
        }
    }

    #[test]
    fn split_cuts_inside_and_between_ranges() {
        let r = |addr, len| RawRange { addr, len };
        let ranges = [r(0x1000, 0x3000), r(0x10000, 0x2000)];
        assert_eq!(split(&ranges, 0x1000), (vec![r(0x1000, 0x1000)], vec![r(0x2000, 0x2000), r(0x10000, 0x2000)]));
        assert_eq!(split(&ranges, 0x3000), (vec![r(0x1000, 0x3000)], vec![r(0x10000, 0x2000)]));
        assert_eq!(split(&ranges, 0), (vec![], ranges.to_vec()));
        let mut rest = ranges.to_vec();
        advance(&mut rest, 0x3800);
        assert_eq!(rest, vec![r(0x10800, 0x1800)]);
    }
}
