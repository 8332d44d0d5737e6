//! `--preserve-fds N`: the caller's descriptors 3 to 3+N-1 become the
//! container init's fds 3 to 3+N-1, as with runc.
//!
//! The forked sandbox process (`boot.rs`) takes copies of them and closes
//! the originals, so that they never sit at numbers it or its gofer use. It
//! registers them with the control channel; the sentry reads and writes
//! them through hostcalls, as the stdio of exec'd processes.

use std::os::fd::BorrowedFd;

use anyhow::{bail, Context as _};

pub use abi::container::MAX_PRESERVED_FDS;

/// The first preserved descriptor.
const FIRST: i32 = 3;

/// The caller's descriptors 3 to 3+`n`-1, checked open.
pub fn caller_fds(n: u32) -> anyhow::Result<Vec<BorrowedFd<'static>>> {
    let count = usize::try_from(n).unwrap_or(usize::MAX);
    if count > MAX_PRESERVED_FDS {
        bail!("--preserve-fds {n}: at most {MAX_PRESERVED_FDS} descriptors can be passed");
    }
    let last = FIRST.saturating_add(i32::try_from(n).unwrap_or(i32::MAX));
    (FIRST..last)
        .map(|fd| {
            crate::sys::inherited_fd(fd).with_context(|| format!("--preserve-fds {n}: descriptor {fd} is not open"))
        })
        .collect()
}
