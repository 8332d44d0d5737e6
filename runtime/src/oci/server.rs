//! The control server of a sandbox process: serves [`super::rpc`] on
//! `control.sock` while the VM runs, through [`vmm::control::Control`].
//!
//! Every peer is treated as hostile: only the sandbox's own uid may connect
//! (the socket is 0600 and the peer's credentials are checked), a request
//! must arrive whole within [`REQUEST_TIMEOUT`] and fit [`super::rpc::MAX_FRAME`],
//! and anything malformed gets an error reply; nothing a peer sends ends
//! the sandbox.

use std::os::fd::AsFd as _;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use vmm::control::{Control, ExecSpec};

use super::rpc::{
    self, ExecArgs, LoggingArgs, Method, ProcessRow, Request, Response, StatsReply, TaskRow, RPC_VERSION,
};

/// How long a peer may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request may wait for the sentry.
const SENTRY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more are refused.
const MAX_ACTIVE: usize = 64;
/// How long the sandbox process waits, once the VM ended, for `Wait`
/// replies to go out.
const LINGER: Duration = Duration::from_secs(2);

/// Changes this process's log filter (a `tracing` filter such as "debug").
pub type LogReloader = Box<dyn Fn(&str) -> anyhow::Result<()> + Send + Sync>;

static LOG_RELOADER: OnceLock<LogReloader> = OnceLock::new();

/// Registers how `ChangeLogging` changes the log level (the binary's
/// logging set-up does, once).
pub fn set_log_reloader(f: LogReloader) {
    let _ = LOG_RELOADER.set(f);
}

struct Shared {
    control: Arc<Control>,
    /// The container's exit status, once the VM ended.
    exit: Mutex<Option<u8>>,
    ended: Condvar,
    active: AtomicUsize,
}

/// A running control server; [`ControlServer::finish`] ends it.
pub struct ControlServer {
    shared: Arc<Shared>,
}

impl ControlServer {
    /// Listens on `control.sock` in `dir`.
    pub fn start(dir: &Path, control: Arc<Control>) -> anyhow::Result<Self> {
        let path = dir.join(rpc::CONTROL_SOCKET);
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).with_context(|| format!("cannot listen on {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot restrict {}", path.display()))?;
        let shared =
            Arc::new(Shared { control, exit: Mutex::new(None), ended: Condvar::new(), active: AtomicUsize::new(0) });
        let s = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("rf-control".into())
            .spawn(move || accept_loop(&listener, &s))
            .context("cannot start the control server")?;
        Ok(Self { shared })
    }

    /// The VM ended with `code`: answers the `Wait` callers (giving them a
    /// moment to be written). The socket stays until `delete` (the seccomp
    /// filter forbids unlinking); connections to it are refused once the
    /// sandbox process is gone.
    pub fn finish(self, code: u8) {
        *self.shared.exit.lock().unwrap_or_else(PoisonError::into_inner) = Some(code);
        self.shared.ended.notify_all();
        let deadline = Instant::now() + LINGER;
        while self.shared.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn accept_loop(listener: &UnixListener, shared: &Arc<Shared>) {
    let me = rustix::process::geteuid();
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        match crate::sys::peer_uid(conn.as_fd()) {
            Some(uid) if uid == me.as_raw() || uid == 0 => {}
            _ => {
                tracing::warn!("control connection from another user refused");
                continue;
            }
        }
        if shared.active.fetch_add(1, Ordering::SeqCst) >= MAX_ACTIVE {
            shared.active.fetch_sub(1, Ordering::SeqCst);
            reply(&conn, Response::Error("too many control connections".into()));
            continue;
        }
        let s = Arc::clone(shared);
        let spawned = std::thread::Builder::new().name("rf-control-conn".into()).spawn(move || {
            serve(&conn, &s);
            s.active.fetch_sub(1, Ordering::SeqCst);
        });
        if spawned.is_err() {
            shared.active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn reply(conn: &UnixStream, r: Response) {
    let body = serde_json::to_vec(&r).unwrap_or_else(|_| br#"{"error":"cannot encode the reply"}"#.to_vec());
    if let Err(err) = rpc::send_frame(conn, &body, &[]) {
        tracing::debug!(err = format!("{err:#}"), "control reply not sent");
    }
}

fn serve(conn: &UnixStream, shared: &Shared) {
    let r = conn
        .set_read_timeout(Some(REQUEST_TIMEOUT))
        .and_then(|()| conn.set_write_timeout(Some(REQUEST_TIMEOUT)))
        .map_err(anyhow::Error::from)
        .and_then(|()| rpc::recv_frame(conn))
        .and_then(|(body, fds)| {
            let req: Request = serde_json::from_slice(&body).context("malformed request")?;
            if req.version != RPC_VERSION {
                bail!("request version {} not supported (this sandbox speaks {RPC_VERSION})", req.version);
            }
            tracing::debug!(method = ?req.method, fds = fds.len(), "control request");
            handle(shared, req.method, fds)
        });
    reply(
        conn,
        match r {
            Ok(v) => Response::Ok(v),
            Err(e) => Response::Error(format!("{e:#}")),
        },
    );
}

fn handle(shared: &Shared, method: Method, fds: Vec<OwnedFd>) -> anyhow::Result<serde_json::Value> {
    let control = &shared.control;
    if !matches!(method, Method::ExecuteAsync(_)) && !fds.is_empty() {
        bail!("unexpected descriptors with the request");
    }
    Ok(match method {
        Method::Wait => {
            let mut exit = shared.exit.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                if let Some(code) = *exit {
                    break serde_json::json!(code);
                }
                exit = shared.ended.wait(exit).unwrap_or_else(PoisonError::into_inner);
            }
        }
        Method::WaitPID { pid } => serde_json::json!(control.wait_exit(pid, None)?),
        Method::Signal { signal, pid, all } => {
            use abi::control::SignalTarget;
            let (target, pid) = match (all, pid) {
                (true, _) => (SignalTarget::All, 0),
                (false, Some(p)) => (SignalTarget::Process, p),
                (false, None) => (SignalTarget::Foreground, 0),
            };
            control.signal(target, pid, signal, SENTRY_TIMEOUT)?;
            serde_json::Value::Null
        }
        Method::ExecuteAsync(args) => serde_json::json!(exec(control, args, fds)?),
        Method::Processes => serde_json::to_value(processes(control)?)?,
        Method::Event => {
            let s = control.stats(SENTRY_TIMEOUT)?;
            serde_json::to_value(StatsReply {
                pids: s.pids,
                memory_bytes: s.memory_bytes,
                user_ns: s.user_ns,
                system_ns: s.system_ns,
            })?
        }
        Method::Pause => {
            control.pause();
            serde_json::Value::Null
        }
        Method::Resume => {
            control.resume();
            serde_json::Value::Null
        }
        Method::Destroy => {
            tracing::info!("destroy requested");
            control.stop_signal().stop(vmm::StopReason::Signal(libc::SIGKILL));
            serde_json::Value::Null
        }
        Method::Stacks => serde_json::to_value(stacks(control)?)?,
        Method::ChangeLogging(args) => {
            change_logging(control, &args)?;
            serde_json::Value::Null
        }
    })
}

fn stacks(control: &Control) -> anyhow::Result<Vec<TaskRow>> {
    Ok(control
        .stacks(SENTRY_TIMEOUT)?
        .into_iter()
        .map(|t| TaskRow {
            tid: t.tid,
            pid: t.pid,
            state: t.state,
            syscall: t.syscall,
            rip: t.rip,
            rsp: t.rsp,
            comm: t.comm,
            wait: t.wait,
        })
        .collect())
}

/// The level applies to the whole sandbox process (VMM and sentry lines
/// alike); strace is the sentry's.
fn change_logging(control: &Control, args: &LoggingArgs) -> anyhow::Result<()> {
    if args.level.is_none() && args.strace.is_none() {
        bail!("nothing to change");
    }
    if let Some(on) = args.strace {
        control.set_strace(on, SENTRY_TIMEOUT)?;
    }
    if let Some(level) = args.level {
        let reload = LOG_RELOADER.get().context("this sandbox process cannot change its log level")?;
        reload(level.filter())?;
        tracing::info!(level = level.filter(), "log level changed");
    }
    Ok(())
}

fn exec(control: &Control, args: ExecArgs, fds: Vec<OwnedFd>) -> anyhow::Result<u32> {
    let stdio: [OwnedFd; 3] = fds.try_into().map_err(|_| anyhow::anyhow!("exec needs exactly 3 descriptors"))?;
    if args.args.is_empty() {
        bail!("exec: args must not be empty");
    }
    if args.args.iter().chain(&args.env).chain([&args.cwd]).any(|s| s.contains('\0')) {
        bail!("exec: arguments, environment and cwd must not contain NUL");
    }
    if !args.cwd.is_empty() && !args.cwd.starts_with('/') {
        bail!("exec: cwd {:?} must be an absolute path", args.cwd);
    }
    let spec = ExecSpec {
        argv: args.args.into_iter().map(String::into_bytes).collect(),
        env: args.env.into_iter().map(String::into_bytes).collect(),
        cwd: args.cwd.into_bytes(),
        uid: args.uid,
        gid: args.gid,
        groups: args.additional_gids,
        terminal: args.terminal,
        caps: args.caps,
    };
    Ok(control.exec(&spec, stdio, SENTRY_TIMEOUT)?)
}

fn processes(control: &Control) -> anyhow::Result<Vec<ProcessRow>> {
    let now_real = clock_ns(libc::CLOCK_REALTIME);
    let now_mono = clock_ns(libc::CLOCK_MONOTONIC);
    Ok(control
        .processes(SENTRY_TIMEOUT)?
        .into_iter()
        .map(|p| ProcessRow {
            pid: p.pid,
            ppid: p.ppid,
            uid: p.uid,
            state: p.state,
            start_unix_ns: now_real.saturating_sub(now_mono.saturating_sub(p.start_monotonic_ns)),
            cpu_ns: p.cpu_ns,
            tty: p.tty,
            comm: p.comm,
            cmdline: p.cmdline,
        })
        .collect())
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let id = match clock {
        libc::CLOCK_REALTIME => rustix::time::ClockId::Realtime,
        _ => rustix::time::ClockId::Monotonic,
    };
    let ts = rustix::time::clock_gettime(id);
    u64::try_from(ts.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(ts.tv_nsec).unwrap_or(0))
}
