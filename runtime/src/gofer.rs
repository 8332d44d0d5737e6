//! Starting the gofer for a sandbox: `ringfence gofer` re-executed from
//! `/proc/self/exe` (as runsc does), connected by a socketpair, checked to
//! answer 9P before the VM boots, and killed and reaped when dropped.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use p9::{Rmessage, Tmessage, Tversion, NOTAG, VERSION_9P2000L};

use crate::sys;

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

/// What to serve, and with which binary.
#[derive(Debug, Clone)]
pub struct GoferSpec {
    /// The `ringfence` binary to run as `ringfence gofer`: [`SELF_EXE`] in
    /// the runtime (the same binary, as runsc re-executes itself).
    pub exe: PathBuf,
    /// The directory served as the sandbox's root.
    pub root: PathBuf,
    /// Serve it read-only.
    pub readonly: bool,
    /// Global flags for the child (logging), placed before `gofer`.
    pub global_args: Vec<OsString>,
    /// Extra trees (the container's bind mounts), attached by name.
    pub trees: Vec<::gofer::TreeSpec>,
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
    child: Child,
}

impl Gofer {
    /// Starts `ringfence gofer` serving `spec.root`; returns the process and
    /// the runtime's end of its connection, over which `Tversion` has been
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

    /// Starts `ringfence gofer` without waiting for it to serve: pair it
    /// with [`handshake_in_background`] so its start-up overlaps the VM's.
    pub fn spawn(spec: &GoferSpec) -> Result<(Self, UnixStream), GoferStartError> {
        // Both ends are close-on-exec; the child's end becomes fd 3 in the
        // child only. Both stay open across the spawn (see
        // `sys::pass_fd_with_pdeathsig`).
        let (mine, theirs) = UnixStream::pair().map_err(GoferStartError::Socketpair)?;
        for end in [&mine, &theirs] {
            crate::sys::enlarge_socket_buffers(std::os::fd::AsFd::as_fd(end), 4 << 20);
        }
        let mut cmd = Command::new(&spec.exe);
        cmd.arg0("ringfence").args(&spec.global_args).arg("gofer").arg("--fd").arg(GOFER_FD.to_string());
        cmd.arg("--root").arg(&spec.root);
        // The sandbox is this gofer's only client: it takes read-only
        // files as host fds and reads them without a round trip.
        cmd.arg("--donate-fds");
        if spec.readonly {
            cmd.arg("--readonly");
        }
        for t in &spec.trees {
            cmd.arg("--tree").arg(t.to_arg());
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
        sys::pass_fd_with_pdeathsig(&mut cmd, theirs.as_fd(), GOFER_FD);
        let child = cmd.spawn().map_err(GoferStartError::Spawn)?;
        drop(theirs);
        let gofer = Self { child };
        tracing::debug!(pid = gofer.child.id(), root = %spec.root.display(), readonly = spec.readonly, "gofer started");
        Ok((gofer, mine))
    }

    /// The gofer's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Reaps the gofer, SIGKILLing it if it has not exited within `grace`;
    /// returns its status when it exited on its own.
    fn reap(&mut self, grace: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + grace;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
                _ => break,
            }
        }
        let _ = self.child.kill();
        // It may have exited on its own just before the kill; a status
        // with an exit code says so.
        self.child.wait().ok().filter(|s| s.code().is_some())
    }
}

impl Drop for Gofer {
    fn drop(&mut self) {
        let _ = self.reap(Duration::ZERO);
        tracing::debug!(pid = self.child.id(), "gofer reaped");
    }
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
