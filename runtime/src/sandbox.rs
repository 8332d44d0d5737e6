//! Running one program in a sandbox VM (`ringfence do`), with a time limit
//! and SIGINT/SIGTERM ending it promptly.

use std::io;
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use vmm::{Outcome, RunStats, StopReason, StopSignal, VmConfig, VmmError};

use crate::program::Program;

/// How to run the sandbox.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Guest memory in bytes.
    pub memory_bytes: u64,
    /// Stop the sandbox after this long.
    pub timeout: Option<Duration>,
    /// Trace the program's syscalls to stderr.
    pub strace: bool,
    /// uname nodename.
    pub hostname: Vec<u8>,
    /// Writes to the read-only root go to an in-sandbox tmpfs.
    pub root_overlay: bool,
    /// Test hook: fault inside the sentry after boot.
    pub inject_sentry_fault: bool,
    /// The connection to the gofer serving the root filesystem.
    pub gofer: Option<Arc<UnixStream>>,
    /// Waits for the gofer's start-up handshake (see `gofer::handshake_in_background`).
    pub gofer_ready: Option<vmm::GoferReady>,
    /// The OCI config's process and mounts ([`abi::container`]; empty for
    /// the defaults).
    pub container_block: Vec<u8>,
    /// Run right before the guest first runs (the seccomp filter).
    pub before_run: Option<vmm::BeforeRun>,
    /// Where the sentry runs.
    pub platform: SandboxPlatform,
    /// stdio is the container's raw pty (OCI `process.terminal`).
    pub console: bool,
    /// The control channel (exec, ps, signals, pause) the sandbox serves.
    pub control: Option<Arc<vmm::control::Control>>,
}

/// Where the sentry runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxPlatform {
    /// In a KVM virtual machine.
    Kvm,
    /// In this process, the program in ptrace'd stub processes.
    Ptrace,
}

/// How the sandbox ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The program exited with this code.
    Exited(u8),
    /// The program was killed by this signal.
    Signaled(u32),
    /// The sentry failed.
    SentryPanic(String),
    /// `--timeout` expired.
    TimedOut(Duration),
    /// ringfence received this signal.
    Interrupted(i32),
}

impl Status {
    /// The exit status ringfence reports, as a shell would.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Exited(c) => *c,
            Self::Signaled(s) => 128u8.saturating_add(u8::try_from(*s).unwrap_or(127)),
            Self::SentryPanic(_) => 125,
            Self::TimedOut(_) => 124,
            Self::Interrupted(s) => 128u8.saturating_add(u8::try_from(*s).unwrap_or(127)),
        }
    }
}

/// A finished sandbox.
#[derive(Debug, Clone)]
pub struct Finished {
    pub status: Status,
    /// Counters, when the VM ran to an outcome.
    pub stats: Option<RunStats>,
    /// Wall time of the whole run (VM build to teardown).
    pub wall: Duration,
}

/// Errors running the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Installing the SIGINT/SIGTERM watcher.
    #[error("cannot watch for SIGINT/SIGTERM")]
    Signals(#[source] io::Error),
    /// Spawning the watchdog thread.
    #[error("cannot start the watchdog thread")]
    Thread(#[source] io::Error),
    /// The VM failed.
    #[error(transparent)]
    Vmm(VmmError),
    /// The ptrace platform failed to start.
    #[error(transparent)]
    Ptrace(platform_ptrace::PtraceError),
}

/// Runs `program` with `argv` and `envp` on the calling thread.
pub fn run(
    guest_image: &'static [u8],
    program: Program,
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
    opts: &SandboxOptions,
) -> Result<Finished, SandboxError> {
    run_config(vm_config(guest_image, program, argv, envp, opts), None, opts)
}

/// A KVM sandbox's VM being built on a thread of its own, so that its ~2 ms
/// (guest memory, KVM_SET_USER_MEMORY_REGION, the image) overlap with the
/// rest of the sandbox's start (the gofer's spawn, the control server, the
/// signal watcher) on the otherwise idle second core.
pub struct VmBuild {
    config: VmConfig,
    thread: thread::JoinHandle<Result<vmm::BuiltVm, VmmError>>,
}

impl VmBuild {
    /// Starts building the VM that [`run_built`] with the same `program`,
    /// `argv`, `envp` and `opts` would run. Only the fields of `opts` that
    /// shape the guest are read here; the gofer, `before_run` and the
    /// control channel are taken from the options given to [`run_built`].
    pub fn start(
        guest_image: &'static [u8],
        program: Program,
        argv: Vec<Vec<u8>>,
        envp: Vec<Vec<u8>>,
        opts: &SandboxOptions,
    ) -> Result<Self, SandboxError> {
        let config = vm_config(guest_image, program, argv, envp, opts);
        let shape = VmConfig { gofer: None, gofer_ready: None, before_run: None, control: None, ..config.clone() };
        let thread = thread::Builder::new()
            .name("rf-vm-build".into())
            .spawn(move || vmm::build(&shape))
            .map_err(SandboxError::Thread)?;
        Ok(Self { config, thread })
    }
}

/// Runs the VM `build` makes (KVM only), with the gofer, `before_run` and
/// control channel of `opts`, on the calling thread.
pub fn run_built(build: VmBuild, opts: &SandboxOptions) -> Result<Finished, SandboxError> {
    let config = VmConfig {
        gofer: opts.gofer.clone(),
        gofer_ready: opts.gofer_ready.clone(),
        before_run: opts.before_run.clone(),
        control: opts.control.clone(),
        ..build.config
    };
    run_config(config, Some(build.thread), opts)
}

fn vm_config(
    guest_image: &'static [u8],
    program: Program,
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
    opts: &SandboxOptions,
) -> VmConfig {
    use std::os::unix::ffi::OsStrExt;

    VmConfig {
        memory_bytes: opts.memory_bytes,
        guest_image: guest_image.into(),
        exec_path: program.path.as_os_str().as_bytes().to_vec(),
        program: program.bytes,
        argv,
        envp,
        strace: opts.strace,
        hostname: opts.hostname.clone(),
        inject_sentry_fault: opts.inject_sentry_fault,
        gofer: opts.gofer.clone(),
        gofer_ready: opts.gofer_ready.clone(),
        root_overlay: opts.root_overlay,
        container_block: opts.container_block.clone(),
        before_run: opts.before_run.clone(),
        console: opts.console,
        control: opts.control.clone(),
    }
}

fn run_config(
    config: VmConfig,
    built: Option<thread::JoinHandle<Result<vmm::BuiltVm, VmmError>>>,
    opts: &SandboxOptions,
) -> Result<Finished, SandboxError> {
    let stop = opts.control.as_ref().map_or_else(|| Arc::new(StopSignal::new()), |c| c.stop_signal());
    let guard = Watchers::start(&stop, opts.timeout)?;
    let started = Instant::now();
    let result = match (opts.platform, built) {
        (SandboxPlatform::Kvm, Some(built)) => match built.join() {
            Ok(Ok(vm)) => vmm::run_built(vm, config, Arc::clone(&stop)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(VmmError::Config("the VM-building thread panicked")),
        },
        (SandboxPlatform::Kvm, None) => vmm::run_with(config, Arc::clone(&stop)),
        (SandboxPlatform::Ptrace, _) => match platform_ptrace::run_with(&config, &stop) {
            Ok(result) => Ok(result),
            Err(platform_ptrace::PtraceError::Stopped(reason)) => Err(VmmError::Stopped(reason)),
            Err(e) => return Err(SandboxError::Ptrace(e)),
        },
    };
    if let Some(control) = &opts.control {
        control.end();
    }
    let wall = started.elapsed();
    drop(guard);
    let (status, stats) = match (result, stop.reason()) {
        // A stop that lands while the guest waits on the host (the gofer,
        // stdio) fails that call, and the program may end of the failure
        // (exec's 126) before the VMM sees the stop: the stop is what
        // happened.
        (Ok((Outcome::Exited(_) | Outcome::Signaled(_), stats)), Some(StopReason::Timeout(d))) => {
            (Status::TimedOut(d), Some(stats))
        }
        (Ok((Outcome::Exited(_) | Outcome::Signaled(_), stats)), Some(StopReason::Signal(s))) => {
            (Status::Interrupted(s), Some(stats))
        }
        (Ok((outcome, stats)), _) => (
            match outcome {
                Outcome::Exited(c) => Status::Exited(c),
                Outcome::Signaled(s) => Status::Signaled(s),
                Outcome::SentryPanic(m) => Status::SentryPanic(m),
            },
            Some(stats),
        ),
        (Err(VmmError::Stopped(StopReason::Timeout(d))), _) => (Status::TimedOut(d), None),
        (Err(VmmError::Stopped(StopReason::Signal(s))), _) => (Status::Interrupted(s), None),
        (Err(e), _) => return Err(SandboxError::Vmm(e)),
    };
    Ok(Finished { status, stats, wall })
}

/// The threads that may stop the VM: a signal watcher and a timer. Dropping
/// this ends both.
struct Watchers {
    signals: signal_hook::iterator::Handle,
    signal_thread: Option<thread::JoinHandle<()>>,
    timer_cancel: Option<mpsc::Sender<()>>,
    timer_thread: Option<thread::JoinHandle<()>>,
}

impl Watchers {
    fn start(stop: &Arc<StopSignal>, timeout: Option<Duration>) -> Result<Self, SandboxError> {
        let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(SandboxError::Signals)?;
        let handle = signals.handle();
        let s = Arc::clone(stop);
        let signal_thread = thread::Builder::new()
            .name("rf-signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    tracing::debug!(sig, "stopping the sandbox on signal");
                    s.stop(StopReason::Signal(sig));
                }
            })
            .map_err(SandboxError::Thread)?;
        let mut watchers =
            Self { signals: handle, signal_thread: Some(signal_thread), timer_cancel: None, timer_thread: None };
        if let Some(limit) = timeout {
            let (tx, rx) = mpsc::channel::<()>();
            let s = Arc::clone(stop);
            let t = thread::Builder::new()
                .name("rf-timeout".into())
                .spawn(move || {
                    if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                        s.stop(StopReason::Timeout(limit));
                    }
                })
                .map_err(SandboxError::Thread)?;
            watchers.timer_cancel = Some(tx);
            watchers.timer_thread = Some(t);
        }
        Ok(watchers)
    }
}

impl Drop for Watchers {
    fn drop(&mut self) {
        self.signals.close();
        drop(self.timer_cancel.take());
        for t in [self.signal_thread.take(), self.timer_thread.take()].into_iter().flatten() {
            // Both threads end at once once closed/cancelled.
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(Status::Exited(3).exit_code(), 3);
        assert_eq!(Status::Signaled(11).exit_code(), 139);
        assert_eq!(Status::SentryPanic("x".into()).exit_code(), 125);
        assert_eq!(Status::TimedOut(Duration::from_secs(1)).exit_code(), 124);
        assert_eq!(Status::Interrupted(2).exit_code(), 130);
        assert_eq!(Status::Interrupted(15).exit_code(), 143);
    }
}
