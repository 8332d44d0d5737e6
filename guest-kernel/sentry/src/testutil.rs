//! Host-test fakes for the platform seam: an address space kept in a map and
//! physical memory in an owned buffer.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::mm::frames::FrameAllocator;
use crate::mm::{page_round_down, page_round_up};
use crate::platform::{AddressSpace, MapError, Perms, PhysAddr, PhysMem};
use abi::layout::{PAGE_SIZE, USER_END};

/// An address space whose "page table" is a map from page address to frame;
/// the application's range ends at `END`.
#[derive(Debug, Default)]
pub struct FakeSpace<const END: u64 = USER_END> {
    pub pages: BTreeMap<u64, (PhysAddr, Perms)>,
    /// `translate` does not see PROT_NONE pages, as on the KVM platform
    /// (the page-table entry is not present).
    pub hide_none: bool,
}

impl FakeSpace {
    /// A space ending at the architectural end (`FakeSpace::<END>::default()`
    /// for another).
    pub fn new() -> Self {
        Self::default()
    }
}

impl<const END: u64> AddressSpace for FakeSpace<END> {
    const USER_END: u64 = END;

    fn map(&mut self, frames: &mut FrameAllocator, va: u64, pa: PhysAddr, perms: Perms) -> Result<(), MapError> {
        if (va | pa) & (PAGE_SIZE - 1) != 0 || va >= END {
            return Err(MapError::BadAddress);
        }
        if let Some((old, _)) = self.pages.insert(va, (pa, perms)) {
            frames.put(old);
        }
        Ok(())
    }

    fn unmap(&mut self, frames: &mut FrameAllocator, va: u64, len: u64) {
        let end = va.saturating_add(len);
        let doomed: Vec<u64> = self.pages.range(va..end).map(|(&v, _)| v).collect();
        for v in doomed {
            if let Some((pa, _)) = self.pages.remove(&v) {
                frames.put(pa);
            }
        }
    }

    fn protect(&mut self, va: u64, len: u64, perms: Perms) {
        for (_, (_, p)) in self.pages.range_mut(va..va.saturating_add(len)) {
            *p = perms;
        }
    }

    fn for_each_mapped(&self, va: u64, len: u64, f: &mut dyn FnMut(u64, PhysAddr, Perms)) {
        for (&v, &(pa, p)) in self.pages.range(va..va.saturating_add(len)) {
            f(v, pa, p);
        }
    }

    fn translate(&self, va: u64) -> Option<(PhysAddr, Perms)> {
        self.pages.get(&page_round_down(va)).copied().filter(|(_, p)| !self.hide_none || p.any())
    }

    fn destroy(&mut self, frames: &mut FrameAllocator) {
        for (_, (pa, _)) in core::mem::take(&mut self.pages) {
            frames.put(pa);
        }
    }
}

/// Physical memory for a test: an owned zeroed buffer and an allocator
/// managing its frames from `managed_start` up.
#[derive(Debug)]
pub struct TestMem {
    /// Declared before `_backing` so it is dropped first.
    pub frames: FrameAllocator,
    _backing: Vec<u8>,
}

impl TestMem {
    /// `mib` MiB of physical memory, all of it managed by the allocator.
    pub fn new(mib: u64) -> Self {
        Self::with_reserved(mib, 0)
    }

    /// `mib` MiB of physical memory whose first `reserved` bytes (rounded up
    /// to a page) are outside the allocator, like the boot module.
    pub fn with_reserved(mib: u64, reserved: u64) -> Self {
        let size = usize::try_from(mib << 20).expect("test memory size");
        let mut backing = alloc::vec![0u8; size];
        // SAFETY: the buffer's heap allocation never moves or shrinks (the
        // Vec is only moved, never touched again) and is freed only when
        // `TestMem` drops, after `frames`, the only holder of the PhysMem;
        // nothing else references the buffer.
        #[allow(unsafe_code)]
        let phys = unsafe { PhysMem::new(backing.as_mut_ptr(), size as u64) };
        let start = page_round_up(reserved).expect("reserved size");
        Self { frames: FrameAllocator::new(phys, start, size as u64), _backing: backing }
    }

    /// Physical memory holding `file` at address 0, followed by `mib` MiB
    /// of allocatable frames. Returns the memory and the file's address.
    pub fn with_file(mib: u64, file: &[u8]) -> (Self, PhysAddr) {
        let file_pages = page_round_up(file.len() as u64).expect("file size");
        let mem = Self::with_reserved(mib + file_pages.div_ceil(1 << 20), file_pages);
        assert!(mem.frames.phys().write(0, file));
        (mem, 0)
    }

    /// The physical memory view.
    pub fn phys(&self) -> PhysMem {
        *self.frames.phys()
    }
}
