//! Event files, Linux's anonymous-inode files: epoll instances, eventfds,
//! timerfds and signalfds. They share what an open file description of
//! theirs looks like from outside (status flags, fstat); each kind keeps
//! its own state in its module.

use alloc::sync::Arc;

use super::epoll::Epoll;
use super::eventfd::EventFd;
use super::signalfd::SignalFd;
use super::timerfd::TimerFd;
use crate::kernel::poll::Readiness;
use crate::kernel::{Kernel, Task};
use crate::platform::{Host, Platform};
use crate::vfs::file::flags::{O_NONBLOCK, O_RDWR};
use crate::vfs::Stat;

/// What an event file is.
#[derive(Debug)]
pub enum EventKind {
    Epoll(Arc<Epoll>),
    EventFd(EventFd),
    TimerFd(TimerFd),
    SignalFd(SignalFd),
}

/// An open event file.
#[derive(Debug)]
pub struct EventFile {
    pub kind: EventKind,
    /// O_NONBLOCK (the access mode is always O_RDWR).
    nonblock: spin::Mutex<bool>,
}

impl EventFile {
    pub fn new(kind: EventKind, nonblock: bool) -> Arc<Self> {
        Arc::new(Self { kind, nonblock: spin::Mutex::new(nonblock) })
    }

    pub fn nonblocking(&self) -> bool {
        *self.nonblock.lock()
    }

    /// F_GETFL: O_RDWR, as Linux opens these, and O_NONBLOCK.
    pub fn status_flags(&self) -> u32 {
        O_RDWR | if self.nonblocking() { O_NONBLOCK } else { 0 }
    }

    /// F_SETFL: only O_NONBLOCK changes.
    pub fn set_status_flags(&self, flags: u32) {
        *self.nonblock.lock() = flags & O_NONBLOCK != 0;
    }

    /// The name Linux gives the file (the target of its /proc fd link).
    pub fn anon_name(&self) -> &'static str {
        match self.kind {
            EventKind::Epoll(_) => "anon_inode:[eventpoll]",
            EventKind::EventFd(_) => "anon_inode:[eventfd]",
            EventKind::TimerFd(_) => "anon_inode:[timerfd]",
            EventKind::SignalFd(_) => "anon_inode:[signalfd]",
        }
    }

    /// fstat: Linux's anonymous inode (mode 0600 without a file type, one
    /// inode shared by every such file).
    pub fn stat(&self) -> Stat {
        Stat::kernel_object(crate::vfs::ANON_INODE_DEV, 1, 0o600)
    }
}

/// The readiness of an event file for task `t`.
pub fn poll<P: Platform>(k: &mut Kernel<P>, t: &Task<P::AddressSpace>, f: &EventFile) -> Readiness {
    match &f.kind {
        EventKind::Epoll(ep) => super::epoll::readiness(k, t, ep),
        EventKind::EventFd(e) => e.readiness(),
        EventKind::TimerFd(tf) => tf.readiness_at(&k.host().clocks()),
        EventKind::SignalFd(s) => s.readiness(k, t),
    }
}
