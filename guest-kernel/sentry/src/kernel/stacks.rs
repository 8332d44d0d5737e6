//! The `Stacks` control request (`ringfence debug --stacks`): a dump of
//! every task, with what a sleeping one waits on.
//!
//! The sentry runs tasks as resumable syscalls rather than on kernel
//! stacks of their own, so a task's "stack" is its user registers, the
//! syscall it is blocked in and the wait keys that syscall left; this
//! turns those into words.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::fd::File;
use super::task::{RunState, Task, WaitKey};
use super::Kernel;
use crate::platform::{AddressSpace, Platform};
use abi::control::{state, TaskDump, NO_SYSCALL};
use abi::linux::sysno;

/// The reply body: count, then one [`TaskDump`] per task, as many as fit.
pub fn dump<P: Platform>(k: &Kernel<P>) -> Vec<u8> {
    super::control::counted_reply(k.tasks.values(), |t, w| {
        let stopped = k.procs.get(&t.pid).is_some_and(|p| p.stopped);
        let st = match t.state {
            RunState::Runnable => state::RUNNING,
            RunState::Blocked => state::SLEEPING,
            RunState::Stopped => state::STOPPED,
            RunState::Dead => state::ZOMBIE,
        };
        let st = if stopped && st == state::SLEEPING { state::STOPPED } else { st };
        let wait = if t.state == RunState::Blocked { wait_text(t) } else { String::new() };
        TaskDump {
            tid: t.tid,
            pid: t.pid,
            state: st,
            syscall: if t.in_syscall { t.orig_rax } else { NO_SYSCALL },
            rip: t.regs.rip,
            rsp: t.regs.rsp,
            comm: t.comm_name(),
            wait: wait.as_bytes(),
        }
        .write(w);
    })
}

/// What blocked task `t` waits on, e.g. "pipe read on fd 0", "child exit",
/// "futex 0x7f0012345678", "timer".
fn wait_text<A: AddressSpace>(t: &Task<A>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut io = false;
    for key in &t.waits {
        let part = match key {
            WaitKey::Io(_) if io => continue,
            WaitKey::Io(_) => {
                io = true;
                io_text(t)
            }
            WaitKey::ChildOf(_) => "child exit".into(),
            WaitKey::Futex(addr) => format!("futex {addr:#x}"),
            WaitKey::Vfork(tid) => format!("vfork child {tid}"),
            WaitKey::Signal => "signal".into(),
            WaitKey::HostStdin => "host stdin".into(),
            WaitKey::HostFd(_) => io_text(t),
        };
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    if parts.is_empty() || t.deadline.is_some() {
        // nanosleep and friends wait on nothing but their deadline.
        parts.push("timer".into());
    }
    parts.join(", ")
}

/// An I/O wait in words: the operation of the syscall and, when its first
/// argument is a descriptor, what kind of file it is.
fn io_text<A: AddressSpace>(t: &Task<A>) -> String {
    let op = match t.orig_rax {
        sysno::read | sysno::readv | sysno::pread64 | sysno::preadv | sysno::recvfrom | sysno::recvmsg => "read",
        sysno::write | sysno::writev | sysno::pwrite64 | sysno::pwritev | sysno::sendto | sysno::sendmsg => "write",
        sysno::accept | sysno::accept4 => "accept",
        sysno::connect => "connect",
        sysno::poll | sysno::ppoll | sysno::select | sysno::pselect6 => return "poll".into(),
        sysno::epoll_wait | sysno::epoll_pwait => return "epoll".into(),
        _ => return "io".into(),
    };
    let fd = t.regs.syscall_args()[0];
    let kind = i32::try_from(fd).ok().and_then(|fd| t.fds.lock().get(fd).ok()).map_or("file", |f| match f {
        File::HostStdio { .. } => "host stdio",
        File::HostTty { .. } | File::Tty(_) => "tty",
        File::Vfs(_) => "file",
        File::Pipe(_) => "pipe",
        File::Socket(_) => "socket",
        File::Event(_) => "event file",
    });
    format!("{kind} {op} on fd {fd}")
}
