//! Application memory: VMAs, brk, mmap/munmap/mprotect, page faults, and
//! access to application memory through physical frames.
//!
//! The sentry owns the layout (VMAs) and the frames; the platform's
//! [`AddressSpace`] owns the page tables. A page is either mapped in the
//! address space or is filled on first fault from its VMA's backing.

pub mod frames;
pub mod lazy;
mod remap;
pub mod usercopy;
mod vma;

pub use remap::Advice;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::error::SysError;
use crate::platform::{Access, AddressSpace, Perms, PhysAddr};
use abi::layout::PAGE_SIZE;
use abi::linux::errno;
use frames::FrameAllocator;
pub use vma::{Backing, Vma};

/// Lowest address `mmap` hands out or accepts with `MAP_FIXED`.
pub const MMAP_MIN_ADDR: u64 = 0x10000;
/// Top of the area `mmap` allocates downwards from (below the stack).
pub const MMAP_TOP: u64 = 0x7f00_0000_0000;
/// Top of the initial stack.
pub const STACK_TOP: u64 = 0x7fff_ffff_e000;
/// Size reserved for the main thread's stack.
pub const STACK_SIZE: u64 = 8 << 20;
/// Pages mapped around an anonymous fault (fault-around), a power of two.
pub const FAULT_AROUND_PAGES: u64 = 16;

/// Adds page `va` to a list of ranges for `protect_ranges`, merging it
/// into the last range when adjacent.
fn push_page(ranges: &mut Vec<(u64, u64, Perms)>, va: u64, perms: Perms) {
    if let Some(last) = ranges.last_mut() {
        if last.0 + last.1 == va && last.2 == perms {
            last.1 += PAGE_SIZE;
            return;
        }
    }
    ranges.push((va, PAGE_SIZE, perms));
}

/// Rounds up to a page boundary, `None` on overflow.
pub fn page_round_up(v: u64) -> Option<u64> {
    v.checked_add(PAGE_SIZE - 1).map(|x| x & !(PAGE_SIZE - 1))
}

/// Rounds down to a page boundary.
pub const fn page_round_down(v: u64) -> u64 {
    v & !(PAGE_SIZE - 1)
}

/// One process's memory.
#[derive(Debug)]
pub struct MemoryManager<A: AddressSpace> {
    space: A,
    /// VMAs by start address; non-overlapping.
    vmas: BTreeMap<u64, Vma>,
    brk_start: u64,
    brk: u64,
}

impl<A: AddressSpace> MemoryManager<A> {
    /// An empty memory manager over `space`.
    pub fn new(space: A) -> Self {
        Self { space, vmas: BTreeMap::new(), brk_start: 0, brk: 0 }
    }

    /// The platform address space, for [`crate::platform::Context::switch`].
    pub fn space_mut(&mut self) -> &mut A {
        &mut self.space
    }

    /// The VMAs in address order.
    pub fn vmas(&self) -> impl Iterator<Item = &Vma> {
        self.vmas.values()
    }

    /// The start of the program break area and the current break.
    pub fn brk_range(&self) -> (u64, u64) {
        (self.brk_start, self.brk)
    }

    /// Pages of `[start, end)` mapped in the address space (resident).
    pub fn resident_pages(&self, start: u64, end: u64) -> u64 {
        let mut n = 0;
        self.space.for_each_mapped(start, end.saturating_sub(start), &mut |_, _, _| n += 1);
        n
    }

    /// The VMA containing `addr`.
    pub fn vma_at(&self, addr: u64) -> Option<&Vma> {
        self.vmas.range(..=addr).next_back().map(|(_, v)| v).filter(|v| addr < v.end)
    }

    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.vmas.range(..end).next_back().is_some_and(|(_, v)| v.end > start)
    }

    /// Whether `[start, start + len)` is inside the application's range
    /// (which ends at the platform's [`AddressSpace::USER_END`]).
    pub fn in_user_range(start: u64, len: u64) -> bool {
        start.checked_add(len).is_some_and(|end| end <= A::USER_END)
    }

    /// Whether `[start, start + len)` is inside user space and unmapped.
    pub fn range_is_free(&self, start: u64, len: u64) -> bool {
        start.checked_add(len).is_some_and(|end| end <= A::USER_END && !self.overlaps(start, end))
    }

    /// Inserts a VMA over `[start, end)`, which must be free, merged with
    /// an adjacent anonymous VMA of the same kind and protection (as Linux
    /// does, so that mremap and mprotect see one mapping).
    fn insert(&mut self, mut vma: Vma) {
        debug_assert!(!self.overlaps(vma.start, vma.end));
        let mergeable = |a: &Vma, b: &Vma| {
            a.perms == b.perms && a.backing == b.backing && matches!(a.backing, Backing::Anon | Backing::Shared)
        };
        if let Some((&ps, prev)) = self.vmas.range(..vma.start).next_back() {
            if prev.end == vma.start && mergeable(prev, &vma) {
                vma.start = ps;
                self.vmas.remove(&ps);
            }
        }
        if let Some(next) = self.vmas.get(&vma.end) {
            if mergeable(next, &vma) {
                vma.end = next.end;
                let ns = next.start;
                self.vmas.remove(&ns);
            }
        }
        self.vmas.insert(vma.start, vma);
    }

    /// Finds a free gap of `len` bytes below `top`, highest first.
    fn find_gap(&self, len: u64, top: u64) -> Option<u64> {
        if len > top.checked_sub(MMAP_MIN_ADDR)? {
            return None;
        }
        let mut hi = top;
        for (_, v) in self.vmas.range(..top).rev() {
            if v.end <= hi && hi - v.end >= len {
                return Some(hi - len);
            }
            hi = hi.min(v.start);
        }
        (hi >= MMAP_MIN_ADDR.checked_add(len)?).then(|| hi - len)
    }

    /// Splits the VMA containing `addr` so that a VMA starts at `addr`.
    fn split_at(&mut self, addr: u64) {
        let Some((&start, v)) = self.vmas.range(..addr).next_back() else { return };
        if v.end <= addr {
            return;
        }
        let mut tail = v.clone();
        tail.start = addr;
        match &mut tail.backing {
            Backing::Phys { base } => *base += addr - start,
            Backing::SharedFile { pgoff, .. } => *pgoff += (addr - start) / PAGE_SIZE,
            _ => {}
        }
        if let Some(v) = self.vmas.get_mut(&start) {
            v.end = addr;
        }
        self.vmas.insert(addr, tail);
    }

    /// Validates a user range: page aligned start, non-empty, inside user space.
    fn check_range(start: u64, len: u64) -> Result<u64, SysError> {
        if !start.is_multiple_of(PAGE_SIZE) {
            return Err(SysError::einval("address not page aligned"));
        }
        let end = page_round_up(len).and_then(|l| start.checked_add(l)).ok_or(SysError::einval("range overflows"))?;
        if len == 0 {
            return Err(SysError::einval("zero length"));
        }
        if end > A::USER_END {
            return Err(SysError::enomem("range beyond user space"));
        }
        Ok(end)
    }

    /// Creates a mapping: anonymous (zero-filled on demand) or backed by
    /// physical frames shared with their owner (`Backing::Phys`).
    ///
    /// `hint` with `fixed` replaces whatever is mapped there; without it the
    /// hint is used if free, otherwise the highest free gap below
    /// [`MMAP_TOP`]. Returns the start address.
    pub fn map(
        &mut self,
        frames: &mut FrameAllocator,
        hint: u64,
        len: u64,
        perms: Perms,
        backing: Backing,
        fixed: bool,
    ) -> Result<u64, SysError> {
        let len = page_round_up(len).filter(|&l| l > 0).ok_or(SysError::einval("bad length"))?;
        let start = if fixed {
            let end = Self::check_range(hint, len)?;
            if hint < MMAP_MIN_ADDR {
                return Err(SysError::new(errno::EPERM, "fixed mapping below mmap_min_addr"));
            }
            self.unmap(frames, hint, end - hint)?;
            hint
        } else {
            let h = page_round_down(hint);
            match h.checked_add(len) {
                Some(end) if h >= MMAP_MIN_ADDR && end <= MMAP_TOP && !self.overlaps(h, end) => h,
                _ => self.find_gap(len, MMAP_TOP).ok_or(SysError::enomem("no free address range"))?,
            }
        };
        self.insert(Vma { start, end: start + len, perms, backing });
        Ok(start)
    }

    /// Removes every mapping in `[start, start + len)`.
    pub fn unmap(&mut self, frames: &mut FrameAllocator, start: u64, len: u64) -> Result<(), SysError> {
        let end = Self::check_range(start, len)?;
        self.split_at(start);
        self.split_at(end);
        let doomed: Vec<u64> = self.vmas.range(start..end).map(|(&s, _)| s).collect();
        for s in doomed {
            self.vmas.remove(&s);
        }
        self.space.unmap(frames, start, end - start);
        Ok(())
    }

    /// Changes the protection of `[start, start + len)`; every page must be mapped.
    ///
    /// `Backing::Phys` memory cannot be made writable (EACCES): its frames
    /// belong to their owner (the program file), and there is no
    /// copy-on-write yet to give the process private copies.
    pub fn protect(&mut self, frames: &FrameAllocator, start: u64, len: u64, perms: Perms) -> Result<(), SysError> {
        let end = Self::check_range(start, len)?;
        // Linux fails with ENOMEM if any part of the range is unmapped.
        let mut at = start;
        while at < end {
            let v = self.vma_at(at).ok_or(SysError::enomem("range not fully mapped"))?;
            if perms.write && matches!(v.backing, Backing::Phys { .. }) {
                return Err(SysError::new(
                    errno::EACCES,
                    "shared file pages cannot be made writable (no copy-on-write yet)",
                ));
            }
            at = v.end;
        }
        self.split_at(start);
        self.split_at(end);
        for (_, v) in self.vmas.range_mut(start..end) {
            v.perms = perms;
        }
        // Write access is never granted here: a page may share its frame
        // (copy-on-write after fork, a file's frame); the first write
        // faults and takes the page over (break_cow).
        self.space.protect(start, end - start, Perms { write: false, ..perms });
        self.hide_unread(frames, start, end);
        Ok(())
    }

    /// Takes access away again from the program-file pages of `[start,
    /// end)` that are not read yet ([`lazy`]): their first touch must
    /// fault, to read them.
    fn hide_unread(&mut self, frames: &FrameAllocator, start: u64, end: u64) {
        if !frames.any_lazy() {
            return;
        }
        let phys: Vec<(u64, u64)> = self
            .vmas
            .range(..end)
            .filter(|(_, v)| v.end > start && matches!(v.backing, Backing::Phys { .. }))
            .map(|(_, v)| (v.start.max(start), v.end.min(end)))
            .collect();
        let mut hide = Vec::new();
        for (lo, hi) in phys {
            self.space.for_each_mapped(lo, hi - lo, &mut |va, pa, _| {
                if !frames.is_filled(pa) {
                    push_page(&mut hide, va, Perms::NONE);
                }
            });
        }
        if !hide.is_empty() {
            self.space.protect_ranges(&hide);
        }
    }

    /// A fault on a program-file page mapped before it was read: reads its
    /// window and gives access to every page of `v` around it that now
    /// holds its data.
    fn read_around(&mut self, frames: &mut FrameAllocator, v: &Vma, page: u64, pa: PhysAddr) -> Result<(), SysError> {
        frames.fill(pa, PAGE_SIZE)?;
        // The window read is aligned in the file, not in memory: look at
        // a window's worth of pages on either side.
        let span = lazy::READ_AROUND * PAGE_SIZE;
        let lo = page.saturating_sub(span).max(v.start);
        let hi = page.saturating_add(span).min(v.end);
        let mut show = Vec::new();
        let fr = &*frames;
        self.space.for_each_mapped(lo, hi - lo, &mut |va, pa, p| {
            if !p.any() && fr.is_filled(pa) {
                push_page(&mut show, va, v.perms);
            }
        });
        self.space.protect_ranges(&show);
        Ok(())
    }

    /// Sets up the program break after the loaded image's end.
    pub fn init_brk(&mut self, end: u64) {
        let b = page_round_up(end).unwrap_or(end);
        self.brk_start = b;
        self.brk = b;
    }

    /// Implements the `brk(2)` logic: returns the (possibly unchanged) break.
    pub fn brk(&mut self, frames: &mut FrameAllocator, new: u64) -> u64 {
        if new < self.brk_start || new > MMAP_TOP {
            return self.brk;
        }
        let old_top = page_round_up(self.brk).unwrap_or(self.brk);
        let Some(new_top) = page_round_up(new) else { return self.brk };
        if new_top > old_top {
            if self.overlaps(old_top, new_top) {
                return self.brk;
            }
            // Grow the heap VMA (or create it).
            let grew = match self.vmas.range_mut(..old_top).next_back() {
                Some((_, v)) if v.end == old_top && v.backing == Backing::Heap => {
                    v.end = new_top;
                    true
                }
                _ => false,
            };
            if !grew {
                self.insert(Vma { start: old_top, end: new_top, perms: Perms::RW, backing: Backing::Heap });
            }
        } else if new_top < old_top && self.unmap(frames, new_top, old_top - new_top).is_err() {
            return self.brk;
        }
        self.brk = new;
        self.brk
    }

    /// Resolves a fault at `addr`: maps the page (and its neighbours for
    /// anonymous memory) if the VMA allows `access`. `Err` means SIGSEGV.
    pub fn handle_fault(&mut self, frames: &mut FrameAllocator, addr: u64, access: Access) -> Result<(), SysError> {
        self.resolve_fault(frames, addr, access, false)
    }

    /// [`Self::handle_fault`] for an access by the program (`by_sentry`
    /// false: it faulted, and retries) or by the sentry on its behalf.
    fn resolve_fault(
        &mut self,
        frames: &mut FrameAllocator,
        addr: u64,
        access: Access,
        by_sentry: bool,
    ) -> Result<(), SysError> {
        let v = self.vma_at(addr).ok_or(SysError::efault("no mapping"))?.clone();
        let allowed = match access {
            Access::Read => v.perms.read || v.perms.exec,
            Access::Write => v.perms.write,
            Access::Exec => v.perms.exec,
        };
        if !allowed {
            return Err(SysError::efault("access not permitted by mapping"));
        }
        let page = page_round_down(addr);
        if let Backing::Phys { base } = v.backing {
            let pa = base + (page - v.start);
            if !frames.is_filled(pa) {
                // A program page mapped before it was read.
                return self.read_around(frames, &v, page, pa);
            }
        }
        if let Some((pa, p)) = self.space.translate(page) {
            if !p.any() && matches!(v.backing, Backing::Phys { .. }) {
                // Read since (through another mapping of the file) but
                // still without access here. (Not every platform's
                // translate shows such pages: see populate_pages.)
                return self.read_around(frames, &v, page, pa);
            }
            if access == Access::Write && !p.write {
                if v.backing.is_shared() {
                    // Shared memory is never copied: mprotect only took
                    // write access away from the page table.
                    self.space.protect(page, PAGE_SIZE, v.perms);
                    return Ok(());
                }
                // Write-protected after fork: take a private copy.
                return self.break_cow(frames, page, pa, v.perms, by_sentry);
            }
            // Mapped already (a stale TLB entry, or a race with another vCPU).
            return Ok(());
        }
        let (lo, hi) = match v.backing {
            Backing::Phys { .. } | Backing::File | Backing::SharedFile { .. } => (page, page + PAGE_SIZE),
            _ => {
                let span = FAULT_AROUND_PAGES * PAGE_SIZE;
                let lo = (addr & !(span - 1)).max(v.start);
                (lo, (lo + span).min(v.end))
            }
        };
        self.populate_vma(frames, &v, lo, hi)
    }

    /// Gives the page at `va` (frame `pa`, shared copy-on-write) to this
    /// address space alone: reused if no one else maps it, copied if shared.
    ///
    /// A copy for the sentry's own write (`by_sentry`: a syscall result
    /// written through the direct map) must flush: the program may hold a
    /// cached read-only translation to the old frame (it read the page, or
    /// KVM's shadow MMU prefetched it with a neighbour) and would go on
    /// reading the old frame, since nothing makes it fault again. After the
    /// program's own write fault it retries, which refreshes the entry.
    fn break_cow(
        &mut self,
        frames: &mut FrameAllocator,
        va: u64,
        pa: PhysAddr,
        perms: Perms,
        by_sentry: bool,
    ) -> Result<(), SysError> {
        let copied = frames.refcount(pa) > 1;
        let new = if copied {
            let new = frames.alloc_uninit().ok_or(SysError::enomem("out of physical memory"))?;
            frames.phys().copy(new, pa, PAGE_SIZE);
            new
        } else {
            frames.get(pa);
            pa
        };
        let mapped = if copied && by_sentry {
            self.space.map(frames, va, new, perms)
        } else {
            self.space.map_after_fault(frames, va, new, perms)
        };
        if mapped.is_err() {
            frames.put(new);
            return Err(SysError::enomem("out of memory for page tables"));
        }
        Ok(())
    }

    /// A copy of this address space for a fork child in `space`: the same
    /// VMAs; private writable pages shared copy-on-write (write-protected
    /// in both), shared and read-only pages shared as they are.
    pub fn fork(&mut self, frames: &mut FrameAllocator, space: A) -> Result<Self, SysError> {
        let mut child = Self { space, vmas: self.vmas.clone(), brk_start: self.brk_start, brk: self.brk };
        let vmas: Vec<Vma> = self.vmas.values().cloned().collect();
        let mut protect = Vec::new();
        for v in &vmas {
            if v.backing == Backing::Shared {
                // Both sides must see the same frames: fill the holes first
                // (shared file pages are all mapped already).
                self.populate_vma(frames, v, v.start, v.end)?;
            }
            let cow = v.perms.write && !v.backing.is_shared();
            let mut pages = Vec::new();
            self.space.for_each_mapped(v.start, v.end - v.start, &mut |va, pa, p| pages.push((va, pa, p)));
            for (va, pa, p) in pages {
                frames.get(pa);
                let perms = if cow { Perms { write: false, ..p } } else { p };
                if child.space.map(frames, va, pa, perms).is_err() {
                    frames.put(pa);
                    child.destroy(frames);
                    return Err(SysError::enomem("out of memory for page tables"));
                }
                if !p.any() {
                    child.space.protect(va, PAGE_SIZE, Perms::NONE);
                }
            }
            if cow {
                protect.push((v.start, v.end - v.start, Perms { write: false, ..v.perms }));
            }
        }
        // One TLB flush for all the write-protected ranges.
        self.space.protect_ranges(&protect);
        Ok(child)
    }

    /// Maps `len` bytes of a file privately: the pages of
    /// `[file_pa, file_pa + file_bytes)` (the file's frames from the mapped
    /// offset on) are mapped read-only now, each taking a frame reference;
    /// the rest of the range, past the end of the file, is zero-filled.
    #[allow(clippy::too_many_arguments)]
    pub fn map_file(
        &mut self,
        frames: &mut FrameAllocator,
        hint: u64,
        len: u64,
        perms: Perms,
        file_pa: PhysAddr,
        file_bytes: u64,
        fixed: bool,
    ) -> Result<u64, SysError> {
        let len_up = page_round_up(len).unwrap_or(len);
        let in_file = page_round_up(file_bytes).unwrap_or(0).min(len_up);
        // Mapped pages hold their data: read what is lazily filled now.
        frames.fill(file_pa, in_file)?;
        let start = self.map(frames, hint, len, perms, Backing::File, fixed)?;
        let len = len_up;
        let ro = Perms { write: false, ..perms };
        let mut off = 0;
        while off < in_file {
            let pa = file_pa + off;
            frames.get(pa);
            if self.space.map(frames, start + off, pa, ro).is_err() {
                frames.put(pa);
                let _ = self.unmap(frames, start, len);
                return Err(SysError::enomem("out of memory for page tables"));
            }
            off += PAGE_SIZE;
        }
        if !perms.any() && in_file > 0 {
            self.space.protect(start, in_file, Perms::NONE);
        }
        if in_file < len {
            self.split_at(start + in_file);
            if let Some(v) = self.vmas.get_mut(&(start + in_file)) {
                v.backing = Backing::Anon;
            }
        }
        Ok(start)
    }

    /// Creates a MAP_SHARED mapping of page-cache file `file` from page
    /// `pgoff` on, mapping `pages` (the file's frames, in order, one
    /// reference each taken here) at its start; the rest of the mapping
    /// lies past the file's end.
    #[allow(clippy::too_many_arguments)] // the mmap arguments plus the cache's pages
    pub fn map_shared_file(
        &mut self,
        frames: &mut FrameAllocator,
        hint: u64,
        len: u64,
        perms: Perms,
        file: u64,
        pgoff: u64,
        pages: &[PhysAddr],
        fixed: bool,
    ) -> Result<u64, SysError> {
        let start = self.map(frames, hint, len, perms, Backing::SharedFile { file, pgoff }, fixed)?;
        for (i, &pa) in pages.iter().enumerate() {
            frames.get(pa);
            if self.space.map(frames, start + i as u64 * PAGE_SIZE, pa, perms).is_err() {
                frames.put(pa);
                let _ = self.unmap(frames, start, len);
                return Err(SysError::enomem("out of memory for page tables"));
            }
        }
        Ok(start)
    }

    /// The physical address of `va` if it lies in shared memory (mapped
    /// MAP_SHARED), for futexes shared between processes.
    pub fn shared_phys(&self, va: u64) -> Option<PhysAddr> {
        if !self.vma_at(va)?.backing.is_shared() {
            return None;
        }
        self.space.translate(va).map(|(pa, _)| pa + (va & (PAGE_SIZE - 1)))
    }

    /// The page-cache files this address space maps.
    pub fn shared_files(&self) -> impl Iterator<Item = u64> + '_ {
        self.vmas.values().filter_map(|v| match v.backing {
            Backing::SharedFile { file, .. } => Some(file),
            _ => None,
        })
    }

    /// The page-cache files mapped in `[start, start + len)`.
    pub fn shared_files_in(&self, start: u64, len: u64) -> Vec<u64> {
        let end = start.saturating_add(len);
        self.vmas
            .values()
            .filter(|v| v.start < end && v.end > start)
            .filter_map(|v| match v.backing {
                Backing::SharedFile { file, .. } => Some(file),
                _ => None,
            })
            .collect()
    }

    /// Maps every not-yet-mapped page of `[lo, hi)` inside `v`.
    fn populate_vma(&mut self, frames: &mut FrameAllocator, v: &Vma, lo: u64, hi: u64) -> Result<(), SysError> {
        let mut hide = Vec::new();
        let r = self.populate_pages(frames, v, lo, hi, &mut hide);
        if !hide.is_empty() {
            self.space.protect_ranges(&hide);
        }
        r
    }

    /// [`Self::populate_vma`]'s mapping, listing in `hide` the program-file
    /// pages mapped before they are read (a reference held, no access).
    fn populate_pages(
        &mut self,
        frames: &mut FrameAllocator,
        v: &Vma,
        lo: u64,
        hi: u64,
        hide: &mut Vec<(u64, u64, Perms)>,
    ) -> Result<(), SysError> {
        let mut va = lo;
        while va < hi {
            if self.space.translate(va).is_none() {
                let pa = match v.backing {
                    Backing::Phys { base } => {
                        let pa = base + (va - v.start);
                        frames.get(pa);
                        if !frames.is_filled(pa) {
                            push_page(hide, va, Perms::NONE);
                        }
                        pa
                    }
                    // File pages are all mapped when the mapping is made;
                    // a shared file's pages past its end are not there
                    // (Linux raises SIGBUS).
                    Backing::File | Backing::SharedFile { .. } => return Err(SysError::efault("file page not mapped")),
                    _ => frames.alloc_zeroed().ok_or(SysError::enomem("out of physical memory"))?,
                };
                if self.space.map(frames, va, pa, v.perms).is_err() {
                    frames.put(pa);
                    return Err(SysError::enomem("out of memory for page tables"));
                }
            }
            va += PAGE_SIZE;
        }
        Ok(())
    }

    /// Maps every page of `[start, start + len)` now (MAP_POPULATE, exec).
    pub fn populate(&mut self, frames: &mut FrameAllocator, start: u64, len: u64) -> Result<(), SysError> {
        let end = start.checked_add(len).ok_or(SysError::efault("range overflows"))?;
        let mut at = page_round_down(start);
        while at < end {
            let v = self.vma_at(at).ok_or(SysError::efault("no mapping"))?.clone();
            let hi = v.end.min(page_round_up(end).unwrap_or(v.end));
            self.populate_vma(frames, &v, at, hi)?;
            at = hi;
        }
        Ok(())
    }

    /// The physical frame backing `va` for an access of kind `write`,
    /// faulting it in as the application would.
    fn frame_for(&mut self, frames: &mut FrameAllocator, va: u64, write: bool) -> Result<PhysAddr, SysError> {
        let need = if write { Access::Write } else { Access::Read };
        match self.space.translate(va) {
            Some((pa, p)) if (!write && (p.read || p.exec)) || (write && p.write) => Ok(pa + (va & (PAGE_SIZE - 1))),
            _ => {
                self.resolve_fault(frames, va, need, true)?;
                match self.space.translate(va) {
                    Some((pa, _)) => Ok(pa + (va & (PAGE_SIZE - 1))),
                    None => Err(SysError::efault("page not mapped after fault")),
                }
            }
        }
    }

    /// The physical address of user `[va, va + len)` when that range is
    /// non-empty and inside one page (most copies of syscall arguments):
    /// the copy then needs no list of segments. `None` otherwise.
    fn frame_within_page(
        &mut self,
        frames: &mut FrameAllocator,
        va: u64,
        len: u64,
        write: bool,
    ) -> Result<Option<PhysAddr>, SysError> {
        if len == 0 || len > PAGE_SIZE - (va & (PAGE_SIZE - 1)) || va.checked_add(len).is_none_or(|e| e > A::USER_END) {
            return Ok(None);
        }
        self.frame_for(frames, va, write).map(Some)
    }

    /// The physical ranges covering user `[va, va + len)`, faulting pages in
    /// as needed, with adjacent frames merged. Fails with EFAULT if any part
    /// is not accessible for the given access.
    pub fn segments(
        &mut self,
        frames: &mut FrameAllocator,
        va: u64,
        len: u64,
        write: bool,
    ) -> Result<Vec<(PhysAddr, u64)>, SysError> {
        let end = va.checked_add(len).filter(|&e| e <= A::USER_END).ok_or(SysError::efault("bad user range"))?;
        let mut out: Vec<(PhysAddr, u64)> = Vec::new();
        let mut at = va;
        while at < end {
            let chunk = (PAGE_SIZE - (at & (PAGE_SIZE - 1))).min(end - at);
            let pa = self.frame_for(frames, at, write)?;
            match out.last_mut() {
                Some((p, l)) if *p + *l == pa => *l += chunk,
                _ => out.push((pa, chunk)),
            }
            at += chunk;
        }
        Ok(out)
    }

    /// Copies `data` into application memory at `va` (needs write access).
    pub fn copy_out(&mut self, frames: &mut FrameAllocator, va: u64, data: &[u8]) -> Result<(), SysError> {
        if let Some(pa) = self.frame_within_page(frames, va, data.len() as u64, true)? {
            frames.phys().write(pa, data);
            return Ok(());
        }
        let mut done = 0usize;
        for (pa, l) in self.segments(frames, va, data.len() as u64, true)? {
            let l = usize::try_from(l).map_err(|_| SysError::efault("segment too large"))?;
            frames.phys().write(pa, &data[done..done + l]);
            done += l;
        }
        Ok(())
    }

    /// Copies application memory at `va` into `buf`.
    pub fn copy_in(&mut self, frames: &mut FrameAllocator, va: u64, buf: &mut [u8]) -> Result<(), SysError> {
        if let Some(pa) = self.frame_within_page(frames, va, buf.len() as u64, false)? {
            frames.phys().read(pa, buf);
            return Ok(());
        }
        let mut done = 0usize;
        for (pa, l) in self.segments(frames, va, buf.len() as u64, false)? {
            let l = usize::try_from(l).map_err(|_| SysError::efault("segment too large"))?;
            frames.phys().read(pa, &mut buf[done..done + l]);
            done += l;
        }
        Ok(())
    }

    /// Reads a plain-data value from application memory.
    pub fn read_u64(&mut self, frames: &mut FrameAllocator, va: u64) -> Result<u64, SysError> {
        let mut b = [0u8; 8];
        self.copy_in(frames, va, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Reads a NUL-terminated string of at most `max` bytes (without the NUL).
    pub fn read_cstr(&mut self, frames: &mut FrameAllocator, va: u64, max: usize) -> Result<Vec<u8>, SysError> {
        // Scanned in small chunks straight from the frames: a path is
        // usually short, and copying the rest of its page would cost more
        // than the syscall it names.
        const CHUNK: usize = 128;
        let mut out = Vec::with_capacity(CHUNK);
        let mut at = va;
        let mut buf = [0u8; CHUNK];
        loop {
            if at >= A::USER_END {
                return Err(SysError::efault("bad user range"));
            }
            let pa = self.frame_for(frames, at, false)?;
            let in_page = PAGE_SIZE - (at & (PAGE_SIZE - 1));
            let mut off = 0u64;
            while off < in_page {
                let n = usize::try_from((in_page - off).min(CHUNK as u64)).unwrap_or(CHUNK);
                if !frames.phys().read(pa + off, &mut buf[..n]) {
                    return Err(SysError::efault("frame outside physical memory"));
                }
                if let Some(z) = buf[..n].iter().position(|&b| b == 0) {
                    out.extend_from_slice(&buf[..z]);
                    if out.len() > max {
                        return Err(SysError::new(errno::ENAMETOOLONG, "string too long"));
                    }
                    return Ok(out);
                }
                out.extend_from_slice(&buf[..n]);
                if out.len() > max {
                    return Err(SysError::new(errno::ENAMETOOLONG, "string too long"));
                }
                off += n as u64;
            }
            at += in_page;
        }
    }

    /// Tears the address space down, releasing every frame.
    pub fn destroy(&mut self, frames: &mut FrameAllocator) {
        self.vmas.clear();
        self.space.destroy(frames);
    }
}

#[cfg(test)]
mod tests;
