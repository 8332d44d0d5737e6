//! `ControlFetch` and `ControlReply`: the sentry's side of the control
//! channel (see `crate::control`).

use abi::control::{MAX_REPLY, MAX_REQUEST};

use super::{HostcallError, Reply, Request};
use crate::control::Control;
use crate::vstate::GuestMemory;

/// `ControlFetch`: the next request into the segments; `ret` its size, 0
/// when none waits, `-ENOSPC` when the segments are smaller than
/// [`MAX_REQUEST`] (the request stays queued).
pub fn fetch(mem: &GuestMemory, control: Option<&Control>, req: &Request) -> Result<Reply, HostcallError> {
    let Some(control) = control else { return Ok(Reply::ret(0)) };
    if req.total < MAX_REQUEST as u64 {
        return Ok(Reply::ret(-i64::from(libc::ENOSPC)));
    }
    let Some(msg) = control.take_request(mem) else { return Ok(Reply::ret(0)) };
    let mut left = &msg[..];
    for seg in &req.segments {
        if left.is_empty() {
            break;
        }
        let n = left.len().min(usize::try_from(seg.len).unwrap_or(usize::MAX));
        if let Err(e) = mem.write_bytes(seg.gpa, &left[..n]) {
            control.put_back(msg);
            return Err(HostcallError::Reply(e));
        }
        left = &left[n..];
    }
    Ok(Reply::ret(i64::try_from(msg.len()).unwrap_or(0)))
}

/// `ControlReply`: a reply or event from the segments; `ret` 0 or `-errno`.
pub fn reply(mem: &GuestMemory, control: Option<&Control>, req: &Request) -> Result<Reply, HostcallError> {
    let Some(control) = control else { return Ok(Reply::ret(-i64::from(libc::ENOSYS))) };
    if req.total > MAX_REPLY as u64 {
        return Ok(Reply::ret(-i64::from(libc::EMSGSIZE)));
    }
    let mut msg = vec![0u8; usize::try_from(req.total).unwrap_or(0)];
    let mut at = 0usize;
    for seg in &req.segments {
        let n = usize::try_from(seg.len).unwrap_or(0);
        mem.read_bytes(seg.gpa, &mut msg[at..at + n]).map_err(HostcallError::Block)?;
        at += n;
    }
    match control.deliver(msg) {
        Ok(()) => Ok(Reply::ret(0)),
        Err(e) => {
            tracing::debug!(errno = e, "control reply refused");
            Ok(Reply::ret(-i64::from(e)))
        }
    }
}
