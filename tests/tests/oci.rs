//! The OCI lifecycle on a busybox bundle (resources/bundle/busybox.sh):
//! create → created → start → running → kill → stopped → delete, `run`
//! exit statuses, and configs the sandbox cannot honour, each refused with
//! the field named and nothing left under --root.

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

/// A temporary --root and bundles made from the template.
struct Env {
    dir: TempDir,
}

impl Env {
    fn new(what: &str) -> Self {
        let dir = TempDir::new(what);
        std::fs::create_dir(dir.path().join("root")).expect("mkdir root");
        Self { dir }
    }

    fn root(&self) -> String {
        self.dir.path().join("root").to_string_lossy().into_owned()
    }

    /// `--root ROOT`, and `--platform P` from RINGFENCE_PLATFORM.
    fn globals(&self) -> Vec<String> {
        let mut g = vec!["--root".to_owned(), self.root()];
        if let Some(p) = sandbox_platform() {
            g.extend(["--platform".to_owned(), p]);
        }
        g
    }

    /// A bundle named `name` whose config is the template's, changed by `edit`.
    fn bundle(&self, name: &str, edit: impl FnOnce(&mut Value)) -> String {
        let tpl = template();
        let dir = self.dir.path().join(name);
        std::fs::create_dir(&dir).expect("mkdir bundle");
        let rootfs = std::fs::canonicalize(tpl.join("rootfs")).expect("template rootfs");
        std::os::unix::fs::symlink(rootfs, dir.join("rootfs")).expect("symlink rootfs");
        let mut config: Value = serde_json::from_slice(&std::fs::read(tpl.join("config.json")).expect("read config"))
            .expect("parse config");
        edit(&mut config);
        std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&config).expect("json"))
            .expect("write config");
        dir.to_string_lossy().into_owned()
    }

    /// A bundle running `args`.
    fn bundle_args(&self, name: &str, args: &[&str]) -> String {
        self.bundle(name, |c| c["process"]["args"] = json!(args))
    }

    /// `ringfence --root ROOT ARGS...`, waited for.
    fn rf(&self, args: &[&str]) -> Outcome {
        let globals = self.globals();
        let mut all: Vec<&str> = globals.iter().map(String::as_str).collect();
        all.extend_from_slice(args);
        Run::ringfence(&all).run()
    }

    /// `create` (or `run -d`), whose container keeps its stdio: not piped,
    /// or waiting for the pipes would wait for the container. Returns the
    /// exit code and stderr.
    fn detached(&self, args: &[&str]) -> (i32, String) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let err = self.dir.path().join(format!("stderr-{n}"));
        let out = Command::new(ringfence_bin())
            .args(self.globals())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .status()
            .expect("run ringfence");
        (out.code().unwrap_or(-1), std::fs::read_to_string(&err).unwrap_or_default())
    }

    fn state(&self, id: &str) -> Value {
        let out = self.rf(&["state", id]);
        out.assert_code(0);
        serde_json::from_slice(&out.stdout).expect("state is JSON")
    }

    fn wait_status(&self, id: &str, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            // `run` in the background may not have made the container yet.
            let out = self.rf(&["state", id]);
            let s: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            if s["status"] == want {
                return s;
            }
            assert!(Instant::now() < deadline, "{id} never became {want}: {s}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn entries(&self) -> Vec<String> {
        std::fs::read_dir(self.root())
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // A failed test must not leave sandbox processes behind.
        for id in self.entries() {
            let _ = self.detached(&["delete", "--force", &id]);
        }
    }
}

fn push_mount(config: &mut Value, mount: Value) {
    if let Some(mounts) = config["mounts"].as_array_mut() {
        mounts.push(mount);
    }
}

fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

#[test]
fn lifecycle_create_start_kill_delete() {
    let env = Env::new("oci-lifecycle");
    let bundle = env.bundle_args("b", &["/bin/sleep", "30"]);
    let pid_file = env.dir.path().join("pid");
    let (code, err) = env.detached(&["create", "--bundle", &bundle, "--pid-file", &pid_file.to_string_lossy(), "c1"]);
    assert_eq!(code, 0, "create failed: {err}");
    let s = env.state("c1");
    assert_eq!(s["ociVersion"], "1.2.0");
    assert_eq!(s["id"], "c1");
    assert_eq!(s["status"], "created");
    assert_eq!(s["bundle"], bundle.as_str());
    let pid = s["pid"].as_i64().expect("a created container has a pid");
    assert!(alive(pid), "sandbox process {pid} is not running");
    assert_eq!(std::fs::read_to_string(&pid_file).expect("pid file"), pid.to_string());

    let list = env.rf(&["list"]);
    list.assert_code(0);
    let lines: Vec<String> = list.stdout_str().lines().map(str::to_owned).collect();
    assert!(lines[0].starts_with("ID ") && lines[0].contains("STATUS"), "{lines:?}");
    assert!(lines[1].starts_with("c1 ") && lines[1].contains(" created "), "{lines:?}");

    env.rf(&["start", "c1"]).assert_code(0);
    assert_eq!(env.state("c1")["status"], "running");
    let json = env.rf(&["list", "--format", "json"]);
    let items: Value = serde_json::from_slice(&json.stdout).expect("list json");
    assert_eq!(items[0]["id"], "c1");
    assert_eq!(items[0]["status"], "running");

    let again = env.rf(&["start", "c1"]);
    again.assert_code(1);
    assert!(again.stderr_str().contains("cannot start an already running container"), "{}", again.stderr_str());
    let refused = env.rf(&["delete", "c1"]);
    refused.assert_code(1);
    assert!(refused.stderr_str().contains("cannot delete container c1 that is not stopped: running"));

    env.rf(&["kill", "c1", "TERM"]).assert_code(0);
    let s = env.wait_status("c1", "stopped");
    assert!(s.get("pid").is_none(), "a stopped container has no pid: {s}");
    assert!(!alive(pid));
    let dead = env.rf(&["kill", "c1", "KILL"]);
    dead.assert_code(1);
    assert!(dead.stderr_str().contains("container not running"), "{}", dead.stderr_str());

    env.rf(&["delete", "c1"]).assert_code(0);
    assert_eq!(env.entries(), Vec::<String>::new());
}

#[test]
fn delete_force_kills_a_running_container() {
    let env = Env::new("oci-force");
    let bundle = env.bundle_args("b", &["/bin/sleep", "30"]);
    let (code, err) = env.detached(&["run", "--detach", "--bundle", &bundle, "c2"]);
    assert_eq!(code, 0, "run -d failed: {err}");
    let pid = env.state("c2")["pid"].as_i64().expect("pid");
    assert_eq!(env.state("c2")["status"], "running");
    env.rf(&["delete", "--force", "c2"]).assert_code(0);
    assert!(!alive(pid), "sandbox process {pid} outlived delete --force");
    assert_eq!(env.entries(), Vec::<String>::new());
}

#[test]
fn delete_destroys_a_created_container() {
    let env = Env::new("oci-created");
    let bundle = env.bundle_args("b", &["/bin/true"]);
    let (code, err) = env.detached(&["create", "-b", &bundle, "c3"]);
    assert_eq!(code, 0, "create failed: {err}");
    let pid = env.state("c3")["pid"].as_i64().expect("pid");
    env.rf(&["delete", "c3"]).assert_code(0);
    assert!(!alive(pid));
    assert_eq!(env.entries(), Vec::<String>::new());
}

#[test]
fn run_reports_the_exit_status() {
    let env = Env::new("oci-run");
    // The shell is the container's init (pid 1): as on Linux, signals it
    // sends itself without a handler are ignored.
    let cases = [
        ("echo out; exit 0", 0, "out\n"),
        ("exit 3", 3, ""),
        ("sh -c 'kill -TERM $$'; echo $?", 0, "143\n"),
        ("kill -TERM $$; echo pid 1 ignores it", 0, "pid 1 ignores it\n"),
    ];
    for (i, (script, code, stdout)) in cases.into_iter().enumerate() {
        let bundle = env.bundle_args(&format!("b{i}"), &["/bin/sh", "-c", script]);
        let id = format!("r{i}");
        let out = env.rf(&["run", "--bundle", &bundle, &id]);
        out.assert_code(code);
        assert_eq!(out.stdout_str(), stdout, "{script}");
        // A foreground run deletes its container.
        assert_eq!(env.entries(), Vec::<String>::new(), "after {script}");
    }
}

#[test]
fn run_killed_from_outside_is_128_plus_the_signal() {
    let env = Env::new("oci-run-kill");
    let globals = env.globals();
    for (i, (sig, code)) in [("KILL", 137), ("15", 143)].into_iter().enumerate() {
        let bundle = env.bundle_args(&format!("b{i}"), &["/bin/sleep", "30"]);
        let id = format!("k{i}");
        let mut all: Vec<&str> = globals.iter().map(String::as_str).collect();
        all.extend_from_slice(&["run", "--bundle", &bundle, &id]);
        let running = Run::ringfence(&all).spawn();
        env.wait_status(&id, "running");
        env.rf(&["kill", &id, sig]).assert_code(0);
        running.wait().assert_code(code);
        assert_eq!(env.entries(), Vec::<String>::new());
    }
}

#[test]
fn run_honours_the_config() {
    let env = Env::new("oci-config");
    let script = "echo $GREETING; hostname; touch /x 2>/dev/null || echo root is read-only; \
                  echo t > /tmp/t && cat /tmp/t; head -1 /proc/self/status";
    let bundle = env.bundle("b", |c| {
        // A bare args[0] is searched on the config's PATH.
        c["process"]["args"] = json!(["sh", "-c", script]);
        c["process"]["env"] = json!(["PATH=/bin", "GREETING=hello"]);
        c["hostname"] = json!("box1");
    });
    let out = env.rf(&["run", "-b", &bundle, "cfg"]);
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "hello\nbox1\nroot is read-only\nt\nName:\thead\n");
    // A writable root of its own (the template's is shared by the tests).
    let rootfs = env.dir.path().join("rw-rootfs");
    for d in ["bin", "dev", "proc", "tmp"] {
        std::fs::create_dir_all(rootfs.join(d)).expect("mkdir");
    }
    std::fs::copy(ringfence_tests::busybox(), rootfs.join("bin/busybox")).expect("copy busybox");
    for applet in ["sh", "cat"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).expect("symlink");
    }
    let writable = env.bundle("w", |c| {
        c["process"]["args"] = json!(["/bin/sh", "-c", "echo x > /x && cat /x"]);
        c["root"] = json!({"path": rootfs, "readonly": false});
    });
    let out = env.rf(&["run", "-b", &writable, "rw"]);
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "x\n");
    assert_eq!(std::fs::read_to_string(rootfs.join("x")).expect("written through the gofer"), "x\n");
}

/// The pids whose parent is `pid`, less the ptrace platform's stub
/// processes (forks of the sentry thread, named after it).
fn children_of(pid: i64) -> Vec<i64> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i64>().ok())
        .filter(|child| std::fs::read_to_string(format!("/proc/{child}/comm")).is_ok_and(|c| c.trim() != "rf-sentry"))
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|s| {
                s.rsplit_once(") ").and_then(|(_, rest)| rest.split(' ').nth(1)?.parse::<i64>().ok()) == Some(pid)
            })
        })
        .collect()
}

#[test]
fn sigkill_of_the_sandbox_process_then_delete_leaves_nothing() {
    let env = Env::new("oci-sigkill");
    let bundle = env.bundle_args("b", &["/bin/sleep", "30"]);
    let (code, err) = env.detached(&["run", "-d", "-b", &bundle, "k"]);
    assert_eq!(code, 0, "run -d failed: {err}");
    let pid = env.state("k")["pid"].as_i64().expect("pid");
    let gofers = children_of(pid);
    assert_eq!(gofers.len(), 1, "the sandbox process has one child, its gofer: {gofers:?}");
    let killed = Command::new("sh").arg("-c").arg(format!("kill -KILL {pid}")).status().expect("run kill");
    assert!(killed.success());
    env.wait_status("k", "stopped");
    let deadline = Instant::now() + Duration::from_secs(5);
    while gofers.iter().any(|&g| alive(g)) {
        assert!(Instant::now() < deadline, "the gofer outlived its sandbox process");
        std::thread::sleep(Duration::from_millis(10));
    }
    env.rf(&["delete", "k"]).assert_code(0);
    assert_eq!(env.entries(), Vec::<String>::new());
}

#[test]
fn concurrent_creates_of_one_id_make_one_container() {
    let env = Env::new("oci-race");
    let bundle = env.bundle_args("b", &["/bin/true"]);
    let results: Vec<(i32, String)> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            (0..4).map(|_| scope.spawn(|| env.detached(&["create", "-b", &bundle, "race"]))).collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    let won = results.iter().filter(|(code, _)| *code == 0).count();
    assert_eq!(won, 1, "{results:?}");
    for (code, err) in results.iter().filter(|(code, _)| *code != 0) {
        assert_eq!((*code, err.as_str()), (1, "ringfence: container with id exists: race\n"));
    }
    assert_eq!(env.state("race")["status"], "created");
    env.rf(&["delete", "race"]).assert_code(0);
}

#[test]
fn duplicate_id_is_refused() {
    let env = Env::new("oci-dup");
    let bundle = env.bundle_args("b", &["/bin/true"]);
    let (code, err) = env.detached(&["create", "-b", &bundle, "same"]);
    assert_eq!(code, 0, "create failed: {err}");
    let (code, err) = env.detached(&["create", "-b", &bundle, "same"]);
    assert_eq!(code, 1);
    assert_eq!(err, "ringfence: container with id exists: same\n");
    assert_eq!(env.state("same")["status"], "created", "the first container is untouched");
    env.rf(&["delete", "same"]).assert_code(0);
}

#[test]
fn unknown_id_is_refused() {
    let env = Env::new("oci-unknown");
    for cmd in
        [&["state", "nope"][..], &["start", "nope"], &["kill", "nope"], &["delete", "nope"], &["delete", "-f", "nope"]]
    {
        let out = env.rf(cmd);
        out.assert_code(1);
        assert_eq!(out.stderr_str(), "ringfence: container does not exist: nope\n", "{cmd:?}");
    }
    let bad = env.rf(&["state", "../etc"]);
    bad.assert_code(1);
    assert!(bad.stderr_str().contains("invalid container id"), "{}", bad.stderr_str());
    let list = env.rf(&["list", "-f", "json"]);
    assert_eq!(list.stdout_str(), "[]\n");
}

#[test]
fn spec_writes_a_config_that_runs_and_refuses_to_overwrite() {
    let dir = TempDir::new("oci-spec");
    let bundle = dir.path().to_string_lossy().into_owned();
    Run::ringfence(&["spec", "--bundle", &bundle]).run().assert_code(0);
    let config: Value = serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).expect("config.json"))
        .expect("config.json is JSON");
    // runc's defaults: an interactive sh.
    assert_eq!(config["process"]["args"], json!(["sh"]));
    assert_eq!(config["process"]["terminal"], json!(true));
    assert_eq!(config["root"]["path"], "rootfs");
    let again = Run::ringfence(&["spec", "--bundle", &bundle]).run();
    again.assert_code(1);
    assert!(again.stderr_str().contains("exists"), "{}", again.stderr_str());

    // The same as `runc spec`, where runc is installed, but for the
    // mounts the sandbox does not provide and the hostname.
    let runc_dir = TempDir::new("oci-spec-runc");
    match Command::new("runc").arg("spec").current_dir(runc_dir.path()).status() {
        Ok(st) if st.success() => {}
        _ => {
            eprintln!("runc is not installed: spec not compared with runc's");
            return;
        }
    }
    let runc: Value = serde_json::from_slice(&std::fs::read(runc_dir.path().join("config.json")).expect("runc's"))
        .expect("runc's config.json is JSON");
    assert_eq!(config["process"], runc["process"]);
    assert_eq!(config["root"], runc["root"]);
    assert_eq!(config["linux"], runc["linux"]);
    let provided: Vec<&Value> = runc["mounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .filter(|m| !["mqueue", "sysfs", "cgroup"].contains(&m["type"].as_str().unwrap_or("")))
        .collect();
    let ours: Vec<&Value> = config["mounts"].as_array().expect("mounts").iter().collect();
    assert_eq!(ours, provided);
}

#[test]
fn malformed_configs_name_the_field_and_leave_nothing() {
    let env = Env::new("oci-malformed");
    type Edit = fn(&mut Value);
    let cases: &[(&str, Edit)] = &[
        ("process.user.uid: invalid type", |c| c["process"]["user"]["uid"] = json!("root")),
        ("process.terminal: invalid type", |c| c["process"]["terminal"] = json!("yes")),
        ("process.args: empty", |c| c["process"]["args"] = json!([])),
        ("process: missing field `cwd`", |c| {
            c["process"].as_object_mut().map(|p| p.remove("cwd"));
        }),
        ("process.cwd: tmp is not an absolute path", |c| c["process"]["cwd"] = json!("tmp")),
        ("process.env[1]: \"JUNK\" is not NAME=value", |c| c["process"]["env"][1] = json!("JUNK")),
        ("root.path:", |c| c["root"]["path"] = json!("no-such-rootfs")),
        ("root: missing", |c| {
            c.as_object_mut().map(|o| o.remove("root"));
        }),
        ("mounts[0].type: unknown mount type \"zfs\" at /proc", |c| c["mounts"][0]["type"] = json!("zfs")),
        ("mounts[4].type: sysfs at /sys: not provided by the sandbox", |c| {
            push_mount(c, json!({"destination": "/sys", "type": "sysfs", "source": "sysfs"}));
        }),
        ("mounts[4].source: /nonexistent-ringfence: No such file", |c| {
            push_mount(
                c,
                json!({"destination": "/data", "type": "none", "source": "/nonexistent-ringfence", "options": ["rbind"]}),
            );
        }),
        ("mounts[0].destination: proc: not an absolute", |c| c["mounts"][0]["destination"] = json!("proc")),
        ("hostname: longer than 64 bytes", |c| c["hostname"] = json!("h".repeat(65))),
        ("hooks.prestart[0].path: bin/true: not an absolute path", |c| {
            c["hooks"] = json!({"prestart": [{"path": "bin/true"}]});
        }),
        ("ociVersion: unsupported version", |c| c["ociVersion"] = json!("0.9")),
    ];
    for (i, (want, edit)) in cases.iter().enumerate() {
        let bundle = env.bundle(&format!("m{i}"), edit);
        let (code, err) = env.detached(&["create", "--bundle", &bundle, &format!("m{i}")]);
        assert_eq!(code, 1, "case {want}: {err}");
        let prefix = format!("ringfence: {bundle}/config.json: {want}");
        assert!(err.starts_with(&prefix), "case {i}: expected {prefix:?}, got {err:?}");
        assert_eq!(env.entries(), Vec::<String>::new(), "case {want} left state behind");
    }
    let bundle = env.bundle("bad-json", |_| {});
    std::fs::write(Path::new(&bundle).join("config.json"), b"{\"ociVersion\": ").expect("write");
    let (code, err) = env.detached(&["create", "--bundle", &bundle, "bad"]);
    assert_eq!(code, 1);
    assert!(err.contains("config.json"), "{err}");
    assert_eq!(env.entries(), Vec::<String>::new());
}
