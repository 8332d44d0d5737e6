//! The raw libc calls the harness needs (signals to child processes).

use std::io;

/// Sends `sig` to process `pid` (`pid > 0`) or to process group `-pid`.
fn kill(pid: libc::pid_t, sig: libc::c_int) -> io::Result<()> {
    // SAFETY: kill(2) takes two integers and reads or writes no memory of
    // this process; any pid/signal combination is at worst an error return.
    let rc = unsafe { libc::kill(pid, sig) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn to_pid(pid: u32) -> io::Result<libc::pid_t> {
    libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// Sends `sig` to the process `pid`.
pub fn signal_process(pid: u32, sig: libc::c_int) -> io::Result<()> {
    kill(to_pid(pid)?, sig)
}

/// Sends `sig` to every process of the process group `pgid`.
pub fn signal_group(pgid: u32, sig: libc::c_int) -> io::Result<()> {
    kill(-to_pid(pgid)?, sig)
}
