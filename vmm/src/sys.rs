//! Raw libc calls the rest of the VMM uses through safe wrappers.

use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::Once;

use vm_memory::VolatileSlice;

/// Creates an anonymous memory file (`memfd_create(2)`, close-on-exec).
pub fn memfd_create(name: &std::ffi::CStr) -> io::Result<File> {
    // SAFETY: `name` is a valid NUL-terminated string borrowed for the call;
    // the flags are a valid combination.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by memfd_create and is owned by no one
    // else; the File takes ownership and closes it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

fn iovecs(slices: &[VolatileSlice<'_>]) -> Vec<libc::iovec> {
    slices.iter().map(|s| libc::iovec { iov_base: s.ptr_guard_mut().as_ptr().cast(), iov_len: s.len() }).collect()
}

fn iov_count(n: usize) -> io::Result<libc::c_int> {
    libc::c_int::try_from(n).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// `writev(2)` of guest memory slices to `fd` (EINTR is returned: the
/// caller decides whether to retry).
pub fn writev(fd: RawFd, slices: &[VolatileSlice<'_>]) -> io::Result<usize> {
    let iov = iovecs(slices);
    let count = iov_count(iov.len())?;
    // SAFETY: every iovec points into a VolatileSlice borrowed for the
    // duration of this call, so the memory stays mapped and readable; the
    // kernel only reads from it.
    let n = unsafe { libc::writev(fd, iov.as_ptr(), count) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// `readv(2)` from `fd` into guest memory slices (EINTR is returned).
pub fn readv(fd: RawFd, slices: &[VolatileSlice<'_>]) -> io::Result<usize> {
    let iov = iovecs(slices);
    let count = iov_count(iov.len())?;
    // SAFETY: every iovec points into a writable VolatileSlice borrowed for
    // the duration of this call (guest memory, which no Rust reference
    // points into: all other access goes through volatile copies).
    let n = unsafe { libc::readv(fd, iov.as_ptr(), count) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// `recvmsg(2)` from socket `fd` into guest memory slices, taking the
/// first descriptor passed with the bytes (`SCM_RIGHTS`, close-on-exec);
/// any further ones are closed. EINTR is returned.
pub fn recv_with_fd(fd: RawFd, slices: &[VolatileSlice<'_>]) -> io::Result<(usize, Option<OwnedFd>)> {
    let mut iov = iovecs(slices);
    // Room for a few descriptors, u64-aligned as cmsghdr needs.
    let mut space = [0u64; 8];
    // SAFETY: an all-zero msghdr is a valid empty header (null pointers,
    // zero lengths); the fields set below point at live locals.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = iov.len();
    msg.msg_control = space.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&space);
    // SAFETY: every iovec points into a writable VolatileSlice borrowed for
    // this call; the control buffer is a live local of the given size.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    let mut first = None;
    // SAFETY: `msg` was filled by a successful recvmsg, so the CMSG_*
    // macros walk headers the kernel wrote inside `space`.
    let mut cmsg = unsafe { libc::CMSG_FIRSTHDR(&msg) };
    while !cmsg.is_null() {
        // SAFETY: `cmsg` is a non-null header inside `space` (see above).
        let (level, ty, len) = unsafe { ((*cmsg).cmsg_level, (*cmsg).cmsg_type, (*cmsg).cmsg_len) };
        if level == libc::SOL_SOCKET && ty == libc::SCM_RIGHTS {
            // SAFETY: CMSG_LEN only computes a length.
            let header = usize::try_from(unsafe { libc::CMSG_LEN(0) }).unwrap_or(usize::MAX);
            let count = len.saturating_sub(header) / std::mem::size_of::<RawFd>();
            for i in 0..count {
                // SAFETY: the kernel wrote `count` descriptors after the
                // header; read unaligned, as CMSG_DATA need not be.
                let raw = unsafe { libc::CMSG_DATA(cmsg).cast::<RawFd>().add(i).read_unaligned() };
                // SAFETY: SCM_RIGHTS installed `raw` in this process for us
                // alone; the OwnedFd takes it (and closes any beyond the first).
                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                if first.is_none() {
                    first = Some(owned);
                }
            }
        }
        // SAFETY: as for CMSG_FIRSTHDR: walks within the kernel-written buffer.
        cmsg = unsafe { libc::CMSG_NXTHDR(&msg, cmsg) };
    }
    Ok((n, first))
}

/// Sends `bytes` on socket `sock` with descriptor `fd` attached
/// (`SCM_RIGHTS`), as the gofer donates a file; the bytes sent.
#[cfg(test)]
pub fn send_with_fd(sock: RawFd, bytes: &[u8], fd: RawFd) -> io::Result<usize> {
    let mut iov = libc::iovec { iov_base: bytes.as_ptr().cast_mut().cast(), iov_len: bytes.len() };
    let mut space = [0u64; 4];
    // SAFETY: an all-zero msghdr is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = space.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE only computes a length.
    msg.msg_controllen = usize::try_from(unsafe { libc::CMSG_SPACE(4) }).unwrap_or(0);
    // SAFETY: the 32-byte control buffer holds one header and one fd, so
    // the CMSG_* pointers stay inside it; sendmsg only reads `bytes`.
    let n = unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = usize::try_from(libc::CMSG_LEN(4)).unwrap_or(0);
        libc::CMSG_DATA(c).cast::<RawFd>().write_unaligned(fd);
        libc::sendmsg(sock, &msg, 0)
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// Whether `fd` is a terminal.
pub fn isatty(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor number.
    unsafe { libc::isatty(fd) == 1 }
}

/// The window size of the terminal on `fd`, if it is one.
pub fn winsize(fd: RawFd) -> Option<abi::linux::Winsize> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` to the pointer, which
    // points at a live local of that type.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws as *mut libc::winsize) };
    (rc == 0).then_some(abi::linux::Winsize {
        ws_row: ws.ws_row,
        ws_col: ws.ws_col,
        ws_xpixel: ws.ws_xpixel,
        ws_ypixel: ws.ws_ypixel,
    })
}

/// The host's view of standard stream `fd` (mode 0 if it is closed).
pub fn stdio_stat(fd: RawFd) -> abi::boot::StdioStat {
    // SAFETY: an all-zero `struct stat` is a valid value of the type.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes one `struct stat` to the pointer, which points at
    // a live local of that type.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return abi::boot::StdioStat::default();
    }
    abi::boot::StdioStat {
        mode: st.st_mode,
        uid: st.st_uid,
        gid: st.st_gid,
        pad: 0,
        dev: st.st_dev,
        ino: st.st_ino,
        rdev: st.st_rdev,
        blksize: u64::try_from(st.st_blksize).unwrap_or(4096),
    }
}

/// The kernel `struct termios` (TCGETS) of terminal `fd`.
pub fn termios(fd: RawFd) -> Option<[u8; 36]> {
    // Larger than the kernel's 36-byte struct termios, in case of padding.
    let mut buf = [0u8; 64];
    // SAFETY: TCGETS writes one kernel `struct termios` (36 bytes) to the
    // pointer, which points at a 64-byte local buffer.
    let rc = unsafe { libc::ioctl(fd, libc::TCGETS, buf.as_mut_ptr()) };
    let mut out = [0u8; 36];
    out.copy_from_slice(&buf[..36]);
    (rc == 0).then_some(out)
}

/// Fills `buf` from `getrandom(2)`.
pub fn getrandom(buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: the kernel writes at most `rest.len()` bytes to `rest`,
        // a live mutable slice.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        match usize::try_from(n) {
            Ok(n) => done += n,
            Err(_) => {
                let err = io::Error::last_os_error();
                if err.kind() != io::ErrorKind::Interrupted {
                    return Err(err);
                }
            }
        }
    }
    Ok(())
}

/// Reads a clock in nanoseconds.
pub fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec to a live local; the clock
    // ids used (REALTIME, MONOTONIC) always exist on Linux.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    if rc != 0 {
        return 0;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nsecs = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(1_000_000_000).saturating_add(nsecs)
}

/// The signal that interrupts a vCPU thread's `KVM_RUN`.
pub fn kick_signal() -> libc::c_int {
    vmm_sys_util::signal::SIGRTMIN() + KICK_SIGNAL_OFFSET
}

/// Firecracker uses SIGRTMIN + 0 for the same purpose.
const KICK_SIGNAL_OFFSET: libc::c_int = 0;

extern "C" fn on_kick(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // Nothing: delivery alone makes KVM_RUN return EINTR.
}

/// Installs the (empty) handler of [`kick_signal`] once per process.
pub fn install_kick_handler() -> io::Result<()> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        result = vmm_sys_util::signal::register_signal_handler(kick_signal(), on_kick)
            .map_err(|e| io::Error::from_raw_os_error(e.errno()));
    });
    result
}

/// The calling thread's pthread id.
pub fn current_thread() -> libc::pthread_t {
    // SAFETY: pthread_self has no preconditions.
    unsafe { libc::pthread_self() }
}

/// Sends [`kick_signal`] to `thread`.
///
/// The caller must know `thread` is still running (the stop signal holds
/// the registration lock, which the vCPU thread clears before it exits).
pub fn kick_thread(thread: libc::pthread_t) -> io::Result<()> {
    // SAFETY: `thread` is a live thread of this process (see above); the
    // signal has a handler installed, so delivery cannot kill the process.
    let rc = unsafe { libc::pthread_kill(thread, kick_signal()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

/// `poll(2)` of one fd: whether it is ready for `events` (or in error /
/// hung up, which the following read or write will report) within
/// `timeout_ms`.
pub fn poll_one(fd: RawFd, events: libc::c_short, timeout_ms: libc::c_int) -> io::Result<bool> {
    poll_events(fd, events, timeout_ms).map(|r| r != 0)
}

/// Polls one fd; returns its revents (0 on timeout).
pub fn poll_events(fd: RawFd, events: libc::c_short, timeout_ms: libc::c_int) -> io::Result<libc::c_short> {
    let mut pfd = libc::pollfd { fd, events, revents: 0 };
    // SAFETY: poll reads and writes exactly one pollfd, a live local.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    match n {
        0 => Ok(0),
        n if n > 0 => Ok(pfd.revents),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Polls `fd` for `events` and, if given, `wake` for readability; returns
/// `fd`'s revents (0 on timeout), or `WouldBlock` when `wake` became
/// readable first.
pub fn poll_events_or_wake(
    fd: RawFd,
    events: libc::c_short,
    wake: Option<RawFd>,
    timeout_ms: libc::c_int,
) -> io::Result<libc::c_short> {
    let Some(wake) = wake else { return poll_events(fd, events, timeout_ms) };
    let mut pfds =
        [libc::pollfd { fd, events, revents: 0 }, libc::pollfd { fd: wake, events: libc::POLLIN, revents: 0 }];
    // SAFETY: poll reads and writes exactly the two pollfds of a live local array.
    let n = unsafe { libc::poll(pfds.as_mut_ptr(), 2, timeout_ms) };
    match n {
        0 => Ok(0),
        n if n > 0 && pfds[0].revents != 0 => Ok(pfds[0].revents),
        n if n > 0 => Err(io::Error::from(io::ErrorKind::WouldBlock)),
        _ => Err(io::Error::last_os_error()),
    }
}

/// A range of host memory for [`preadv_raw`]: start address and length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawRange {
    pub addr: usize,
    pub len: usize,
}

/// The host ranges of guest memory slices (for a read on another thread).
pub fn raw_ranges(slices: &[VolatileSlice<'_>]) -> Vec<RawRange> {
    slices.iter().map(|s| RawRange { addr: s.ptr_guard_mut().as_ptr() as usize, len: s.len() }).collect()
}

/// `preadv(2)` from `fd` at `offset` into raw host memory ranges (EINTR is
/// returned).
///
/// # Safety
///
/// Every range must stay mapped and writable for the whole call, and no
/// Rust reference may point into it meanwhile (guest memory qualifies: it
/// is reached only through volatile copies and raw I/O).
pub unsafe fn preadv_raw(fd: RawFd, ranges: &[RawRange], offset: i64) -> io::Result<usize> {
    let iov: Vec<libc::iovec> =
        ranges.iter().map(|r| libc::iovec { iov_base: r.addr as *mut libc::c_void, iov_len: r.len }).collect();
    let count = iov_count(iov.len())?;
    // SAFETY: the caller keeps every range mapped, writable and free of
    // Rust references for the duration of this call.
    let n = unsafe { libc::preadv(fd, iov.as_ptr(), count, offset) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}
