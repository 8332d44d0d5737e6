//! mremap, madvise and mincore on a [`MemoryManager`].

use alloc::vec::Vec;

use super::{page_round_up, Backing, MemoryManager, Vma, MMAP_TOP};
use crate::error::SysError;
use crate::mm::frames::FrameAllocator;
use crate::platform::{AddressSpace, Perms, PhysAddr};
use abi::layout::PAGE_SIZE;
use abi::linux::errno;

/// What madvise is asked to do with a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advice {
    /// MADV_DONTNEED / MADV_FREE: private anonymous pages go back to zero.
    Discard,
    /// Hints that need no action here (NORMAL, RANDOM, WILLNEED, ...).
    Hint,
}

impl<A: AddressSpace> MemoryManager<A> {
    /// The VMA holding all of `[start, end)`, or EFAULT as Linux's mremap.
    fn single_vma(&self, start: u64, end: u64) -> Result<Vma, SysError> {
        match self.vma_at(start) {
            Some(v) if v.end >= end => Ok(v.clone()),
            _ => Err(SysError::efault("range is not inside one mapping")),
        }
    }

    /// mremap(2): shrinks in place, grows in place when the pages after the
    /// mapping are free, or moves the pages (with `may_move`, or to
    /// `fixed`). Returns the new address.
    pub fn remap(
        &mut self,
        frames: &mut FrameAllocator,
        old: u64,
        old_len: u64,
        new_len: u64,
        may_move: bool,
        fixed: Option<u64>,
    ) -> Result<u64, SysError> {
        if !old.is_multiple_of(PAGE_SIZE) {
            return Err(SysError::einval("address not page aligned"));
        }
        let new_len = page_round_up(new_len).filter(|&l| l > 0).ok_or(SysError::einval("bad new length"))?;
        let old_len = page_round_up(old_len).ok_or(SysError::einval("bad old length"))?;
        if old_len == 0 {
            // Linux duplicates a shared mapping here; nothing else uses it.
            return Err(SysError::einval("old_len 0 is only for shared mappings"));
        }
        let old_end = old.checked_add(old_len).ok_or(SysError::einval("range overflows"))?;
        let v = self.single_vma(old, old_end)?;
        if let Some(to) = fixed {
            if to % PAGE_SIZE != 0 {
                return Err(SysError::einval("new address not page aligned"));
            }
            let to_end = to.checked_add(new_len).ok_or(SysError::einval("range overflows"))?;
            if to < old_end && old < to_end {
                return Err(SysError::einval("old and new ranges overlap"));
            }
            let keep = old_len.min(new_len);
            if old_len > new_len {
                self.unmap(frames, old + new_len, old_len - new_len)?;
            }
            self.unmap(frames, to, new_len)?;
            return self.move_pages(frames, &v, old, keep, to, new_len);
        }
        if new_len <= old_len {
            if new_len < old_len {
                self.unmap(frames, old + new_len, old_len - new_len)?;
            }
            return Ok(old);
        }
        let grow_end = old.checked_add(new_len).ok_or(SysError::enomem("range overflows"))?;
        if v.end == old_end && self.range_is_free(old_end, new_len - old_len) {
            // Grow in place: the new pages fill like the mapping's own
            // (a file mapping's tail past the file is zero-filled).
            let backing = match v.backing {
                Backing::File | Backing::Phys { .. } | Backing::SharedFile { .. } => Backing::Anon,
                b => b,
            };
            let tail = Vma { start: old_end, end: grow_end, perms: v.perms, backing };
            self.insert(tail);
            return Ok(old);
        }
        if !may_move {
            return Err(SysError::enomem("cannot grow in place"));
        }
        let to = self.find_gap(new_len, MMAP_TOP).ok_or(SysError::enomem("no free address range"))?;
        self.move_pages(frames, &v, old, old_len, to, new_len)
    }

    /// Moves the `len` bytes at `from` (inside `v`) to `to`, as a mapping of
    /// `new_len` bytes with `v`'s protection and backing.
    fn move_pages(
        &mut self,
        frames: &mut FrameAllocator,
        v: &Vma,
        from: u64,
        len: u64,
        to: u64,
        new_len: u64,
    ) -> Result<u64, SysError> {
        let mut pages: Vec<(u64, PhysAddr, Perms)> = Vec::new();
        self.space.for_each_mapped(from, len, &mut |va, pa, p| pages.push((va - from, pa, p)));
        let backing = match v.backing {
            Backing::Phys { base } => Backing::Phys { base: base + (from - v.start) },
            Backing::SharedFile { file, pgoff } => {
                Backing::SharedFile { file, pgoff: pgoff + (from - v.start) / PAGE_SIZE }
            }
            // The main stack and the heap lose their roles when moved.
            Backing::Heap | Backing::Stack => Backing::Anon,
            b => b,
        };
        self.insert(Vma { start: to, end: to + len, perms: v.perms, backing });
        if new_len > len {
            let tail = if matches!(backing, Backing::File | Backing::Phys { .. } | Backing::SharedFile { .. }) {
                Backing::Anon
            } else {
                backing
            };
            self.insert(Vma { start: to + len, end: to + new_len, perms: v.perms, backing: tail });
        }
        for &(off, pa, p) in &pages {
            // The new mapping takes its own reference; the old one's goes
            // with the unmap below.
            frames.get(pa);
            if self.space.map(frames, to + off, pa, p).is_err() {
                frames.put(pa);
                let _ = self.unmap(frames, to, new_len);
                return Err(SysError::enomem("out of memory for page tables"));
            }
            if !p.any() {
                // PROT_NONE, or a program page not read yet: still no access.
                self.space.protect(to + off, PAGE_SIZE, Perms::NONE);
            }
        }
        self.unmap(frames, from, len)?;
        Ok(to)
    }

    /// madvise(2) on `[start, start + len)`; every page must be mapped
    /// (ENOMEM otherwise, after acting on what is).
    pub fn advise(
        &mut self,
        frames: &mut FrameAllocator,
        start: u64,
        len: u64,
        advice: Advice,
    ) -> Result<(), SysError> {
        if !start.is_multiple_of(PAGE_SIZE) {
            return Err(SysError::einval("address not page aligned"));
        }
        let len = page_round_up(len).ok_or(SysError::einval("bad length"))?;
        let end = start.checked_add(len).ok_or(SysError::einval("range overflows"))?;
        let mut holes = false;
        let mut at = start;
        while at < end {
            let Some(v) = self.vmas.range(..end).find(|(_, v)| v.end > at).map(|(_, v)| v.clone()) else {
                holes = true;
                break;
            };
            if v.start > at {
                holes = true;
            }
            let lo = v.start.max(at);
            let hi = v.end.min(end);
            // Shared memory keeps its contents (they live in the shared
            // frames, as in Linux's shmem); file pages are the file's.
            if advice == Advice::Discard && matches!(v.backing, Backing::Anon | Backing::Heap | Backing::Stack) {
                self.space.unmap(frames, lo, hi - lo);
            }
            at = hi;
        }
        if holes {
            return Err(SysError::new(errno::ENOMEM, "range not fully mapped"));
        }
        Ok(())
    }

    /// mincore(2): one byte per page of `[start, start + len)`, 1 if the
    /// page is resident (mapped).
    pub fn residency(&self, start: u64, len: u64) -> Result<Vec<u8>, SysError> {
        if !start.is_multiple_of(PAGE_SIZE) {
            return Err(SysError::einval("address not page aligned"));
        }
        let len = page_round_up(len).ok_or(SysError::enomem("bad length"))?;
        let end = start.checked_add(len).ok_or(SysError::enomem("range overflows"))?;
        let mut at = start;
        while at < end {
            let v = self.vma_at(at).ok_or(SysError::enomem("range not fully mapped"))?;
            at = v.end;
        }
        let pages = usize::try_from(len / PAGE_SIZE).map_err(|_| SysError::enomem("range too large"))?;
        let mut out = alloc::vec![0u8; pages];
        self.space.for_each_mapped(start, len, &mut |va, _, _| {
            if let Some(b) = usize::try_from((va - start) / PAGE_SIZE).ok().and_then(|i| out.get_mut(i)) {
                *b = 1;
            }
        });
        Ok(out)
    }

    /// Whether `[start, start + len)` is fully mapped (msync).
    pub fn is_mapped(&self, start: u64, len: u64) -> bool {
        let Some(end) = start.checked_add(len) else { return false };
        let mut at = start;
        while at < end {
            match self.vma_at(at) {
                Some(v) => at = v.end,
                None => return false,
            }
        }
        true
    }
}
