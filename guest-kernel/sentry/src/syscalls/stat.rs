//! fstat and newfstatat. Until the VFS arrives (files issue) the only open
//! files are the host's standard streams, described by the VMM at boot;
//! path lookups have no filesystem to search and return ENOSYS.

use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::kernel::fd::File;
use crate::kernel::{Kernel, Task};
use crate::platform::Platform;
use abi::linux::errno;

const AT_EMPTY_PATH: u32 = 0x1000;
const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
const AT_NO_AUTOMOUNT: u32 = 0x800;
/// `struct stat` on x86-64.
const STAT_SIZE: usize = 144;

/// The `struct stat` of an open file.
fn stat_of<P: Platform>(k: &Kernel<P>, file: File) -> [u8; STAT_SIZE] {
    let File::HostStdio { host_fd, .. } = file;
    let s = k.params.stdio.get(host_fd as usize).copied().unwrap_or_default();
    let mut b = [0u8; STAT_SIZE];
    b[0..8].copy_from_slice(&s.dev.to_le_bytes());
    b[8..16].copy_from_slice(&s.ino.to_le_bytes());
    b[16..24].copy_from_slice(&1u64.to_le_bytes());
    b[24..28].copy_from_slice(&s.mode.to_le_bytes());
    b[28..32].copy_from_slice(&s.uid.to_le_bytes());
    b[32..36].copy_from_slice(&s.gid.to_le_bytes());
    b[40..48].copy_from_slice(&s.rdev.to_le_bytes());
    // st_size 0: a stream's size is not known to the sandbox.
    b[56..64].copy_from_slice(&s.blksize.to_le_bytes());
    b
}

/// Implements Linux `fstat(2)`.
pub fn sys_fstat<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let st = stat_of(k, t.fds.get(a.fd(0))?);
    t.mm.copy_out(&mut k.frames, a.u64(1), &st)?;
    Ok(0)
}

/// Implements Linux `newfstatat(2)` for `AT_EMPTY_PATH` on an open fd.
pub fn sys_newfstatat<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let flags = a.uint(3);
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT) != 0 {
        return Err(SysError::einval("unknown flags"));
    }
    let path = t.mm.read_cstr(&mut k.frames, a.u64(1), 4096)?;
    if !path.is_empty() || flags & AT_EMPTY_PATH == 0 {
        return Err(SysError::new(errno::ENOSYS, "no filesystem yet"));
    }
    let st = stat_of(k, t.fds.get(a.fd(0))?);
    t.mm.copy_out(&mut k.frames, a.u64(2), &st)?;
    Ok(0)
}
