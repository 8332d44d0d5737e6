//! Boot page tables, built by the VMM in guest memory from the pool
//! `BOOT_PT_POOL_GPA..BOOT_PT_POOL_END`.
//!
//! The kernel PML4 (at `BOOT_PML4_GPA`, 8 KiB aligned) maps all guest
//! memory at `PHYS_MAP_BASE` (2 MiB pages, writable, NX) and the low
//! `KERNEL_MAP_SIZE` bytes at `KERNEL_BASE` (2 MiB pages, writable,
//! executable). The user PML4 of the pair (`+0x1000`) is left zero: the
//! sentry fills the lower half of both tables.

use abi::layout;

use crate::loader::LoadError;
use crate::vstate::GuestMemory;

/// Present.
pub const PTE_P: u64 = 1;
/// Writable.
pub const PTE_W: u64 = 1 << 1;
/// User-accessible.
pub const PTE_U: u64 = 1 << 2;
/// Accessed.
pub const PTE_A: u64 = 1 << 5;
/// Dirty (leaf entries).
pub const PTE_D: u64 = 1 << 6;
/// Large page (in a PDPT or PD entry).
pub const PTE_PS: u64 = 1 << 7;
/// No-execute.
pub const PTE_NX: u64 = 1 << 63;
/// A page-table page, in bytes.
const PAGE: usize = 4096;
const _: () = assert!(PAGE as u64 == layout::PAGE_SIZE);
/// Physical address bits of an entry.
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// Index of `va` in the table at `level` (4 = PML4 .. 1 = PT).
fn index(va: u64, level: u32) -> u64 {
    (va >> (12 + 9 * (level - 1))) & 0x1ff
}

/// A bump allocator of zeroed page-table pages from the boot pool.
struct Pool {
    next: u64,
}

impl Pool {
    fn alloc(&mut self, mem: &GuestMemory) -> Result<u64, LoadError> {
        if self.next >= layout::BOOT_PT_POOL_END {
            return Err(LoadError::PageTablePoolExhausted);
        }
        let page = self.next;
        self.next += layout::PAGE_SIZE;
        mem.write_bytes(page, &[0u8; PAGE])?;
        Ok(page)
    }
}

/// Maps the 2 MiB page at `va` to `pa` with `leaf_flags` (P, PS added),
/// creating intermediate tables whose entries get P|W plus `table_user`.
///
/// Every entry is built accessed and the leaf dirty. Under shadow paging
/// (the PVM variant) KVM maps a page whose guest entry is clean read-only,
/// so that it can set the dirty bit on the first write; for a 2 MiB guest
/// page that first write replaces the read-only shadow table of the whole
/// region with a writable one, and every page already mapped in it faults
/// again (the sentry's text after its first write to .data, each about as
/// costly as an exit). Nothing reads these bits: the sentry never tracks
/// its own memory through them.
fn map_large(
    mem: &GuestMemory,
    pool: &mut Pool,
    pml4: u64,
    va: u64,
    pa: u64,
    leaf_flags: u64,
    table_user: u64,
) -> Result<(), LoadError> {
    let mut table = pml4;
    for level in [4, 3] {
        let slot = table + 8 * index(va, level);
        let entry = mem.read_u64(slot)?;
        table = if entry & PTE_P != 0 {
            entry & ADDR_MASK
        } else {
            let next = pool.alloc(mem)?;
            mem.write_u64(slot, next | PTE_P | PTE_W | PTE_A | table_user)?;
            next
        };
    }
    let slot = table + 8 * index(va, 2);
    mem.write_u64(slot, pa | PTE_P | PTE_PS | PTE_A | PTE_D | leaf_flags)?;
    Ok(())
}

/// Builds the kernel table of the boot pair. `user` sets U=1 on every
/// present entry (the PVM variant requires it; hardware KVM gets U=0).
pub fn build_boot_tables(mem: &GuestMemory, user: bool) -> Result<(), LoadError> {
    let u = if user { PTE_U } else { 0 };
    // The pair: kernel PML4, then the user PML4, both zero.
    mem.write_bytes(layout::BOOT_PML4_GPA, &[0u8; 2 * PAGE])?;
    let mut pool = Pool { next: layout::BOOT_PT_POOL_GPA };
    let pml4 = layout::BOOT_PML4_GPA;
    // Direct map of all memory (the last partial 2 MiB page included; the
    // sentry bounds its accesses by BootInfo::mem_size).
    let mut pa = 0;
    while pa < mem.size() {
        map_large(mem, &mut pool, pml4, layout::PHYS_MAP_BASE + pa, pa, PTE_W | PTE_NX | u, u)?;
        pa += layout::LARGE_PAGE_SIZE;
    }
    // The kernel image and fixed structures.
    let mut pa = 0;
    while pa < layout::KERNEL_MAP_SIZE.min(mem.size()) {
        map_large(mem, &mut pool, pml4, layout::KERNEL_BASE + pa, pa, PTE_W | u, u)?;
        pa += layout::LARGE_PAGE_SIZE;
    }
    Ok(())
}

/// One translation: the physical address and the entries walked.
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    pub pa: u64,
    pub entries: Vec<u64>,
}

/// Walks the table at `pml4` for `va` (4 KiB and 2 MiB leaves; 1 GiB pages
/// are not used at boot). `None` if not mapped.
#[cfg_attr(not(test), allow(dead_code))]
pub fn translate(mem: &GuestMemory, pml4: u64, va: u64) -> Option<Walk> {
    let mut table = pml4;
    let mut entries = Vec::new();
    for level in [4u32, 3, 2, 1] {
        let entry = mem.read_u64(table + 8 * index(va, level)).ok()?;
        entries.push(entry);
        if entry & PTE_P == 0 {
            return None;
        }
        if level == 2 && entry & PTE_PS != 0 {
            let pa = (entry & ADDR_MASK & !(layout::LARGE_PAGE_SIZE - 1)) | (va & (layout::LARGE_PAGE_SIZE - 1));
            return Some(Walk { pa, entries });
        }
        if level == 1 {
            return Some(Walk { pa: (entry & ADDR_MASK) | (va & 0xfff), entries });
        }
        table = entry & ADDR_MASK;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(user: bool) -> GuestMemory {
        let mem = GuestMemory::new_anonymous(layout::MIN_GUEST_MEMORY + (3 << 20));
        build_boot_tables(&mem, user).expect("build");
        mem
    }

    #[test]
    fn direct_map_and_kernel_map() {
        for user in [true, false] {
            let mem = built(user);
            let pml4 = layout::BOOT_PML4_GPA;
            let w = translate(&mem, pml4, layout::PHYS_MAP_BASE + 0x123_4567).expect("mapped");
            assert_eq!(w.pa, 0x123_4567);
            assert_ne!(w.entries[2] & PTE_NX, 0, "direct map is NX");
            let last = mem.size() + (1 << 20) - 8;
            let w = translate(&mem, pml4, layout::PHYS_MAP_BASE + last).expect("tail mapped");
            assert_eq!(w.pa, last);
            let w = translate(&mem, pml4, layout::KERNEL_BASE + 0x20_0010).expect("kernel");
            assert_eq!(w.pa, 0x20_0010);
            assert_eq!(w.entries[2] & PTE_NX, 0, "kernel map is executable");
            assert_ne!(w.entries[2] & PTE_D, 0, "leaves built dirty");
            for walk in [&w] {
                for e in &walk.entries {
                    assert_ne!(e & PTE_W, 0);
                    assert_ne!(e & PTE_A, 0, "built accessed: {e:#x}");
                    assert_eq!(e & PTE_U != 0, user, "U bit per variant: {e:#x}");
                }
            }
            let w = translate(&mem, pml4, layout::kernel_stack_top(0) - 8).expect("stack");
            assert_eq!(w.pa, layout::STACKS_GPA + layout::KERNEL_STACK_SIZE - 8);
            // Not mapped: beyond the kernel map, the lower half, beyond memory.
            assert!(translate(&mem, pml4, layout::KERNEL_BASE + layout::KERNEL_MAP_SIZE).is_none());
            assert!(translate(&mem, pml4, 0x40_0000).is_none());
            assert!(translate(&mem, pml4, layout::PHYS_MAP_BASE + (1 << 30)).is_none());
            // The user PML4 of the pair stays zero.
            assert!(translate(&mem, pml4 + 0x1000, layout::KERNEL_BASE).is_none());
        }
    }

    #[test]
    fn pool_fits_max_memory() {
        // 64 GiB of 2 MiB pages: 64 PDs + 1 PDPT, plus the kernel map's 2.
        let pages = (layout::BOOT_PT_POOL_END - layout::BOOT_PT_POOL_GPA) / layout::PAGE_SIZE;
        assert!(layout::MAX_GUEST_MEMORY / (1 << 30) + 3 <= pages);
        assert_eq!(layout::BOOT_PML4_GPA % 0x2000, 0);
    }
}
