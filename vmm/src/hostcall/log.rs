//! `Log` and `Panic`: the sentry's log lines and its last words.

use std::io::Write as _;

use abi::hostcall::LogLevel;

use super::{segments_text, HostcallError, Reply, Request};
use crate::vstate::GuestMemory;
use crate::Outcome;

/// Longest log line or panic message kept.
pub const MAX_TEXT: usize = 64 << 10;

/// Prefix of syscall-trace lines, written raw to stderr like strace.
const STRACE_PREFIX: &str = "strace: ";

/// `Log`: one line at `args[0]` through `tracing` (target "sentry"); an
/// Info line starting with "strace: " goes raw to the host's stderr.
pub fn log(mem: &GuestMemory, req: &Request) -> Result<Reply, HostcallError> {
    let level = LogLevel::from_raw(req.args[0]).ok_or(HostcallError::BadArgument {
        call: "Log",
        what: "log level",
        value: req.args[0],
    })?;
    let text = segments_text(mem, req, MAX_TEXT);
    let text = text.trim_end_matches('\n');
    match level {
        LogLevel::Info => match text.strip_prefix(STRACE_PREFIX) {
            Some(line) => {
                let mut err = std::io::stderr().lock();
                // A broken stderr is not the guest's problem.
                let _ = writeln!(err, "{line}");
            }
            None => tracing::info!(target: "sentry", "{text}"),
        },
        LogLevel::Error => tracing::error!(target: "sentry", "{text}"),
        LogLevel::Warn => tracing::warn!(target: "sentry", "{text}"),
        LogLevel::Debug => tracing::debug!(target: "sentry", "{text}"),
        LogLevel::Trace => tracing::trace!(target: "sentry", "{text}"),
    }
    Ok(Reply::ret(0))
}

/// `Panic`: ends the run with the sentry's message.
pub fn panic(mem: &GuestMemory, req: &Request) -> Result<Reply, HostcallError> {
    let text = segments_text(mem, req, MAX_TEXT);
    Ok(Reply::Finish(Outcome::SentryPanic(text.trim_end_matches('\n').to_owned())))
}
