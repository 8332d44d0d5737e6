//! The kernel: tasks and the run loop that turns platform traps into
//! syscalls, page-fault resolution and signals.
//!
//! This issue runs one task (the container's init). The shapes here are the
//! ones multi-tasking builds on: a [`Kernel`] with the machine-wide state,
//! a [`Task`] with the per-thread state, and [`run`] looping on
//! [`Context::switch`].

pub mod clone;
pub mod container;
pub mod control;
pub mod creds;
pub mod deliver;
pub mod exec;
pub mod exit;
pub mod fd;
pub mod futex;
pub mod mounts;
pub mod poll;
pub mod process;
pub mod random;
pub mod rootfs;
pub mod sched;
pub mod shared;
pub mod signal;
pub mod spawn;
pub mod stacks;
pub mod task;
pub mod timer;

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::mm::frames::FrameAllocator;
use crate::platform::{Context, ExitStatus, Host, PhysAddr, Platform, Trap};
use crate::syscalls;
use abi::hostcall::LogLevel;
use abi::linux::signal as sig;
use process::Process;
use sched::RunQueue;
pub use task::Task;
use task::{RunState, WaitKey};

/// What the sentry is told at boot, independent of the platform.
#[derive(Debug, Clone)]
pub struct BootParams {
    /// Trace every syscall to the log.
    pub strace: bool,
    /// Host fds 0, 1, 2 that are terminals (bit n = fd n).
    pub tty_mask: u32,
    /// Terminal window size on the host, if any.
    pub winsize: abi::linux::Winsize,
    /// The host terminal's `struct termios` (kernel layout, 36 bytes), if any.
    pub termios: [u8; 36],
    /// Overlay the root with an in-sandbox tmpfs.
    pub root_overlay: bool,
    /// What the host's standard streams are (fstat).
    pub stdio: [abi::boot::StdioStat; 3],
    /// Host name for uname.
    pub hostname: Vec<u8>,
    /// Random seed.
    pub seed: [u8; 32],
    /// The container has a terminal: init's stdio is `/dev/console`, a
    /// line discipline over the host's fds 0 and 1 (see `fs::tty::console`).
    pub console: bool,
    /// AT_HWCAP: CPUID.1:EDX, as Linux reports it on x86-64 (read by the
    /// platform: on KVM each CPUID exits to the host).
    pub hwcap: u64,
}

/// Why the init process could not start.
#[derive(Debug, Clone)]
pub enum InitError {
    /// The container block does not decode.
    Block(crate::error::SysError),
    /// A mount of the config (at this destination) failed.
    Mounts(crate::error::SysError, Vec<u8>),
    /// `process.cwd` (the path) does not resolve to a directory.
    Cwd(crate::error::SysError, Vec<u8>),
    /// The program could not be loaded.
    Exec(crate::error::SysError),
}

/// The program to start as the container's init.
#[derive(Debug, Clone)]
pub struct InitProgram {
    /// The ELF file in physical memory.
    pub file_pa: PhysAddr,
    pub file_len: u64,
    pub execfn: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    /// The container block ([`abi::container`]; empty for the defaults).
    pub container: Vec<u8>,
}

/// Machine-wide kernel state.
pub struct Kernel<P: Platform> {
    pub platform: P,
    pub frames: FrameAllocator,
    pub params: BootParams,
    pub rng: random::Rng,
    /// Monotonic time at boot, for uptime and CPU clocks.
    pub boot_ns: u64,
    /// Syscall numbers already reported as unimplemented (bit per number).
    reported: [u64; 8],
    /// Tasks not running right now, by tid.
    pub tasks: BTreeMap<u32, Box<Task<P::AddressSpace>>>,
    /// Processes (live and zombie), by pid.
    pub procs: BTreeMap<u32, Process>,
    pub runq: RunQueue,
    /// The next pid/tid to try.
    next_id: u32,
    /// Program files kept after exec.
    pub exec_cache: exec::ExecCache,
    /// Frames of files mapped MAP_SHARED.
    pub page_cache: crate::fs::pagecache::PageCache,
    /// The running task asked to give up the vCPU (sched_yield).
    pub yield_now: bool,
    /// The earliest wall-clock timer expiry of any process (monotonic ns;
    /// `u64::MAX` when none): see [`timer::fire_due`].
    pub next_timer: u64,
    /// CPU time since boot: in application code, in the sentry, idle
    /// (/proc/stat, /proc/uptime).
    pub cpu: CpuTimes,
    /// Tasks created since boot (/proc/stat `processes`).
    pub forks: u64,
    /// The program path init was started from (its /proc/<pid>/exe) and
    /// where its environment lies.
    init_exe: Vec<u8>,
    init_env: (u64, u64),
}

/// Accumulated CPU time, in ns.
#[derive(Debug, Default, Clone, Copy)]
pub struct CpuTimes {
    pub user_ns: u64,
    pub system_ns: u64,
    pub idle_ns: u64,
}

impl<P: Platform> Kernel<P> {
    /// A kernel over `platform` with `frames` as its physical memory.
    pub fn new(platform: P, frames: FrameAllocator, params: BootParams) -> Self {
        let mut rng = random::Rng::new(params.seed);
        // The random devices get a generator of their own, keyed from ours.
        let mut dev_seed = [0u8; 32];
        rng.fill(&mut dev_seed);
        crate::fs::dev::set_rng(random::Rng::new(dev_seed));
        let clocks = platform.host().clocks();
        crate::time::set_coarse_realtime(clocks.realtime_ns);
        let boot_ns = clocks.monotonic_ns;
        Self {
            platform,
            frames,
            params,
            rng,
            boot_ns,
            reported: [0; 8],
            tasks: BTreeMap::new(),
            procs: BTreeMap::new(),
            runq: RunQueue::default(),
            next_id: 2,
            exec_cache: exec::ExecCache::default(),
            page_cache: crate::fs::pagecache::PageCache::default(),
            yield_now: false,
            next_timer: u64::MAX,
            cpu: CpuTimes::default(),
            forks: 0,
            init_exe: Vec::new(),
            init_env: (0, 0),
        }
    }

    /// The host services.
    pub fn host(&self) -> &P::Host {
        self.platform.host()
    }

    /// Logs a line through the host.
    pub fn log(&self, level: LogLevel, msg: &str) {
        self.host().log(level, msg);
    }

    /// Returns true the first time it is called for `nr` (log-once).
    pub fn first_report(&mut self, nr: u64) -> bool {
        let (i, bit) = (usize::try_from(nr / 64).unwrap_or(usize::MAX), nr % 64);
        match self.reported.get_mut(i) {
            Some(w) if *w & (1 << bit) == 0 => {
                *w |= 1 << bit;
                true
            }
            Some(_) => false,
            None => true,
        }
    }

    /// Builds the container's tree and loads `prog` into a fresh address
    /// space as the init task, with the container block's user, cwd and
    /// limits.
    pub fn spawn_init(&mut self, prog: &InitProgram) -> Result<Task<P::AddressSpace>, InitError> {
        let spec = container::parse(&prog.container).map_err(InitError::Block)?;
        let fs = rootfs::build(
            self.platform.p9_transport(),
            &mut self.frames,
            self.params.root_overlay,
            spec.mounts.as_deref(),
            self.params.console,
        )
        .map_err(|(e, at)| InitError::Mounts(e, at))?;
        // Without a boot module, the program comes from the container's tree.
        let boot_file = (prog.file_len > 0).then_some(exec::ProgramFile { pa: prog.file_pa, len: prog.file_len });
        let s = spawn::spawn_with_spec(self, fs, &spec.process, &prog.execfn, prog.argv.clone(), &prog.envp, boot_file)
            .map_err(|e| match e {
                spawn::SpawnError::Cwd(e) => InitError::Cwd(e, spec.process.cwd.clone().unwrap_or_default()),
                spawn::SpawnError::Exec(e) => InitError::Exec(e),
            })?;
        self.init_exe = s.exe;
        self.init_env = s.env;
        let task = s.task;
        {
            // `--preserve-fds`: host descriptors as fds 3, 4... (as runc
            // leaves them open across its init's exec).
            let mut fds = task.fds.lock();
            for (i, &h) in spec.process.preserved_fds.iter().enumerate() {
                let file = fd::File::HostStdio { host_fd: h, tty: false };
                let fd = i32::try_from(i + 3).map_err(|_| InitError::Exec(crate::error::SysError::ebadf("fd")))?;
                fds.install_at(file, fd, usize::MAX, false).map_err(InitError::Exec)?;
            }
        }
        if self.params.console {
            // init (pid 1, a session leader) has /dev/console as its stdio
            // and controlling terminal.
            let con = crate::fs::tty::console::init(self.params.winsize, 1);
            // As runc, the console belongs to the process's user.
            let c = &task.creds;
            if (c.euid, c.egid) != (0, 0) {
                let fs = task.fs.lock().clone();
                if let Ok(loc) = fs.resolve(&fs.root, b"/dev/console", true) {
                    let owner = crate::vfs::SetAttr { uid: Some(c.euid), gid: Some(c.egid), ..Default::default() };
                    loc.node().setattr(&owner).map_err(|e| InitError::Mounts(e, b"/dev/console".to_vec()))?;
                }
            }
            let mut fds = task.fds.lock();
            for fd in 0..3 {
                let file =
                    fd::File::Tty(crate::fs::tty::TtyFile::open(con.clone(), false, crate::vfs::file::flags::O_RDWR));
                fds.install_at(file, fd, 3, false).map_err(InitError::Exec)?;
            }
        }
        Ok(task)
    }

    /// Writes `msg` to the host's stderr (through a frame, since host I/O
    /// takes physical ranges); falls back to the log.
    pub fn report_to_stderr(&mut self, msg: &[u8]) {
        let len = msg.len().min(4096);
        match self.frames.alloc_zeroed() {
            Some(pa) if self.frames.phys().write(pa, &msg[..len]) => {
                let _ = self.host().write(2, &[(pa, len as u64)]);
                self.frames.put(pa);
            }
            _ => self.log(LogLevel::Error, &alloc::string::String::from_utf8_lossy(msg)),
        }
    }

    /// Ends the sandbox with `status` (the init task ended).
    pub fn exit(&self, status: ExitStatus) -> ! {
        self.host().exit(status)
    }

    /// A free id for a new process or thread (pids and tids share one space).
    pub fn alloc_id(&mut self) -> Option<u32> {
        const PID_MAX: u32 = 4_194_304;
        for _ in 0..PID_MAX {
            let id = self.next_id;
            self.next_id = if id + 1 >= PID_MAX { 2 } else { id + 1 };
            if !self.tasks.contains_key(&id) && !self.procs.contains_key(&id) && !self.id_in_use_as_group(id) {
                self.forks += 1;
                return Some(id);
            }
        }
        None
    }

    fn id_in_use_as_group(&self, id: u32) -> bool {
        self.procs.values().any(|p| p.pgid == id || p.sid == id)
    }

    /// Writes back and drops the page-cache files no address space maps any
    /// more (after munmap, exec or exit). `current` is the running task's
    /// address space, which is not in the task table.
    pub fn release_unused_files(
        &mut self,
        current: Option<&alloc::sync::Arc<shared::Shared<crate::mm::MemoryManager<P::AddressSpace>>>>,
    ) {
        if self.page_cache.is_empty() {
            return;
        }
        let mut used = alloc::collections::BTreeSet::new();
        for t in self.tasks.values() {
            // A thread of the current process shares its (unlocked) memory.
            if current.is_some_and(|c| alloc::sync::Arc::ptr_eq(c, &t.mm)) {
                continue;
            }
            used.extend(t.mm.lock().shared_files());
        }
        if let Some(mm) = current {
            used.extend(mm.lock().shared_files());
        }
        self.page_cache.release_unused(&mut self.frames, &used);
    }

    /// The id handed out last (/proc/loadavg).
    pub fn last_id(&self) -> u32 {
        if self.next_id <= 2 {
            1
        } else {
            self.next_id - 1
        }
    }

    /// Makes every task blocked on `key` runnable, and those waiting on an
    /// epoll that watches it.
    pub fn wake(&mut self, key: WaitKey) {
        let keys = crate::fs::epoll::with_watchers(key);
        for t in self.tasks.values_mut() {
            if t.state == RunState::Blocked && t.waits.iter().any(|w| keys.contains(w)) {
                t.state = RunState::Runnable;
                self.runq.push(t.tid);
            }
        }
    }

    /// Makes task `tid` runnable if it is blocked.
    pub fn wake_task(&mut self, tid: u32) {
        if let Some(t) = self.tasks.get_mut(&tid) {
            if t.state == RunState::Blocked {
                t.state = RunState::Runnable;
                self.runq.push(tid);
            }
        }
    }

    /// Applies posted wake-ups and expired deadlines.
    fn apply_wakeups(&mut self, now: u64) {
        for key in sched::take_notified() {
            self.wake(key);
        }
        let expired: Vec<u32> = self
            .tasks
            .values()
            .filter(|t| t.state == RunState::Blocked && t.deadline.is_some_and(|d| d <= now))
            .map(|t| t.tid)
            .collect();
        for tid in expired {
            self.wake_task(tid);
        }
    }

    /// Waits for something to happen when no task can run: sleeps until
    /// the earliest deadline (or a while, when every task waits for an
    /// event that only a host-side action can end).
    fn idle(&mut self) {
        let now = self.host().clocks().monotonic_ns;
        let next = self.tasks.values().filter(|t| t.state == RunState::Blocked).filter_map(|t| t.deadline).min();
        let next = next.map_or(self.next_timer, |d| d.min(self.next_timer));
        let ns = next.saturating_sub(now).min(100_000_000);
        // Host descriptors some task waits to read: stdin (0), or an exec'd
        // process's (see control.rs).
        let mut host_fds: Vec<u32> = Vec::new();
        for t in self.tasks.values().filter(|t| t.state == RunState::Blocked) {
            for w in &t.waits {
                let fd = match w {
                    WaitKey::HostStdin => 0,
                    WaitKey::HostFd(fd) => *fd,
                    _ => continue,
                };
                if !host_fds.contains(&fd) {
                    host_fds.push(fd);
                }
            }
        }
        let key = |fd: u32| if fd == 0 { WaitKey::HostStdin } else { WaitKey::HostFd(fd) };
        let ttys = crate::fs::tty::host_linked();
        if !ttys.is_empty() {
            // Host terminals (the console, exec'd processes' ptys) take
            // input (and signal characters) whether or not anyone reads
            // them; other host descriptors are looked at in between.
            host_fds.retain(|&fd| !ttys.iter().any(|t| t.host.is_some_and(|l| l.read_fd == fd)));
            let several = ttys.len() > 1 || !host_fds.is_empty();
            let wait = if several { ns.min(MULTI_FD_POLL_NS) } else { ns };
            // The first waits (one hostcall watches one descriptor), the
            // others are looked at.
            for (i, tty) in ttys.iter().enumerate() {
                crate::fs::tty::console::pump(self, None, tty, if i == 0 { wait } else { 0 });
            }
            for &fd in &host_fds {
                if self.host().poll(fd, abi::linux::poll::POLLIN, 0) != 0 {
                    self.wake(key(fd));
                }
            }
        } else {
            match host_fds[..] {
                [] if ns > 0 => self.host().sleep(ns),
                [] => {}
                [fd] => {
                    if self.host().poll(fd, abi::linux::poll::POLLIN, ns) != 0 {
                        self.wake(key(fd));
                    }
                }
                _ => {
                    // The poll hostcall waits on one descriptor: look at each,
                    // then sleep a little.
                    let mut any = false;
                    for &fd in &host_fds {
                        if self.host().poll(fd, abi::linux::poll::POLLIN, 0) != 0 {
                            self.wake(key(fd));
                            any = true;
                        }
                    }
                    if !any && ns > 0 {
                        self.host().sleep(ns.min(MULTI_FD_POLL_NS));
                    }
                }
            }
        }
        let after = self.host().clocks().monotonic_ns;
        self.cpu.idle_ns += after.saturating_sub(now);
    }
}

/// How long the idle loop sleeps between looks when several host
/// descriptors are waited on.
const MULTI_FD_POLL_NS: u64 = 5_000_000;

/// Boots the init program and runs it until the sandbox ends.
pub fn boot<P: Platform>(platform: P, frames: FrameAllocator, params: BootParams, prog: &InitProgram) -> ! {
    let mut k = Kernel::new(platform, frames, params);
    let task = match k.spawn_init(prog) {
        Ok(t) => t,
        Err(InitError::Exec(e)) => {
            let what = match e.errno {
                abi::linux::errno::ENOENT => "no such file or directory",
                abi::linux::errno::EACCES => "permission denied",
                abi::linux::errno::ENOEXEC => "exec format error",
                _ => "cannot execute",
            };
            let name = alloc::string::String::from_utf8_lossy(&prog.execfn);
            let errno = abi::linux::errno::name(e.errno);
            let msg = if e.why == what {
                alloc::format!("ringfence: {name}: {what} ({errno})\n")
            } else {
                alloc::format!("ringfence: {name}: {what} ({}, {errno})\n", e.why)
            };
            // As a shell would, on the program's stderr.
            k.report_to_stderr(msg.as_bytes());
            // As a shell reports it: 127 not found, 126 found but not runnable.
            let status = if e.errno == abi::linux::errno::ENOENT { 127 } else { 126 };
            k.exit(ExitStatus::Exited(status));
        }
        Err(e) => {
            // As runc's init failing before exec: a message and status 1.
            let msg = match e {
                InitError::Cwd(e, cwd) => alloc::format!(
                    "ringfence: chdir to cwd ({}) set in config.json failed: {} ({})\n",
                    alloc::string::String::from_utf8_lossy(&cwd),
                    e.why,
                    abi::linux::errno::name(e.errno)
                ),
                InitError::Mounts(e, at) => alloc::format!(
                    "ringfence: cannot mount {}: {} ({})\n",
                    alloc::string::String::from_utf8_lossy(&at),
                    e.why,
                    abi::linux::errno::name(e.errno)
                ),
                InitError::Block(e) | InitError::Exec(e) => {
                    alloc::format!("ringfence: bad container block: {}\n", e.why)
                }
            };
            k.report_to_stderr(msg.as_bytes());
            k.exit(ExitStatus::Exited(1));
        }
    };
    let mut init = Process::new(1, 0, 1, 1);
    init.exe = core::mem::take(&mut k.init_exe);
    init.env = k.init_env;
    init.start_ns = k.boot_ns;
    init.cmdline = prog.argv.iter().flat_map(|a| a.iter().copied().chain(core::iter::once(0))).collect();
    k.procs.insert(1, init);
    k.tasks.insert(1, Box::new(task));
    k.runq.push(1);
    schedule(&mut k)
}

/// The scheduler loop: picks the next runnable task and runs it until it
/// blocks, yields or exits. Ends when init exits (see [`exit`]).
pub fn schedule<P: Platform>(k: &mut Kernel<P>) -> ! {
    loop {
        if k.host().control_pending() {
            control::serve(k);
        }
        let now = k.host().clocks().monotonic_ns;
        k.apply_wakeups(now);
        timer::fire_due(k, None, now);
        crate::fs::tty::console::pump_if_due(k, now);
        let Some(tid) = k.runq.pop() else {
            k.idle();
            continue;
        };
        let Some(mut t) = k.tasks.remove(&tid) else { continue };
        if t.state == RunState::Runnable {
            run_task(k, &mut t);
        }
        // The tid changes when a non-leader thread execs.
        let tid = t.tid;
        match t.state {
            RunState::Dead => exit::release_task(k, t),
            RunState::Runnable => {
                k.runq.push(tid);
                k.tasks.insert(tid, t);
            }
            RunState::Blocked | RunState::Stopped => {
                k.tasks.insert(tid, t);
            }
        }
    }
}

/// Brings `t.fp` up to date before the sentry reads or replaces it
/// ([`crate::platform::Context::sync_fp`]).
pub fn sync_fp<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>) {
    let mut mm = t.mm.lock();
    k.platform.context().sync_fp(mm.space_mut(), t.thread_id, &mut t.fp);
}

/// Runs `t` until it stops being runnable or its time slice is over.
fn run_task<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>) {
    let mut start = k.host().clocks().monotonic_ns;
    // When the previous trap's handling ended: the next switch starts from
    // there (two clock reads per trap, not three; what runs between them,
    // a signal frame at most, counts as user time).
    let mut handled: Option<u64> = None;
    loop {
        if t.in_syscall {
            // A blocked syscall was woken: retry it, unless a signal interrupts it.
            if deliver::interrupting_signal(k, t).is_some() {
                deliver::interrupt_syscall(k, t);
            } else {
                if deliver::job_control(k, t) {
                    // Stopped; the syscall is retried after SIGCONT.
                    return;
                }
                syscalls::dispatch(k, t);
                if t.state != RunState::Runnable {
                    return;
                }
            }
        }
        deliver::deliver_signals(k, t);
        if t.state != RunState::Runnable {
            return;
        }
        t.sanitize_regs();
        let before = handled.take().unwrap_or_else(|| k.host().clocks().monotonic_ns);
        let trap = {
            let mut mm = t.mm.lock();
            k.platform.context().switch(mm.space_mut(), t.thread_id, &mut t.regs, &mut t.fp)
        };
        let now = k.host().clocks();
        let after = now.monotonic_ns;
        crate::time::set_coarse_realtime(now.realtime_ns);
        t.utime_ns += after.saturating_sub(before);
        // Before the trap is handled: a syscall about to block then sees
        // the signal of a timer that expired meanwhile.
        timer::fire_due(k, Some(&mut *t), after);
        k.cpu.user_ns += after.saturating_sub(before);
        match trap {
            Trap::Syscall => {
                t.orig_rax = t.regs.rax;
                t.in_syscall = true;
                syscalls::dispatch(k, t);
            }
            Trap::PageFault { addr, access, present } => {
                let r = t.mm.lock().handle_fault(&mut k.frames, addr, access);
                if r.is_err() {
                    // As Linux: ACCERR when a mapping covers the address. The
                    // error code's P bit is not reliable on every platform
                    // (PROT_NONE pages are not present in the page tables).
                    let mapped = present || t.mm.lock().vma_at(addr).is_some();
                    let code = if mapped { sig::SEGV_ACCERR } else { sig::SEGV_MAPERR };
                    let info = signal::SigInfo::fault(sig::SIGSEGV, code, addr);
                    deliver::force_signal(k, t, info);
                }
            }
            Trap::Exception { vector, .. } => {
                let s = exception_signal(vector);
                let code = match s {
                    sig::SIGFPE => sig::FPE_INTDIV,
                    sig::SIGILL => sig::ILL_ILLOPN,
                    // int3 is a plain kernel-sent SIGTRAP on Linux (do_trap).
                    sig::SIGTRAP if vector != 3 => sig::TRAP_BRKPT,
                    _ => sig::SI_KERNEL,
                };
                let addr = if s == sig::SIGSEGV || vector == 3 { 0 } else { t.regs.rip };
                deliver::force_signal(k, t, signal::SigInfo::fault(s, code, addr));
            }
            Trap::Interrupted => {}
        }
        let end = k.host().clocks().monotonic_ns;
        t.stime_ns += end.saturating_sub(after);
        k.cpu.system_ns += end.saturating_sub(after);
        handled = Some(end);
        if t.state != RunState::Runnable {
            return;
        }
        if core::mem::take(&mut k.yield_now) {
            return;
        }
        // The host asks something: answered from the scheduler loop.
        if k.host().control_pending() {
            return;
        }
        if end.saturating_sub(start) >= sched::TIME_SLICE_NS {
            // Sleepers whose time came are due a turn too (a task that
            // never blocks sees this at its timer ticks).
            k.apply_wakeups(end);
            if !k.runq.is_empty() {
                return;
            }
            // Alone: a new slice, checked again when it is over.
            start = end;
        }
    }
}

/// The signal Linux sends for a user-mode CPU exception.
pub fn exception_signal(vector: u8) -> u32 {
    match vector {
        0 | 16 | 19 => sig::SIGFPE,
        1 | 3 => sig::SIGTRAP,
        6 => sig::SIGILL,
        12 | 17 => sig::SIGBUS,
        _ => sig::SIGSEGV,
    }
}
