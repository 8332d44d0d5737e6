//! Virtual memory areas.

use crate::platform::{Perms, PhysAddr};

/// What fills a VMA's pages on first touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backing {
    /// Zero-filled private memory.
    Anon,
    /// The program break (zero-filled, grows with `brk`).
    Heap,
    /// The main thread's stack (zero-filled).
    Stack,
    /// A private mapping of a file: its pages are mapped read-only from the
    /// file's frames when the mapping is made (each holding a reference),
    /// and copied on the first write.
    File,
    /// Zero-filled memory shared with fork children (MAP_SHARED|MAP_ANONYMOUS).
    Shared,
    /// Frames shared with their owner: page `va` maps `base + (va - start)`
    /// (read-only program text served from the boot module).
    Phys { base: PhysAddr },
    /// A MAP_SHARED file mapping: page `va` is page `pgoff + (va - start) /
    /// PAGE_SIZE` of page-cache file `file` ([`crate::fs::pagecache`]),
    /// the same frame in every mapping and for read/write. All its pages
    /// within the file are mapped when the mapping is made.
    SharedFile { file: u64, pgoff: u64 },
}

impl Backing {
    /// Whether every mapping of a page sees the same frame (no copy on
    /// write, kept across fork).
    pub const fn is_shared(self) -> bool {
        matches!(self, Self::Shared | Self::SharedFile { .. })
    }
}

/// A virtual memory area `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub perms: Perms,
    pub backing: Backing,
}
