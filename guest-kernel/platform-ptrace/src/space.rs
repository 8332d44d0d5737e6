//! Address spaces: a stub process whose mappings are the memfd.
//!
//! The sentry's view (page → frame, permissions) is a map kept here, which
//! answers `translate` and `for_each_mapped`; changes are queued as
//! mmap/munmap/mprotect syscalls (runs of pages merged into one call) and
//! run in the stub in one stop before it next runs application code.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use abi::layout::{PAGE_SIZE, USER_END};
use sentry::mm::frames::FrameAllocator;
use sentry::platform::{AddressSpace, MapError, Perms, PhysAddr, ThreadId};

use crate::stub::{Op, Stub, StubError, MEMFD_FD, STUB_PAGE};

fn prot(p: Perms) -> u64 {
    let mut v = 0;
    if p.read {
        v |= libc::PROT_READ;
    }
    if p.write {
        v |= libc::PROT_WRITE;
    }
    if p.exec {
        v |= libc::PROT_EXEC;
    }
    u64::try_from(v).unwrap_or(0)
}

/// A queued change, merged with its neighbours where possible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Map { va: u64, len: u64, pa: PhysAddr, perms: Perms },
    Unmap { va: u64, len: u64 },
    Protect { va: u64, len: u64, perms: Perms },
}

impl Change {
    fn op(self) -> Op {
        let (nr, args) = match self {
            Self::Map { va, len, pa, perms } => (
                libc::SYS_mmap,
                [
                    va,
                    len,
                    prot(perms),
                    u64::try_from(libc::MAP_SHARED | libc::MAP_FIXED).unwrap_or(0),
                    MEMFD_FD as u64,
                    pa,
                ],
            ),
            Self::Unmap { va, len } => (libc::SYS_munmap, [va, len, 0, 0, 0, 0]),
            Self::Protect { va, len, perms } => (libc::SYS_mprotect, [va, len, prot(perms), 0, 0, 0]),
        };
        Op { nr: u64::try_from(nr).unwrap_or(0), args }
    }

    /// Extends `self` by `next` if they are one call.
    fn merge(&mut self, next: Self) -> bool {
        match (self, next) {
            (Self::Map { va, len, pa, perms }, Self::Map { va: v2, len: l2, pa: p2, perms: q2 })
                if *va + *len == v2 && *pa + *len == p2 && *perms == q2 =>
            {
                *len += l2;
                true
            }
            (Self::Unmap { va, len }, Self::Unmap { va: v2, len: l2 }) if *va + *len == v2 => {
                *len += l2;
                true
            }
            (Self::Protect { va, len, perms }, Self::Protect { va: v2, len: l2, perms: q2 })
                if *va + *len == v2 && *perms == q2 =>
            {
                *len += l2;
                true
            }
            _ => false,
        }
    }
}

/// The stub thread of an application thread.
#[derive(Debug)]
pub struct StubThread {
    pub id: ThreadId,
    pub tid: libc::pid_t,
    /// The FPU state is the host thread's (loaded, then changed by the
    /// application): the sentry's copy is stale until `sync_fp` fetches it.
    pub fp_held: bool,
}

/// One application address space.
#[derive(Debug)]
pub struct PtraceSpace {
    pages: BTreeMap<u64, (PhysAddr, Perms)>,
    pending: Vec<Change>,
    pub(crate) stub: Stub,
    /// The stub thread each application thread runs on. The stub's first
    /// thread serves one of them (the first to run, or the first to come
    /// after its thread was released); the others are stub threads of
    /// their own, ended with their application thread.
    threads: Vec<StubThread>,
    /// Kept for the stub's lifetime (its fd 3 is a duplicate).
    _memfd: Arc<OwnedFd>,
}

// SAFETY: the stub page pointer inside `Stub` is only used by the thread
// that runs the sentry, which owns every address space.
#[allow(unsafe_code)]
unsafe impl Send for PtraceSpace {}
// SAFETY: as above; no method shares the pointer.
#[allow(unsafe_code)]
unsafe impl Sync for PtraceSpace {}

impl PtraceSpace {
    pub fn new(memfd: Arc<OwnedFd>) -> Result<Self, StubError> {
        let stub = Stub::spawn(&memfd)?;
        Ok(Self { pages: BTreeMap::new(), pending: Vec::new(), stub, threads: Vec::new(), _memfd: memfd })
    }

    fn queue(&mut self, c: Change) {
        if let Some(last) = self.pending.last_mut() {
            if last.merge(c) {
                return;
            }
        }
        self.pending.push(c);
    }

    /// Runs the queued changes in the stub.
    pub fn flush(&mut self) -> Result<(), StubError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let ops: Vec<Op> = self.pending.drain(..).map(Change::op).collect();
        self.stub.run(&ops).map(drop)
    }

    /// The stub thread `thread` runs on, made on its first run.
    pub fn host_thread(&mut self, thread: ThreadId) -> Result<&mut StubThread, StubError> {
        let i = match self.threads.iter().position(|t| t.id == thread) {
            Some(i) => i,
            None => {
                let first = self.stub.pid;
                let tid = if self.threads.iter().any(|t| t.tid == first) { self.stub.spawn_thread()? } else { first };
                self.threads.push(StubThread { id: thread, tid, fp_held: false });
                self.threads.len() - 1
            }
        };
        Ok(&mut self.threads[i])
    }

    /// The stub thread of `thread`, if it has run here.
    pub fn thread_mut(&mut self, thread: ThreadId) -> Option<&mut StubThread> {
        self.threads.iter_mut().find(|t| t.id == thread)
    }

    /// How many application threads have a stub thread here.
    #[cfg(test)]
    pub fn thread_count(&self) -> usize {
        self.threads.len()
    }

    /// Queues a protect of every run of mapped pages in `[va, end)`
    /// (mprotect fails over holes).
    fn queue_protect_runs(&mut self, va: u64, end: u64, perms: Perms) {
        let runs: Vec<u64> = self.pages.range(va..end).map(|(&v, _)| v).collect();
        for v in runs {
            self.queue(Change::Protect { va: v, len: PAGE_SIZE, perms });
        }
    }

    pub fn is_mapped(&self, va: u64) -> Option<Perms> {
        self.pages.get(&(va & !(PAGE_SIZE - 1))).map(|&(_, p)| p)
    }
}

impl AddressSpace for PtraceSpace {
    /// The stub page is the last one below the architectural end: the
    /// application's range ends there, so that a mapping there is refused
    /// when it is made (ENOMEM), not at its first fault.
    const USER_END: u64 = STUB_PAGE;

    fn map(&mut self, frames: &mut FrameAllocator, va: u64, pa: PhysAddr, perms: Perms) -> Result<(), MapError> {
        // The stub page is not the application's.
        if (va | pa) & (PAGE_SIZE - 1) != 0 || va >= Self::USER_END {
            return Err(MapError::BadAddress);
        }
        if let Some((old, _)) = self.pages.insert(va, (pa, perms)) {
            frames.put(old);
        }
        self.queue(Change::Map { va, len: PAGE_SIZE, pa, perms });
        Ok(())
    }

    fn unmap(&mut self, frames: &mut FrameAllocator, va: u64, len: u64) {
        let end = va.saturating_add(len).min(USER_END);
        let doomed: Vec<u64> = self.pages.range(va..end).map(|(&v, _)| v).collect();
        if doomed.is_empty() {
            return;
        }
        for v in doomed {
            if let Some((pa, _)) = self.pages.remove(&v) {
                frames.put(pa);
            }
            self.queue(Change::Unmap { va: v, len: PAGE_SIZE });
        }
    }

    fn protect(&mut self, va: u64, len: u64, perms: Perms) {
        let end = va.saturating_add(len).min(USER_END);
        for (_, (_, p)) in self.pages.range_mut(va..end) {
            *p = perms;
        }
        self.queue_protect_runs(va, end, perms);
    }

    fn for_each_mapped(&self, va: u64, len: u64, f: &mut dyn FnMut(u64, PhysAddr, Perms)) {
        for (&v, &(pa, p)) in self.pages.range(va..va.saturating_add(len)) {
            f(v, pa, p);
        }
    }

    fn translate(&self, va: u64) -> Option<(PhysAddr, Perms)> {
        self.pages.get(&(va & !(PAGE_SIZE - 1))).copied()
    }

    fn destroy(&mut self, frames: &mut FrameAllocator) {
        for (_, (pa, _)) in std::mem::take(&mut self.pages) {
            frames.put(pa);
        }
        self.pending.clear();
        // Should the space run again, the stub maps none of the freed frames.
        self.queue(Change::Unmap { va: 0, len: STUB_PAGE });
    }

    fn add_thread(&mut self, thread: ThreadId) -> Result<(), MapError> {
        self.host_thread(thread).map(drop).map_err(|e| {
            tracing::warn!(error = %e, "cannot start a stub thread");
            MapError::OutOfMemory
        })
    }

    fn release_thread(&mut self, thread: ThreadId) {
        let Some(i) = self.threads.iter().position(|t| t.id == thread) else { return };
        let tid = self.threads.swap_remove(i).tid;
        // The first thread stays for the next application thread to come.
        if tid != self.stub.pid {
            if let Err(e) = self.stub.end_thread(tid) {
                tracing::error!(error = %e, tid, "cannot end a stub thread");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_threads(pid: libc::pid_t) -> usize {
        std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, Iterator::count)
    }

    /// One stub thread per application thread; the first thread is kept
    /// (and reused) when its application thread goes.
    #[test]
    fn stub_threads_follow_threads() {
        let memfd = Arc::new(crate::sys::memfd(c"t", 1 << 20).expect("memfd"));
        let mut space = PtraceSpace::new(memfd).expect("space");
        let pid = space.stub.pid;
        let ids: Vec<ThreadId> = (0..3).map(|_| ThreadId::fresh()).collect();
        let tids: Vec<libc::pid_t> = ids.iter().map(|&t| space.host_thread(t).expect("thread").tid).collect();
        assert_eq!(tids[0], pid, "the first application thread runs on the stub's first thread");
        assert_eq!(space.host_thread(ids[1]).expect("again").tid, tids[1], "a thread keeps its stub thread");
        assert_eq!(host_threads(pid), 3);
        for tid in &tids {
            let status = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).expect("status");
            assert!(status.lines().any(|l| l == "Seccomp:\t2"), "stub thread {tid} has the filter");
        }
        space.release_thread(ids[1]);
        space.release_thread(ids[0]);
        assert_eq!(host_threads(pid), 2, "the first thread stays, the other goes");
        let next = space.host_thread(ThreadId::fresh()).expect("reuse").tid;
        assert_eq!(next, pid, "the free first thread serves the next application thread");
        assert_eq!(space.thread_count(), 2);
        assert_eq!(host_threads(pid), 2);
    }
}
