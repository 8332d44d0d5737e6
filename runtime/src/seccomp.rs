//! The sandbox process's seccomp filter, installed on every thread once the
//! VM is built and before the guest runs (`VmConfig::before_run`): from then
//! on the process only runs the vCPU, serves hostcalls (stdio, clock, poll,
//! 9P to the gofer over its socket), is stopped by signals, and reaps the
//! gofer. It cannot open files, create sockets, exec, mount, ptrace or
//! make new VMs; a call outside the list kills the whole process
//! (`SECCOMP_RET_KILL_PROCESS`: the kernel logs it with the syscall number,
//! and the runtime reports the death by SIGSYS).
//!
//! The list came from `strace -f` of the test suite and of `ringfence run`
//! (a killed call is the last one of its thread before `killed by SIGSYS`).
//! `RINGFENCE_SECCOMP=log` allows violations and has the kernel log them
//! instead (`SECCOMP_RET_LOG`: seen in the audit log, `type=1326`, only
//! where audit is enabled; not on this machine).
//! To add calls for a new feature of the sandbox process, add rows to the
//! section it belongs to (see [`CONTROL_SERVER`]) and run the suite in log
//! mode.

use std::collections::BTreeMap;

use seccompiler::{
    BackendError, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Environment variable: `log` turns violations into kernel log lines
/// instead of kills (to find what a new feature needs).
pub const MODE_ENV: &str = "RINGFENCE_SECCOMP";

/// Calls allowed with any arguments.
const ALLOWED: &[(&str, libc::c_long)] = &[
    // Hostcalls: stdio, the 9P socket, stdin readiness, logs.
    ("read", libc::SYS_read),
    ("readv", libc::SYS_readv),
    ("write", libc::SYS_write),
    ("writev", libc::SYS_writev),
    ("recvfrom", libc::SYS_recvfrom),
    ("recvmsg", libc::SYS_recvmsg),
    ("sendto", libc::SYS_sendto),
    ("sendmsg", libc::SYS_sendmsg),
    ("poll", libc::SYS_poll),
    ("ppoll", libc::SYS_ppoll),
    ("fstat", libc::SYS_fstat),
    ("newfstatat", libc::SYS_newfstatat),
    ("lseek", libc::SYS_lseek),
    ("pread64", libc::SYS_pread64),
    // Donated files (FileRead): read-only fds the gofer opened.
    ("preadv", libc::SYS_preadv),
    ("close", libc::SYS_close),
    ("shutdown", libc::SYS_shutdown),
    ("getrandom", libc::SYS_getrandom),
    // Time.
    ("clock_gettime", libc::SYS_clock_gettime),
    ("clock_nanosleep", libc::SYS_clock_nanosleep),
    ("nanosleep", libc::SYS_nanosleep),
    ("gettimeofday", libc::SYS_gettimeofday),
    // Memory (the allocator; never executable, see `rules`).
    ("brk", libc::SYS_brk),
    ("munmap", libc::SYS_munmap),
    ("mremap", libc::SYS_mremap),
    ("madvise", libc::SYS_madvise),
    // Threads, locks, signals (the vCPU kick, SIGINT/SIGTERM watchers).
    ("futex", libc::SYS_futex),
    ("sched_yield", libc::SYS_sched_yield),
    ("sched_getaffinity", libc::SYS_sched_getaffinity),
    ("set_robust_list", libc::SYS_set_robust_list),
    ("rseq", libc::SYS_rseq),
    ("sigaltstack", libc::SYS_sigaltstack),
    ("rt_sigaction", libc::SYS_rt_sigaction),
    ("rt_sigprocmask", libc::SYS_rt_sigprocmask),
    ("rt_sigreturn", libc::SYS_rt_sigreturn),
    ("restart_syscall", libc::SYS_restart_syscall),
    ("getpid", libc::SYS_getpid),
    ("gettid", libc::SYS_gettid),
    ("getppid", libc::SYS_getppid),
    // Reaping the gofer at the end.
    ("wait4", libc::SYS_wait4),
    ("waitid", libc::SYS_waitid),
    ("exit", libc::SYS_exit),
    ("exit_group", libc::SYS_exit_group),
];

/// Calls of the control RPC server (a thread of the sandbox process serving
/// the runtime's commands on a unix socket): add them here.
const CONTROL_SERVER: &[(&str, libc::c_long)] = &[
    ("accept4", libc::SYS_accept4),
    ("accept", libc::SYS_accept),
    // SO_PEERCRED of a connection; its read and write timeouts.
    ("getsockopt", libc::SYS_getsockopt),
    ("setsockopt", libc::SYS_setsockopt),
    ("geteuid", libc::SYS_geteuid),
];

/// `fcntl` commands: descriptor and status flags (the 9P socket is made
/// non-blocking), and duplication by std.
const FCNTL_COMMANDS: &[libc::c_int] =
    &[libc::F_GETFL, libc::F_SETFL, libc::F_GETFD, libc::F_SETFD, libc::F_DUPFD_CLOEXEC];

/// The ioctl types allowed: KVM's (`KVMIO`, vCPU and VM requests on the
/// descriptors the VMM holds: no new VM can be made without opening
/// `/dev/kvm`, which the filter forbids) and the terminal's (`'T'`: termios,
/// window size, FIONREAD/FIONBIO on stdio).
const IOCTL_TYPES: &[u64] = &[0xAE, 0x54];

fn cond(arg: u8, len: SeccompCmpArgLen, op: SeccompCmpOp, value: u64) -> Result<SeccompCondition, BackendError> {
    SeccompCondition::new(arg, len, op, value)
}

fn rule(conds: Vec<SeccompCondition>) -> Result<SeccompRule, BackendError> {
    SeccompRule::new(conds)
}

fn u(v: libc::c_int) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

fn rules(pid: u32, children: &[u32]) -> Result<BTreeMap<i64, Vec<SeccompRule>>, BackendError> {
    use SeccompCmpArgLen::{Dword, Qword};
    use SeccompCmpOp::{Eq, MaskedEq};
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        ALLOWED.iter().chain(CONTROL_SERVER).map(|&(_, nr)| (nr, Vec::new())).collect();
    let no_exec = || rule(vec![cond(2, Qword, MaskedEq(u(libc::PROT_EXEC)), 0)?]);
    rules.insert(libc::SYS_mmap, vec![no_exec()?]);
    rules.insert(libc::SYS_mprotect, vec![no_exec()?]);
    let fcntl = FCNTL_COMMANDS.iter().map(|&c| rule(vec![cond(1, Dword, Eq, u(c))?])).collect::<Result<_, _>>()?;
    rules.insert(libc::SYS_fcntl, fcntl);
    let ioctl =
        IOCTL_TYPES.iter().map(|&t| rule(vec![cond(1, Dword, MaskedEq(0xff00), t << 8)?])).collect::<Result<_, _>>()?;
    rules.insert(libc::SYS_ioctl, ioctl);
    // Threads only (pthread_create); clone3, whose flags seccomp cannot
    // read, answers ENOSYS (second filter) so that glibc falls back to this.
    rules.insert(
        libc::SYS_clone,
        vec![rule(vec![cond(0, Qword, MaskedEq(u(libc::CLONE_THREAD)), u(libc::CLONE_THREAD))?])?],
    );
    rules.insert(libc::SYS_clone3, Vec::new());
    // Thread names.
    // And PR_GET_AUXV: rustix reads its auxiliary vector that way (the
    // control server's clock-tick and page-size queries).
    const PR_GET_AUXV: u64 = 0x4155_5856;
    rules.insert(
        libc::SYS_prctl,
        vec![rule(vec![cond(0, Dword, Eq, u(libc::PR_SET_NAME))?])?, rule(vec![cond(0, Dword, Eq, PR_GET_AUXV)?])?],
    );
    // Signals to its own threads (the vCPU kick, abort) and SIGKILL to the
    // gofer it started.
    rules.insert(libc::SYS_tgkill, vec![rule(vec![cond(0, Dword, Eq, u64::from(pid))?])?]);
    let kill = children
        .iter()
        .map(|&c| rule(vec![cond(0, Dword, Eq, u64::from(c))?, cond(1, Dword, Eq, u(libc::SIGKILL))?]))
        .collect::<Result<Vec<_>, _>>()?;
    if !kill.is_empty() {
        rules.insert(libc::SYS_kill, kill);
    }
    Ok(rules)
}

/// Whether violations are only logged (`RINGFENCE_SECCOMP=log`).
fn log_mode() -> bool {
    std::env::var(MODE_ENV).is_ok_and(|v| v == "log")
}

/// The filters for process `pid` whose children `children` (the gofer) it
/// may SIGKILL: the allow-list, then clone3 → ENOSYS.
pub fn filters(pid: u32, children: &[u32]) -> Result<[BpfProgram; 2], BackendError> {
    let mismatch = if log_mode() { SeccompAction::Log } else { SeccompAction::KillProcess };
    let allow = SeccompFilter::new(rules(pid, children)?, mismatch, SeccompAction::Allow, TargetArch::x86_64)?;
    let clone3 = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(u32::try_from(libc::ENOSYS).unwrap_or(38)),
        TargetArch::x86_64,
    )?;
    Ok([allow.try_into()?, clone3.try_into()?])
}

/// Why the filter could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("cannot build the sandbox seccomp filter")]
    Build(#[source] BackendError),
    #[error("cannot set no_new_privs")]
    NoNewPrivs(#[source] std::io::Error),
    #[error("cannot install the sandbox seccomp filter")]
    Install(#[source] seccompiler::Error),
}

/// The filters, compiled ahead of their installation (seccompiler takes a
/// few hundred microseconds: an OCI sandbox compiles them before `start`,
/// not after it).
pub struct Compiled([BpfProgram; 2]);

impl Compiled {
    /// The filters for this process, which may SIGKILL `children`.
    pub fn new(children: &[u32]) -> Result<Self, SeccompError> {
        filters(std::process::id(), children).map(Self).map_err(SeccompError::Build)
    }

    /// Installs the filters on every thread of this process.
    pub fn install(&self) -> Result<(), SeccompError> {
        crate::sys::set_no_new_privs().map_err(SeccompError::NoNewPrivs)?;
        // The clone3 filter first: seccompiler sets no_new_privs (prctl)
        // before each install, which the allow-list forbids.
        for f in self.0.iter().rev() {
            seccompiler::apply_filter_all_threads(f).map_err(SeccompError::Install)?;
        }
        tracing::debug!(log_only = log_mode(), "sandbox seccomp filter installed");
        Ok(())
    }
}

/// Installs the filters on every thread of this process.
pub fn install(children: &[u32]) -> Result<(), SeccompError> {
    Compiled::new(children)?.install()
}

/// The error of [`install`] as one line, with its cause.
pub fn describe(e: &SeccompError) -> String {
    let cause = std::error::Error::source(e).map(|s| format!(": {s}")).unwrap_or_default();
    format!("{e}{cause}")
}

/// The VMM step that installs the filters; `gofer` is the pid of the gofer
/// the process started.
pub fn before_run(gofer: u32) -> vmm::BeforeRun {
    vmm::BeforeRun(std::sync::Arc::new(move || install(&[gofer]).map_err(|e| describe(&e))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compile() {
        let [allow, clone3] = filters(1, &[2]).expect("filters");
        assert!(allow.len() > ALLOWED.len());
        assert!(!clone3.is_empty());
    }

    #[test]
    fn nothing_dangerous() {
        let rules = rules(1, &[2]).expect("rules");
        for nr in [
            libc::SYS_open,
            libc::SYS_openat,
            libc::SYS_openat2,
            libc::SYS_execve,
            libc::SYS_execveat,
            libc::SYS_socket,
            libc::SYS_connect,
            libc::SYS_fork,
            libc::SYS_vfork,
            libc::SYS_ptrace,
            libc::SYS_mount,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_memfd_create,
        ] {
            assert!(!rules.contains_key(&nr), "syscall {nr} must not be allowed");
        }
    }
}
