//! The OCI lifecycle commands (create, start, run, state, list, kill,
//! delete) and the sandbox process they start.
//!
//! `create` checks the bundle, makes the state directory and forks the
//! sandbox process (`boot.rs`), which reports ready on a socket and then
//! waits for `start`. Its exit status is the container's (128+n when the
//! container or the sandbox process is killed by signal n).

use std::ffi::OsString;
use std::io::Read as _;
use std::os::fd::AsFd as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::net::UnixStream;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

use super::boot::{self, BootSpec, SandboxProcess, READY};
use super::config::{self, ContainerConfig};
use super::hooks::{self, Kind};
use super::place;
use super::state::{self, Container, Status, Stored, CONFIG_COPY, START_FIFO};
use crate::sandbox::SandboxPlatform;

/// How long the sandbox process may take to get ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a killed sandbox process may take to disappear.
const DEATH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a sandbox process asked to destroy its VM may take to exit
/// before it is killed.
const DESTROY_GRACE: Duration = Duration::from_secs(3);

/// What `create` and `run` are asked.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    pub root: PathBuf,
    pub id: String,
    pub bundle: PathBuf,
    pub pid_file: Option<PathBuf>,
    /// `--console-socket`: where the pty master of a `process.terminal`
    /// container goes.
    pub console_socket: Option<PathBuf>,
    /// The global flags (logging, platform) the sandbox process shows on
    /// its command line, before `boot`.
    pub global_args: Vec<OsString>,
    /// `--debug`: the sandbox traces the container's syscalls.
    pub strace: bool,
    pub platform: SandboxPlatform,
    /// `--preserve-fds`: the caller's fds 3 to 3+N-1 go to the container.
    pub preserve_fds: u32,
}

/// `create`: the container is created, its sandbox process waits for
/// `start`.
pub fn create(req: &CreateRequest) -> anyhow::Result<()> {
    let created = create_container(req, true)?;
    // `start` reads the status from the file: recorded before returning.
    created.container.save()?;
    Ok(())
}

/// `run`: create and start; in the foreground, waits for the container and
/// deletes it, returning its exit status.
pub fn run(req: &CreateRequest, detach: bool) -> anyhow::Result<u8> {
    // Holds the caller's terminal raw while the container uses it.
    let Created { container: mut c, child, terminal: _terminal, hooks } = create_container(req, detach)?;
    // Started under the lock `create_container` took: no other command
    // sees the container between created and running, so the created
    // state is not written.
    if let Err(e) = start_with(&mut c, &hooks) {
        let _ = child.kill();
        let _ = child.wait();
        let _ = destroy(c, Some(&hooks));
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    // Let `state`, `kill` and the others in while the container runs.
    drop(c);
    let status = wait_forwarding_signals(&child)?;
    if status.signal() == Some(libc::SIGSYS) {
        // SECCOMP_RET_KILL_PROCESS (see seccomp.rs); the kernel's audit
        // log, where enabled, has the system call.
        eprintln!("ringfence: the sandbox process was killed by SIGSYS: a system call outside its seccomp filter");
        tracing::error!(pid = child.pid(), "sandbox process killed by its seccomp filter");
    }
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => u8::try_from(c).unwrap_or(255),
        (None, Some(s)) => 128u8.saturating_add(u8::try_from(s).unwrap_or(127)),
        (None, None) => 255,
    };
    if let Ok(c) = Container::open(&req.root, &req.id, true) {
        destroy(c, Some(&hooks))?;
    }
    Ok(code)
}

/// A container `create_container` made, its sandbox process ready.
struct Created {
    /// Locked; its status set to created in memory (saved by the caller).
    container: Container,
    child: SandboxProcess,
    /// The caller's terminal, held raw while the container uses it.
    terminal: Option<super::console::CallerTerminal>,
    hooks: hooks::Hooks,
}

fn create_container(req: &CreateRequest, detach: bool) -> anyhow::Result<Created> {
    state::check_id(&req.id)?;
    // Checked before anything is made, as the config.
    super::preserve::caller_fds(req.preserve_fds)?;
    let bundle = std::fs::canonicalize(&req.bundle).with_context(|| format!("bundle {}", req.bundle.display()))?;
    // Checked before anything is made: a bad config leaves nothing behind.
    let (cfg, bytes) = config::load_bundle(&bundle)?;
    for w in &cfg.process.warnings {
        tracing::warn!("{w}");
    }
    // A foreground `run` may take a console socket too (runc refuses it):
    // the terminal goes to the socket and `run` waits for the exit status.
    super::console::check(cfg.terminal, req.console_socket.as_deref(), detach || req.console_socket.is_some())?;
    let root = state::ensure_root(&req.root)?;
    let stored = Stored {
        id: req.id.clone(),
        status: Status::Creating,
        pid: None,
        pid_start: None,
        bundle: bundle.clone(),
        rootfs: cfg.rootfs.clone(),
        created: state::now_rfc3339(),
        annotations: cfg.annotations.clone(),
    };
    let mut c = Container::create(&root, stored)?;
    match prepare(&mut c, req, &cfg, &root, &bundle, &bytes, detach) {
        Ok((child, terminal)) => Ok(Created { container: c, child, terminal, hooks: cfg.hooks }),
        Err(e) => {
            let _ = destroy(c, Some(&cfg.hooks));
            Err(e)
        }
    }
}

/// Writes the config copy and the FIFO, starts the sandbox process and
/// waits until it is ready; marks it created (in memory: the caller saves
/// it, or starts it at once).
fn prepare(
    c: &mut Container,
    req: &CreateRequest,
    cfg: &ContainerConfig,
    root: &Path,
    bundle: &Path,
    bytes: &[u8],
    detach: bool,
) -> anyhow::Result<(SandboxProcess, Option<super::console::CallerTerminal>)> {
    let console = req.console_socket.as_deref().filter(|_| cfg.terminal);
    std::fs::write(c.dir.join(CONFIG_COPY), bytes).context("cannot copy config.json")?;
    crate::sys::mkfifo(&c.dir.join(START_FIFO)).context("cannot create the start FIFO")?;
    let (mut mine, theirs) = UnixStream::pair().context("cannot create the ready socket")?;
    let mut command_line: Vec<OsString> = vec!["ringfence".into()];
    command_line.extend(req.global_args.iter().cloned());
    command_line.extend(["--root".into(), root.as_os_str().to_owned(), "boot".into(), "--bundle".into()]);
    command_line.push(bundle.as_os_str().to_owned());
    if req.preserve_fds > 0 {
        command_line.extend(["--preserve-fds".into(), req.preserve_fds.to_string().into()]);
    }
    command_line.push(req.id.clone().into());
    let mut stdio = None;
    if let Some(socket) = console {
        let slave = super::console::setup(socket)?;
        stdio = Some([slave.try_clone()?, slave.try_clone()?, slave]);
    }
    // A foreground `run` without a console socket: the caller's terminal.
    let terminal = if cfg.terminal && console.is_none() { Some(super::console::CallerTerminal::open()?) } else { None };
    if let Some(t) = &terminal {
        stdio = Some(t.stdio()?);
    }
    let (placement, pid_namespace) = place::prepare(&c.dir, &req.id, &cfg.placement)?;
    let spec = BootSpec {
        dir: &c.dir,
        cfg,
        strace: req.strace,
        platform: req.platform,
        preserve_fds: req.preserve_fds,
        stdio,
        new_session: detach,
        placement,
        pid_namespace,
        command_line,
        // A foreground `run` reports the sandbox process's failure itself
        // (stderr, exit status), after `create` as well as before.
        late_gofer_check: !detach,
    };
    let child = boot::fork(&spec, theirs).context("cannot start the sandbox process")?;
    // Closes the child's stdio and the cgroup and namespace files.
    drop(spec);
    let pid = child.pid();
    // Recorded at once, so that `delete --force` of a container whose
    // `create` was killed half-way also ends its sandbox process.
    c.stored.pid = Some(pid);
    c.stored.pid_start = state::proc_start_time(pid);
    if let Err(e) = c.save() {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    let mut got = Vec::new();
    mine.set_read_timeout(Some(READY_TIMEOUT))?;
    let read = (&mut mine).take(READY.len() as u64).read_to_end(&mut got);
    if read.is_err() || got != READY {
        let _ = child.kill();
        let _ = child.wait();
        bail!("the sandbox process failed to start (its error, if any, is above)");
    }
    // The runtime environment exists: prestart (deprecated, still run as
    // runc does), createRuntime and createContainer hooks, status creating.
    let state = serde_json::to_string(&c.spec_state())?;
    for kind in [Kind::Prestart, Kind::CreateRuntime, Kind::CreateContainer] {
        if let Err(e) = cfg.hooks.run(kind, &state) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    }
    c.stored.status = Status::Created;
    if let Some(path) = &req.pid_file {
        if let Err(e) = write_pid_file(path, pid) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    }
    Ok((child, terminal))
}

fn write_pid_file(path: &Path, pid: i32) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, pid.to_string()).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// `start`.
pub fn start(root: &Path, id: &str) -> anyhow::Result<()> {
    let mut c = Container::open(root, id, true)?;
    check_startable(&c)?;
    let hooks = hooks::load(&c.dir.join(CONFIG_COPY))?;
    start_with(&mut c, &hooks)
}

fn check_startable(c: &Container) -> anyhow::Result<()> {
    match c.status() {
        Status::Created => {}
        Status::Running => bail!("cannot start an already running container"),
        Status::Stopped => bail!("cannot start a container that has stopped"),
        Status::Paused => bail!("cannot start a paused container"),
        Status::Creating => bail!("cannot start a container in the creating state"),
    }
    Ok(())
}

/// Starts a created container (checked by the caller) whose config has
/// `hooks`.
fn start_with(c: &mut Container, hooks: &hooks::Hooks) -> anyhow::Result<()> {
    if hooks.has(Kind::StartContainer) {
        if let Err(e) = hooks.run(Kind::StartContainer, &serde_json::to_string(&c.spec_state())?) {
            // The runtime spec: stop the container; `delete` then runs the
            // poststop hooks.
            let _ = kill_and_wait(c);
            return Err(e);
        }
    }
    let fifo = c.dir.join(START_FIFO);
    // Non-blocking, so that a sandbox process that died is noticed (its
    // pidfd becomes readable) instead of waited for forever.
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .with_context(|| format!("cannot open {}", fifo.display()))?;
    let Some(pid) = c.stored.pid else { bail!("the sandbox process exited before start") };
    // Gone (reaped) already: no pidfd, and the wait looks at the FIFO once
    // for a byte written before the exit. A recycled pid's pidfd watches
    // the wrong process, but `alive` (its start time) tells them apart.
    let pidfd = match rustix::process::Pid::from_raw(pid)
        .map(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()))
    {
        None | Some(Err(rustix::io::Errno::SRCH)) => None,
        Some(Err(e)) => return Err(e).context("cannot watch the sandbox process"),
        Some(Ok(fd)) => Some(fd),
    };
    super::start_wait::wait_for_start(&mut f, pidfd.as_ref().map(|fd| fd.as_fd()), || c.alive(), READY_TIMEOUT)?;
    let _ = std::fs::remove_file(&fifo);
    c.stored.status = Status::Running;
    c.save()?;
    if hooks.has(Kind::Poststart) {
        hooks.run_warn(Kind::Poststart, &serde_json::to_string(&c.spec_state())?);
    }
    Ok(())
}

/// Waits for the sandbox process, passing on the signals a foreground
/// runtime is expected to forward.
fn wait_forwarding_signals(child: &SandboxProcess) -> anyhow::Result<std::process::ExitStatus> {
    use libc::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
    let pid = child.pid();
    // Forwarded from the signal handler itself: a forwarding thread cost a
    // thread start and join (~0.4 ms) on every foreground `run`.
    crate::sys::forward_signals(pid, &[SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2])
        .context("cannot watch signals")?;
    // Not reaped until forwarding stops, so the pid cannot be reused by a
    // process a late signal would then hit.
    let exited = crate::sys::wait_exited_unreaped(pid);
    crate::sys::stop_forwarding();
    exited.context("cannot wait for the sandbox process")?;
    child.wait().context("cannot wait for the sandbox process")
}

/// `state`: the runtime-spec state JSON.
pub fn state(root: &Path, id: &str) -> anyhow::Result<String> {
    let c = Container::open(root, id, false)?;
    Ok(serde_json::to_string_pretty(&c.spec_state())?)
}

/// `list`: a table (as runc's) or JSON.
pub fn list(root: &Path, json: bool) -> anyhow::Result<String> {
    let mut rows = Vec::new();
    for id in state::list_ids(root)? {
        // Deleted between the listing and the open: not listed.
        let Ok(c) = Container::open(root, &id, false) else { continue };
        let status = c.status();
        let pid = c.stored.pid.filter(|_| status != Status::Stopped).unwrap_or(0);
        let owner = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&c.dir)?);
        let owner = if owner == 0 { "root".to_owned() } else { owner.to_string() };
        rows.push((c.stored, status, pid, owner));
    }
    if json {
        let items: Vec<_> = rows
            .iter()
            .map(|(s, status, pid, owner)| {
                serde_json::json!({
                    "ociVersion": super::spec::OCI_VERSION,
                    "id": s.id, "pid": pid, "status": status, "bundle": s.bundle,
                    "rootfs": s.rootfs, "created": s.created, "annotations": s.annotations, "owner": owner,
                })
            })
            .collect();
        return Ok(serde_json::to_string(&items)?);
    }
    let mut table = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"].map(str::to_owned)];
    for (s, status, pid, owner) in rows {
        table.push([s.id, pid.to_string(), status.to_string(), s.bundle.display().to_string(), s.created, owner]);
    }
    Ok(super::table::format(&table, "   "))
}

/// `kill ID SIGNAL [--all]`: through the control channel to the
/// container's init (or every process) once its VM runs; before that
/// (created), to the sandbox process, which ends the container on
/// SIGTERM/SIGINT and dies of the others.
pub fn kill(root: &Path, id: &str, sig: i32, all: bool) -> anyhow::Result<()> {
    let c = Container::open(root, id, true)?;
    match (c.status(), c.stored.pid) {
        (Status::Running | Status::Paused, Some(pid)) if super::rpc::available(&c.dir) => {
            super::control_cmds::kill_running(&c, pid, sig, all)
        }
        (Status::Created | Status::Running | Status::Paused, Some(pid)) => {
            crate::sys::kill(pid, sig).with_context(|| format!("cannot signal the sandbox process {pid}"))
        }
        _ => bail!("container not running"),
    }
}

/// `delete [--force]`.
pub fn delete(root: &Path, id: &str, force: bool) -> anyhow::Result<()> {
    let c = Container::open(root, id, true)?;
    match c.status() {
        Status::Stopped => {}
        // As runc: a created container is destroyed without --force.
        Status::Created => kill_and_wait(&c)?,
        Status::Running | Status::Creating | Status::Paused if force => kill_and_wait(&c)?,
        s => bail!("cannot delete container {id} that is not stopped: {s}"),
    }
    destroy(c, None)
}

/// Takes a container whose sandbox process is gone off the host: its
/// cgroup (and anything left in it), the poststop hooks, its directory.
/// `hooks`: its config's, when the caller has them (else read from the
/// config copy).
fn destroy(c: Container, hooks: Option<&hooks::Hooks>) -> anyhow::Result<()> {
    let cgroup = place::remove(&c.dir);
    // A config copy that is missing or unreadable: `create` failed before
    // any hook could have run.
    let loaded = if hooks.is_none() { hooks::load(&c.dir.join(CONFIG_COPY)).ok() } else { None };
    if let Some(hooks) = hooks.or(loaded.as_ref()) {
        if hooks.has(Kind::Poststop) {
            let mut state = c.spec_state();
            state.status = Status::Stopped;
            state.pid = None;
            hooks.run_warn(Kind::Poststop, &serde_json::to_string(&state)?);
        }
    }
    let removed = c.remove();
    cgroup.and(removed)
}

fn kill_and_wait(c: &Container) -> anyhow::Result<()> {
    let Some(pid) = c.stored.pid else { return Ok(()) };
    // Readable once the process exits: the wait below wakes then, not at
    // its next look (a 2 ms sleep made every `delete --force` wait ~1 ms
    // more on average). Opened while `alive` can tell whether it watches
    // the container's process (a recycled pid is not taken for it).
    let pidfd = rustix::process::Pid::from_raw(pid)
        .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok());
    // A running VM is stopped through the control socket, so that the
    // sandbox process ends it cleanly (exit status recorded, `wait`
    // callers answered); SIGKILL otherwise, or when that does not end it.
    let mut killed = !c.alive()
        || !matches!(c.status(), Status::Running | Status::Paused)
        || super::rpc::call(&c.dir, super::rpc::Method::Destroy, &[], Some(DESTROY_GRACE)).is_err();
    if killed && c.alive() {
        let _ = crate::sys::kill(pid, libc::SIGKILL);
    }
    let start = Instant::now();
    while c.alive() {
        if !killed && start.elapsed() > DESTROY_GRACE {
            let _ = crate::sys::kill(pid, libc::SIGKILL);
            killed = true;
        }
        if start.elapsed() > DEATH_TIMEOUT {
            bail!("the sandbox process {pid} did not die");
        }
        // Bounded: the grace and death deadlines are checked above, and
        // without a pidfd (a kernel before 5.3) this is the old poll.
        let step = Duration::from_millis(if pidfd.is_some() { 50 } else { 2 });
        match &pidfd {
            Some(fd) => {
                let ms = i32::try_from(step.as_millis()).unwrap_or(i32::MAX);
                let _ = crate::sys::poll_readable(&[fd.as_fd()], ms);
            }
            None => std::thread::sleep(step),
        }
    }
    Ok(())
}

/// Parses a signal as `kill` takes it: a number, or a name with or without
/// `SIG`.
pub fn parse_signal(s: &str) -> anyhow::Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=libc::SIGRTMAX()).contains(&n) {
            return Ok(n);
        }
        bail!("invalid signal number {n}");
    }
    let name = s.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    let sig = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => bail!("unknown signal {s:?}"),
    };
    Ok(sig)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals() {
        assert_eq!(parse_signal("9").ok(), Some(9));
        assert_eq!(parse_signal("KILL").ok(), Some(9));
        assert_eq!(parse_signal("sigterm").ok(), Some(15));
        assert_eq!(parse_signal("SIGUSR1").ok(), Some(libc::SIGUSR1));
        assert!(parse_signal("0").is_err());
        assert!(parse_signal("NOPE").is_err());
    }
}
