//! epoll instances: an interest list of (fd, file description) entries,
//! polled on demand.
//!
//! Entries hold their files weakly, as Linux's do not keep a file open: an
//! entry goes away with the last descriptor of its file. An epoll is
//! registered as a watcher of its entries' wait keys, which lets two things
//! reach it without a poll:
//! - a wake-up of a watched key also wakes the tasks waiting on the epoll's
//!   own key ([`with_watchers`]), so poll() on an epoll fd and nested
//!   epolls wake;
//! - an object that says which events it posts ([`post`], through
//!   [`crate::kernel::poll::notify_events`]) marks the entries interested
//!   in them: that is the new event an edge-triggered entry reports, as
//!   Linux's wake-up callbacks filter by the events they carry. For objects
//!   that post no events, an edge is a readiness seen to appear between
//!   two polls, or a timer's time passing.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use crate::error::SysError;
use crate::fs::event::EventKind;
use crate::kernel::fd::{File, WeakFile};
use crate::kernel::poll::{new_io_id, poll_file, Readiness, READABLE};
use crate::kernel::sched;
use crate::kernel::task::WaitKey;
use crate::kernel::{Kernel, Task};
use crate::platform::{Host, Platform};
use abi::linux::epoll::{EPOLLET, EPOLLEXCLUSIVE, EPOLLONESHOT, EPOLLWAKEUP, EPOLL_MAX_NESTS};
use abi::linux::errno;
use abi::linux::poll::{POLLERR, POLLHUP};

/// The flag bits of an entry's events (not readiness bits).
const FLAG_BITS: u32 = EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE | EPOLLWAKEUP;

/// An entry is keyed by its fd number and its file description.
type EntryId = (i32, usize);

/// One watched (fd, file).
#[derive(Debug, Clone)]
struct Entry {
    file: WeakFile,
    /// The events asked for, with EPOLLERR | EPOLLHUP and the flag bits.
    events: u32,
    data: u64,
    /// The key the file posts when its readiness may change.
    key: Option<WaitKey>,
    /// An event of interest was posted since the entry was last reported.
    triggered: bool,
    /// The events of interest seen at the last poll.
    last: u32,
    /// When the file said its readiness may change (a timer).
    at: Option<u64>,
    /// EPOLLONESHOT fired: nothing is reported until EPOLL_CTL_MOD.
    disarmed: bool,
}

/// An epoll instance.
#[derive(Debug)]
pub struct Epoll {
    /// Its own wait key's id: posted when an entry may have become ready.
    pub id: u64,
    entries: spin::Mutex<BTreeMap<EntryId, Entry>>,
    /// The entry last reported: the next epoll_wait starts after it, so
    /// that a small maxevents does not starve the entries further on
    /// (Linux moves reported level-triggered entries to the back).
    resume: spin::Mutex<Option<EntryId>>,
}

/// Which epolls watch each wait key.
static WATCHES: spin::Mutex<BTreeMap<WaitKey, Vec<Weak<Epoll>>>> = spin::Mutex::new(BTreeMap::new());

/// What one pass over an interest list found.
#[derive(Debug, Default)]
pub struct Scan {
    /// (events, data) of the entries reported.
    pub ready: Vec<(u32, u64)>,
    /// Keys of the entries not ready, to wait on.
    pub keys: Vec<WaitKey>,
    /// The earliest time an entry not ready may become ready.
    pub at: Option<u64>,
}

impl Epoll {
    pub fn new() -> Arc<Self> {
        Arc::new(Self { id: new_io_id(), entries: spin::Mutex::new(BTreeMap::new()), resume: spin::Mutex::new(None) })
    }

    /// The epoll's own wait key.
    pub fn key(&self) -> WaitKey {
        WaitKey::Io(self.id)
    }

    /// EPOLL_CTL_ADD: `r` is the file's readiness now.
    pub fn insert(
        self: &Arc<Self>,
        fd: i32,
        file: &File,
        events: u32,
        data: u64,
        r: Readiness,
    ) -> Result<(), SysError> {
        let id = (fd, file.identity());
        {
            let mut entries = self.entries.lock();
            if entries.contains_key(&id) {
                return Err(SysError::new(errno::EEXIST, "fd already in the epoll"));
            }
            // A file ready at insertion is reported once even edge-triggered.
            let entry = Entry {
                file: file.downgrade(),
                events: events | POLLERR | POLLHUP,
                data,
                key: r.key,
                triggered: true,
                last: 0,
                at: r.at,
                disarmed: false,
            };
            entries.insert(id, entry);
        }
        if let Some(key) = r.key {
            self.watch(key);
        }
        self.changed();
        Ok(())
    }

    /// EPOLL_CTL_MOD.
    pub fn modify(&self, fd: i32, file: &File, events: u32, data: u64) -> Result<(), SysError> {
        {
            let mut entries = self.entries.lock();
            let e =
                entries.get_mut(&(fd, file.identity())).ok_or(SysError::new(errno::ENOENT, "fd not in the epoll"))?;
            if e.events & EPOLLEXCLUSIVE != 0 {
                return Err(SysError::einval("EPOLL_CTL_MOD of an EPOLLEXCLUSIVE entry"));
            }
            e.events = events | POLLERR | POLLHUP;
            e.data = data;
            e.triggered = true;
            e.last = 0;
            e.disarmed = false;
        }
        self.changed();
        Ok(())
    }

    /// EPOLL_CTL_DEL.
    pub fn remove(&self, fd: i32, file: &File) -> Result<(), SysError> {
        let e = self.entries.lock().remove(&(fd, file.identity()));
        let e = e.ok_or(SysError::new(errno::ENOENT, "fd not in the epoll"))?;
        self.unwatch_unused(e.key);
        Ok(())
    }

    /// Wakes the epoll's waiters: its interest list changed.
    fn changed(&self) {
        sched::notify(self.key());
        post(self.key(), READABLE);
    }

    fn watch(self: &Arc<Self>, key: WaitKey) {
        let mut w = WATCHES.lock();
        let list = w.entry(key).or_default();
        if !list.iter().any(|e| core::ptr::eq(e.as_ptr(), Arc::as_ptr(self))) {
            list.push(Arc::downgrade(self));
        }
    }

    /// Stops watching `key` when no entry uses it any more.
    fn unwatch_unused(&self, key: Option<WaitKey>) {
        let Some(key) = key else { return };
        if self.entries.lock().values().any(|e| e.key == Some(key)) {
            return;
        }
        unregister(key, self);
    }

    /// The epolls among the entries (for the loop and depth checks).
    fn children(&self) -> Vec<Arc<Epoll>> {
        let files: Vec<WeakFile> = self.entries.lock().values().map(|e| e.file.clone()).collect();
        files.iter().filter_map(|f| as_epoll(&f.upgrade()?)).collect()
    }

    /// Whether adding `child` to this epoll would make a loop or nest
    /// epolls deeper than Linux allows (ELOOP), as Linux's ep_loop_check.
    pub fn would_loop(&self, child: &Epoll) -> bool {
        let down = depth_below(child, self, 0);
        down > EPOLL_MAX_NESTS || down + 1 + depth_above(self, 0) > EPOLL_MAX_NESTS
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        let keys: Vec<WaitKey> = self.entries.get_mut().values().filter_map(|e| e.key).collect();
        for key in keys {
            unregister(key, self);
        }
    }
}

fn unregister(key: WaitKey, ep: &Epoll) {
    let mut w = WATCHES.lock();
    if let Some(list) = w.get_mut(&key) {
        list.retain(|e| !core::ptr::eq(e.as_ptr(), ep) && e.strong_count() > 0);
        if list.is_empty() {
            w.remove(&key);
        }
    }
}

/// The epoll behind `file`, if it is one.
pub fn as_epoll(file: &File) -> Option<Arc<Epoll>> {
    match file {
        File::Event(e) => match &e.kind {
            EventKind::Epoll(ep) => Some(Arc::clone(ep)),
            _ => None,
        },
        _ => None,
    }
}

/// How deep epolls nest below `ep` (0: none), or more than
/// EPOLL_MAX_NESTS when `target` is among them.
fn depth_below(ep: &Epoll, target: &Epoll, level: usize) -> usize {
    if core::ptr::eq(ep, target) || level > EPOLL_MAX_NESTS {
        return EPOLL_MAX_NESTS + 1;
    }
    let mut depth = 0;
    for child in ep.children() {
        depth = depth.max(depth_below(&child, target, level + 1) + 1);
        if depth > EPOLL_MAX_NESTS {
            break;
        }
    }
    depth
}

/// How many epolls `ep` is nested in, at most, above it.
fn depth_above(ep: &Epoll, level: usize) -> usize {
    if level > EPOLL_MAX_NESTS {
        return level;
    }
    live_watchers(ep.key()).iter().map(|p| depth_above(p, level + 1) + 1).max().unwrap_or(0)
}

/// The live epolls watching `key`.
fn live_watchers(key: WaitKey) -> Vec<Arc<Epoll>> {
    let w = WATCHES.lock();
    w.get(&key).map(|l| l.iter().filter_map(Weak::upgrade).collect()).unwrap_or_default()
}

/// `key` and the keys of the epolls that watch it, directly or through
/// nested epolls: a wake-up of `key` wakes the tasks waiting on any.
pub fn with_watchers(key: WaitKey) -> Vec<WaitKey> {
    let mut out = alloc::vec![key];
    let mut i = 0;
    // Loops are refused at EPOLL_CTL_ADD; the bound is a second guard.
    while i < out.len() && out.len() < 64 {
        let ids: Vec<u64> = live_watchers(out[i]).iter().map(|e| e.id).collect();
        for id in ids {
            let k = WaitKey::Io(id);
            if !out.contains(&k) {
                out.push(k);
            }
        }
        i += 1;
    }
    out
}

/// The object behind `key` posted `events`: marks the entries interested
/// in them (the event an edge-triggered entry reports) and wakes their
/// epolls' waiters.
pub fn post(key: WaitKey, events: u32) {
    post_at(key, events, 0);
}

fn post_at(key: WaitKey, events: u32, level: usize) {
    if level > EPOLL_MAX_NESTS + 1 {
        return;
    }
    for ep in live_watchers(key) {
        let mut hit = false;
        for e in ep.entries.lock().values_mut() {
            if e.key == Some(key) && !e.disarmed && e.events & events & !FLAG_BITS != 0 {
                e.triggered = true;
                hit = true;
            }
        }
        if hit {
            sched::notify(ep.key());
            post_at(ep.key(), READABLE, level + 1);
        }
    }
}

/// Polls the entries of `ep` for task `t`, reporting at most `max`. With
/// `consume`, the pass is an epoll_wait: edge-triggered entries reported
/// wait for a new event and one-shot entries are disarmed; without, it
/// only asks whether anything would be reported (poll() on the epoll).
pub fn scan<P: Platform>(k: &mut Kernel<P>, t: &Task<P::AddressSpace>, ep: &Epoll, max: usize, consume: bool) -> Scan {
    let now = k.host().clocks().monotonic_ns;
    let mut snapshot: Vec<(EntryId, WeakFile)> =
        ep.entries.lock().iter().filter(|(_, e)| !e.disarmed).map(|(id, e)| (*id, e.file.clone())).collect();
    if let Some(last) = *ep.resume.lock() {
        let after = snapshot.iter().position(|(id, _)| *id > last).unwrap_or(0);
        snapshot.rotate_left(after);
    }
    let mut out = Scan::default();
    let mut last_reported = None;
    let mut dead = Vec::new();
    for (id, weak) in snapshot {
        if out.ready.len() >= max {
            break;
        }
        let Some(file) = weak.upgrade() else {
            dead.push(id);
            continue;
        };
        let r = poll_file(k, t, &file);
        drop(file);
        let mut entries = ep.entries.lock();
        let Some(e) = entries.get_mut(&id) else { continue };
        let ready = r.events & e.events & !FLAG_BITS;
        let edge = e.triggered || e.at.is_some_and(|a| now >= a) || ready & !e.last != 0;
        let report = ready != 0 && (e.events & EPOLLET == 0 || edge);
        if consume {
            e.last = ready;
            e.at = r.at;
            if report {
                e.triggered = false;
                e.disarmed = e.events & EPOLLONESHOT != 0;
            }
        }
        if report {
            out.ready.push((ready, e.data));
            last_reported = Some(id);
        } else {
            out.keys.extend(r.key);
            if let Some(at) = r.at {
                out.at = Some(out.at.map_or(at, |a| a.min(at)));
            }
        }
    }
    if consume && last_reported.is_some() {
        *ep.resume.lock() = last_reported;
    }
    for id in dead {
        let e = ep.entries.lock().remove(&id);
        ep.unwatch_unused(e.and_then(|e| e.key));
    }
    out
}

/// The readiness of an epoll fd: readable when an epoll_wait would report
/// something.
pub fn readiness<P: Platform>(k: &mut Kernel<P>, t: &Task<P::AddressSpace>, ep: &Epoll) -> Readiness {
    let s = scan(k, t, ep, 1, false);
    let events = if s.ready.is_empty() { 0 } else { READABLE };
    Readiness { events, key: Some(ep.key()), at: if events == 0 { s.at } else { None } }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::event::EventFile;
    use crate::fs::eventfd::EventFd;

    fn epoll_file() -> (File, Arc<Epoll>) {
        let ep = Epoll::new();
        (File::Event(EventFile::new(EventKind::Epoll(Arc::clone(&ep)), false)), ep)
    }

    fn ready(key: WaitKey) -> Readiness {
        Readiness { events: 0, key: Some(key), at: None }
    }

    #[test]
    fn wakes_reach_nested_epolls_and_stop_when_they_close() {
        let efd = EventFile::new(EventKind::EventFd(EventFd::new(0, false)), false);
        let key = match &efd.kind {
            EventKind::EventFd(e) => e.key(),
            _ => unreachable!(),
        };
        let efd = File::Event(efd);
        let (inner_file, inner) = epoll_file();
        let (outer_file, outer) = epoll_file();
        inner.insert(3, &efd, READABLE, 1, ready(key)).expect("add eventfd");
        assert_eq!(inner.insert(3, &efd, READABLE, 1, ready(key)).map_err(|e| e.errno), Err(errno::EEXIST));
        outer.insert(4, &inner_file, READABLE, 2, ready(inner.key())).expect("add inner");
        assert_eq!(with_watchers(key), alloc::vec![key, inner.key(), outer.key()]);
        // The inner epoll is already below the outer one: no loop back.
        assert!(inner.would_loop(&outer));
        drop(outer);
        drop(outer_file);
        assert_eq!(with_watchers(key), alloc::vec![key, inner.key()]);
        inner.remove(3, &efd).expect("del");
        assert_eq!(inner.remove(3, &efd).map_err(|e| e.errno), Err(errno::ENOENT));
        assert_eq!(with_watchers(key), alloc::vec![key]);
    }

    #[test]
    fn posts_mark_only_entries_interested_in_the_events() {
        let efd = File::Event(EventFile::new(EventKind::EventFd(EventFd::new(0, false)), false));
        let key = WaitKey::Io(new_io_id());
        let (_f, ep) = epoll_file();
        ep.insert(5, &efd, READABLE | EPOLLET, 0, ready(key)).expect("add");
        ep.entries.lock().values_mut().for_each(|e| e.triggered = false);
        post(key, abi::linux::poll::POLLOUT);
        assert!(ep.entries.lock().values().all(|e| !e.triggered));
        post(key, READABLE);
        assert!(ep.entries.lock().values().all(|e| e.triggered));
    }

    #[test]
    fn nesting_deeper_than_linux_allows_is_a_loop() {
        let chain: Vec<(File, Arc<Epoll>)> = (0..6).map(|_| epoll_file()).collect();
        let mut added = 0;
        for w in chain.windows(2) {
            let (child_file, child) = &w[0];
            let parent = &w[1].1;
            if parent.would_loop(child) {
                break;
            }
            parent.insert(0, child_file, READABLE, 0, ready(child.key())).expect("add");
            added += 1;
        }
        assert_eq!(added, 4);
    }
}
