//! The physical frame allocator with reference counts.
//!
//! Frames in `[start, end)` are managed: never-used frames come from two
//! bump pointers and are known to be zero (fresh memfd pages), released
//! frames go to a free list and are zeroed when handed out again. Single
//! frames (page tables, anonymous and copied pages) grow up from `start`,
//! contiguous runs (9P buffers, program files) down from `end`: the frames
//! every run touches stay together at `start`, where the VMM backs them
//! before boot (a first touch of an unbacked page is a shadow-paging fault
//! plus a host allocation, ~30 us on PVM), and the large runs, mostly never
//! touched, do not push them apart. Frames outside the
//! range (the boot module holding the program file) are never freed:
//! reference operations on them are no-ops.

use alloc::boxed::Box;
use alloc::vec::Vec;

use super::lazy::{LazyFrames, PageSource};
use crate::error::SysError;
use crate::platform::{PhysAddr, PhysMem};
use abi::layout::PAGE_SIZE;

/// Reference-counted allocator of 4 KiB frames.
#[derive(Debug)]
pub struct FrameAllocator {
    phys: PhysMem,
    start: u64,
    end: u64,
    /// Single frames at or above this address (and below `top`) have
    /// never been handed out.
    next: u64,
    /// Contiguous runs are handed out below this address, downwards.
    top: u64,
    free: Vec<PhysAddr>,
    refs: RefCounts,
    /// Ranges whose frames are read from a file on first use.
    lazy: LazyFrames,
}

/// Frames per lazily allocated chunk of reference counts (4 KiB of counters).
const REF_CHUNK: usize = 2048;

/// Reference counts, allocated a chunk at a time when a frame in the chunk
/// is first handed out: boot touches no counter memory, which matters when
/// every first touch of a page is a shadow-paging fault.
#[derive(Debug)]
struct RefCounts {
    chunks: Vec<Option<Box<[u16; REF_CHUNK]>>>,
}

impl RefCounts {
    fn new(frames: usize) -> Self {
        Self { chunks: (0..frames.div_ceil(REF_CHUNK)).map(|_| None).collect() }
    }

    fn get(&self, i: usize) -> u16 {
        self.chunks[i / REF_CHUNK].as_ref().map_or(0, |c| c[i % REF_CHUNK])
    }

    fn set(&mut self, i: usize, v: u16) {
        self.chunks[i / REF_CHUNK].get_or_insert_with(|| Box::new([0; REF_CHUNK]))[i % REF_CHUNK] = v;
    }
}

impl FrameAllocator {
    /// Manages the frames of `[start, end)` (rounded inwards to pages).
    /// Frames the allocator has never handed out must read as zero.
    pub fn new(phys: PhysMem, start: u64, end: u64) -> Self {
        let start = start.next_multiple_of(PAGE_SIZE);
        let end = (end.min(phys.size()) / PAGE_SIZE * PAGE_SIZE).max(start);
        let frames = usize::try_from((end - start) / PAGE_SIZE).unwrap_or(0);
        Self {
            phys,
            start,
            end,
            next: start,
            top: end,
            free: Vec::new(),
            refs: RefCounts::new(frames),
            lazy: LazyFrames::default(),
        }
    }

    /// The physical memory the frames live in.
    pub fn phys(&self) -> &PhysMem {
        &self.phys
    }

    fn index(&self, pa: PhysAddr) -> Option<usize> {
        if pa < self.start || pa >= self.end {
            return None;
        }
        usize::try_from((pa - self.start) / PAGE_SIZE).ok()
    }

    /// A zero-filled frame with one reference, or `None` when memory is exhausted.
    pub fn alloc_zeroed(&mut self) -> Option<PhysAddr> {
        let pa = if let Some(pa) = self.free.pop() {
            self.phys.zero(pa, PAGE_SIZE);
            pa
        } else if self.next < self.top {
            let pa = self.next;
            self.next += PAGE_SIZE;
            pa
        } else {
            return None;
        };
        if let Some(i) = self.index(pa) {
            self.refs.set(i, 1);
        }
        Some(pa)
    }

    /// A frame with one reference whose contents the caller will overwrite
    /// entirely (skips zeroing recycled frames).
    pub fn alloc_uninit(&mut self) -> Option<PhysAddr> {
        let pa = match self.free.pop() {
            Some(pa) => pa,
            None => return self.alloc_zeroed(),
        };
        if let Some(i) = self.index(pa) {
            self.refs.set(i, 1);
        }
        Some(pa)
    }

    /// Two adjacent zeroed frames, the first 8 KiB aligned, each with one
    /// reference: a page-table pair (kernel table, user table).
    pub fn alloc_pair(&mut self) -> Option<PhysAddr> {
        if !self.next.is_multiple_of(2 * PAGE_SIZE) && self.next < self.top {
            // Keep the odd page for single allocations.
            let pa = self.next;
            self.next += PAGE_SIZE;
            self.free.push(pa);
        }
        if self.next + 2 * PAGE_SIZE > self.top {
            return None;
        }
        let pa = self.next;
        self.next += 2 * PAGE_SIZE;
        for p in [pa, pa + PAGE_SIZE] {
            if let Some(i) = self.index(p) {
                self.refs.set(i, 1);
            }
        }
        Some(pa)
    }

    /// `pages` physically contiguous zeroed frames, one reference each
    /// (buffers handed to the host in one piece), from the top.
    pub fn alloc_contiguous(&mut self, pages: u64) -> Option<PhysAddr> {
        let len = pages.checked_mul(PAGE_SIZE)?;
        let pa = self.top.checked_sub(len).filter(|&pa| pa >= self.next)?;
        self.top = pa;
        for i in 0..pages {
            if let Some(idx) = self.index(pa + i * PAGE_SIZE) {
                self.refs.set(idx, 1);
            }
        }
        Some(pa)
    }

    /// `pages` contiguous frames, one reference each, that hold the `len`
    /// bytes of `source` as they are read on first use ([`Self::fill`]).
    pub fn alloc_lazy(&mut self, pages: u64, len: u64, source: Box<dyn PageSource>) -> Option<PhysAddr> {
        let pa = self.alloc_contiguous(pages)?;
        self.lazy.add(pa, pages, len, source);
        Some(pa)
    }

    /// Reads the pages of `[pa, pa + len)` that are lazily filled and not
    /// read yet ([`super::lazy`]); frames of no file are left alone.
    pub fn fill(&mut self, pa: PhysAddr, len: u64) -> Result<(), SysError> {
        if self.lazy.is_empty() {
            return Ok(());
        }
        self.lazy.fill(&self.phys, pa, len)
    }

    /// Whether some frames are filled lazily.
    pub fn any_lazy(&self) -> bool {
        !self.lazy.is_empty()
    }

    /// Whether frame `pa` holds its data (it is not a lazily filled page
    /// still to be read).
    pub fn is_filled(&self, pa: PhysAddr) -> bool {
        self.lazy.is_empty() || self.lazy.is_filled(pa)
    }

    /// Adds a reference to a frame (a second mapping of it).
    pub fn get(&mut self, pa: PhysAddr) {
        if let Some(i) = self.index(pa) {
            self.refs.set(i, self.refs.get(i).saturating_add(1));
        }
    }

    /// Drops a reference; the frame is freed when none remain.
    pub fn put(&mut self, pa: PhysAddr) {
        if let Some(i) = self.index(pa) {
            match self.refs.get(i) {
                0 => {}
                1 => {
                    self.refs.set(i, 0);
                    if !self.lazy.is_empty() {
                        self.lazy.freed(pa & !(PAGE_SIZE - 1));
                    }
                    self.free.push(pa & !(PAGE_SIZE - 1));
                }
                n => self.refs.set(i, n - 1),
            }
        }
    }

    /// References held on `pa` (external frames report 1).
    pub fn refcount(&self, pa: PhysAddr) -> u16 {
        self.index(pa).map_or(1, |i| self.refs.get(i))
    }

    /// Frames managed in all.
    pub fn total(&self) -> u64 {
        (self.end - self.start) / PAGE_SIZE
    }

    /// Frames still available.
    pub fn available(&self) -> u64 {
        (self.top - self.next) / PAGE_SIZE + self.free.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(pages: usize) -> (Vec<u8>, PhysMem) {
        let mut v = alloc::vec![0u8; pages * 4096];
        // SAFETY: the vector outlives the PhysMem in each test and is not
        // otherwise accessed while the allocator is used.
        #[allow(unsafe_code)]
        let p = unsafe { PhysMem::new(v.as_mut_ptr(), v.len() as u64) };
        (v, p)
    }

    #[test]
    fn allocates_frees_and_rezeroes() {
        let (_v, p) = mem(8);
        let mut f = FrameAllocator::new(p, 4096, 4 * 4096);
        let a = f.alloc_zeroed().expect("frame");
        let b = f.alloc_zeroed().expect("frame");
        let c = f.alloc_zeroed().expect("frame");
        assert_eq!((a, b, c), (4096, 8192, 12288));
        assert_eq!(f.alloc_zeroed(), None);
        p.write(b, &[0xaa; 16]);
        f.get(b);
        f.put(b);
        assert_eq!(f.available(), 0);
        f.put(b);
        assert_eq!(f.available(), 1);
        let b2 = f.alloc_zeroed().expect("recycled");
        assert_eq!(b2, b);
        let mut buf = [1u8; 16];
        p.read(b2, &mut buf);
        assert_eq!(buf, [0; 16]);
    }

    #[test]
    fn contiguous_runs_come_from_the_top_and_single_frames_from_the_bottom() {
        let (_v, p) = mem(16);
        let mut f = FrameAllocator::new(p, 4096, 16 * 4096);
        let a = f.alloc_zeroed().expect("frame");
        let run = f.alloc_contiguous(4).expect("run");
        let b = f.alloc_zeroed().expect("frame");
        assert_eq!((a, b), (4096, 2 * 4096), "single frames stay together at the bottom");
        assert_eq!(run, 12 * 4096, "the run ends at the top");
        assert_eq!(f.available(), 9);
        // The two ends meet: neither may take the other's frames.
        assert_eq!(f.alloc_contiguous(10), None);
        let last = f.alloc_contiguous(9).expect("the rest in one run");
        assert_eq!(last, 3 * 4096);
        assert_eq!(f.alloc_zeroed(), None);
        assert_eq!(f.alloc_pair(), None);
        f.put(run);
        assert_eq!(f.alloc_zeroed(), Some(run), "freed run frames are recycled one by one");
    }

    #[test]
    fn external_frames_are_not_managed() {
        let (_v, p) = mem(8);
        let mut f = FrameAllocator::new(p, 4 * 4096, 8 * 4096);
        f.put(0);
        f.get(4096);
        assert_eq!(f.refcount(4096), 1);
        assert_eq!(f.available(), 4);
    }
}
