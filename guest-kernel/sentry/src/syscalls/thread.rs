//! Process and thread identity, exit, limits, scheduling and arch_prctl.

use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::kernel::{Kernel, Task};
use crate::platform::Platform;
use abi::layout::USER_END;
use abi::linux::arch_prctl::*;
use abi::linux::{errno, rlimit, Rlimit};

/// Implements Linux `set_tid_address(2)`.
pub fn sys_set_tid_address<P: Platform>(
    _k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    a: &SyscallArgs,
) -> SysResult {
    t.clear_child_tid = a.u64(0);
    Ok(u64::from(t.tid))
}

/// Implements Linux `set_robust_list(2)` (recorded; used at thread exit).
pub fn sys_set_robust_list<P: Platform>(
    _k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    a: &SyscallArgs,
) -> SysResult {
    // sizeof(struct robust_list_head) on x86-64.
    if a.u64(1) != 24 {
        return Err(SysError::einval("bad robust_list_head size"));
    }
    t.robust_list = (a.u64(0), a.u64(1));
    Ok(0)
}

/// Implements Linux `arch_prctl(2)`: FS and GS bases.
pub fn sys_arch_prctl<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let (code, addr) = (a.u64(0), a.u64(1));
    match code {
        ARCH_SET_FS | ARCH_SET_GS => {
            if addr >= USER_END {
                return Err(SysError::new(errno::EPERM, "base outside user space"));
            }
            if code == ARCH_SET_FS {
                t.regs.fs_base = addr;
            } else {
                t.regs.gs_base = addr;
            }
            Ok(0)
        }
        ARCH_GET_FS | ARCH_GET_GS => {
            let v = if code == ARCH_GET_FS { t.regs.fs_base } else { t.regs.gs_base };
            t.mm.lock().copy_out(&mut k.frames, addr, &v.to_le_bytes())?;
            Ok(0)
        }
        _ => Err(SysError::einval("unknown arch_prctl code")),
    }
}

/// Implements Linux `getpid(2)`.
pub fn sys_getpid<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, _a: &SyscallArgs) -> SysResult {
    Ok(u64::from(t.pid))
}

/// Implements Linux `gettid(2)`.
pub fn sys_gettid<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, _a: &SyscallArgs) -> SysResult {
    Ok(u64::from(t.tid))
}

/// Implements Linux `getuid(2)` and `geteuid(2)`: root inside the container.
pub fn sys_getuid<P: Platform>(_k: &mut Kernel<P>, _t: &mut Task<P::AddressSpace>, _a: &SyscallArgs) -> SysResult {
    Ok(0)
}

/// Implements Linux `getgid(2)` and `getegid(2)`.
pub fn sys_getgid<P: Platform>(_k: &mut Kernel<P>, _t: &mut Task<P::AddressSpace>, _a: &SyscallArgs) -> SysResult {
    Ok(0)
}

/// Implements Linux `sched_getaffinity(2)`: the sandbox has one CPU.
pub fn sys_sched_getaffinity<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    a: &SyscallArgs,
) -> SysResult {
    let pid = a.int(0);
    if pid != 0 && u32::try_from(pid).ok() != Some(t.tid) {
        return Err(SysError::new(errno::ESRCH, "no such task"));
    }
    let len = a.u64(1);
    // Linux copies whole longs covering nr_cpu_ids bits.
    if len < 8 || !len.is_multiple_of(8) {
        return Err(SysError::einval("cpu set too small or unaligned"));
    }
    t.mm.lock().copy_out(&mut k.frames, a.u64(2), &1u64.to_le_bytes())?;
    Ok(8)
}

fn resource(r: u32) -> Result<usize, SysError> {
    if r >= rlimit::RLIM_NLIMITS {
        return Err(SysError::einval("unknown resource"));
    }
    usize::try_from(r).map_err(|_| SysError::einval("unknown resource"))
}

fn rlimit_bytes(r: Rlimit) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&r.cur.to_le_bytes());
    b[8..].copy_from_slice(&r.max.to_le_bytes());
    b
}

fn read_rlimit<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, addr: u64) -> Result<Rlimit, SysError> {
    let mut b = [0u8; 16];
    t.mm.lock().copy_in(&mut k.frames, addr, &mut b)?;
    let (mut c, mut m) = ([0u8; 8], [0u8; 8]);
    c.copy_from_slice(&b[..8]);
    m.copy_from_slice(&b[8..]);
    Ok(Rlimit { cur: u64::from_le_bytes(c), max: u64::from_le_bytes(m) })
}

fn set_rlimit<A: crate::platform::AddressSpace>(t: &mut Task<A>, i: usize, new: Rlimit) -> Result<(), SysError> {
    if new.cur > new.max {
        return Err(SysError::einval("soft limit above hard limit"));
    }
    if i == rlimit::RLIMIT_NOFILE as usize && new.max > 1 << 20 {
        return Err(SysError::new(errno::EPERM, "above nr_open"));
    }
    // The container's root has CAP_SYS_RESOURCE and may raise hard limits.
    t.rlimits[i] = new;
    Ok(())
}

/// Implements Linux `prlimit64(2)` for the calling process.
pub fn sys_prlimit64<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let pid = a.int(0);
    if pid != 0 && u32::try_from(pid).ok() != Some(t.pid) {
        return Err(SysError::new(errno::ESRCH, "no such process"));
    }
    let i = resource(a.uint(1))?;
    let old = t.rlimits[i];
    if a.u64(2) != 0 {
        let new = read_rlimit(k, t, a.u64(2))?;
        set_rlimit(t, i, new)?;
    }
    if a.u64(3) != 0 {
        t.mm.lock().copy_out(&mut k.frames, a.u64(3), &rlimit_bytes(old))?;
    }
    Ok(0)
}

/// Implements Linux `getrlimit(2)`.
pub fn sys_getrlimit<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let i = resource(a.uint(0))?;
    let r = t.rlimits[i];
    t.mm.lock().copy_out(&mut k.frames, a.u64(1), &rlimit_bytes(r))?;
    Ok(0)
}

/// Implements Linux `setrlimit(2)`.
pub fn sys_setrlimit<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let i = resource(a.uint(0))?;
    let new = read_rlimit(k, t, a.u64(1))?;
    set_rlimit(t, i, new).map(|()| 0)
}

/// Implements Linux `umask(2)`.
pub fn sys_umask<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let old = t.umask;
    t.umask = a.uint(0) & 0o777;
    Ok(u64::from(old))
}

const PR_SET_PDEATHSIG: i32 = 1;
const PR_GET_PDEATHSIG: i32 = 2;
const PR_GET_DUMPABLE: i32 = 3;
const PR_SET_DUMPABLE: i32 = 4;
const PR_SET_NAME: i32 = 15;
const PR_GET_NAME: i32 = 16;

/// Implements Linux `prctl(2)`: the command name and the few process
/// attributes a single process has. Others return EINVAL, as Linux does for
/// options it does not know.
pub fn sys_prctl<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    match a.int(0) {
        PR_SET_NAME => {
            let mut name = t.mm.lock().read_cstr(&mut k.frames, a.u64(1), 4096)?;
            name.truncate(15);
            t.comm = [0; 16];
            t.comm[..name.len()].copy_from_slice(&name);
            Ok(0)
        }
        PR_GET_NAME => {
            let comm = t.comm;
            t.mm.lock().copy_out(&mut k.frames, a.u64(1), &comm)?;
            Ok(0)
        }
        // The container's init has no parent to watch.
        PR_SET_PDEATHSIG => Ok(0),
        PR_GET_PDEATHSIG => {
            t.mm.lock().copy_out(&mut k.frames, a.u64(1), &0u32.to_le_bytes())?;
            Ok(0)
        }
        PR_GET_DUMPABLE => Ok(1),
        PR_SET_DUMPABLE if a.u64(1) <= 1 => Ok(0),
        _ => Err(SysError::einval("prctl option not supported")),
    }
}
