//! Host services as plain calls: the same semantics the VMM's hostcalls
//! serve on KVM (vmm/src/hostcall), on the sentry's own thread.
//!
//! Blocking calls block this thread only; a timeout or SIGINT is handled
//! by the runtime's thread, which ends the process.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

use abi::hostcall::{LogLevel, MAX_DONATED_FILES, P9_MAX_MESSAGE, P9_MIN_REPLY};
use sentry::platform::{Clocks, ExitStatus, Host, P9Transport, PhysAddr, PhysMem};
use vmm::{GoferReady, Outcome};

use crate::control::{self, ControlLink, Registered};

fn counted() {
    crate::HOST_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Prefix of syscall-trace lines, written raw to stderr like strace.
const STRACE_PREFIX: &str = "strace: ";

pub(crate) fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec to a live local.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0).saturating_mul(1_000_000_000) + u64::try_from(ts.tv_nsec).unwrap_or(0)
}

/// iovecs over physical ranges (`None` if one lies outside memory).
fn iovecs(phys: &PhysMem, segs: &[(PhysAddr, u64)]) -> Option<Vec<libc::iovec>> {
    segs.iter()
        .filter(|s| s.1 != 0)
        .map(|&(pa, len)| {
            let p = phys.ptr(pa, len)?;
            Some(libc::iovec { iov_base: p.cast(), iov_len: usize::try_from(len).ok()? })
        })
        .collect()
}

/// readv/writev retried on EINTR; `Err` carries an errno.
fn rw(fd: i32, iov: &[libc::iovec], write: bool) -> Result<usize, i32> {
    let n = libc::c_int::try_from(iov.len().min(1024)).unwrap_or(1024);
    loop {
        // SAFETY: every iovec points into sentry physical memory, mapped for
        // the process's life (checked by `iovecs`).
        let r = unsafe {
            if write {
                libc::writev(fd, iov.as_ptr(), n)
            } else {
                libc::readv(fd, iov.as_ptr(), n)
            }
        };
        match usize::try_from(r) {
            Ok(n) => return Ok(n),
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e.raw_os_error().unwrap_or(libc::EIO));
                }
            }
        }
    }
}

/// Host services for the sentry.
#[derive(Debug)]
pub struct PtraceHost {
    phys: PhysMem,
    done: Mutex<Sender<Outcome>>,
    /// The control channel, when the embedding program serves one.
    control: Option<ControlLink>,
}

impl PtraceHost {
    pub fn new(phys: PhysMem, done: Sender<Outcome>, control: Option<ControlLink>) -> Self {
        Self { phys, done: Mutex::new(done), control }
    }

    /// Resolves a descriptor other than the sandbox's stdio: one registered
    /// for an exec'd process (held open while the caller uses it). Without
    /// a control channel there are none.
    fn registered(&self, fd: u32) -> Registered {
        match &self.control {
            Some(c) if fd > 2 => c.host_fd(fd),
            _ => Registered::Gone,
        }
    }

    /// readv/writev on `fd` (`stdio` lists the sandbox's own it may be).
    fn transfer(&self, fd: u32, stdio: &[u32], segments: &[(PhysAddr, u64)], write: bool) -> Result<usize, i32> {
        let held = if stdio.contains(&fd) { None } else { Some(self.registered(fd)) };
        let raw = match &held {
            None => i32::try_from(fd).map_err(|_| libc::EBADF)?,
            Some(r) => r.raw().ok_or(libc::EBADF)?,
        };
        let iov = iovecs(&self.phys, segments).ok_or(libc::EFAULT)?;
        if iov.is_empty() {
            return Ok(0);
        }
        rw(raw, &iov, write)
    }
}

impl Host for PtraceHost {
    fn write(&self, fd: u32, segments: &[(PhysAddr, u64)]) -> Result<usize, i32> {
        counted();
        self.transfer(fd, &[1, 2], segments, true)
    }

    fn read(&self, fd: u32, segments: &[(PhysAddr, u64)]) -> Result<usize, i32> {
        counted();
        self.transfer(fd, &[0], segments, false)
    }

    fn clocks(&self) -> Clocks {
        Clocks { realtime_ns: clock_ns(libc::CLOCK_REALTIME), monotonic_ns: clock_ns(libc::CLOCK_MONOTONIC) }
    }

    fn sleep(&self, ns: u64) {
        counted();
        let deadline = clock_ns(libc::CLOCK_MONOTONIC).saturating_add(ns);
        if let Some(c) = &self.control {
            // A control request or pause ends the sleep, as a nudge ends
            // the Sleep hostcall on KVM.
            if let Some(wake) = c.arm_wake() {
                control::wait(None, wake, deadline);
            }
            return;
        }
        let ts = libc::timespec {
            tv_sec: libc::time_t::try_from(deadline / 1_000_000_000).unwrap_or(libc::time_t::MAX),
            tv_nsec: libc::c_long::try_from(deadline % 1_000_000_000).unwrap_or(0),
        };
        // SAFETY: reads one timespec from a live local; EINTR (the tick)
        // restarts the wait for the same absolute deadline.
        while unsafe { libc::clock_nanosleep(libc::CLOCK_MONOTONIC, libc::TIMER_ABSTIME, &ts, std::ptr::null_mut()) }
            == libc::EINTR
        {}
    }

    fn poll_console(&self, ns: u64, known: abi::linux::Winsize) -> (u32, abi::linux::Winsize) {
        // A window-size change has no descriptor to wait on: look every
        // 20 ms (the KVM VMM's watch has the same latency).
        let events = self.poll(0, abi::linux::poll::POLLIN, ns.min(20_000_000));
        (events, vmm::hostinfo::winsize(0).unwrap_or(known))
    }

    fn poll_terminal(&self, fd: u32, ns: u64, known: abi::linux::Winsize) -> (u32, abi::linux::Winsize) {
        if fd == 0 {
            return self.poll_console(ns, known);
        }
        // A terminal registered for an exec'd process: the same 20 ms look
        // at its window size as the console's.
        let events = self.poll(fd, abi::linux::poll::POLLIN, ns.min(20_000_000));
        let held = self.registered(fd);
        (events, held.raw().and_then(vmm::hostinfo::winsize).unwrap_or(known))
    }

    fn poll(&self, fd: u32, events: u32, ns: u64) -> u32 {
        counted();
        let (pollin, pollout) = (abi::linux::poll::POLLIN, abi::linux::poll::POLLOUT);
        let held = match (fd, events) {
            (0, e) if e == pollin => None,
            (1 | 2, e) if e == pollout => None,
            (0..=2, _) => return 0,
            (_, e) if e == 0 || e & !(pollin | pollout) != 0 => return 0,
            (fd, _) => Some(self.registered(fd)),
        };
        let raw = match &held {
            None => i32::try_from(fd).unwrap_or(0),
            // Closed since the sentry saw it: nothing to wait for (as on KVM).
            Some(r) => match r.raw() {
                Some(raw) => raw,
                None => return 0,
            },
        };
        let deadline = clock_ns(libc::CLOCK_MONOTONIC).saturating_add(ns);
        // A control request or pause ends the wait (a nudge on KVM); the
        // descriptor is still looked at once.
        let (wake, deadline) = match self.control.as_ref().map(ControlLink::arm_wake) {
            None => (None, deadline),
            Some(None) => (None, 0),
            Some(Some(wake)) => (wake, deadline),
        };
        control::wait(Some((raw, events)), wake, deadline)
    }

    fn log(&self, level: LogLevel, msg: &str) {
        let text = msg.trim_end_matches('\n');
        match level {
            LogLevel::Info => match text.strip_prefix(STRACE_PREFIX) {
                Some(line) => eprintln!("{line}"),
                None => tracing::info!(target: "sentry", "{text}"),
            },
            LogLevel::Error => tracing::error!(target: "sentry", "{text}"),
            LogLevel::Warn => tracing::warn!(target: "sentry", "{text}"),
            LogLevel::Debug => tracing::debug!(target: "sentry", "{text}"),
            LogLevel::Trace => tracing::trace!(target: "sentry", "{text}"),
        }
    }

    fn control_pending(&self) -> bool {
        self.control.as_ref().is_some_and(ControlLink::pending)
    }

    fn control_fetch(&self, buf: &mut [u8]) -> Result<usize, i32> {
        self.control.as_ref().map_or(Ok(0), |c| c.fetch(buf))
    }

    fn control_reply(&self, msg: &[u8]) -> Result<(), i32> {
        self.control.as_ref().map_or(Err(libc::ENOSYS), |c| c.reply(msg))
    }

    fn exit(&self, status: ExitStatus) -> ! {
        let outcome = match status {
            ExitStatus::Exited(c) => Outcome::Exited(c),
            ExitStatus::Signaled(s) => Outcome::Signaled(s),
        };
        if let Ok(tx) = self.done.lock() {
            let _ = tx.send(outcome);
        }
        // The runtime's thread ends the process, and the stubs with it
        // (PTRACE_O_EXITKILL).
        loop {
            std::thread::park();
        }
    }
}

/// The gofer channel: 9P exchanges straight between sentry physical memory
/// and the gofer's socket, checked as the VMM checks them.
#[derive(Debug)]
pub struct PtraceP9 {
    phys: PhysMem,
    chan: Option<Mutex<Channel>>,
}

#[derive(Debug)]
struct Channel {
    sock: Arc<UnixStream>,
    ready: Option<GoferReady>,
    broken: bool,
    /// Files the gofer donated, by handle (never 0), as the VMM keeps them.
    donated: HashMap<u64, File>,
    next_handle: u64,
}

impl PtraceP9 {
    pub fn new(phys: PhysMem, sock: Option<Arc<UnixStream>>, ready: Option<GoferReady>) -> Self {
        Self {
            phys,
            chan: sock.map(|sock| {
                Mutex::new(Channel { sock, ready, broken: false, donated: HashMap::new(), next_handle: 0 })
            }),
        }
    }
}

/// Moves all of `iov` (advancing it) with readv/writev.
fn all(fd: i32, mut iov: Vec<libc::iovec>, write: bool) -> Result<(), i32> {
    iov.retain(|v| v.iov_len != 0);
    while !iov.is_empty() {
        let n = rw(fd, &iov, write)?;
        if n == 0 {
            return Err(libc::EIO);
        }
        advance(&mut iov, n);
    }
    Ok(())
}

/// Drops the first `n` bytes (at most their total) from the front of `iov`.
fn advance(iov: &mut Vec<libc::iovec>, mut n: usize) {
    while n > 0 && !iov.is_empty() {
        let first = &mut iov[0];
        if n >= first.iov_len {
            n -= first.iov_len;
            iov.remove(0);
        } else {
            first.iov_base = first.iov_base.cast::<u8>().wrapping_add(n).cast();
            first.iov_len -= n;
            n = 0;
        }
    }
}

/// Reads the 4 size bytes of a reply into `head` with recvmsg, keeping the
/// first fd passed with them (a donated file; any others are closed).
fn recv_head(fd: i32, head: *mut u8) -> Result<Option<OwnedFd>, i32> {
    let mut got = 0usize;
    let mut passed = None;
    while got < 4 {
        let mut iov = libc::iovec { iov_base: head.wrapping_add(got).cast(), iov_len: 4 - got };
        let mut space = [0u64; 8];
        // SAFETY: an all-zero msghdr is a valid empty header; the fields
        // set below point at live locals.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = space.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&space);
        // SAFETY: the iovec covers the rest of the 4 bytes at `head`
        // (physical memory, checked by the caller); `space` is a live local.
        let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        match usize::try_from(n) {
            Ok(0) => return Err(libc::EIO),
            Ok(n) => got += n,
            Err(_) => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e.raw_os_error().unwrap_or(libc::EIO));
            }
        }
        // SAFETY: `msg` was filled by a successful recvmsg; CMSG_* walk the
        // headers the kernel wrote inside `space`.
        let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
        while !cmsg.is_null() {
            // SAFETY: a non-null header inside `space`.
            let (level, ty, len) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type, (*cmsg).cmsg_len) };
            if level == libc::SOL_SOCKET && ty == libc::SCM_RIGHTS {
                // SAFETY: CMSG_LEN only computes a length.
                let header = usize::try_from(unsafe { libc::CMSG_LEN(0) }).unwrap_or(usize::MAX);
                for i in 0..len.saturating_sub(header) / std::mem::size_of::<i32>() {
                    // SAFETY: the kernel wrote these descriptors after the
                    // header; read unaligned, as CMSG_DATA need not be.
                    let raw = unsafe { libc::CMSG_DATA(cmsg).cast::<i32>().add(i).read_unaligned() };
                    // SAFETY: SCM_RIGHTS installed `raw` for us alone.
                    let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                    if passed.is_none() {
                        passed = Some(owned);
                    }
                }
            }
            // SAFETY: as for CMSG_FIRSTHDR.
            cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
        }
    }
    Ok(passed)
}

fn exchange(
    phys: &PhysMem,
    fd: i32,
    request: &[(PhysAddr, u64)],
    reply: &[(PhysAddr, u64)],
) -> Result<(usize, Option<OwnedFd>), i32> {
    let tiov = iovecs(phys, request).ok_or(libc::EFAULT)?;
    all(fd, tiov, true)?;
    let first = reply.first().ok_or(libc::EINVAL)?;
    let head = phys.ptr(first.0, 4).ok_or(libc::EFAULT)?;
    let passed = recv_head(fd, head)?;
    let mut size = [0u8; 4];
    // SAFETY: `head` points at 4 bytes of physical memory just filled.
    unsafe { std::ptr::copy_nonoverlapping(head, size.as_mut_ptr(), 4) };
    let n = u64::from(u32::from_le_bytes(size));
    let capacity: u64 = reply.iter().map(|s| s.1).sum();
    if !(P9_MIN_REPLY..=P9_MAX_MESSAGE).contains(&n) || n > capacity {
        return Err(libc::EPROTO);
    }
    // The rest of the reply, after the size, scattered over the segments.
    let mut skip = 4u64;
    let mut want = n - 4;
    let mut body = Vec::new();
    for &(pa, len) in reply {
        let s = skip.min(len);
        skip -= s;
        let take = (len - s).min(want);
        if take > 0 {
            body.push((pa + s, take));
            want -= take;
        }
    }
    all(fd, iovecs(phys, &body).ok_or(libc::EFAULT)?, false)?;
    Ok((usize::try_from(n).map_err(|_| libc::EIO)?, passed))
}

impl P9Transport for PtraceP9 {
    fn exchange(&self, request: &[(PhysAddr, u64)], reply: &[(PhysAddr, u64)]) -> Result<usize, i32> {
        sentry::platform::exchange_releasing_donation(self, request, reply)
    }

    fn exchange_donated(
        &self,
        request: &[(PhysAddr, u64)],
        reply: &[(PhysAddr, u64)],
    ) -> Result<(usize, Option<u64>), i32> {
        counted();
        let Some(chan) = &self.chan else { return Err(libc::ENOSYS) };
        let mut chan = chan.lock().map_err(|_| libc::EIO)?;
        if let Some(ready) = chan.ready.take() {
            if let Err(e) = (ready.0)() {
                tracing::error!(error = %e, "the gofer did not start");
                chan.broken = true;
            }
        }
        if chan.broken {
            return Err(libc::EIO);
        }
        let tlen: u64 = request.iter().map(|s| s.1).sum();
        if !(P9_MIN_REPLY..=P9_MAX_MESSAGE).contains(&tlen) || reply.first().is_none_or(|r| r.1 < P9_MIN_REPLY) {
            return Err(libc::EINVAL);
        }
        let fd = chan.sock.as_raw_fd();
        let started = std::time::Instant::now();
        let result = exchange(&self.phys, fd, request, reply);
        // The counters `--stats` prints, as the VMM keeps them.
        crate::P9_EXCHANGES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        crate::P9_NS.fetch_add(ns, std::sync::atomic::Ordering::Relaxed);
        match result {
            Ok((n, None)) => Ok((n, None)),
            Ok((n, Some(fd))) => {
                // A full table: the fd closes, reads go through the gofer.
                if chan.donated.len() >= MAX_DONATED_FILES {
                    return Ok((n, None));
                }
                chan.next_handle += 1;
                let h = chan.next_handle;
                chan.donated.insert(h, File::from(fd));
                Ok((n, Some(h)))
            }
            Err(e) => {
                chan.broken = true;
                tracing::warn!(errno = e, "gofer channel broken");
                Err(libc::EIO)
            }
        }
    }

    fn read_donated(&self, handle: u64, off: u64, segs: &[(PhysAddr, u64)]) -> Result<usize, i32> {
        counted();
        let chan = self.chan.as_ref().ok_or(libc::EBADF)?.lock().map_err(|_| libc::EIO)?;
        let fd = chan.donated.get(&handle).ok_or(libc::EBADF)?.as_raw_fd();
        let mut off = i64::try_from(off).map_err(|_| libc::EINVAL)?;
        let mut iov = iovecs(&self.phys, segs).ok_or(libc::EFAULT)?;
        let started = std::time::Instant::now();
        let mut done = 0usize;
        while !iov.is_empty() {
            let count = libc::c_int::try_from(iov.len().min(1024)).unwrap_or(1024);
            // SAFETY: every iovec points into sentry physical memory, mapped
            // for the process's life (checked by `iovecs`).
            let r = unsafe { libc::preadv(fd, iov.as_ptr(), count, off) };
            let Ok(n) = usize::try_from(r) else {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                if done == 0 {
                    return Err(e.raw_os_error().unwrap_or(libc::EIO));
                }
                break;
            };
            if n == 0 {
                break;
            }
            done += n;
            off = off.saturating_add(i64::try_from(n).unwrap_or(i64::MAX));
            advance(&mut iov, n);
        }
        // Counted with the 9P exchanges, as the VMM counts FileRead.
        crate::P9_EXCHANGES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        crate::P9_NS.fetch_add(ns, std::sync::atomic::Ordering::Relaxed);
        Ok(done)
    }

    fn close_donated(&self, handle: u64) {
        if let Some(Ok(mut chan)) = self.chan.as_ref().map(Mutex::lock) {
            chan.donated.remove(&handle);
        }
    }
}
