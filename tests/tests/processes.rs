//! The process C programs of resources/c, natively and in the sandbox:
//! `threads` (pthreads: mutexes, condition variables, barriers, once, TLS,
//! join values), `signals` (handlers, masks, alternate stacks, restarts,
//! faults, sigtimedwait, sigsuspend), `procs` (fork, wait, exec, pipes,
//! vfork, process groups, orphans) and `proc_bench`. Each prints
//! deterministic lines; the native run must print exactly the expected text
//! (so the programs are known to be right on Linux), and the sandboxed run
//! the same as the native one.
//!
//! The sandbox comparisons are ignored until the sentry has what each names.

use std::path::PathBuf;

use ringfence_tests::{busybox, compare_runs, resource, running_as_root, Outcome, Run, TempDir};

const NO_ARGS: &[&str] = &[];

/// `Run::native` or `Run::sandbox`.
type Side = fn(PathBuf, &[String]) -> Run;

/// What `threads` prints on Linux.
const THREADS: &str = r#"identity: same pid yes, distinct tids yes, shared writes 4
counters: mutex 160000, atomic 160000 (expected 160000)
queue: 3 producers, 2 consumers, 15000 items, sum 112507500 (expected 112507500)
timedwait: ETIMEDOUT, waited at least 30 ms: yes
barrier: every thread saw all 5 arrive: yes, serial threads 1
rwlock: value 8000, torn reads 0
once: init ran 1 time(s) for 7 callers
exit values: 0 1001 4 1003 16 1005
tls: initial 42 42 42 42, own 100 101 102 103, main still 7, distinct addresses yes
detached: 4 of 4 ran
stack: 1 MiB used on a 4 MiB thread stack, sum ok
cwd: a thread's chdir is seen by the main thread yes, a child's chdir is not yes
exec from a non-leader thread: same pid, one thread, exited 0
"#;

/// What `signals` prints on Linux.
const SIGNALS: &str = r#"kill: signo 10, SI_USER, pid self yes, uid self yes
sigqueue: signo 12, SI_QUEUE, pid self yes, uid self yes
sigqueue: value 42
raise: signo 10, SI_TKILL, pid self yes, uid self yes
blocked: handler ran 0 times, USR1 pending yes
unblocked: handler ran 1 time (standard signals coalesce), still pending no
real-time queue: RTMIN(1) RTMIN(2) RTMIN(3)
pending order, full mask in handlers: USR1 USR2 RTMIN RTMIN+1
pending order, empty mask in handlers: RTMIN+1 RTMIN USR2 USR1
ignored and blocked: pending yes, after the unblock no
ignored: pending no
SA_ONSTACK: on the alternate stack yes, ss_flags SS_ONSTACK, changing it there EPERM
without SA_ONSTACK: on the alternate stack no, ss_flags 0
after the handlers: ss_flags 0, size yes
stack overflow: SIGSEGV caught on the alternate stack yes (signo 11)
alarm, no SA_RESTART: read -1 (EINTR), then read 1 byte 'x'
timer, SA_RESTART: read 1 byte 'x'
timer, SA_RESTART: nanosleep -1 (EINTR), time left over 4 s yes
SA_RESETHAND: ran 1, signal blocked in the handler yes, then SIG_DFL yes
default flags: signal blocked in its handler yes
SA_NODEFER: signal blocked in its handler no
default, raise inside the handler: enter1 exit1 enter1 exit1
SA_NODEFER, raise inside the handler: enter1 enter2 exit2 exit1
write to PROT_NONE: SIGSEGV SEGV_ACCERR, si_addr exact
read of PROT_NONE: SIGSEGV SEGV_ACCERR, si_addr exact
write to read-only: SIGSEGV SEGV_ACCERR, si_addr exact
read of read-only: no fault
write to unmapped: SIGSEGV SEGV_MAPERR, si_addr exact
read of NULL+16: SIGSEGV SEGV_MAPERR, si_addr exact
raise(SIGSEGV): SIGSEGV SI_TKILL, si_addr -
divide by zero: SIGFPE FPE_INTDIV, si_addr -
write to PROT_NONE again: SIGSEGV SEGV_ACCERR, si_addr exact
ud2: SIGILL ILL_ILLOPN at the instruction yes, resumed after it yes
int3: SIGTRAP SI_KERNEL, saved rip after it yes
sigtimedwait: returned SIGUSR1, SI_USER, pid self yes
sigwaitinfo: returned SIGRTMIN, SI_QUEUE, value 7
sigtimedwait with nothing pending, 20 ms: -1 (EAGAIN)
sigtimedwait with nothing pending, zero timeout: -1 (EAGAIN)
sigsuspend with USR1 pending: -1 (EINTR), handler ran 1, USR1 blocked again yes
sigsuspend until a timer: -1 (EINTR), SI_KERNEL, SIGALRM blocked again yes
fpu: results unchanged across at least 20 handlers that clobber xmm0-15 and x87: yes
sigaction SIGKILL: -1 EINVAL, SIGSTOP: -1 EINVAL
block everything: SIGKILL blocked no, SIGSTOP blocked no, SIGUSR1 blocked yes
kill(self, 0): 0, kill(self, 65): -1 EINVAL
"#;

/// What `procs` prints on Linux.
const PROCS: &str = r#"exit codes: 0->exited 0 1->exited 1 42->exited 42 255->exited 255 256->exited 0 257->exited 1
exit(9): exited 9
SIGTERM: WIFSIGNALED yes, WTERMSIG SIGTERM, WCOREDUMP no
SIGKILL: WIFSIGNALED yes, WTERMSIG SIGKILL, WCOREDUMP no
SIGUSR1: WIFSIGNALED yes, WTERMSIG SIGUSR1, WCOREDUMP no
SIGQUIT: WIFSIGNALED yes, WTERMSIG SIGQUIT, WCOREDUMP no
SIGABRT: WIFSIGNALED yes, WTERMSIG SIGABRT, WCOREDUMP no
NULL write: WIFSIGNALED yes, WTERMSIG SIGSEGV, WCOREDUMP no
SIGPIPE: WIFSIGNALED yes, WTERMSIG SIGPIPE, WCOREDUMP no
SIGALRM: WIFSIGNALED yes, WTERMSIG SIGALRM, WCOREDUMP no
killed in a blocking read: killed by SIGTERM
WNOHANG on a running child: 0
waitid WNOWAIT: CLD_EXITED, status 5, pid right yes
zombie: kill(pid, 0) 0
reaped: exited 5, then kill(pid, 0) -1 ESRCH
no children: waitpid -1 ECHILD, waitpid(self) -1 ECHILD
wait(-1) x5: 1 1 1 1 1, then -1 ECHILD
WUNTRACED: stopped by SIGSTOP, WCONTINUED: continued, then killed by SIGKILL
SIGCHLD: CLD_EXITED status 3 pid right yes; CLD_KILLED SIGKILL pid right yes
SIGCHLD ignored: wait -1 ECHILD
fork: child saw the parent's 16 MiB yes, parent's copy untouched by the child yes, private variable 1, MAP_SHARED byte 0x5a
shared offset: parent1 child parent2 (lseek 22)
pipe: read "hello from the child" then EOF
write without a reader: child killed by SIGPIPE; ignored: -1 EPIPE; handled: -1 EPIPE, handler ran 1
O_NONBLOCK: empty read -1 EAGAIN, filled with 65536 bytes then EAGAIN, F_GETPIPE_SZ 65536, drained 65536 then 0 (EOF)
PIPE_BUF 4096: 4 writers, 512 records, torn 0, per writer 128 128 128 128, writers ok yes
exec busybox echo with stdout dup2'd to a pipe: "via dup2 across exec", exited 0
argv and envp across exec: "zero|one|bar baz|1", exited 0
exec keeps the pid: yes
fd 5 inherited: exec'd shell's write worked
fd 5 FD_CLOEXEC: exec'd shell's write failed
fd 5 received: "written to fd 5"
#! script: "script: 2 args: a b c; $0 is the script: yes", exited 3
execve errors: missing ENOENT, no x bit EACCES, not a program ENOEXEC, missing interpreter ENOENT, a directory EACCES
vfork: child exited 7, its write seen by the parent yes
vfork + exec: exited 4
posix_spawn: no error, "from posix_spawn", exited 0
posix_spawn of a missing file: ENOENT
groups: child starts in the parent's group yes, setpgid(0, 0) leads its own yes, setsid as leader EPERM yes
setsid: returns the new sid yes, leads session and group yes, parent's session differs yes
getpgid(child) is the child yes, kill(-pgid, SIGUSR1): members killed 2 of 2, leader (ignoring it) exited
the emptied group: kill(-pgid, 0) -1 ESRCH
orphan: getppid changed after its parent exited: yes
clone child (exit signal SIGUSR1): plain waitpid -1 ECHILD, __WCLONE found it yes, exited 6
its exit signal: SIGUSR1
SIGSTOP+SIGCONT during a blocked read: stopped yes, then completed
SIGSTOP+SIGCONT during a blocked poll: stopped yes, then completed
"#;

#[test]
fn threads_natively() {
    Run::native(resource("threads"), NO_ARGS).run().assert_code(0).assert_stdout(THREADS);
}

#[test]
fn threads_match_linux() {
    let (_, sandboxed) =
        compare_runs(Run::native(resource("threads"), NO_ARGS), Run::sandbox(resource("threads"), NO_ARGS));
    sandboxed.assert_code(0).assert_stdout(THREADS);
}

#[test]
fn signals_natively() {
    Run::native(resource("signals"), NO_ARGS).run().assert_code(0).assert_stdout(SIGNALS);
}

#[test]
fn signals_match_linux() {
    let (_, sandboxed) =
        compare_runs(Run::native(resource("signals"), NO_ARGS), Run::sandbox(resource("signals"), NO_ARGS));
    sandboxed.assert_code(0).assert_stdout(SIGNALS);
}

/// `procs BUSYBOX DIR` with its own scratch directory (the sandbox sees an
/// empty host directory through its overlay, its writes kept there).
fn procs(run: Side, dir: &TempDir) -> Run {
    let args = [busybox().to_string_lossy().into_owned(), dir.path().to_string_lossy().into_owned()];
    run(resource("procs"), &args)
}

#[test]
fn procs_natively() {
    let dir = TempDir::new("procs");
    procs(Run::native, &dir).run().assert_code(0).assert_stdout(PROCS);
}

#[test]
fn procs_match_linux() {
    let (native_dir, sandbox_dir) = (TempDir::new("procs"), TempDir::new("procs-sandbox"));
    let (_, sandboxed) = compare_runs(procs(Run::native, &native_dir), procs(Run::sandbox, &sandbox_dir));
    sandboxed.assert_code(0).assert_stdout(PROCS);
}

/// Asserts `proc_bench`'s report: its four lines, each `name median_ns`.
fn assert_bench_report(out: &Outcome) {
    out.assert_code(0);
    let text = out.stdout_str();
    let names: Vec<&str> = text.lines().filter_map(|l| l.split_once(' ').map(|(name, _)| name)).collect();
    assert_eq!(
        names,
        ["fork_exec_wait", "pipe_roundtrip", "thread_create", "page_fault"],
        "`{}` printed {text:?}",
        out.label
    );
    for line in text.lines() {
        let ns = line.split_once(' ').and_then(|(_, v)| v.parse::<u64>().ok());
        assert!(ns.is_some_and(|v| v > 0), "`{}`: bad line {line:?}", out.label);
    }
}

/// `proc_bench 20 BUSYBOX true`.
fn proc_bench(run: Side) -> Run {
    let args = ["20".to_owned(), busybox().to_string_lossy().into_owned(), "true".to_owned()];
    run(resource("proc_bench"), &args)
}

#[test]
fn proc_bench_natively() {
    assert_bench_report(&proc_bench(Run::native).run());
    // A program that cannot run is a failure, not a number.
    let out = Run::native(resource("proc_bench"), &["3", "/nonexistent/rf-program"]).run();
    out.assert_code(3).assert_stdout("");
}

#[test]
fn proc_bench_in_the_sandbox() {
    assert_bench_report(&proc_bench(Run::sandbox).run());
}

const CREDS: &str = r#"ids: uid 0 euid 0 resuid 0 0 0, gid 0 egid 0 resgid 0 0 0
setgroups(30 10 20): 0, getgroups 3: 10 20 30, getgroups(1) -1 EINVAL
caps: effective 0xa80425fb permitted 0xa80425fb inheritable 0 (the container set: yes)
capset adding CAP_SYS_ADMIN: -1 EPERM
capset dropping CAP_CHOWN from effective: 0, effective has it no, permitted has it yes
bounding: CAP_KILL 1, CAP_SYS_ADMIN 0
ambient raise without inheritable: -1 EPERM
setresuid(1000): 0, uid 1000, effective 0 permitted 0
back to 0: setuid -1 EPERM, setresuid -1 EPERM
kill(root parent, 0): -1 EPERM
with KEEPCAPS: setresuid 0, effective 0, permitted is the container set yes
seteuid(1000): 0, effective 0; seteuid(0): 0, effective is the container set yes
PR_SET_NAME: "a-very-long-thr"
no_new_privs: 0, set 0, now 1
PR_SET_PDEATHSIG: grandchild got SIGUSR1 (asked 10)
subreaper 1: the orphan's parent is us yes, and we reaped it yes
umask: old 022, now 027
"#;

#[test]
fn creds_match_linux() {
    if !running_as_root() {
        eprintln!("skipped: the native run of `creds` needs root");
        return;
    }
    let (native, sandboxed) =
        compare_runs(Run::native(resource("creds"), NO_ARGS), Run::sandbox(resource("creds"), NO_ARGS));
    native.assert_code(0).assert_stdout(CREDS);
    sandboxed.assert_code(0).assert_stdout(CREDS);
}

const MEMORY: &str = r#"shrink: same address yes, data kept yes
grow in place: same address yes, data kept yes, new pages zero yes
grow blocked: ENOMEM
grow with MAYMOVE: moved yes, data kept yes, tail writable yes
old range after the move: mincore ENOMEM
MREMAP_FIXED: at the target yes, data kept yes
mremap errors: unaligned EINVAL, FIXED without MAYMOVE EINVAL, unmapped EFAULT, across two mappings EFAULT
MADV_DONTNEED: ok, page 0 kept yes, pages 1-2 zero yes, page 3 kept yes
MADV_DONTNEED on MAP_SHARED: ok, contents kept yes
hints: WILLNEED ok, SEQUENTIAL ok, HUGEPAGE ok; unknown advice EINVAL, unaligned EINVAL, over a hole ENOMEM
msync: MS_SYNC ok, ASYNC|SYNC EINVAL, unaligned EINVAL, unmapped ENOMEM
mincore: ok, touched pages resident yes
MAP_FIXED_NOREPLACE over a mapping: EEXIST, on a free page ok at the address yes
MAP_GROWSDOWN: ok, usable yes
mremap after fork: child ok yes, parent's copy untouched yes
syscall result in a copy-on-write page the child read: child sees it yes, parent's copy untouched yes
pipe read into a buffer crossing into unmapped memory: 3 bytes
"#;

#[test]
fn memory_matches_linux() {
    let (native, sandboxed) =
        compare_runs(Run::native(resource("memory"), NO_ARGS), Run::sandbox(resource("memory"), NO_ARGS));
    native.assert_code(0).assert_stdout(MEMORY);
    sandboxed.assert_code(0).assert_stdout(MEMORY);
}

const SHARED_FILES: &str = r#"mapping sees the file: yes
read(2) sees a store through the mapping: yes
the mapping sees write(2): yes
a second open's mapping shares the pages: yes
MAP_PRIVATE store stays private: yes
a child's stores (inherited and own mapping) reach the parent: yes
PROT_WRITE shared on a read-only fd: EACCES
read-only shared mapping follows later writes: yes
msync: 0
after mprotect round trip still shared: yes
file after unmap: 12288 bytes, via-map yes, Z yes, child yes, via-write yes, private store absent yes
shared futex across processes: woken
"#;

#[test]
fn shared_file_mappings_match_linux() {
    let dir = TempDir::new("shared-files");
    let native = Run::native(resource("shared_files"), &[dir.path().to_string_lossy().into_owned()]);
    // The sandbox's /tmp is its own tmpfs.
    let (native, sandboxed) = compare_runs(native, Run::sandbox(resource("shared_files"), &["/tmp"]));
    native.assert_code(0).assert_stdout(SHARED_FILES);
    sandboxed.assert_code(0).assert_stdout(SHARED_FILES);
}

/// Vector registers (AVX2 ymm, AVX-512 zmm) survive preemptive switches
/// between processes and between threads. Lines for a CPU without the
/// feature say so on both sides.
#[test]
fn vector_registers_survive_task_switches() {
    let (native, sandboxed) =
        compare_runs(Run::native(resource("fpu_switch"), NO_ARGS), Run::sandbox(resource("fpu_switch"), NO_ARGS));
    native.assert_code(0);
    sandboxed.assert_code(0);
    let text = native.stdout_str();
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(!text.contains(" no"), "natively: {text}");
}
