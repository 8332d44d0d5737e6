//! The gofer as a forked child of the sandbox process, without exec: it
//! shares the binary's pages the parent has mapped (an exec'd gofer faults
//! in ~3 MiB of them again) and skips a new process image's start-up (exec,
//! glibc and argument parsing: ~2 ms on the sandbox's critical path).
//!
//! The child then does what exec and `ringfence gofer`'s start-up did:
//! caught signals back to their defaults, stdin and stdout on /dev/null,
//! only its socket, stderr and its log files kept open, its own debug log
//! file, a parent-death signal, and the `ringfence gofer` command line (for
//! `ps` and whoever looks for the gofer by it). It confines itself exactly
//! as the exec'd gofer does (`super::confine_and_serve`).

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::sync::OnceLock;

use super::{GoferSpec, GoferStartError};

/// The exit status of a gofer that could not start (as `ringfence gofer`'s).
const FAILURE: libc::c_int = 125;

/// What the process's logging does in a forked gofer: switch to the gofer's
/// own log files; returns the descriptors logging still writes to.
pub type ChildLogging = Box<dyn Fn() -> Vec<RawFd> + Send + Sync>;

static CHILD_LOGGING: OnceLock<ChildLogging> = OnceLock::new();

/// Sets what logging does in a forked gofer (see [`ChildLogging`]);
/// without it the child keeps no log descriptor and logs to stderr only
/// as the parent's subscriber does.
pub fn set_child_logging(f: ChildLogging) {
    let _ = CHILD_LOGGING.set(f);
}

/// Forks the gofer serving `spec` on `sock`; returns its pid.
pub(super) fn fork_gofer(spec: &GoferSpec, sock: UnixStream) -> Result<libc::pid_t, GoferStartError> {
    // Everything the child needs that allocates or opens is prepared here
    // where failures are reported normally.
    // Above stdio, which the child points at /dev/null.
    let sock = if sock.as_raw_fd() < 3 { sock.try_clone().map_err(GoferStartError::Spawn)? } else { sock };
    let cmdline = nul_separated(&super::command_line(spec, sock.as_raw_fd()));
    let devnull = File::options().read(true).write(true).open("/dev/null").map_err(GoferStartError::Spawn)?;
    // Only the forking thread exists in the child: a lock another thread
    // held at the fork (the allocator's, stdio's) would stay locked there.
    let threads = thread_count().map_err(GoferStartError::Spawn)?;
    if threads != 1 {
        return Err(GoferStartError::Spawn(io::Error::other(format!(
            "cannot fork the gofer from a process with {threads} threads"
        ))));
    }
    // SAFETY: getpid takes no arguments.
    let parent = unsafe { libc::getpid() };
    // SAFETY: this process is single-threaded (checked above), so the child
    // is a complete copy in which allocating and locking are safe; it never
    // returns into the caller (it ends in `_exit`).
    match unsafe { libc::fork() } {
        -1 => Err(GoferStartError::Spawn(io::Error::last_os_error())),
        0 => {
            let code = child(spec, sock, devnull, parent, cmdline);
            // SAFETY: _exit ends the process without running the parent's
            // atexit handlers or destructors of objects it owns.
            unsafe { libc::_exit(code) }
        }
        pid => Ok(pid),
    }
}

/// The forked gofer: set up as a fresh process would be, confined, serving
/// until the sandbox closes its end; returns the exit status.
fn child(spec: &GoferSpec, sock: UnixStream, devnull: File, parent: libc::pid_t, cmdline: Vec<u8>) -> libc::c_int {
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes integers only.
    let armed = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) } == 0;
    // SAFETY: getppid takes no arguments.
    if !armed || unsafe { libc::getppid() } != parent {
        // The parent died before the prctl: nobody would deliver the signal.
        return FAILURE;
    }
    default_signal_handlers();
    // The sandbox's stdin and stdout may be the container's pipes: a gofer
    // holding them would keep their readers from seeing end-of-file.
    for fd in [0, 1] {
        // SAFETY: dup2 takes two fd numbers; `devnull` is open.
        unsafe { libc::dup2(devnull.as_raw_fd(), fd) };
    }
    // Closed with the rest below unless it is itself stdin or stdout.
    std::mem::forget(devnull);
    set_command_line(cmdline);
    let mut keep = vec![sock.as_raw_fd()];
    if let Some(logging) = CHILD_LOGGING.get() {
        keep.extend(logging());
    }
    close_all_but(&mut keep);
    // Donating fds, as `command_line` says: the sandbox is its only client.
    let donate_fds = true;
    match super::confine_and_serve(sock, &spec.root, spec.readonly, donate_fds, &spec.trees) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ringfence: gofer: {e:#}");
            FAILURE
        }
    }
}

/// Threads of this process.
fn thread_count() -> io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/task")?.count())
}

/// Caught signals back to their default action, as exec does (the sandbox
/// process's handlers exit the sandbox; ignored signals stay ignored).
fn default_signal_handlers() {
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
}

/// The arguments as /proc/PID/cmdline holds them: each NUL-terminated.
fn nul_separated(args: &[OsString]) -> Vec<u8> {
    let mut out = Vec::new();
    for a in args {
        out.extend_from_slice(a.as_bytes());
        out.push(0);
    }
    out
}

/// Shows `cmdline` as this process's /proc/PID/cmdline, and "rf-gofer" as
/// its name (`comm`). The command line moves with PR_SET_MM_MAP (the one
/// form of PR_SET_MM that needs no CAP_SYS_RESOURCE; kernels without
/// CONFIG_CHECKPOINT_RESTORE refuse it): the parent's then stays.
fn set_command_line(cmdline: Vec<u8>) {
    // SAFETY: PR_SET_NAME reads a NUL-terminated string of a static.
    unsafe { libc::prctl(libc::PR_SET_NAME, c"rf-gofer".as_ptr(), 0, 0, 0) };
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

/// Closes every descriptor above stderr except `keep` (the parent's
/// files, sockets and the other end of this gofer's socket).
fn close_all_but(keep: &mut [RawFd]) {
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
    // belong to objects of the parent this child never uses (it ends in
    // `_exit`, running no destructor).
    let _ = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
}
