//! Children forked without exec (the sandbox process, its gofer): they
//! share the binary's pages the parent has mapped and skip a new process
//! image's start-up (exec, static init, argument parsing: ~2 ms each on a
//! container's critical path). Such a child then does what exec and a fresh
//! `ringfence` would have done: caught signals back to their defaults, only
//! the descriptors it needs kept, its own debug log file, and a command
//! line naming what it is (for `ps` and whoever looks for it by it).

use std::ffi::{CStr, OsString};
use std::io;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::OnceLock;

/// What the process's logging does in a forked child named `name`
/// (`boot`, `gofer`): switch to the child's own log files; returns the
/// descriptors logging still writes to.
pub type ChildLogging = Box<dyn Fn(&str) -> Vec<RawFd> + Send + Sync>;

static CHILD_LOGGING: OnceLock<ChildLogging> = OnceLock::new();

/// Sets what logging does in a forked child (see [`ChildLogging`]);
/// without it the child keeps no log descriptor and logs to stderr only
/// as the parent's subscriber does.
pub fn set_child_logging(f: ChildLogging) {
    let _ = CHILD_LOGGING.set(f);
}

/// Switches logging to the forked child `name`'s own files (before
/// [`close_all_but`], which must keep what this returns).
pub(crate) fn child_logging(name: &str) -> Vec<RawFd> {
    CHILD_LOGGING.get().map(|logging| logging(name)).unwrap_or_default()
}

/// Forks; the child runs `child` and exits with the status it returns,
/// never returning here. The caller must be single-threaded (checked): the
/// child is a complete copy only then, in which allocating and locking are
/// safe (a lock another thread held at the fork, the allocator's or
/// stdio's, would stay locked there). In the parent, `child` is dropped
/// uncalled. Returns the child's pid.
pub(crate) fn fork(what: &str, child: impl FnOnce() -> libc::c_int) -> io::Result<libc::pid_t> {
    let threads = thread_count()?;
    if threads != 1 {
        return Err(io::Error::other(format!("cannot fork the {what} from a process with {threads} threads")));
    }
    // The child starts with the parent's resident anonymous pages as its
    // own (its peak RSS counts them from the fork on): hand free heap
    // pages back first, so that it inherits only live ones.
    // SAFETY: malloc_trim takes an integer and only releases free memory.
    unsafe { libc::malloc_trim(0) };
    // SAFETY: this process is single-threaded (checked above), so the child
    // is a complete copy in which allocating and locking are safe; it never
    // returns into the caller (it ends in `_exit`).
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            // std's stdout buffer is not flushed: it may hold a partial
            // line of the parent's, and the children print nothing there.
            let code = child();
            // SAFETY: _exit ends the process without running the parent's
            // atexit handlers or destructors of objects it owns (whose
            // descriptors the child may have closed or reused).
            unsafe { libc::_exit(code) }
        }
        pid => Ok(pid),
    }
}

/// Threads of this process.
fn thread_count() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

/// Arms a SIGKILL for when the parent `parent` dies; false when it died
/// already (then nobody would deliver the signal) or the prctl failed.
pub(crate) fn kill_with_parent(parent: libc::pid_t) -> bool {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes integers only.
    let armed = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) } == 0;
    // SAFETY: getppid takes no arguments.
    armed && unsafe { libc::getppid() } == parent
}

/// Caught signals back to their default action and no signal blocked, as
/// exec (and std's spawn) leave a new program; ignored signals stay
/// ignored.
pub(crate) fn default_signal_handlers() {
    for sig in 1..=libc::SIGRTMAX() {
        // SAFETY: an all-zero sigaction is valid; sigaction only reads and
        // writes the two live locals, and rejects signals it cannot change.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction != libc::SIG_DFL
                && old.sa_sigaction != libc::SIG_IGN
            {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(sig, &dfl, std::ptr::null_mut());
            }
        }
    }
    // SAFETY: an all-zero sigset_t is a valid buffer for sigemptyset, and
    // sigprocmask reads it from a live local.
    unsafe {
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
}

/// The arguments as /proc/PID/cmdline holds them: each NUL-terminated.
pub(crate) fn nul_separated(args: &[OsString]) -> Vec<u8> {
    let mut out = Vec::new();
    for a in args {
        out.extend_from_slice(a.as_bytes());
        out.push(0);
    }
    out
}

/// Shows `cmdline` (see [`nul_separated`]) as this process's
/// /proc/PID/cmdline, and `name` as its name (`comm`). The command line
/// moves with PR_SET_MM_MAP (the one form of PR_SET_MM that needs no
/// CAP_SYS_RESOURCE; kernels without CONFIG_CHECKPOINT_RESTORE refuse it):
/// the parent's then stays.
pub(crate) fn set_command_line(name: &'static CStr, cmdline: Vec<u8>) {
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of a static.
    unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr(), 0, 0, 0) };
    // The kernel reads the arguments from this memory for as long as the
    // process lives.
    let args: &'static [u8] = Vec::leak(cmdline);
    let Some(mut map) = current_mm_map() else { return };
    map.arg_start = args.as_ptr() as u64;
    map.arg_end = map.arg_start + args.len() as u64;
    // SAFETY: PR_SET_MM_MAP reads a `prctl_mm_map` of the given size from a
    // live local; it changes only the bounds procfs reports, each of which
    // is this process's own current value but for the arguments'.
    unsafe {
        libc::prctl(
            libc::PR_SET_MM,
            libc::PR_SET_MM_MAP,
            std::ptr::from_ref(&map),
            std::mem::size_of::<PrctlMmMap>(),
            0,
        )
    };
}

/// The kernel's `struct prctl_mm_map` (linux/prctl.h).
#[repr(C)]
struct PrctlMmMap {
    start_code: u64,
    end_code: u64,
    start_data: u64,
    end_data: u64,
    start_brk: u64,
    brk: u64,
    start_stack: u64,
    arg_start: u64,
    arg_end: u64,
    env_start: u64,
    env_end: u64,
    auxv: u64,
    auxv_size: u32,
    exe_fd: u32,
}

/// This process's memory layout as PR_SET_MM_MAP takes it, from
/// /proc/self/stat (fields 26-28 and 45-51) and brk(2).
fn current_mm_map() -> Option<PrctlMmMap> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields from the third (the state) on, after the parenthesised name.
    let fields: Vec<u64> = stat.rsplit_once(") ")?.1.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
    let field = |n: usize| fields.get(n - 3).copied();
    // Last: reading the file may have moved the break.
    // SAFETY: brk(0) changes nothing and returns the current break.
    let brk = unsafe { libc::syscall(libc::SYS_brk, 0) } as u64;
    Some(PrctlMmMap {
        start_code: field(26)?,
        end_code: field(27)?,
        start_data: field(45)?,
        end_data: field(46)?,
        start_brk: field(47)?,
        brk,
        start_stack: field(28)?,
        arg_start: field(48)?,
        arg_end: field(49)?,
        env_start: field(50)?,
        env_end: field(51)?,
        // Kept: no new auxiliary vector, no new /proc/PID/exe.
        auxv: 0,
        auxv_size: 0,
        exe_fd: u32::MAX,
    })
}

/// Closes every descriptor above stderr except `keep`. The objects of the
/// parent that owned the closed ones must never be used or dropped in the
/// child (it ends in `_exit`): their numbers may be reused.
pub(crate) fn close_all_but(keep: &mut [RawFd]) {
    keep.sort_unstable();
    let mut first: libc::c_uint = 3;
    for &fd in keep.iter() {
        let Ok(fd) = libc::c_uint::try_from(fd) else { continue };
        if fd >= first {
            if fd > first {
                close_range(first, fd - 1);
            }
            first = fd + 1;
        }
    }
    close_range(first, libc::c_uint::MAX);
}

fn close_range(first: libc::c_uint, last: libc::c_uint) {
    // SAFETY: close_range takes integers only; the descriptors it closes
    // belong to objects of the parent this child never uses (the caller's
    // promise, see `close_all_but`).
    let _ = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
}
