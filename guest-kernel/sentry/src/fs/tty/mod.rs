//! Terminals: the line discipline ([`ldisc`]), pseudo-terminal pairs
//! (`/dev/ptmx`, `/dev/pts/N`: [`devpts`]) and the container's console
//! (`/dev/console` over the host's pty: [`console`]).
//!
//! As in gVisor, the sentry owns the line discipline; what lies outside
//! (a pty master's reader, the host terminal) sees raw bytes. A terminal
//! is the controlling terminal of at most one session (`session`), and
//! has a foreground process group (`pgrp`). A process's controlling
//! terminal is the one whose session is the process's session.

pub mod console;
pub mod devpts;
pub mod ldisc;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use crate::kernel::poll::notify_events;
use crate::kernel::task::WaitKey;
use abi::linux::poll::{POLLHUP, POLLIN, POLLOUT};
use abi::linux::Winsize;
use ldisc::LineDiscipline;

/// What a pty's slave may have written that its master has not read yet
/// before slave writes wait (Linux's pty buffer is of this order).
pub const TO_MASTER_MAX: usize = 64 << 10;

/// The mutable state of a terminal.
#[derive(Debug, Default)]
pub struct TtyState {
    pub ld: LineDiscipline,
    /// A pty's output (slave writes and echo) not yet read by the master.
    pub to_master: VecDeque<u8>,
    pub winsize: Winsize,
    /// The session this is the controlling terminal of.
    pub session: Option<u32>,
    /// The foreground process group.
    pub pgrp: Option<u32>,
    /// A pty's slave cannot be opened until unlocked (TIOCSPTLCK).
    pub locked: bool,
    /// Owner of a pty's slave node: the fsuid and fsgid of whoever opened
    /// /dev/ptmx, as devpts sets them.
    pub owner: (u32, u32),
    /// Open master descriptions (0 or 1; the console's master is the host).
    pub masters: usize,
    /// Open slave descriptions, and whether one was ever opened.
    pub slaves: usize,
    pub slave_opened: bool,
    /// The other side is gone: a pty's master closed, or the host's
    /// terminal hung up. Reads return 0, writes EIO.
    pub hung_up: bool,
}

/// The host descriptors standing in for a terminal's master: input is
/// read from `read_fd`, output written to `write_fd` (a raw host pty or
/// the caller's own terminal; the sentry runs the line discipline).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostLink {
    pub read_fd: u32,
    pub write_fd: u32,
}

/// A terminal: a pty pair, or the console.
#[derive(Debug)]
pub struct Tty {
    /// For `WaitKey::Io` (host-linked terminals wait on their host fd).
    pub id: u64,
    /// The pty number (`/dev/pts/N`); None for the console.
    pub index: Option<u32>,
    /// Set when the master side is on the host: the console (host fds 0
    /// and 1), or the pty of a process exec'd with a terminal.
    pub host: Option<HostLink>,
    pub state: spin::Mutex<TtyState>,
}

impl Tty {
    fn new(index: Option<u32>, host: Option<HostLink>) -> Self {
        Self { id: crate::kernel::poll::new_io_id(), index, host, state: spin::Mutex::new(TtyState::default()) }
    }

    /// The key waiters of this terminal block on: the host descriptor its
    /// input comes from, so that the idle loop watches it.
    pub fn key(&self) -> WaitKey {
        match self.host {
            Some(HostLink { read_fd: 0, .. }) => WaitKey::HostStdin,
            Some(l) => WaitKey::HostFd(l.read_fd),
            None => WaitKey::Io(self.id),
        }
    }

    /// Wakes this terminal's waiters (both sides).
    pub fn notify(&self) {
        notify_events(self.key(), POLLIN | POLLOUT | POLLHUP);
    }

    /// Whether this is the console.
    pub fn is_console(&self) -> bool {
        self.index.is_none()
    }
}

/// The pty pairs by number (the devpts directory lists them).
static PTYS: spin::Mutex<BTreeMap<u32, Weak<Tty>>> = spin::Mutex::new(BTreeMap::new());
/// Linux's default `/proc/sys/kernel/pty/max`.
const PTY_MAX: u32 = 4096;

/// A new pty pair with the lowest free number.
pub fn new_pty(owner: (u32, u32)) -> Option<Arc<Tty>> {
    let mut ptys = PTYS.lock();
    ptys.retain(|_, w| w.strong_count() > 0);
    let index = (0..PTY_MAX).find(|i| !ptys.contains_key(i))?;
    let tty = Arc::new(Tty::new(Some(index), None));
    {
        let mut s = tty.state.lock();
        // As Linux: a new pty is locked until unlockpt.
        s.locked = true;
        s.masters = 1;
        s.owner = owner;
    }
    ptys.insert(index, Arc::downgrade(&tty));
    Some(tty)
}

/// A new pty pair whose master is on the host (`link`), unlocked, with
/// window size `winsize`: the terminal of a process exec'd with one.
pub fn new_host_pty(link: HostLink, winsize: Winsize) -> Option<Arc<Tty>> {
    let mut ptys = PTYS.lock();
    ptys.retain(|_, w| w.strong_count() > 0);
    let index = (0..PTY_MAX).find(|i| !ptys.contains_key(i))?;
    let tty = Arc::new(Tty::new(Some(index), Some(link)));
    {
        let mut s = tty.state.lock();
        s.winsize = winsize;
        // The host side is the master: there until it hangs up.
        s.masters = 1;
    }
    ptys.insert(index, Arc::downgrade(&tty));
    Some(tty)
}

/// The terminals whose master is on the host and still connected (the
/// console first), for the scheduler to pull their input.
pub fn host_linked() -> Vec<Arc<Tty>> {
    let mut out: Vec<Arc<Tty>> = console::get().into_iter().collect();
    out.extend(PTYS.lock().values().filter_map(Weak::upgrade).filter(|t| t.host.is_some()));
    out.retain(|t| !t.state.lock().hung_up);
    out
}

/// The pty numbered `index`, if its master is open.
pub fn pty(index: u32) -> Option<Arc<Tty>> {
    PTYS.lock().get(&index).and_then(Weak::upgrade).filter(|t| t.state.lock().masters > 0)
}

/// The numbers of the open ptys, in order.
pub fn pty_indices() -> Vec<u32> {
    PTYS.lock()
        .iter()
        .filter(|(_, w)| w.upgrade().is_some_and(|t| t.state.lock().masters > 0))
        .map(|(i, _)| *i)
        .collect()
}

/// The controlling terminal of session `sid`.
pub fn controlling(sid: u32) -> Option<Arc<Tty>> {
    if let Some(c) = console::get() {
        if c.state.lock().session == Some(sid) {
            return Some(c);
        }
    }
    let ptys = PTYS.lock();
    ptys.values().filter_map(Weak::upgrade).find(|t| t.state.lock().session == Some(sid))
}

/// Session `sid`'s controlling terminal as /proc/PID/stat's tty_nr and
/// tpgid give it: its device number (Linux's new_encode_dev) and its
/// foreground process group (0 when it has none); (0, -1) without one.
pub fn stat_fields(sid: u32) -> (u32, i64) {
    let Some(t) = controlling(sid) else { return (0, -1) };
    let dev = match t.index {
        Some(i) => devpts::slave_rdev(i),
        None => crate::fs::dev::CONSOLE,
    };
    let pgrp = t.state.lock().pgrp.unwrap_or(0);
    (u32::try_from(dev).unwrap_or(0), i64::from(pgrp))
}

/// Session `sid` ended (its leader exited): its terminal is no longer
/// anyone's controlling terminal. Returns it, so the caller can send
/// SIGHUP and SIGCONT to its foreground group as Linux does.
pub fn session_ended(sid: u32) -> Option<(Arc<Tty>, Option<u32>)> {
    let tty = controlling(sid)?;
    let pgrp = {
        let mut s = tty.state.lock();
        s.session = None;
        s.pgrp.take()
    };
    Some((tty, pgrp))
}

/// An open terminal: one side of it.
#[derive(Debug)]
pub struct TtyFile {
    pub tty: Arc<Tty>,
    /// The pty's master side (`/dev/ptmx`); otherwise the slave or console.
    pub master: bool,
    /// Status flags (O_NONBLOCK and the access mode).
    pub flags: spin::Mutex<u32>,
}

impl TtyFile {
    /// Opens a side of `tty` (the caller checked the slave may be opened).
    pub fn open(tty: Arc<Tty>, master: bool, flags: u32) -> Arc<Self> {
        if !master {
            let mut s = tty.state.lock();
            s.slaves += 1;
            s.slave_opened = true;
        }
        Arc::new(Self { tty, master, flags: spin::Mutex::new(flags) })
    }

    /// O_NONBLOCK is set.
    pub fn nonblocking(&self) -> bool {
        *self.flags.lock() & crate::vfs::file::flags::O_NONBLOCK != 0
    }

    /// The path the file was opened by, for /proc's fd links and ttyname.
    pub fn path(&self) -> Vec<u8> {
        match (self.tty.index, self.master) {
            (None, _) => b"/dev/console".to_vec(),
            (Some(_), true) => b"/dev/ptmx".to_vec(),
            (Some(i), false) => alloc::format!("/dev/pts/{i}").into_bytes(),
        }
    }

    /// (st_dev, st_ino): those of its node, so that ttyname matches them.
    pub fn ident(&self) -> (u64, u64) {
        match (self.tty.index, self.master) {
            (None, _) => console::node_ident(),
            (Some(_), true) => devpts::ptmx_ident(),
            (Some(i), false) => devpts::slave_ident(i),
        }
    }

    /// The device number (st_rdev).
    pub fn rdev(&self) -> u64 {
        match (self.tty.index, self.master) {
            (None, _) => crate::fs::dev::CONSOLE,
            (Some(_), true) => crate::fs::dev::PTMX,
            (Some(i), false) => devpts::slave_rdev(i),
        }
    }
}

impl Drop for TtyFile {
    fn drop(&mut self) {
        {
            let mut s = self.tty.state.lock();
            if self.master {
                s.masters = s.masters.saturating_sub(1);
                if s.masters == 0 {
                    s.hung_up = true;
                }
            } else {
                s.slaves = s.slaves.saturating_sub(1);
            }
        }
        self.tty.notify();
    }
}
