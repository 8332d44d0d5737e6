//! Shell scripts (resources/sh, installed at /sh in the busybox test rootfs)
//! run by busybox sh: natively in a chroot of the tree and in the sandbox
//! with the tree as `--rootfs`, comparing stdout, stderr and the exit
//! status. The scripts exercise what a shell does with processes: pipelines,
//! `$(...)`, subshells, background jobs, `wait`, `kill`, `trap`, redirections
//! and here-documents. Each is deterministic (no pids, times or races in
//! its output) and checks itself: a failed check prints a `FAIL` line.
//!
//! The native runs are also checked on their own, so a script is known to
//! be right before the sandbox runs it.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use ringfence_tests::{assert_same, describe_difference, workspace_root, Outcome, Run};

/// The busybox tree, built (or found up to date) once per test process.
fn rootfs() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let script = workspace_root().join("resources/rootfs/busybox.sh");
        let status = Command::new("bash").arg(script).status().expect("run busybox.sh");
        assert!(status.success(), "resources/rootfs/busybox.sh failed");
        workspace_root().join("target/rootfs/busybox")
    })
}

/// chroot(8), found by absolute path: the runs get a PATH of the tree's.
fn chroot() -> &'static str {
    ["/usr/sbin/chroot", "/sbin/chroot", "/usr/bin/chroot"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("chroot(8) not found (coreutils)")
}

fn tree() -> &'static str {
    rootfs().to_str().expect("utf-8 path")
}

/// Both sides get the same small environment, whatever the test's is.
fn with_env(run: Run) -> Run {
    run.env_clear().env("PATH", "/bin")
}

fn script(name: &str) -> String {
    format!("/sh/{name}.sh")
}

/// The script runs under a parent shell on both sides: in the sandbox the
/// first process is the container's init, which Linux protects from
/// signals it has no handler for (`kill -TERM $$` would do nothing there).
fn under_parent(name: &str) -> String {
    format!("/bin/sh {}; exit $?", script(name))
}

fn native(name: &str) -> Run {
    with_env(Run::native(chroot(), &[tree(), "/bin/sh", "-c", &under_parent(name)]))
}

fn sandboxed(name: &str) -> Run {
    with_env(Run::sandbox_flags(&["--rootfs", tree()], "/bin/sh", &["-c".to_owned(), under_parent(name)]))
}

/// Asserts what a native run of every script must show: its exit status,
/// no FAIL line, and some output.
fn assert_passes(out: &Outcome, code: i32) {
    out.assert_code(code);
    let stdout = out.stdout_str();
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert!(failed.is_empty(), "`{}` failed checks:\n{}\nstderr:\n{}", out.label, failed.join("\n"), out.stderr_str());
    assert!(!stdout.is_empty(), "`{}` printed nothing; stderr:\n{}", out.label, out.stderr_str());
}

/// Runs NAME natively (which must pass) and in the sandbox; asserts the
/// same stdout, stderr and exit status.
fn same(name: &str, code: i32) {
    let native = native(name).run();
    assert_passes(&native, code);
    let sandboxed = sandboxed(name).run();
    assert_same(&native, &sandboxed);
    let (n, s) = (job_reports_dropped(&native.stderr), job_reports_dropped(&sandboxed.stderr));
    if let Some(diff) = describe_difference(&n, &s) {
        panic!("`{}`: stderr differs from the native run's: {diff}", sandboxed.label);
    }
}

/// stderr without ash's reports of background jobs killed by a signal
/// ("Terminated", "Killed", ...). ash prints one only when `wait` itself
/// reaps the job; when its SIGCHLD handling reaped the job first (a race
/// in ash, decided by scheduling, on Linux too) it prints none. Exit
/// statuses are still checked by the scripts.
fn job_reports_dropped(stderr: &[u8]) -> Vec<u8> {
    const REPORTS: &[&str] = &["Terminated", "Killed", "Hangup", "User defined signal 1", "User defined signal 2"];
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| !REPORTS.contains(l))
        .flat_map(|l| l.bytes().chain(core::iter::once(b'\n')))
        .collect()
}

/// `scripts! { name => exit status, "what it exercises"; ... }`: one sandbox
/// comparison per script, plus the table [`SCRIPTS`] for the native checks.
macro_rules! scripts {
    ($($name:ident => $code:expr, $needs:literal $(, ignore = $why:literal)?;)*) => {
        /// Every script with the exit status it ends with.
        const SCRIPTS: &[(&str, i32)] = &[$((stringify!($name), $code)),*];

        /// The sandbox comparisons, one per script.
        mod sandbox {
            $(
                #[test]
                #[doc = concat!("Uses ", $needs, ".")]
                $(#[ignore = $why])?
                fn $name() {
                    super::same(stringify!($name), $code);
                }
            )*
        }
    };
}

scripts! {
    pipelines => 0, "fork/exec/wait, pipes and SIGPIPE";
    exit_status => 3, "fork/exec/wait, pipes and kill";
    cmdsubst => 0, "fork/exec/wait and pipes";
    subshell => 4, "fork/exec/wait, pipes and kill";
    loops => 0, "fork/exec/wait and pipes";
    functions => 0, "fork/exec/wait and pipes";
    trap_exit => 7, "fork/exec/wait and pipes";
    trap_signal => 143, "fork/exec/wait, pipes, kill and signal handlers";
    bg_kill => 0, "fork/exec/wait, pipes, kill, SIGSTOP/SIGCONT and signal handlers";
    bg_jobs => 0, "fork/exec/wait, pipes and mkfifo";
    heredoc => 0, "fork/exec/wait and pipes";
    redirect => 0, "fork/exec/wait and pipes";
    exec_fds => 6, "fork/exec/wait and pipes";
    read_loop => 0, "fork/exec/wait and pipes";
    set_e => 4, "fork/exec/wait and pipes";
    xargs_sort => 0, "fork/exec/wait and pipes";
}

#[test]
fn every_script_passes_natively() {
    for &(name, code) in SCRIPTS {
        assert_passes(&native(name).run(), code);
    }
}

#[test]
fn every_script_is_listed() {
    let dir = workspace_root().join("resources/sh");
    let mut on_disk: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".sh").map(str::to_owned))
        .filter(|n| n != "lib")
        .collect();
    on_disk.sort_unstable();
    let mut listed: Vec<String> = SCRIPTS.iter().map(|(n, _)| (*n).to_owned()).collect();
    listed.sort_unstable();
    assert_eq!(on_disk, listed, "resources/sh/*.sh and the scripts! table of tests/tests/shell.rs differ");
}
