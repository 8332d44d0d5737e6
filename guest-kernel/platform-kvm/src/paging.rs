//! Application page tables: the sentry's `AddressSpace` on x86-64.
//!
//! Each address space is a pair of PML4 pages, 8 KiB aligned: the kernel
//! table at `X` (upper half: the sentry, shared by every address space) and
//! the user table at `X + 0x1000`, which holds only the lower-half entries.
//! On the PVM variant the host runs user mode on the user table, so user
//! code cannot reach the sentry; on hardware the user table is unused and
//! the sentry's pages are supervisor-only. Lower-half subtrees are shared
//! by both tables, so only PML4 entries are mirrored.
//!
//! Tables are read and written through the direct map (`PhysMem`), with
//! every physical address bounds-checked there.

use crate::arch::{self, Backend};
use sentry::mm::frames::FrameAllocator;
use sentry::platform::{AddressSpace, MapError, Perms, PhysAddr, PhysMem};

const P: u64 = 1;
const W: u64 = 1 << 1;
const U: u64 = 1 << 2;
/// Accessed and dirty. Entries are written with them set: under shadow
/// paging (PVM) KVM maps a neighbour of a faulting page only when its guest
/// entry is accessed (up to 8 pages a fault instead of one), and a writable
/// page only when it is dirty (else its first write faults again). The
/// sentry tracks no page through these bits.
const A: u64 = 1 << 5;
const D: u64 = 1 << 6;
const NX: u64 = 1 << 63;
const ADDR: u64 = 0x000f_ffff_ffff_f000;
/// Entries of one table that belong to the application half.
const USER_PML4_ENTRIES: u64 = 256;
/// Flags of an intermediate table entry (U=1: required on PVM, and the
/// leaf decides user access on hardware).
const TABLE: u64 = P | W | U | A;

fn leaf_flags(perms: Perms) -> u64 {
    let mut f = P | U | A;
    if perms.write {
        f |= W | D;
    }
    if !perms.exec {
        f |= NX;
    }
    f
}

/// Whether a leaf entry owns a frame (present, or made absent by PROT_NONE).
fn live(e: u64) -> bool {
    e & (P | PROT_NONE_MARK) != 0
}

fn perms_of(e: u64) -> Perms {
    Perms { read: true, write: e & W != 0, exec: e & NX == 0 }
}

fn index(va: u64, level: u32) -> u64 {
    (va >> (12 + 9 * (level - 1))) & 511
}

/// An application address space.
#[derive(Debug)]
pub struct GuestSpace {
    /// The kernel PML4 (the pair's first page).
    pub root: PhysAddr,
    phys: PhysMem,
    backend: Backend,
}

impl GuestSpace {
    /// Wraps an existing pair whose kernel half is already filled.
    pub fn from_pair(root: PhysAddr, phys: PhysMem, backend: Backend) -> Self {
        Self { root, phys, backend }
    }

    /// A new pair: kernel half copied from `template`, lower half empty.
    pub fn new(frames: &mut FrameAllocator, template: PhysAddr, backend: Backend) -> Result<Self, MapError> {
        let root = frames.alloc_pair().ok_or(MapError::OutOfMemory)?;
        let phys = *frames.phys();
        for i in USER_PML4_ENTRIES..512 {
            let e = phys.read_u64(template + i * 8).unwrap_or(0);
            phys.write_u64(root + i * 8, e);
        }
        Ok(Self { root, phys, backend })
    }

    fn entry(&self, table: PhysAddr, i: u64) -> u64 {
        self.phys.read_u64(table + i * 8).unwrap_or(0)
    }

    fn set_entry(&self, table: PhysAddr, i: u64, v: u64) {
        self.phys.write_u64(table + i * 8, v);
    }

    /// The page table (level 1) covering `va`, created if `frames` is given.
    fn leaf_table(&self, va: u64, mut frames: Option<&mut FrameAllocator>) -> Result<Option<PhysAddr>, MapError> {
        let mut table = self.root;
        for level in (2..=4).rev() {
            let i = index(va, level);
            let e = self.entry(table, i);
            table = if e & P != 0 {
                e & ADDR
            } else {
                let Some(f) = frames.as_deref_mut() else { return Ok(None) };
                let t = f.alloc_zeroed().ok_or(MapError::OutOfMemory)?;
                self.set_entry(table, i, t | TABLE);
                if level == 4 {
                    // Mirror into the user table of the pair.
                    self.set_entry(self.root + 0x1000, i, t | TABLE);
                }
                t
            };
        }
        Ok(Some(table))
    }

    /// Visits every live leaf entry in `[va, end)`, skipping absent
    /// subtrees, with `f(pte_table, index, entry)`.
    fn for_each_present(&self, va: u64, end: u64, f: &mut dyn FnMut(PhysAddr, u64, u64, u64)) {
        let mut at = va;
        while at < end {
            let mut table = self.root;
            let mut skip = 0;
            for level in (2..=4).rev() {
                let e = self.entry(table, index(at, level));
                if e & P == 0 {
                    skip = 1u64 << (12 + 9 * (level - 1));
                    break;
                }
                table = e & ADDR;
            }
            if skip != 0 {
                at = (at & !(skip - 1)).saturating_add(skip);
                continue;
            }
            let i = index(at, 1);
            let e = self.entry(table, i);
            if live(e) {
                f(table, i, e, at);
            }
            at += 4096;
        }
    }
}

impl GuestSpace {
    /// Sets the leaf entry of `va`, flushing (when `flush`) if a present
    /// translation is replaced; a not-present entry (absent, or a PROT_NONE
    /// or unread page keeping its frame) is never cached, so replacing it
    /// needs no flush (the fault path refreshes it). A flush costs more than
    /// its hypercall on PVM: KVM drops the shadow entries, which fault again.
    fn set_page(
        &mut self,
        frames: &mut FrameAllocator,
        va: u64,
        pa: PhysAddr,
        perms: Perms,
        flush: bool,
    ) -> Result<(), MapError> {
        if va >= abi::layout::USER_END || !va.is_multiple_of(4096) || !pa.is_multiple_of(4096) {
            return Err(MapError::BadAddress);
        }
        let table = self.leaf_table(va, Some(frames))?.ok_or(MapError::OutOfMemory)?;
        let i = index(va, 1);
        let old = self.entry(table, i);
        self.set_entry(table, i, pa | leaf_flags(perms));
        if flush && old & P != 0 {
            arch::flush_tlb(self.backend);
        }
        if live(old) {
            frames.put(old & ADDR);
        }
        Ok(())
    }

    /// Changes the permissions of the mapped pages of `[va, va + len)`;
    /// returns whether rights were removed (a flush is due).
    fn protect_noflush(&mut self, va: u64, len: u64, perms: Perms) -> bool {
        let end = va.saturating_add(len).min(abi::layout::USER_END);
        let phys = self.phys;
        let mut downgraded = false;
        let new = leaf_flags(perms);
        self.for_each_present(va, end, &mut |table, i, e, _| {
            if !perms.any() {
                // PROT_NONE: keep the frame, make the page absent to user
                // mode; the fault handler refuses access from the VMA.
                phys.write_u64(table + i * 8, (e & ADDR) | (new & !P) | PROT_NONE_MARK);
            } else {
                phys.write_u64(table + i * 8, (e & ADDR) | new);
            }
            // A not-present entry is not cached: no flush for it.
            downgraded |= e & P != 0 && ((e & W != 0 && !perms.write) || (e & NX == 0 && !perms.exec) || !perms.any());
        });
        downgraded
    }
}

impl AddressSpace for GuestSpace {
    fn map(&mut self, frames: &mut FrameAllocator, va: u64, pa: PhysAddr, perms: Perms) -> Result<(), MapError> {
        self.set_page(frames, va, pa, perms, true)
    }

    fn map_after_fault(
        &mut self,
        frames: &mut FrameAllocator,
        va: u64,
        pa: PhysAddr,
        perms: Perms,
    ) -> Result<(), MapError> {
        // The faulting access already dropped the stale entry (FACTS.md:
        // the fault path refreshes the shadow entry; a flush costs a
        // hypercall, more under load).
        self.set_page(frames, va, pa, perms, false)
    }

    fn unmap(&mut self, frames: &mut FrameAllocator, va: u64, len: u64) {
        let end = va.saturating_add(len).min(abi::layout::USER_END);
        let mut released = alloc::vec::Vec::new();
        let mut cached = false;
        let phys = self.phys;
        self.for_each_present(va, end, &mut |table, i, e, _| {
            phys.write_u64(table + i * 8, 0);
            released.push(e & ADDR);
            cached |= e & P != 0;
        });
        // Only present entries can be cached (see set_page).
        if cached {
            arch::flush_tlb(self.backend);
        }
        for pa in released {
            frames.put(pa);
        }
    }

    fn protect(&mut self, va: u64, len: u64, perms: Perms) {
        if self.protect_noflush(va, len, perms) {
            arch::flush_tlb(self.backend);
        }
    }

    fn protect_ranges(&mut self, ranges: &[(u64, u64, Perms)]) {
        let mut flush = false;
        for &(va, len, perms) in ranges {
            flush |= self.protect_noflush(va, len, perms);
        }
        if flush {
            arch::flush_tlb(self.backend);
        }
    }

    fn for_each_mapped(&self, va: u64, len: u64, f: &mut dyn FnMut(u64, PhysAddr, Perms)) {
        let end = va.saturating_add(len).min(abi::layout::USER_END);
        self.for_each_present(va, end, &mut |_, _, e, at| {
            let perms = if e & P == 0 { Perms::NONE } else { perms_of(e) };
            f(at, e & ADDR, perms);
        });
    }

    fn translate(&self, va: u64) -> Option<(PhysAddr, Perms)> {
        let table = self.leaf_table(va, None).ok()??;
        let e = self.entry(table, index(va, 1));
        (e & P != 0).then(|| (e & ADDR, perms_of(e)))
    }

    fn destroy(&mut self, frames: &mut FrameAllocator) {
        for i4 in 0..USER_PML4_ENTRIES {
            let e4 = self.entry(self.root, i4);
            if e4 & P == 0 {
                continue;
            }
            let pdpt = e4 & ADDR;
            for i3 in 0..512 {
                let e3 = self.entry(pdpt, i3);
                if e3 & P == 0 {
                    continue;
                }
                let pd = e3 & ADDR;
                for i2 in 0..512 {
                    let e2 = self.entry(pd, i2);
                    if e2 & P == 0 {
                        continue;
                    }
                    let pt = e2 & ADDR;
                    for i1 in 0..512 {
                        let e1 = self.entry(pt, i1);
                        if live(e1) {
                            frames.put(e1 & ADDR);
                        }
                    }
                    frames.put(pt);
                }
                frames.put(pd);
            }
            frames.put(pdpt);
            self.set_entry(self.root, i4, 0);
            self.set_entry(self.root + 0x1000, i4, 0);
        }
        arch::flush_tlb(self.backend);
    }
}

/// Software bit (9) marking a PROT_NONE page that still owns its frame.
const PROT_NONE_MARK: u64 = 1 << 9;
