//! User and group ids, supplementary groups and capabilities
//! (kernel/creds.rs has the rules).

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::kernel::creds::KEEP;
use crate::kernel::{Kernel, Task};
use crate::platform::Platform;
use abi::linux::caps::{
    _LINUX_CAPABILITY_VERSION_1, _LINUX_CAPABILITY_VERSION_2, _LINUX_CAPABILITY_VERSION_3, CAP_SETGID,
};
use abi::linux::errno;

/// NGROUPS_MAX.
const NGROUPS_MAX: usize = 65536;

fn eperm() -> SysError {
    SysError::new(errno::EPERM, "operation not permitted for these credentials")
}

fn ok_or_eperm(ok: bool) -> SysResult {
    if ok {
        Ok(0)
    } else {
        Err(eperm())
    }
}

/// Implements Linux `getuid(2)`.
pub fn sys_getuid<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, _a: &SyscallArgs) -> SysResult {
    Ok(u64::from(t.creds.ruid))
}

/// Implements Linux `geteuid(2)`.
pub fn sys_geteuid<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, _a: &SyscallArgs) -> SysResult {
    Ok(u64::from(t.creds.euid))
}

/// Implements Linux `getgid(2)`.
pub fn sys_getgid<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, _a: &SyscallArgs) -> SysResult {
    Ok(u64::from(t.creds.rgid))
}

/// Implements Linux `getegid(2)`.
pub fn sys_getegid<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, _a: &SyscallArgs) -> SysResult {
    Ok(u64::from(t.creds.egid))
}

fn write_ids<P: Platform>(k: &mut Kernel<P>, t: &Task<P::AddressSpace>, a: &SyscallArgs, ids: [u32; 3]) -> SysResult {
    let mut mm = t.mm.lock();
    for (i, id) in ids.iter().enumerate() {
        mm.copy_out(&mut k.frames, a.u64(i), &id.to_le_bytes())?;
    }
    Ok(0)
}

/// Implements Linux `getresuid(2)`.
pub fn sys_getresuid<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let c = &t.creds;
    let ids = [c.ruid, c.euid, c.suid];
    write_ids(k, t, a, ids)
}

/// Implements Linux `getresgid(2)`.
pub fn sys_getresgid<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let c = &t.creds;
    let ids = [c.rgid, c.egid, c.sgid];
    write_ids(k, t, a, ids)
}

/// Implements Linux `setuid(2)`.
pub fn sys_setuid<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    if a.uint(0) == KEEP {
        return Err(SysError::einval("uid -1"));
    }
    ok_or_eperm(t.creds.set_uid(a.uint(0)))
}

/// Implements Linux `setgid(2)`.
pub fn sys_setgid<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    if a.uint(0) == KEEP {
        return Err(SysError::einval("gid -1"));
    }
    ok_or_eperm(t.creds.set_gid(a.uint(0)))
}

/// Implements Linux `setreuid(2)`.
pub fn sys_setreuid<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    ok_or_eperm(t.creds.set_reuid(a.uint(0), a.uint(1)))
}

/// Implements Linux `setregid(2)`.
pub fn sys_setregid<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    ok_or_eperm(t.creds.set_regid(a.uint(0), a.uint(1)))
}

/// Implements Linux `setresuid(2)`.
pub fn sys_setresuid<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    ok_or_eperm(t.creds.set_resuid(a.uint(0), a.uint(1), a.uint(2)))
}

/// Implements Linux `setresgid(2)`.
pub fn sys_setresgid<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    ok_or_eperm(t.creds.set_resgid(a.uint(0), a.uint(1), a.uint(2)))
}

/// Implements Linux `setfsuid(2)`: returns the previous fsuid.
pub fn sys_setfsuid<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    Ok(u64::from(t.creds.set_fsuid(a.uint(0))))
}

/// Implements Linux `setfsgid(2)`.
pub fn sys_setfsgid<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    Ok(u64::from(t.creds.set_fsgid(a.uint(0))))
}

/// Implements Linux `getgroups(2)`.
pub fn sys_getgroups<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let size = a.int(0);
    let groups = Arc::clone(&t.creds.groups);
    if size < 0 {
        return Err(SysError::einval("negative size"));
    }
    if size == 0 {
        return Ok(groups.len() as u64);
    }
    if usize::try_from(size).unwrap_or(0) < groups.len() {
        return Err(SysError::einval("buffer smaller than the group list"));
    }
    let bytes: Vec<u8> = groups.iter().flat_map(|g| g.to_le_bytes()).collect();
    t.mm.lock().copy_out(&mut k.frames, a.u64(1), &bytes)?;
    Ok(groups.len() as u64)
}

/// Implements Linux `setgroups(2)`: needs CAP_SETGID.
pub fn sys_setgroups<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let n = usize::try_from(a.int(0)).map_err(|_| SysError::einval("negative size"))?;
    if n > NGROUPS_MAX {
        return Err(SysError::einval("more than NGROUPS_MAX groups"));
    }
    if !t.creds.capable(CAP_SETGID) {
        return Err(eperm());
    }
    let mut b = alloc::vec![0u8; n * 4];
    t.mm.lock().copy_in(&mut k.frames, a.u64(1), &mut b)?;
    let mut groups: Vec<u32> = b.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    // Linux keeps the list sorted (groups_sort) for lookups.
    groups.sort_unstable();
    t.creds.groups = Arc::from(groups);
    Ok(0)
}

/// Reads a `cap_user_header_t`; returns its version and pid. An unknown
/// version is answered by writing the preferred one, as Linux does.
fn cap_header<P: Platform>(k: &mut Kernel<P>, t: &Task<P::AddressSpace>, addr: u64) -> Result<(u32, i32), SysError> {
    let mut b = [0u8; 8];
    t.mm.lock().copy_in(&mut k.frames, addr, &mut b)?;
    let version = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let pid = i32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    match version {
        _LINUX_CAPABILITY_VERSION_1 | _LINUX_CAPABILITY_VERSION_2 | _LINUX_CAPABILITY_VERSION_3 => Ok((version, pid)),
        _ => {
            t.mm.lock().copy_out(&mut k.frames, addr, &_LINUX_CAPABILITY_VERSION_3.to_le_bytes())?;
            Err(SysError::einval("unknown capability version"))
        }
    }
}

/// How many 32-bit words of each set a header version carries.
fn cap_words(version: u32) -> usize {
    if version == _LINUX_CAPABILITY_VERSION_1 {
        1
    } else {
        2
    }
}

/// Implements Linux `capget(2)`: the calling thread's sets, or another
/// task's by pid.
pub fn sys_capget<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let (version, pid) = cap_header(k, t, a.u64(0))?;
    if pid < 0 {
        return Err(SysError::einval("negative pid"));
    }
    let pid = pid.cast_unsigned();
    let c = if pid == 0 || pid == t.tid {
        t.creds.clone()
    } else {
        k.tasks.get(&pid).map(|o| o.creds.clone()).ok_or(SysError::new(errno::ESRCH, "no such task"))?
    };
    if a.u64(1) == 0 {
        return Ok(0);
    }
    let mut out = Vec::new();
    for w in 0..cap_words(version) {
        for set in [c.effective, c.permitted, c.inheritable] {
            #[allow(clippy::cast_possible_truncation)] // one 32-bit word of the set
            out.extend_from_slice(&((set >> (32 * w)) as u32).to_le_bytes());
        }
    }
    t.mm.lock().copy_out(&mut k.frames, a.u64(1), &out)?;
    Ok(0)
}

/// Implements Linux `capset(2)`: only the calling thread's sets.
pub fn sys_capset<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let (version, pid) = cap_header(k, t, a.u64(0))?;
    if pid != 0 && pid.cast_unsigned() != t.tid {
        return Err(eperm());
    }
    let words = cap_words(version);
    let mut b = alloc::vec![0u8; words * 12];
    t.mm.lock().copy_in(&mut k.frames, a.u64(1), &mut b)?;
    let mut sets = [0u64; 3];
    for w in 0..words {
        for (i, set) in sets.iter_mut().enumerate() {
            let at = (w * 3 + i) * 4;
            *set |= u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])) << (32 * w);
        }
    }
    ok_or_eperm(t.creds.set_caps(sets[0], sets[1], sets[2]))
}
