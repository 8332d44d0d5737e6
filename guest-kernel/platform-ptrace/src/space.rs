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
use sentry::platform::{AddressSpace, MapError, Perms, PhysAddr};

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

/// One application address space.
#[derive(Debug)]
pub struct PtraceSpace {
    pages: BTreeMap<u64, (PhysAddr, Perms)>,
    pending: Vec<Change>,
    pub(crate) stub: Stub,
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
        Ok(Self { pages: BTreeMap::new(), pending: Vec::new(), stub, _memfd: memfd })
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
        self.stub.run(&ops)
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
}
