//! mmap, munmap, mprotect, brk, mremap, madvise, msync, mincore.

use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::kernel::fd::File;
use crate::kernel::{exec, Kernel, Task};
use crate::mm::{page_round_up, Advice, Backing};
use crate::platform::{Perms, Platform};
use crate::vfs::FileType;
use abi::layout::PAGE_SIZE;
use abi::linux::errno;
use abi::linux::mman::*;

const MAP_SHARED_VALIDATE: u64 = 0x03;
const MAP_TYPE: u64 = 0x0f;
const PROT_GROWSDOWN: u64 = 0x0100_0000;
const PROT_GROWSUP: u64 = 0x0200_0000;

/// Implements Linux `mmap(2)`: anonymous memory (MAP_SHARED kept shared
/// with fork children), private mappings of regular files (copy on
/// write), and shared ones through the page cache (fs/pagecache.rs).
pub fn sys_mmap<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let (addr, len, prot, flags) = (a.u64(0), a.u64(1), a.u64(2), a.u64(3));
    if len == 0 {
        return Err(SysError::einval("zero length"));
    }
    if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_GROWSDOWN | PROT_GROWSUP) != 0 {
        return Err(SysError::einval("unknown prot bits"));
    }
    match flags & MAP_TYPE {
        MAP_PRIVATE | MAP_SHARED | MAP_SHARED_VALIDATE => {}
        _ => return Err(SysError::einval("neither MAP_PRIVATE nor MAP_SHARED")),
    }
    let len = page_round_up(len).ok_or(SysError::enomem("length overflows"))?;
    let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
    if fixed && addr % PAGE_SIZE != 0 {
        return Err(SysError::einval("fixed address not page aligned"));
    }
    // As Linux, a range beyond user space is ENOMEM (from the map below)
    // before it is EEXIST.
    let beyond = !crate::mm::MemoryManager::<P::AddressSpace>::in_user_range(addr, len);
    if flags & MAP_FIXED_NOREPLACE != 0 && flags & MAP_FIXED == 0 && !beyond && !t.mm.lock().range_is_free(addr, len) {
        return Err(SysError::new(errno::EEXIST, "MAP_FIXED_NOREPLACE range in use"));
    }
    let start = if flags & MAP_ANONYMOUS == 0 {
        map_file(k, t, a, len, fixed)?
    } else {
        let backing = if flags & MAP_TYPE == MAP_PRIVATE { Backing::Anon } else { Backing::Shared };
        t.mm.lock().map(&mut k.frames, addr, len, Perms::from_prot(prot), backing, fixed)?
    };
    if flags & MAP_POPULATE != 0 {
        // Best effort, as on Linux: a populate failure leaves the mapping.
        let _ = t.mm.lock().populate(&mut k.frames, start, len);
    }
    Ok(start)
}

/// The file part of mmap: the whole file is read into frames (or found in
/// the program-file cache) and its pages from the offset on are mapped.
fn map_file<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    a: &SyscallArgs,
    len: u64,
    fixed: bool,
) -> Result<u64, SysError> {
    let (addr, prot, flags, off) = (a.u64(0), a.u64(2), a.u64(3), a.u64(5));
    let File::Vfs(f) = t.file(a.fd(4))? else {
        return Err(SysError::new(errno::ENODEV, "this kind of file cannot be mapped"));
    };
    if !f.readable() {
        return Err(SysError::new(errno::EACCES, "file not open for reading"));
    }
    if off % PAGE_SIZE != 0 {
        return Err(SysError::einval("offset not page aligned"));
    }
    let st = f.node.stat()?;
    if st.file_type() != Some(FileType::Regular) {
        return Err(SysError::new(errno::ENODEV, "not a regular file"));
    }
    let perms = Perms::from_prot(prot);
    if flags & MAP_TYPE != MAP_PRIVATE {
        if prot & PROT_WRITE != 0 && !f.writable() {
            return Err(SysError::new(errno::EACCES, "shared writable mapping of a read-only file"));
        }
        // Shared: the page cache's frames, the same for every mapping.
        let id = k.page_cache.open(&f.node, &st);
        let in_file = st.size.saturating_sub(off).div_ceil(PAGE_SIZE).min(len / PAGE_SIZE);
        let pages = k.page_cache.pages(&mut k.frames, id, off / PAGE_SIZE, in_file);
        let r = pages
            .and_then(|p| t.mm.lock().map_shared_file(&mut k.frames, addr, len, perms, id, off / PAGE_SIZE, &p, fixed));
        if r.is_err() {
            k.release_unused_files(Some(&t.mm));
        }
        return r;
    }
    if st.size <= off {
        // Entirely past the end: zero pages (Linux would raise SIGBUS on access).
        return t.mm.lock().map(&mut k.frames, addr, len, perms, Backing::Anon, fixed);
    }
    let file = exec::read_node(&mut k.frames, &mut k.exec_cache, &f.node, &st)?;
    let r = t.mm.lock().map_file(&mut k.frames, addr, len, perms, file.pa + off, file.len - off, fixed);
    exec::release(&mut k.frames, file);
    r
}

/// Implements Linux `munmap(2)`; shared file pages no longer mapped
/// anywhere are written back.
pub fn sys_munmap<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let had_files = !t.mm.lock().shared_files_in(a.u64(0), a.u64(1)).is_empty();
    t.mm.lock().unmap(&mut k.frames, a.u64(0), a.u64(1))?;
    if had_files {
        k.release_unused_files(Some(&t.mm));
    }
    Ok(0)
}

/// Implements Linux `mprotect(2)`.
pub fn sys_mprotect<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let (addr, len, prot) = (a.u64(0), a.u64(1), a.u64(2));
    if addr % PAGE_SIZE != 0 {
        return Err(SysError::einval("address not page aligned"));
    }
    if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_GROWSDOWN | PROT_GROWSUP) != 0 {
        return Err(SysError::einval("unknown prot bits"));
    }
    if len == 0 {
        return Ok(0);
    }
    t.mm.lock().protect(&k.frames, addr, len, Perms::from_prot(prot)).map(|()| 0)
}

/// Implements Linux `brk(2)`: returns the new break, or the old one on failure.
pub fn sys_brk<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    Ok(t.mm.lock().brk(&mut k.frames, a.u64(0)))
}

/// Implements Linux `mremap(2)` (MREMAP_MAYMOVE, MREMAP_FIXED).
pub fn sys_mremap<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let (old, old_len, new_len, flags, new_addr) = (a.u64(0), a.u64(1), a.u64(2), a.u64(3), a.u64(4));
    if flags & !(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP) != 0 {
        return Err(SysError::einval("unknown mremap flags"));
    }
    if flags & MREMAP_FIXED != 0 && flags & MREMAP_MAYMOVE == 0 {
        return Err(SysError::einval("MREMAP_FIXED without MREMAP_MAYMOVE"));
    }
    if flags & MREMAP_DONTUNMAP != 0 {
        return Err(SysError::einval("MREMAP_DONTUNMAP is not supported"));
    }
    let fixed = (flags & MREMAP_FIXED != 0).then_some(new_addr);
    t.mm.lock().remap(&mut k.frames, old, old_len, new_len, flags & MREMAP_MAYMOVE != 0, fixed)
}

/// Implements Linux `madvise(2)`: MADV_DONTNEED and MADV_FREE return
/// private anonymous pages to zero; the hints are accepted.
pub fn sys_madvise<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let advice = match a.int(2) {
        MADV_DONTNEED | MADV_FREE => Advice::Discard,
        MADV_NORMAL | MADV_RANDOM | MADV_SEQUENTIAL | MADV_WILLNEED | MADV_DONTFORK | MADV_DOFORK | MADV_MERGEABLE
        | MADV_UNMERGEABLE | MADV_HUGEPAGE | MADV_NOHUGEPAGE | MADV_DONTDUMP | MADV_DODUMP | MADV_COLD
        | MADV_PAGEOUT | MADV_KEEPONFORK => Advice::Hint,
        MADV_REMOVE | MADV_WIPEONFORK => return Err(SysError::einval("advice not supported")),
        _ => return Err(SysError::einval("unknown advice")),
    };
    if a.u64(1) == 0 {
        return if a.u64(0).is_multiple_of(PAGE_SIZE) {
            Ok(0)
        } else {
            Err(SysError::einval("address not page aligned"))
        };
    }
    t.mm.lock().advise(&mut k.frames, a.u64(0), a.u64(1), advice).map(|()| 0)
}

/// Implements Linux `msync(2)`: the shared file pages of the range are
/// written back to their files.
pub fn sys_msync<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let (addr, len, flags) = (a.u64(0), a.u64(1), a.u64(2));
    if addr % PAGE_SIZE != 0 || flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0 {
        return Err(SysError::einval("bad address or flags"));
    }
    if flags & MS_ASYNC != 0 && flags & MS_SYNC != 0 {
        return Err(SysError::einval("MS_ASYNC with MS_SYNC"));
    }
    let len = page_round_up(len).ok_or(SysError::enomem("bad length"))?;
    if len > 0 && !t.mm.lock().is_mapped(addr, len) {
        return Err(SysError::new(errno::ENOMEM, "range not fully mapped"));
    }
    let files = t.mm.lock().shared_files_in(addr, len);
    for id in files {
        k.page_cache.writeback(&k.frames, id).map_err(|_| SysError::new(errno::EIO, "write-back failed"))?;
    }
    Ok(0)
}

/// Implements Linux `mincore(2)`.
pub fn sys_mincore<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let v = t.mm.lock().residency(a.u64(0), a.u64(1))?;
    t.mm.lock().copy_out(&mut k.frames, a.u64(2), &v)?;
    Ok(0)
}
