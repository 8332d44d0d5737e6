//! config.json honoured by the sandbox: `process` (user, groups, umask,
//! cwd, rlimits, capabilities, noNewPrivileges), `mounts` (tmpfs with
//! options, proc, bind mounts served by the gofer read-write and
//! read-only), `hostname` and `linux.resources.memory.limit`; and configs
//! the sandbox cannot honour, refused by `create` with the field named and
//! nothing left under --root. Bundles come from
//! resources/bundle/busybox.sh, edited per test.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use ringfence_tests::{build_busybox_bundle, ringfence_command, sandbox_platform, Outcome, Run, TempDir};
use serde_json::{json, Value};

fn template() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Its own copy: oci.rs rebuilds target/bundle/busybox concurrently.
        build_busybox_bundle("busybox-config")
    })
}

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

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A bundle whose config is the template's (`ringfence spec`), changed
    /// by `edit`.
    fn bundle(&self, name: &str, edit: impl FnOnce(&mut Value)) -> String {
        let tpl = template();
        let dir = self.path(name);
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

    /// `ringfence --root ROOT run -b BUNDLE ID`, waited for.
    fn run(&self, bundle: &str, id: &str) -> Outcome {
        let root = self.root();
        let mut args = vec!["--root".to_owned(), root];
        if let Some(p) = sandbox_platform() {
            args.extend(["--platform".to_owned(), p]);
        }
        args.extend(["run", "-b", bundle, id].map(str::to_owned));
        Run::ringfence(&args).run()
    }

    /// `create`, with stdio not piped (the sandbox process keeps it).
    fn create(&self, bundle: &str, id: &str) -> (i32, String) {
        let err = self.path(&format!("stderr-{id}"));
        let out = ringfence_command()
            .args(["--root", &self.root(), "create", "--bundle", bundle, id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).expect("stderr file"))
            .status()
            .expect("run ringfence");
        (out.code().unwrap_or(-1), std::fs::read_to_string(&err).unwrap_or_default())
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
            let root = self.root();
            let _ = Run::ringfence(&["--root", &root, "delete", "--force", &id]).run();
        }
    }
}

fn sh(c: &mut Value, script: &str) {
    c["process"]["args"] = json!(["sh", "-c", script]);
    c["process"]["env"] = json!(["PATH=/bin"]);
}

fn push_mount(c: &mut Value, mount: Value) {
    if let Some(m) = c["mounts"].as_array_mut() {
        m.push(mount);
    }
}

#[test]
fn process_user_cwd_limits_and_capabilities() {
    let env = Env::new("cfg-process");
    let script = "id; pwd; ulimit -n; ulimit -Hn; umask; \
                  (exec 300>/dev/null) 2>/dev/null && echo fd 300 opened || echo fd 300 refused; \
                  grep -E '^(Cap|NoNewPrivs)' /proc/self/status";
    let bundle = env.bundle("b", |c| {
        sh(c, script);
        c["process"]["user"] = json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20], "umask": 0o027});
        c["process"]["cwd"] = json!("/tmp/../proc/");
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 256, "hard": 512}]);
        c["process"]["noNewPrivileges"] = json!(true);
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "inheritable": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_NET_BIND_SERVICE"],
        });
    });
    let out = env.run(&bundle, "p");
    out.assert_code(0);
    // A non-root process keeps only its ambient capabilities across exec
    // (capabilities(7)); the bounding set is as given.
    assert_eq!(
        out.stdout_str(),
        "uid=1000 gid=1001 groups=10,20\n/proc\n256\n512\n0027\nfd 300 refused\n\
         CapInh:\t0000000000000420\nCapPrm:\t0000000000000400\nCapEff:\t0000000000000400\n\
         CapBnd:\t0000000000000421\nCapAmb:\t0000000000000400\nNoNewPrivs:\t1\n"
    );
}

#[test]
fn root_keeps_the_configured_capabilities() {
    let env = Env::new("cfg-caps");
    let bundle = env.bundle("b", |c| {
        sh(c, "id -u; grep -E '^Cap(Prm|Eff|Bnd)' /proc/self/status");
        c["process"]["capabilities"] = json!({
            "bounding": ["CAP_CHOWN", "CAP_SYS_ADMIN"],
            "effective": ["CAP_CHOWN"],
            "permitted": ["CAP_CHOWN"],
        });
    });
    let out = env.run(&bundle, "c");
    out.assert_code(0);
    // Root's exec gives it its whole bounding set, as on Linux.
    assert_eq!(
        out.stdout_str(),
        "0\nCapPrm:\t0000000000200001\nCapEff:\t0000000000200001\nCapBnd:\t0000000000200001\n"
    );
}

#[test]
fn mounts_tmpfs_proc_and_bind() {
    let env = Env::new("cfg-mounts");
    let rw = env.path("rw-data");
    let ro = env.path("ro-data");
    std::fs::create_dir(&rw).expect("mkdir");
    std::fs::create_dir(&ro).expect("mkdir");
    std::fs::write(ro.join("hello"), "from the host\n").expect("write");
    let script = "echo written > /tmp/rw/new && echo wrote; cat /tmp/ro/hello; \
                  echo x 2>&1 > /tmp/ro/nope | sed 's/.*: //'; \
                  stat -c '%a %U' /tmp/t; echo f > /tmp/t/f && cat /tmp/t/f; hostname; \
                  cp /bin/busybox /tmp/nx/true && { /tmp/nx/true 2>/dev/null || echo noexec refused; }; \
                  cp /bin/busybox /tmp/echo && /tmp/echo exec ok; \
                  grep -E ' /tmp/(rw|ro|t) ' /proc/mounts";
    let (rws, ros) = (rw.to_string_lossy().into_owned(), ro.to_string_lossy().into_owned());
    let bundle = env.bundle("b", |c| {
        sh(c, script);
        c["hostname"] = json!("config-box");
        push_mount(c, json!({"destination": "/tmp/rw", "type": "bind", "source": rws, "options": ["rbind", "rw"]}));
        push_mount(c, json!({"destination": "/tmp/ro", "type": "none", "source": ros, "options": ["bind", "ro"]}));
        push_mount(
            c,
            json!({"destination": "/tmp/t", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=700", "size=1m"]}),
        );
        push_mount(c, json!({"destination": "/tmp/nx", "type": "tmpfs", "source": "tmpfs", "options": ["noexec"]}));
    });
    let out = env.run(&bundle, "m");
    out.assert_code(0);
    assert_eq!(
        out.stdout_str(),
        "wrote\nfrom the host\nRead-only file system\n700 root\nf\nconfig-box\nnoexec refused\nexec ok\n\
         none /tmp/rw 9p rw,relatime 0 0\nnone /tmp/ro 9p ro,relatime 0 0\n\
         tmpfs /tmp/t tmpfs rw,nosuid,relatime,size=1024k,mode=700 0 0\n"
    );
    assert_eq!(std::fs::read_to_string(rw.join("new")).expect("host sees the file"), "written\n");
    assert!(!ro.join("nope").exists());
}

#[test]
fn runc_spec_like_config_runs() {
    // `runc spec`'s mounts and process, less the filesystems the sandbox
    // refuses (mqueue, sysfs, cgroup).
    let env = Env::new("cfg-runc");
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let bundle = env.bundle("b", |c| {
        sh(c, "cut -d' ' -f2,3 /proc/mounts; ls -d /dev/shm /dev/null; ulimit -n; grep CapEff /proc/self/status");
        c["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
        c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]);
        c["mounts"] = json!([
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        ]);
    });
    let out = env.run(&bundle, "r");
    out.assert_code(0);
    assert_eq!(
        out.stdout_str(),
        "/ 9p\n/tmp tmpfs\n/proc proc\n/dev tmpfs\n/dev/pts devpts\n/dev/shm tmpfs\n/dev/null\n/dev/shm\n1024\nCapEff:\t0000000020000420\n"
    );
}

#[test]
fn memory_limit_sizes_the_guest() {
    let env = Env::new("cfg-memory");
    let bundle = env.bundle("b", |c| {
        sh(c, "grep MemTotal /proc/meminfo");
        c["linux"]["resources"] = json!({"memory": {"limit": 160 << 20}});
    });
    let out = env.run(&bundle, "mem");
    out.assert_code(0);
    let kb: u64 = out.stdout_str().split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("MemTotal");
    assert!(kb <= 160 << 10 && kb > 100 << 10, "MemTotal {kb} kB for a 160 MiB limit");
}

#[test]
fn missing_cwd_fails_at_start() {
    let env = Env::new("cfg-cwd");
    let bundle = env.bundle("b", |c| {
        sh(c, "echo should not run");
        c["process"]["cwd"] = json!("/nonexistent");
    });
    let out = env.run(&bundle, "cwd");
    out.assert_code(1);
    assert_eq!(out.stdout_str(), "");
    assert!(
        out.stderr_str().contains("chdir to cwd (/nonexistent) set in config.json failed"),
        "stderr: {}",
        out.stderr_str()
    );
    assert_eq!(env.entries(), Vec::<String>::new());
}

#[test]
fn malformed_configs_name_the_field_and_leave_nothing() {
    let env = Env::new("cfg-malformed");
    let file = env.path("a-file");
    std::fs::write(&file, "").expect("write");
    let file = file.to_string_lossy().into_owned();
    type Edit = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("process.cwd: tmp is not an absolute path", Box::new(|c| c["process"]["cwd"] = json!("tmp"))),
        ("process.user.uid: invalid type", Box::new(|c| c["process"]["user"]["uid"] = json!("root"))),
        ("process.user.gid: invalid value", Box::new(|c| c["process"]["user"]["gid"] = json!(-1))),
        (
            "process.user.additionalGids[1]: invalid type",
            Box::new(|c| c["process"]["user"]["additionalGids"] = json!([1, "x"])),
        ),
        ("process.user.umask: 0o1000 is not", Box::new(|c| c["process"]["user"]["umask"] = json!(0o1000))),
        (
            "process.rlimits[0]: soft limit 10 above hard limit 5",
            Box::new(|c| c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}])),
        ),
        (
            "process.rlimits[0].type: unknown variant",
            Box::new(|c| c["process"]["rlimits"] = json!([{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}])),
        ),
        (
            "process.capabilities.bounding[0]: no variant for CAP_BOGUS",
            Box::new(|c| c["process"]["capabilities"] = json!({"bounding": ["CAP_BOGUS"]})),
        ),
        (
            "process.selinuxLabel: SELinux is not supported",
            Box::new(|c| c["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0")),
        ),
        ("process.oomScoreAdj: 5000 is outside", Box::new(|c| c["process"]["oomScoreAdj"] = json!(5000))),
        ("mounts[0].type: unknown mount type \"zfs\" at /proc", Box::new(|c| c["mounts"][0]["type"] = json!("zfs"))),
        ("mounts[0].destination: proc: not an absolute", Box::new(|c| c["mounts"][0]["destination"] = json!("proc"))),
        (
            "mounts[4].type: mqueue at /dev/mqueue: not provided",
            Box::new(|c| push_mount(c, json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue"}))),
        ),
        (
            "mounts[4].type: cgroup at /sys/fs/cgroup: not provided",
            Box::new(|c| push_mount(c, json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"}))),
        ),
        (
            "mounts[4].options: ro is not supported for tmpfs at /x",
            Box::new(|c| push_mount(c, json!({"destination": "/x", "type": "tmpfs", "options": ["ro"]}))),
        ),
        (
            "mounts[4].options: \"uid=5\" is not supported for tmpfs at /x",
            Box::new(|c| push_mount(c, json!({"destination": "/x", "type": "tmpfs", "options": ["uid=5"]}))),
        ),
        (
            "mounts[4].options: size=lots: not a size",
            Box::new(|c| push_mount(c, json!({"destination": "/x", "type": "tmpfs", "options": ["size=lots"]}))),
        ),
        (
            "mounts[4].source:",
            Box::new(move |c| {
                push_mount(c, json!({"destination": "/x", "type": "bind", "source": file, "options": ["bind"]}))
            }),
        ),
        (
            "linux.resources.memory.limit: 1048576 bytes is below the sandbox's minimum of 88 MiB",
            Box::new(|c| c["linux"]["resources"] = json!({"memory": {"limit": 1 << 20}})),
        ),
    ];
    for (i, (want, edit)) in cases.iter().enumerate() {
        let bundle = env.bundle(&format!("m{i}"), |c| edit(c));
        let (code, err) = env.create(&bundle, &format!("m{i}"));
        assert_eq!(code, 1, "case {want}: {err}");
        let prefix = format!("ringfence: {bundle}/config.json: {want}");
        assert!(err.starts_with(&prefix), "case {i}: expected {prefix:?}, got {err:?}");
        assert_eq!(env.entries(), Vec::<String>::new(), "case {want} left state behind");
    }
}
