//! The gofer as a forked child of the sandbox process, without exec (see
//! `crate::forked`): it shares the binary's pages the parent has mapped (an
//! exec'd gofer faults in ~3 MiB of them again) and skips a new process
//! image's start-up (~2 ms on the sandbox's critical path).
//!
//! The child then does what exec and `ringfence gofer`'s start-up did:
//! caught signals back to their defaults, stdin and stdout on /dev/null,
//! only its socket, stderr and its log files kept open, its own debug log
//! file, a parent-death signal, and the `ringfence gofer` command line (for
//! `ps` and whoever looks for the gofer by it). It confines itself exactly
//! as the exec'd gofer does (`super::confine_and_serve`).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use super::{GoferSpec, GoferStartError};
use crate::forked;

/// The exit status of a gofer that could not start (as `ringfence gofer`'s).
const FAILURE: libc::c_int = 125;

/// Forks the gofer serving `spec` on `sock`; returns its pid.
pub(super) fn fork_gofer(spec: &GoferSpec, sock: UnixStream) -> Result<libc::pid_t, GoferStartError> {
    // Everything the child needs that allocates or opens is prepared here
    // where failures are reported normally.
    // Above stdio, which the child points at /dev/null.
    let sock = if sock.as_raw_fd() < 3 { sock.try_clone().map_err(GoferStartError::Spawn)? } else { sock };
    let cmdline = forked::nul_separated(&super::command_line(spec, sock.as_raw_fd()));
    let devnull = File::options().read(true).write(true).open("/dev/null").map_err(GoferStartError::Spawn)?;
    // SAFETY: getpid takes no arguments.
    let parent = unsafe { libc::getpid() };
    // The parent's copies of `sock` and `devnull` close when the closure
    // is dropped uncalled.
    forked::fork("gofer", move || child(spec, sock, devnull, parent, cmdline)).map_err(GoferStartError::Spawn)
}

/// The forked gofer: set up as a fresh process would be, confined, serving
/// until the sandbox closes its end; returns the exit status.
fn child(spec: &GoferSpec, sock: UnixStream, devnull: File, parent: libc::pid_t, cmdline: Vec<u8>) -> libc::c_int {
    if !forked::kill_with_parent(parent) {
        return FAILURE;
    }
    forked::default_signal_handlers();
    // The sandbox's stdin and stdout may be the container's pipes: a gofer
    // holding them would keep their readers from seeing end-of-file.
    for fd in [0, 1] {
        // SAFETY: dup2 takes two fd numbers; `devnull` is open.
        unsafe { libc::dup2(devnull.as_raw_fd(), fd) };
    }
    // Closed with the rest below unless it is itself stdin or stdout.
    std::mem::forget(devnull);
    forked::set_command_line(c"rf-gofer", cmdline);
    let mut keep = vec![sock.as_raw_fd()];
    keep.extend(forked::child_logging("gofer"));
    forked::close_all_but(&mut keep);
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
