//! The VMM: one KVM virtual machine running the ringfence guest image (the
//! sentry) with one program as its boot module.
//!
//! [`run`] / [`run_with`] build the VM (see `builder.rs`, a linear recipe),
//! run the vCPU on the calling thread and serve its hostcalls until the
//! program exits, the sentry fails, or a [`StopSignal`] stops it.
//!
//! Unsafe code is confined to `vstate` (KVM, guest memory) and `sys` (raw
//! libc calls); every other module is safe Rust.

mod arch;
mod builder;
pub mod control;
mod error;
mod hostcall;
mod loader;
mod profile;
mod stop;
#[allow(unsafe_code)]
mod sys;
#[allow(unsafe_code)]
mod vstate;

/// Facts about the host's standard streams and randomness, for a platform
/// that builds the sentry's boot parameters itself (ptrace).
pub mod hostinfo {
    pub use crate::sys::{getrandom, isatty, stdio_stat, termios, winsize};
}

pub use error::{GuestFault, VmmError};
pub use hostcall::HostcallError;
pub use loader::LoadError;
pub use stop::{StopReason, StopSignal};
pub use vstate::{KvmError, MemoryError, VcpuError};

use std::sync::Arc;

/// What to run and how.
#[derive(Debug, Clone, Default)]
pub struct VmConfig {
    /// Guest memory size in bytes (page aligned, within
    /// [`abi::layout::MIN_GUEST_MEMORY`]..=[`abi::layout::MAX_GUEST_MEMORY`]).
    pub memory_bytes: u64,
    /// The guest kernel ELF: borrowed when the running binary carries it
    /// (no heap copy of a megabyte per sandbox), owned when built at run
    /// time (tests).
    pub guest_image: std::borrow::Cow<'static, [u8]>,
    /// The program's ELF file (the boot module).
    pub program: Vec<u8>,
    /// `AT_EXECFN`: the path the program was found at.
    pub exec_path: Vec<u8>,
    /// The program's arguments, `argv[0]` included.
    pub argv: Vec<Vec<u8>>,
    /// The program's environment (`NAME=value` entries).
    pub envp: Vec<Vec<u8>>,
    /// Trace syscalls ([`abi::boot::FLAG_STRACE`]).
    pub strace: bool,
    /// uname nodename (at most 64 bytes).
    pub hostname: Vec<u8>,
    /// The connection to the gofer serving the container's files, if any
    /// (shared so that the config stays cloneable; used by one vCPU).
    pub gofer: Option<std::sync::Arc<std::os::unix::net::UnixStream>>,
    /// Waits until the gofer serves (its start overlaps VM creation and
    /// guest boot); run once, at the first 9P exchange. An `Err` ends the
    /// run with [`VmmError::GoferStart`].
    pub gofer_ready: Option<GoferReady>,
    /// Put an in-sandbox tmpfs over the (read-only) root from the gofer
    /// ([`abi::boot::FLAG_ROOT_OVERLAY`]).
    pub root_overlay: bool,
    /// The control channel to the running sentry (exec, ps, signals,
    /// pause), if the embedding program serves one.
    pub control: Option<Arc<control::Control>>,
    /// Test hook: make the sentry fault in supervisor mode after boot
    /// ([`abi::boot::FLAG_INJECT_SENTRY_FAULT`]).
    pub inject_sentry_fault: bool,
    /// What the OCI config asks of init and the mounts
    /// ([`abi::container`]); empty for the defaults.
    pub container_block: Vec<u8>,
    /// Run once the VM is built, right before the guest first runs: the
    /// sandbox process confines itself there (seccomp), keeping only what
    /// running the VM needs; an OCI sandbox process, built ahead of
    /// `start`, also waits there for it. An `Err` stops the run.
    pub before_run: Option<BeforeRun>,
    /// The host's fds 0 and 1 are the container's raw pty: the sentry
    /// runs `/dev/console` over them ([`abi::boot::FLAG_CONSOLE`]).
    pub console: bool,
}

/// A step run before the guest first runs (see [`VmConfig::before_run`]).
#[derive(Clone)]
pub struct BeforeRun(pub Arc<dyn Fn() -> Result<(), String> + Send + Sync>);

impl std::fmt::Debug for BeforeRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BeforeRun")
    }
}

/// A blocking check that the gofer started: `Err` carries why it did not.
#[derive(Clone)]
pub struct GoferReady(pub Arc<dyn Fn() -> Result<(), String> + Send + Sync>);

impl std::fmt::Debug for GoferReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GoferReady")
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The program called `exit_group(code)`.
    Exited(u8),
    /// The program was killed by a signal.
    Signaled(u32),
    /// The sentry failed; the message is its panic text.
    SentryPanic(String),
}

/// Counters of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunStats {
    /// VM exits seen by the run loop (hostcalls included).
    pub exits: u64,
    /// Hostcalls served.
    pub hostcalls: u64,
    /// Nanoseconds from VM creation to the first `KVM_RUN`.
    pub boot_ns: u64,
    /// P9 hostcalls and the time spent relaying them to the gofer.
    pub p9_exchanges: u64,
    pub p9_ns: u64,
    /// The vCPU's KVM counters that changed during the run (name, delta).
    pub kvm: Vec<(String, u64)>,
}

/// Runs `config` to completion on the calling thread.
pub fn run(config: VmConfig) -> Result<(Outcome, RunStats), VmmError> {
    run_with(config, Arc::new(StopSignal::new()))
}

/// A VM built by [`build`], waiting to run.
pub struct BuiltVm(builder::Built);

impl std::fmt::Debug for BuiltVm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BuiltVm")
    }
}

// Built on one thread, run on another.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<BuiltVm>();
};

/// Builds the VM `config` describes (guest memory, the loaded image and
/// program, the configured vCPU) without running it, so that a caller can
/// build it on another thread while it starts the gofer and the rest.
/// Only the fields that shape the guest are read, not `gofer`,
/// `gofer_ready`, `before_run` or `control`.
pub fn build(config: &VmConfig) -> Result<BuiltVm, VmmError> {
    builder::build(config).map(BuiltVm)
}

/// Runs a VM [`build`] made from `config`'s guest fields, with `config`'s
/// gofer, `before_run` and control channel, on the calling thread; `stop`
/// as for [`run_with`].
pub fn run_built(vm: BuiltVm, config: VmConfig, stop: Arc<StopSignal>) -> Result<(Outcome, RunStats), VmmError> {
    builder::run_built(vm.0, &config, &stop)
}

/// Runs `config` on the calling thread; another thread may end the run early
/// with [`StopSignal::stop`], which makes this return
/// [`VmmError::Stopped`] promptly.
pub fn run_with(config: VmConfig, stop: Arc<StopSignal>) -> Result<(Outcome, RunStats), VmmError> {
    builder::build_and_run(&config, &stop)
}
