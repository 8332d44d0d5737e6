//! The syscall table: one row per implemented number (handler and argument
//! count), plus the numbers deliberately answered with an error.

use super::{fd, info, mmap, read_write, signal, stat, thread, time, SyscallArgs};
use crate::error::SysResult;
use crate::kernel::{Kernel, Task};
use crate::platform::Platform;
use abi::linux::{errno, sysno};

macro_rules! syscall_table {
    ($($nr:ident => $handler:path, $nargs:literal;)*) => {
        /// Runs the handler for `a.nr`, or returns `None` if there is none.
        pub fn call<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> Option<SysResult> {
            match a.nr {
                $(sysno::$nr => Some($handler(k, t, a)),)*
                _ => None,
            }
        }

        /// The number of arguments `nr` takes (6 if unknown), for traces.
        pub fn arg_count(nr: u64) -> usize {
            match nr {
                $(sysno::$nr => $nargs,)*
                _ => 6,
            }
        }

        /// Every implemented syscall number.
        pub const IMPLEMENTED: &[u64] = &[$(sysno::$nr,)*];
    };
}

syscall_table! {
    read => read_write::sys_read, 3;
    write => read_write::sys_write, 3;
    readv => read_write::sys_readv, 3;
    writev => read_write::sys_writev, 3;
    close => read_write::sys_close, 1;
    fcntl => fd::sys_fcntl, 3;
    fstat => stat::sys_fstat, 2;
    newfstatat => stat::sys_newfstatat, 4;
    prctl => thread::sys_prctl, 5;
    dup => fd::sys_dup, 1;
    dup2 => fd::sys_dup2, 2;
    dup3 => fd::sys_dup3, 3;
    mmap => mmap::sys_mmap, 6;
    munmap => mmap::sys_munmap, 2;
    mprotect => mmap::sys_mprotect, 3;
    brk => mmap::sys_brk, 1;
    exit => thread::sys_exit, 1;
    exit_group => thread::sys_exit_group, 1;
    set_tid_address => thread::sys_set_tid_address, 1;
    set_robust_list => thread::sys_set_robust_list, 2;
    arch_prctl => thread::sys_arch_prctl, 2;
    getpid => thread::sys_getpid, 0;
    getppid => thread::sys_getppid, 0;
    gettid => thread::sys_gettid, 0;
    getuid => thread::sys_getuid, 0;
    geteuid => thread::sys_getuid, 0;
    getgid => thread::sys_getgid, 0;
    getegid => thread::sys_getgid, 0;
    sched_yield => thread::sys_sched_yield, 0;
    sched_getaffinity => thread::sys_sched_getaffinity, 3;
    prlimit64 => thread::sys_prlimit64, 4;
    getrlimit => thread::sys_getrlimit, 2;
    setrlimit => thread::sys_setrlimit, 2;
    umask => thread::sys_umask, 1;
    rt_sigaction => signal::sys_rt_sigaction, 4;
    rt_sigprocmask => signal::sys_rt_sigprocmask, 4;
    clock_gettime => time::sys_clock_gettime, 2;
    clock_getres => time::sys_clock_getres, 2;
    gettimeofday => time::sys_gettimeofday, 2;
    time => time::sys_time, 1;
    nanosleep => time::sys_nanosleep, 2;
    clock_nanosleep => time::sys_clock_nanosleep, 4;
    uname => info::sys_uname, 1;
    getrandom => info::sys_getrandom, 3;
    ioctl => info::sys_ioctl, 3;
}

/// Numbers answered with a fixed error on purpose (not logged).
pub fn unsupported(nr: u64) -> Option<(i32, &'static str)> {
    match nr {
        // glibc probes rseq at startup and copes without it.
        sysno::rseq => Some((errno::ENOSYS, "rseq is not supported")),
        _ => None,
    }
}
