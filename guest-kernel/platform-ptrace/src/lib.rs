//! The ptrace platform: the unchanged sentry in an ordinary host process.
//!
//! Sentry physical memory is a memfd mapped into this process; each
//! application address space is a stub process mapping pages of the same
//! memfd (see `stub.rs`), run with `PTRACE_SYSEMU` so that every syscall
//! stops and reaches the sentry. Host services are direct calls.
//!
//! The sentry runs on its own thread (it never returns: it ends the
//! sandbox through `Host::exit`), which is the tracer of every stub; the
//! calling thread waits for the outcome, a timeout or a stop.
//!
//! Each application thread runs on a stub thread of its own in its
//! address space's stub (cloned into the stub when it first runs, ended
//! when it exits or execs), as a thread runs on its own host thread under
//! Linux: its FPU state stays in the host thread between switches, and the
//! host's view of the stub (/proc, a debugger) has the application's
//! threads.

mod context;
#[allow(unsafe_code)]
mod control;
#[allow(unsafe_code)]
mod host;
mod space;
#[allow(unsafe_code)]
mod stub;
#[allow(unsafe_code)]
mod sys;
#[allow(unsafe_code)]
mod tick;

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use abi::layout::PAGE_SIZE;
use sentry::kernel::{BootParams, InitProgram};
use sentry::mm::frames::FrameAllocator;
use sentry::platform::{MapError, PhysMem, Platform};
use vmm::{Outcome, RunStats, StopReason, StopSignal, VmConfig};

pub use context::PtraceContext;
pub use host::{PtraceHost, PtraceP9};
pub use space::PtraceSpace;

/// Errors starting the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum PtraceError {
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    #[error("cannot set up sentry memory")]
    Memory(#[source] std::io::Error),
    #[error("cannot start the sentry thread")]
    Thread(#[source] std::io::Error),
    #[error("the sandbox was stopped: {0:?}")]
    Stopped(StopReason),
}

/// The ptrace platform.
#[derive(Debug)]
pub struct PtracePlatform {
    ctx: PtraceContext,
    host: PtraceHost,
    memfd: Arc<OwnedFd>,
    p9: Arc<PtraceP9>,
}

impl Platform for PtracePlatform {
    type AddressSpace = PtraceSpace;
    type Context = PtraceContext;
    type Host = PtraceHost;

    fn new_address_space(&self, _frames: &mut FrameAllocator) -> Result<PtraceSpace, MapError> {
        PtraceSpace::new(Arc::clone(&self.memfd)).map_err(|e| {
            tracing::error!(error = %e, "cannot start a stub process");
            MapError::OutOfMemory
        })
    }

    fn context(&mut self) -> &mut PtraceContext {
        &mut self.ctx
    }

    fn host(&self) -> &PtraceHost {
        &self.host
    }

    fn p9_transport(&self) -> Arc<dyn sentry::platform::P9Transport> {
        Arc::clone(&self.p9) as Arc<dyn sentry::platform::P9Transport>
    }
}

/// Counters of one run (the ptrace analogues of the VMM's): stub stops
/// (switches that returned a trap and injected syscall lists) and host
/// services called.
pub(crate) static STOPS: AtomicU64 = AtomicU64::new(0);
pub(crate) static HOST_CALLS: AtomicU64 = AtomicU64::new(0);
/// 9P exchanges with the gofer and the time they took.
pub(crate) static P9_EXCHANGES: AtomicU64 = AtomicU64::new(0);
pub(crate) static P9_NS: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds from the start of the run to the first switch (0: none yet).
pub(crate) static BOOT_NS: AtomicU64 = AtomicU64::new(0);

/// The sentry thread's name (the panic hook recognises it).
const SENTRY_THREAD: &str = "rf-sentry";

/// Runs `config` with the sentry on a new thread of this process until the
/// program ends or `stop` is signalled.
pub fn run_with(config: &VmConfig, stop: &Arc<StopSignal>) -> Result<(Outcome, RunStats), PtraceError> {
    check_config(config)?;
    let started = std::time::Instant::now();
    let stats = || RunStats {
        exits: STOPS.load(Ordering::Relaxed),
        hostcalls: HOST_CALLS.load(Ordering::Relaxed),
        p9_exchanges: P9_EXCHANGES.load(Ordering::Relaxed),
        p9_ns: P9_NS.load(Ordering::Relaxed),
        boot_ns: BOOT_NS.load(Ordering::Relaxed),
        ..RunStats::default()
    };
    let mem = config.memory_bytes;
    let memfd = sys::memfd(c"ringfence-memory", mem).map_err(PtraceError::Memory)?;
    let base = sys::map_shared(memfd.as_raw_fd(), mem).map_err(PtraceError::Memory)?;
    // SAFETY: the mapping covers [0, mem) of the memfd for the process's
    // life (never unmapped) and nothing else refers to it.
    #[allow(unsafe_code)]
    let phys = unsafe { PhysMem::new(base, mem) };
    // A boot module (a program handed over in memory) goes at the first
    // page; frames follow it.
    let module_pa = PAGE_SIZE;
    let module_len = config.program.len() as u64;
    if module_len > 0 && !phys.write(module_pa, &config.program) {
        return Err(PtraceError::Config("program larger than memory"));
    }
    let free_start = (module_pa + module_len).next_multiple_of(PAGE_SIZE);
    let params = boot_params(config)?;
    let prog = InitProgram {
        file_pa: module_pa,
        file_len: module_len,
        execfn: config.exec_path.clone(),
        argv: config.argv.clone(),
        envp: config.envp.clone(),
        container: config.container_block.clone(),
    };
    let (tx, rx) = mpsc::channel::<Outcome>();
    install_panic_hook(tx.clone());
    let memfd = Arc::new(memfd);
    let p9 = Arc::new(PtraceP9::new(phys, config.gofer.clone(), config.gofer_ready.clone()));
    let control = config.control.clone().map(control::ControlLink::new);
    std::thread::Builder::new()
        .name(SENTRY_THREAD.into())
        .spawn(move || {
            context::set_start(started);
            let tick = tick::Tick::new().unwrap_or_else(|e| panic!("cannot create the preemption timer: {e}"));
            let platform = PtracePlatform {
                ctx: PtraceContext::new(tick, phys),
                host: PtraceHost::new(phys, tx, control),
                memfd,
                p9,
            };
            let frames = FrameAllocator::new(phys, free_start, mem);
            sentry::kernel::boot(platform, frames, params, &prog)
        })
        .map_err(PtraceError::Thread)?;
    loop {
        if let Some(reason) = stop.reason() {
            return Err(PtraceError::Stopped(reason));
        }
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(outcome) => return Ok((outcome, stats())),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Ok((Outcome::SentryPanic("the sentry thread ended".into()), stats()))
            }
        }
    }
}

fn check_config(config: &VmConfig) -> Result<(), PtraceError> {
    if config.memory_bytes < abi::layout::MIN_GUEST_MEMORY || config.memory_bytes > abi::layout::MAX_GUEST_MEMORY {
        return Err(PtraceError::Config("memory size must be between 64 MiB and 64 GiB"));
    }
    if !config.memory_bytes.is_multiple_of(PAGE_SIZE) {
        return Err(PtraceError::Config("memory size must be a multiple of 4 KiB"));
    }
    if config.hostname.len() > 64 {
        return Err(PtraceError::Config("host name longer than 64 bytes"));
    }
    if config.argv.is_empty() {
        return Err(PtraceError::Config("argv is empty"));
    }
    if config.inject_sentry_fault {
        return Err(PtraceError::Config("--inject-sentry-fault is a KVM test hook"));
    }
    Ok(())
}

fn boot_params(config: &VmConfig) -> Result<BootParams, PtraceError> {
    use vmm::hostinfo;
    let tty_mask = (0..3).filter(|&fd| hostinfo::isatty(fd)).fold(0u32, |m, fd| m | (1 << fd));
    let winsize = if tty_mask & 2 != 0 { hostinfo::winsize(1) } else { None }.unwrap_or_default();
    let mut seed = [0u8; 32];
    hostinfo::getrandom(&mut seed).map_err(|_| PtraceError::Config("getrandom failed"))?;
    Ok(BootParams {
        strace: config.strace,
        tty_mask,
        winsize,
        termios: (0..3).filter(|&fd| tty_mask & (1 << fd) != 0).find_map(hostinfo::termios).unwrap_or([0; 36]),
        root_overlay: config.root_overlay,
        console: config.console,
        stdio: [hostinfo::stdio_stat(0), hostinfo::stdio_stat(1), hostinfo::stdio_stat(2)],
        hostname: config.hostname.clone(),
        seed,
        // The sentry is a host process here: CPUID is cheap.
        hwcap: u64::from(std::arch::x86_64::__cpuid(1).edx),
    })
}

/// A sentry panic (panic=abort) reports its message to the waiting thread
/// instead of aborting the process; other threads keep the old hook.
fn install_panic_hook(tx: mpsc::Sender<Outcome>) {
    let tx = Mutex::new(tx);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() != Some(SENTRY_THREAD) {
            return previous(info);
        }
        let msg = match info.payload().downcast_ref::<&str>() {
            Some(s) => (*s).to_owned(),
            None => info.payload().downcast_ref::<String>().cloned().unwrap_or_default(),
        };
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        if let Ok(tx) = tx.lock() {
            let _ = tx.send(Outcome::SentryPanic(format!("{msg}{at}")));
        }
        loop {
            std::thread::park();
        }
    }));
}
