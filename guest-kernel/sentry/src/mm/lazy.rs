//! Frames filled from a file on first use.
//!
//! A program file gets physically contiguous frames when it is opened
//! (read-only segments map them directly, [`crate::mm::Backing::Phys`]),
//! but each page is read only when something first needs it: a page fault,
//! the ELF parser, a private copy of a data segment. A read brings in the
//! whole [`READ_AROUND`] window around the page, as Linux's read-around of
//! mapped files, so a program costs one read per window it touches rather
//! than a read of the whole file at exec (busybox is 1.9 MiB; `sleep`
//! touches a few dozen pages of it).
//!
//! The frames come fresh from the allocator (zero), so an unread page, or
//! the tail of the last one, reads as zero, never as someone else's data.
//! A frame that goes back to the allocator leaves its range (it is never
//! filled again); the range, and the file it holds, go with its last frame.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::error::SysError;
use crate::platform::{PhysAddr, PhysMem};
use abi::layout::PAGE_SIZE;

/// Pages read at once around a page that is needed: 128 KiB, Linux's
/// default read-around. Against 64 KiB, busybox `true` costs 9 fewer reads
/// (VM exits, ~32 us each) for ~200 KiB more of an idle `sleep`'s RSS.
pub const READ_AROUND: u64 = 32;

/// Where a range's bytes come from.
pub trait PageSource: Send + Sync {
    /// Reads bytes from `off` on into the physical ranges `segs`; returns
    /// how many were read (fewer at the end of the file).
    fn read(&self, phys: &PhysMem, off: u64, segs: &[(PhysAddr, u64)]) -> Result<usize, SysError>;
}

/// One bit per page.
struct Bits(Vec<u64>);

impl Bits {
    fn new(pages: u64) -> Self {
        Self(alloc::vec![0; usize::try_from(pages.div_ceil(64)).unwrap_or(0)])
    }

    fn get(&self, page: u64) -> bool {
        usize::try_from(page / 64).ok().and_then(|w| self.0.get(w)).is_some_and(|w| w & (1 << (page % 64)) != 0)
    }

    fn set(&mut self, page: u64) {
        if let Some(w) = usize::try_from(page / 64).ok().and_then(|w| self.0.get_mut(w)) {
            *w |= 1 << (page % 64);
        }
    }
}

/// One file's frames.
struct Range {
    /// Frames in the range.
    pages: u64,
    /// Bytes of the file (pages past them are never read).
    len: u64,
    source: Box<dyn PageSource>,
    /// Pages read already, or freed (nothing to read into them).
    done: Bits,
    /// Pages freed (their frames may belong to someone else now).
    gone: Bits,
    /// Frames not yet freed.
    live: u64,
}

/// The lazily filled ranges of physical memory, by first frame.
#[derive(Default)]
pub struct LazyFrames {
    ranges: BTreeMap<PhysAddr, Range>,
}

impl core::fmt::Debug for LazyFrames {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "LazyFrames({} ranges)", self.ranges.len())
    }
}

impl LazyFrames {
    /// Whether no range is lazy (every frame holds its data).
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Makes the `pages` fresh frames at `pa` the lazily read image of the
    /// `len` bytes of `source`.
    pub fn add(&mut self, pa: PhysAddr, pages: u64, len: u64, source: Box<dyn PageSource>) {
        self.ranges
            .insert(pa, Range { pages, len, source, done: Bits::new(pages), gone: Bits::new(pages), live: pages });
    }

    /// The range holding frame `pa`, with the page's index in it.
    fn find(&mut self, pa: PhysAddr) -> Option<(PhysAddr, &mut Range, u64)> {
        let (&start, r) = self.ranges.range_mut(..=pa).next_back()?;
        let page = (pa - start) / PAGE_SIZE;
        (page < r.pages).then_some((start, r, page))
    }

    /// Whether frame `pa` holds its data (true for frames of no range).
    pub fn is_filled(&self, pa: PhysAddr) -> bool {
        match self.ranges.range(..=pa).next_back() {
            Some((&start, r)) => {
                let page = (pa - start) / PAGE_SIZE;
                page >= r.pages || r.done.get(page)
            }
            None => true,
        }
    }

    /// Reads every page of `[pa, pa + len)` not read yet, with the rest of
    /// its window.
    pub fn fill(&mut self, phys: &PhysMem, pa: PhysAddr, len: u64) -> Result<(), SysError> {
        let end = pa.saturating_add(len);
        let mut at = pa & !(PAGE_SIZE - 1);
        while at < end {
            let Some((start, r, page)) = self.find(at) else {
                // Not lazy: the next range (if any) may start further on.
                at = match self.ranges.range(at..).next() {
                    Some((&s, _)) => s,
                    None => return Ok(()),
                };
                continue;
            };
            if !r.done.get(page) {
                let window = page - page % READ_AROUND;
                read_run(phys, start, r, window, (window + READ_AROUND).min(r.pages), page)?;
            }
            at = start + (page + 1) * PAGE_SIZE;
        }
        Ok(())
    }

    /// Frame `pa` went back to the allocator: it is no longer the file's.
    pub fn freed(&mut self, pa: PhysAddr) {
        let Some((start, r, page)) = self.find(pa) else { return };
        if r.gone.get(page) {
            // Reused since, and freed again by its new owner.
            return;
        }
        r.gone.set(page);
        r.done.set(page);
        r.live = r.live.saturating_sub(1);
        if r.live == 0 {
            self.ranges.remove(&start);
        }
    }
}

/// Reads the not-yet-read pages of `[lo, hi)` (page indices of range `r`
/// at `start`) that adjoin `page`, in one read.
fn read_run(phys: &PhysMem, start: PhysAddr, r: &mut Range, lo: u64, hi: u64, page: u64) -> Result<(), SysError> {
    let mut first = page;
    while first > lo && !r.done.get(first - 1) {
        first -= 1;
    }
    let mut last = page + 1;
    while last < hi && !r.done.get(last) {
        last += 1;
    }
    let off = first * PAGE_SIZE;
    let bytes = (last * PAGE_SIZE).min(r.len).saturating_sub(off);
    let mut done = 0u64;
    while done < bytes {
        let n = r.source.read(phys, off + done, &[(start + off + done, bytes - done)])?;
        if n == 0 {
            return Err(SysError::new(abi::linux::errno::EIO, "program file shorter than its size"));
        }
        done += n as u64;
    }
    for p in first..last {
        r.done.set(p);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TestMem;

    /// Every byte 0xab; counts reads.
    struct Fill(alloc::sync::Arc<core::sync::atomic::AtomicUsize>);

    impl PageSource for Fill {
        fn read(&self, phys: &PhysMem, _off: u64, segs: &[(PhysAddr, u64)]) -> Result<usize, SysError> {
            self.0.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            let (pa, len) = segs[0];
            let len = usize::try_from(len).expect("length");
            assert!(phys.write(pa, &alloc::vec![0xab; len]));
            Ok(len)
        }
    }

    #[test]
    fn freed_frames_leave_their_range_and_are_never_filled() {
        let mut m = TestMem::new(4);
        let f = &mut m.frames;
        let reads = alloc::sync::Arc::new(core::sync::atomic::AtomicUsize::new(0));
        let pa = f.alloc_lazy(2, 2 * PAGE_SIZE, Box::new(Fill(reads.clone()))).expect("frames");
        // The second frame is freed, reused and freed again by its new owner.
        f.put(pa + PAGE_SIZE);
        let again = f.alloc_zeroed().expect("recycled");
        assert_eq!(again, pa + PAGE_SIZE);
        f.fill(pa, 2 * PAGE_SIZE).expect("fill");
        let mut b = [0u8; 1];
        assert!(f.phys().read(again, &mut b));
        assert_eq!(b[0], 0, "a freed frame is not the file's any more");
        assert!(f.phys().read(pa, &mut b));
        assert_eq!(b[0], 0xab);
        assert_eq!(reads.load(core::sync::atomic::Ordering::Relaxed), 1);
        f.put(again);
        assert!(f.any_lazy(), "one frame of the file still lives");
        f.put(pa);
        assert!(!f.any_lazy());
    }
}
