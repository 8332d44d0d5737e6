//! Raw libc calls (ptrace, wait, memfd, mmap) behind safe wrappers.

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// `-1` from libc as an `io::Error`.
fn check(rc: libc::c_long) -> io::Result<libc::c_long> {
    if rc == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// An anonymous memory file of `size` bytes (close-on-exec).
pub fn memfd(name: &std::ffi::CStr, size: u64) -> io::Result<OwnedFd> {
    // SAFETY: `name` is a valid NUL-terminated string borrowed for the call.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by memfd_create and is owned by no one else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let len = libc::off_t::try_from(size).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: ftruncate on an fd we own.
    check(libc::c_long::from(unsafe { libc::ftruncate(std::os::fd::AsRawFd::as_raw_fd(&fd), len) }))?;
    Ok(fd)
}

/// Maps `[0, len)` of `fd` shared and read-write anywhere; never unmapped
/// (the mapping lives as long as the process).
pub fn map_shared(fd: RawFd, len: u64) -> io::Result<*mut u8> {
    let len = usize::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: a fresh mapping at an address the kernel picks; it touches no
    // existing memory.
    let p =
        unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0) };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p.cast())
}

fn ptrace(req: libc::c_uint, pid: libc::pid_t, addr: usize, data: usize) -> io::Result<libc::c_long> {
    // SAFETY: every caller passes a request whose addr/data are either
    // plain integers or pointers to live buffers of the size the request
    // reads or writes (see the wrappers below).
    check(unsafe { libc::ptrace(req, pid, addr, data) })
}

/// `PTRACE_GETREGS`.
pub fn get_regs(pid: libc::pid_t) -> io::Result<libc::user_regs_struct> {
    // SAFETY: user_regs_struct is plain integers; all-zero is valid.
    let mut r: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    ptrace(libc::PTRACE_GETREGS, pid, 0, std::ptr::addr_of_mut!(r) as usize)?;
    Ok(r)
}

/// `PTRACE_SETREGS`.
pub fn set_regs(pid: libc::pid_t, r: &libc::user_regs_struct) -> io::Result<()> {
    ptrace(libc::PTRACE_SETREGS, pid, 0, std::ptr::from_ref(r) as usize).map(drop)
}

const NT_X86_XSTATE: usize = 0x202;

/// `PTRACE_GETREGSET NT_X86_XSTATE` into `buf`; returns the bytes filled.
pub fn get_xstate(pid: libc::pid_t, buf: &mut [u8]) -> io::Result<usize> {
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    ptrace(libc::PTRACE_GETREGSET, pid, NT_X86_XSTATE, std::ptr::addr_of_mut!(iov) as usize)?;
    Ok(iov.iov_len)
}

/// `PTRACE_SETREGSET NT_X86_XSTATE` from `buf` (the host's full size).
pub fn set_xstate(pid: libc::pid_t, buf: &[u8]) -> io::Result<()> {
    // The kernel only reads through iov_base for SETREGSET.
    let mut iov = libc::iovec { iov_base: buf.as_ptr().cast_mut().cast(), iov_len: buf.len() };
    ptrace(libc::PTRACE_SETREGSET, pid, NT_X86_XSTATE, std::ptr::addr_of_mut!(iov) as usize).map(drop)
}

/// `PTRACE_SETOPTIONS`.
pub fn set_options(pid: libc::pid_t, opts: libc::c_int) -> io::Result<()> {
    ptrace(libc::PTRACE_SETOPTIONS, pid, 0, usize::try_from(opts).unwrap_or(0)).map(drop)
}

/// `PTRACE_SYSEMU`: runs until the next syscall (not executed) or signal.
pub fn sysemu(pid: libc::pid_t) -> io::Result<()> {
    ptrace(libc::PTRACE_SYSEMU, pid, 0, 0).map(drop)
}

/// `PTRACE_CONT` with no signal.
pub fn cont(pid: libc::pid_t) -> io::Result<()> {
    ptrace(libc::PTRACE_CONT, pid, 0, 0).map(drop)
}

/// `PTRACE_GETSIGINFO`.
pub fn get_siginfo(pid: libc::pid_t) -> io::Result<libc::siginfo_t> {
    // SAFETY: siginfo_t is plain data; all-zero is valid.
    let mut si: libc::siginfo_t = unsafe { std::mem::zeroed() };
    ptrace(libc::PTRACE_GETSIGINFO, pid, 0, std::ptr::addr_of_mut!(si) as usize)?;
    Ok(si)
}

/// The faulting address of a fault signal's siginfo.
pub fn si_addr(si: &libc::siginfo_t) -> u64 {
    // SAFETY: reads the union member the kernel fills for fault signals;
    // for other signals it is some integer, which the caller ignores.
    unsafe { si.si_addr() as u64 }
}

/// `waitpid(pid, __WALL)`; EINTR is returned to the caller.
pub fn wait(pid: libc::pid_t) -> io::Result<libc::c_int> {
    let mut status = 0;
    // SAFETY: waitpid writes one int to a live local.
    let rc = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
    check(libc::c_long::from(rc))?;
    Ok(status)
}

/// [`wait`], retried on EINTR (the preemption tick).
pub fn wait_retry(pid: libc::pid_t) -> io::Result<libc::c_int> {
    loop {
        match wait(pid) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            r => return r,
        }
    }
}

/// `kill(pid, sig)`.
pub fn kill(pid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: only signals `pid`, one of our stubs.
    unsafe { libc::kill(pid, sig) };
}

/// `tgkill(tgid, tid, sig)`: one stub thread.
pub fn tgkill(tgid: libc::pid_t, tid: libc::pid_t, sig: libc::c_int) {
    // SAFETY: only signals the stub thread `tid`.
    unsafe { libc::syscall(libc::SYS_tgkill, tgid, tid, sig) };
}
