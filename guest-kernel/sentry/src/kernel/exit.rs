//! Exit and wait: threads and processes ending, zombies, reparenting to the
//! container's init, and the statuses parents collect.

use alloc::boxed::Box;
use alloc::sync::Arc;

use super::process::{status, Report};
use super::signal::SigInfo;
use super::task::{RunState, Task, WaitKey};
use super::{futex, Kernel};
use crate::error::SysError;
use crate::platform::{AddressSpace, ExitStatus, Platform};
use abi::linux::errno;
use abi::linux::signal::*;
use abi::linux::wait::*;

/// Ends the whole process of `t` with wait status `st` (exit_group, a fatal
/// signal): every other thread dies now, `t` when the scheduler releases it.
pub fn exit_group<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, st: i32) {
    if let Some(p) = k.procs.get_mut(&t.pid) {
        p.group_exit.get_or_insert(st);
    }
    kill_other_threads(k, t);
    t.exit_status = st;
    t.state = RunState::Dead;
}

/// Frees a dead task: clears its `clear_child_tid` word, releases its
/// parent from vfork, drops its share of memory and files, and ends the
/// process when it was the last thread.
pub fn release_task<P: Platform>(k: &mut Kernel<P>, mut t: Box<Task<P::AddressSpace>>) {
    // CLONE_CHILD_CLEARTID: zero the word and wake one waiter (pthread_join),
    // when some other task still uses this memory.
    if t.clear_child_tid != 0 && Arc::strong_count(&t.mm) > 1 {
        let addr = t.clear_child_tid;
        let ok = t.mm.lock().copy_out(&mut k.frames, addr, &0u32.to_le_bytes()).is_ok();
        if ok {
            futex::wake_address(k, &mut t, addr, 1, u32::MAX, false);
        }
    }
    if let Some(parent) = t.vfork_parent.take() {
        k.wake(WaitKey::Vfork(parent));
    }
    t.mm.lock().space_mut().release_thread(t.thread_id);
    if Arc::strong_count(&t.mm) == 1 {
        // The last thread of init ends the sandbox (process_exit): its page
        // tables and frames go with the VM. Tearing them down would only
        // cost time (on PVM each cleared entry of the loaded table pair is
        // an emulated write, ~35 us).
        let ends_sandbox = t.pid == 1 && k.procs.get(&t.pid).is_some_and(|p| p.threads == [t.tid]);
        if !ends_sandbox {
            t.mm.lock().destroy(&mut k.frames);
        }
        k.release_unused_files(None);
    }
    let (pid, tid) = (t.pid, t.tid);
    let (ut, st) = (t.utime_ns, t.stime_ns);
    let exit_status = t.exit_status;
    let exit_signal = t.exit_signal;
    drop(t);
    let last = match k.procs.get_mut(&pid) {
        Some(p) => {
            p.threads.retain(|&x| x != tid);
            p.utime_ns += ut;
            p.stime_ns += st;
            p.threads.is_empty()
        }
        None => false,
    };
    if last {
        process_exit(k, pid, exit_status, exit_signal);
    }
}

/// The last thread of `pid` is gone: the process becomes a zombie (or is
/// reaped at once), its children go to init, its parent is told.
fn process_exit<P: Platform>(k: &mut Kernel<P>, pid: u32, thread_status: i32, exit_signal: u32) {
    let Some(p) = k.procs.get_mut(&pid) else { return };
    let st = p.group_exit.unwrap_or(thread_status);
    p.zombie = Some(st);
    p.pending = Default::default();
    p.timers = Default::default();
    let children = core::mem::take(&mut p.children);
    let ppid = p.ppid;
    let leader = p.sid == pid;
    if pid == 1 {
        // The container's init ended: the sandbox ends with its status.
        let status = if st & 0x7f == 0 {
            ExitStatus::Exited(u8::try_from((st >> 8) & 0xff).unwrap_or(0))
        } else {
            ExitStatus::Signaled(u32::try_from(st & 0x7f).unwrap_or(0))
        };
        k.exit(status);
    }
    if leader {
        crate::syscalls::tty::session_leader_exited(k, None, pid);
    }
    // Orphans go to the nearest live subreaper ancestor, else init, which
    // is told about any that are zombies already.
    let reaper = new_reaper(k, ppid);
    let mut zombie_orphan = false;
    for c in &children {
        if let Some(cp) = k.procs.get_mut(c) {
            cp.ppid = reaper;
            zombie_orphan |= cp.zombie.is_some();
        }
    }
    for &c in &children {
        death_signal(k, c);
    }
    if let Some(r) = k.procs.get_mut(&reaper) {
        r.children.extend(children);
    }
    if zombie_orphan {
        k.wake(WaitKey::ChildOf(reaper));
    }
    if ppid == 0 {
        // Exec'd from the host: its parent is outside the container.
        super::control::report_exit(k, pid, st);
        return;
    }
    let (code, s) = status::child_code(st);
    let info = SigInfo::child(code, pid, s, 0, 0);
    let reap_now = parent_ignores_children(k, ppid);
    if exit_signal != 0 && !reap_now {
        let mut info = info;
        info.0[0..4].copy_from_slice(&exit_signal.to_le_bytes());
        notify_parent(k, ppid, info, false);
    }
    if reap_now {
        reap(k, ppid, pid);
    }
    k.wake(WaitKey::ChildOf(ppid));
}

/// The process that adopts the children of an exiting process whose
/// parent is `ppid`: the nearest subreaper among the ancestors, or init.
fn new_reaper<P: Platform>(k: &Kernel<P>, mut ppid: u32) -> u32 {
    // Bounded: a pid chain cannot be longer than the process table.
    for _ in 0..k.procs.len() {
        match k.procs.get(&ppid) {
            Some(p) if p.pid == 1 => return 1,
            Some(p) if p.subreaper && p.zombie.is_none() => return p.pid,
            Some(p) => ppid = p.ppid,
            None => return 1,
        }
    }
    1
}

/// Sends the parent-death signal (PR_SET_PDEATHSIG) of the threads of
/// orphaned process `pid` that asked for one.
fn death_signal<P: Platform>(k: &mut Kernel<P>, pid: u32) {
    let threads = k.procs.get(&pid).map(|p| p.threads.clone()).unwrap_or_default();
    for tid in threads {
        let Some(sig) = k.tasks.get(&tid).map(|t| t.pdeath_signal).filter(|&s| s != 0) else { continue };
        let info = SigInfo::from_process(sig, abi::linux::signal::SI_USER, 0, 0);
        super::deliver::post_kernel_signal(k, tid, info);
    }
}

/// Whether `ppid` has SIGCHLD ignored or SA_NOCLDWAIT: its children are
/// reaped as they exit.
fn parent_ignores_children<P: Platform>(k: &Kernel<P>, ppid: u32) -> bool {
    let Some(leader) = k.procs.get(&ppid).and_then(|p| p.threads.first().copied()) else { return false };
    k.tasks.get(&leader).is_some_and(|t| {
        let a = t.sighand.lock().get(SIGCHLD);
        a.handler == SIG_IGN || a.flags & SA_NOCLDWAIT != 0
    })
}

/// Sends `info` (SIGCHLD or the child's exit signal) to parent `ppid` and
/// wakes its waiters. `stop` reports are not sent under SA_NOCLDSTOP.
pub fn notify_parent<P: Platform>(k: &mut Kernel<P>, ppid: u32, info: SigInfo, stop: bool) {
    let Some(leader) = k.procs.get(&ppid).and_then(|p| p.threads.first().copied()) else { return };
    let sig = info.signo();
    let (ignored, nocldstop) = match k.tasks.get(&leader) {
        Some(t) => {
            let h = t.sighand.lock();
            // A blocked signal is queued even if ignored (see deliver::dropped).
            (h.ignores(sig) && t.sigmask & bit(sig) == 0, h.get(sig).flags & SA_NOCLDSTOP != 0)
        }
        None => (false, false),
    };
    k.wake(WaitKey::ChildOf(ppid));
    if ignored || (stop && nocldstop) {
        return;
    }
    let threads = match k.procs.get_mut(&ppid) {
        Some(p) => {
            p.pending.push(info);
            super::deliver::signal_queued();
            p.threads.clone()
        }
        None => return,
    };
    for tid in threads {
        super::deliver::signal_wake(k, tid, sig);
    }
}

/// Removes zombie `pid` of parent `ppid`, adding its times to the parent's.
fn reap<P: Platform>(k: &mut Kernel<P>, ppid: u32, pid: u32) {
    let Some(z) = k.procs.remove(&pid) else { return };
    if let Some(p) = k.procs.get_mut(&ppid) {
        p.children.retain(|&c| c != pid);
        p.child_utime_ns += z.utime_ns + z.child_utime_ns;
        p.child_stime_ns += z.stime_ns + z.child_stime_ns;
    }
}

/// Which children a wait is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Any,
    Pid(u32),
    Pgid(u32),
}

/// A collected child state change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waited {
    pub pid: u32,
    /// The wait status (`wait4`).
    pub status: i32,
    /// `si_code` and `si_status` (`waitid`).
    pub code: i32,
    pub si_status: i32,
    pub utime_ns: u64,
    pub stime_ns: u64,
}

/// Looks for a child state change of `t`'s process matching `which` and
/// `options` (WEXITED, WUNTRACED/WSTOPPED, WCONTINUED, WNOWAIT). Returns
/// `Ok(None)` when there are matching children but none has changed.
pub fn wait_child<P: Platform>(
    k: &mut Kernel<P>,
    t: &Task<P::AddressSpace>,
    which: Which,
    options: u32,
) -> Result<Option<Waited>, SysError> {
    let me = t.pid;
    let children = k.procs.get(&me).map(|p| p.children.clone()).unwrap_or_default();
    let mut any = false;
    for c in children {
        let Some(cp) = k.procs.get(&c) else { continue };
        let matches = match which {
            Which::Any => true,
            Which::Pid(p) => p == c,
            Which::Pgid(g) => cp.pgid == g,
        };
        // __WALL takes every child, __WCLONE only clone children, neither
        // only the others.
        let kind_ok = options & WALL != 0 || (options & WCLONE != 0) == cp.clone_child;
        if !matches || !kind_ok {
            continue;
        }
        any = true;
        if let Some(st) = cp.zombie {
            if options & WEXITED == 0 {
                continue;
            }
            let (code, si_status) = status::child_code(st);
            let w = Waited {
                pid: c,
                status: st,
                code,
                si_status,
                utime_ns: cp.utime_ns + cp.child_utime_ns,
                stime_ns: cp.stime_ns + cp.child_stime_ns,
            };
            if options & WNOWAIT == 0 {
                reap(k, me, c);
            }
            return Ok(Some(w));
        }
        let report = cp.report;
        let take = match report {
            Some(Report::Stopped(sig)) if options & WSTOPPED != 0 => Some(Waited {
                pid: c,
                status: status::stopped(sig),
                code: CLD_STOPPED,
                si_status: sig.cast_signed(),
                utime_ns: 0,
                stime_ns: 0,
            }),
            Some(Report::Continued) if options & WCONTINUED != 0 => Some(Waited {
                pid: c,
                status: status::CONTINUED,
                code: CLD_CONTINUED,
                si_status: SIGCONT.cast_signed(),
                utime_ns: 0,
                stime_ns: 0,
            }),
            _ => None,
        };
        if let Some(w) = take {
            if options & WNOWAIT == 0 {
                if let Some(cp) = k.procs.get_mut(&c) {
                    cp.report = None;
                }
            }
            return Ok(Some(w));
        }
    }
    if !any {
        return Err(SysError::new(errno::ECHILD, "no matching child"));
    }
    Ok(None)
}

/// Ends every thread of `t`'s process but `t` (exec, exit_group).
pub fn kill_other_threads<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>) {
    let threads = k.procs.get(&t.pid).map(|p| p.threads.clone()).unwrap_or_default();
    for tid in threads {
        if tid != t.tid {
            if let Some(mut o) = k.tasks.remove(&tid) {
                o.state = RunState::Dead;
                k.runq.remove(tid);
                release_task(k, o);
            }
        }
    }
}
