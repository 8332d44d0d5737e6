//! The sandbox process of a container: forked by `create` (and `run`)
//! without exec (see `crate::forked`), in the container's pid namespace
//! (its pid 1), cgroup and namespaces. It starts the gofer, builds the VM
//! (KVM) and serves the control socket, reports ready on a socket `create`
//! reads, then blocks opening the start FIFO for writing (as runc's
//! exec.fifo) until `start` opens it for reading; only then does the
//! container run, under the sandbox's seccomp filter. Its exit status is
//! the container's.
//!
//! Forking instead of executing `ringfence boot` takes the exec and a new
//! process image's start-up (2-4 ms of a ~27 ms `run` here, and ~1.2 MiB
//! of the sandbox process's peak RSS) off every container's start; the child
//! works from the config `create` checked, and shows `ringfence ... boot
//! ... ID` as its command line, as an exec'd one did.

use std::ffi::OsString;
use std::io::Write as _;
use std::os::fd::{AsFd as _, AsRawFd as _, OwnedFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context as _};

use super::config::ContainerConfig;
use super::state::START_FIFO;
use crate::forked;
use crate::gofer::{Gofer, GoferSpec, Launch};
use crate::guest::GUEST_IMAGE;
use crate::program::Program;
use crate::sandbox::{self, SandboxOptions, SandboxPlatform};
use crate::sys::{self, PidNamespace, Placement};

/// What the sandbox process writes on its ready socket once it waits for
/// `start`.
pub const READY: &[u8] = b"ready\n";
/// The exit status of a sandbox process that could not start (as a
/// failing `ringfence` command's).
const FAILURE: libc::c_int = 125;
/// The hostname of a container whose config sets none.
const DEFAULT_HOSTNAME: &str = "ringfence";

/// How to start a container's sandbox process.
pub struct BootSpec<'a> {
    /// The container's state directory.
    pub dir: &'a Path,
    /// The config `create` checked (and copied into `dir`).
    pub cfg: &'a ContainerConfig,
    /// `--debug`: trace the container's syscalls.
    pub strace: bool,
    pub platform: SandboxPlatform,
    /// `--preserve-fds`: this process's fds 3 to 3+N-1 become the
    /// container's (checked open by the caller).
    pub preserve_fds: u32,
    /// Its stdin, stdout and stderr, when not this process's own.
    pub stdio: Option<[OwnedFd; 3]>,
    /// A session of its own (a detached container).
    pub new_session: bool,
    pub placement: Placement,
    pub pid_namespace: PidNamespace,
    /// What /proc/PID/cmdline shows (`ringfence ... boot ... ID`).
    pub command_line: Vec<OsString>,
    /// Report ready before the gofer has answered (a foreground `run`,
    /// which starts the container at once): a gofer that did not start
    /// ends the run at the first 9P exchange instead of failing `create`.
    pub late_gofer_check: bool,
}

/// A sandbox process started by [`fork`], not reaped until [`Self::wait`]
/// (dropping it neither kills nor waits, as std's `Child`).
#[derive(Debug)]
pub struct SandboxProcess {
    pid: libc::pid_t,
}

impl SandboxProcess {
    /// Its pid (in the caller's pid namespace).
    pub fn pid(&self) -> libc::pid_t {
        self.pid
    }

    /// SIGKILL.
    pub fn kill(&self) -> std::io::Result<()> {
        sys::kill(self.pid, libc::SIGKILL)
    }

    /// Waits for it to exit and reaps it.
    pub fn wait(&self) -> std::io::Result<ExitStatus> {
        let status = sys::waitpid(self.pid, 0)?.unwrap_or_default();
        Ok(ExitStatus::from_raw(status))
    }
}

/// Forks the sandbox process of `spec`, which reports on `ready`. This
/// process must be single-threaded.
pub fn fork(spec: &BootSpec<'_>, ready: UnixStream) -> anyhow::Result<SandboxProcess> {
    // Everything the child needs that allocates is prepared here, where
    // failures are reported normally.
    let cmdline = forked::nul_separated(&spec.command_line);
    // The parent's copy of `ready` closes when the closure is dropped
    // uncalled.
    let pid = sys::fork_in_pid_namespace(&spec.pid_namespace, "sandbox process", move || child(spec, ready, cmdline))?;
    Ok(SandboxProcess { pid })
}

/// The forked sandbox process: set up as a fresh process would be, then
/// the container's life; returns its exit status. A failure is printed
/// while the ready socket is still open (`create` kills the process once
/// it closes).
fn child(spec: &BootSpec<'_>, ready: UnixStream, cmdline: Vec<u8>) -> libc::c_int {
    let preserved = match set_up(spec, &ready, cmdline) {
        Ok(fds) => fds,
        Err(e) => return failed(&e),
    };
    let gate = Arc::new(StartGate { ready: Mutex::new(Some(ready)), fifo: spec.dir.join(START_FIFO) });
    match boot(spec, Arc::clone(&gate), preserved) {
        Ok(code) => code.into(),
        Err(e) => failed(&e),
    }
}

fn failed(e: &anyhow::Error) -> libc::c_int {
    eprintln!("ringfence: {e:#}");
    FAILURE
}

/// What exec'ing `ringfence boot` did on the way, in that order (stdio,
/// session, place on the host), then what a fresh process would have:
/// default signal handlers, only its own descriptors. Returns copies of
/// the preserved descriptors.
fn set_up(spec: &BootSpec<'_>, ready: &UnixStream, cmdline: Vec<u8>) -> anyhow::Result<Vec<OwnedFd>> {
    if let Some(stdio) = &spec.stdio {
        sys::set_stdio(stdio.each_ref().map(|fd| fd.as_fd())).context("cannot set up the sandbox's stdio")?;
    }
    if spec.new_session {
        sys::setsid().context("cannot start a session")?;
    }
    spec.placement.take().context("cannot place the sandbox process in its cgroup and namespaces")?;
    // Copies of the caller's fds 3 and up (closed below with the rest),
    // so that they never sit at numbers the process or its gofer use.
    let preserved = super::preserve::caller_fds(spec.preserve_fds)?
        .iter()
        .map(|fd| fd.try_clone_to_owned())
        .collect::<std::io::Result<Vec<OwnedFd>>>()
        .context("cannot keep the preserved descriptors")?;
    forked::default_signal_handlers();
    forked::set_command_line(c"rf-sandbox", cmdline);
    let mut keep = vec![ready.as_raw_fd()];
    keep.extend(preserved.iter().map(|fd| fd.as_raw_fd()));
    keep.extend(forked::child_logging("boot"));
    // `run`'s state lock, its end of the ready socket, the cgroup and
    // namespace files, the stdio copies: never used or dropped here.
    forked::close_all_but(&mut keep);
    Ok(preserved)
}

/// The sandbox process's life once in place: gofer, VM, control server,
/// ready, start, run; returns the container's exit status.
fn boot(spec: &BootSpec<'_>, gate: Arc<StartGate>, preserved: Vec<OwnedFd>) -> anyhow::Result<u8> {
    let (cfg, dir, platform) = (spec.cfg, spec.dir, spec.platform);
    // Pid 1 of its namespace: signals need handlers to be delivered at all.
    use libc::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
    sys::exit_on_signals(&[SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2])
        .context("cannot install signal handlers")?;
    let gofer_spec = GoferSpec {
        launch: Launch::Fork,
        root: cfg.rootfs.clone(),
        readonly: cfg.readonly,
        trees: super::block::gofer_trees(cfg),
    };
    // First: its start-up (confinement) overlaps the VM's construction;
    // the VMM waits for its handshake before the VM is reported ready.
    // Forked while this process is single-threaded (no exec: see
    // `gofer::fork`), by this thread, which lives as long as the sandbox:
    // the gofer's parent-death signal follows the thread that forked it.
    let (gofer, conn) = Gofer::spawn(&gofer_spec).context("cannot start the gofer")?;
    let gofer_ready = crate::gofer::handshake_in_background(&conn).context("cannot start the gofer")?;
    // The control channel (exec, ps, kill, pause...); its server listens
    // below, before `create` returns.
    let control = vmm::control::Control::new(Arc::new(vmm::StopSignal::new()));
    let preserved = control.register_fds(preserved)?;
    let hostname = if cfg.hostname.is_empty() { DEFAULT_HOSTNAME } else { &cfg.hostname };
    let shape = SandboxOptions {
        memory_bytes: cfg.memory_bytes,
        timeout: None,
        strace: spec.strace,
        hostname: hostname.as_bytes().to_vec(),
        inject_sentry_fault: false,
        root_overlay: false,
        gofer: None,
        gofer_ready: None,
        container_block: super::block::container_block(cfg, &preserved),
        before_run: None,
        platform,
        console: cfg.terminal,
        control: None,
    };
    let prog = Program { path: cfg.args[0].clone().into(), bytes: Vec::new() };
    let argv: Vec<Vec<u8>> = cfg.args.iter().map(|a| a.as_bytes().to_vec()).collect();
    let envp: Vec<Vec<u8>> = cfg.env.iter().map(|e| e.as_bytes().to_vec()).collect();
    // The VM is built on a thread of its own, alongside the gofer's start
    // and the rest below.
    let build = match platform {
        SandboxPlatform::Kvm => {
            Some(sandbox::VmBuild::start(GUEST_IMAGE, prog.clone(), argv.clone(), envp.clone(), &shape)?)
        }
        SandboxPlatform::Ptrace => None,
    };
    // Listening before `create` returns, so that no command finds a
    // running container without it; requests wait until the VM runs.
    // Both platforms serve it (the VMM through hostcalls, the ptrace host
    // by direct calls).
    let server = super::server::ControlServer::start(dir, Arc::clone(&control))?;
    let exit_record = super::control_cmds::ExitRecord::create(dir)?;
    let (gofer_ready, before_run) = match platform {
        // The VM is built before `create` returns (the program loaded, not
        // started); it waits for `start` right before the guest first runs,
        // then confines itself with filters compiled beforehand.
        SandboxPlatform::Kvm => {
            // `create` reports a gofer that did not start. A foreground
            // `run` starts the container at once and reports the sandbox
            // process's errors itself: there the VMM checks at the first
            // 9P exchange, and guest boot overlaps the gofer's start-up.
            if !spec.late_gofer_check {
                (gofer_ready.0)().map_err(|e| anyhow::anyhow!("cannot start the gofer: {e}"))?;
            }
            let filters = crate::seccomp::Compiled::new(&[gofer.pid()]).context("seccomp")?;
            let before_run = vmm::BeforeRun(Arc::new(move || {
                sys::release_guest_image_pages();
                gate.open().map_err(|e| format!("{e:#}"))?;
                // The sandbox's SIGINT/SIGTERM watcher runs by then.
                sys::signals_handled();
                filters.install().map_err(|e| crate::seccomp::describe(&e))
            }));
            (Some(gofer_ready), Some(before_run))
        }
        SandboxPlatform::Ptrace => {
            (gofer_ready.0)().map_err(|e| anyhow::anyhow!("cannot start the gofer: {e}"))?;
            gate.open()?;
            (None, None)
        }
    };
    let opts = SandboxOptions { gofer: Some(Arc::new(conn)), gofer_ready, before_run, control: Some(control), ..shape };
    let finished = match build {
        Some(build) => sandbox::run_built(build, &opts)?,
        None => sandbox::run(GUEST_IMAGE, prog, argv, envp, &opts)?,
    };
    if let sandbox::Status::SentryPanic(msg) = &finished.status {
        eprintln!("ringfence: sentry panic: {msg}");
    }
    let code = finished.status.exit_code();
    // For `wait` after the sandbox process is gone.
    let _ = exit_record.record(code);
    server.finish(code);
    drop(gofer);
    Ok(code)
}

/// The sandbox process's side of `create` and `start`: it reports ready on
/// the socket `create` reads, then blocks opening the start FIFO for
/// writing until `start` opens it for reading.
struct StartGate {
    ready: Mutex<Option<UnixStream>>,
    fifo: PathBuf,
}

impl StartGate {
    fn open(&self) -> anyhow::Result<()> {
        let ready = self.ready.lock().map_err(|_| anyhow::anyhow!("ready socket poisoned"))?.take();
        let Some(mut ready) = ready else { bail!("the start gate was already opened") };
        ready.write_all(READY).context("cannot report ready")?;
        drop(ready);
        let mut fifo = std::fs::OpenOptions::new().write(true).open(&self.fifo).context("start FIFO")?;
        fifo.write_all(b"0").context("start FIFO")
    }
}
