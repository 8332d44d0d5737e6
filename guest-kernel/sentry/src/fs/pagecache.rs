//! The page cache of files mapped MAP_SHARED.
//!
//! A file mapped shared gets one frame per page here, shared by every
//! mapping of it (in any process) and used by read and write while the
//! file is cached, so that a store through a mapping is what read(2) sees
//! and a write(2) is what the mappings see. The frames are written back to
//! the file on msync, munmap and when the last mapping goes (process exit,
//! exec); files no mapping uses any more are dropped then.
//!
//! Files are keyed by (dev, ino). Files that no process maps are not
//! cached: plain read and write go straight to the filesystem.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use crate::error::SysError;
use crate::mm::frames::FrameAllocator;
use crate::platform::{PhysAddr, PhysMem};
use crate::vfs::{InodeRef, Stat};
use abi::layout::PAGE_SIZE;

/// One cached file.
struct Cached {
    node: InodeRef,
    key: (u64, u64),
    /// Page index to frame (one reference held here).
    pages: BTreeMap<u64, PhysAddr>,
}

/// The page cache.
#[derive(Default)]
pub struct PageCache {
    files: BTreeMap<u64, Cached>,
    by_key: BTreeMap<(u64, u64), u64>,
    next: u64,
}

impl core::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PageCache({} files)", self.files.len())
    }
}

/// Copies `dst.len()` ... bytes between two lists of physical segments,
/// as far as both reach. Returns the bytes copied.
fn copy_segments(phys: &PhysMem, dst: &[(PhysAddr, u64)], src: &[(PhysAddr, u64)]) -> u64 {
    let (mut di, mut si, mut doff, mut soff, mut done) = (0, 0, 0u64, 0u64, 0u64);
    while di < dst.len() && si < src.len() {
        let (dpa, dlen) = dst[di];
        let (spa, slen) = src[si];
        let n = (dlen - doff).min(slen - soff);
        phys.copy(dpa + doff, spa + soff, n);
        done += n;
        doff += n;
        soff += n;
        if doff == dlen {
            di += 1;
            doff = 0;
        }
        if soff == slen {
            si += 1;
            soff = 0;
        }
    }
    done
}

impl PageCache {
    /// Whether no file is cached (read and write then skip the cache).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The cache id of the file with `st`, if it is cached.
    pub fn lookup(&self, st: &Stat) -> Option<u64> {
        self.by_key.get(&(st.dev, st.ino)).copied()
    }

    /// The cache id of `node` (with `st`), caching it if needed.
    pub fn open(&mut self, node: &InodeRef, st: &Stat) -> u64 {
        if let Some(id) = self.lookup(st) {
            return id;
        }
        self.next += 1;
        let id = self.next;
        let key = (st.dev, st.ino);
        self.files.insert(id, Cached { node: alloc::sync::Arc::clone(node), key, pages: BTreeMap::new() });
        self.by_key.insert(key, id);
        id
    }

    /// The frame of page `idx` of file `id`, read from the file on first use.
    pub fn page(&mut self, frames: &mut FrameAllocator, id: u64, idx: u64) -> Result<PhysAddr, SysError> {
        let f = self.files.get_mut(&id).ok_or(SysError::efault("file not in the page cache"))?;
        if let Some(&pa) = f.pages.get(&idx) {
            return Ok(pa);
        }
        let pa = frames.alloc_zeroed().ok_or(SysError::enomem("out of physical memory"))?;
        let phys = *frames.phys();
        let off = idx.checked_mul(PAGE_SIZE).ok_or(SysError::einval("offset too large"))?;
        if let Err(e) = f.node.read_phys(&phys, off, &[(pa, PAGE_SIZE)]) {
            frames.put(pa);
            return Err(e);
        }
        f.pages.insert(idx, pa);
        Ok(pa)
    }

    /// The frames of pages `[first, first + count)` of file `id`.
    pub fn pages(
        &mut self,
        frames: &mut FrameAllocator,
        id: u64,
        first: u64,
        count: u64,
    ) -> Result<Vec<PhysAddr>, SysError> {
        (first..first.saturating_add(count)).map(|i| self.page(frames, id, i)).collect()
    }

    /// The cache's segments for bytes `[off, off + len)` of file `id`.
    fn segments(
        &mut self,
        frames: &mut FrameAllocator,
        id: u64,
        off: u64,
        len: u64,
    ) -> Result<Vec<(PhysAddr, u64)>, SysError> {
        let mut out = Vec::new();
        let mut at = off;
        let end = off.saturating_add(len);
        while at < end {
            let pa = self.page(frames, id, at / PAGE_SIZE)?;
            let in_page = at % PAGE_SIZE;
            let n = (PAGE_SIZE - in_page).min(end - at);
            out.push((pa + in_page, n));
            at += n;
        }
        Ok(out)
    }

    /// read(2) of a cached file: from the cache, up to the file's size.
    pub fn read(
        &mut self,
        frames: &mut FrameAllocator,
        id: u64,
        off: u64,
        user: &[(PhysAddr, u64)],
    ) -> Result<usize, SysError> {
        let size = self.files.get(&id).ok_or(SysError::efault("not cached"))?.node.stat()?.size;
        let want: u64 = user.iter().map(|s| s.1).sum();
        let len = want.min(size.saturating_sub(off));
        if len == 0 {
            return Ok(0);
        }
        let src = self.segments(frames, id, off, len)?;
        let phys = *frames.phys();
        Ok(usize::try_from(copy_segments(&phys, user, &src)).unwrap_or(0))
    }

    /// After a write(2) of `n` bytes at `off` went to the file: the cached
    /// pages it covers take the same bytes.
    pub fn written(&mut self, frames: &mut FrameAllocator, id: u64, off: u64, user: &[(PhysAddr, u64)], n: usize) {
        let Some(f) = self.files.get(&id) else { return };
        let end = off.saturating_add(n as u64);
        let cached: Vec<u64> = f.pages.range(off / PAGE_SIZE..end.div_ceil(PAGE_SIZE)).map(|(&i, _)| i).collect();
        if cached.is_empty() {
            return;
        }
        // Copy page by page, only into pages already cached (the others
        // are read from the file when first used).
        let phys = *frames.phys();
        let mut src_off = 0u64;
        let mut at = off;
        while at < end {
            let idx = at / PAGE_SIZE;
            let in_page = at % PAGE_SIZE;
            let k = (PAGE_SIZE - in_page).min(end - at);
            if cached.contains(&idx) {
                if let Some(&pa) = self.files.get(&id).and_then(|f| f.pages.get(&idx)) {
                    let src = sub_segments(user, src_off, k);
                    copy_segments(&phys, &[(pa + in_page, k)], &src);
                }
            }
            src_off += k;
            at += k;
        }
    }

    /// Writes the cached pages of file `id` back to it, up to its size.
    pub fn writeback(&mut self, frames: &FrameAllocator, id: u64) -> Result<(), SysError> {
        let Some(f) = self.files.get(&id) else { return Ok(()) };
        let size = f.node.stat()?.size;
        let phys = *frames.phys();
        for (&idx, &pa) in &f.pages {
            let off = idx * PAGE_SIZE;
            if off >= size {
                break;
            }
            let len = PAGE_SIZE.min(size - off);
            f.node.write_phys(&phys, off, &[(pa, len)])?;
        }
        Ok(())
    }

    /// Writes back and drops every cached file not in `used`.
    pub fn release_unused(&mut self, frames: &mut FrameAllocator, used: &BTreeSet<u64>) {
        let doomed: Vec<u64> = self.files.keys().filter(|id| !used.contains(id)).copied().collect();
        for id in doomed {
            // A failed write-back loses nothing more than Linux would on
            // an I/O error at close: the mapping is gone either way.
            let _ = self.writeback(frames, id);
            if let Some(f) = self.files.remove(&id) {
                self.by_key.remove(&f.key);
                for pa in f.pages.into_values() {
                    frames.put(pa);
                }
            }
        }
    }
}

/// The part `[skip, skip + len)` of a list of segments.
fn sub_segments(segs: &[(PhysAddr, u64)], mut skip: u64, mut len: u64) -> Vec<(PhysAddr, u64)> {
    let mut out = Vec::new();
    for &(pa, l) in segs {
        if len == 0 {
            break;
        }
        if skip >= l {
            skip -= l;
            continue;
        }
        let n = (l - skip).min(len);
        out.push((pa + skip, n));
        len -= n;
        skip = 0;
    }
    out
}
