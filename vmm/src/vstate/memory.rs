//! Guest memory: one memfd mapped `MAP_SHARED` (lazily backed: no page is
//! touched until the guest or the VMM uses it), registered at GPA 0.
//!
//! The memfd is kept so that a later platform (ptrace) and the gofer can map
//! the same memory.

use std::fs::File;
use std::io;

use vm_memory::{
    ByteValued, Bytes, FileOffset, GuestAddress, GuestMemoryBackend, GuestMemoryError, GuestMemoryMmap, VolatileSlice,
};

use crate::sys;

/// Errors setting up guest memory.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// `memfd_create`.
    #[error("cannot create the guest memory file")]
    Memfd(#[source] io::Error),
    /// `ftruncate` of the memfd.
    #[error("cannot size the guest memory file to {size} bytes")]
    Size {
        size: u64,
        #[source]
        source: io::Error,
    },
    /// Mapping the memfd.
    #[error("cannot map {size} bytes of guest memory")]
    Map {
        size: u64,
        #[source]
        source: vm_memory::mmap::FromRangesError,
    },
    /// A guest-physical access outside memory.
    #[error("guest memory access at {gpa:#x} (+{len:#x}) failed")]
    Access {
        gpa: u64,
        len: u64,
        #[source]
        source: GuestMemoryError,
    },
}

/// A plain-old-data wrapper: lets abi's `#[repr(C)]` structs be copied in
/// and out of guest memory with vm-memory's [`Bytes`] (the orphan rule
/// forbids implementing [`ByteValued`] on them directly).
#[repr(transparent)]
#[derive(Debug, Clone, Copy)]
pub struct Pod<T>(pub T);

// SAFETY: BootInfo is #[repr(C)] made only of integers and integer arrays
// laid out with no implicit padding (asserted below), so every byte
// pattern is a valid value and every byte is initialized.
unsafe impl ByteValued for Pod<abi::boot::BootInfo> {}
// SAFETY: as above: #[repr(C)], integers only, no implicit padding.
unsafe impl ByteValued for Pod<abi::boot::ImageHeader> {}
// SAFETY: as above: #[repr(C)], integers and arrays of #[repr(C)] integer
// pairs only, no implicit padding.
unsafe impl ByteValued for Pod<abi::hostcall::HostcallBlock> {}

// The no-padding claims above, checked: the sum of the field sizes.
const _: () = assert!(std::mem::size_of::<abi::boot::BootInfo>() == 192 + 3 * 48 + 36 + 4 + 8 + 16 * 8);
const _: () = assert!(std::mem::size_of::<abi::boot::ImageHeader>() == 32);
const _: () = assert!(std::mem::size_of::<abi::hostcall::HostcallBlock>() == 64 + 16 * abi::hostcall::MAX_SEGMENTS);

/// The guest's physical memory.
pub struct GuestMemory {
    mem: GuestMemoryMmap,
    /// Kept for the ptrace platform and the gofer, which map the same file.
    #[allow(dead_code)]
    memfd: File,
    /// Whether `mem` maps `memfd` (false only for test memory).
    file_backed: bool,
    size: u64,
}

impl GuestMemory {
    /// A memfd of `size` bytes mapped at guest-physical 0.
    pub fn new_memfd(size: u64) -> Result<Self, MemoryError> {
        let memfd = sys::memfd_create(c"ringfence-guest").map_err(MemoryError::Memfd)?;
        memfd.set_len(size).map_err(|source| MemoryError::Size { size, source })?;
        let len = usize::try_from(size)
            .map_err(|_| MemoryError::Size { size, source: io::Error::from_raw_os_error(libc::EINVAL) })?;
        let file = memfd.try_clone().map_err(|source| MemoryError::Size { size, source })?;
        let mem = GuestMemoryMmap::from_ranges_with_files([(GuestAddress(0), len, Some(FileOffset::new(file, 0)))])
            .map_err(|source| MemoryError::Map { size, source })?;
        Ok(Self { mem, memfd, file_backed: true, size })
    }

    /// Anonymous memory (tests).
    #[cfg(test)]
    pub fn new_anonymous(size: u64) -> Self {
        let len = usize::try_from(size).expect("size fits usize");
        let mem = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), len)]).expect("mmap");
        let memfd = sys::memfd_create(c"test").expect("memfd");
        Self { mem, memfd, file_backed: false, size }
    }

    /// The vm-memory view.
    pub fn mem(&self) -> &GuestMemoryMmap {
        &self.mem
    }

    /// The backing file.
    #[allow(dead_code)]
    pub fn memfd(&self) -> &File {
        &self.memfd
    }

    /// Bytes of guest memory.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether `[gpa, gpa + len)` lies inside guest memory (no overflow).
    pub fn contains(&self, gpa: u64, len: u64) -> bool {
        gpa.checked_add(len).is_some_and(|end| end <= self.size)
    }

    fn access_error(gpa: u64, len: usize, source: GuestMemoryError) -> MemoryError {
        MemoryError::Access { gpa, len: u64::try_from(len).unwrap_or(u64::MAX), source }
    }

    /// Copies `T` out of guest memory.
    pub fn read<T>(&self, gpa: u64) -> Result<T, MemoryError>
    where
        Pod<T>: ByteValued,
    {
        self.mem
            .read_obj::<Pod<T>>(GuestAddress(gpa))
            .map(|p| p.0)
            .map_err(|e| Self::access_error(gpa, std::mem::size_of::<T>(), e))
    }

    /// Copies `value` into guest memory.
    pub fn write<T>(&self, gpa: u64, value: T) -> Result<(), MemoryError>
    where
        Pod<T>: ByteValued,
    {
        self.mem
            .write_obj(Pod(value), GuestAddress(gpa))
            .map_err(|e| Self::access_error(gpa, std::mem::size_of::<T>(), e))
    }

    /// Reads a little-endian u64.
    pub fn read_u64(&self, gpa: u64) -> Result<u64, MemoryError> {
        self.mem.read_obj::<u64>(GuestAddress(gpa)).map_err(|e| Self::access_error(gpa, 8, e))
    }

    /// Writes a little-endian u64.
    pub fn write_u64(&self, gpa: u64, value: u64) -> Result<(), MemoryError> {
        self.mem.write_obj(value, GuestAddress(gpa)).map_err(|e| Self::access_error(gpa, 8, e))
    }

    /// Copies bytes into guest memory.
    pub fn write_bytes(&self, gpa: u64, bytes: &[u8]) -> Result<(), MemoryError> {
        self.mem.write_slice(bytes, GuestAddress(gpa)).map_err(|e| Self::access_error(gpa, bytes.len(), e))
    }

    /// Copies a large blob into guest memory through the memfd (`pwrite`)
    /// rather than the mapping: one call instead of a page fault per page.
    pub fn write_bulk(&self, gpa: u64, bytes: &[u8]) -> Result<(), MemoryError> {
        use std::os::unix::fs::FileExt;
        let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        if !self.file_backed || !self.contains(gpa, len) {
            return self.write_bytes(gpa, bytes);
        }
        self.memfd
            .write_all_at(bytes, gpa)
            .map_err(|e| Self::access_error(gpa, bytes.len(), GuestMemoryError::IOError(e)))
    }

    /// Copies bytes out of guest memory.
    pub fn read_bytes(&self, gpa: u64, bytes: &mut [u8]) -> Result<(), MemoryError> {
        self.mem.read_slice(bytes, GuestAddress(gpa)).map_err(|e| Self::access_error(gpa, bytes.len(), e))
    }

    /// Backs `[gpa, gpa + len)` with host pages now (`MADV_POPULATE_WRITE`):
    /// the guest's first touch of such a page still takes a shadow-paging
    /// fault, but KVM then also maps the neighbours it finds backed (up to 8
    /// pages a fault), and a never-touched page is never backed. Best effort:
    /// without it (kernels before 5.14) the guest faults page by page.
    pub fn populate(&self, gpa: u64, len: u64) {
        let Ok(n) = usize::try_from(len) else { return };
        if !self.contains(gpa, len) || n == 0 {
            return;
        }
        let Ok(host) = self.mem.get_host_address(GuestAddress(gpa)) else { return };
        let page = usize::try_from(abi::layout::PAGE_SIZE).unwrap_or(4096);
        let start = host as usize & !(page - 1);
        let end = (host as usize + n).next_multiple_of(page);
        // SAFETY: [start, end) lies inside the one mapping of guest memory
        // (checked by `contains`, rounded out to pages within it: memory is
        // whole pages); populating only allocates backing pages, it changes
        // no byte anyone can read.
        let rc = unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_POPULATE_WRITE) };
        if rc != 0 {
            tracing::debug!(err = %io::Error::last_os_error(), gpa, len, "cannot populate guest memory");
        }
    }

    /// Zeroes `len` bytes (e.g. a VIF page).
    pub fn zero(&self, gpa: u64, len: usize) -> Result<(), MemoryError> {
        self.write_bytes(gpa, &vec![0u8; len])
    }

    /// A volatile view of `[gpa, gpa + len)`, for I/O straight to and from
    /// guest memory.
    pub fn slice(&self, gpa: u64, len: usize) -> Result<VolatileSlice<'_>, MemoryError> {
        self.mem.get_slice(GuestAddress(gpa), len).map_err(|e| Self::access_error(gpa, len, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_writes_land_in_the_mapping() {
        let mem = GuestMemory::new_memfd(64 << 20).expect("memfd");
        let data: Vec<u8> = (0..20_000u32).map(|i| i.to_le_bytes()[0]).collect();
        mem.write_bulk(0x12_3000, &data).expect("bulk");
        let mut back = vec![0u8; data.len()];
        mem.read_bytes(0x12_3000, &mut back).expect("read");
        assert_eq!(back, data);
        assert!(mem.write_bulk((64 << 20) - 4, &data).is_err());
    }
}
