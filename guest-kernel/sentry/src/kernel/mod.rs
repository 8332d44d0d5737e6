//! The kernel: tasks and the run loop that turns platform traps into
//! syscalls, page-fault resolution and signals.
//!
//! This issue runs one task (the container's init). The shapes here are the
//! ones multi-tasking builds on: a [`Kernel`] with the machine-wide state,
//! a [`Task`] with the per-thread state, and [`run`] looping on
//! [`Context::switch`].

pub mod exec;
pub mod fd;
pub mod random;
pub mod rootfs;
pub mod task;

use alloc::vec::Vec;

use crate::loader::{self, ExecArgs};
use crate::mm::frames::FrameAllocator;
use crate::mm::MemoryManager;
use crate::platform::{Context, ExitStatus, Host, PhysAddr, Platform, Trap};
use crate::syscalls;
use abi::hostcall::LogLevel;
use abi::linux::signal;
pub use task::Task;

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
        Self { platform, frames, params, rng, boot_ns, reported: [0; 8] }
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

    /// Loads `prog` into a fresh address space as the init task.
    pub fn spawn_init(&mut self, prog: &InitProgram) -> Result<Task<P::AddressSpace>, crate::error::SysError> {
        let fs = rootfs::build(self.platform.p9_transport(), &mut self.frames, self.params.root_overlay)?;
        // Without a boot module, the program comes from the container's tree.
        let (file_pa, file_len) = if prog.file_len > 0 {
            (prog.file_pa, prog.file_len)
        } else {
            exec::read_program(&fs, &mut self.frames, &prog.execfn, &prog.envp)?
        };
        let space = self
            .platform
            .new_address_space(&mut self.frames)
            .map_err(|_| crate::error::SysError::enomem("no memory for an address space"))?;
        let mut mm = MemoryManager::new(space);
        let mut random = [0u8; 16];
        self.rng.fill(&mut random);
        let argv: Vec<&[u8]> = prog.argv.iter().map(Vec::as_slice).collect();
        let envp: Vec<&[u8]> = prog.envp.iter().map(Vec::as_slice).collect();
        let args = ExecArgs {
            execfn: &prog.execfn,
            argv: &argv,
            envp: &envp,
            random,
            uid: 0,
            gid: 0,
            hwcap: hwcap(),
            hwcap2: 0,
        };
        let loaded = loader::load_elf(&mut mm, &mut self.frames, file_pa, file_len, &args)?;
        let mut task = Task::new(mm, fs, loaded.entry, loaded.stack_pointer, self.params.tty_mask);
        task.set_comm_from_path(&prog.execfn);
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
}

/// AT_HWCAP: CPUID.1:EDX, as Linux reports it on x86-64.
fn hwcap() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // CPUID is unprivileged and side-effect free.
        let r = core::arch::x86_64::__cpuid(1);
        u64::from(r.edx)
    }
    #[cfg(not(target_arch = "x86_64"))]
    0
}

/// Boots the init program and runs it until the sandbox ends.
pub fn boot<P: Platform>(platform: P, frames: FrameAllocator, params: BootParams, prog: &InitProgram) -> ! {
    let mut k = Kernel::new(platform, frames, params);
    let mut task = match k.spawn_init(prog) {
        Ok(t) => t,
        Err(e) => {
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
    };
    run(&mut k, &mut task)
}

/// The run loop: switch to the application, handle whatever trapped.
pub fn run<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>) -> ! {
    loop {
        t.sanitize_regs();
        let before = k.host().clocks().monotonic_ns;
        let trap = k.platform.context().switch(t.mm.space_mut(), &mut t.regs, &mut t.fp);
        let now = k.host().clocks();
        let after = now.monotonic_ns;
        crate::time::set_coarse_realtime(now.realtime_ns);
        t.utime_ns += after.saturating_sub(before);
        match trap {
            Trap::Syscall => {
                syscalls::dispatch(k, t);
                if let Some(sig) = t.pending_signal.take() {
                    fatal_signal(k, t, sig);
                }
            }
            Trap::PageFault { addr, access, .. } => {
                if t.mm.handle_fault(&mut k.frames, addr, access).is_err() {
                    fatal_signal(k, t, signal::SIGSEGV);
                }
            }
            Trap::Exception { vector, .. } => fatal_signal(k, t, exception_signal(vector)),
            Trap::Interrupted => {}
        }
        t.stime_ns += k.host().clocks().monotonic_ns.saturating_sub(after);
    }
}

/// The signal Linux sends for a user-mode CPU exception.
pub fn exception_signal(vector: u8) -> u32 {
    match vector {
        0 | 16 | 19 => signal::SIGFPE,
        1 | 3 => signal::SIGTRAP,
        6 => signal::SIGILL,
        12 | 17 => signal::SIGBUS,
        _ => signal::SIGSEGV,
    }
}

/// Delivers a signal whose default action terminates the process. Handlers
/// are recorded by rt_sigaction but not yet invoked (signal delivery comes
/// with the processes issue), so every such signal terminates.
fn fatal_signal<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, sig: u32) -> ! {
    if k.params.strace {
        let msg = alloc::format!("strace: --- killed by signal {} (rip {:#x}) ---", sig, t.regs.rip);
        k.log(LogLevel::Info, &msg);
    }
    t.mm.destroy(&mut k.frames);
    k.exit(ExitStatus::Signaled(sig))
}
