//! Control requests from the host (`abi::control`): signals, the process
//! list, counters, and exec of a new process into the running container.
//!
//! The scheduler calls [`serve`] when the host's pending flag is up (one
//! memory read, [`crate::platform::Host::control_pending`]); no task is
//! running then. Requests come from the sandbox process, which checks its
//! own callers, but they are decoded as carefully as anything else.

use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;

use super::exec;
use super::fd::{FdTable, File};
use super::process::Process;
use super::shared::Shared;
use super::signal::SigInfo;
use super::task::{RunState, Task};
use super::Kernel;
use crate::error::SysError;
use crate::fs::tty::{self, HostLink, TtyFile};
use crate::platform::{Host, Platform};
use abi::control::{
    state, DecodeError, Header, Kind, ProcessEntry, Reader, SignalTarget, Writer, CONTROL_VERSION, EXEC_CAPS,
    EXEC_TERMINAL, LOG_STRACE, MAX_LIST, MAX_REPLY, MAX_REQUEST,
};
use abi::hostcall::LogLevel;
use abi::linux::{errno, Winsize};

/// Requests served per call, so that a flood cannot starve the tasks.
const BATCH: usize = 16;

/// Fetches and answers the waiting requests.
pub fn serve<P: Platform>(k: &mut Kernel<P>) {
    let mut buf = vec![0u8; MAX_REQUEST];
    for _ in 0..BATCH {
        let n = match k.host().control_fetch(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) => {
                k.log(LogLevel::Warn, &alloc::format!("control fetch failed: errno {e}"));
                return;
            }
        };
        let mut r = Reader::new(&buf[..n]);
        let Ok(h) = Header::read(&mut r) else {
            k.log(LogLevel::Warn, "control request with a bad header dropped");
            continue;
        };
        let body = match Kind::from_raw(h.kind) {
            Some(Kind::Signal) => signal(k, &mut r).map(|()| Vec::new()),
            Some(Kind::Processes) => Ok(processes(k)),
            Some(Kind::Stats) => Ok(stats(k)),
            Some(Kind::Exec) => exec_request(k, &mut r),
            Some(Kind::Stacks) => Ok(super::stacks::dump(k)),
            Some(Kind::Logging) => logging(k, &mut r).map(|()| Vec::new()),
            Some(Kind::Exited) | None => Err(SysError::new(errno::EINVAL, "unknown control request")),
        };
        let (status, body) = match body {
            Ok(b) => (0, b),
            Err(e) => (-e.errno, Vec::new()),
        };
        let mut out = vec![0u8; Header::SIZE + body.len()];
        let mut w = Writer::new(&mut out);
        Header { version: CONTROL_VERSION, id: h.id, kind: h.kind, status }.write(&mut w);
        out[Header::SIZE..].copy_from_slice(&body);
        if let Err(e) = k.host().control_reply(&out) {
            k.log(LogLevel::Warn, &alloc::format!("control reply refused: errno {e}"));
        }
    }
}

fn bad(_: DecodeError) -> SysError {
    SysError::new(errno::EINVAL, "malformed control request")
}

/// `Signal`: to one process, every process, or init's process group (the
/// sandbox has no terminal foreground group of its own yet).
fn signal<P: Platform>(k: &mut Kernel<P>, r: &mut Reader<'_>) -> Result<(), SysError> {
    let target = SignalTarget::from_raw(r.u32().map_err(bad)?).ok_or(SysError::new(errno::EINVAL, "target"))?;
    let pid = r.u32().map_err(bad)?;
    let sig = r.u32().map_err(bad)?;
    if sig > abi::linux::signal::NSIG {
        return Err(SysError::new(errno::EINVAL, "signal number out of range"));
    }
    let info = || SigInfo::from_process(sig, abi::linux::signal::SI_USER, 0, 0);
    let live = |k: &Kernel<P>, f: &dyn Fn(&Process) -> bool| -> Vec<u32> {
        k.procs.values().filter(|p| p.zombie.is_none() && f(p)).map(|p| p.pid).collect()
    };
    let pids = match target {
        SignalTarget::Process => vec![pid],
        SignalTarget::All => live(k, &|_| true),
        SignalTarget::Foreground => {
            let pgid = k.procs.get(&1).map_or(1, |p| p.pgid);
            live(k, &|p| p.pgid == pgid)
        }
    };
    let mut result = Ok(());
    // Init last, so that its end (which ends the sandbox) comes after the
    // others got theirs.
    let (init, others): (Vec<u32>, Vec<u32>) = pids.into_iter().partition(|&p| p == 1);
    for p in others.into_iter().chain(init) {
        if let Err(e) = super::deliver::send_process_from_host(k, p, info()) {
            result = Err(e);
        }
    }
    result
}

/// `Logging`: what the sentry logs from now on (syscall tracing on or
/// off; the host filters the levels of the other lines itself).
fn logging<P: Platform>(k: &mut Kernel<P>, r: &mut Reader<'_>) -> Result<(), SysError> {
    let flags = r.u32().map_err(bad)?;
    if flags & !LOG_STRACE != 0 {
        return Err(SysError::new(errno::EINVAL, "unknown logging flags"));
    }
    k.params.strace = flags & LOG_STRACE != 0;
    Ok(())
}

fn process_state<P: Platform>(k: &Kernel<P>, p: &Process) -> u8 {
    if p.zombie.is_some() {
        state::ZOMBIE
    } else if p.stopped {
        state::STOPPED
    } else if p.threads.iter().any(|t| k.tasks.get(t).is_some_and(|t| t.state == RunState::Runnable)) {
        state::RUNNING
    } else {
        state::SLEEPING
    }
}

/// A reply body that is a list: a count, then the entries `write` puts
/// down for `items`, as many as fit whole in one reply.
pub(super) fn counted_reply<I: IntoIterator>(items: I, mut write: impl FnMut(I::Item, &mut Writer<'_>)) -> Vec<u8> {
    let mut out = vec![0u8; MAX_REPLY - Header::SIZE];
    let mut count = 0u32;
    let mut w = Writer::new(&mut out);
    w.u32(0);
    let mut fits = w.len();
    for item in items {
        write(item, &mut w);
        if w.overflowed() {
            break;
        }
        fits = w.len();
        count += 1;
    }
    out.truncate(fits);
    out[..4].copy_from_slice(&count.to_le_bytes());
    out
}

/// `Processes`: every process, as many as fit in a reply.
fn processes<P: Platform>(k: &Kernel<P>) -> Vec<u8> {
    counted_reply(k.procs.values(), |p, w| {
        let leader = p.threads.first().and_then(|t| k.tasks.get(t));
        let comm = leader.map_or(&[][..], |t| t.comm_name());
        let live_cpu: u64 = p.threads.iter().filter_map(|t| k.tasks.get(t)).map(|t| t.utime_ns + t.stime_ns).sum();
        ProcessEntry {
            pid: p.pid,
            ppid: p.ppid,
            uid: leader.map_or(0, |t| t.creds.euid),
            state: process_state(k, p),
            start_ns: p.start_ns,
            cpu_ns: p.utime_ns + p.stime_ns + live_cpu,
            tty: tty::stat_fields(p.sid).0,
            comm,
            cmdline: &p.cmdline,
        }
        .write(w);
    })
}

/// `Stats`: live processes, memory in use, CPU time.
fn stats<P: Platform>(k: &Kernel<P>) -> Vec<u8> {
    let pids = k.procs.values().filter(|p| p.zombie.is_none()).count();
    let used = k.frames.total().saturating_sub(k.frames.available()) * abi::layout::PAGE_SIZE;
    let mut out = vec![0u8; 28];
    let mut w = Writer::new(&mut out);
    w.u32(u32::try_from(pids).unwrap_or(u32::MAX));
    w.u64(used);
    w.u64(k.cpu.user_ns);
    w.u64(k.cpu.system_ns);
    out
}

fn list<'a>(r: &mut Reader<'a>) -> Result<Vec<&'a [u8]>, SysError> {
    let n = r.count(MAX_LIST).map_err(bad)?;
    (0..n).map(|_| r.bytes().map_err(bad)).collect()
}

/// `Exec`: a new process in init's root, as a session leader with no
/// parent inside the container (as a process entered from outside the
/// pid namespace); its end is reported to the host.
fn exec_request<P: Platform>(k: &mut Kernel<P>, r: &mut Reader<'_>) -> Result<Vec<u8>, SysError> {
    let argv: Vec<Vec<u8>> = list(r)?.into_iter().map(<[u8]>::to_vec).collect();
    let envp: Vec<Vec<u8>> = list(r)?.into_iter().map(<[u8]>::to_vec).collect();
    let cwd = r.bytes().map_err(bad)?.to_vec();
    let uid = r.u32().map_err(bad)?;
    let gid = r.u32().map_err(bad)?;
    let ngroups = r.count(MAX_LIST).map_err(bad)?;
    let groups: Vec<u32> = (0..ngroups).map(|_| r.u32().map_err(bad)).collect::<Result<_, _>>()?;
    let mut stdio = [0u32; 3];
    for s in &mut stdio {
        *s = r.u32().map_err(bad)?;
        // The host registers descriptors above its own stdio.
        if *s < 3 {
            return Err(SysError::new(errno::EBADF, "exec stdio must be registered descriptors"));
        }
    }
    let flags = r.u32().map_err(bad)?;
    if flags & !(EXEC_TERMINAL | EXEC_CAPS) != 0 {
        return Err(SysError::new(errno::EINVAL, "unknown exec flags"));
    }
    let caps = if flags & EXEC_CAPS != 0 {
        let mut v = [0u64; 5];
        for x in &mut v {
            *x = r.u64().map_err(bad)?;
        }
        let [bounding, effective, inheritable, permitted, ambient] = v;
        Some(super::container::CapSets { bounding, effective, inheritable, permitted, ambient })
    } else {
        None
    };
    let Some(name) = argv.first().cloned() else { return Err(SysError::new(errno::EINVAL, "empty argv")) };
    let mut fs = match k.tasks.get(&1) {
        Some(init) => init.fs(),
        None => return Err(SysError::new(errno::ESRCH, "the container's init is gone")),
    };
    if !cwd.is_empty() {
        let loc = fs.resolve(&fs.root, &cwd, true)?;
        if loc.node().file_kind()? != Some(crate::vfs::FileType::Directory) {
            return Err(SysError::new(errno::ENOTDIR, "exec cwd is not a directory"));
        }
        fs.cwd = loc;
    }
    // The same credentials as the container's init gets from its config,
    // as runc builds an exec from the spec's process.
    let spec = super::container::ProcessSpec { uid, gid, groups, caps, ..Default::default() };
    let c = spec.credentials();
    // The program is looked up and its exec permission checked as the
    // new process, as runc's execve after setuid does, not as init.
    fs.creds = Some(c.clone());
    let img = exec::load_program(k, &fs, &name, argv, &envp, true, None)?;
    let exe = exec::exe_path(&fs, &img.path, &envp, true);
    let pid = k.alloc_id().ok_or(SysError::new(errno::EAGAIN, "no free pid"))?;
    let mut task = Task::new(img.mm, fs, img.entry, img.sp, 0);
    task.set_comm_from_path(&img.path);
    task.tid = pid;
    task.pid = pid;
    task.fds = Shared::new(if flags & EXEC_TERMINAL != 0 {
        terminal_fds(k, pid, stdio)?
    } else {
        FdTable::with_host_fds(stdio)
    });
    task.creds = c;
    let mut proc = Process::new(pid, 0, pid, pid);
    proc.exe = exe;
    proc.env = img.env;
    proc.execed = true;
    proc.start_ns = k.host().clocks().monotonic_ns;
    proc.cmdline = img.argv.iter().flat_map(|a| a.iter().copied().chain(core::iter::once(0))).collect();
    k.procs.insert(pid, proc);
    k.tasks.insert(pid, Box::new(task));
    k.runq.push(pid);
    Ok(pid.to_le_bytes().to_vec())
}

/// fds 0, 1 and 2 of a process exec'd with a terminal: the slave of a new
/// pty whose master is on the host, the controlling terminal of the new
/// session `pid` with `pid` in the foreground.
fn terminal_fds<P: Platform>(k: &mut Kernel<P>, pid: u32, stdio: [u32; 3]) -> Result<FdTable, SysError> {
    let link = HostLink { read_fd: stdio[0], write_fd: stdio[1] };
    let (_, winsize) = k.host().poll_terminal(link.read_fd, 0, Winsize::default());
    let tty = tty::new_host_pty(link, winsize).ok_or(SysError::new(errno::ENOSPC, "no free pty"))?;
    {
        let mut s = tty.state.lock();
        s.session = Some(pid);
        s.pgrp = Some(pid);
    }
    let mut fds = FdTable::default();
    for fd in 0..3 {
        let file = File::Tty(TtyFile::open(tty.clone(), false, crate::vfs::file::flags::O_RDWR));
        fds.install_at(file, fd, 3, false)?;
    }
    Ok(fds)
}

/// An exec'd process (no parent in the container) ended with wait status
/// `st`: tells the host and drops the zombie, which nobody inside can
/// collect.
pub fn report_exit<P: Platform>(k: &mut Kernel<P>, pid: u32, st: i32) {
    k.procs.remove(&pid);
    let mut out = [0u8; Header::SIZE + 8];
    let mut w = Writer::new(&mut out);
    Header { version: CONTROL_VERSION, id: 0, kind: Kind::Exited as u32, status: 0 }.write(&mut w);
    w.u32(pid);
    w.u32(st.cast_unsigned());
    if let Err(e) = k.host().control_reply(&out) {
        k.log(LogLevel::Warn, &alloc::format!("exit report of {pid} refused: errno {e}"));
    }
}
