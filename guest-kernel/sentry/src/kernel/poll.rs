//! Readiness of open files, for poll, select and epoll.
//!
//! Every file that can become ready reports its events together with the
//! [`WaitKey`] it posts when they may change, so a waiter blocks on the
//! keys of all the files it watches and re-polls when woken (the retry
//! model of [`super::sched`]). Objects that become ready at a time rather
//! than on an event (timers) report that time instead.

use core::sync::atomic::{AtomicU64, Ordering};

use super::fd::File;
use super::task::WaitKey;
use super::{Kernel, Task};
use crate::fs::pipe::PIPE_BUF;
use crate::platform::{Host, Platform};
use abi::linux::poll::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};

/// Readable, as Linux reports it for pipes and sockets.
pub const READABLE: u32 = POLLIN | POLLRDNORM;
/// Writable, likewise.
pub const WRITABLE: u32 = POLLOUT | POLLWRNORM;

static NEXT_IO_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh id for an object that posts [`WaitKey::Io`] wake-ups.
pub fn new_io_id() -> u64 {
    NEXT_IO_ID.fetch_add(1, Ordering::Relaxed)
}

/// Posts that the object behind `key` changed so that `events` may now be
/// reported: wakes its waiters, and marks the epoll entries interested in
/// `events` (what an edge-triggered entry reports).
pub fn notify_events(key: WaitKey, events: u32) {
    super::sched::notify(key);
    crate::fs::epoll::post(key, events);
}

/// What a file is ready for now, and how to wait for a change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Readiness {
    /// POLL* bits.
    pub events: u32,
    /// The key posted when `events` may change (None: they never change).
    pub key: Option<WaitKey>,
    /// The monotonic time at which `events` may change (a timer).
    pub at: Option<u64>,
}

impl Readiness {
    /// Ready for `events` now and forever (regular files).
    pub const fn always(events: u32) -> Self {
        Self { events, key: None, at: None }
    }
}

/// The readiness of `file` for the calling task.
pub fn poll_file<P: Platform>(k: &mut Kernel<P>, t: &Task<P::AddressSpace>, file: &File) -> Readiness {
    match file {
        File::HostStdio { host_fd: 0, .. } | File::HostTty { .. } => host_stdin(k),
        File::HostStdio { host_fd: 1 | 2, .. } => Readiness::always(WRITABLE),
        File::HostStdio { host_fd, .. } => host_registered(k, *host_fd),
        File::Vfs(_) => Readiness::always(READABLE | WRITABLE),
        File::Socket(s) => Readiness { events: s.poll_events(), key: Some(WaitKey::Io(s.id)), at: None },
        File::Pipe(end) => {
            let p = end.pipe.lock();
            let mut events = 0;
            if end.write {
                // Linux reports room even with no reader left (the write
                // then fails with EPIPE).
                if p.readers == 0 {
                    events |= POLLERR;
                }
                if p.room() >= PIPE_BUF {
                    events |= WRITABLE;
                }
            }
            if end.read {
                if !p.is_empty() {
                    events |= READABLE;
                }
                // A FIFO reader that has never had a writer does not hang up.
                if p.writers == 0 && p.w_counter > 0 {
                    events |= POLLHUP;
                }
            }
            Readiness { events, key: Some(WaitKey::Io(p.id)), at: None }
        }
        File::Event(e) => crate::fs::event::poll(k, t, e),
        File::Tty(f) => crate::syscalls::tty::poll(k, f),
    }
}

/// A host descriptor of an exec'd process: readable as the host says; taken
/// as always writable, as the host's stdout is.
fn host_registered<P: Platform>(k: &Kernel<P>, fd: u32) -> Readiness {
    let r = k.host().poll(fd, POLLIN, 0);
    let mut events = WRITABLE | (r & (POLLHUP | POLLERR));
    if r & (POLLIN | POLLHUP) != 0 {
        events |= READABLE;
    }
    Readiness { events, key: Some(WaitKey::HostFd(fd)), at: None }
}

/// Host standard input (and the terminal's read side), asked of the host
/// without waiting. The host stdout and stderr are taken as always
/// writable: a write to them blocks the vCPU until the host takes it.
fn host_stdin<P: Platform>(k: &Kernel<P>) -> Readiness {
    let r = k.host().poll(0, POLLIN, 0);
    let mut events = 0;
    if r & (POLLIN | POLLHUP) != 0 {
        events |= READABLE;
    }
    if r & POLLHUP != 0 {
        events |= POLLHUP;
    }
    if r & POLLERR != 0 {
        events |= POLLERR;
    }
    // The tty's write side is the host's stdout or stderr.
    events |= WRITABLE;
    Readiness { events, key: Some(WaitKey::HostStdin), at: None }
}
