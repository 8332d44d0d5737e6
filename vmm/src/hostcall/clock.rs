//! `Clock`, `Sleep` and `Exit`.

use std::time::Duration;

use abi::hostcall::ExitKind;

use super::{HostcallError, Reply, Request};
use crate::stop::StopSignal;
use crate::{sys, Outcome};

/// Longest host sleep of one `Sleep` hostcall; the guest loops for more.
pub const MAX_SLEEP: Duration = Duration::from_secs(3600);

/// Highest signal number (Linux `_NSIG - 1`).
const MAX_SIGNAL: u64 = 64;

/// `Clock`: `ret` = CLOCK_REALTIME ns, `ret2` = CLOCK_MONOTONIC ns.
pub fn clock() -> Reply {
    let realtime = sys::clock_ns(libc::CLOCK_REALTIME);
    Reply::Return { ret: i64::try_from(realtime).unwrap_or(i64::MAX), ret2: sys::clock_ns(libc::CLOCK_MONOTONIC) }
}

/// `Sleep`: `args[0]` ns (capped at [`MAX_SLEEP`]); `ret` 0, or `-EINTR`
/// when the VM is being stopped.
pub fn sleep(stop: &StopSignal, req: &Request) -> Reply {
    let d = Duration::from_nanos(req.args[0]).min(MAX_SLEEP);
    match stop.sleep(d) {
        None => Reply::ret(0),
        Some(_) => Reply::ret(-i64::from(libc::EINTR)),
    }
}

/// `Exit`: ends the run with the program's status.
pub fn exit(req: &Request) -> Result<Reply, HostcallError> {
    let bad = |what, value| HostcallError::BadArgument { call: "Exit", what, value };
    let kind = ExitKind::from_raw(req.args[0]).ok_or_else(|| bad("exit kind", req.args[0]))?;
    let outcome = match kind {
        ExitKind::Exited => Outcome::Exited(req.args[1].to_le_bytes()[0]),
        ExitKind::Signaled => {
            let sig = req.args[1];
            if !(1..=MAX_SIGNAL).contains(&sig) {
                return Err(bad("signal", sig));
            }
            Outcome::Signaled(u32::try_from(sig).map_err(|_| bad("signal", sig))?)
        }
    };
    Ok(Reply::Finish(outcome))
}
