//! The syscall table: one row per implemented number (handler and argument
//! count), plus the numbers deliberately answered with an error.

use super::{
    creds, epoll, event, fd, file, futex, info, mknod, mmap, pipe, poll, process, read_write, signal, socket,
    socket_io, stat, thread, time, timer, SyscallArgs,
};
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
    stat => stat::sys_stat, 2;
    lstat => stat::sys_lstat, 2;
    statx => stat::sys_statx, 5;
    pread64 => read_write::sys_pread64, 4;
    pwrite64 => read_write::sys_pwrite64, 4;
    preadv => read_write::sys_preadv, 4;
    pwritev => read_write::sys_pwritev, 4;
    open => file::sys_open, 3;
    openat => file::sys_openat, 4;
    openat2 => file::sys_openat2, 4;
    creat => file::sys_creat, 2;
    lseek => file::sys_lseek, 3;
    getdents64 => file::sys_getdents64, 3;
    mkdir => file::sys_mkdir, 2;
    mkdirat => file::sys_mkdirat, 3;
    mknod => mknod::sys_mknod, 3;
    mknodat => mknod::sys_mknodat, 4;
    unlink => file::sys_unlink, 1;
    unlinkat => file::sys_unlinkat, 3;
    rmdir => file::sys_rmdir, 1;
    rename => file::sys_rename, 2;
    renameat => file::sys_renameat, 4;
    renameat2 => file::sys_renameat2, 5;
    symlink => file::sys_symlink, 2;
    symlinkat => file::sys_symlinkat, 3;
    readlink => file::sys_readlink, 3;
    readlinkat => file::sys_readlinkat, 4;
    link => file::sys_link, 2;
    linkat => file::sys_linkat, 5;
    chmod => file::sys_chmod, 2;
    fchmod => file::sys_fchmod, 2;
    fchmodat => file::sys_fchmodat, 3;
    chown => file::sys_chown, 3;
    lchown => file::sys_lchown, 3;
    fchown => file::sys_fchown, 3;
    fchownat => file::sys_fchownat, 5;
    utimensat => file::sys_utimensat, 4;
    truncate => file::sys_truncate, 2;
    ftruncate => file::sys_ftruncate, 2;
    fsync => file::sys_fsync, 1;
    fdatasync => file::sys_fsync, 1;
    statfs => file::sys_statfs, 2;
    fstatfs => file::sys_fstatfs, 2;
    getcwd => file::sys_getcwd, 2;
    chdir => file::sys_chdir, 1;
    fchdir => file::sys_fchdir, 1;
    access => file::sys_access, 2;
    faccessat => file::sys_faccessat, 3;
    faccessat2 => file::sys_faccessat2, 4;
    prctl => thread::sys_prctl, 5;
    dup => fd::sys_dup, 1;
    dup2 => fd::sys_dup2, 2;
    dup3 => fd::sys_dup3, 3;
    mmap => mmap::sys_mmap, 6;
    munmap => mmap::sys_munmap, 2;
    mprotect => mmap::sys_mprotect, 3;
    brk => mmap::sys_brk, 1;
    mremap => mmap::sys_mremap, 5;
    madvise => mmap::sys_madvise, 3;
    msync => mmap::sys_msync, 3;
    mincore => mmap::sys_mincore, 3;
    exit => process::sys_exit, 1;
    exit_group => process::sys_exit_group, 1;
    clone => process::sys_clone, 5;
    clone3 => process::sys_clone3, 2;
    fork => process::sys_fork, 0;
    vfork => process::sys_vfork, 0;
    execve => process::sys_execve, 3;
    execveat => process::sys_execveat, 5;
    wait4 => process::sys_wait4, 4;
    waitid => process::sys_waitid, 5;
    kill => process::sys_kill, 2;
    tkill => process::sys_tkill, 2;
    tgkill => process::sys_tgkill, 3;
    rt_sigqueueinfo => process::sys_rt_sigqueueinfo, 3;
    rt_sigreturn => process::sys_rt_sigreturn, 0;
    rt_sigsuspend => process::sys_rt_sigsuspend, 2;
    rt_sigpending => process::sys_rt_sigpending, 2;
    rt_sigtimedwait => process::sys_rt_sigtimedwait, 4;
    sigaltstack => process::sys_sigaltstack, 2;
    pause => process::sys_pause, 0;
    getpgid => process::sys_getpgid, 1;
    getpgrp => process::sys_getpgrp, 0;
    setpgid => process::sys_setpgid, 2;
    getsid => process::sys_getsid, 1;
    setsid => process::sys_setsid, 0;
    futex => futex::sys_futex, 6;
    pipe => pipe::sys_pipe, 1;
    pipe2 => pipe::sys_pipe2, 2;
    socket => socket::sys_socket, 3;
    socketpair => socket::sys_socketpair, 4;
    bind => socket::sys_bind, 3;
    listen => socket::sys_listen, 2;
    accept => socket::sys_accept, 3;
    accept4 => socket::sys_accept4, 4;
    connect => socket::sys_connect, 3;
    shutdown => socket::sys_shutdown, 2;
    getsockname => socket::sys_getsockname, 3;
    getpeername => socket::sys_getpeername, 3;
    getsockopt => socket::sys_getsockopt, 5;
    setsockopt => socket::sys_setsockopt, 5;
    sendto => socket_io::sys_sendto, 6;
    recvfrom => socket_io::sys_recvfrom, 6;
    sendmsg => socket_io::sys_sendmsg, 3;
    recvmsg => socket_io::sys_recvmsg, 3;
    poll => poll::sys_poll, 3;
    ppoll => poll::sys_ppoll, 5;
    select => poll::sys_select, 5;
    epoll_create => epoll::sys_epoll_create, 1;
    epoll_create1 => epoll::sys_epoll_create1, 1;
    epoll_ctl => epoll::sys_epoll_ctl, 4;
    epoll_wait => epoll::sys_epoll_wait, 4;
    epoll_pwait => epoll::sys_epoll_pwait, 6;
    epoll_pwait2 => epoll::sys_epoll_pwait2, 6;
    eventfd => event::sys_eventfd, 1;
    eventfd2 => event::sys_eventfd2, 2;
    timerfd_create => event::sys_timerfd_create, 2;
    timerfd_settime => event::sys_timerfd_settime, 4;
    timerfd_gettime => event::sys_timerfd_gettime, 2;
    signalfd => event::sys_signalfd, 3;
    signalfd4 => event::sys_signalfd4, 4;
    pselect6 => poll::sys_pselect6, 6;
    set_tid_address => thread::sys_set_tid_address, 1;
    set_robust_list => thread::sys_set_robust_list, 2;
    arch_prctl => thread::sys_arch_prctl, 2;
    getpid => thread::sys_getpid, 0;
    getppid => process::sys_getppid, 0;
    gettid => thread::sys_gettid, 0;
    getuid => creds::sys_getuid, 0;
    geteuid => creds::sys_geteuid, 0;
    getgid => creds::sys_getgid, 0;
    getegid => creds::sys_getegid, 0;
    getresuid => creds::sys_getresuid, 3;
    getresgid => creds::sys_getresgid, 3;
    setuid => creds::sys_setuid, 1;
    setgid => creds::sys_setgid, 1;
    setreuid => creds::sys_setreuid, 2;
    setregid => creds::sys_setregid, 2;
    setresuid => creds::sys_setresuid, 3;
    setresgid => creds::sys_setresgid, 3;
    setfsuid => creds::sys_setfsuid, 1;
    setfsgid => creds::sys_setfsgid, 1;
    getgroups => creds::sys_getgroups, 2;
    setgroups => creds::sys_setgroups, 2;
    capget => creds::sys_capget, 2;
    capset => creds::sys_capset, 2;
    sched_yield => process::sys_sched_yield, 0;
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
    alarm => timer::sys_alarm, 1;
    getitimer => timer::sys_getitimer, 2;
    setitimer => timer::sys_setitimer, 3;
    timer_create => timer::sys_timer_create, 3;
    timer_settime => timer::sys_timer_settime, 4;
    timer_gettime => timer::sys_timer_gettime, 2;
    timer_getoverrun => timer::sys_timer_getoverrun, 1;
    timer_delete => timer::sys_timer_delete, 1;
    uname => info::sys_uname, 1;
    getrandom => info::sys_getrandom, 3;
    sysinfo => info::sys_sysinfo, 1;
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
