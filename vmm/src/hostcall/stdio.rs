//! `Write` and `Read`: the program's stdio, straight between guest memory
//! and the host's fds 1/2 and 0 (vectored, no copies).

use std::io;
use std::os::fd::RawFd;

use super::{guest_slices, HostcallError, Reply, Request};
use crate::stop::StopSignal;
use crate::sys;
use crate::vstate::GuestMemory;

/// Waits until `fd` is ready for `events` or the VM is stopped, so a
/// blocking read or write never outlives a stop request. `Err` carries an
/// errno for the guest.
fn wait_ready(fd: RawFd, events: libc::c_short, stop: &StopSignal) -> Result<(), io::Error> {
    loop {
        if stop.reason().is_some() {
            return Err(io::Error::from_raw_os_error(libc::EINTR));
        }
        match sys::poll_one(fd, events, POLL_SLICE_MS) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// How long one poll waits before looking at the stop signal again.
const POLL_SLICE_MS: libc::c_int = 100;

fn transfer(fd: RawFd, events: libc::c_short, stop: &StopSignal, op: impl Fn() -> io::Result<usize>) -> Reply {
    loop {
        if let Err(e) = wait_ready(fd, events, stop) {
            return Reply::errno(&e);
        }
        match op() {
            Ok(n) => return Reply::ret(i64::try_from(n).unwrap_or(i64::MAX)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Reply::errno(&e),
        }
    }
}

/// `Write`: fd 1 or 2; `ret` = bytes written or `-errno`.
pub fn write(mem: &GuestMemory, stop: &StopSignal, req: &Request) -> Result<Reply, HostcallError> {
    let fd = match req.args[0] {
        1 => 1,
        2 => 2,
        fd => return Err(HostcallError::BadFd { call: "Write", fd }),
    };
    let slices = guest_slices(mem, &req.segments)?;
    if slices.is_empty() {
        return Ok(Reply::ret(0));
    }
    Ok(transfer(fd, libc::POLLOUT, stop, || sys::writev(fd, &slices)))
}

/// `Read`: fd 0 only; `ret` = bytes read (0 at EOF) or `-errno`.
pub fn read(mem: &GuestMemory, stop: &StopSignal, req: &Request) -> Result<Reply, HostcallError> {
    if req.args[0] != 0 {
        return Err(HostcallError::BadFd { call: "Read", fd: req.args[0] });
    }
    let slices = guest_slices(mem, &req.segments)?;
    if slices.is_empty() {
        return Ok(Reply::ret(0));
    }
    Ok(transfer(0, libc::POLLIN, stop, || sys::readv(0, &slices)))
}
