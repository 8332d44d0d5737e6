//! The only place the sentry touches physical memory through raw pointers.
//!
//! Application memory is reached through the sentry's view of physical
//! memory ([`PhysMem`]), never through the application's own mappings, so
//! no access here can fault: every range is bounds-checked against the
//! physical memory size first, and out-of-range requests are refused.
#![allow(unsafe_code)]

use crate::platform::{PhysAddr, PhysMem};

impl PhysMem {
    /// Copies `buf.len()` bytes from physical `pa`. Returns false (and copies
    /// nothing) if the range is outside physical memory.
    pub fn read(&self, pa: PhysAddr, buf: &mut [u8]) -> bool {
        let Some(src) = self.ptr(pa, buf.len() as u64) else { return false };
        // SAFETY: `ptr` checked that [pa, pa + len) lies inside the mapped
        // physical memory (PhysMem::new's contract); `buf` is a distinct
        // Rust allocation, so the ranges do not overlap.
        unsafe { core::ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), buf.len()) };
        true
    }

    /// Copies `buf` to physical `pa`. Returns false (and copies nothing) if
    /// the range is outside physical memory.
    pub fn write(&self, pa: PhysAddr, buf: &[u8]) -> bool {
        let Some(dst) = self.ptr(pa, buf.len() as u64) else { return false };
        // SAFETY: as in `read`; the destination is physical memory that no
        // Rust reference covers (PhysMem::new's contract).
        unsafe { core::ptr::copy_nonoverlapping(buf.as_ptr(), dst, buf.len()) };
        true
    }

    /// Fills `[pa, pa + len)` with zeroes. Returns false if out of range.
    pub fn zero(&self, pa: PhysAddr, len: u64) -> bool {
        let Some(dst) = self.ptr(pa, len) else { return false };
        let Ok(len) = usize::try_from(len) else { return false };
        // SAFETY: bounds checked by `ptr`; see `write`.
        unsafe { core::ptr::write_bytes(dst, 0, len) };
        true
    }

    /// Copies `len` bytes between two physical ranges (which may overlap).
    pub fn copy(&self, dst: PhysAddr, src: PhysAddr, len: u64) -> bool {
        let (Some(d), Some(s)) = (self.ptr(dst, len), self.ptr(src, len)) else { return false };
        let Ok(len) = usize::try_from(len) else { return false };
        // SAFETY: both ranges bounds-checked by `ptr`; `copy` allows overlap.
        unsafe { core::ptr::copy(s, d, len) };
        true
    }

    /// Reads a little-endian u64 at `pa` (must be inside memory).
    pub fn read_u64(&self, pa: PhysAddr) -> Option<u64> {
        let mut b = [0u8; 8];
        self.read(pa, &mut b).then(|| u64::from_le_bytes(b))
    }

    /// Writes a little-endian u64 at `pa`.
    pub fn write_u64(&self, pa: PhysAddr, v: u64) -> bool {
        self.write(pa, &v.to_le_bytes())
    }
}
