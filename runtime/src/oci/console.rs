//! `process.terminal` with `--console-socket`, as runc does it: the
//! runtime makes a pty pair, sends the master over the console socket by
//! SCM_RIGHTS (with the master's name as the message, as runc's
//! `utils.SendFile`), and gives the slave, in raw mode, to the sandbox
//! process as its stdin, stdout and stderr. The sentry runs the line
//! discipline (`/dev/console`); the host pty only carries bytes.

use std::io::IoSlice;
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{bail, Context as _};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};

/// What runc names the master it sends.
const MASTER_NAME: &[u8] = b"/dev/ptmx";

/// Checks the `--console-socket` flag against `process.terminal` with
/// runc's rules and messages, before anything is made.
pub fn check(terminal: bool, console_socket: Option<&Path>, detach: bool) -> anyhow::Result<()> {
    match (terminal, console_socket.is_some()) {
        (true, false) if detach => bail!("cannot allocate tty if runc will detach without setting console socket"),
        // runc would relay its own terminal to the pty here.
        (true, false) => bail!("process.terminal needs --console-socket (relaying this terminal is not supported yet)"),
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
        assert!(check(true, None, false).is_err());
        assert!(check(false, Some(p), true).is_err());
    }
}
