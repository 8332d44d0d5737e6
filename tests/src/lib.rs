//! Helpers for the integration tests.
//!
//! The tests drive the real `ringfence` binary: each behaviour test runs a
//! program natively and under `ringfence do`, and compares stdout and the exit
//! status. This crate finds the pieces (the binary, busybox, the C programs of
//! `resources/c`), runs processes with a hard timeout so that no test can hang,
//! and formats mismatches so that a failure says what differed.
//!
//! `/dev/kvm` and a built `ringfence` are required: a missing binary is a
//! failure with a message, never a skip.

#[allow(unsafe_code)]
mod sys;

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use libc::{SIGINT, SIGKILL, SIGTERM};

/// Longest any child may run before the harness kills it and fails the test.
pub const HARD_TIMEOUT: Duration = Duration::from_secs(30);

/// How often a waiting harness polls its child.
const POLL: Duration = Duration::from_millis(2);

/// The platform the sandbox runs on in these tests: `RINGFENCE_PLATFORM`
/// (`kvm` or `ptrace`), or ringfence's default when unset.
pub fn sandbox_platform() -> Option<String> {
    std::env::var("RINGFENCE_PLATFORM").ok().filter(|p| !p.is_empty())
}

/// `ringfence`, with `--platform P` when RINGFENCE_PLATFORM is set: for the
/// OCI commands, whose sandbox follows the platform of the command that
/// starts it.
pub fn ringfence_command() -> Command {
    let mut cmd = Command::new(ringfence_bin());
    if let Some(p) = sandbox_platform() {
        cmd.arg("--platform").arg(p);
    }
    cmd
}

/// Whether the tests run with real uid 0 (native runs that prepare files
/// as root or drop to other credentials need it; they skip otherwise).
pub fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent directory").to_path_buf()
}

/// The cargo target directory: `CARGO_TARGET_DIR` or `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            }
        }
        _ => workspace_root().join("target"),
    }
}

/// Builds the busybox bundle (`resources/bundle/busybox.sh`, its
/// config.json `ringfence spec`'s) into `target/bundle/NAME` and returns
/// that directory. Test binaries that may run at once use different names.
pub fn build_busybox_bundle(name: &str) -> PathBuf {
    let dest = workspace_root().join("target/bundle").join(name);
    let status = Command::new("bash")
        .arg(workspace_root().join("resources/bundle/busybox.sh"))
        .arg(&dest)
        .env("RINGFENCE", ringfence_bin())
        .status()
        .expect("run resources/bundle/busybox.sh");
    assert!(status.success(), "resources/bundle/busybox.sh failed");
    dest
}

/// The `ringfence` binary under test: `RINGFENCE_BIN` (relative to the
/// workspace root), else the one built beside these tests, else the release
/// build, else the debug build. Panics with instructions when none exists.
pub fn ringfence_bin() -> PathBuf {
    static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("RINGFENCE_BIN").filter(|b| !b.is_empty()) {
            // cargo runs tests in tests/; a relative path means the workspace.
            let bin = workspace_root().join(bin);
            return if is_executable(&bin) {
                Ok(bin)
            } else {
                Err(format!("RINGFENCE_BIN={} is not an executable file", bin.display()))
            };
        }
        // The binary built with these tests (target/<triple>/release/ with
        // .cargo/config.toml's build.target), then the usual places.
        let beside = std::env::current_exe().ok().and_then(|t| Some(t.parent()?.parent()?.join("ringfence")));
        let candidates: Vec<PathBuf> = beside
            .into_iter()
            .chain([target_dir().join("release/ringfence"), target_dir().join("debug/ringfence")])
            .collect();
        candidates.iter().find(|c| is_executable(c)).cloned().ok_or_else(|| {
            let looked: Vec<String> = candidates.iter().map(|c| c.display().to_string()).collect();
            format!(
                "the ringfence binary was not found (looked at {}): run \
                     `cargo build --release --workspace` first, or set RINGFENCE_BIN",
                looked.join(", ")
            )
        })
    });
    match found {
        Ok(bin) => bin.clone(),
        Err(msg) => panic!("{msg}"),
    }
}

/// The static busybox used by the behaviour tests: `RINGFENCE_TEST_BUSYBOX`,
/// else `/usr/bin/busybox`, else `/bin/busybox` (Debian's `busybox-static`).
pub fn busybox() -> PathBuf {
    let candidates: Vec<PathBuf> = std::env::var_os("RINGFENCE_TEST_BUSYBOX")
        .filter(|b| !b.is_empty())
        .map(PathBuf::from)
        .into_iter()
        .chain(["/usr/bin/busybox", "/bin/busybox"].map(PathBuf::from))
        .collect();
    candidates
        .iter()
        .find(|c| is_executable(c))
        .cloned()
        .unwrap_or_else(|| panic!("busybox not found (looked at {candidates:?}): apt-get install busybox-static"))
}

/// Directory of the built C test programs: `RINGFENCE_RESOURCES`, else
/// `<workspace>/target/resources` (where `resources/build.sh` puts them).
pub fn resources_dir() -> PathBuf {
    std::env::var_os("RINGFENCE_RESOURCES")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/resources"))
}

/// Path of the C test program `name` (e.g. `"segv"`). Runs
/// `resources/build.sh` once per test process (it is idempotent and only
/// rebuilds what changed), then panics if the program is still missing.
pub fn resource(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let script = workspace_root().join("resources/build.sh");
        let out = Command::new("bash")
            .arg(&script)
            .env("RINGFENCE_RESOURCES", resources_dir())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} failed ({}):\n{}{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    });
    if let Err(msg) = built {
        panic!("{msg}");
    }
    let path = resources_dir().join(name);
    assert!(is_executable(&path), "test program {} is missing: run resources/build.sh", path.display());
    path
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A string unique to this call in this machine's lifetime, safe in argv:
/// tests put it on a command line and later look for processes carrying it.
pub fn unique_marker(what: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("rf-test-{what}-{}-{nanos}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// What a child reads on stdin.
#[derive(Debug, Clone)]
enum Input {
    /// `/dev/null`.
    Null,
    /// These bytes, then end of file (written by a helper thread).
    Bytes(Vec<u8>),
}

/// A program to run natively or under `ringfence do`, built up with methods
/// and started with [`Run::run`] (wait for it) or [`Run::spawn`].
///
/// The child gets stdin from `/dev/null` unless [`Run::stdin`] is used, its
/// own process group (so a timeout kills everything it started), and a hard
/// timeout of [`HARD_TIMEOUT`].
#[derive(Debug)]
pub struct Run {
    label: String,
    cmd: Command,
    input: Input,
    timeout: Duration,
}

impl Run {
    /// `program args...` run directly on the host.
    pub fn native<S: AsRef<OsStr>>(program: impl AsRef<OsStr>, args: &[S]) -> Self {
        let mut cmd = Command::new(program.as_ref());
        cmd.args(args);
        Self::new(format!("native {}", show_argv(program.as_ref(), args)), cmd)
    }

    /// `ringfence do -- program args...`.
    pub fn sandbox<S: AsRef<OsStr>>(program: impl AsRef<OsStr>, args: &[S]) -> Self {
        Self::sandbox_flags(&[], program, args)
    }

    /// `ringfence do FLAGS... -- program args...`.
    pub fn sandbox_flags<S: AsRef<OsStr>>(flags: &[&str], program: impl AsRef<OsStr>, args: &[S]) -> Self {
        let mut cmd = Command::new(ringfence_bin());
        cmd.arg("do");
        let mut flags: Vec<&str> = flags.to_vec();
        let platform = sandbox_platform();
        // An explicit --platform wins over the environment's.
        if let Some(p) = platform.as_ref().filter(|_| !flags.contains(&"--platform")) {
            flags.splice(0..0, ["--platform", p.as_str()]);
        }
        cmd.args(&flags).arg("--").arg(program.as_ref()).args(args);
        let flags = if flags.is_empty() { String::new() } else { format!("{} ", flags.join(" ")) };
        Self::new(format!("ringfence do {flags}-- {}", show_argv(program.as_ref(), args)), cmd)
    }

    /// `ringfence ARGS...` exactly as given (for flag and error tests).
    pub fn ringfence<S: AsRef<OsStr>>(args: &[S]) -> Self {
        let mut cmd = Command::new(ringfence_bin());
        cmd.args(args);
        let shown: Vec<String> = args.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect();
        Self::new(format!("ringfence {}", shown.join(" ")), cmd)
    }

    fn new(label: String, cmd: Command) -> Self {
        Self { label, cmd, input: Input::Null, timeout: HARD_TIMEOUT }
    }

    /// Feeds `bytes` on stdin, then end of file.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.input = Input::Bytes(bytes.into());
        self
    }

    /// Starts from an empty environment (then add variables with [`Run::env`]).
    pub fn env_clear(mut self) -> Self {
        self.cmd.env_clear();
        self
    }

    /// Sets one environment variable for the child.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    /// Replaces the hard timeout ([`HARD_TIMEOUT`] by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs to completion and returns what happened. Panics (failing the
    /// test) if the child outlives its hard timeout; it is killed first.
    pub fn run(self) -> Outcome {
        self.spawn().wait()
    }

    /// Starts the child; finish with [`Running::wait`]. Dropping the handle
    /// without waiting kills the child's process group.
    pub fn spawn(mut self) -> Running {
        self.cmd
            .stdin(match self.input {
                Input::Null => Stdio::null(),
                Input::Bytes(_) => Stdio::piped(),
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let started = Instant::now();
        let mut child = self.cmd.spawn().unwrap_or_else(|e| panic!("cannot start `{}`: {e}", self.label));
        if let Input::Bytes(bytes) = self.input {
            let mut stdin = child.stdin.take().expect("stdin is piped");
            // A child that exits without reading everything makes this write
            // fail with EPIPE; that is the child's business, not an error here.
            thread::spawn(move || {
                let _ = stdin.write_all(&bytes);
            });
        }
        let stdout = collect(child.stdout.take().expect("stdout is piped"));
        let stderr = collect(child.stderr.take().expect("stderr is piped"));
        Running { label: self.label, child: Some(child), started, deadline: started + self.timeout, stdout, stderr }
    }
}

/// Reads a pipe to its end on a helper thread.
fn collect(mut pipe: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

fn show_argv<S: AsRef<OsStr>>(program: &OsStr, args: &[S]) -> String {
    let mut s = program.to_string_lossy().into_owned();
    for a in args {
        let a = a.as_ref().to_string_lossy();
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'') {
            let _ = write!(s, " {a:?}");
        } else {
            let _ = write!(s, " {a}");
        }
    }
    s
}

/// A started child. Dropping it before [`Running::wait`] kills its process
/// group, so a failing assertion never leaves processes behind.
#[derive(Debug)]
pub struct Running {
    label: String,
    child: Option<Child>,
    started: Instant,
    deadline: Instant,
    stdout: Receiver<Vec<u8>>,
    stderr: Receiver<Vec<u8>>,
}

impl Running {
    /// The child's pid (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Time since the child was started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Sends `sig` to the child process only (not its group), as a user's
    /// `kill PID` would.
    pub fn signal(&self, sig: libc::c_int) {
        sys::signal_process(self.pid(), sig).unwrap_or_else(|e| panic!("cannot signal `{}`: {e}", self.label));
    }

    /// Waits for the child to exit and for its stdout and stderr to close.
    ///
    /// Panics if that takes past the hard timeout: the child's process
    /// group is killed and the test fails with what it printed so far.
    pub fn wait(mut self) -> Outcome {
        let mut child = self.child.take().expect("the child is waited for once");
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => panic!("waiting for `{}`: {e}", self.label),
            }
            if Instant::now() >= self.deadline {
                kill_group(&mut child);
                let stderr = self.stderr.recv_timeout(Duration::from_secs(1));
                panic!(
                    "`{}` did not finish within {:?} and was killed; stderr so far:\n{}",
                    self.label,
                    self.deadline - self.started,
                    stderr.map(|e| tail(&e)).unwrap_or_else(|_| "(still open)".to_owned())
                );
            }
            thread::sleep(POLL);
        };
        let elapsed = self.started.elapsed();
        let stdout = self.drain(&self.stdout, "stdout");
        let stderr = self.drain(&self.stderr, "stderr");
        Outcome { label: self.label.clone(), status, stdout, stderr, elapsed }
    }

    /// Receives a pipe's contents; after the child exited they arrive at
    /// once unless a leftover process still holds the pipe open.
    fn drain(&self, rx: &Receiver<Vec<u8>>, which: &str) -> Vec<u8> {
        let wait = self.deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(2));
        match rx.recv_timeout(wait) {
            Ok(bytes) => bytes,
            Err(RecvTimeoutError::Timeout) => {
                let _ = sys::signal_group(self.pid(), SIGKILL);
                panic!(
                    "`{}` exited but its {which} stayed open for {wait:?}: \
                     a process it started is still running",
                    self.label
                )
            }
            Err(RecvTimeoutError::Disconnected) => Vec::new(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            kill_group(child);
        }
    }
}

/// SIGKILLs the child's process group and reaps the child.
fn kill_group(child: &mut Child) {
    let _ = sys::signal_group(child.id(), SIGKILL);
    let _ = child.kill();
    let _ = child.wait();
}

/// How a finished child ended and what it printed.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The command line, for messages.
    pub label: String,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// From start to exit.
    pub elapsed: Duration,
}

impl Outcome {
    /// The exit status as a shell reports it: the exit code, or 128 + the
    /// signal number if a signal killed the process (SIGSEGV → 139).
    pub fn code(&self) -> i32 {
        self.status.code().or_else(|| self.status.signal().map(|s| 128 + s)).unwrap_or(-1)
    }

    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    /// Asserts the shell-style exit status, showing stderr on failure.
    pub fn assert_code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code(),
            expected,
            "`{}` exited with {} ({:?}), expected {expected}\nstdout:\n{}\nstderr:\n{}",
            self.label,
            self.code(),
            self.status,
            tail(&self.stdout),
            tail(&self.stderr)
        );
        self
    }

    /// Asserts that stdout is exactly `expected`.
    pub fn assert_stdout(&self, expected: impl AsRef<[u8]>) -> &Self {
        if let Some(diff) = describe_difference(expected.as_ref(), &self.stdout) {
            panic!(
                "`{}`: stdout differs from the expected output: {diff}\nstderr:\n{}",
                self.label,
                tail(&self.stderr)
            );
        }
        self
    }
}

/// Asserts that the sandboxed run printed the same stdout and ended with the
/// same exit status as the native run.
pub fn assert_same(native: &Outcome, sandboxed: &Outcome) {
    let mut problems = String::new();
    if native.code() != sandboxed.code() {
        let _ = writeln!(
            problems,
            "exit status: native {} ({:?}), sandbox {} ({:?})",
            native.code(),
            native.status,
            sandboxed.code(),
            sandboxed.status
        );
    }
    if let Some(diff) = describe_difference(&native.stdout, &sandboxed.stdout) {
        let _ = writeln!(problems, "stdout: {diff}");
    }
    assert!(
        problems.is_empty(),
        "`{}` differs from `{}`:\n{problems}sandbox stderr:\n{}",
        sandboxed.label,
        native.label,
        tail(&sandboxed.stderr)
    );
}

/// Runs `program args...` natively and in the sandbox, asserts the same
/// stdout and exit status, and returns both outcomes (native, sandbox).
pub fn compare<S: AsRef<OsStr>>(program: impl AsRef<OsStr>, args: &[S]) -> (Outcome, Outcome) {
    compare_runs(Run::native(&program, args), Run::sandbox(&program, args))
}

/// [`compare`] with the same bytes on stdin for both runs.
pub fn compare_stdin<S: AsRef<OsStr>>(program: impl AsRef<OsStr>, args: &[S], input: &[u8]) -> (Outcome, Outcome) {
    compare_runs(Run::native(&program, args).stdin(input), Run::sandbox(&program, args).stdin(input))
}

/// Runs both (one after the other) and asserts the same stdout and status.
pub fn compare_runs(native: Run, sandboxed: Run) -> (Outcome, Outcome) {
    let native = native.run();
    let sandboxed = sandboxed.run();
    assert_same(&native, &sandboxed);
    (native, sandboxed)
}

/// [`compare`] for a busybox applet: `busybox APPLET ARGS...`.
pub fn compare_busybox(applet_and_args: &[&str]) -> (Outcome, Outcome) {
    compare(busybox(), applet_and_args)
}

/// [`compare_stdin`] for a busybox applet.
pub fn compare_busybox_stdin(applet_and_args: &[&str], input: &[u8]) -> (Outcome, Outcome) {
    compare_stdin(busybox(), applet_and_args, input)
}

/// `None` if equal, else a short description: lengths, the first differing
/// offset and the bytes around it (outputs may be megabytes long).
pub fn describe_difference(expected: &[u8], actual: &[u8]) -> Option<String> {
    if expected == actual {
        return None;
    }
    let at = expected.iter().zip(actual).position(|(a, b)| a != b).unwrap_or(expected.len().min(actual.len()));
    let window = |b: &[u8]| {
        let start = at.saturating_sub(64);
        let end = (at + 64).min(b.len());
        format!("{:?}", String::from_utf8_lossy(b.get(start..end).unwrap_or_default()))
    };
    Some(format!(
        "expected {} bytes, got {}; first difference at byte {at}\n  expected ...{}...\n  got      ...{}...",
        expected.len(),
        actual.len(),
        window(expected),
        window(actual)
    ))
}

/// The last 4 KiB of `bytes` as text, for failure messages.
fn tail(bytes: &[u8]) -> String {
    const MAX: usize = 4096;
    let start = bytes.len().saturating_sub(MAX);
    let prefix = if start > 0 { "[...]" } else { "" };
    format!("{prefix}{}", String::from_utf8_lossy(bytes.get(start..).unwrap_or_default()))
}

/// Processes (other than this one) whose command line contains `marker`,
/// as `(pid, command line)`.
pub fn processes_with(marker: &str) -> Vec<(u32, String)> {
    let me = std::process::id();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        // The process may be gone by now; that is the point of the scan.
        let Ok(raw) = fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(marker) {
            found.push((pid, cmdline.trim_end().to_owned()));
        }
    }
    found
}

/// Waits up to `within` for every process carrying `marker` to be gone and
/// panics, listing them, if some remain (they are then SIGKILLed).
pub fn assert_no_process_with(marker: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let left = processes_with(marker);
        if left.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            for (pid, _) in &left {
                let _ = sys::signal_process(*pid, SIGKILL);
            }
            panic!("processes left behind (marker {marker}): {left:#?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// A temporary directory removed on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(what: &str) -> Self {
        let path = std::env::temp_dir().join(unique_marker(what));
        fs::create_dir(&path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` to `name` in this directory with `mode`.
    pub fn file(&self, name: &str, contents: &[u8], mode: u32) -> PathBuf {
        let path = self.path.join(name);
        fs::write(&path, contents).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        fs::set_permissions(&path, fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("cannot chmod {}: {e}", path.display()));
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// `n` bytes of deterministic pseudo-random data covering all byte values.
pub fn pseudo_random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            // xorshift64*
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes()[7]
        })
        .collect()
}

/// Lines of text `line-<i>-<word>` for the text filters (sort, tr, wc...).
pub fn sample_text(lines: usize) -> Vec<u8> {
    const WORDS: [&str; 8] = ["alpha", "Bravo", "charlie", "delta", "Echo", "foxtrot", "golf", "hotel"];
    let mut s = String::new();
    for i in 0..lines {
        let word = WORDS[(i * 7 + 3) % WORDS.len()];
        let _ = writeln!(s, "{word} line-{} {}", (i * 7919) % 1000, i % 13);
    }
    s.into_bytes()
}
