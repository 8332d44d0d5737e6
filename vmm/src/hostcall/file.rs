//! `FileRead` and `FileClose`: reads of files the gofer donated (see
//! `p9.rs`), straight from the host fd into guest memory with `preadv`:
//! one copy, as a native read, and no gofer round trip.
//!
//! The guest names a file only by a handle the channel handed out; the
//! fds are the gofer's read-only opens, so this reads nothing the guest
//! could not read through 9P. Large reads are split with a helper thread
//! (`read_helper.rs`).

use super::p9::GoferChannel;
use super::read_helper::{self, ReadHelper, SPLIT_MIN};
use super::{guest_slices, HostcallError, Reply, Request};
use crate::vstate::GuestMemory;

/// `FileRead`: `ret` = bytes read (short only at end of file) or `-errno`.
pub fn read(mem: &GuestMemory, gofer: Option<&mut GoferChannel>, req: &Request) -> Result<Reply, HostcallError> {
    let Some(chan) = gofer else {
        return Ok(Reply::ret(-i64::from(libc::EBADF)));
    };
    if req.total >= SPLIT_MIN as u64 && chan.reader.is_none() && !chan.reader_failed {
        // Without a helper thread, reads stay on this one.
        chan.reader = ReadHelper::spawn().ok();
        chan.reader_failed = chan.reader.is_none();
    }
    let Some(file) = chan.donated.get(&req.args[0]) else {
        return Ok(Reply::ret(-i64::from(libc::EBADF)));
    };
    let Ok(off) = i64::try_from(req.args[1]) else {
        return Ok(Reply::ret(-i64::from(libc::EINVAL)));
    };
    let slices = guest_slices(mem, &req.segments)?;
    let outcome = match chan.reader.as_ref().filter(|_| req.total >= SPLIT_MIN as u64) {
        Some(helper) => helper.read(file, &slices, off),
        None => read_helper::read_alone(file, &slices, off),
    };
    Ok(match outcome {
        (0, Some(e)) => Reply::errno(&e),
        // What was read stands; an error shows on the next read.
        (n, _) => Reply::ret(i64::try_from(n).unwrap_or(i64::MAX)),
    })
}

/// `FileClose`: drops the handle's fd.
pub fn close(gofer: Option<&mut GoferChannel>, req: &Request) -> Reply {
    match gofer.and_then(|c| c.donated.remove(&req.args[0])) {
        Some(_) => Reply::ret(0),
        None => Reply::ret(-i64::from(libc::EBADF)),
    }
}
