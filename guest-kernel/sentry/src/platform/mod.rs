//! The Platform seam: what a platform (KVM guest, ptrace host process) gives
//! the sentry. Traits only; implementations live in the platform crates.
//!
//! 1. Physical memory ([`PhysMem`]): one contiguous range of "sentry physical
//!    memory" the sentry can address directly (the guest's direct map, or the
//!    memfd mapped into the ptrace sentry process).
//! 2. Address spaces ([`AddressSpace`]): map, unmap and protect pages of the
//!    application's virtual memory onto physical frames.
//! 3. Switch ([`Context::switch`]): run one application thread until it traps.
//!    Threads are named by [`ThreadId`]; a platform may give each its own host
//!    context (ptrace: a stub thread), made and ended by
//!    [`AddressSpace::add_thread`]/[`AddressSpace::release_thread`], and may
//!    keep the FPU state there, fetched by [`Context::sync_fp`] before the
//!    sentry reads or replaces it (KVM keeps neither: the defaults do nothing).
//! 4. Host services ([`Host`]): stdio, clock, sleep, logs, exit.

use crate::arch::{FpState, UserRegs};
use crate::mm::frames::FrameAllocator;
use abi::hostcall::LogLevel;

/// A sentry-physical address (guest-physical on KVM, memfd offset on ptrace).
pub type PhysAddr = u64;

/// Page permissions of a user mapping.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Perms {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

impl Perms {
    pub const NONE: Self = Self { read: false, write: false, exec: false };
    pub const R: Self = Self { read: true, write: false, exec: false };
    pub const RW: Self = Self { read: true, write: true, exec: false };
    pub const RX: Self = Self { read: true, write: false, exec: true };
    pub const RWX: Self = Self { read: true, write: true, exec: true };

    /// Decodes `PROT_*` bits.
    pub fn from_prot(prot: u64) -> Self {
        use abi::linux::mman::{PROT_EXEC, PROT_READ, PROT_WRITE};
        Self { read: prot & PROT_READ != 0, write: prot & PROT_WRITE != 0, exec: prot & PROT_EXEC != 0 }
    }

    /// Whether any access is allowed.
    pub fn any(self) -> bool {
        self.read || self.write || self.exec
    }
}

/// The kind of access that faulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Exec,
}

/// Why [`Context::switch`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trap {
    /// The application made a system call (number and arguments in the registers).
    Syscall,
    /// A page fault at `addr`.
    PageFault { addr: u64, access: Access, present: bool },
    /// Another CPU exception (vector and hardware error code).
    Exception { vector: u8, error_code: u64 },
    /// An interrupt (the platform's timer tick, acknowledged already) or a
    /// host event stopped the application; the scheduler checks timers and
    /// the time slice.
    Interrupted,
}

/// Failure to change a mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapError {
    /// No physical memory for page-table pages.
    OutOfMemory,
    /// The address is outside the application half or not page aligned.
    BadAddress,
}

/// The direct view of sentry physical memory: `[0, size)` at `base`.
#[derive(Debug, Clone, Copy)]
pub struct PhysMem {
    base: *mut u8,
    size: u64,
}

// SAFETY: PhysMem is a view of memory the platform keeps mapped for the
// sentry's lifetime; the sentry's own locking serialises access to frames.
#[allow(unsafe_code)]
unsafe impl Send for PhysMem {}
// SAFETY: as above.
#[allow(unsafe_code)]
unsafe impl Sync for PhysMem {}

impl PhysMem {
    /// # Safety
    ///
    /// `[base, base + size)` must stay mapped readable and writable for as
    /// long as this value or a copy of it is used, and must not be accessed
    /// through any Rust reference elsewhere.
    #[allow(unsafe_code)]
    pub const unsafe fn new(base: *mut u8, size: u64) -> Self {
        Self { base, size }
    }

    /// Bytes of physical memory.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Pointer to `[pa, pa + len)`, or `None` if the range is not inside memory.
    pub fn ptr(&self, pa: PhysAddr, len: u64) -> Option<*mut u8> {
        let end = pa.checked_add(len)?;
        if end > self.size {
            return None;
        }
        let off = usize::try_from(pa).ok()?;
        Some(self.base.wrapping_add(off))
    }
}

/// An application address space (one per process).
///
/// Addresses are application virtual addresses in `[0, Self::USER_END)`,
/// page aligned. The platform owns the page tables; each mapped page holds
/// one reference on its frame (see [`FrameAllocator`]), which the address
/// space drops when the page is unmapped or replaced.
pub trait AddressSpace {
    /// The end of what the application may map: the memory manager places
    /// and accepts mappings only below it (ENOMEM beyond, as Linux beyond
    /// TASK_SIZE). The architectural end by default; a platform keeping a
    /// page of its own at the top of the application's range (the ptrace
    /// stub page) ends it there.
    const USER_END: u64 = abi::layout::USER_END;

    /// Maps the page at `va` to frame `pa` with `perms`, taking over the
    /// caller's reference on `pa` and dropping the reference of any frame
    /// mapped there before. Page-table pages come from `frames`.
    fn map(&mut self, frames: &mut FrameAllocator, va: u64, pa: PhysAddr, perms: Perms) -> Result<(), MapError>;

    /// Unmaps every page in `[va, va + len)`, dropping their frame
    /// references. The TLB is flushed before this returns.
    fn unmap(&mut self, frames: &mut FrameAllocator, va: u64, len: u64);

    /// Changes the permissions of every mapped page in `[va, va + len)`.
    /// The TLB is flushed before this returns where rights were removed.
    fn protect(&mut self, va: u64, len: u64, perms: Perms);

    /// [`AddressSpace::protect`] of several ranges, with at most one TLB
    /// flush for all of them (fork write-protects every private VMA).
    fn protect_ranges(&mut self, ranges: &[(u64, u64, Perms)]) {
        for &(va, len, perms) in ranges {
            self.protect(va, len, perms);
        }
    }

    /// Maps frame `pa` at `va` in place of the read-only translation whose
    /// write just faulted on this CPU (copy-on-write). Like
    /// [`AddressSpace::map`], but without a TLB flush: the fault itself
    /// dropped the stale entry for `va` on this CPU, and no other CPU runs
    /// this address space's threads meanwhile.
    fn map_after_fault(
        &mut self,
        frames: &mut FrameAllocator,
        va: u64,
        pa: PhysAddr,
        perms: Perms,
    ) -> Result<(), MapError> {
        self.map(frames, va, pa, perms)
    }

    /// Visits every page mapped in `[va, va + len)` (PROT_NONE pages
    /// included, with no permissions) as `f(page, frame, perms)`.
    fn for_each_mapped(&self, va: u64, len: u64, f: &mut dyn FnMut(u64, PhysAddr, Perms));

    /// The frame and permissions mapped at the page containing `va`.
    fn translate(&self, va: u64) -> Option<(PhysAddr, Perms)>;

    /// Releases every mapping and page-table page (process exit).
    fn destroy(&mut self, frames: &mut FrameAllocator);

    /// `thread` is about to run in this space besides the threads it has
    /// (clone with CLONE_VM): a platform that gives each thread a host
    /// thread makes it now, so that the host refusing one fails the clone.
    /// A space's first thread needs no call. Nothing by default.
    fn add_thread(&mut self, _thread: ThreadId) -> Result<(), MapError> {
        Ok(())
    }

    /// `thread` no longer runs in this space (it exited, or exec gave it
    /// another): a platform keeping per-thread state for the space (the
    /// ptrace platform's stub threads) lets it go. Nothing by default.
    fn release_thread(&mut self, _thread: ThreadId) {}
}

/// An application thread as the platform sees it: unique for the life of
/// the sentry (never reused, unlike tids), the same across exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ThreadId(pub u64);

impl ThreadId {
    /// A fresh id.
    pub fn fresh() -> Self {
        use core::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// An execution context: runs application threads on this CPU.
pub trait Context {
    type AddressSpace: AddressSpace;

    /// Runs application thread `thread` in `space` with `regs` and `fp`
    /// until it traps, and returns why. On return `regs` holds the state at
    /// the trap, and so does `fp` unless the platform kept the FPU state
    /// with the thread (see [`Context::sync_fp`]).
    ///
    /// Preconditions: `regs` holds user segment selectors and a canonical
    /// user `rip`/`rsp` (the platform enforces this, never trusting them);
    /// `thread` has not been released from `space`
    /// ([`AddressSpace::release_thread`]).
    fn switch(
        &mut self,
        space: &mut Self::AddressSpace,
        thread: ThreadId,
        regs: &mut UserRegs,
        fp: &mut FpState,
    ) -> Trap;

    /// The sentry is about to read or replace `fp`, the FPU state of
    /// `thread` in `space`: a platform that keeps it with the thread
    /// between switches (the ptrace platform: in the thread's host thread,
    /// saving a register-set read per trap) writes it to `fp` now, and
    /// loads `fp` as it then is at the thread's next switch. Nothing by
    /// default (the state is in `fp` at every trap).
    fn sync_fp(&mut self, _space: &mut Self::AddressSpace, _thread: ThreadId, _fp: &mut FpState) {}
}

/// Host clocks sampled together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clocks {
    /// CLOCK_REALTIME, ns since the epoch.
    pub realtime_ns: u64,
    /// CLOCK_MONOTONIC, ns.
    pub monotonic_ns: u64,
}

/// How the application ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Exited(u8),
    Signaled(u32),
}

/// Services only the host can provide.
pub trait Host {
    /// Writes the physical ranges to host fd `fd` (1 or 2). Returns bytes written.
    fn write(&self, fd: u32, segments: &[(PhysAddr, u64)]) -> Result<usize, i32>;
    /// Reads from host fd `fd` (0) into the physical ranges. Returns bytes read.
    fn read(&self, fd: u32, segments: &[(PhysAddr, u64)]) -> Result<usize, i32>;
    /// The current time.
    fn clocks(&self) -> Clocks;
    /// Blocks for `ns` nanoseconds.
    fn sleep(&self, ns: u64);
    /// Waits up to `ns` (0: just looks) until host fd `fd` (0, 1 or 2) is
    /// ready for `events` (POLLIN or POLLOUT). Returns the ready events, 0
    /// on timeout or when the sandbox is stopping.
    fn poll(&self, fd: u32, events: u32, ns: u64) -> u32;
    /// [`Host::poll`] of host fd 0 for POLLIN that also watches its window
    /// size: returns early when it differs from `known`, and returns it.
    /// The default cannot see window sizes and reports `known`.
    fn poll_console(&self, ns: u64, known: abi::linux::Winsize) -> (u32, abi::linux::Winsize) {
        (self.poll(0, abi::linux::poll::POLLIN, ns), known)
    }
    /// [`Host::poll_console`] of any host terminal descriptor `fd` (0, or
    /// one registered for an exec'd process). The default watches window
    /// sizes of fd 0 only.
    fn poll_terminal(&self, fd: u32, ns: u64, known: abi::linux::Winsize) -> (u32, abi::linux::Winsize) {
        if fd == 0 {
            self.poll_console(ns, known)
        } else {
            (self.poll(fd, abi::linux::poll::POLLIN, ns), known)
        }
    }
    /// Emits one log line.
    fn log(&self, level: LogLevel, msg: &str);
    /// Ends the sandbox with the application's status.
    fn exit(&self, status: ExitStatus) -> !;
    /// Whether control requests wait (`abi::control`); one memory read,
    /// cheap enough for every scheduling point.
    fn control_pending(&self) -> bool {
        false
    }
    /// Takes the next control request into `buf` (at least
    /// [`abi::control::MAX_REQUEST`] bytes); its size, 0 when none waits.
    fn control_fetch(&self, _buf: &mut [u8]) -> Result<usize, i32> {
        Ok(0)
    }
    /// Sends a control reply or event.
    fn control_reply(&self, _msg: &[u8]) -> Result<(), i32> {
        Err(abi::linux::errno::ENOSYS)
    }
}

/// The channel to the gofer: one 9P exchange at a time. The T-message is
/// read from the `request` ranges, the R-message lands in the `reply`
/// ranges in order. Returns the R-message's size or an errno (ENOSYS when
/// the sandbox has no gofer, EIO when the connection is lost).
///
/// Donated files: the gofer may pass the host fd of a file it opened for
/// reading along with the `Rlopen`; the platform keeps it and hands out a
/// handle, and reads of that file skip the gofer. Platforms without this
/// keep the defaults (no handles; every read is a 9P exchange).
pub trait P9Transport: Send + Sync {
    fn exchange(&self, request: &[(PhysAddr, u64)], reply: &[(PhysAddr, u64)]) -> Result<usize, i32>;
    /// [`P9Transport::exchange`], plus the handle of a file donated with
    /// the reply.
    fn exchange_donated(
        &self,
        request: &[(PhysAddr, u64)],
        reply: &[(PhysAddr, u64)],
    ) -> Result<(usize, Option<u64>), i32> {
        self.exchange(request, reply).map(|n| (n, None))
    }
    /// Reads donated file `handle` at `off` into `segs` (at most
    /// [`abi::hostcall::MAX_SEGMENTS`] ranges) until they are full or the
    /// file ends; the bytes read.
    fn read_donated(&self, _handle: u64, _off: u64, _segs: &[(PhysAddr, u64)]) -> Result<usize, i32> {
        Err(abi::linux::errno::ENOSYS)
    }
    /// Releases donated file `handle`.
    fn close_donated(&self, _handle: u64) {}
}

/// [`P9Transport::exchange`] of a transport whose real method is
/// `exchange_donated` (both platforms'): a file donated with a reply nobody
/// asked to keep is released at once.
pub fn exchange_releasing_donation<T: P9Transport + ?Sized>(
    t: &T,
    request: &[(PhysAddr, u64)],
    reply: &[(PhysAddr, u64)],
) -> Result<usize, i32> {
    let (n, handle) = t.exchange_donated(request, reply)?;
    if let Some(h) = handle {
        t.close_donated(h);
    }
    Ok(n)
}

/// A platform: its address-space and context types, and its host.
pub trait Platform {
    type AddressSpace: AddressSpace;
    type Context: Context<AddressSpace = Self::AddressSpace>;
    type Host: Host;

    /// A new, empty address space.
    fn new_address_space(&self, frames: &mut FrameAllocator) -> Result<Self::AddressSpace, MapError>;
    /// This CPU's context.
    fn context(&mut self) -> &mut Self::Context;
    /// The host services.
    fn host(&self) -> &Self::Host;
    /// The gofer channel.
    fn p9_transport(&self) -> alloc::sync::Arc<dyn P9Transport>;
}
