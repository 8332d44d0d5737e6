//! Process and thread identity, exit, limits, scheduling and arch_prctl.

use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::kernel::{Kernel, Task};
use crate::platform::Platform;
use abi::layout::USER_END;
use abi::linux::arch_prctl::*;
use abi::linux::caps::{CAP_LAST_CAP, CAP_SETPCAP};
use abi::linux::prctl::*;
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

/// Implements Linux `prctl(2)`: names, the parent-death signal,
/// dumpability, capability bounding and ambient sets, keep-caps,
/// no-new-privs, child subreaper, secure bits and timer slack.
pub fn sys_prctl<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let arg = a.u64(1);
    let cap = || u32::try_from(arg).ok().filter(|&c| c <= CAP_LAST_CAP).ok_or(SysError::einval("no such capability"));
    match a.int(0) {
        PR_SET_NAME => {
            let mut name = t.mm.lock().read_cstr(&mut k.frames, arg, 4096)?;
            name.truncate(15);
            t.comm = [0; 16];
            t.comm[..name.len()].copy_from_slice(&name);
            Ok(0)
        }
        PR_GET_NAME => {
            let comm = t.comm;
            t.mm.lock().copy_out(&mut k.frames, arg, &comm)?;
            Ok(0)
        }
        PR_SET_PDEATHSIG => {
            let sig = u32::try_from(arg).ok().filter(|&s| s <= 64).ok_or(SysError::einval("bad signal"))?;
            t.pdeath_signal = sig;
            Ok(0)
        }
        PR_GET_PDEATHSIG => {
            let sig = t.pdeath_signal;
            t.mm.lock().copy_out(&mut k.frames, arg, &sig.to_le_bytes())?;
            Ok(0)
        }
        PR_GET_DUMPABLE => Ok(u64::from(t.dumpable)),
        PR_SET_DUMPABLE if arg <= 1 => {
            t.dumpable = arg == 1;
            Ok(0)
        }
        PR_GET_KEEPCAPS => Ok(u64::from(t.creds.keep_caps)),
        PR_SET_KEEPCAPS if arg <= 1 => {
            t.creds.keep_caps = arg == 1;
            Ok(0)
        }
        PR_CAPBSET_READ => Ok(u64::from(t.creds.bounding & (1 << cap()?) != 0)),
        PR_CAPBSET_DROP => {
            let c = cap()?;
            if !t.creds.capable(CAP_SETPCAP) {
                return Err(SysError::new(errno::EPERM, "CAP_SETPCAP needed"));
            }
            t.creds.bounding &= !(1 << c);
            Ok(0)
        }
        PR_CAP_AMBIENT => match arg {
            PR_CAP_AMBIENT_CLEAR_ALL => {
                t.creds.ambient = 0;
                Ok(0)
            }
            PR_CAP_AMBIENT_IS_SET | PR_CAP_AMBIENT_RAISE | PR_CAP_AMBIENT_LOWER => {
                let c = u32::try_from(a.u64(2))
                    .ok()
                    .filter(|&c| c <= CAP_LAST_CAP)
                    .ok_or(SysError::einval("no such capability"))?;
                let b = 1u64 << c;
                match arg {
                    PR_CAP_AMBIENT_IS_SET => Ok(u64::from(t.creds.ambient & b != 0)),
                    PR_CAP_AMBIENT_LOWER => {
                        t.creds.ambient &= !b;
                        Ok(0)
                    }
                    _ => {
                        // Raising needs the capability permitted and inheritable.
                        if t.creds.permitted & t.creds.inheritable & b == 0 {
                            return Err(SysError::new(errno::EPERM, "not permitted and inheritable"));
                        }
                        t.creds.ambient |= b;
                        Ok(0)
                    }
                }
            }
            _ => Err(SysError::einval("bad PR_CAP_AMBIENT operation")),
        },
        PR_SET_NO_NEW_PRIVS if arg == 1 => {
            t.creds.no_new_privs = true;
            Ok(0)
        }
        PR_SET_NO_NEW_PRIVS => Err(SysError::einval("no_new_privs can only be set to 1")),
        PR_GET_NO_NEW_PRIVS => Ok(u64::from(t.creds.no_new_privs)),
        PR_SET_CHILD_SUBREAPER => {
            if let Some(p) = k.procs.get_mut(&t.pid) {
                p.subreaper = arg != 0;
            }
            Ok(0)
        }
        PR_GET_CHILD_SUBREAPER => {
            let on = k.procs.get(&t.pid).is_some_and(|p| p.subreaper);
            t.mm.lock().copy_out(&mut k.frames, arg, &u32::from(on).to_le_bytes())?;
            Ok(0)
        }
        PR_GET_SECUREBITS => Ok(if t.creds.keep_caps { 1 << 4 } else { 0 }),
        PR_SET_SECUREBITS => Err(SysError::new(errno::EPERM, "secure bits cannot be changed in the sandbox")),
        PR_GET_SECCOMP => Ok(0),
        PR_GET_TIMERSLACK => Ok(50_000),
        PR_SET_TIMERSLACK => Ok(0),
        _ => Err(SysError::einval("prctl option not supported")),
    }
}
