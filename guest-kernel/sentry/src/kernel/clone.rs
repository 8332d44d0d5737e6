//! clone, fork and vfork: new tasks sharing or copying the parent's state.

use alloc::boxed::Box;
use alloc::sync::Arc;

use super::process::Process;
use super::shared::Shared;
use super::signal::SigPending;
use super::task::{RunState, Task, WaitKey};
use super::Kernel;
use crate::error::{SysError, SysResult};
use crate::platform::{AddressSpace, Platform};
use abi::linux::clone::*;
use abi::linux::errno;
use abi::linux::signal::SS_DISABLE;

/// What clone is asked to do (clone's and clone3's arguments).
#[derive(Debug, Clone, Copy, Default)]
pub struct CloneArgs {
    pub flags: u64,
    pub exit_signal: u32,
    /// New stack pointer, 0 to keep the parent's.
    pub stack: u64,
    pub parent_tid: u64,
    pub child_tid: u64,
    pub tls: u64,
}

/// Flags that ask for namespaces or tracing: refused, the sandbox has one of each.
const UNSUPPORTED: u64 = CLONE_NEWNS
    | CLONE_NEWCGROUP
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET
    | CLONE_PTRACE
    | CLONE_PIDFD;

/// Creates the child task; returns its tid to the parent. For CLONE_VFORK
/// the parent then blocks until the child execs or exits (a retry of the
/// syscall finds `t.progress` set and only waits).
pub fn clone<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &CloneArgs) -> SysResult {
    if t.progress != 0 {
        // vfork: the child exists; wait for it to let go of our memory.
        let child = u32::try_from(t.progress).unwrap_or(0);
        if k.tasks.get(&child).is_some_and(|c| c.vfork_parent == Some(t.tid)) {
            t.wait_on(WaitKey::Vfork(t.tid));
            return Err(SysError::block());
        }
        return Ok(t.progress);
    }
    let f = a.flags;
    if f & UNSUPPORTED != 0 {
        return Err(SysError::new(errno::EPERM, "namespaces and tracing are not available in the sandbox"));
    }
    if f & CLONE_THREAD != 0 && f & CLONE_SIGHAND == 0 {
        return Err(SysError::einval("CLONE_THREAD without CLONE_SIGHAND"));
    }
    if f & CLONE_SIGHAND != 0 && f & CLONE_VM == 0 {
        return Err(SysError::einval("CLONE_SIGHAND without CLONE_VM"));
    }
    let id = k.alloc_id().ok_or(SysError::new(errno::EAGAIN, "no free pid"))?;
    let mm = if f & CLONE_VM != 0 {
        Arc::clone(&t.mm)
    } else {
        let space = k
            .platform
            .new_address_space(&mut k.frames)
            .map_err(|_| SysError::enomem("no memory for an address space"))?;
        let child = t.mm.lock().fork(&mut k.frames, space)?;
        Shared::new(child)
    };
    let fds = if f & CLONE_FILES != 0 { Arc::clone(&t.fds) } else { Shared::new(t.fds.lock().clone()) };
    let sighand = if f & CLONE_SIGHAND != 0 { Arc::clone(&t.sighand) } else { Shared::new(t.sighand.lock().clone()) };
    let mut regs = t.regs;
    regs.rax = 0;
    if a.stack != 0 {
        regs.rsp = a.stack;
    }
    if f & CLONE_SETTLS != 0 {
        if a.tls >= abi::layout::USER_END {
            return Err(SysError::new(errno::EPERM, "TLS base outside user space"));
        }
        regs.fs_base = a.tls;
    }
    regs.rcx = regs.rip;
    regs.r11 = regs.rflags;
    let pid = if f & CLONE_THREAD != 0 { t.pid } else { id };
    super::sync_fp(k, t);
    let child = Box::new(Task {
        regs,
        fp: t.fp,
        mm,
        fds,
        fs: if f & CLONE_FS != 0 { Arc::clone(&t.fs) } else { Shared::new(t.fs()) },
        sighand,
        tid: id,
        thread_id: crate::platform::ThreadId::fresh(),
        pid,
        clear_child_tid: if f & CLONE_CHILD_CLEARTID != 0 { a.child_tid } else { 0 },
        robust_list: (0, 0),
        sigmask: t.sigmask,
        saved_sigmask: None,
        pending: SigPending::default(),
        // A thread sharing memory without vfork must not share the parent's
        // alternate stack.
        altstack: if f & CLONE_VM != 0 && f & CLONE_VFORK == 0 { (0, 0, SS_DISABLE) } else { t.altstack },
        rlimits: t.rlimits,
        umask: t.umask,
        creds: t.creds.clone(),
        pdeath_signal: 0,
        dumpable: t.dumpable,
        comm: t.comm,
        state: RunState::Runnable,
        in_syscall: false,
        waits: alloc::vec::Vec::new(),
        deadline: None,
        timeout: None,
        woken: false,
        progress: 0,
        futex: None,
        orig_rax: 0,
        vfork_parent: (f & CLONE_VFORK != 0).then_some(t.tid),
        exit_signal: if f & CLONE_THREAD != 0 { 0 } else { a.exit_signal },
        exit_status: 0,
        utime_ns: 0,
        stime_ns: 0,
    });
    if f & CLONE_CHILD_SETTID != 0 {
        child.mm.lock().copy_out(&mut k.frames, a.child_tid, &id.to_le_bytes())?;
    }
    if f & CLONE_PARENT_SETTID != 0 {
        t.mm.lock().copy_out(&mut k.frames, a.parent_tid, &id.to_le_bytes())?;
    }
    if f & CLONE_VM != 0 {
        // Another thread in this address space: the platform may give it
        // a host thread now (ptrace: a stub thread), which the host may
        // refuse, as Linux's clone fails with EAGAIN at the thread limit.
        child
            .mm
            .lock()
            .space_mut()
            .add_thread(child.thread_id)
            .map_err(|_| SysError::new(errno::EAGAIN, "no host thread for the new thread"))?;
    }
    if f & CLONE_THREAD != 0 {
        if let Some(p) = k.procs.get_mut(&t.pid) {
            p.threads.push(id);
        }
    } else {
        let Some(me) = k.procs.get(&t.pid) else {
            child.mm.lock().space_mut().release_thread(child.thread_id);
            return Err(SysError::new(errno::ESRCH, "parent process gone"));
        };
        let ppid = if f & CLONE_PARENT != 0 { me.ppid } else { t.pid };
        let mut p = Process::new(id, ppid, me.pgid, me.sid);
        p.cmdline = me.cmdline.clone();
        p.clone_child = a.exit_signal != abi::linux::signal::SIGCHLD;
        p.exe = me.exe.clone();
        p.env = me.env;
        p.start_ns = crate::platform::Host::clocks(k.host()).monotonic_ns;
        k.procs.insert(id, p);
        if let Some(parent) = k.procs.get_mut(&ppid) {
            parent.children.push(id);
        }
    }
    k.tasks.insert(id, child);
    k.runq.push(id);
    if f & CLONE_VFORK != 0 {
        t.progress = u64::from(id);
        t.wait_on(WaitKey::Vfork(t.tid));
        return Err(SysError::block());
    }
    Ok(u64::from(id))
}
