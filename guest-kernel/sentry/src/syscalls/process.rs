//! Processes: clone/fork/vfork, execve, wait, kill, process groups and
//! sessions, and the signal syscalls that need the scheduler.

use alloc::vec::Vec;

use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::kernel::clone::{self, CloneArgs};
use crate::kernel::deliver::{self, Sender};
use crate::kernel::exit::{self, Which};
use crate::kernel::process::status;
use crate::kernel::signal::SigInfo;
use crate::kernel::task::WaitKey;
use crate::kernel::{exec, Kernel, Task};
use crate::platform::{Host, Platform};
use abi::linux::clone::*;
use abi::linux::errno;
use abi::linux::signal::*;
use abi::linux::wait::*;

/// Largest number of argv or envp strings accepted.
const MAX_STRINGS: usize = 0x7fff_ffff / 8;

/// Reads a NULL-terminated array of string pointers.
fn read_strv<P: Platform>(k: &mut Kernel<P>, t: &Task<P::AddressSpace>, mut at: u64) -> Result<Vec<Vec<u8>>, SysError> {
    let mut out = Vec::new();
    if at == 0 {
        return Ok(out);
    }
    let mut total = 0usize;
    let mut mm = t.mm.lock();
    loop {
        let p = mm.read_u64(&mut k.frames, at)?;
        if p == 0 {
            return Ok(out);
        }
        let s = mm.read_cstr(&mut k.frames, p, usize::try_from(crate::loader::MAX_ARG_STRLEN).unwrap_or(usize::MAX))?;
        total += s.len() + 1 + 8;
        if total as u64 > crate::loader::ARG_MAX || out.len() >= MAX_STRINGS {
            return Err(SysError::new(errno::E2BIG, "argument list too long"));
        }
        out.push(s);
        at = at.checked_add(8).ok_or(SysError::efault("bad string array"))?;
    }
}

/// Implements Linux `execve(2)`.
pub fn sys_execve<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let path = t.mm.lock().read_cstr(&mut k.frames, a.u64(0), 4095)?;
    let argv = read_strv(k, t, a.u64(1))?;
    let envp = read_strv(k, t, a.u64(2))?;
    if path.is_empty() {
        return Err(SysError::new(errno::ENOENT, "empty path"));
    }
    exec::execve(k, t, &path, argv, &envp)?;
    Ok(0)
}

/// Implements Linux `execveat(2)` for absolute paths and AT_FDCWD.
pub fn sys_execveat<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    const AT_FDCWD: i32 = -100;
    let path = t.mm.lock().read_cstr(&mut k.frames, a.u64(1), 4095)?;
    if !path.starts_with(b"/") && a.fd(0) != AT_FDCWD {
        return Err(SysError::new(errno::ENOSYS, "execveat relative to a directory fd is not supported"));
    }
    if path.is_empty() {
        return Err(SysError::new(errno::ENOENT, "empty path (AT_EMPTY_PATH is not supported)"));
    }
    let argv = read_strv(k, t, a.u64(2))?;
    let envp = read_strv(k, t, a.u64(3))?;
    exec::execve(k, t, &path, argv, &envp)?;
    Ok(0)
}

/// Implements Linux `clone(2)` (x86-64 argument order: flags, stack,
/// parent_tid, child_tid, tls).
pub fn sys_clone<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let flags = a.u64(0);
    let args = CloneArgs {
        flags: flags & !CSIGNAL,
        exit_signal: u32::try_from(flags & CSIGNAL).unwrap_or(0),
        stack: a.u64(1),
        parent_tid: a.u64(2),
        child_tid: a.u64(3),
        tls: a.u64(4),
    };
    if args.exit_signal > NSIG {
        return Err(SysError::einval("bad exit signal"));
    }
    clone::clone(k, t, &args)
}

/// Implements Linux `clone3(2)`.
pub fn sys_clone3<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let size = a.size(1)?;
    if !(64..=4096).contains(&size) {
        return Err(SysError::einval("bad clone_args size"));
    }
    let mut b = alloc::vec![0u8; size];
    t.mm.lock().copy_in(&mut k.frames, a.u64(0), &mut b)?;
    let w = |i: usize| {
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[i * 8..i * 8 + 8]);
        u64::from_le_bytes(x)
    };
    // flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, ...
    if b[64..].iter().any(|&x| x != 0) {
        return Err(SysError::new(errno::E2BIG, "clone_args fields this kernel does not know are set"));
    }
    let (flags, exit_signal, stack, stack_size) = (w(0), w(4), w(5), w(6));
    if flags & CSIGNAL != 0 || exit_signal > u64::from(NSIG) {
        return Err(SysError::einval("bad clone3 flags or exit signal"));
    }
    let args = CloneArgs {
        flags,
        exit_signal: u32::try_from(exit_signal).unwrap_or(0),
        stack: if stack != 0 { stack.checked_add(stack_size).ok_or(SysError::einval("bad stack"))? } else { 0 },
        parent_tid: w(3),
        child_tid: w(2),
        tls: w(7),
    };
    clone::clone(k, t, &args)
}

/// Implements Linux `fork(2)`.
pub fn sys_fork<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, _a: &SyscallArgs) -> SysResult {
    clone::clone(k, t, &CloneArgs { exit_signal: SIGCHLD, ..CloneArgs::default() })
}

/// Implements Linux `vfork(2)`.
pub fn sys_vfork<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, _a: &SyscallArgs) -> SysResult {
    clone::clone(k, t, &CloneArgs { flags: CLONE_VM | CLONE_VFORK, exit_signal: SIGCHLD, ..CloneArgs::default() })
}

/// Implements Linux `exit(2)`: ends the calling thread.
pub fn sys_exit<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    t.exit_status = status::exited(a.int(0).to_le_bytes()[0]);
    t.state = crate::kernel::task::RunState::Dead;
    Ok(0)
}

/// Implements Linux `exit_group(2)`.
pub fn sys_exit_group<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    exit::exit_group(k, t, status::exited(a.int(0).to_le_bytes()[0]));
    Ok(0)
}

/// Decodes wait4's pid argument.
fn which(k: &Kernel<impl Platform>, me: u32, pid: i32) -> Which {
    match pid {
        -1 => Which::Any,
        0 => Which::Pgid(k.procs.get(&me).map_or(0, |p| p.pgid)),
        p if p < 0 => Which::Pgid(p.unsigned_abs()),
        p => Which::Pid(p.cast_unsigned()),
    }
}

/// Writes a `struct rusage` with user and system times.
fn write_rusage<P: Platform>(
    k: &mut Kernel<P>,
    t: &Task<P::AddressSpace>,
    at: u64,
    utime: u64,
    stime: u64,
) -> Result<(), SysError> {
    let mut b = [0u8; 144];
    let tv = |ns: u64| ((ns / 1_000_000_000), (ns % 1_000_000_000) / 1000);
    let (us, uu) = tv(utime);
    let (ss, su) = tv(stime);
    for (i, v) in [us, uu, ss, su].iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
    }
    t.mm.lock().copy_out(&mut k.frames, at, &b)
}

/// Implements Linux `wait4(2)`.
pub fn sys_wait4<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let options = a.uint(2);
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WNOTHREAD | WALL | WCLONE) != 0 {
        return Err(SysError::einval("bad wait options"));
    }
    let w = which(k, t.pid, a.int(0));
    match exit::wait_child(k, t, w, options | WEXITED)? {
        Some(r) => {
            if a.u64(1) != 0 {
                t.mm.lock().copy_out(&mut k.frames, a.u64(1), &r.status.to_le_bytes())?;
            }
            if a.u64(3) != 0 {
                write_rusage(k, t, a.u64(3), r.utime_ns, r.stime_ns)?;
            }
            Ok(u64::from(r.pid))
        }
        None if options & WNOHANG != 0 => Ok(0),
        None => {
            t.wait_on(WaitKey::ChildOf(t.pid));
            Err(SysError::block())
        }
    }
}

/// Implements Linux `waitid(2)`.
pub fn sys_waitid<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let (idtype, id, infop, options) = (a.uint(0), a.uint(1), a.u64(2), a.uint(3));
    if options & !(WNOHANG | WEXITED | WSTOPPED | WCONTINUED | WNOWAIT | WNOTHREAD | WALL | WCLONE) != 0
        || options & (WEXITED | WSTOPPED | WCONTINUED) == 0
    {
        return Err(SysError::einval("bad waitid options"));
    }
    let w = match idtype {
        P_ALL => Which::Any,
        P_PID => Which::Pid(id),
        P_PGID if id == 0 => Which::Pgid(k.procs.get(&t.pid).map_or(0, |p| p.pgid)),
        P_PGID => Which::Pgid(id),
        _ => return Err(SysError::einval("bad idtype")),
    };
    match exit::wait_child(k, t, w, options)? {
        Some(r) => {
            if infop != 0 {
                let mut info =
                    SigInfo::child(r.code, r.pid, r.si_status, r.utime_ns / 10_000_000, r.stime_ns / 10_000_000);
                info.0[4..8].copy_from_slice(&0i32.to_le_bytes());
                t.mm.lock().copy_out(&mut k.frames, infop, &info.0)?;
            }
            if a.u64(4) != 0 {
                write_rusage(k, t, a.u64(4), r.utime_ns, r.stime_ns)?;
            }
            Ok(0)
        }
        None if options & WNOHANG != 0 => {
            if infop != 0 {
                t.mm.lock().copy_out(&mut k.frames, infop, &[0u8; 128])?;
            }
            Ok(0)
        }
        None => {
            t.wait_on(WaitKey::ChildOf(t.pid));
            Err(SysError::block())
        }
    }
}

fn check_sig(sig: i32) -> Result<u32, SysError> {
    u32::try_from(sig).ok().filter(|&s| s <= NSIG).ok_or(SysError::einval("bad signal number"))
}

/// Implements Linux `kill(2)`.
pub fn sys_kill<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let (pid, sig) = (a.int(0), check_sig(a.int(1))?);
    let info = SigInfo::from_process(sig, SI_USER, t.pid, 0);
    let targets: Vec<u32> = match pid {
        p if p > 0 => alloc::vec![p.cast_unsigned()],
        0 => {
            let g = k.procs.get(&t.pid).map_or(0, |p| p.pgid);
            k.procs.values().filter(|p| p.pgid == g && p.zombie.is_none()).map(|p| p.pid).collect()
        }
        -1 => k.procs.values().filter(|p| p.pid != 1 && p.pid != t.pid && p.zombie.is_none()).map(|p| p.pid).collect(),
        p => {
            let g = p.unsigned_abs();
            k.procs.values().filter(|p| p.pgid == g && p.zombie.is_none()).map(|p| p.pid).collect()
        }
    };
    if targets.is_empty() {
        return Err(SysError::new(errno::ESRCH, "no such process or group"));
    }
    // Success if any target took it; otherwise EPERM if one refused.
    let mut result = Err(SysError::new(errno::ESRCH, "no such process"));
    for p in targets {
        match deliver::send_process(k, t, p, info, Sender::User) {
            Ok(()) => result = Ok(0),
            Err(e) if e.errno == errno::EPERM && result.is_err() => result = Err(e),
            Err(_) => {}
        }
    }
    result
}

/// Implements Linux `tgkill(2)`.
pub fn sys_tgkill<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let (tgid, tid, sig) = (a.int(0), a.int(1), check_sig(a.int(2))?);
    if tgid <= 0 || tid <= 0 {
        return Err(SysError::einval("bad thread id"));
    }
    let tid = tid.cast_unsigned();
    let in_group = if tid == t.tid { t.pid } else { k.tasks.get(&tid).map_or(0, |x| x.pid) };
    if in_group != tgid.cast_unsigned() {
        return Err(SysError::new(errno::ESRCH, "no such thread in that group"));
    }
    deliver::send_thread(k, t, tid, SigInfo::from_process(sig, SI_TKILL, t.pid, 0), Sender::User)?;
    Ok(0)
}

/// Implements Linux `tkill(2)`.
pub fn sys_tkill<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let (tid, sig) = (a.int(0), check_sig(a.int(1))?);
    if tid <= 0 {
        return Err(SysError::einval("bad thread id"));
    }
    deliver::send_thread(k, t, tid.cast_unsigned(), SigInfo::from_process(sig, SI_TKILL, t.pid, 0), Sender::User)?;
    Ok(0)
}

/// Implements Linux `rt_sigqueueinfo(2)`.
pub fn sys_rt_sigqueueinfo<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    a: &SyscallArgs,
) -> SysResult {
    let (pid, sig) = (a.int(0), check_sig(a.int(1))?);
    let mut info = SigInfo([0; 128]);
    t.mm.lock().copy_in(&mut k.frames, a.u64(2), &mut info.0)?;
    // Only negative codes (SI_QUEUE and the like) may be forged by a process.
    if info.code() >= 0 && pid.cast_unsigned() != t.pid {
        return Err(SysError::new(errno::EPERM, "si_code not allowed"));
    }
    info.0[0..4].copy_from_slice(&sig.to_le_bytes());
    deliver::send_process(k, t, pid.cast_unsigned(), info, Sender::User)?;
    Ok(0)
}

/// Implements Linux `rt_sigreturn(2)`.
pub fn sys_rt_sigreturn<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, _a: &SyscallArgs) -> SysResult {
    if deliver::sigreturn(k, t).is_err() {
        deliver::force_signal(k, t, SigInfo::new(SIGSEGV, SI_KERNEL));
    }
    Err(SysError::regs_set())
}

/// Implements Linux `rt_sigsuspend(2)`.
pub fn sys_rt_sigsuspend<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    if a.u64(1) != 8 {
        return Err(SysError::einval("sigsetsize is not 8"));
    }
    if t.saved_sigmask.is_none() {
        let m = t.mm.lock().read_u64(&mut k.frames, a.u64(0))?;
        t.saved_sigmask = Some(t.sigmask);
        t.sigmask = m & !(bit(SIGKILL) | bit(SIGSTOP));
    }
    // Only a delivered signal ends it (as EINTR, through the interruption path).
    t.wait_on(WaitKey::Signal);
    Err(SysError::block())
}

/// Implements Linux `pause(2)`.
pub fn sys_pause<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, _a: &SyscallArgs) -> SysResult {
    t.wait_on(WaitKey::Signal);
    Err(SysError::block())
}

/// Implements Linux `rt_sigpending(2)`.
pub fn sys_rt_sigpending<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let set = deliver::pending_set(k, t) & t.sigmask;
    let n = a.size(1)?.min(8);
    t.mm.lock().copy_out(&mut k.frames, a.u64(0), &set.to_le_bytes()[..n])?;
    Ok(0)
}

/// Implements Linux `rt_sigtimedwait(2)`.
pub fn sys_rt_sigtimedwait<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    a: &SyscallArgs,
) -> SysResult {
    if a.u64(3) != 8 {
        return Err(SysError::einval("sigsetsize is not 8"));
    }
    let want = t.mm.lock().read_u64(&mut k.frames, a.u64(0))? & !(bit(SIGKILL) | bit(SIGSTOP));
    if let Some(sig) = crate::kernel::signal::first(deliver::pending_set(k, t) & want) {
        let info = deliver::take_pending(k, t, sig);
        if let (Some(info), true) = (info, a.u64(1) != 0) {
            t.mm.lock().copy_out(&mut k.frames, a.u64(1), &info.0)?;
        }
        return Ok(u64::from(sig));
    }
    let now = k.host().clocks().monotonic_ns;
    if a.u64(2) != 0 {
        let rel = super::time::read_timespec(k, t, a.u64(2))?;
        let deadline = t.deadline_after(now, rel);
        if now >= deadline {
            return Err(SysError::new(errno::EAGAIN, "timed out"));
        }
    }
    // Wanted signals are normally blocked; wake on any signal and re-check.
    t.wait_on(WaitKey::Signal);
    Err(SysError::block())
}

/// Implements Linux `sigaltstack(2)`.
pub fn sys_sigaltstack<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let (ss, old) = (a.u64(0), a.u64(1));
    let (sp, size, flags) = t.altstack;
    let on = flags & SS_DISABLE == 0 && t.regs.rsp > sp && t.regs.rsp <= sp + size;
    if old != 0 {
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&sp.to_le_bytes());
        let f = if on { SS_ONSTACK } else { flags };
        b[8..12].copy_from_slice(&f.to_le_bytes());
        b[16..].copy_from_slice(&size.to_le_bytes());
        t.mm.lock().copy_out(&mut k.frames, old, &b)?;
    }
    if ss != 0 {
        let mut b = [0u8; 24];
        t.mm.lock().copy_in(&mut k.frames, ss, &mut b)?;
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[..8]);
        let nsp = u64::from_le_bytes(x);
        let nflags = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
        x.copy_from_slice(&b[16..]);
        let nsize = u64::from_le_bytes(x);
        if on {
            return Err(SysError::new(errno::EPERM, "on the alternate stack"));
        }
        if nflags & !(SS_DISABLE | SS_ONSTACK | SS_AUTODISARM) != 0 {
            return Err(SysError::einval("bad sigaltstack flags"));
        }
        if nflags & SS_DISABLE != 0 {
            t.altstack = (0, 0, SS_DISABLE);
        } else {
            if nsize < MINSIGSTKSZ {
                return Err(SysError::new(errno::ENOMEM, "alternate stack too small"));
            }
            t.altstack = (nsp, nsize, nflags & SS_AUTODISARM);
        }
    }
    Ok(0)
}

/// Implements Linux `getppid(2)`: 0 for the container's init.
pub fn sys_getppid<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, _a: &SyscallArgs) -> SysResult {
    Ok(u64::from(k.procs.get(&t.pid).map_or(0, |p| p.ppid)))
}

fn proc_of(k: &Kernel<impl Platform>, me: u32, pid: i32) -> Result<u32, SysError> {
    let pid = if pid == 0 { me } else { u32::try_from(pid).map_err(|_| SysError::new(errno::ESRCH, "bad pid"))? };
    k.procs
        .get(&pid)
        .filter(|p| p.zombie.is_none() || pid == me)
        .map(|p| p.pid)
        .ok_or(SysError::new(errno::ESRCH, "no such process"))
}

/// Implements Linux `getpgid(2)`.
pub fn sys_getpgid<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let p = proc_of(k, t.pid, a.int(0))?;
    Ok(u64::from(k.procs.get(&p).map_or(0, |p| p.pgid)))
}

/// Implements Linux `getpgrp(2)`.
pub fn sys_getpgrp<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, _a: &SyscallArgs) -> SysResult {
    Ok(u64::from(k.procs.get(&t.pid).map_or(0, |p| p.pgid)))
}

/// Implements Linux `getsid(2)`.
pub fn sys_getsid<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let p = proc_of(k, t.pid, a.int(0))?;
    Ok(u64::from(k.procs.get(&p).map_or(0, |p| p.sid)))
}

/// Implements Linux `setpgid(2)`.
pub fn sys_setpgid<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let pgid = a.int(1);
    if pgid < 0 {
        return Err(SysError::einval("negative pgid"));
    }
    let target = proc_of(k, t.pid, a.int(0))?;
    let me = k.procs.get(&t.pid).ok_or(SysError::new(errno::ESRCH, "no process"))?;
    let my_sid = me.sid;
    let tp = k.procs.get(&target).ok_or(SysError::new(errno::ESRCH, "no such process"))?;
    if target != t.pid && tp.ppid != t.pid {
        return Err(SysError::new(errno::ESRCH, "not the caller or its child"));
    }
    if target != t.pid && tp.execed {
        return Err(SysError::new(errno::EACCES, "child has exec'd"));
    }
    if tp.sid != my_sid || tp.sid == target {
        return Err(SysError::new(errno::EPERM, "session leader or other session"));
    }
    let pgid = if pgid == 0 { target } else { pgid.cast_unsigned() };
    if pgid != target && !k.procs.values().any(|p| p.pgid == pgid && p.sid == my_sid) {
        return Err(SysError::new(errno::EPERM, "no such group in the session"));
    }
    if let Some(p) = k.procs.get_mut(&target) {
        p.pgid = pgid;
    }
    Ok(0)
}

/// Implements Linux `setsid(2)`.
pub fn sys_setsid<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, _a: &SyscallArgs) -> SysResult {
    let pid = t.pid;
    if k.procs.values().any(|p| p.pgid == pid) {
        return Err(SysError::new(errno::EPERM, "already a process group leader"));
    }
    if let Some(p) = k.procs.get_mut(&pid) {
        p.pgid = pid;
        p.sid = pid;
    }
    Ok(u64::from(pid))
}

/// Implements Linux `sched_yield(2)`.
pub fn sys_sched_yield<P: Platform>(k: &mut Kernel<P>, _t: &mut Task<P::AddressSpace>, _a: &SyscallArgs) -> SysResult {
    k.yield_now = true;
    Ok(0)
}
