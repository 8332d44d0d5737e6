//! rt_sigaction and rt_sigprocmask. Dispositions and the mask are recorded;
//! handler delivery arrives with the processes issue (until then a signal
//! whose default action terminates always terminates).

use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::kernel::signal::SigAction;
use crate::kernel::{Kernel, Task};
use crate::platform::Platform;
use abi::linux::signal::{NSIG, SIGKILL};

const SIGSTOP: u32 = 19;
const SIG_BLOCK: i32 = 0;
const SIG_UNBLOCK: i32 = 1;
const SIG_SETMASK: i32 = 2;
/// Bits of SIGKILL and SIGSTOP, which can be neither caught nor blocked.
const UNBLOCKABLE: u64 = (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1));

fn sigset_size(a: &SyscallArgs, i: usize) -> Result<(), SysError> {
    if a.u64(i) != 8 {
        return Err(SysError::einval("sigsetsize is not 8"));
    }
    Ok(())
}

/// Implements Linux `rt_sigaction(2)`.
pub fn sys_rt_sigaction<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    sigset_size(a, 3)?;
    let sig = a.uint(0);
    if sig == 0 || sig > NSIG {
        return Err(SysError::einval("bad signal number"));
    }
    let idx = usize::try_from(sig - 1).map_err(|_| SysError::einval("bad signal number"))?;
    let (act, oact) = (a.u64(1), a.u64(2));
    if act != 0 && (sig == SIGKILL || sig == SIGSTOP) {
        return Err(SysError::einval("SIGKILL and SIGSTOP cannot be caught"));
    }
    let new = if act != 0 {
        let mut b = [0u8; 32];
        t.mm.lock().copy_in(&mut k.frames, act, &mut b)?;
        let w = |i: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[i * 8..i * 8 + 8]);
            u64::from_le_bytes(x)
        };
        Some(SigAction { handler: w(0), flags: w(1), restorer: w(2), mask: w(3) & !UNBLOCKABLE })
    } else {
        None
    };
    if oact != 0 {
        let o = t.sighand.lock().0[idx];
        let mut b = [0u8; 32];
        for (i, v) in [o.handler, o.flags, o.restorer, o.mask].iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        t.mm.lock().copy_out(&mut k.frames, oact, &b)?;
    }
    if let Some(n) = new {
        t.sighand.lock().0[idx] = n;
    }
    Ok(0)
}

/// Implements Linux `rt_sigprocmask(2)`.
pub fn sys_rt_sigprocmask<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    sigset_size(a, 3)?;
    let (how, set, oset) = (a.int(0), a.u64(1), a.u64(2));
    let old = t.sigmask;
    if set != 0 {
        let s = t.mm.lock().read_u64(&mut k.frames, set)?;
        t.sigmask = match how {
            SIG_BLOCK => old | s,
            SIG_UNBLOCK => old & !s,
            SIG_SETMASK => s,
            _ => return Err(SysError::einval("bad how")),
        } & !UNBLOCKABLE;
    }
    if oset != 0 {
        t.mm.lock().copy_out(&mut k.frames, oset, &old.to_le_bytes())?;
    }
    Ok(0)
}
