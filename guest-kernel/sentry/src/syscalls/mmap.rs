//! mmap, munmap, mprotect, brk.

use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::kernel::{Kernel, Task};
use crate::mm::{page_round_up, Backing};
use crate::platform::{Perms, Platform};
use abi::layout::PAGE_SIZE;
use abi::linux::errno;
use abi::linux::mman::*;

const MAP_SHARED_VALIDATE: u64 = 0x03;
const MAP_TYPE: u64 = 0x0f;
const PROT_GROWSDOWN: u64 = 0x0100_0000;
const PROT_GROWSUP: u64 = 0x0200_0000;

/// Implements Linux `mmap(2)` for anonymous memory. File mappings arrive
/// with the VFS; until then a file descriptor argument fails as Linux does
/// for a non-mappable file. `MAP_SHARED` anonymous memory behaves as
/// private (no process shares it yet).
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
    if flags & MAP_ANONYMOUS == 0 {
        t.file(a.fd(4))?;
        return Err(SysError::new(errno::ENODEV, "file cannot be mapped"));
    }
    let len = page_round_up(len).ok_or(SysError::enomem("length overflows"))?;
    let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
    if fixed && addr % PAGE_SIZE != 0 {
        return Err(SysError::einval("fixed address not page aligned"));
    }
    if flags & MAP_FIXED_NOREPLACE != 0 && flags & MAP_FIXED == 0 && !t.mm.lock().range_is_free(addr, len) {
        return Err(SysError::new(errno::EEXIST, "MAP_FIXED_NOREPLACE range in use"));
    }
    let start = t.mm.lock().map(&mut k.frames, addr, len, Perms::from_prot(prot), Backing::Anon, fixed)?;
    if flags & MAP_POPULATE != 0 {
        // Best effort, as on Linux: a populate failure leaves the mapping.
        let _ = t.mm.lock().populate(&mut k.frames, start, len);
    }
    Ok(start)
}

/// Implements Linux `munmap(2)`.
pub fn sys_munmap<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    t.mm.lock().unmap(&mut k.frames, a.u64(0), a.u64(1)).map(|()| 0)
}

/// Implements Linux `mprotect(2)`.
pub fn sys_mprotect<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
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
    t.mm.lock().protect(addr, len, Perms::from_prot(prot)).map(|()| 0)
}

/// Implements Linux `brk(2)`: returns the new break, or the old one on failure.
pub fn sys_brk<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    Ok(t.mm.lock().brk(&mut k.frames, a.u64(0)))
}
