//! Starting the gofer for a sandbox: a forked child of the sandbox process
//! (no exec: it shares the binary's pages already mapped and skips the
//! start-up of a new process image), or `ringfence gofer` executed from a
//! binary (for a multi-threaded caller, where only exec is safe after a
//! fork). Connected by a socketpair, checked to answer 9P before the VM
//! boots, and killed and reaped when dropped.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use p9::{Rmessage, Tmessage, Tversion, NOTAG, VERSION_9P2000L};

use crate::sys;

#[allow(unsafe_code)]
mod fork;

use fork::fork_gofer;

/// This process's own binary, as the kernel knows it (immune to the file
/// being replaced or renamed while ringfence runs).
pub const SELF_EXE: &str = "/proc/self/exe";

/// The descriptor the gofer finds its socket at (`--fd`).
const GOFER_FD: i32 = 3;

/// How long the gofer may take to confine itself and answer `Tversion`.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a gofer that hung up during start-up may take to exit.
const EXIT_GRACE: Duration = Duration::from_secs(1);

/// The msize of the start-up handshake (the sentry negotiates its own).
const HANDSHAKE_MSIZE: u32 = 8192;

/// What to serve, and how to start the process.
#[derive(Debug, Clone)]
pub struct GoferSpec {
    pub launch: Launch,
    /// The directory served as the sandbox's root.
    pub root: PathBuf,
    /// Serve it read-only.
    pub readonly: bool,
    /// Extra trees (the container's bind mounts), attached by name.
    pub trees: Vec<::gofer::TreeSpec>,
}

/// How the gofer process starts.
#[derive(Debug, Clone)]
pub enum Launch {
    /// A forked child of this process, which must be single-threaded (the
    /// runtime's sandbox processes fork it before their first thread).
    Fork,
    /// `exe gofer ...`: any caller (tests, multi-threaded programs).
    Exec {
        /// The `ringfence` binary to run as `ringfence gofer`.
        exe: PathBuf,
        /// Global flags for the child (logging), placed before `gofer`.
        global_args: Vec<OsString>,
    },
}

/// Errors starting the gofer.
#[derive(Debug, thiserror::Error)]
pub enum GoferStartError {
    #[error("cannot create the gofer socket pair")]
    Socketpair(#[source] io::Error),
    #[error("cannot start the gofer process")]
    Spawn(#[source] io::Error),
    #[error("the gofer did not answer its start-up handshake")]
    Handshake(#[source] io::Error),
    #[error("the gofer exited during start-up ({status})")]
    Exited { status: ExitStatus },
}

/// A running gofer process. Dropping it SIGKILLs and reaps the process.
#[derive(Debug)]
pub struct Gofer {
    pid: libc::pid_t,
    /// Set once reaped: the pid may then name another process.
    reaped: bool,
}

impl Gofer {
    /// Starts the gofer serving `spec.root`; returns the process and the
    /// runtime's end of its connection, over which `Tversion` has been
    /// answered once (the sentry's own `Tversion` starts a fresh session).
    pub fn start(spec: &GoferSpec) -> Result<(Self, UnixStream), GoferStartError> {
        let (mut gofer, mine) = Self::spawn(spec)?;
        if let Err(e) = handshake(&mine) {
            // A gofer that failed to confine itself has said why on stderr
            // and closed the socket: it is exiting.
            return Err(match gofer.reap(EXIT_GRACE) {
                Some(status) => GoferStartError::Exited { status },
                None => GoferStartError::Handshake(e),
            });
        }
        Ok((gofer, mine))
    }

    /// Starts the gofer without waiting for it to serve: pair it with
    /// [`handshake_in_background`] so its start-up overlaps the VM's.
    pub fn spawn(spec: &GoferSpec) -> Result<(Self, UnixStream), GoferStartError> {
        // Both ends are close-on-exec; the forked child closes `mine`, the
        // exec'd one finds `theirs` at fd 3.
        let (mine, theirs) = UnixStream::pair().map_err(GoferStartError::Socketpair)?;
        for end in [&mine, &theirs] {
            crate::sys::enlarge_socket_buffers(std::os::fd::AsFd::as_fd(end), 4 << 20);
        }
        let pid = match &spec.launch {
            Launch::Fork => fork_gofer(spec, theirs)?,
            Launch::Exec { exe, global_args } => exec_gofer(spec, exe, global_args, theirs)?,
        };
        let gofer = Self { pid, reaped: false };
        tracing::debug!(pid, root = %spec.root.display(), readonly = spec.readonly, "gofer started");
        Ok((gofer, mine))
    }

    /// The gofer's pid.
    pub fn pid(&self) -> u32 {
        self.pid.unsigned_abs()
    }

    /// Reaps the gofer, SIGKILLing it if it has not exited within `grace`;
    /// returns its status when it exited on its own.
    fn reap(&mut self, grace: Duration) -> Option<ExitStatus> {
        if self.reaped {
            return None;
        }
        let deadline = Instant::now() + grace;
        loop {
            match self.wait(libc::WNOHANG) {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                Ok(None) => break,
                Err(_) => return None,
            }
        }
        // Our unreaped child: the pid names no other process.
        let _ = sys::kill(self.pid, libc::SIGKILL);
        // It may have exited on its own just before the kill; a status
        // with an exit code says so.
        self.wait(0).ok().flatten().filter(|s| s.code().is_some())
    }

    /// waitpid(2) on the gofer: `Ok(None)` when WNOHANG finds it running.
    fn wait(&mut self, flags: libc::c_int) -> io::Result<Option<ExitStatus>> {
        // An error (ECHILD) means reaped elsewhere: nothing left to wait for.
        let status = sys::waitpid(self.pid, flags).inspect_err(|_| self.reaped = true)?;
        self.reaped |= status.is_some();
        Ok(status.map(std::os::unix::process::ExitStatusExt::from_raw))
    }
}

impl Drop for Gofer {
    fn drop(&mut self) {
        let _ = self.reap(Duration::ZERO);
        tracing::debug!(pid = self.pid, "gofer reaped");
    }
}

/// Starts `exe gofer --fd 3 ...` with `sock` as its fd 3; returns its pid.
fn exec_gofer(
    spec: &GoferSpec,
    exe: &Path,
    global_args: &[OsString],
    sock: UnixStream,
) -> Result<libc::pid_t, GoferStartError> {
    let mut cmd = Command::new(exe);
    cmd.arg0("ringfence").args(global_args).args(command_line(spec, GOFER_FD).iter().skip(1));
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
    sys::pass_fd_with_pdeathsig(&mut cmd, sock.as_fd(), GOFER_FD);
    let child = cmd.spawn().map_err(GoferStartError::Spawn)?;
    // Reaped by pid through `Gofer` (dropping std's `Child` neither kills
    // nor waits).
    libc::pid_t::try_from(child.id()).map_err(|_| GoferStartError::Spawn(io::ErrorKind::InvalidData.into()))
}

/// `ringfence gofer --fd FD --root R ...`: the command line of an exec'd
/// gofer, and what a forked one shows in /proc/PID/cmdline (so `ps` and
/// scripts find it the same way).
fn command_line(spec: &GoferSpec, fd: i32) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["ringfence".into(), "gofer".into(), "--fd".into(), fd.to_string().into()];
    args.push("--root".into());
    args.push(spec.root.clone().into_os_string());
    // The sandbox is this gofer's only client: it takes read-only files
    // as host fds and reads them without a round trip.
    args.push("--donate-fds".into());
    if spec.readonly {
        args.push("--readonly".into());
    }
    for t in &spec.trees {
        args.push("--tree".into());
        args.push(t.to_arg().into());
    }
    args
}

/// What a gofer process runs once started, forked (`fork`) or as
/// `ringfence gofer`: confines itself to `root` (and `trees`), then serves
/// 9P on `conn` until the other end closes.
pub fn confine_and_serve(
    conn: UnixStream,
    root: &Path,
    readonly: bool,
    donate_fds: bool,
    trees: &[::gofer::TreeSpec],
) -> anyhow::Result<()> {
    let open = ::gofer::confine_with_trees(root, readonly, trees)?;
    // The server-wide EROFS check holds only when every tree is read-only;
    // otherwise each tree's mount flags (set by the confinement) decide.
    let readonly = readonly && trees.iter().all(|t| t.readonly);
    let opts = ::gofer::GoferOptions { readonly, donate_fds, ..::gofer::GoferOptions::default() };
    ::gofer::serve_with_trees(conn, Path::new("/"), opts, open)?;
    Ok(())
}

/// Runs the start-up handshake on `sock` on a thread and returns the check
/// that waits for it (the VMM calls it before it uses the socket).
pub fn handshake_in_background(sock: &UnixStream) -> io::Result<vmm::GoferReady> {
    let sock = sock.try_clone()?;
    let thread = std::thread::Builder::new().name("gofer-handshake".into()).spawn(move || handshake(&sock))?;
    let thread = std::sync::Mutex::new(Some(thread));
    Ok(vmm::GoferReady(std::sync::Arc::new(move || {
        let handle = thread.lock().map_err(|_| "handshake state poisoned".to_owned())?.take();
        match handle.map(std::thread::JoinHandle::join) {
            Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(format!("no answer to Tversion ({e}); its error, if any, is above")),
            Some(Err(_)) => Err("the handshake thread panicked".to_owned()),
            None => Ok(()),
        }
    })))
}

/// One `Tversion`/`Rversion` exchange: the gofer is confined and serving.
fn handshake(sock: &UnixStream) -> io::Result<()> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let mut frame = Vec::new();
    Tmessage::from(Tversion { msize: HANDSHAKE_MSIZE, version: VERSION_9P2000L })
        .encode_to_vec(NOTAG, &mut frame)
        .map_err(|_| invalid("cannot encode Tversion"))?;
    let mut sock = sock;
    sock.set_read_timeout(Some(STARTUP_TIMEOUT))?;
    sock.write_all(&frame)?;
    let mut size = [0u8; 4];
    sock.read_exact(&mut size)?;
    let len = p9::frame_len(size, HANDSHAKE_MSIZE).map_err(|_| invalid("bad Rversion size"))?;
    let mut reply = vec![0u8; len];
    reply[..4].copy_from_slice(&size);
    sock.read_exact(&mut reply[4..])?;
    sock.set_read_timeout(None)?;
    match p9::decode_r(&reply) {
        Ok((NOTAG, Ok(Rmessage::Version(r)))) if r.version == VERSION_9P2000L => Ok(()),
        _ => Err(invalid("unexpected reply to Tversion")),
    }
}

/// Checks that `dir` names a directory and returns its canonical path (the
/// gofer bind-mounts exactly that).
pub fn rootfs_dir(dir: &Path) -> Option<PathBuf> {
    std::fs::canonicalize(dir).ok().filter(|p| p.is_dir())
}
