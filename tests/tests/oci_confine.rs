//! Where the OCI commands put a container's sandbox process on the host:
//! its namespaces and cgroup (from linux.namespaces, linux.cgroupsPath and
//! linux.resources), the hooks, cleanup after `kill -9`, configs refused by
//! field, and the global flags (`features`, json logs, `--platform`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ringfence_tests::{build_busybox_bundle, ringfence_command, sandbox_platform, Outcome, Run, TempDir};
use serde_json::{json, Value};

/// The busybox bundle (resources/bundle/busybox.sh), built once.
fn template() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build_busybox_bundle("busybox-confine"))
}

/// A temporary --root, and bundles made from the template.
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

    fn rf(&self, args: &[&str]) -> Outcome {
        let root = self.root();
        let platform = sandbox_platform().filter(|_| !args.contains(&"--platform"));
        let mut all = vec!["--root", &root];
        if let Some(p) = &platform {
            all.extend(["--platform", p]);
        }
        all.extend_from_slice(args);
        Run::ringfence(&all).run()
    }

    /// A command whose container may keep its stdio (not piped): exit code
    /// and stderr.
    fn detached(&self, args: &[&str]) -> (i32, String) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let err = self.dir.path().join(format!("stderr-{n}"));
        let out = ringfence_command()
            .arg("--root")
            .arg(self.root())
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

    fn pid(&self, id: &str) -> i64 {
        self.state(id)["pid"].as_i64().expect("a live container has a pid")
    }

    fn wait_status(&self, id: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.state(id)["status"] != want {
            assert!(Instant::now() < deadline, "{id} never became {want}");
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
        for id in self.entries() {
            let _ = self.detached(&["delete", "--force", &id]);
        }
    }
}

fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

fn children_of(pid: i64) -> Vec<i64> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i64>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|s| {
                s.rsplit_once(") ").and_then(|(_, rest)| rest.split(' ').nth(1)?.parse::<i64>().ok()) == Some(pid)
            })
        })
        .collect()
}

/// Whether process `pid` is a `ringfence gofer`.
fn is_gofer(pid: i64) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.split(|b| *b == 0).any(|a| a == b"gofer"))
}

/// The unified layout: `/sys/fs/cgroup` is cgroup2.
fn cgroup_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The cgroup directory of `pid` holding `controller`'s files.
fn cgroup_dir(pid: i64, controller: &str) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read /proc/PID/cgroup");
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, list, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let path = path.trim_start_matches('/');
        if cgroup_v2() && list.is_empty() {
            return Path::new("/sys/fs/cgroup").join(path);
        }
        if list.split(',').any(|c| c == controller) {
            // Co-mounted hierarchies are mounted under their joined name.
            return Path::new("/sys/fs/cgroup").join(list).join(path);
        }
    }
    panic!("pid {pid} has no {controller} cgroup: {text}");
}

fn read_trim(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).trim().to_owned()
}

fn resources() -> Value {
    json!({
        "memory": {"limit": 256 << 20},
        "pids": {"limit": 100},
        "cpu": {"shares": 512, "quota": 50000, "period": 100000}
    })
}

#[test]
fn sigkill_of_the_sandbox_process_then_delete_leaves_no_process_cgroup_or_state() {
    let env = Env::new("confine-kill9");
    let bundle = env.bundle("b", |c| {
        c["process"]["args"] = json!(["/bin/sleep", "30"]);
        c["linux"]["resources"] = resources();
    });
    let (code, err) = env.detached(&["run", "-d", "-b", &bundle, "k9"]);
    assert_eq!(code, 0, "run -d failed: {err}");
    let pid = env.pid("k9");
    // The gofer, and on the ptrace platform the application's stub too.
    let children = children_of(pid);
    let gofers: Vec<i64> = children.iter().copied().filter(|c| is_gofer(*c)).collect();
    assert_eq!(gofers.len(), 1, "one gofer among the children: {children:?}");
    let dirs: Vec<PathBuf> = ["memory", "pids", "cpu"].iter().map(|c| cgroup_dir(pid, c)).collect();
    for d in &dirs {
        assert!(d.ends_with("ringfence/k9"), "default cgroup path: {}", d.display());
        assert!(d.is_dir());
    }
    assert!(Command::new("kill").arg("-KILL").arg(pid.to_string()).status().expect("kill").success());
    env.wait_status("k9", "stopped");
    env.rf(&["delete", "k9"]).assert_code(0);
    for c in &children {
        assert!(!alive(*c), "child {c} of the sandbox process outlived delete");
    }
    for d in &dirs {
        assert!(!d.exists(), "{} outlived delete", d.display());
    }
    assert_eq!(env.entries(), Vec::<String>::new());
}

#[test]
fn the_sandbox_process_has_namespaces_of_its_own() {
    let env = Env::new("confine-ns");
    let bundle = env.bundle("b", |c| c["process"]["args"] = json!(["/bin/sleep", "30"]));
    let (code, err) = env.detached(&["create", "-b", &bundle, "ns1"]);
    assert_eq!(code, 0, "create failed: {err}");
    let pid = env.pid("ns1");
    let ns = |pid: &str, name: &str| std::fs::read_link(format!("/proc/{pid}/ns/{name}")).expect("ns link");
    for name in ["pid", "mnt", "net", "ipc", "uts"] {
        assert_ne!(ns(&pid.to_string(), name), ns("self", name), "{name} namespace is the host's");
    }
    assert_eq!(ns(&pid.to_string(), "user"), ns("self", "user"));
    // Its gofer shares its pid namespace, where the sandbox process is 1.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    assert!(status.lines().any(|l| l.starts_with("NSpid:") && l.ends_with("\t1")), "{status}");

    // No network entry: the host's; a path: that namespace.
    let shared = env.bundle("shared", |c| {
        c["process"]["args"] = json!(["/bin/sleep", "30"]);
        c["linux"]["namespaces"] =
            json!([{"type": "pid"}, {"type": "mount"}, {"type": "ipc", "path": format!("/proc/{pid}/ns/ipc")}]);
    });
    let (code, err) = env.detached(&["create", "-b", &shared, "ns2"]);
    assert_eq!(code, 0, "create failed: {err}");
    let pid2 = env.pid("ns2").to_string();
    assert_eq!(ns(&pid2, "net"), ns("self", "net"));
    assert_eq!(ns(&pid2, "uts"), ns("self", "uts"));
    assert_eq!(ns(&pid2, "ipc"), ns(&pid.to_string(), "ipc"), "joined by path");
    assert_ne!(ns(&pid2, "mnt"), ns("self", "mnt"));
    env.rf(&["delete", "ns1"]).assert_code(0);
    env.rf(&["delete", "ns2"]).assert_code(0);
}

#[test]
fn the_sandbox_process_keeps_nothing_of_create_but_its_command_line() {
    let env = Env::new("confine-fork");
    let bundle = env.bundle("b", |c| c["process"]["args"] = json!(["/bin/sleep", "30"]));
    let secret = env.dir.path().join("secret");
    std::fs::write(&secret, "not the container's").expect("write secret");
    let err = env.dir.path().join("stderr");
    // `create` with a descriptor it does not pass on (no --preserve-fds),
    // as a careless caller of runc may leave one.
    let rf = ringfence_command();
    let status = Command::new("bash")
        .arg("-c")
        .arg(r#"exec "$@" 5<"$IN""#)
        .arg("bash")
        .arg(rf.get_program())
        .args(rf.get_args())
        .args(["--root", &env.root(), "create", "-b", &bundle, "f1"])
        .env("IN", &secret)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .status()
        .expect("run bash");
    assert_eq!(status.code(), Some(0), "{}", std::fs::read_to_string(&err).unwrap_or_default());
    let pid = env.pid("f1");
    // Found by its command line, as an exec'd `ringfence boot` was.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).filter(|a| !a.is_empty()).collect();
    assert_eq!(args.first().copied(), Some(&b"ringfence"[..]), "{:?}", String::from_utf8_lossy(&cmdline));
    assert!(args.contains(&&b"boot"[..]), "{:?}", String::from_utf8_lossy(&cmdline));
    assert_eq!(args.last().copied(), Some(&b"f1"[..]), "{:?}", String::from_utf8_lossy(&cmdline));
    // Neither the caller's stray descriptor nor `create`'s lock on the
    // container's directory (`create` exited; the sandbox must not hold
    // it for later commands either).
    let dir = std::fs::canonicalize(Path::new(&env.root()).join("f1")).expect("state dir");
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).expect("fd dir").filter_map(Result::ok) {
        let target = std::fs::read_link(fd.path()).unwrap_or_default();
        assert_ne!(target, secret, "fd {:?} is the caller's", fd.file_name());
        assert_ne!(target, dir, "fd {:?} is the container directory's lock", fd.file_name());
    }
    // Its own session: a detached container outlives the caller's terminal.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let session = stat.rsplit_once(") ").and_then(|(_, rest)| rest.split(' ').nth(3)).expect("session field");
    assert_eq!(session, pid.to_string(), "a session leader: {stat}");
    env.rf(&["delete", "f1"]).assert_code(0);
    assert_eq!(env.entries(), Vec::<String>::new());
}

#[test]
fn a_namespace_the_sandbox_process_cannot_join_fails_create_and_leaves_nothing() {
    let env = Env::new("confine-setns");
    // An ipc namespace file given as the network namespace: setns refuses
    // it in the sandbox process, after the fork.
    let bundle = env.bundle("b", |c| c["linux"]["namespaces"][1]["path"] = json!("/proc/self/ns/ipc"));
    let (code, err) = env.detached(&["create", "-b", &bundle, "n1"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.starts_with("ringfence: cannot place the sandbox process in its cgroup and namespaces: Invalid argument"),
        "{err}"
    );
    assert!(err.ends_with("ringfence: the sandbox process failed to start (its error, if any, is above)\n"), "{err}");
    assert_eq!(env.entries(), Vec::<String>::new());
}

#[test]
fn cgroup_limits_are_set_on_the_sandbox_and_gofer() {
    let env = Env::new("confine-cg");
    let bundle = env.bundle("b", |c| {
        c["process"]["args"] = json!(["/bin/sleep", "30"]);
        c["linux"]["resources"] = resources();
        // Relative: below the runtime's own cgroup (an absolute path is
        // taken from the hierarchy's root).
        c["linux"]["cgroupsPath"] = json!("ringfence-test/cg1");
    });
    let (code, err) = env.detached(&["create", "-b", &bundle, "cg1"]);
    assert_eq!(code, 0, "create failed: {err}");
    let pid = env.pid("cg1");
    let mem = cgroup_dir(pid, "memory");
    assert!(mem.ends_with("ringfence-test/cg1"), "{}", mem.display());
    let (cpu, pids) = (cgroup_dir(pid, "cpu"), cgroup_dir(pid, "pids"));
    if cgroup_v2() {
        assert_eq!(read_trim(&mem.join("memory.max")), (256u64 << 20).to_string());
        assert_eq!(read_trim(&pids.join("pids.max")), "100");
        assert_eq!(read_trim(&cpu.join("cpu.max")), "50000 100000");
        assert_eq!(read_trim(&cpu.join("cpu.weight")), "20");
    } else {
        assert_eq!(read_trim(&mem.join("memory.limit_in_bytes")), (256u64 << 20).to_string());
        assert_eq!(read_trim(&pids.join("pids.max")), "100");
        assert_eq!(read_trim(&cpu.join("cpu.shares")), "512");
        assert_eq!(read_trim(&cpu.join("cpu.cfs_quota_us")), "50000");
        assert_eq!(read_trim(&cpu.join("cpu.cfs_period_us")), "100000");
    }
    let gofer = children_of(pid);
    assert_eq!(gofer.len(), 1);
    // The child joins before exec by moving its one thread (v1 `tasks`):
    // every thread started after, and the gofer, are in every hierarchy.
    for controller in ["memory", "cpu", "pids"] {
        let want = cgroup_dir(pid, controller);
        assert_eq!(cgroup_dir(gofer[0], controller), want, "the gofer shares the {controller} cgroup");
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks");
        for tid in tasks.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i64>().ok()) {
            assert_eq!(cgroup_dir(tid, controller), want, "thread {tid} is in the {controller} cgroup");
        }
    }
    let procs = read_trim(&mem.join("cgroup.procs"));
    assert!(procs.lines().any(|p| p == pid.to_string()), "{procs}");
    env.rf(&["delete", "cg1"]).assert_code(0);
    assert!(!mem.exists() && !cpu.exists() && !pids.exists());
    assert!(!mem.parent().is_some_and(Path::exists), "the empty parent made for it is removed too");
}

/// A hook that appends its kind to `order` and saves its stdin as KIND.json.
fn recording_hook(dir: &Path, kind: &str) -> Value {
    let script = format!("echo {kind} >> {0}/order; cat > {0}/{kind}.json", dir.display());
    json!({"path": "/bin/sh", "args": ["sh", "-c", script], "env": ["X=1"], "timeout": 10})
}

#[test]
fn hooks_run_in_order_with_the_state_on_stdin() {
    let env = Env::new("confine-hooks");
    let out = env.dir.path().join("hooks");
    std::fs::create_dir(&out).expect("mkdir");
    let kinds = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];
    let bundle = env.bundle("b", |c| {
        c["process"]["args"] = json!(["/bin/true"]);
        c["annotations"] = json!({"a": "b"});
        c["hooks"] = kinds.iter().map(|k| (k.to_string(), json!([recording_hook(&out, k)]))).collect();
    });
    let (code, err) = env.detached(&["create", "-b", &bundle, "h1"]);
    assert_eq!(code, 0, "create failed: {err}");
    let order = || std::fs::read_to_string(out.join("order")).unwrap_or_default();
    assert_eq!(order(), "prestart\ncreateRuntime\ncreateContainer\n");
    let pid = env.pid("h1");
    env.rf(&["start", "h1"]).assert_code(0);
    assert_eq!(order(), "prestart\ncreateRuntime\ncreateContainer\nstartContainer\npoststart\n");
    env.wait_status("h1", "stopped");
    env.rf(&["delete", "h1"]).assert_code(0);
    assert_eq!(order(), kinds.map(|k| format!("{k}\n")).concat());
    let want = [
        ("prestart", "creating"),
        ("createRuntime", "creating"),
        ("createContainer", "creating"),
        ("startContainer", "created"),
        ("poststart", "running"),
        ("poststop", "stopped"),
    ];
    for (kind, status) in want {
        let text = std::fs::read(out.join(format!("{kind}.json"))).expect("hook stdin saved");
        let s: Value = serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(s["id"], "h1", "{kind}");
        assert_eq!(s["status"], status, "{kind}");
        assert_eq!(s["bundle"], bundle.as_str(), "{kind}");
        assert_eq!(s["annotations"]["a"], "b", "{kind}");
        assert_eq!(s["ociVersion"], "1.2.0", "{kind}");
        if status == "stopped" {
            assert!(s.get("pid").is_none(), "{kind}: {s}");
        } else {
            assert_eq!(s["pid"], pid, "{kind}");
        }
    }
}

#[test]
fn failing_hooks_fail_create_and_start_but_only_warn_after() {
    let env = Env::new("confine-hookfail");
    let out = env.dir.path().join("hooks");
    std::fs::create_dir(&out).expect("mkdir");
    let failing = json!({"path": "/bin/sh", "args": ["sh", "-c", "echo broken >&2; exit 3"]});
    let bundle = env.bundle("create", |c| {
        c["hooks"] = json!({"createRuntime": [failing], "poststop": [recording_hook(&out, "poststop")]});
    });
    let (code, err) = env.detached(&["create", "-b", &bundle, "f1"]);
    assert_eq!(code, 1);
    assert!(err.contains("createRuntime hook 0 (/bin/sh): exit status 3: broken"), "{err}");
    assert_eq!(env.entries(), Vec::<String>::new());
    assert_eq!(std::fs::read_to_string(out.join("order")).unwrap_or_default(), "poststop\n", "poststop still runs");

    let slow = json!({"path": "/bin/sleep", "args": ["sleep", "10"], "timeout": 1});
    let bundle = env.bundle("slow", |c| c["hooks"] = json!({"createContainer": [slow]}));
    let started = Instant::now();
    let (code, err) = env.detached(&["create", "-b", &bundle, "f2"]);
    assert_eq!(code, 1);
    assert!(err.contains("createContainer hook 0 (/bin/sleep): timed out after 1s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(8));
    assert_eq!(env.entries(), Vec::<String>::new());

    let bundle = env.bundle("start", |c| c["hooks"] = json!({"startContainer": [{"path": "/bin/false"}]}));
    let (code, err) = env.detached(&["create", "-b", &bundle, "f3"]);
    assert_eq!(code, 0, "{err}");
    let started = env.rf(&["start", "f3"]);
    started.assert_code(1);
    assert!(
        started.stderr_str().contains("startContainer hook 0 (/bin/false): exit status 1"),
        "{}",
        started.stderr_str()
    );
    assert_eq!(env.state("f3")["status"], "stopped");
    env.rf(&["delete", "f3"]).assert_code(0);

    let bundle = env.bundle("post", |c| {
        c["process"]["args"] = json!(["/bin/sh", "-c", "echo ran"]);
        c["hooks"] = json!({"poststart": [{"path": "/bin/false"}], "poststop": [{"path": "/bin/false"}]});
    });
    let run = env.rf(&["run", "-b", &bundle, "f4"]);
    run.assert_code(0);
    assert_eq!(run.stdout_str(), "ran\n");
    assert!(run.stderr_str().contains("warning: poststart hook 0 (/bin/false)"), "{}", run.stderr_str());
    assert!(run.stderr_str().contains("warning: poststop hook 0 (/bin/false)"), "{}", run.stderr_str());
    assert_eq!(env.entries(), Vec::<String>::new());
}

#[test]
fn placement_configs_name_the_field_and_leave_nothing() {
    let env = Env::new("confine-malformed");
    type Edit = fn(&mut Value);
    let cases: &[(&str, Edit)] = &[
        ("linux.namespaces[5].type: user namespaces are not supported yet", |c| {
            if let Some(n) = c["linux"]["namespaces"].as_array_mut() {
                n.push(json!({"type": "user"}));
            }
        }),
        ("linux.namespaces[5].type: pid is listed twice", |c| {
            if let Some(n) = c["linux"]["namespaces"].as_array_mut() {
                n.push(json!({"type": "pid"}));
            }
        }),
        ("linux.namespaces[0].type: unknown variant `bogus`", |c| c["linux"]["namespaces"][0]["type"] = json!("bogus")),
        ("linux.namespaces[4].path: joining an existing mount namespace is not supported", |c| {
            c["linux"]["namespaces"][4]["path"] = json!("/proc/1/ns/mnt");
        }),
        ("linux.namespaces[1].path: /no/such/netns:", |c| {
            c["linux"]["namespaces"][1]["path"] = json!("/no/such/netns")
        }),
        ("linux.cgroupsPath: a/../../b: '.' and '..' are not allowed", |c| {
            c["linux"]["cgroupsPath"] = json!("a/../../b")
        }),
        ("linux.cgroupsPath: system.slice:rf:x: systemd cgroup paths", |c| {
            c["linux"]["cgroupsPath"] = json!("system.slice:rf:x");
        }),
        ("linux.resources.memory.limit: 0: a byte count or -1 expected", |c| {
            c["linux"]["resources"] = json!({"memory": {"limit": 0}});
        }),
        ("linux.resources.memory.swap: 1000 is below memory.limit 4096000", |c| {
            c["linux"]["resources"] = json!({"memory": {"limit": 4096000, "swap": 1000}});
        }),
        ("linux.resources.cpu.shares: 1: between 2 and 262144 expected", |c| {
            c["linux"]["resources"] = json!({"cpu": {"shares": 1}});
        }),
        ("linux.resources.cpu.cpus: not supported yet", |c| c["linux"]["resources"] = json!({"cpu": {"cpus": "0"}})),
        ("linux.resources.blockIO: not supported yet", |c| {
            c["linux"]["resources"] = json!({"blockIO": {"weight": 10}})
        }),
        ("linux.resources.pids.limit: invalid type", |c| c["linux"]["resources"] = json!({"pids": {"limit": "x"}})),
        ("hooks.poststart[0].timeout: must be greater than zero", |c| {
            c["hooks"] = json!({"poststart": [{"path": "/bin/true", "timeout": 0}]});
        }),
        ("hooks.createRuntime[0].env: \"NOEQUALS\" is not NAME=value", |c| {
            c["hooks"] = json!({"createRuntime": [{"path": "/bin/true", "env": ["NOEQUALS"]}]});
        }),
    ];
    for (i, (want, edit)) in cases.iter().enumerate() {
        let id = format!("m{i}");
        let bundle = env.bundle(&id, edit);
        let (code, err) = env.detached(&["create", "--bundle", &bundle, &id]);
        assert_eq!(code, 1, "case {want}: {err}");
        let prefix = format!("ringfence: {bundle}/config.json: {want}");
        assert!(err.starts_with(&prefix), "case {i}: expected {prefix:?}, got {err:?}");
        assert_eq!(env.entries(), Vec::<String>::new(), "case {want} left state behind");
    }
}

#[test]
fn features_prints_the_runtime_spec_document() {
    let out = Run::ringfence(&["features"]).run();
    out.assert_code(0);
    let f: Value = serde_json::from_slice(&out.stdout).expect("features is JSON");
    assert_eq!(f["ociVersionMin"], "1.0.0");
    assert_eq!(f["ociVersionMax"], "1.2.0");
    assert_eq!(
        f["hooks"],
        json!(["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"])
    );
    assert_eq!(f["linux"]["namespaces"], json!(["cgroup", "ipc", "mount", "network", "pid", "uts"]));
    assert_eq!(f["linux"]["cgroup"]["v1"], true);
    assert_eq!(f["linux"]["cgroup"]["systemd"], false);
    assert_eq!(f["linux"]["seccomp"]["enabled"], false);
    assert!(f["linux"]["capabilities"].as_array().is_some_and(|c| c.len() == 41));
}

#[test]
fn json_logs_are_runc_lines() {
    let env = Env::new("confine-log");
    let log = env.dir.path().join("log.json");
    let log_s = log.to_string_lossy().into_owned();
    let out = env.rf(&["--log", &log_s, "--log-format", "json", "state", "nope"]);
    out.assert_code(1);
    assert_eq!(out.stderr_str(), "ringfence: container does not exist: nope\n");
    let text = std::fs::read_to_string(&log).expect("log written");
    let line: Value = serde_json::from_str(text.lines().last().expect("a line")).expect("a JSON line");
    assert_eq!(line["level"], "error");
    assert_eq!(line["msg"], "container does not exist: nope");
    assert!(line["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{line}");

    // The sandbox and gofer processes log there too, as JSON.
    let bundle = env.bundle("b", |c| c["process"]["args"] = json!(["/bin/true"]));
    let debug_dir = env.dir.path().join("debug");
    let debug_s = debug_dir.to_string_lossy().into_owned();
    env.rf(&[
        "--debug",
        "--log",
        &log_s,
        "--log-format",
        "json",
        "--debug-log-dir",
        &debug_s,
        "run",
        "-b",
        &bundle,
        "l1",
    ])
    .assert_code(0);
    let text = std::fs::read_to_string(&log).expect("log written");
    for l in text.lines() {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"));
        assert!(v["level"].is_string() && v["msg"].is_string() && v["time"].is_string(), "{l}");
    }
    assert!(text.contains("gofer confined"), "{text}");
    let mut names: Vec<String> = std::fs::read_dir(&debug_dir)
        .expect("debug log dir")
        .filter_map(|e| Some(e.ok()?.file_name().to_string_lossy().rsplit('.').nth(1)?.to_owned()))
        .collect();
    names.sort();
    assert_eq!(names, ["boot", "gofer", "run"]);
}

#[test]
fn ptrace_platform_runs_and_missing_preserved_fds_are_refused_clearly() {
    let env = Env::new("confine-flags");
    let bundle = env.bundle("b", |c| c["process"]["args"] = json!(["/bin/true"]));
    // In the sandbox process's namespaces and cgroup, without the VMM's
    // seccomp filter (it forbids ptrace).
    env.rf(&["--platform", "ptrace", "run", "-b", &bundle, "p1"]).assert_code(0);
    // The harness starts ringfence with nothing open above stderr.
    let out = env.rf(&["run", "--preserve-fds", "2", "-b", &bundle, "p2"]);
    out.assert_code(1);
    assert!(out.stderr_str().contains("--preserve-fds 2: descriptor 3 is not open"), "{}", out.stderr_str());
    env.rf(&["run", "--preserve-fds", "0", "-b", &bundle, "p3"]).assert_code(0);
    assert_eq!(env.entries(), Vec::<String>::new());
}

#[test]
fn preserved_fds_are_the_containers_fds_3_and_up() {
    let env = Env::new("confine-preserve");
    let bundle = env.bundle("b", |c| {
        c["process"]["args"] =
            json!(["/bin/sh", "-c", "cat <&4 >&3; echo via fd 3 >&3; echo to stdout; ls /proc/self/fd"]);
    });
    let input = env.dir.path().join("input");
    std::fs::write(&input, "from a host file on fd 4\n").expect("write input");
    let stdout = env.dir.path().join("stdout");
    // bash puts a pipe (its own stdout, read here) at fd 3 and the file at
    // fd 4, as a caller of runc would.
    let rf = ringfence_command();
    let out = Command::new("bash")
        .arg("-c")
        .arg(r#"exec "$@" 3>&1 1>"$OUT" 4<"$IN""#)
        .arg("bash")
        .arg(rf.get_program())
        .args(rf.get_args())
        .args(["--root", &env.root(), "run", "--preserve-fds", "2", "-b", &bundle, "pf"])
        .env("OUT", &stdout)
        .env("IN", &input)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run bash");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from a host file on fd 4\nvia fd 3\n", "{err}");
    let text = std::fs::read_to_string(&stdout).expect("stdout file");
    let mut fds: Vec<&str> = text.lines().skip(1).collect();
    fds.sort_unstable();
    assert_eq!(text.lines().next(), Some("to stdout"), "{text}");
    // 0-2, the two preserved ones, and ls's own directory fd.
    assert!(fds.starts_with(&["0", "1", "2", "3", "4"]), "{text}");
    assert_eq!(env.entries(), Vec::<String>::new());
}

#[test]
fn signals_reach_the_sandbox_process_although_it_is_pid_1() {
    let env = Env::new("confine-signals");
    let bundle = env.bundle("b", |c| c["process"]["args"] = json!(["/bin/sleep", "30"]));
    // Right after start (before the VM runs, often), and on a running
    // container; TERM and a signal the sandbox has no other use for.
    for (i, sig) in ["TERM", "HUP", "TERM", "USR1"].iter().enumerate() {
        let id = format!("s{i}");
        let (code, err) = env.detached(&["create", "-b", &bundle, &id]);
        assert_eq!(code, 0, "create failed: {err}");
        env.rf(&["start", &id]).assert_code(0);
        if i >= 2 {
            std::thread::sleep(Duration::from_millis(300));
        }
        env.rf(&["kill", &id, sig]).assert_code(0);
        env.wait_status(&id, "stopped");
        env.rf(&["delete", &id]).assert_code(0);
    }
    assert_eq!(env.entries(), Vec::<String>::new());
}

#[test]
fn a_leftover_cgroup_of_the_same_id_is_replaced_when_empty_and_refused_when_busy() {
    // Two roots: the first stands for a test run that was killed before
    // `delete`, leaving its container's cgroup (ringfence/<id>, per host).
    let old = Env::new("confine-stale-old");
    let new = Env::new("confine-stale-new");
    let id = format!("stale-{}", std::process::id());
    let sleeper = old.bundle("b", |c| c["process"]["args"] = json!(["/bin/sleep", "30"]));
    let (code, err) = old.detached(&["run", "-d", "-b", &sleeper, &id]);
    assert_eq!(code, 0, "run -d failed: {err}");
    let pid = old.pid(&id);
    let dir = cgroup_dir(pid, "pids");
    assert!(dir.ends_with(format!("ringfence/{id}")), "{}", dir.display());

    // Processes run in it: refused, naming the cgroup.
    let quick = new.bundle("b", |c| c["process"]["args"] = json!(["/bin/true"]));
    let busy = new.rf(&["run", "-b", &quick, &id]);
    busy.assert_code(1);
    let why = busy.stderr_str();
    assert!(why.contains("already exists and processes") && why.contains(&id), "{why}");
    assert_eq!(new.entries(), Vec::<String>::new());
    assert!(alive(pid), "the refused run touched the running container");

    // Killed, the sandbox process leaves its cgroup behind, empty.
    std::process::Command::new("kill").args(["-9", &pid.to_string()]).status().expect("kill");
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) || !read_trim(&dir.join("cgroup.procs")).is_empty() {
        assert!(Instant::now() < deadline, "the killed sandbox did not leave its cgroup");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(dir.exists());
    new.rf(&["run", "-b", &quick, &id]).assert_code(0);
    assert!(!dir.exists(), "the replacing container's delete left {}", dir.display());
    // The killed container's own delete still works.
    old.rf(&["delete", "--force", &id]).assert_code(0);
    assert_eq!(old.entries(), Vec::<String>::new());
}
