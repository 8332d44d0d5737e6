//! `P9`: one 9P2000.L exchange between the sentry and the gofer, moved
//! straight between guest memory and the gofer's socket with vectored I/O
//! (no copies in the VMM).
//!
//! An `Rlopen` of a file opened read-only may come with the host fd the
//! gofer opened (`SCM_RIGHTS`, gofer option `donate_fds`): the channel keeps
//! it under a handle the guest gets in `ret2` and reads with `FileRead`
//! (see `file.rs`) without a gofer round trip.
//!
//! The gofer starts alongside the VM: the channel waits for its start-up
//! handshake at the first exchange, so that guest boot overlaps the
//! gofer's confinement; a gofer that did not start ends the run there
//! ([`GoferChannel::wait_ready`]).
//!
//! The gofer is a separate, confined process, but its replies are still
//! checked here: the size field must be a valid 9P size that fits the
//! guest's reply segments. A bad reply or a lost connection marks the
//! channel broken; every later exchange fails with EIO.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;

use abi::hostcall::{MAX_DONATED_FILES, P9_MAX_MESSAGE, P9_MIN_REPLY};
use vm_memory::VolatileSlice;

use super::{guest_slices, HostcallError, Reply, Request};
use crate::stop::StopSignal;
use crate::sys;
use crate::vstate::GuestMemory;
use crate::GoferReady;

/// The VMM's end of the gofer connection.
pub struct GoferChannel {
    sock: UnixStream,
    /// The start-up check not yet waited for.
    ready: Option<GoferReady>,
    broken: bool,
    /// Donated files by handle (never 0), read by `FileRead`.
    pub(super) donated: HashMap<u64, File>,
    next_handle: u64,
    /// The helper thread of large `FileRead`s, started on the first one
    /// (`reader_failed` if it could not be).
    pub(super) reader: Option<super::read_helper::ReadHelper>,
    pub(super) reader_failed: bool,
}

impl GoferChannel {
    /// Wraps a connected socket to a gofer already serving.
    #[cfg(test)]
    pub fn new(sock: UnixStream) -> Self {
        let mut chan = Self::starting(sock, None);
        chan.set_nonblocking();
        chan
    }

    /// Wraps the socket of a gofer still starting: `ready` waits for its
    /// handshake, which the first exchange does.
    pub fn starting(sock: UnixStream, ready: Option<GoferReady>) -> Self {
        Self { sock, ready, broken: false, donated: HashMap::new(), next_handle: 0, reader: None, reader_failed: false }
    }

    // Non-blocking: a transfer that would block goes back to the poll loop
    // (which also watches for a stop). Not before the handshake: the flag
    // belongs to the socket's open file, which the handshake thread reads
    // through another descriptor.
    fn set_nonblocking(&mut self) {
        self.broken |= self.sock.set_nonblocking(true).is_err();
    }

    /// Waits for the gofer's start-up handshake, once; `Err` says why the
    /// gofer did not start.
    pub fn wait_ready(&mut self) -> Result<(), String> {
        if let Some(ready) = self.ready.take() {
            (ready.0)()?;
            self.set_nonblocking();
        }
        Ok(())
    }

    /// Ends the connection: the gofer reads EOF and exits.
    pub fn hang_up(&self) {
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
    }

    /// Keeps a donated fd; its handle, or 0 when the table is full (the fd
    /// is closed and the guest reads through the gofer).
    fn keep(&mut self, fd: OwnedFd) -> u64 {
        if self.donated.len() >= MAX_DONATED_FILES {
            return 0;
        }
        self.next_handle += 1;
        self.donated.insert(self.next_handle, File::from(fd));
        self.next_handle
    }
}

/// Advances `slices` past `n` bytes.
pub(super) fn advance<'m>(slices: &mut Vec<VolatileSlice<'m>>, mut n: usize) -> Result<(), io::Error> {
    while n > 0 {
        let first = slices.first().ok_or_else(|| io::Error::from_raw_os_error(libc::EIO))?;
        if n >= first.len() {
            n -= first.len();
            slices.remove(0);
        } else {
            let rest = first.offset(n).map_err(|_| io::Error::from_raw_os_error(libc::EIO))?;
            slices[0] = rest;
            n = 0;
        }
    }
    slices.retain(|s| !s.is_empty());
    Ok(())
}

/// Waits until `fd` is ready for `events`, giving up when the VM is
/// stopped (EINTR).
fn wait(fd: i32, events: libc::c_short, stop: &StopSignal) -> io::Result<()> {
    loop {
        if stop.reason().is_some() {
            return Err(io::Error::from_raw_os_error(libc::EINTR));
        }
        // EINTR: a kick of the vCPU thread (a control request's nudge), not
        // a failure of the channel.
        match sys::poll_one(fd, events, 100) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Moves every byte of `slices` with `op` on the non-blocking socket `fd`.
/// The transfer is tried first and `poll` waited in only when it would
/// block: the gofer has usually answered by the time the VMM reads (it
/// runs as soon as the request wakes it), so most exchanges cost one
/// `writev` and one `recvmsg`.
fn all<'m>(
    fd: i32,
    events: libc::c_short,
    stop: &StopSignal,
    mut slices: Vec<VolatileSlice<'m>>,
    op: impl Fn(i32, &[VolatileSlice<'m>]) -> io::Result<usize>,
) -> io::Result<()> {
    slices.retain(|s| !s.is_empty());
    while !slices.is_empty() {
        match op(fd, &slices) {
            Ok(0) => return Err(io::Error::from_raw_os_error(libc::EIO)),
            Ok(n) => advance(&mut slices, n)?,
            Err(e) => not_yet(e, fd, events, stop)?,
        }
    }
    Ok(())
}

/// After a transfer on `fd` failed with `e`: waits for readiness if it
/// would have blocked, returns at once after a signal (unless the VM is
/// stopped), and fails otherwise.
fn not_yet(e: io::Error, fd: i32, events: libc::c_short, stop: &StopSignal) -> io::Result<()> {
    match e.kind() {
        io::ErrorKind::WouldBlock => wait(fd, events, stop),
        io::ErrorKind::Interrupted if stop.reason().is_none() => Ok(()),
        _ => Err(e),
    }
}

/// `slices` cut to their first `len` bytes.
fn truncate<'m>(slices: Vec<VolatileSlice<'m>>, mut len: usize) -> io::Result<Vec<VolatileSlice<'m>>> {
    let mut out = Vec::new();
    for s in slices {
        if len == 0 {
            break;
        }
        let take = s.len().min(len);
        out.push(s.subslice(0, take).map_err(|_| io::Error::from_raw_os_error(libc::EFAULT))?);
        len -= take;
    }
    Ok(out)
}

/// One exchange: the reply size and the fd passed with the reply, if any.
fn exchange(
    mem: &GuestMemory,
    stop: &StopSignal,
    chan: &GoferChannel,
    req: &Request,
    nreq: usize,
) -> io::Result<(i64, Option<OwnedFd>)> {
    let fd = chan.sock.as_raw_fd();
    let efault = || io::Error::from_raw_os_error(libc::EFAULT);
    let (tsegs, rsegs) = req.segments.split_at(nreq);
    let tslices = guest_slices(mem, tsegs).map_err(|_| efault())?;
    all(fd, libc::POLLOUT, stop, tslices, sys::writev)?;

    // The head of the reply: whatever has arrived, up to the end of the
    // first reply segment (which holds at least the size field; most
    // replies fit it whole). recvmsg: a donated fd rides on the reply's
    // first bytes. Only one request is outstanding, so anything past the
    // reply's own size is a broken gofer: refused below.
    let rslices = guest_slices(mem, rsegs).map_err(|_| efault())?;
    let first = rslices.first().ok_or_else(efault)?;
    let mut got = 0usize;
    let mut passed = None;
    while got < 4 {
        let rest = first.offset(got).map_err(|_| efault())?;
        match sys::recv_with_fd(fd, &[rest]) {
            Ok((0, _)) => return Err(io::Error::from_raw_os_error(libc::EIO)),
            Ok((n, more)) => {
                got += n;
                // The first fd counts; a later one is closed.
                passed = passed.or(more);
            }
            Err(e) => not_yet(e, fd, libc::POLLIN, stop)?,
        }
    }
    let mut size = [0u8; 4];
    first.subslice(0, 4).map_err(|_| efault())?.copy_to(&mut size[..]);
    let n = u64::from(u32::from_le_bytes(size));
    let capacity: u64 = rsegs.iter().map(|s| s.len).sum();
    let got64 = u64::try_from(got).unwrap_or(u64::MAX);
    if !(P9_MIN_REPLY..=P9_MAX_MESSAGE).contains(&n) || n > capacity || got64 > n {
        return Err(io::Error::from_raw_os_error(libc::EPROTO));
    }
    // The rest of the reply, exactly: scattered over the reply segments
    // after the bytes already received.
    let mut rest = rslices;
    advance(&mut rest, got)?;
    let rest = truncate(rest, usize::try_from(n - got64).map_err(|_| efault())?)?;
    all(fd, libc::POLLIN, stop, rest, sys::readv)?;
    Ok((i64::try_from(n).unwrap_or(0), passed))
}

/// `P9`: relays one exchange; `ret` = reply size or `-errno`.
pub fn p9(
    mem: &GuestMemory,
    stop: &StopSignal,
    gofer: Option<&mut GoferChannel>,
    req: &Request,
) -> Result<Reply, HostcallError> {
    let nreq = usize::try_from(req.args[0])
        .ok()
        .filter(|&n| n >= 1 && n < req.segments.len())
        .ok_or(HostcallError::BadArgument { call: "P9", what: "request segment count", value: req.args[0] })?;
    let tlen: u64 = req.segments[..nreq].iter().map(|s| s.len).sum();
    if !(P9_MIN_REPLY..=P9_MAX_MESSAGE).contains(&tlen) {
        return Err(HostcallError::BadArgument { call: "P9", what: "request length", value: tlen });
    }
    // Exactly one message: its size field must be the request's length
    // (several back to back could leave the gofer blocked on replies the
    // VMM is not yet reading).
    let mut size = [0u8; 4];
    let first = &req.segments[0];
    if first.len < 4 || mem.read_bytes(first.gpa, &mut size).is_err() || u64::from(u32::from_le_bytes(size)) != tlen {
        return Err(HostcallError::BadArgument { call: "P9", what: "request size field", value: tlen });
    }
    if req.segments[nreq].len < P9_MIN_REPLY {
        return Err(HostcallError::BadArgument {
            call: "P9",
            what: "first reply segment length",
            value: req.segments[nreq].len,
        });
    }
    let Some(chan) = gofer else {
        return Ok(Reply::ret(-i64::from(libc::ENOSYS)));
    };
    if chan.broken {
        return Ok(Reply::ret(-i64::from(libc::EIO)));
    }
    match exchange(mem, stop, chan, req, nreq) {
        Ok((n, None)) => Ok(Reply::ret(n)),
        Ok((n, Some(fd))) => Ok(Reply::Return { ret: n, ret2: chan.keep(fd) }),
        Err(e) => {
            // Mid-message failures leave the stream out of step: no more exchanges.
            chan.broken = true;
            tracing::warn!(error = %e, "gofer channel broken");
            Ok(Reply::ret(-i64::from(libc::EIO)))
        }
    }
}
