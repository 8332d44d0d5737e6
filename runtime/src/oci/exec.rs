//! `exec`: runs a new process in a running container, as runc does. The
//! process is described by the container's own `process` (env, cwd, user)
//! or `--process FILE`, with the command-line overrides on top; its stdio
//! are this command's own stdin, stdout and stderr, passed to the sandbox
//! (SCM_RIGHTS). With `--tty` it gets a new pty of the sandbox's devpts as
//! controlling terminal, whose host side is a pty whose master goes to
//! `--console-socket`, or the caller's terminal (`console.rs`). Without `--detach`, waits for it and returns its exit
//! status (128+n when killed by signal n), forwarding the signals a
//! foreground runtime passes on.

use std::os::fd::{AsFd as _, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context as _};

use super::rpc::{self, ExecArgs, Method};
use super::state::{Container, Status, CONFIG_COPY};

/// How long starting the process may take.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// What `exec` is asked.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    pub root: PathBuf,
    pub id: String,
    /// `--process FILE`: a runtime-spec `process` object.
    pub process: Option<PathBuf>,
    /// The command and its arguments (replacing the process's).
    pub args: Vec<String>,
    pub cwd: Option<String>,
    /// `--env NAME=VALUE`, added to (or replacing in) the environment.
    pub env: Vec<String>,
    /// `--user UID[:GID]`.
    pub user: Option<String>,
    /// `--additional-gids`.
    pub additional_gids: Vec<u32>,
    pub detach: bool,
    pub pid_file: Option<PathBuf>,
    pub tty: bool,
    pub console_socket: Option<PathBuf>,
}

/// `exec`: the process's exit status (0 with `--detach`).
pub fn exec(req: &ExecRequest) -> anyhow::Result<u8> {
    let c = Container::open(&req.root, &req.id, false)?;
    match c.status() {
        Status::Running => {}
        Status::Paused => bail!("cannot exec in a paused container"),
        Status::Stopped => bail!("cannot exec in a stopped container"),
        Status::Creating | Status::Created => bail!("cannot exec in a container that has not started"),
    }
    let dir = c.dir.clone();
    let args = exec_args(req, &dir)?;
    // runc's rules: a console socket with a terminal (here also in the
    // foreground), else the caller's terminal unless detached.
    super::console::check(args.terminal, req.console_socket.as_deref(), req.detach || req.console_socket.is_some())?;
    // Not held while the process runs: kill, ps and the others must get in.
    drop(c);
    // Holds the caller's terminal raw until the process ends.
    let mut terminal = None;
    let stdio = match (args.terminal, &req.console_socket) {
        (false, _) => stdio()?,
        (true, Some(socket)) => {
            let slave = super::console::setup(socket)?;
            vec![slave.try_clone()?, slave.try_clone()?, slave]
        }
        (true, None) => terminal.insert(super::console::CallerTerminal::open()?).stdio()?.into(),
    };
    let program = args.args.first().cloned().unwrap_or_default();
    let v = rpc::call(&dir, Method::ExecuteAsync(args), &rpc::borrow(&stdio), Some(START_TIMEOUT))
        .with_context(|| format!("unable to start container process: exec {program}"))?;
    drop(stdio);
    let pid = v.as_u64().and_then(|p| u32::try_from(p).ok()).context("malformed reply from the sandbox")?;
    if let Some(path) = &req.pid_file {
        // The process has no host pid of its own: its pid in the container.
        write_pid_file(path, pid)?;
    }
    if req.detach {
        return Ok(0);
    }
    let forwarder = forward_signals(&dir, pid)?;
    let r = rpc::call(&dir, Method::WaitPID { pid }, &[], None);
    forwarder.close();
    let status = r.context("cannot wait for the process")?;
    let status = status.as_i64().and_then(|s| i32::try_from(s).ok()).context("malformed reply from the sandbox")?;
    Ok(exit_code(status))
}

/// A wait status as a shell's exit status.
fn exit_code(status: i32) -> u8 {
    let sig = status & 0x7f;
    if sig == 0 {
        u8::try_from((status >> 8) & 0xff).unwrap_or(255)
    } else {
        128u8.saturating_add(u8::try_from(sig).unwrap_or(127))
    }
}

fn stdio() -> anyhow::Result<Vec<OwnedFd>> {
    let fds = [
        std::io::stdin().as_fd().try_clone_to_owned(),
        std::io::stdout().as_fd().try_clone_to_owned(),
        std::io::stderr().as_fd().try_clone_to_owned(),
    ];
    fds.into_iter().map(|f| f.context("cannot pass on the standard streams")).collect()
}

/// The process to start: the base (`--process` or the container's own),
/// then the flags.
fn exec_args(req: &ExecRequest, dir: &Path) -> anyhow::Result<ExecArgs> {
    use oci_spec::runtime::Process;
    let process: Process = match &req.process {
        Some(path) => {
            let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            serde_json::from_slice(&bytes).with_context(|| format!("{}: invalid process", path.display()))?
        }
        None => {
            let path = dir.join(CONFIG_COPY);
            let bytes = std::fs::read(&path).context("cannot read the container's config")?;
            let spec: oci_spec::runtime::Spec = serde_json::from_slice(&bytes).context("the container's config")?;
            spec.process().clone().unwrap_or_default()
        }
    };
    let args = match (&req.process, req.args.is_empty()) {
        (_, false) => req.args.clone(),
        (Some(_), true) => process.args().clone().unwrap_or_default(),
        (None, true) => Vec::new(),
    };
    if args.is_empty() {
        bail!("exec args cannot be empty");
    }
    let mut env = process.env().clone().unwrap_or_default();
    for e in &req.env {
        let Some((name, _)) = e.split_once('=') else { bail!("--env {e:?}: expected NAME=VALUE") };
        env.retain(|x| x.split_once('=').map(|(n, _)| n) != Some(name));
        env.push(e.clone());
    }
    let cwd = req.cwd.clone().unwrap_or_else(|| process.cwd().display().to_string());
    if !cwd.starts_with('/') {
        bail!("--cwd {cwd:?}: must be an absolute path");
    }
    let (mut uid, mut gid) = (process.user().uid(), process.user().gid());
    let mut additional_gids = process.user().additional_gids().clone().unwrap_or_default();
    if let Some(u) = &req.user {
        let (u, g) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        uid = u.parse().with_context(|| format!("--user {u:?}: only numeric uid[:gid] is supported"))?;
        if let Some(g) = g {
            gid = g.parse().with_context(|| format!("--user: invalid gid {g:?}"))?;
        }
    }
    additional_gids.extend(&req.additional_gids);
    // As runc: `--tty`, or the `--process` file's own `terminal`.
    let terminal = req.tty || (req.process.is_some() && process.terminal() == Some(true));
    // As runc: the base process's capabilities, which `--user` leaves as
    // they are.
    let caps = super::process::cap_masks(&process)
        .map_err(|(field, why)| anyhow::anyhow!("{field}: {why}"))?
        .map(|c| [c.bounding, c.effective, c.inheritable, c.permitted, c.ambient]);
    Ok(ExecArgs { args, env, cwd, uid, gid, additional_gids, terminal, caps })
}

fn write_pid_file(path: &Path, pid: u32) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, pid.to_string()).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Passes SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 received by
/// this command on to the process.
fn forward_signals(dir: &Path, pid: u32) -> anyhow::Result<signal_hook::iterator::Handle> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2])
        .context("cannot watch signals")?;
    let handle = signals.handle();
    let dir = dir.to_path_buf();
    std::thread::Builder::new().name("rf-forward".into()).spawn(move || {
        for sig in signals.forever() {
            let Ok(signal) = u32::try_from(sig) else { continue };
            let method = Method::Signal { signal, pid: Some(pid), all: false };
            if let Err(e) = rpc::call(&dir, method, &[], Some(Duration::from_secs(5))) {
                tracing::debug!(err = format!("{e:#}"), "signal not forwarded");
            }
        }
    })?;
    Ok(handle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(exit_code(3 << 8), 3);
        assert_eq!(exit_code(9), 137);
        assert_eq!(exit_code(0), 0);
    }
}
