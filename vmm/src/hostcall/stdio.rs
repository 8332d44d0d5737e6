//! `Write` and `Read`: the program's stdio, straight between guest memory
//! and the host's fds 1/2 and 0 (vectored, no copies), and the descriptors
//! registered for exec'd processes (`crate::control`).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{guest_slices, HostcallError, Reply, Request};
use crate::control::Control;
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
/// How often a console's wait looks at the window size: the latency of a
/// resize reaching a sandbox waiting for input.
const WINSIZE_SLICE_MS: libc::c_int = 20;

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

/// A host descriptor a hostcall may use.
enum HostFd {
    /// 0, 1 or 2.
    Stdio(RawFd),
    /// Registered for an exec'd process; held open for the call.
    Registered(Arc<OwnedFd>),
    /// Registered once, since closed (the process ended): `-EBADF`.
    Gone,
}

impl HostFd {
    fn raw(&self) -> Option<RawFd> {
        match self {
            Self::Stdio(fd) => Some(*fd),
            Self::Registered(f) => Some(f.as_raw_fd()),
            Self::Gone => None,
        }
    }
}

/// Resolves `fd`: one of `stdio`, or a registered descriptor. Any other
/// number is a malformed request when there is no control channel; with
/// one, a descriptor may have been closed since the sentry saw it, so it
/// is an error for the guest only.
fn host_fd(call: &'static str, fd: u64, stdio: &[u64], control: Option<&Control>) -> Result<HostFd, HostcallError> {
    if stdio.contains(&fd) {
        return Ok(HostFd::Stdio(RawFd::try_from(fd).unwrap_or(0)));
    }
    match control {
        Some(c) if fd > 2 => Ok(c.host_fd(fd).map_or(HostFd::Gone, HostFd::Registered)),
        _ => Err(HostcallError::BadFd { call, fd }),
    }
}

const EBADF: Reply = Reply::Return { ret: -(libc::EBADF as i64), ret2: 0 };

/// `Write`: fd 1 or 2 (or registered); `ret` = bytes written or `-errno`.
pub fn write(
    mem: &GuestMemory,
    stop: &StopSignal,
    control: Option<&Control>,
    req: &Request,
) -> Result<Reply, HostcallError> {
    let target = host_fd("Write", req.args[0], &[1, 2], control)?;
    let Some(fd) = target.raw() else { return Ok(EBADF) };
    let slices = guest_slices(mem, &req.segments)?;
    if slices.is_empty() {
        return Ok(Reply::ret(0));
    }
    Ok(transfer(fd, libc::POLLOUT, stop, || sys::writev(fd, &slices)))
}

/// `Read`: fd 0 (or registered); `ret` = bytes read (0 at EOF) or `-errno`.
pub fn read(
    mem: &GuestMemory,
    stop: &StopSignal,
    control: Option<&Control>,
    req: &Request,
) -> Result<Reply, HostcallError> {
    let target = host_fd("Read", req.args[0], &[0], control)?;
    let Some(fd) = target.raw() else { return Ok(EBADF) };
    let slices = guest_slices(mem, &req.segments)?;
    if slices.is_empty() {
        return Ok(Reply::ret(0));
    }
    Ok(transfer(fd, libc::POLLIN, stop, || sys::readv(fd, &slices)))
}

/// `Poll`: waits up to `args[2]` ns for host fd `args[0]` to be ready for
/// `args[1]`; `ret` = the ready events, 0 on timeout or nudge, `-EINTR` on
/// stop.
pub fn poll(stop: &StopSignal, control: Option<&Control>, req: &Request) -> Result<Reply, HostcallError> {
    // A terminal watches its window size: the runtime's console-socket
    // holder (or the caller's terminal) is resized, and the guest learns
    // of it here.
    let watch = req.args[1] == POLLIN | abi::hostcall::POLL_WATCH_WINSIZE;
    let bad_events = |e| HostcallError::BadArgument { call: "Poll", what: "events", value: e };
    let (target, events) = match (req.args[0], req.args[1]) {
        (0, e) if e == POLLIN || watch => (HostFd::Stdio(0), libc::POLLIN),
        (fd, _) if watch && fd > 2 => (host_fd("Poll", fd, &[], control)?, libc::POLLIN),
        (1, e) if e == POLLOUT => (HostFd::Stdio(1), libc::POLLOUT),
        (2, e) if e == POLLOUT => (HostFd::Stdio(2), libc::POLLOUT),
        (0..=2, e) => return Err(bad_events(e)),
        (fd, e) => {
            let target = host_fd("Poll", fd, &[], control)?;
            if e == 0 || e & !(POLLIN | POLLOUT) != 0 {
                return Err(bad_events(e));
            }
            (target, libc::c_short::try_from(e).map_err(|_| bad_events(e))?)
        }
    };
    let Some(fd) = target.raw() else { return Ok(EBADF) };
    let winsize = || sys::winsize(fd).map_or(0, abi::hostcall::pack_winsize);
    let deadline = Instant::now() + Duration::from_nanos(req.args[2]).min(super::clock::MAX_SLEEP);
    let reply = |ret: i64| {
        if watch {
            Reply::Return { ret, ret2: winsize() }
        } else {
            Reply::ret(ret)
        }
    };
    let slice = if watch { WINSIZE_SLICE_MS } else { POLL_SLICE_MS };
    loop {
        if stop.reason().is_some() {
            return Ok(Reply::ret(-i64::from(libc::EINTR)));
        }
        if watch && winsize() != req.args[3] {
            return Ok(reply(0));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = libc::c_int::try_from(left.as_millis()).unwrap_or(slice).min(slice);
        // Round a sub-millisecond remainder up so a short wait still waits.
        let ms = if ms == 0 && !left.is_zero() { 1 } else { ms };
        match sys::poll_events_or_wake(fd, events, stop.wake_fd(), ms) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(reply(0)),
            Ok(0) if left.is_zero() => return Ok(reply(0)),
            Ok(0) => {}
            Ok(r) => {
                return Ok(reply(i64::from(
                    r as u16 & (libc::POLLIN | libc::POLLOUT | libc::POLLHUP | libc::POLLERR) as u16,
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Ok(Reply::errno(&e)),
        }
    }
}

const POLLIN: u64 = libc::POLLIN as u64;
const POLLOUT: u64 = libc::POLLOUT as u64;
