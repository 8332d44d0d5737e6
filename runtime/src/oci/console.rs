//! `process.terminal` with `--console-socket`, as runc does it: the
//! runtime makes a pty pair, sends the master over the console socket by
//! SCM_RIGHTS (with the master's name as the message, as runc's
//! `utils.SendFile`), and gives the slave, in raw mode, to the sandbox
//! process as its stdin, stdout and stderr. The sentry runs the line
//! discipline (`/dev/console`); the host pty only carries bytes.
//!
//! Without `--console-socket`, a foreground `run` or `exec` uses the
//! caller's own terminal, as runc does: runc copies between it and a new
//! pty; here the sentry's line discipline already does a pty's work, so
//! the caller's terminal itself, in raw mode, is the host side. The window
//! size follows it (the sandbox watches the descriptor's size, so no
//! SIGWINCH forwarding is needed) and its mode is restored at the end.

use std::io::{IoSlice, IsTerminal as _};
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{bail, Context as _};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg, Termios};

/// What runc names the master it sends.
const MASTER_NAME: &[u8] = b"/dev/ptmx";

/// Checks the `--console-socket` flag against `process.terminal` with
/// runc's rules and messages, before anything is made.
pub fn check(terminal: bool, console_socket: Option<&Path>, detach: bool) -> anyhow::Result<()> {
    match (terminal, console_socket.is_some()) {
        (true, false) if detach => bail!("cannot allocate tty if runc will detach without setting console socket"),
        (false, true) => bail!("cannot use console socket if runc will not detach or allocate tty"),
        _ => Ok(()),
    }
}

/// Makes the container's pty, sends its master to the socket at `path`,
/// and returns the slave in raw mode, for the sandbox process's stdio.
pub fn setup(path: &Path) -> anyhow::Result<OwnedFd> {
    let sock =
        UnixStream::connect(path).with_context(|| format!("cannot connect to console socket {}", path.display()))?;
    let pty = nix::pty::openpty(None, None).context("cannot allocate a pty")?;
    // The sentry does all terminal processing: the host side carries
    // bytes as they are, and makes no signals of its own.
    let mut t = tcgetattr(&pty.slave).context("cannot read the pty's termios")?;
    cfmakeraw(&mut t);
    tcsetattr(&pty.slave, SetArg::TCSANOW, &t).context("cannot set the pty raw")?;
    let fds = [pty.master.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(sock.as_raw_fd(), &[IoSlice::new(MASTER_NAME)], &cmsg, MsgFlags::empty(), None)
        .context("cannot send the pty master to the console socket")?;
    // Our copy of the master closes here; the socket's receiver holds it.
    drop(pty.master);
    Ok(pty.slave)
}

/// The caller's terminal (this command's stdin), in raw mode until
/// dropped.
pub struct CallerTerminal {
    fd: OwnedFd,
    saved: Termios,
}

impl CallerTerminal {
    /// Opens the terminal on stdin afresh (read-write, whatever stdin's
    /// mode) and makes it raw.
    pub fn open() -> anyhow::Result<Self> {
        if !std::io::stdin().is_terminal() {
            bail!("process.terminal needs --console-socket or a terminal on stdin");
        }
        let fd: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open("/proc/self/fd/0")
            .context("cannot open the terminal on stdin")?
            .into();
        let saved = tcgetattr(&fd).context("cannot read the terminal's mode")?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(&fd, SetArg::TCSANOW, &raw).context("cannot set the terminal raw")?;
        Ok(Self { fd, saved })
    }

    /// Three copies, for stdin, stdout and stderr.
    pub fn stdio(&self) -> anyhow::Result<[OwnedFd; 3]> {
        Ok([self.fd.try_clone()?, self.fd.try_clone()?, self.fd.try_clone()?])
    }
}

impl Drop for CallerTerminal {
    fn drop(&mut self) {
        // TCSADRAIN: the container's last output is written in raw mode.
        if let Err(err) = tcsetattr(&self.fd, SetArg::TCSADRAIN, &self.saved) {
            tracing::warn!(%err, "cannot restore the terminal's mode");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_rules() {
        let p = Path::new("/x");
        assert!(check(false, None, false).is_ok());
        assert!(check(true, Some(p), false).is_ok());
        assert!(check(true, Some(p), true).is_ok());
        assert!(check(true, None, true).is_err());
        assert!(check(true, None, false).is_ok());
        assert!(check(false, Some(p), true).is_err());
    }
}
