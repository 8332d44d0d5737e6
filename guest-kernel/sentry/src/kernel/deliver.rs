//! Sending and delivering signals: queueing with Linux's rules, waking or
//! interrupting the target, running handlers on an `rt_sigframe`, default
//! actions, and `rt_sigreturn`.

use super::creds::Credentials;
use super::exit;
use super::process::{status, Report};
use super::signal::{self as s, default_action, DefaultAction, SigInfo};
use super::task::{RunState, Task, WaitKey};
use super::Kernel;
use crate::error::SysError;
use crate::platform::Platform;
use abi::hostcall::LogLevel;
use abi::linux::caps::CAP_KILL;
use abi::linux::errno;
use abi::linux::signal::*;
use abi::linux::sysno;

/// Who sends a signal: a process inside the sandbox, or the kernel (faults,
/// SIGCHLD, SIGPIPE, timers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    User,
    Kernel,
}

/// Whether `info` to process `pid` is dropped at once: ignored signals, and
/// signals from inside the container to its init that it does not handle
/// (Linux's SIGNAL_UNKILLABLE for a pid namespace's init). A blocked signal
/// is never dropped: its disposition may change before it is unblocked.
fn dropped(hand_ignores: bool, handler: u64, blocked: bool, pid: u32, sig: u32, from: Sender) -> bool {
    if sig == SIGKILL || sig == SIGSTOP {
        return pid == 1 && from == Sender::User;
    }
    !blocked && (hand_ignores || (pid == 1 && from == Sender::User && handler == SIG_DFL))
}

/// Linux's kill permission check (check_kill_permission): CAP_KILL, or a
/// real or effective uid of the sender matching the target's real or saved
/// uid; SIGCONT within a session is always allowed.
fn may_signal(from: &Credentials, to: &Credentials, sig: u32, same_session: bool) -> bool {
    from.capable(CAP_KILL)
        || (sig == SIGCONT && same_session)
        || [from.ruid, from.euid].iter().any(|u| *u == to.ruid || *u == to.suid)
}

/// Sends `info` to process `pid` (`cur` is the running task). Returns
/// ESRCH if there is no such live process.
pub fn send_process<P: Platform>(
    k: &mut Kernel<P>,
    cur: &mut Task<P::AddressSpace>,
    pid: u32,
    info: SigInfo,
    from: Sender,
) -> Result<(), SysError> {
    let p = k.procs.get(&pid).ok_or(SysError::new(errno::ESRCH, "no such process"))?;
    if p.zombie.is_some() {
        return Ok(());
    }
    let sig = info.signo();
    let leader = p.threads.first().copied().unwrap_or(pid);
    let (hand, mask) = if cur.pid == pid {
        (cur.sighand.lock().clone(), cur.sigmask)
    } else {
        match k.tasks.get(&leader) {
            Some(t) => {
                let same_session = k.procs.get(&cur.pid).map(|p| p.sid) == Some(p.sid);
                if from == Sender::User && !may_signal(&cur.creds, &t.creds, sig, same_session) {
                    return Err(SysError::new(errno::EPERM, "no permission to signal that process"));
                }
                (t.sighand.lock().clone(), t.sigmask)
            }
            None => return Ok(()),
        }
    };
    queue_for_process(k, Some(cur), pid, info, &hand, mask, from);
    Ok(())
}

/// Sends `info` to process `pid` from outside the container (the host's
/// `kill`): no permission check, and init is not protected from it (as a
/// signal from an ancestor pid namespace). Returns ESRCH if there is no
/// such process. No task is running.
pub fn send_process_from_host<P: Platform>(k: &mut Kernel<P>, pid: u32, info: SigInfo) -> Result<(), SysError> {
    let p = k.procs.get(&pid).ok_or(SysError::new(errno::ESRCH, "no such process"))?;
    if p.zombie.is_some() {
        return Ok(());
    }
    let leader = p.threads.first().copied().unwrap_or(pid);
    let Some(t) = k.tasks.get(&leader) else { return Ok(()) };
    let (hand, mask) = (t.sighand.lock().clone(), t.sigmask);
    queue_for_process(k, None, pid, info, &hand, mask, Sender::Kernel);
    Ok(())
}

/// The common tail of sending to a process: job-control side effects, then
/// queue and wake unless dropped. `cur` is the running task, if any.
fn queue_for_process<P: Platform>(
    k: &mut Kernel<P>,
    mut cur: Option<&mut Task<P::AddressSpace>>,
    pid: u32,
    info: SigInfo,
    hand: &s::SigHand,
    mask: u64,
    from: Sender,
) {
    let sig = info.signo();
    if sig == 0 {
        return;
    }
    let act = hand.get(sig);
    if sig == SIGCONT || sig == SIGKILL {
        continue_process(k, cur.as_deref_mut(), pid);
    }
    if matches!(sig, SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU) {
        // A stop discards a pending SIGCONT, and SIGCONT discards stops.
        if let Some(p) = k.procs.get_mut(&pid) {
            p.pending.discard(bit(SIGCONT));
        }
    } else if sig == SIGCONT {
        if let Some(p) = k.procs.get_mut(&pid) {
            p.pending.discard(bit(SIGSTOP) | bit(SIGTSTP) | bit(SIGTTIN) | bit(SIGTTOU));
        }
    }
    if dropped(hand.ignores(sig), act.handler, mask & bit(sig) != 0, pid, sig, from) {
        return;
    }
    if let Some(p) = k.procs.get_mut(&pid) {
        p.pending.push(info);
    }
    signal_queued();
    // Wake the threads that can take it.
    let cur_tid = cur.map(|c| c.tid);
    let threads = k.procs.get(&pid).map(|p| p.threads.clone()).unwrap_or_default();
    for tid in threads {
        if Some(tid) == cur_tid {
            continue;
        }
        signal_wake(k, tid, sig);
    }
}

/// Queues a signal the kernel raises for thread `tid` when no task is
/// running (a parent's death): dropped if ignored and not blocked.
pub fn post_kernel_signal<P: Platform>(k: &mut Kernel<P>, tid: u32, info: SigInfo) {
    let sig = info.signo();
    let Some(t) = k.tasks.get_mut(&tid) else { return };
    let ignored = t.sighand.lock().ignores(sig);
    if dropped(ignored, t.sighand.lock().get(sig).handler, t.sigmask & bit(sig) != 0, t.pid, sig, Sender::Kernel) {
        return;
    }
    t.pending.push(info);
    signal_wake(k, tid, sig);
}

/// Sends `info` to thread `tid` (tkill, faults).
pub fn send_thread<P: Platform>(
    k: &mut Kernel<P>,
    cur: &mut Task<P::AddressSpace>,
    tid: u32,
    info: SigInfo,
    from: Sender,
) -> Result<(), SysError> {
    let sig = info.signo();
    let (pid, hand, mask) = if tid == cur.tid {
        (cur.pid, cur.sighand.lock().clone(), cur.sigmask)
    } else {
        let t = k.tasks.get(&tid).filter(|t| t.state != RunState::Dead);
        let t = t.ok_or(SysError::new(errno::ESRCH, "no such thread"))?;
        (t.pid, t.sighand.lock().clone(), t.sigmask)
    };
    if sig == 0 {
        return Ok(());
    }
    if sig == SIGCONT || sig == SIGKILL {
        continue_process(k, Some(&mut *cur), pid);
    }
    if dropped(hand.ignores(sig), hand.get(sig).handler, mask & bit(sig) != 0, pid, sig, from) {
        return Ok(());
    }
    if tid == cur.tid {
        cur.pending.push(info);
    } else if let Some(t) = k.tasks.get_mut(&tid) {
        t.pending.push(info);
        signal_wake(k, tid, sig);
    }
    signal_queued();
    Ok(())
}

/// A signal was queued: signalfds in epolls may have become readable
/// (Linux wakes the signalfd wait queue on every signal).
pub(crate) fn signal_queued() {
    crate::fs::epoll::post(WaitKey::Signal, abi::linux::poll::POLLIN);
}

/// Wakes a blocked task for a signal (its syscall is then interrupted);
/// SIGKILL also ends a stop.
pub(crate) fn signal_wake<P: Platform>(k: &mut Kernel<P>, tid: u32, sig: u32) {
    if let Some(t) = k.tasks.get_mut(&tid) {
        // A blocked signal still wakes a task that waits for signals as
        // such (sigtimedwait, a signalfd read): it re-checks what arrived.
        let takes = t.sigmask & bit(sig) == 0 || sig == SIGKILL || t.waits.contains(&WaitKey::Signal);
        let runs = t.state == RunState::Blocked || (sig == SIGKILL && t.state == RunState::Stopped);
        if takes && runs {
            t.state = RunState::Runnable;
            k.runq.push(tid);
        }
    }
}

/// Resumes a stopped process (SIGCONT, SIGKILL) and records the report.
fn continue_process<P: Platform>(k: &mut Kernel<P>, mut cur: Option<&mut Task<P::AddressSpace>>, pid: u32) {
    let Some(p) = k.procs.get_mut(&pid) else { return };
    if !p.stopped {
        return;
    }
    p.stopped = false;
    p.report = Some(Report::Continued);
    let (threads, ppid) = (p.threads.clone(), p.ppid);
    for tid in threads {
        if let Some(cur) = cur.as_deref_mut().filter(|c| c.tid == tid) {
            cur.state = RunState::Runnable;
        } else if let Some(t) = k.tasks.get_mut(&tid) {
            if t.state == RunState::Stopped {
                // A blocked syscall simply retries.
                t.state = RunState::Runnable;
                k.runq.push(tid);
            }
        }
    }
    k.wake(WaitKey::ChildOf(ppid));
}

/// Signals pending for `t`: sent to the thread or to its process.
pub fn pending_set<P: Platform>(k: &Kernel<P>, t: &Task<P::AddressSpace>) -> u64 {
    t.pending.set() | k.procs.get(&t.pid).map_or(0, |p| p.pending.set())
}

/// Dequeues one instance of `sig` for `t`, thread-directed first.
pub fn take_pending<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, sig: u32) -> Option<SigInfo> {
    let mut info = t.pending.take(sig).or_else(|| k.procs.get_mut(&t.pid).and_then(|p| p.pending.take(sig)))?;
    super::timer::dequeued(k, t.pid, &mut info);
    Some(info)
}

/// A signal that would interrupt `t`'s blocked syscall now: deliverable
/// (unblocked) and not ignored.
pub fn interrupting_signal<P: Platform>(k: &Kernel<P>, t: &Task<P::AddressSpace>) -> Option<u32> {
    let mut set = pending_set(k, t) & !t.sigmask;
    if k.procs.get(&t.pid).is_some_and(|p| p.group_exit.is_some()) {
        return Some(SIGKILL);
    }
    let hand = t.sighand.lock();
    while let Some(sig) = s::first(set) {
        if sig == SIGKILL || !(hand.ignores(sig) || is_job_control(&hand, sig)) {
            return Some(sig);
        }
        set &= !bit(sig);
    }
    None
}

/// A signal whose default action stops or continues the process: it acts
/// without ending a blocked syscall, which goes on after SIGCONT (Linux
/// restarts it transparently).
fn is_job_control(hand: &s::SigHand, sig: u32) -> bool {
    hand.get(sig).handler == SIG_DFL && matches!(default_action(sig), DefaultAction::Stop | DefaultAction::Continue)
}

/// Acts on the pending job-control signals of a task blocked in a syscall
/// (see [`is_job_control`]): a stop stops it with the syscall kept for
/// retry; SIGCONT and ignored signals are dropped. Other signals are left
/// for [`interrupt_syscall`] and [`deliver_signals`]. Returns whether the
/// task stopped.
pub fn job_control<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>) -> bool {
    loop {
        let set = pending_set(k, t) & !t.sigmask;
        let hand = t.sighand.lock().clone();
        let Some(sig) = s::first_matching(set, |sig| is_job_control(&hand, sig)) else { return false };
        let _ = take_pending(k, t, sig);
        if default_action(sig) == DefaultAction::Stop {
            stop_process(k, t, sig);
            return true;
        }
    }
}

/// Syscalls that `SA_RESTART` restarts after a handler (Linux's
/// ERESTARTSYS returners); the others fail with EINTR.
fn restartable(nr: u64) -> bool {
    matches!(
        nr,
        sysno::read
            | sysno::readv
            | sysno::write
            | sysno::writev
            | sysno::pread64
            | sysno::pwrite64
            | sysno::wait4
            | sysno::waitid
            | sysno::futex
            | sysno::open
            | sysno::openat
            | sysno::ioctl
            | sysno::accept
            | sysno::accept4
            | sysno::connect
            | sysno::recvfrom
            | sysno::recvmsg
            | sysno::sendto
            | sysno::sendmsg
            | sysno::flock
            | sysno::fcntl
    )
}

/// Ends `t`'s blocked syscall because a signal is to be delivered: EINTR,
/// or a restart (the syscall instruction runs again after the handler)
/// when the handler has SA_RESTART or the signal has no handler.
pub fn interrupt_syscall<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>) {
    let Some(sig) = interrupting_signal(k, t) else { return };
    let act = t.sighand.lock().get(sig);
    let nr = t.orig_rax;
    let partial = t.progress;
    let handler = act.handler != SIG_DFL && act.handler != SIG_IGN;
    if partial > 0 {
        // A write that moved some bytes returns the count.
        t.regs.rax = partial;
    } else if (handler && act.flags & SA_RESTART != 0 && restartable(nr)) || (!handler && restartable(nr)) {
        t.regs.rax = nr;
        t.regs.rip = t.regs.rip.wrapping_sub(2);
    } else {
        t.regs.rax = (-i64::from(errno::EINTR)).cast_unsigned();
    }
    t.regs.rcx = t.regs.rip;
    t.regs.r11 = t.regs.rflags;
    crate::syscalls::time::sleep_interrupted(k, t);
    if k.params.strace {
        let msg = alloc::format!("strace: <... interrupted by signal {sig}, syscall {nr}>");
        k.log(LogLevel::Info, &msg);
    }
    t.end_syscall();
}

/// A signal the kernel raises because of what the task did (a fault): if
/// the task blocks or ignores it, it gets the default action, as Linux's
/// force_sig does.
pub fn force_signal<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, info: SigInfo) {
    let sig = info.signo();
    {
        let mut hand = t.sighand.lock();
        let act = hand.get(sig);
        if act.handler == SIG_IGN || t.sigmask & bit(sig) != 0 {
            hand.set(sig, s::SigAction::default());
        }
    }
    t.sigmask &= !bit(sig);
    t.pending.push(info);
    // Faults are synchronous: act on them before anything else runs.
    deliver_signals(k, t);
}

/// Delivers `t`'s deliverable signals before it returns to user mode:
/// runs default actions, or sets up handler frames (nested, one per
/// signal, as Linux does when several are pending).
pub fn deliver_signals<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>) {
    loop {
        if k.procs.get(&t.pid).is_some_and(|p| p.group_exit.is_some()) {
            // Another thread ended the process.
            t.state = RunState::Dead;
            return;
        }
        let Some(sig) = s::first(pending_set(k, t) & !t.sigmask) else {
            if let Some(m) = t.saved_sigmask.take() {
                t.sigmask = m;
            }
            return;
        };
        let Some(info) = take_pending(k, t, sig) else { return };
        let act = t.sighand.lock().get(sig);
        match act.handler {
            SIG_IGN => {}
            SIG_DFL => match default_action(sig) {
                DefaultAction::Ignore | DefaultAction::Continue => {}
                DefaultAction::Stop => {
                    stop_process(k, t, sig);
                    return;
                }
                DefaultAction::Terminate | DefaultAction::Core => {
                    // The sentry writes no core files, so the status never
                    // has the core flag (as Linux with RLIMIT_CORE 0).
                    let core = false;
                    if k.params.strace {
                        let msg = alloc::format!("strace: --- killed by signal {} (rip {:#x}) ---", sig, t.regs.rip);
                        k.log(LogLevel::Info, &msg);
                    }
                    exit::exit_group(k, t, status::signaled(sig, core));
                    return;
                }
            },
            _ => {
                if setup_frame(k, t, &info, &act).is_err() {
                    // No room for the frame: the process dies of SIGSEGV.
                    exit::exit_group(k, t, status::signaled(SIGSEGV, true));
                    return;
                }
            }
        }
    }
}

/// Stops the process for job control and tells the parent.
fn stop_process<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, sig: u32) {
    let Some(p) = k.procs.get_mut(&t.pid) else { return };
    p.stopped = true;
    p.report = Some(Report::Stopped(sig));
    let (threads, ppid, pid) = (p.threads.clone(), p.ppid, p.pid);
    for tid in threads {
        if tid == t.tid {
            t.state = RunState::Stopped;
        } else if let Some(o) = k.tasks.get_mut(&tid) {
            if o.state == RunState::Runnable || o.state == RunState::Blocked {
                o.state = RunState::Stopped;
                k.runq.remove(tid);
            }
        }
    }
    exit::notify_parent(k, ppid, SigInfo::child(CLD_STOPPED, pid, sig.cast_signed(), 0, 0), true);
}

/// Pushes a handler frame for `info` and points the task at the handler.
fn setup_frame<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    info: &SigInfo,
    act: &s::SigAction,
) -> Result<(), SysError> {
    let sig = info.signo();
    let (ss_sp, ss_size, ss_flags) = t.altstack;
    let on_alt_now = ss_flags & SS_DISABLE == 0 && t.regs.rsp > ss_sp && t.regs.rsp <= ss_sp + ss_size;
    let use_alt = act.flags & SA_ONSTACK != 0 && ss_flags & SS_DISABLE == 0 && !on_alt_now;
    let top = if use_alt { ss_sp + ss_size } else { t.regs.rsp };
    let old_mask = t.saved_sigmask.take().unwrap_or(t.sigmask);
    let frame = s::build_frame(&t.regs, info, act.restorer, old_mask, t.altstack, top, use_alt || on_alt_now)
        .ok_or(SysError::efault("no room for a signal frame"))?;
    super::sync_fp(k, t);
    {
        let mut mm = t.mm.lock();
        mm.copy_out(&mut k.frames, frame.fp_at, &t.fp.as_bytes())?;
        mm.copy_out(&mut k.frames, frame.sp, &frame.bytes)?;
    }
    if use_alt && ss_flags & SS_AUTODISARM != 0 {
        t.altstack = (0, 0, SS_DISABLE);
    }
    t.regs.rip = act.handler;
    t.regs.rsp = frame.sp;
    t.regs.rdi = u64::from(sig);
    t.regs.rsi = frame.sp + s::frame_info_offset();
    t.regs.rdx = frame.sp + s::frame_ucontext_offset();
    t.regs.rax = 0;
    // The handler starts with DF clear, as the ABI requires.
    t.regs.rflags &= !(1 << 10);
    t.fp = crate::arch::FpState::new_user();
    let mut block = act.mask;
    if act.flags & SA_NODEFER == 0 {
        block |= bit(sig);
    }
    t.sigmask |= block & !(bit(SIGKILL) | bit(SIGSTOP));
    if act.flags & SA_RESETHAND != 0 {
        t.sighand.lock().set(sig, s::SigAction::default());
    }
    if k.params.strace {
        let msg = alloc::format!("strace: --- signal {sig} to handler {:#x} ---", act.handler);
        k.log(LogLevel::Info, &msg);
    }
    Ok(())
}

/// `rt_sigreturn`: restores the state saved in the frame at `rsp - 8`.
pub fn sigreturn<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>) -> Result<(), SysError> {
    let frame = t.regs.rsp.wrapping_sub(8);
    let mut uc = [0u8; 304];
    let mut fp = crate::arch::FpState::new_user();
    let restored = {
        let mut mm = t.mm.lock();
        mm.copy_in(&mut k.frames, frame + s::frame_ucontext_offset(), &mut uc)?;
        let mut regs = t.regs;
        let r = s::restore_frame(&mut regs, &uc);
        if r.fp_at != 0 {
            let mut b = [0u8; crate::arch::FPSTATE_BYTES];
            mm.copy_in(&mut k.frames, r.fp_at, &mut b)?;
            fp.set_bytes(&b);
        }
        t.regs = regs;
        r
    };
    s::sanitize_fp(&mut fp);
    super::sync_fp(k, t);
    t.fp = fp;
    t.sigmask = restored.mask & !(bit(SIGKILL) | bit(SIGSTOP));
    let (sp, size, flags) = restored.altstack;
    if flags & SS_DISABLE == 0 && size >= MINSIGSTKSZ {
        t.altstack = (sp, size, flags & SS_AUTODISARM);
    }
    Ok(())
}
