//! The gofer's seccomp filter: the system calls a confined server makes,
//! and nothing else. Any other call kills the whole process
//! (`SECCOMP_RET_KILL_PROCESS`), so a compromised gofer cannot open
//! sockets, exec, ptrace, mount, or reach the kernel's wider surface.
//!
//! The list was taken from `strace -f -c` of the gofer's own test suite
//! (every 9P operation against a tempdir tree) and of `ringfence gofer`
//! serving a client, then reduced to what runs *after* confinement: the
//! process start-up calls (`execve`, `arch_prctl`, `prlimit64`, `ioctl`,
//! `poll`, `sched_getaffinity`, ...) and the confinement itself (`unshare`,
//! `mount`, `pivot_root`, `capset`, `prctl`, `seccomp`) are made before the
//! filter is installed. Thread creation is not allowed: the server is
//! single-threaded.

use std::collections::BTreeMap;

use seccompiler::{
    BackendError, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Calls allowed with any arguments.
const ALLOWED: &[(&str, libc::c_long)] = &[
    // The 9P connection (std's `UnixStream` reads with recvfrom and writes
    // with sendto) and log lines on stderr.
    ("read", libc::SYS_read),
    ("readv", libc::SYS_readv),
    ("recvfrom", libc::SYS_recvfrom),
    ("recvmsg", libc::SYS_recvmsg),
    // Waiting for the next request (`inbox`).
    ("ppoll", libc::SYS_ppoll),
    ("write", libc::SYS_write),
    ("writev", libc::SYS_writev),
    ("sendto", libc::SYS_sendto),
    ("sendmsg", libc::SYS_sendmsg),
    ("shutdown", libc::SYS_shutdown),
    ("close", libc::SYS_close),
    // Walks, opens and attributes: everything is `*at()` from O_PATH fds,
    // but the root itself (rustix's `open`).
    ("open", libc::SYS_open),
    ("openat", libc::SYS_openat),
    ("openat2", libc::SYS_openat2),
    ("fstat", libc::SYS_fstat),
    ("newfstatat", libc::SYS_newfstatat),
    ("statx", libc::SYS_statx),
    ("fstatfs", libc::SYS_fstatfs),
    ("getdents64", libc::SYS_getdents64),
    ("lseek", libc::SYS_lseek),
    ("readlinkat", libc::SYS_readlinkat),
    // File I/O.
    ("pread64", libc::SYS_pread64),
    ("pwrite64", libc::SYS_pwrite64),
    ("preadv", libc::SYS_preadv),
    // Rread data moves file -> pipe -> socket without a copy (ops::splice).
    ("pipe2", libc::SYS_pipe2),
    ("splice", libc::SYS_splice),
    ("pwritev", libc::SYS_pwritev),
    ("ftruncate", libc::SYS_ftruncate),
    ("fsync", libc::SYS_fsync),
    ("fdatasync", libc::SYS_fdatasync),
    // Changes to the tree (refused earlier by the server when read-only; the
    // bind mount is read-only too).
    ("mkdirat", libc::SYS_mkdirat),
    ("mknodat", libc::SYS_mknodat),
    ("symlinkat", libc::SYS_symlinkat),
    ("linkat", libc::SYS_linkat),
    ("renameat", libc::SYS_renameat),
    ("renameat2", libc::SYS_renameat2),
    ("unlinkat", libc::SYS_unlinkat),
    ("fchownat", libc::SYS_fchownat),
    ("fchmod", libc::SYS_fchmod),
    ("fchmodat", libc::SYS_fchmodat),
    ("fchmodat2", libc::SYS_fchmodat2),
    ("utimensat", libc::SYS_utimensat),
    // Memory (the allocator) and the Rust runtime.
    ("brk", libc::SYS_brk),
    ("munmap", libc::SYS_munmap),
    ("mremap", libc::SYS_mremap),
    ("madvise", libc::SYS_madvise),
    ("futex", libc::SYS_futex),
    ("sched_yield", libc::SYS_sched_yield),
    ("getrandom", libc::SYS_getrandom),
    ("clock_gettime", libc::SYS_clock_gettime),
    ("clock_nanosleep", libc::SYS_clock_nanosleep),
    ("geteuid", libc::SYS_geteuid),
    ("getpid", libc::SYS_getpid),
    ("gettid", libc::SYS_gettid),
    ("sigaltstack", libc::SYS_sigaltstack),
    ("rt_sigprocmask", libc::SYS_rt_sigprocmask),
    ("rt_sigaction", libc::SYS_rt_sigaction),
    ("rt_sigreturn", libc::SYS_rt_sigreturn),
    ("restart_syscall", libc::SYS_restart_syscall),
    ("exit", libc::SYS_exit),
    ("exit_group", libc::SYS_exit_group),
];

/// `fcntl` commands the server uses: status flags of opened files and
/// open-file-description locks (plus `F_GETFD`/`F_SETFD` and
/// `F_DUPFD_CLOEXEC`, which std may use on descriptors).
const FCNTL_COMMANDS: &[libc::c_int] = &[
    libc::F_GETFL,
    libc::F_SETFL,
    libc::F_GETFD,
    libc::F_SETFD,
    libc::F_DUPFD_CLOEXEC,
    libc::F_OFD_GETLK,
    libc::F_OFD_SETLK,
    libc::F_SETPIPE_SZ,
    libc::F_GETPIPE_SZ,
];

fn cond(arg: u8, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, BackendError> {
    SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value)
}

fn eq_rule(arg: u8, value: u64) -> Result<SeccompRule, BackendError> {
    SeccompRule::new(vec![cond(arg, SeccompCmpOp::Eq, value)?])
}

fn rules(pid: u32) -> Result<BTreeMap<i64, Vec<SeccompRule>>, BackendError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = ALLOWED.iter().map(|&(_, nr)| (nr, Vec::new())).collect();
    // Memory is never made executable: the gofer loads no code.
    let prot_exec = u64::try_from(libc::PROT_EXEC).unwrap_or(u64::MAX);
    let no_exec = || SeccompRule::new(vec![cond(2, SeccompCmpOp::MaskedEq(prot_exec), 0)?]);
    rules.insert(libc::SYS_mmap, vec![no_exec()?]);
    rules.insert(libc::SYS_mprotect, vec![no_exec()?]);
    let fcntl = FCNTL_COMMANDS
        .iter()
        .map(|&cmd| eq_rule(1, u64::try_from(cmd).unwrap_or(u64::MAX)))
        .collect::<Result<Vec<_>, _>>()?;
    rules.insert(libc::SYS_fcntl, fcntl);
    // abort() (panic = "abort") signals its own thread: tgkill(getpid(), ..).
    rules.insert(libc::SYS_tgkill, vec![eq_rule(0, u64::from(pid))?]);
    Ok(rules)
}

/// Compiles the filter for process `pid` (the process about to install
/// it; `tgkill` is allowed towards itself only).
pub fn filter(pid: u32) -> Result<BpfProgram, BackendError> {
    let filter = SeccompFilter::new(rules(pid)?, SeccompAction::KillProcess, SeccompAction::Allow, TargetArch::x86_64)?;
    filter.try_into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_compiles() {
        let prog = filter(std::process::id()).expect("filter");
        assert!(prog.len() > ALLOWED.len());
    }

    #[test]
    fn no_duplicates_and_nothing_dangerous() {
        let mut seen = std::collections::BTreeSet::new();
        for &(name, nr) in ALLOWED {
            assert!(seen.insert(nr), "{name} listed twice");
        }
        for nr in [
            libc::SYS_execve,
            libc::SYS_execveat,
            libc::SYS_socket,
            libc::SYS_connect,
            libc::SYS_clone,
            libc::SYS_clone3,
            libc::SYS_fork,
            libc::SYS_ptrace,
            libc::SYS_mount,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_ioctl,
            libc::SYS_open_by_handle_at,
            libc::SYS_kill,
        ] {
            assert!(!seen.contains(&nr), "syscall {nr} must not be allowed");
        }
    }
}
