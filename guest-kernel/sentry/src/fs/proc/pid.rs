//! Per-process files: stat, statm, status, cmdline, environ, comm, maps,
//! mounts, mountinfo and fdinfo/N, in Linux's formats.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use super::node::{PidFile, Thread};
use super::view::{self, dev_numbers};
use super::ProcShared;
use crate::error::SysError;
use crate::kernel::fd::File;
use crate::kernel::process::Process;
use crate::kernel::task::RunState;
use crate::kernel::{Kernel, Task};
use crate::mm::{Backing, MemoryManager};
use crate::platform::{AddressSpace, Platform};
use abi::layout::PAGE_SIZE;
use abi::linux::errno;
use abi::linux::signal::{SIG_DFL, SIG_IGN};

/// Clock ticks per second (USER_HZ).
pub const HZ: u64 = 100;

/// Nanoseconds to clock ticks.
pub const fn ticks(ns: u64) -> u64 {
    ns / (1_000_000_000 / HZ)
}

fn gone() -> SysError {
    SysError::new(errno::ESRCH, "process has exited")
}

/// Generates `/proc/<pid>[/task/<tid>]/<f>`.
pub fn generate<P: Platform>(
    k: &Kernel<P>,
    t: &Task<P::AddressSpace>,
    fs: &ProcShared,
    th: Thread,
    f: PidFile,
) -> Result<Vec<u8>, SysError> {
    let p = k.procs.get(&th.pid).ok_or_else(gone)?;
    let task = view::task(k, t, th.tid).filter(|x| x.pid == th.pid);
    // A zombie keeps its stat and status; the rest needs a live thread.
    let live = || task.ok_or_else(gone);
    Ok(match f {
        PidFile::Stat => stat(k, t, p, th, task).into_bytes(),
        PidFile::Status => status::<P>(t, p, th, task).into_bytes(),
        PidFile::Statm => statm(&live()?.mm.lock()).into_bytes(),
        PidFile::Cmdline => p.cmdline.clone(),
        PidFile::Environ => Vec::new(),
        PidFile::Comm => {
            let mut c = live()?.comm_name().to_vec();
            c.push(b'\n');
            c
        }
        PidFile::Maps => maps(&live()?.mm.lock()).into_bytes(),
        PidFile::Mounts => super::system::mounts(fs).into_bytes(),
        PidFile::Mountinfo => super::system::mountinfo(fs).into_bytes(),
    })
}

/// `/proc/<pid>/environ`: the environment strings where exec put them on
/// the stack (as Linux, what the process may have written over since).
pub fn environ<P: Platform>(k: &mut Kernel<P>, t: &Task<P::AddressSpace>, th: Thread) -> Result<Vec<u8>, SysError> {
    let (start, end) = k.procs.get(&th.pid).ok_or_else(gone)?.env;
    let mm = alloc::sync::Arc::clone(&view::task(k, t, th.tid).filter(|x| x.pid == th.pid).ok_or_else(gone)?.mm);
    let len = usize::try_from(end.saturating_sub(start))
        .unwrap_or(0)
        .min(usize::try_from(crate::loader::ARG_MAX).unwrap_or(usize::MAX));
    let mut buf = alloc::vec![0u8; len];
    // Unreadable (unmapped since) reads as empty, as Linux's access_remote_vm.
    if mm.lock().copy_in(&mut k.frames, start, &mut buf).is_err() {
        buf.clear();
    }
    Ok(buf)
}

/// The one-letter state and its name in status.
fn state<A: AddressSpace>(p: &Process, task: Option<&Task<A>>, running: bool) -> (char, &'static str) {
    if p.zombie.is_some() || task.is_none() {
        return ('Z', "zombie");
    }
    if p.stopped {
        return ('T', "stopped");
    }
    match task.map(|x| x.state) {
        _ if running => ('R', "running"),
        Some(RunState::Runnable) => ('R', "running"),
        Some(RunState::Stopped) => ('T', "stopped"),
        Some(RunState::Dead) => ('X', "dead"),
        _ => ('S', "sleeping"),
    }
}

/// Memory sizes of an address space, in pages.
#[derive(Debug, Default, Clone, Copy)]
struct MemSizes {
    size: u64,
    resident: u64,
    text: u64,
    data: u64,
    stack: u64,
    start_code: u64,
    end_code: u64,
    start_stack: u64,
}

fn mem_sizes<A: AddressSpace>(mm: &MemoryManager<A>) -> MemSizes {
    let mut m = MemSizes::default();
    for v in mm.vmas() {
        let pages = (v.end - v.start) / PAGE_SIZE;
        m.size += pages;
        m.resident += mm.resident_pages(v.start, v.end);
        match v.backing {
            Backing::Stack => {
                m.stack += pages;
                m.start_stack = v.end;
            }
            _ if v.perms.exec => {
                m.text += pages;
                if m.start_code == 0 {
                    m.start_code = v.start;
                    m.end_code = v.end;
                }
            }
            _ if v.perms.write => m.data += pages,
            _ => {}
        }
    }
    m
}

fn sig_sets<A: AddressSpace>(task: &Task<A>) -> (u64, u64) {
    let hand = task.sighand.lock();
    let (mut ign, mut cgt) = (0u64, 0u64);
    for sig in 1..=64u32 {
        let h = hand.get(sig).handler;
        if h == SIG_IGN {
            ign |= 1 << (sig - 1);
        } else if h != SIG_DFL {
            cgt |= 1 << (sig - 1);
        }
    }
    (ign, cgt)
}

/// CPU time of the process (threads alive and exited), or of one thread.
fn cpu_ns<P: Platform>(k: &Kernel<P>, t: &Task<P::AddressSpace>, p: &Process, th: Thread) -> (u64, u64) {
    if th.in_task {
        return view::task(k, t, th.tid).map_or((0, 0), |x| (x.utime_ns, x.stime_ns));
    }
    p.threads
        .iter()
        .filter_map(|&tid| view::task(k, t, tid))
        .fold((p.utime_ns, p.stime_ns), |(u, s), x| (u + x.utime_ns, s + x.stime_ns))
}

/// `/proc/<pid>/stat`: the 52 fields of Linux's `do_task_stat`.
fn stat<P: Platform>(
    k: &Kernel<P>,
    t: &Task<P::AddressSpace>,
    p: &Process,
    th: Thread,
    task: Option<&Task<P::AddressSpace>>,
) -> String {
    let running = th.tid == t.tid;
    let (st, _) = state(p, task, running);
    let name = task.map_or(&[][..], |x| x.comm_name());
    let mem = task.map(|x| mem_sizes(&x.mm.lock())).unwrap_or_default();
    let (brk_start, _) = task.map(|x| x.mm.lock().brk_range()).unwrap_or_default();
    let (utime, stime) = cpu_ns(k, t, p, th);
    let (pending, blocked, (ign, cgt)) =
        task.map_or((0, 0, (0, 0)), |x| (x.pending.set() | p.pending.set(), x.sigmask, sig_sets(x)));
    let threads = if p.zombie.is_some() { 0 } else { p.threads.len() };
    let start = ticks(p.start_ns.saturating_sub(k.boot_ns));
    let exit_signal = task.map_or(17, |x| x.exit_signal);
    let exit_code = p.zombie.unwrap_or(0);
    let (tty_nr, tpgid) = crate::fs::tty::stat_fields(p.sid);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} ({}) {} {} {} {} {} {} 4194560 0 0 0 0 {} {} {} {} 20 0 {} 0 {} {} {} {} {} {} {} 0 0 {} {} {} {} 0 0 0 {} 0 0 0 0 0 0 0 0 {} 0 0 0 0 {}",
        th.tid,
        String::from_utf8_lossy(name),
        st,
        p.ppid,
        p.pgid,
        p.sid,
        tty_nr,
        tpgid,
        ticks(utime),
        ticks(stime),
        ticks(p.child_utime_ns),
        ticks(p.child_stime_ns),
        threads,
        start,
        mem.size * PAGE_SIZE,
        mem.resident,
        u64::MAX,
        mem.start_code,
        mem.end_code,
        mem.start_stack,
        pending,
        blocked,
        ign,
        cgt,
        exit_signal,
        brk_start,
        exit_code,
    );
    s
}

/// `/proc/<pid>/status`.
fn status<P: Platform>(
    t: &Task<P::AddressSpace>,
    p: &Process,
    th: Thread,
    task: Option<&Task<P::AddressSpace>>,
) -> String {
    let (st, st_name) = state(p, task, th.tid == t.tid);
    let name = task.map_or(&[][..], |x| x.comm_name());
    let mut s = String::new();
    let _ = writeln!(s, "Name:\t{}", String::from_utf8_lossy(name));
    let _ = writeln!(s, "Umask:\t{:04o}", task.map_or(0o022, |x| x.umask));
    let _ = writeln!(s, "State:\t{st} ({st_name})");
    let _ = writeln!(s, "Tgid:\t{}\nNgid:\t0\nPid:\t{}\nPPid:\t{}\nTracerPid:\t0", p.pid, th.tid, p.ppid);
    // A zombie's credentials are gone; Linux shows the last ones, we root's.
    let creds = task.map(|x| x.creds.clone()).unwrap_or_default();
    let _ = writeln!(s, "Uid:\t{}\t{}\t{}\t{}", creds.ruid, creds.euid, creds.suid, creds.fsuid);
    let _ = writeln!(s, "Gid:\t{}\t{}\t{}\t{}", creds.rgid, creds.egid, creds.sgid, creds.fsgid);
    let fd_size = task.map_or(0, |x| x.fds.lock().iter().last().map_or(0, |(n, _)| n + 1)).next_multiple_of(64);
    let groups: String = creds.groups.iter().map(|g| format!("{g} ")).collect();
    let _ = writeln!(s, "FDSize:\t{}\nGroups:\t{groups}", fd_size.max(64));
    let _ = writeln!(s, "NStgid:\t{}\nNSpid:\t{}\nNSpgid:\t{}\nNSsid:\t{}", p.pid, th.tid, p.pgid, p.sid);
    if let Some(x) = task {
        let m = mem_sizes(&x.mm.lock());
        let kb = |pages: u64| pages * PAGE_SIZE / 1024;
        let _ = writeln!(
            s,
            "VmPeak:\t{:8} kB\nVmSize:\t{:8} kB\nVmLck:\t       0 kB\nVmPin:\t       0 kB",
            kb(m.size),
            kb(m.size)
        );
        let _ = writeln!(s, "VmHWM:\t{:8} kB\nVmRSS:\t{:8} kB", kb(m.resident), kb(m.resident));
        let _ = writeln!(s, "RssAnon:\t{:8} kB\nRssFile:\t       0 kB\nRssShmem:\t       0 kB", kb(m.resident));
        let _ = writeln!(s, "VmData:\t{:8} kB\nVmStk:\t{:8} kB\nVmExe:\t{:8} kB", kb(m.data), kb(m.stack), kb(m.text));
        let _ = writeln!(s, "VmLib:\t       0 kB\nVmPTE:\t       0 kB\nVmSwap:\t       0 kB");
    }
    let threads = if p.zombie.is_some() { 0 } else { p.threads.len() };
    let _ = writeln!(s, "Threads:\t{threads}");
    let (pending, shared, blocked, (ign, cgt)) =
        task.map_or((0, 0, 0, (0, 0)), |x| (x.pending.set(), p.pending.set(), x.sigmask, sig_sets(x)));
    let queued = (pending | shared).count_ones();
    let limit = task.map_or(0, |x| x.rlimits[abi::linux::rlimit::RLIMIT_SIGPENDING as usize].cur);
    let _ = writeln!(s, "SigQ:\t{queued}/{limit}");
    let _ = writeln!(s, "SigPnd:\t{pending:016x}\nShdPnd:\t{shared:016x}\nSigBlk:\t{blocked:016x}");
    let _ = writeln!(s, "SigIgn:\t{ign:016x}\nSigCgt:\t{cgt:016x}");
    let c = &creds;
    let _ =
        writeln!(s, "CapInh:\t{:016x}\nCapPrm:\t{:016x}\nCapEff:\t{:016x}", c.inheritable, c.permitted, c.effective);
    let _ = writeln!(s, "CapBnd:\t{:016x}\nCapAmb:\t{:016x}", c.bounding, c.ambient);
    let _ = writeln!(s, "NoNewPrivs:\t{}", u8::from(c.no_new_privs));
    let _ = writeln!(s, "Seccomp:\t0\nCpus_allowed:\t1\nCpus_allowed_list:\t0");
    let _ = writeln!(s, "Mems_allowed:\t1\nMems_allowed_list:\t0");
    s
}

/// `/proc/<pid>/statm`: size resident shared text lib data dt, in pages.
fn statm<A: AddressSpace>(mm: &MemoryManager<A>) -> String {
    let m = mem_sizes(mm);
    format!("{} {} 0 {} 0 {} 0\n", m.size, m.resident, m.text, m.data + m.stack)
}

/// `/proc/<pid>/maps`.
fn maps<A: AddressSpace>(mm: &MemoryManager<A>) -> String {
    let mut s = String::new();
    for v in mm.vmas() {
        let perms = [
            if v.perms.read { 'r' } else { '-' },
            if v.perms.write { 'w' } else { '-' },
            if v.perms.exec { 'x' } else { '-' },
            if v.backing == Backing::Shared { 's' } else { 'p' },
        ];
        let name = match v.backing {
            Backing::Heap => "[heap]",
            Backing::Stack => "[stack]",
            // File mappings do not record the file's name yet.
            _ => "",
        };
        let line =
            format!("{:08x}-{:08x} {}{}{}{} 00000000 00:00 0", v.start, v.end, perms[0], perms[1], perms[2], perms[3]);
        if name.is_empty() {
            let _ = writeln!(s, "{line} ");
        } else {
            let _ = writeln!(s, "{line:<72} {name}");
        }
    }
    s
}

/// `/proc/<pid>/fdinfo/<fd>`.
pub fn fdinfo<P: Platform>(k: &Kernel<P>, t: &Task<P::AddressSpace>, th: Thread, fd: u32) -> Result<Vec<u8>, SysError> {
    let task = view::task(k, t, th.tid).filter(|x| x.pid == th.pid).ok_or_else(gone)?;
    let fds = task.fds.lock();
    let (_, d) = fds.iter().find(|(n, _)| *n == fd).ok_or(SysError::new(errno::ENOENT, "fd not open"))?;
    let cloexec = if d.cloexec { crate::vfs::file::flags::O_CLOEXEC } else { 0 };
    let (pos, flags, ino, dev) = match &d.file {
        File::Vfs(f) => {
            let st = f.node.stat()?;
            (f.offset(), f.flags(), st.ino, st.dev)
        }
        File::Pipe(p) => (0, *p.flags.lock(), p.id(), crate::vfs::PIPEFS_DEV),
        File::Socket(so) => (0, *so.flags.lock() | crate::vfs::file::flags::O_RDWR, so.id, crate::vfs::SOCKFS_DEV),
        File::Event(e) => {
            let st = e.stat();
            (0, e.status_flags(), st.ino, st.dev)
        }
        File::HostStdio { host_fd, .. } => {
            let s = k.params.stdio.get(*host_fd as usize).copied().unwrap_or_default();
            (0, if *host_fd == 0 { 0 } else { 1 }, s.ino, s.dev)
        }
        File::HostTty { .. } => (0, crate::vfs::file::flags::O_RDWR, 0, 0),
        File::Tty(f) => {
            let (dev, ino) = f.ident();
            (0, *f.flags.lock(), ino, dev)
        }
    };
    let (major, minor) = dev_numbers(dev);
    // mnt_id: the sandbox's mounts are numbered by device minor.
    let _ = major;
    Ok(format!("pos:\t{pos}\nflags:\t0{:o}\nmnt_id:\t{minor}\nino:\t{ino}\n", flags | cloexec).into_bytes())
}
