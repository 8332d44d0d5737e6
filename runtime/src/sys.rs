//! The runtime's raw system calls: setting up a child between fork and exec.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Arranges for `cmd`'s child to get `sock` as descriptor `target`, to be
/// SIGKILLed when this process dies, and to inherit no other descriptor
/// above `target` (stdio stays as configured on `cmd`).
///
/// `sock` must stay open until the child is spawned, and `target` must be
/// an open descriptor in this process at spawn time (or `sock` itself), so
/// that std's exec-status pipe is never at `target` and is not clobbered.
pub fn pass_fd_with_pdeathsig(cmd: &mut Command, sock: BorrowedFd<'_>, target: i32) {
    let src = sock.as_raw_fd();
    // SAFETY: getpid takes no arguments and touches no memory.
    let parent = unsafe { libc::getpid() };
    let child_setup = move || -> io::Result<()> {
        // Only async-signal-safe system calls below: this runs in the forked
        // child of a possibly multi-threaded process.
        // SAFETY: prctl(PR_SET_PDEATHSIG) takes integers only.
        if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // The parent may have died before the prctl: then nobody would
        // deliver the signal.
        // SAFETY: getppid takes no arguments and touches no memory.
        if unsafe { libc::getppid() } != parent {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        if src == target {
            // dup2 onto itself keeps FD_CLOEXEC: clear it instead.
            // SAFETY: fcntl(F_SETFD) on an fd number takes integers only.
            if unsafe { libc::fcntl(src, libc::F_SETFD, 0) } != 0 {
                return Err(io::Error::last_os_error());
            }
        // SAFETY: dup2 takes two fd numbers; `src` is open in the child (a
        // copy of the parent's table, where the caller keeps it open) and
        // the new `target` is not close-on-exec.
        } else if unsafe { libc::dup2(src, target) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // Every other descriptor above `target` becomes close-on-exec, so
        // nothing this process inherited leaks into the child. std's own
        // exec-status pipe is close-on-exec already. Kernels before 5.11
        // lack close_range: the runtime opens everything O_CLOEXEC anyway.
        let first = libc::c_uint::try_from(target + 1).unwrap_or(libc::c_uint::MAX);
        // SAFETY: close_range takes integers only and, with
        // CLOSE_RANGE_CLOEXEC, only sets flags; it closes nothing.
        let _ = unsafe { libc::syscall(libc::SYS_close_range, first, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC) };
        Ok(())
    };
    // SAFETY: the closure makes only async-signal-safe system calls
    // (prctl, getppid, fcntl, dup2, close_range), allocates nothing, and
    // takes no locks, as a pre_exec hook in a forked child must.
    unsafe {
        cmd.pre_exec(child_setup);
    }
}

/// Gives a 9P socket buffers that hold a whole message (msize, 1 MiB and
/// more), so a large Tread reply moves in one write and one read instead of
/// ping-ponging through the default ~200 KiB. Uses the FORCE variants, which
/// root may set beyond `net.core.[rw]mem_max`; failures keep the defaults.
pub fn enlarge_socket_buffers(sock: BorrowedFd<'_>, bytes: libc::c_int) {
    for opt in [libc::SO_SNDBUFFORCE, libc::SO_RCVBUFFORCE] {
        // SAFETY: setsockopt reads one c_int from the pointer, which points
        // at a live local; the fd is a valid socket for the call.
        let _ = unsafe {
            libc::setsockopt(
                sock.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&bytes as *const libc::c_int).cast(),
                libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).unwrap_or(4),
            )
        };
    }
}

/// Makes `fds` this process's stdin, stdout and stderr (the sandbox
/// process's stdio: a pty slave or the caller's terminal).
pub fn set_stdio(fds: [BorrowedFd<'_>; 3]) -> io::Result<()> {
    for (target, fd) in fds.iter().enumerate() {
        let target = i32::try_from(target).unwrap_or(i32::MAX);
        // SAFETY: dup2 takes two fd numbers; `fd` is borrowed, so open.
        if fd.as_raw_fd() != target && unsafe { libc::dup2(fd.as_raw_fd(), target) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// setsid(2): a session of this process's own (a detached container's
/// sandbox process outlives the command that made it and is out of reach
/// of its terminal's signals).
pub fn setsid() -> io::Result<()> {
    // SAFETY: setsid takes no arguments.
    if unsafe { libc::setsid() } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// mkfifo(2), mode 0600: only the runtime's own commands open it.
pub fn mkfifo(path: &std::path::Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| io::ErrorKind::InvalidInput)?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// waitpid(2) on child `pid`, retried on EINTR: its raw status, or `None`
/// when `WNOHANG` in `flags` finds it running.
pub fn waitpid(pid: i32, flags: libc::c_int) -> io::Result<Option<libc::c_int>> {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes one c_int through a pointer to a live local.
        match unsafe { libc::waitpid(pid, &mut status, flags) } {
            0 => return Ok(None),
            -1 if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
            -1 => return Err(io::Error::last_os_error()),
            _ => return Ok(Some(status)),
        }
    }
}

/// kill(2).
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill takes integers only.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What the sandbox process does right after its fork to take its place
/// on the host (see `oci/linux.rs`): join cgroups, join namespaces by
/// file, make new ones.
#[derive(Debug, Default)]
pub struct Placement {
    /// The cgroups' join files (`Cgroup::join_files`), opened for writing:
    /// the single-threaded child writes `0`.
    pub cgroup_join: Vec<std::os::fd::OwnedFd>,
    /// Namespace files to `setns` into, with their `CLONE_NEW*` type.
    pub join: Vec<(std::os::fd::OwnedFd, libc::c_int)>,
    /// `CLONE_NEW*` flags to `unshare` (never `CLONE_NEWPID`: see
    /// [`fork_in_pid_namespace`]).
    pub unshare: libc::c_int,
}

impl Placement {
    /// Moves this process into its place. It must be single-threaded, as
    /// `CLONE_NEWNS` requires and as every thread must share the place.
    /// With a new mount namespace, its mounts are made private, so nothing
    /// the sandbox (or the gofer inside it) mounts propagates to the host.
    pub fn take(&self) -> io::Result<()> {
        for fd in &self.cgroup_join {
            // SAFETY: write reads one byte from a static; `fd` is an open
            // descriptor `self` owns.
            if unsafe { libc::write(fd.as_raw_fd(), b"0".as_ptr().cast(), 1) } != 1 {
                return Err(io::Error::last_os_error());
            }
        }
        for (fd, nstype) in &self.join {
            // SAFETY: setns takes an open descriptor and an integer.
            if unsafe { libc::setns(fd.as_raw_fd(), *nstype) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        if self.unshare != 0 {
            // SAFETY: unshare takes an integer; the child is
            // single-threaded, as CLONE_NEWNS requires.
            if unsafe { libc::unshare(self.unshare) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        if self.unshare & libc::CLONE_NEWNS != 0 {
            // SAFETY: mount with a static NUL-terminated target and null
            // source/type/data changes propagation only.
            let rc = unsafe {
                libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

/// How the sandbox process gets its pid namespace.
#[derive(Debug)]
pub enum PidNamespace {
    /// The runtime's own.
    Shared,
    /// A new one, whose pid 1 it is.
    New,
    /// This namespace file's.
    Join(std::os::fd::OwnedFd),
}

/// Forks `child` (see `forked::fork`) in the pid namespace `pid`. A pid
/// namespace applies to the children of the thread that enters it
/// (`pid_for_children`), so the calling thread enters it, forks, and goes
/// back to its own namespace at once: its later children (hooks) stay
/// where they were. The child of a new namespace is its pid 1. Returns the
/// child's pid (in this process's namespace).
pub fn fork_in_pid_namespace(
    pid: &PidNamespace,
    what: &str,
    child: impl FnOnce() -> libc::c_int,
) -> io::Result<libc::pid_t> {
    if matches!(pid, PidNamespace::Shared) {
        return crate::forked::fork(what, child);
    }
    // The calling thread's own (active) pid namespace, to come back to.
    let own = std::fs::File::open("/proc/thread-self/ns/pid")?;
    let rc = match pid {
        // SAFETY: unshare takes an integer; CLONE_NEWPID affects only this
        // thread's future children.
        PidNamespace::New => unsafe { libc::unshare(libc::CLONE_NEWPID) },
        // SAFETY: setns takes an open descriptor and an integer.
        PidNamespace::Join(fd) => unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWPID) },
        PidNamespace::Shared => 0,
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let forked = crate::forked::fork(what, child);
    // SAFETY: setns takes an open descriptor and an integer; a thread may
    // always go back to its active pid namespace.
    if unsafe { libc::setns(own.as_raw_fd(), libc::CLONE_NEWPID) } != 0 {
        let err = io::Error::last_os_error();
        // Every later child would land in the container's namespace.
        if let Ok(child) = forked {
            let _ = kill(child, libc::SIGKILL);
            let _ = waitpid(child, 0);
        }
        return Err(err);
    }
    forked
}

/// prctl(PR_SET_NO_NEW_PRIVS, 1): required to install a seccomp filter
/// without CAP_SYS_ADMIN, and good practice with it.
pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: prctl(PR_SET_NO_NEW_PRIVS) takes integers only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Set once the sandbox's own SIGINT/SIGTERM handling runs (see
/// [`exit_on_signals`]).
static SIGNALS_HANDLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The signals [`exit_on_signals`] ends the process on until the sandbox
/// handles them itself.
const HANDED_OVER: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

extern "C" fn exit_on_signal(sig: libc::c_int) {
    if HANDED_OVER.contains(&sig) && SIGNALS_HANDLED.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    // SAFETY: _exit is async-signal-safe and takes an integer.
    unsafe { libc::_exit(128 + sig) }
}

/// Makes `sigs` end this process with status 128+n. A process that is pid
/// 1 of its pid namespace ignores every signal it has no handler for, even
/// from outside (the sandbox process of a container): without this,
/// `ringfence kill ID HUP` would do nothing, and a SIGTERM that lands before
/// the sandbox installs its own SIGINT/SIGTERM handling would be lost. Once
/// [`signals_handled`] is called, SIGINT and SIGTERM are left to that
/// handling (which stops the VM and exits 128+n itself).
pub fn exit_on_signals(sigs: &[libc::c_int]) -> io::Result<()> {
    // The handler only reads an atomic and calls _exit (async-signal-safe).
    set_handlers(sigs, exit_on_signal)
}

/// Installs `handler` (SA_RESTART) for each of `sigs`. `handler` must make
/// only async-signal-safe calls.
fn set_handlers(sigs: &[libc::c_int], handler: extern "C" fn(libc::c_int)) -> io::Result<()> {
    for &sig in sigs {
        // SAFETY: an all-zero sigaction is a valid value (empty mask, no
        // flags) that is filled in below.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = handler as libc::sighandler_t;
        action.sa_flags = libc::SA_RESTART;
        // SAFETY: `action` is a valid sigaction whose handler is
        // async-signal-safe (the caller's promise); the old action is not
        // asked for.
        if unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The sandbox's own SIGINT/SIGTERM handling is in place (see
/// [`exit_on_signals`]).
pub fn signals_handled() {
    SIGNALS_HANDLED.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// The process [`forward_signals`] passes signals on to (0: none).
static FORWARD_TO: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

extern "C" fn forward_signal(sig: libc::c_int) {
    let pid = FORWARD_TO.load(std::sync::atomic::Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: errno is thread-local; the handler restores what it found
        // so that the interrupted code sees its own errno.
        let saved = unsafe { *libc::__errno_location() };
        // SAFETY: kill is async-signal-safe and takes integers only.
        unsafe { libc::kill(pid, sig) };
        // SAFETY: as above.
        unsafe { *libc::__errno_location() = saved };
    }
}

/// Passes `sigs` received by this process on to `pid` until
/// [`stop_forwarding`], from the signal handler (no thread).
pub fn forward_signals(pid: i32, sigs: &[libc::c_int]) -> io::Result<()> {
    FORWARD_TO.store(pid, std::sync::atomic::Ordering::Relaxed);
    // The handler only reads an atomic and calls kill, saving errno.
    set_handlers(sigs, forward_signal)
}

/// Ends [`forward_signals`]: the handlers stay, and drop what they get.
pub fn stop_forwarding() {
    FORWARD_TO.store(0, std::sync::atomic::Ordering::Relaxed);
}

/// Waits until child `pid` has exited, leaving it a zombie (`WNOWAIT`): the
/// caller reaps it.
pub fn wait_exited_unreaped(pid: i32) -> io::Result<()> {
    let id = libc::id_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    loop {
        // SAFETY: an all-zero siginfo_t is a valid buffer for waitid to fill.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid writes one siginfo_t to a live local.
        if unsafe { libc::waitid(libc::P_PID, id, &mut info, libc::WEXITED | libc::WNOWAIT) } == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// The uid of the process at the other end of a unix socket (SO_PEERCRED).
/// Not rustix's `socket_peercred`: a peer in another pid namespace has no
/// pid here, so the kernel reports pid 0, which rustix refuses.
pub fn peer_uid(sock: BorrowedFd<'_>) -> Option<u32> {
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::ucred>()).ok()?;
    // SAFETY: SO_PEERCRED writes at most `len` bytes (one ucred) to a live
    // local of that type; the descriptor is borrowed, so open.
    let r = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            std::ptr::addr_of_mut!(cred).cast(),
            &mut len,
        )
    };
    (r == 0).then_some(cred.uid)
}

/// Waits up to `timeout_ms` (-1: forever) for any of `fds` to be readable
/// or hung up; returns which are.
pub fn poll_readable(fds: &[BorrowedFd<'_>], timeout_ms: libc::c_int) -> io::Result<Vec<bool>> {
    let mut set: Vec<libc::pollfd> =
        fds.iter().map(|fd| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
    let n = libc::nfds_t::try_from(set.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `set` is a live array of `n` pollfds the kernel writes
    // `revents` into; the descriptors are borrowed, so open.
    if unsafe { libc::poll(set.as_mut_ptr(), n, timeout_ms) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(set.iter().map(|p| p.revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0).collect())
}

/// Drops this process's resident pages of the embedded guest image once
/// the VM holds its copy (about 1 MiB of the sandbox process's RSS).
pub fn release_guest_image_pages() {
    let image = crate::guest::GUEST_IMAGE;
    let page = 4096;
    let start = (image.as_ptr() as usize).next_multiple_of(page);
    let end = (image.as_ptr() as usize + image.len()) & !(page - 1);
    if end <= start {
        return;
    }
    // SAFETY: [start, end) lies inside GUEST_IMAGE, `include_bytes!` data
    // in the binary's read-only segment: a private file mapping that is
    // never written, so MADV_DONTNEED only unmaps clean pages, and a later
    // read faults the same bytes back in from the page cache.
    let rc = unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    if rc != 0 {
        tracing::debug!(err = %io::Error::last_os_error(), "cannot release the guest image's pages");
    }
}

/// Descriptor `fd`, inherited from this process's caller and open (else
/// EBADF): the process keeps it open for its whole life, so it may be
/// borrowed for as long.
pub fn inherited_fd(fd: i32) -> io::Result<BorrowedFd<'static>> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: F_GETFD reads the descriptor's flags and touches no memory.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is open (checked above), and callers use this only for
    // descriptors inherited at exec that nothing in the process closes.
    Ok(unsafe { BorrowedFd::borrow_raw(fd) })
}
