//! Hostcalls: the sentry's requests to the VMM (abi::hostcall).
//!
//! The vCPU's request block is copied out of guest memory (no reference
//! into guest memory is kept), validated completely — version, number,
//! segment count, every segment inside guest memory without overflow, total
//! size — and only then served. A malformed request ends the run with
//! [`crate::VmmError::BadHostcall`]; host I/O failures are returned to the
//! guest as `-errno`.

mod clock;
mod control;
mod file;
mod log;
pub mod p9;
#[allow(unsafe_code)]
mod read_helper;
mod stdio;

use std::mem::offset_of;

use abi::hostcall::{Hostcall, HostcallBlock, Segment, HOSTCALL_PORT, HOSTCALL_VERSION, MAX_SEGMENTS, MAX_TRANSFER};
use abi::layout;

use crate::control::Control;
use crate::error::{GuestFault, VmmError};
use crate::stop::StopSignal;
use crate::vstate::{ExitAction, GuestMemory, MemoryError, PortIo};
use crate::Outcome;

/// A malformed hostcall.
#[derive(Debug, thiserror::Error)]
pub enum HostcallError {
    /// The block could not be read.
    #[error("cannot read the hostcall block")]
    Block(#[source] MemoryError),
    /// Wrong block version.
    #[error("hostcall block version {found}, expected {HOSTCALL_VERSION}")]
    Version { found: u32 },
    /// Not in the hostcall table.
    #[error("unknown hostcall number {0}")]
    UnknownNumber(u32),
    /// More segments than a block holds.
    #[error("{0} segments, at most {MAX_SEGMENTS} allowed")]
    TooManySegments(u32),
    /// A segment outside guest memory (or overflowing).
    #[error("segment {index} ({gpa:#x}, {len:#x} bytes) lies outside guest memory")]
    SegmentOutside { index: usize, gpa: u64, len: u64 },
    /// The segments add up to more than one request may move.
    #[error("segments total more than {MAX_TRANSFER} bytes")]
    TooLarge,
    /// A file descriptor the hostcall does not serve.
    #[error("{call} on host fd {fd} is not allowed")]
    BadFd { call: &'static str, fd: u64 },
    /// An argument out of range.
    #[error("{call}: invalid {what} {value}")]
    BadArgument { call: &'static str, what: &'static str, value: u64 },
    /// The result could not be written back.
    #[error("cannot write the hostcall result")]
    Reply(#[source] MemoryError),
}

/// A validated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub call: Hostcall,
    pub args: [u64; 4],
    /// Segments, each checked to lie inside guest memory.
    pub segments: Vec<Segment>,
    /// Sum of the segment lengths (at most `MAX_TRANSFER`).
    pub total: u64,
}

/// The result of serving a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Write `ret`/`ret2` back and resume the guest.
    Return { ret: i64, ret2: u64 },
    /// End the run.
    Finish(Outcome),
}

impl Reply {
    fn ret(ret: i64) -> Self {
        Self::Return { ret, ret2: 0 }
    }

    /// `-errno` of an I/O error (EIO if it has none).
    fn errno(err: &std::io::Error) -> Self {
        Self::ret(-i64::from(err.raw_os_error().unwrap_or(libc::EIO)))
    }
}

/// Validates a request block copied out of guest memory.
pub fn decode(mem: &GuestMemory, block: &HostcallBlock) -> Result<Request, HostcallError> {
    if block.version != HOSTCALL_VERSION {
        return Err(HostcallError::Version { found: block.version });
    }
    let call = Hostcall::from_raw(block.nr).ok_or(HostcallError::UnknownNumber(block.nr))?;
    let nsegs = usize::try_from(block.nsegs)
        .ok()
        .filter(|&n| n <= MAX_SEGMENTS)
        .ok_or(HostcallError::TooManySegments(block.nsegs))?;
    let segments = block.segments[..nsegs].to_vec();
    let mut total: u64 = 0;
    for (index, seg) in segments.iter().enumerate() {
        if !mem.contains(seg.gpa, seg.len) {
            return Err(HostcallError::SegmentOutside { index, gpa: seg.gpa, len: seg.len });
        }
        total = total.checked_add(seg.len).filter(|&t| t <= MAX_TRANSFER).ok_or(HostcallError::TooLarge)?;
    }
    Ok(Request { call, args: block.args, segments, total })
}

/// Serves a validated request. The match lists every hostcall: a new row in
/// the abi table does not compile until it has a handler.
pub fn serve(
    mem: &GuestMemory,
    stop: &StopSignal,
    gofer: Option<&mut p9::GoferChannel>,
    control: Option<&Control>,
    req: &Request,
) -> Result<Reply, HostcallError> {
    match req.call {
        Hostcall::Write => stdio::write(mem, stop, control, req),
        Hostcall::Read => stdio::read(mem, stop, control, req),
        Hostcall::Poll => stdio::poll(stop, control, req),
        Hostcall::Exit => clock::exit(req),
        Hostcall::Clock => Ok(clock::clock()),
        Hostcall::Sleep => Ok(clock::sleep(stop, req)),
        Hostcall::Log => log::log(mem, req),
        Hostcall::Panic => log::panic(mem, req),
        Hostcall::P9 => p9::p9(mem, stop, gofer, req),
        Hostcall::ControlFetch => control::fetch(mem, control, req),
        Hostcall::ControlReply => control::reply(mem, control, req),
        Hostcall::FileRead => file::read(mem, gofer, req),
        Hostcall::FileClose => Ok(file::close(gofer, req)),
    }
}

/// The hostcall port of one vCPU.
pub struct Hostcalls<'a> {
    mem: &'a GuestMemory,
    stop: &'a StopSignal,
    vcpu: u64,
    gofer: Option<p9::GoferChannel>,
    control: Option<std::sync::Arc<Control>>,
    /// Hostcalls served.
    pub count: u64,
    /// P9 and FileRead hostcalls served, and the nanoseconds spent on them
    /// (the gofer round trip or the donated file's preadv, without the VM
    /// exit itself).
    pub p9_count: u64,
    pub p9_ns: u64,
}

impl<'a> Hostcalls<'a> {
    /// The hostcall port of vCPU `vcpu`.
    pub fn new(mem: &'a GuestMemory, stop: &'a StopSignal, vcpu: u64) -> Self {
        Self { mem, stop, vcpu, gofer: None, control: None, count: 0, p9_count: 0, p9_ns: 0 }
    }

    /// Serves `P9` hostcalls over `sock` (the gofer connection), once
    /// `ready` (if any) has seen the gofer start: at the first of them.
    pub fn with_gofer(mut self, sock: std::os::unix::net::UnixStream, ready: Option<crate::GoferReady>) -> Self {
        self.gofer = Some(p9::GoferChannel::starting(sock, ready));
        self
    }

    /// Serves the control channel (requests, exec'd processes' stdio).
    pub fn with_control(mut self, control: std::sync::Arc<Control>) -> Self {
        control.started();
        self.control = Some(control);
        self
    }

    /// Hangs up on the gofer once the guest has stopped for good: it exits
    /// on the EOF while the VM is torn down, instead of after, when its
    /// owner would kill and reap it.
    pub fn hang_up_gofer(&self) {
        if let Some(gofer) = &self.gofer {
            gofer.hang_up();
        }
    }

    fn handle(&mut self) -> Result<Option<Outcome>, VmmError> {
        let bad = |source| VmmError::BadHostcall { vcpu: self.vcpu, source };
        let gpa = layout::hostcall_block_gpa(self.vcpu);
        let block: HostcallBlock = self.mem.read(gpa).map_err(|e| bad(HostcallError::Block(e)))?;
        let req = decode(self.mem, &block).map_err(bad)?;
        self.count += 1;
        tracing::trace!(call = req.call.name(), args = ?req.args, total = req.total, "hostcall");
        if req.call == Hostcall::P9 {
            // The gofer started alongside the VM; if it did not, the run
            // ends here with its reason (not with the guest's EIO).
            if let Some(gofer) = &mut self.gofer {
                gofer.wait_ready().map_err(VmmError::GoferStart)?;
            }
        }
        let t0 = matches!(req.call, Hostcall::P9 | Hostcall::FileRead).then(std::time::Instant::now);
        let reply = serve(self.mem, self.stop, self.gofer.as_mut(), self.control.as_deref(), &req).map_err(bad)?;
        if let Some(t0) = t0 {
            self.p9_count += 1;
            self.p9_ns += u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
        }
        match reply {
            Reply::Return { ret, ret2 } => {
                let ret_gpa = gpa + offset_of!(HostcallBlock, ret) as u64;
                let ret2_gpa = gpa + offset_of!(HostcallBlock, ret2) as u64;
                self.mem
                    .write_u64(ret_gpa, u64::from_ne_bytes(ret.to_ne_bytes()))
                    .and_then(|()| self.mem.write_u64(ret2_gpa, ret2))
                    .map_err(|e| bad(HostcallError::Reply(e)))?;
                Ok(None)
            }
            Reply::Finish(outcome) => Ok(Some(outcome)),
        }
    }
}

impl PortIo for Hostcalls<'_> {
    fn port_out(&mut self, port: u16, _data: &[u8]) -> Result<ExitAction, VmmError> {
        if port != HOSTCALL_PORT {
            return Ok(ExitAction::Fault(GuestFault::PortOut(port)));
        }
        match self.handle()? {
            Some(outcome) => Ok(ExitAction::Finish(outcome)),
            None => Ok(ExitAction::Resume),
        }
    }

    fn kicked(&mut self) {
        if let Some(control) = &self.control {
            control.sync(self.mem);
        }
    }
}

/// The guest-memory slices of validated segments (empty ones left out).
fn guest_slices<'m>(
    mem: &'m GuestMemory,
    segs: &[Segment],
) -> Result<Vec<vm_memory::VolatileSlice<'m>>, HostcallError> {
    segs.iter()
        .enumerate()
        .filter(|(_, s)| s.len != 0)
        .map(|(index, s)| {
            let outside = || HostcallError::SegmentOutside { index, gpa: s.gpa, len: s.len };
            let len = usize::try_from(s.len).map_err(|_| outside())?;
            mem.slice(s.gpa, len).map_err(|_| outside())
        })
        .collect()
}

/// Copies the request's segments out as text: lossy UTF-8, at most `cap`
/// bytes.
fn segments_text(mem: &GuestMemory, req: &Request, cap: usize) -> String {
    let mut bytes = Vec::new();
    for seg in &req.segments {
        let room = cap.saturating_sub(bytes.len());
        let take = usize::try_from(seg.len).unwrap_or(usize::MAX).min(room);
        if take == 0 {
            break;
        }
        let start = bytes.len();
        bytes.resize(start + take, 0);
        if mem.read_bytes(seg.gpa, &mut bytes[start..]).is_err() {
            bytes.truncate(start);
            break;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests;
