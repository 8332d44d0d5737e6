//! The commands that go through a running container's control channel
//! (control.sock): exec, ps, kill --all, pause/resume, events --stats,
//! wait, and a control socket fed hostile bytes, on busybox bundles
//! (resources/bundle/busybox.sh).

use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ringfence_tests::{build_busybox_bundle, ringfence_bin, sandbox_platform, Outcome, Run, TempDir};
use serde_json::{json, Value};

/// The bundle the script builds: its config.json is `ringfence spec`'s.
fn template() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build_busybox_bundle("busybox"))
}

/// A temporary --root with one running container `c` running `args`.
struct Env {
    dir: TempDir,
    /// The container's id: unique in the test run (the default cgroup,
    /// ringfence/<id>, is per host, as runc's).
    id: String,
}

impl Env {
    fn running(what: &str, args: &[&str]) -> Self {
        let env = Self { dir: TempDir::new(what), id: format!("ctl-{what}-{}", std::process::id()) };
        std::fs::create_dir(env.dir.path().join("root")).expect("mkdir root");
        let tpl = template();
        let bundle = env.dir.path().join("bundle");
        std::fs::create_dir(&bundle).expect("mkdir bundle");
        let rootfs = std::fs::canonicalize(tpl.join("rootfs")).expect("template rootfs");
        std::os::unix::fs::symlink(rootfs, bundle.join("rootfs")).expect("symlink rootfs");
        let mut config: Value = serde_json::from_slice(&std::fs::read(tpl.join("config.json")).expect("read config"))
            .expect("parse config");
        config["process"]["args"] = json!(args);
        config["process"]["terminal"] = json!(false);
        std::fs::write(bundle.join("config.json"), serde_json::to_vec_pretty(&config).expect("json"))
            .expect("write config");
        // Detached, with its stdio not piped (or waiting for the pipes would
        // wait for the container).
        // On RINGFENCE_PLATFORM's platform (create hands it to the sandbox
        // process; the other commands only talk to it).
        let platform = sandbox_platform().map(|p| vec!["--platform".to_owned(), p]).unwrap_or_default();
        let status = Command::new(ringfence_bin())
            .arg("--root")
            .arg(env.root())
            .args(platform)
            .args(["run", "--detach", "--bundle"])
            .arg(&bundle)
            .arg(env.id())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(env.sandbox_stderr()).expect("stderr file"))
            .status()
            .expect("run ringfence");
        assert!(status.success(), "run --detach failed: {}", env.read_sandbox_stderr());
        env
    }

    fn id(&self) -> &str {
        &self.id
    }

    /// Where the sandbox process's stderr goes (its log, strace lines).
    fn sandbox_stderr(&self) -> PathBuf {
        self.dir.path().join("sandbox-stderr")
    }

    fn read_sandbox_stderr(&self) -> String {
        std::fs::read_to_string(self.sandbox_stderr()).unwrap_or_default()
    }

    fn root(&self) -> String {
        self.dir.path().join("root").to_string_lossy().into_owned()
    }

    fn rf(&self, args: &[&str]) -> Outcome {
        self.rf_run(args, None)
    }

    fn rf_run(&self, args: &[&str], stdin: Option<&[u8]>) -> Outcome {
        let root = self.root();
        let mut all = vec!["--root", &root];
        all.extend_from_slice(args);
        let mut run = Run::ringfence(&all).timeout(Duration::from_secs(60));
        if let Some(input) = stdin {
            run = run.stdin(input.to_vec());
        }
        run.run()
    }

    /// `exec --detach ARGS`: its stdio not piped, since the process keeps
    /// them (as with runc, waiting for the pipes would wait for it).
    fn exec_detached(&self, args: &[&str]) {
        let err = self.dir.path().join("exec-stderr");
        let status = Command::new(ringfence_bin())
            .arg("--root")
            .arg(self.root())
            .args(["exec", "--detach"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .status()
            .expect("run ringfence");
        let why = std::fs::read_to_string(&err).unwrap_or_default();
        assert!(status.success(), "exec --detach {args:?} failed: {why}");
    }

    fn status(&self) -> String {
        let out = self.rf(&["state", self.id()]);
        let s: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        s["status"].as_str().unwrap_or("").to_owned()
    }

    fn wait_status(&self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.status() != want {
            assert!(Instant::now() < deadline, "never became {want}: {}", self.status());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("root").join(&self.id).join("control.sock")
    }

    /// A file's contents in the container, through exec.
    fn cat(&self, path: &str) -> String {
        let out = self.rf(&["exec", self.id(), "/bin/cat", path]);
        out.assert_code(0);
        out.stdout_str()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // A failed test must not leave sandbox processes behind.
        let _ = Command::new(ringfence_bin())
            .arg("--root")
            .arg(self.root())
            .args(["delete", "--force", self.id()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

const SLEEPER: &[&str] = &["/bin/sleep", "60"];

#[test]
fn exec_output_status_stdin_and_flags() {
    let env = Env::running("ctl-exec", SLEEPER);
    let out = env.rf(&["exec", env.id(), "/bin/sh", "-c", "echo hello from exec; echo to stderr >&2; exit 7"]);
    out.assert_code(7);
    assert_eq!(out.stdout_str(), "hello from exec\n");
    assert_eq!(out.stderr_str(), "to stderr\n");

    let out = env.rf_run(&["exec", env.id(), "/bin/cat"], Some(b"piped in\n"));
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "piped in\n");

    let out = env.rf(&[
        "exec",
        "--env",
        "GREETING=hi there",
        "--cwd",
        "/tmp",
        "--user",
        "1000:1001",
        env.id(),
        "/bin/sh",
        "-c",
        "echo \"$GREETING\"; pwd; id -u; id -g",
    ]);
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "hi there\n/tmp\n1000\n1001\n");

    // Killed by a signal: 128 + n, as runc.
    env.rf(&["exec", env.id(), "/bin/sh", "-c", "kill -9 $$"]).assert_code(137);

    // Every exec failure is 255, "exec failed: ...", as runc's.
    let missing = env.rf(&["exec", env.id(), "/no/such/program"]);
    missing.assert_code(255);
    assert!(missing.stderr_str().contains("No such file or directory"), "{}", missing.stderr_str());

    // A terminal needs a console socket or one on stdin (a pipe here);
    // terminal.rs drives both.
    let tty = env.rf(&["exec", "--tty", env.id(), "/bin/sh"]);
    tty.assert_code(255);
    assert!(tty.stderr_str().contains("--console-socket or a terminal on stdin"), "{}", tty.stderr_str());

    // --process FILE.
    let process = env.dir.path().join("process.json");
    let p = json!({"args": ["/bin/sh", "-c", "echo $X; pwd"], "env": ["X=from-file"], "cwd": "/etc",
                   "user": {"uid": 0, "gid": 0}});
    std::fs::write(&process, p.to_string()).expect("write process.json");
    let out = env.rf(&["exec", "--process", &process.to_string_lossy(), env.id()]);
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "from-file\n/etc\n");
    assert_eq!(env.status(), "running");
}

#[test]
fn ps_lists_init_and_the_execd_process() {
    let env = Env::running("ctl-ps", SLEEPER);
    let pid_file = env.dir.path().join("exec.pid");
    env.exec_detached(&["--pid-file", &pid_file.to_string_lossy(), env.id(), "/bin/sleep", "50"]);
    let pid: u32 = std::fs::read_to_string(&pid_file).expect("pid file").trim().parse().expect("a pid");

    let table = env.rf(&["ps", env.id()]);
    table.assert_code(0);
    let text = table.stdout_str();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(header, ["UID", "PID", "PPID", "C", "TTY", "STIME", "TIME", "CMD"], "{text}");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert!(rows.iter().any(|r| r[1] == "1" && r[7..] == ["/bin/sleep", "60"]), "{text}");
    let pid_s = pid.to_string();
    assert!(rows.iter().any(|r| r[1] == pid_s && r[2] == "0" && r[7..] == ["/bin/sleep", "50"]), "{text}");
    // No terminal anywhere: TTY is "?" (terminal.rs has the other case).
    assert!(rows.iter().all(|r| r[4] == "?"), "{text}");

    let json = env.rf(&["ps", "--format", "json", env.id()]);
    json.assert_code(0);
    let pids: Vec<u32> = serde_json::from_slice(&json.stdout).expect("ps json is a list of pids");
    assert!(pids.contains(&1) && pids.contains(&pid), "{pids:?}");
}

#[test]
fn kill_all_ends_every_process() {
    let env = Env::running("ctl-kill", SLEEPER);
    env.exec_detached(&[env.id(), "/bin/sh", "-c", "trap '' TERM; sleep 50"]);
    env.exec_detached(&[env.id(), "/bin/sleep", "50"]);
    let pids: Vec<u32> = serde_json::from_slice(&env.rf(&["ps", "-f", "json", env.id()]).stdout).expect("pids");
    assert!(pids.len() >= 3, "{pids:?}");
    env.rf(&["kill", "--all", env.id(), "KILL"]).assert_code(0);
    env.wait_status("stopped");
    env.rf(&["delete", env.id()]).assert_code(0);
}

#[test]
fn kill_without_all_signals_init() {
    let env = Env::running("ctl-kill-init", SLEEPER);
    env.rf(&["kill", env.id(), "TERM"]).assert_code(0);
    env.wait_status("stopped");
    let out = env.rf(&["wait", env.id()]);
    // SIGTERM: 128 + 15.
    out.assert_code(143);
}

#[test]
fn pause_stops_the_container_and_resume_continues_it() {
    let env = Env::running(
        "ctl-pause",
        &["/bin/sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done"],
    );
    // Let the counter start.
    std::thread::sleep(Duration::from_millis(300));
    env.rf(&["pause", env.id()]).assert_code(0);
    assert_eq!(env.status(), "paused");
    let refused = env.rf(&["exec", env.id(), "/bin/true"]);
    refused.assert_code(255);
    assert!(refused.stderr_str().contains("paused"), "{}", refused.stderr_str());
    std::thread::sleep(Duration::from_secs(1));
    env.rf(&["resume", env.id()]).assert_code(0);
    assert_eq!(env.status(), "running");
    let before: u64 = env.cat("/tmp/count").trim().parse().expect("a count");
    // Two seconds of running would add about 40; paused, only the moments
    // around the pause and the two execs count.
    env.rf(&["pause", env.id()]).assert_code(0);
    std::thread::sleep(Duration::from_secs(2));
    env.rf(&["resume", env.id()]).assert_code(0);
    let after: u64 = env.cat("/tmp/count").trim().parse().expect("a count");
    assert!(after >= before && after - before < 20, "the counter ran while paused: {before} -> {after}");
    std::thread::sleep(Duration::from_millis(500));
    let later: u64 = env.cat("/tmp/count").trim().parse().expect("a count");
    assert!(later > after, "the counter did not resume: {after} -> {later}");

    // A paused container can be killed and deleted.
    env.rf(&["pause", env.id()]).assert_code(0);
    env.rf(&["kill", env.id(), "KILL"]).assert_code(0);
    env.wait_status("stopped");
    env.rf(&["delete", env.id()]).assert_code(0);
}

#[test]
fn events_stats_reports_pids_and_memory() {
    let env = Env::running("ctl-events", SLEEPER);
    let out = env.rf(&["events", "--stats", env.id()]);
    out.assert_code(0);
    let e: Value = serde_json::from_slice(&out.stdout).expect("one JSON line");
    assert_eq!(e["type"], "stats");
    assert_eq!(e["id"], env.id());
    assert!(e["data"]["pids"]["current"].as_u64().unwrap_or(0) >= 1, "{e}");
    assert!(e["data"]["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0, "{e}");
    assert!(e["data"]["cpu"]["usage"]["total"].as_u64().is_some(), "{e}");
    let bad = env.rf(&["events", "--interval", "soon", env.id()]);
    bad.assert_code(1);
}

#[test]
fn wait_returns_the_exit_status() {
    let env = Env::running("ctl-wait", &["/bin/sh", "-c", "sleep 0.5; exit 3"]);
    let out = env.rf(&["wait", env.id()]);
    out.assert_code(3);
    let v: Value = serde_json::from_slice(&out.stdout).expect("wait prints JSON");
    assert_eq!(v, json!({"id": env.id(), "exitStatus": 3}));
    env.wait_status("stopped");
    // Later callers get it too.
    env.rf(&["wait", env.id()]).assert_code(3);
}

/// Sends raw bytes and returns the reply (a frame), if any.
fn exchange(sock: &Path, bytes: &[u8]) -> Value {
    let mut s = UnixStream::connect(sock).expect("connect to control.sock");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut reply = Vec::new();
    let _ = s.read_to_end(&mut reply);
    assert!(reply.len() >= 4, "no reply to {bytes:?}");
    serde_json::from_slice(&reply[4..]).expect("the reply is JSON")
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut f = u32::try_from(body.len()).expect("short").to_le_bytes().to_vec();
    f.extend_from_slice(body);
    f
}

#[test]
fn hostile_control_requests_get_errors_and_the_container_runs_on() {
    let env = Env::running("ctl-hostile", SLEEPER);
    let sock = env.socket();
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&sock).expect("socket").permissions());
    assert_eq!(mode & 0o777, 0o600);
    let cases: Vec<Vec<u8>> = vec![
        b"garbage\x00\x01\x02\xff".to_vec(),
        0xffff_ffffu32.to_le_bytes().to_vec(),
        frame(b"{not json"),
        frame(b"{\"version\":2,\"method\":\"Processes\"}"),
        frame(b"{\"version\":1,\"method\":\"Reboot\"}"),
        frame(b"{\"version\":1,\"method\":\"ExecuteAsync\",\"params\":{\"args\":[],\"env\":[],\"cwd\":\"/\",\"uid\":0,\"gid\":0}}"),
        frame(b"{\"version\":1,\"method\":\"Signal\",\"params\":{\"signal\":99999,\"pid\":1}}"),
        frame(b"{\"version\":1,\"method\":\"Signal\",\"params\":{\"signal\":0,\"pid\":4000000}}"),
        frame(b"{\"version\":1,\"method\":\"WaitPID\",\"params\":{\"pid\":1}}"),
        frame(&[b'['; 1000]),
        frame(b"{\"version\":0,\"method\":\"Destroy\"}"),
        frame(b"{\"method\":\"Destroy\"}"),
        frame(b"{\"version\":1,\"method\":\"ChangeLogging\",\"params\":{\"level\":\"loud\"}}"),
        frame(b"{\"version\":1,\"method\":\"ChangeLogging\",\"params\":{}}"),
        frame(b"{\"version\":1,\"method\":\"ChangeLogging\",\"params\":{\"strace\":1}}"),
    ];
    for case in &cases {
        let r = exchange(&sock, case);
        assert!(r.get("error").is_some_and(Value::is_string), "{case:?} -> {r}");
    }
    // An empty connection, and one cut off mid-frame.
    drop(UnixStream::connect(&sock).expect("connect"));
    let mut s = UnixStream::connect(&sock).expect("connect");
    let _ = s.write_all(&100u32.to_le_bytes());
    drop(s);
    assert_eq!(env.status(), "running");
    env.rf(&["exec", env.id(), "/bin/true"]).assert_code(0);
    let ok = exchange(&sock, &frame(b"{\"version\":1,\"method\":\"Processes\"}"));
    assert!(ok["ok"].as_array().is_some_and(|a| !a.is_empty()), "{ok}");
}

#[test]
fn destroy_stops_the_container_cleanly() {
    let env = Env::running("ctl-destroy", SLEEPER);
    let r = exchange(&env.socket(), &frame(b"{\"version\":1,\"method\":\"Destroy\"}"));
    assert!(r.get("ok").is_some(), "{r}");
    env.wait_status("stopped");
    // As if every process got SIGKILL; recorded for `wait`.
    env.rf(&["wait", env.id()]).assert_code(137);
    env.rf(&["delete", env.id()]).assert_code(0);
    // `delete --force` of a running container goes the same way.
    let env = Env::running("ctl-destroy-force", SLEEPER);
    env.rf(&["delete", "--force", env.id()]).assert_code(0);
    assert_ne!(env.rf(&["state", env.id()]).code(), 0, "state of a deleted container");
}

#[test]
fn debug_stacks_shows_what_each_task_waits_on() {
    let env = Env::running("ctl-stacks", &["/bin/sh", "-c", "sleep 60 | cat"]);
    // Let the pipeline start.
    std::thread::sleep(Duration::from_millis(300));
    let out = env.rf(&["debug", "--stacks", env.id()]);
    out.assert_code(0);
    let text = out.stdout_str();
    for want in [
        "\"sh\" sleeping in wait4(61): child exit",
        "\"sleep\" sleeping in clock_nanosleep(230): timer",
        "\"cat\" sleeping in read(0): pipe read on fd 0",
        "host threads of the sandbox process",
        "\"rf-control\"",
    ] {
        assert!(text.contains(want), "no {want:?} in\n{text}");
    }
    // Every task has its user registers, in user space.
    let regs: Vec<(u64, u64)> = text
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok();
            (w.first() == Some(&"rip")).then(|| (hex(w[1]).unwrap_or(0), hex(w[3]).unwrap_or(0)))
        })
        .collect();
    assert_eq!(regs.len(), 3, "{text}");
    assert!(regs.iter().all(|&(ip, sp)| ip != 0 && sp != 0 && ip < 1 << 47 && sp < 1 << 47), "{text}");

    let none = env.rf(&["debug", env.id()]);
    assert_ne!(none.code(), 0, "debug without an action");
    let missing = env.rf(&["debug", "--stacks", "no-such-container"]);
    missing.assert_code(1);
    assert!(missing.stderr_str().contains("does not exist"), "{}", missing.stderr_str());
    let bad = env.rf(&["debug", "--log-level", "loud", env.id()]);
    assert_ne!(bad.code(), 0, "an unknown level");
}

#[test]
fn debug_log_level_turns_syscall_tracing_on_and_off() {
    let env = Env::running("ctl-loglevel", SLEEPER);
    let traced = |env: &Env| env.read_sandbox_stderr().lines().filter(|l| l.contains("exit_group(")).count();
    env.rf(&["exec", env.id(), "/bin/id", "-u"]).assert_code(0);
    assert_eq!(traced(&env), 0, "traced before the change:\n{}", env.read_sandbox_stderr());
    assert!(!env.read_sandbox_stderr().contains("DEBUG"), "{}", env.read_sandbox_stderr());

    env.rf(&["debug", "--log-level", "debug", env.id()]).assert_code(0);
    env.rf(&["exec", env.id(), "/bin/id", "-u"]).assert_code(0);
    let log = env.read_sandbox_stderr();
    assert!(traced(&env) >= 1, "not traced at debug:\n{log}");
    // The sandbox process's own debug lines too (its control server).
    assert!(log.contains("DEBUG") && log.contains("control request"), "{log}");

    env.rf(&["debug", "--log-level", "warning", env.id()]).assert_code(0);
    let before = env.read_sandbox_stderr().len();
    env.rf(&["exec", env.id(), "/bin/id", "-u"]).assert_code(0);
    let log = env.read_sandbox_stderr();
    assert_eq!(log.len(), before, "logged after going back to warning:\n{}", &log[before..]);

    // --strace alone: traced, without the debug lines.
    env.rf(&["debug", "--strace", "all", env.id()]).assert_code(0);
    env.rf(&["exec", env.id(), "/bin/id", "-u"]).assert_code(0);
    let log = env.read_sandbox_stderr();
    assert!(log[before..].contains("exit_group("), "{}", &log[before..]);
    assert!(!log[before..].contains("DEBUG"), "{}", &log[before..]);
}

#[test]
fn exec_checks_the_programs_permission_as_the_execd_user() {
    let env = Env::running("ctl-exec-perm", SLEEPER);
    // A program only root may run (0700, owned by root), as on Linux,
    // where execve as uid 1000 fails with EACCES.
    let make = "printf '#!/bin/sh\\necho ran as $(id -u)\\n' > /tmp/rootonly && chmod 700 /tmp/rootonly";
    env.rf(&["exec", env.id(), "/bin/sh", "-c", make]).assert_code(0);
    let out = env.rf(&["exec", env.id(), "/tmp/rootonly"]);
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "ran as 0\n");
    // runc: 255, "exec failed: unable to start container process: eaccess
    // /tmp/rootonly: permission denied".
    let denied = env.rf(&["exec", "--user", "1000", env.id(), "/tmp/rootonly"]);
    denied.assert_code(255);
    let why = denied.stderr_str();
    assert!(
        why.contains("exec failed: unable to start container process: exec /tmp/rootonly: Permission denied"),
        "{why}"
    );
    // Inside, a shell of uid 1000 gets the same refusal from execve.
    let inner = env.rf(&["exec", "--user", "1000", env.id(), "/bin/sh", "-c", "/tmp/rootonly; echo $?"]);
    assert!(inner.stdout_str().ends_with("126\n"), "{} {}", inner.stdout_str(), inner.stderr_str());
    // Readable and executable by others: runs as 1000 too.
    env.rf(&["exec", env.id(), "/bin/chmod", "755", "/tmp/rootonly"]).assert_code(0);
    let out = env.rf(&["exec", "--user", "1000", env.id(), "/tmp/rootonly"]);
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "ran as 1000\n");
}

#[test]
fn exec_gets_the_configs_capabilities_or_the_process_files() {
    // The config (`ringfence spec`'s) keeps CAP_AUDIT_WRITE, CAP_KILL and
    // CAP_NET_BIND_SERVICE only: no CAP_CHOWN, as runc's default.
    let env = Env::running("ctl-exec-caps", SLEEPER);
    let caps = |pid: &str| {
        let out = env.rf(&["exec", env.id(), "/bin/grep", "^Cap", &format!("/proc/{pid}/status")]);
        out.assert_code(0);
        out.stdout_str()
    };
    let init = caps("1");
    assert!(init.contains("CapEff:\t0000000020000420\n"), "{init}");
    assert_eq!(caps("self"), init);
    // So chown to another owner fails with EPERM, as for runc's exec.
    let chown = "touch /tmp/f && chown 1000 /tmp/f";
    let out = env.rf(&["exec", env.id(), "/bin/sh", "-c", chown]);
    out.assert_code(1);
    assert!(out.stderr_str().contains("Operation not permitted"), "{}", out.stderr_str());

    // --process FILE brings its own sets.
    let process = env.dir.path().join("process.json");
    let set = json!(["CAP_CHOWN", "CAP_KILL"]);
    let p = json!({"args": ["/bin/sh", "-c", "chown 1000 /tmp/f && grep ^Cap /proc/self/status"], "cwd": "/",
                   "user": {"uid": 0, "gid": 0},
                   "capabilities": {"bounding": set, "effective": set, "permitted": set}});
    std::fs::write(&process, p.to_string()).expect("write process.json");
    let out = env.rf(&["exec", "--process", &process.to_string_lossy(), env.id()]);
    out.assert_code(0);
    let s = out.stdout_str();
    assert!(s.contains("CapEff:\t0000000000000021\n") && s.contains("CapBnd:\t0000000000000021\n"), "{s}");
    assert!(s.contains("CapInh:\t0000000000000000\n") && s.contains("CapAmb:\t0000000000000000\n"), "{s}");
}
