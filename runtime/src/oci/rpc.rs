//! The control RPC between `ringfence` commands and a running sandbox
//! process: one request per connection on the unix socket `control.sock`
//! in the container's state directory (mode 0600).
//!
//! A message is a frame: a little-endian u32 length, then that many bytes
//! of JSON (at most [`MAX_FRAME`]). The request names one of the methods of
//! gVisor's containerManager and carries [`RPC_VERSION`]; the reply is
//! `{"ok": RESULT}` or `{"error": "why"}`. `ExecuteAsync` sends the new
//! process's stdin, stdout and stderr with the request frame (SCM_RIGHTS).

use std::io::{IoSlice, IoSliceMut, Read as _, Write as _};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _};
use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer, SendAncillaryMessage,
    SendFlags,
};
use serde::{Deserialize, Serialize};

/// The socket's name in the container's directory.
pub const CONTROL_SOCKET: &str = "control.sock";
/// Version of the requests; a server refuses any other.
pub const RPC_VERSION: u32 = 1;
/// Largest frame either way.
pub const MAX_FRAME: usize = 1 << 20;
/// Most descriptors a request may carry.
pub const MAX_FDS: usize = 3;

/// A request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    pub version: u32,
    #[serde(flatten)]
    pub method: Method,
}

/// The methods (gVisor's containerManager names). `Start` stays the FIFO.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "method", content = "params", deny_unknown_fields)]
pub enum Method {
    /// The container's exit status (blocks until it ends).
    Wait,
    /// The wait status of exec'd process `pid` (blocks until it ends).
    WaitPID {
        pid: u32,
    },
    /// Sends `signal` to `pid`, or to every process with `all`, or to the
    /// foreground process group with neither.
    Signal {
        signal: u32,
        #[serde(default)]
        pid: Option<u32>,
        #[serde(default)]
        all: bool,
    },
    /// Starts a process (its stdio are the three descriptors sent along);
    /// the result is its pid.
    ExecuteAsync(ExecArgs),
    /// The process list.
    Processes,
    /// Counters (`events --stats`).
    Event,
    Pause,
    Resume,
    /// Stops the VM at once, as SIGKILL of every process would (exit
    /// status 137); the sandbox process then answers `Wait` and exits.
    Destroy,
    /// Every task of the sentry with its registers and what it waits on
    /// (`debug --stacks`).
    Stacks,
    /// Changes what the sandbox logs (`debug --log-level`, `--strace`).
    ChangeLogging(LoggingArgs),
}

/// What `ChangeLogging` changes; an absent field stays as it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingArgs {
    /// The log level of the sandbox process (VMM and sentry lines).
    #[serde(default)]
    pub level: Option<LogLevel>,
    /// The sentry's syscall tracing (`--debug`'s strace lines).
    #[serde(default)]
    pub strace: Option<bool>,
}

/// Log levels as runsc's `debug --log-level` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    #[value(alias = "0", alias = "warn")]
    Warning,
    #[value(alias = "1")]
    Info,
    #[value(alias = "2")]
    Debug,
}

impl LogLevel {
    /// The `tracing` filter of this level.
    pub fn filter(self) -> &'static str {
        match self {
            Self::Warning => "warn",
            Self::Info => "info",
            Self::Debug => "debug",
        }
    }
}

/// One sentry task in a `Stacks` reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRow {
    pub tid: u32,
    pub pid: u32,
    pub state: char,
    /// The syscall a sleeping task is blocked in.
    pub syscall: Option<u64>,
    pub rip: u64,
    pub rsp: u64,
    pub comm: String,
    /// What a sleeping task waits on, in words.
    pub wait: String,
}

/// What `ExecuteAsync` starts. Its `Debug` (the `--debug` log of a
/// request) shows the environment's names only: values carry secrets.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecArgs {
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub cwd: String,
    pub uid: u32,
    pub gid: u32,
    #[serde(default)]
    pub additional_gids: Vec<u32>,
    /// A new pty in the sandbox is the process's terminal; the descriptors
    /// sent along are its host side (the same terminal three times).
    #[serde(default)]
    pub terminal: bool,
    /// Bounding, effective, inheritable, permitted and ambient masks (the
    /// container's `process.capabilities` or `--process`'s); `None`:
    /// root's default sets.
    #[serde(default)]
    pub caps: Option<[u64; 5]>,
}

impl std::fmt::Debug for ExecArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.env.iter().map(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n)).collect();
        f.debug_struct("ExecArgs")
            .field("args", &self.args)
            .field("env_names", &names)
            .field("cwd", &self.cwd)
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("additional_gids", &self.additional_gids)
            .field("terminal", &self.terminal)
            .field("caps", &self.caps)
            .finish()
    }
}

/// One process in a `Processes` reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessRow {
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub state: char,
    /// Start time, ns since the epoch.
    pub start_unix_ns: u64,
    pub cpu_ns: u64,
    pub tty: u32,
    pub comm: String,
    pub cmdline: Vec<String>,
}

/// An `Event` reply.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct StatsReply {
    pub pids: u32,
    pub memory_bytes: u64,
    pub user_ns: u64,
    pub system_ns: u64,
}

/// A reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Response {
    Ok(serde_json::Value),
    Error(String),
}

/// Writes one frame, with `fds` attached to its first byte.
pub fn send_frame(sock: &UnixStream, body: &[u8], fds: &[BorrowedFd<'_>]) -> anyhow::Result<()> {
    if body.len() > MAX_FRAME {
        bail!("message too large");
    }
    let len = u32::try_from(body.len()).context("message too large")?.to_le_bytes();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut anc = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !anc.push(SendAncillaryMessage::ScmRights(fds)) {
        bail!("too many descriptors");
    }
    let n = sendmsg(sock, &[IoSlice::new(&len), IoSlice::new(body)], &mut anc, SendFlags::NOSIGNAL)
        .context("cannot send to the control socket")?;
    let total = len.len() + body.len();
    if n < total {
        let mut rest = Vec::with_capacity(total);
        rest.extend_from_slice(&len);
        rest.extend_from_slice(body);
        let mut s = sock;
        s.write_all(&rest[n..]).context("cannot send to the control socket")?;
    }
    Ok(())
}

/// Reads one frame and the descriptors that came with it.
pub fn recv_frame(sock: &UnixStream) -> anyhow::Result<(Vec<u8>, Vec<OwnedFd>)> {
    let mut len = [0u8; 4];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    let msg = recvmsg(sock, &mut [IoSliceMut::new(&mut len)], &mut anc, RecvFlags::CMSG_CLOEXEC)
        .context("cannot read from the control socket")?;
    let mut fds = Vec::new();
    for m in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(it) = m {
            fds.extend(it);
        }
    }
    if msg.flags.contains(rustix::net::ReturnFlags::CTRUNC) {
        bail!("too many descriptors");
    }
    if msg.bytes == 0 {
        bail!("connection closed");
    }
    let mut s = sock;
    if msg.bytes < len.len() {
        s.read_exact(&mut len[msg.bytes..]).context("short message")?;
    }
    let n = usize::try_from(u32::from_le_bytes(len)).unwrap_or(usize::MAX);
    if n > MAX_FRAME {
        bail!("message of {n} bytes is too large");
    }
    let mut body = vec![0u8; n];
    s.read_exact(&mut body).context("short message")?;
    Ok((body, fds))
}

/// Calls `method` on the sandbox of the container in `dir`, sending `fds`;
/// `timeout` bounds the whole exchange (None: wait as long as it takes).
pub fn call(
    dir: &Path,
    method: Method,
    fds: &[BorrowedFd<'_>],
    timeout: Option<Duration>,
) -> anyhow::Result<serde_json::Value> {
    let path = dir.join(CONTROL_SOCKET);
    let sock = UnixStream::connect(&path).with_context(|| format!("cannot connect to {}", path.display()))?;
    sock.set_read_timeout(timeout)?;
    sock.set_write_timeout(timeout)?;
    let req = serde_json::to_vec(&Request { version: RPC_VERSION, method })?;
    send_frame(&sock, &req, fds)?;
    let (body, _) = recv_frame(&sock)?;
    match serde_json::from_slice::<Response>(&body).context("malformed reply from the sandbox")? {
        Response::Ok(v) => Ok(v),
        Response::Error(e) => bail!("{e}"),
    }
}

/// Whether the container in `dir` has a control socket (its VM runs).
pub fn available(dir: &Path) -> bool {
    dir.join(CONTROL_SOCKET).exists()
}

/// Borrows owned descriptors for [`call`].
pub fn borrow(fds: &[OwnedFd]) -> Vec<BorrowedFd<'_>> {
    fds.iter().map(AsFd::as_fd).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_args_debug_shows_argv_and_env_names_but_no_values() {
        let a = ExecArgs {
            args: vec!["/bin/sh".into(), "-c".into(), "true".into()],
            env: vec!["PATH=/bin".into(), "TOKEN=s3cret".into()],
            ..ExecArgs::default()
        };
        let s = format!("{:?}", Method::ExecuteAsync(a));
        assert!(s.contains("/bin/sh") && s.contains("TOKEN") && s.contains("PATH"), "{s}");
        assert!(!s.contains("s3cret") && !s.contains("/bin\""), "{s}");
    }
}
