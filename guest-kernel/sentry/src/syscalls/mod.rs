//! The system call layer: argument decoding, the table by number, tracing.
//!
//! Handlers are `sys_<linux name>(k, t, args) -> SysResult`, one family per
//! file, registered in [`table`]. A number with no handler returns ENOSYS
//! and is logged once by name.

mod creds;
mod epoll;
mod event;
mod fd;
mod file;
mod futex;
pub(crate) mod info;
mod mknod;
mod mmap;
mod pipe;
mod poll;
mod process;
mod read_write;
mod signal;
mod socket;
mod socket_io;
pub(crate) mod stat;
pub mod table;
mod thread;
pub(crate) mod time;
mod timer;
pub(crate) mod tty;

use alloc::format;
use alloc::string::String;
use core::fmt::Write as _;

use crate::error::{SysError, SysResult, EBLOCK, EPROCVIEW, EREGS};
use crate::kernel::task::RunState;
use crate::kernel::{Kernel, Task};
use crate::platform::Platform;
use abi::hostcall::LogLevel;
use abi::linux::{errno, sysno};

/// The arguments of one system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyscallArgs {
    pub nr: u64,
    pub a: [u64; 6],
}

impl SyscallArgs {
    /// Argument `i` as a raw register value.
    pub fn u64(&self, i: usize) -> u64 {
        self.a[i]
    }

    /// Argument `i` as a C `int` (the low 32 bits, as Linux reads it).
    pub fn int(&self, i: usize) -> i32 {
        let b = self.a[i].to_le_bytes();
        i32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Argument `i` as a C `unsigned int`.
    pub fn uint(&self, i: usize) -> u32 {
        let b = self.a[i].to_le_bytes();
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Argument `i` as a file descriptor.
    pub fn fd(&self, i: usize) -> i32 {
        self.int(i)
    }

    /// Argument `i` as a size that must fit in `usize`.
    pub fn size(&self, i: usize) -> Result<usize, SysError> {
        usize::try_from(self.a[i]).map_err(|_| SysError::einval("size too large"))
    }
}

/// Encodes a handler result in the return register.
fn encode(r: SysResult) -> u64 {
    match r {
        Ok(v) => v,
        Err(e) => (-i64::from(e.errno)).cast_unsigned(),
    }
}

/// Decodes and runs the syscall in `t`'s registers (`t.orig_rax` holds its
/// number), storing the result in rax, or leaves the task blocked with the
/// syscall to be retried.
pub fn dispatch<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>) {
    let args = SyscallArgs { nr: t.orig_rax, a: t.regs.syscall_args() };
    if k.params.strace && (args.nr == sysno::exit || args.nr == sysno::exit_group) {
        // These never return: trace them first, as strace shows "= ?".
        trace_line(k, t, &args, "?");
    }
    let mut result = call(k, t, &args);
    if matches!(result, Err(e) if e.errno == EPROCVIEW) {
        // The syscall reached /proc: run it again with the kernel's view.
        crate::fs::proc::view::install(k, t);
        result = call(k, t, &args);
        crate::fs::proc::view::clear();
        if matches!(result, Err(e) if e.errno == EPROCVIEW) {
            result = Err(SysError::new(errno::EIO, "/proc view missing"));
        }
    }
    match result {
        Err(e) if e.errno == EBLOCK => {
            // As Linux checks for signals before sleeping.
            if crate::kernel::deliver::interrupting_signal(k, t).is_some() {
                crate::kernel::deliver::interrupt_syscall(k, t);
            } else {
                t.state = RunState::Blocked;
            }
            return;
        }
        Err(e) if e.errno == EREGS => {
            t.end_syscall();
            return;
        }
        _ => {}
    }
    t.end_syscall();
    if k.params.strace {
        trace(k, t, &args, result);
    }
    t.regs.rax = encode(result);
    // `syscall` leaves RCX = return address and R11 = RFLAGS, as Linux's
    // sysret path does; keeping them so lets the platform use its fast return.
    t.sanitize_regs();
    t.regs.rcx = t.regs.rip;
    t.regs.r11 = t.regs.rflags;
}

fn call<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, args: &SyscallArgs) -> SysResult {
    match table::call(k, t, args) {
        Some(r) => r,
        None => unimplemented(k, args),
    }
}

fn unimplemented<P: Platform>(k: &mut Kernel<P>, args: &SyscallArgs) -> SysResult {
    if let Some((errno, why)) = table::unsupported(args.nr) {
        return Err(SysError::new(errno, why));
    }
    if k.first_report(args.nr) {
        let name = sysno::name(args.nr).unwrap_or("unknown");
        // Info, not Warn: static glibc probes several syscalls at startup
        // and copes without them; `--debug` shows these lines.
        k.log(LogLevel::Info, &format!("unsupported syscall {name} ({}), returning ENOSYS", args.nr));
    }
    Err(SysError::new(errno::ENOSYS, "not implemented"))
}

fn trace<P: Platform>(k: &Kernel<P>, t: &Task<P::AddressSpace>, args: &SyscallArgs, result: SysResult) {
    let ret = match result {
        Ok(v) if v < 4096 => format!("{v}"),
        Ok(v) => format!("{v:#x}"),
        Err(e) => format!("-1 {} ({})", errno::name(e.errno), e.why),
    };
    trace_line(k, t, args, &ret);
}

fn trace_line<P: Platform>(k: &Kernel<P>, t: &Task<P::AddressSpace>, args: &SyscallArgs, ret: &str) {
    let mut line = String::from("strace: ");
    if !k.procs.is_empty() && (k.procs.len() > 1 || t.tid != 1) {
        let _ = write!(line, "[pid {}] ", t.tid);
    }
    let name = sysno::name(args.nr).unwrap_or("syscall");
    let n = table::arg_count(args.nr);
    let _ = write!(line, "{name}(");
    for (i, a) in args.a.iter().take(n).enumerate() {
        let sep = if i == 0 { "" } else { ", " };
        let _ = if *a < 4096 { write!(line, "{sep}{a}") } else { write!(line, "{sep}{a:#x}") };
    }
    let _ = write!(line, ") = {ret}");
    k.log(LogLevel::Info, &line);
}
