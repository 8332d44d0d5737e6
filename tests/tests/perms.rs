//! File permission checks (DAC): `resources/c/perms` prepares files and
//! directories with various owners and modes as root, then runs a table of
//! operations (open, create, walk, access, exec, chdir, mkdir, unlink,
//! rename, symlink, link, sticky and set-group-ID directories, chmod, chown,
//! utimensat, truncate, /proc/self) as uid 1000 with a supplementary group,
//! as root without CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER, and
//! as root with the OCI default capabilities. Each run in the sandbox must
//! print what the native run prints, on the sandbox's tmpfs and on files the
//! gofer serves read-write (whose owners the gofer then sets on the host).

use std::os::unix::fs::PermissionsExt;

use ringfence_tests::{compare_runs, resource, running_as_root, Run, TempDir};

/// What the table prints on Linux as uid 1000 (gid 1000, groups 2000).
const AS_USER: &str = r#"open secret O_RDONLY: EACCES
open readable O_RDONLY: ok
open readable O_WRONLY: EACCES
open readable O_RDONLY|O_TRUNC: EACCES
open writable O_RDWR: ok
open group_rw O_RDWR: ok
open other_group O_RDONLY: EACCES
open owner_denied O_RDONLY: EACCES
open secret O_PATH: ok
open rootdir/new O_CREAT: EACCES
open rootdir/f O_CREAT existing: ok
open rootdir/f O_CREAT|O_EXCL existing: EEXIST
open open/created0444 O_CREAT|O_RDWR mode 0444: ok
open rootdir O_RDONLY|O_DIRECTORY: ok
open noread_dir O_RDONLY|O_DIRECTORY: EACCES
open private/f O_RDONLY: EACCES
open noexec_dir/f O_RDONLY: EACCES
open noread_dir/f O_RDONLY: ok
stat private/f: EACCES
stat noexec_dir/f: EACCES
stat noread_dir/f: ok
stat private/../readable: EACCES
stat private: ok
access secret R_OK: EACCES
access readable R_OK: ok
access readable W_OK: EACCES
access not_exec X_OK: EACCES
access exec_other_only X_OK: ok
access private X_OK: EACCES
access private/f F_OK: EACCES
faccessat2 secret R_OK AT_EACCESS: EACCES
execve not_exec: EACCES
execve rootdir: EACCES
execve exec_other_only: ENOEXEC
chdir private: EACCES
chdir noread_dir: ok
mkdir rootdir/d: EACCES
mkdir rootdir/f existing: EEXIST
mkdir open/d: ok
owner of open/d: uid 1000 gid 1000 mode 0755
owner of open/created0444: uid 1000 gid 1000 mode 0444
unlink rootdir/f: EACCES
unlink rootdir/missing: ENOENT
rename rootdir/f to open/f: EACCES
rename mine to rootdir/x: EACCES
rename mydir/sub to open/sub: ok
symlink in rootdir: EACCES
symlink in open: ok
owner of open/l: uid 1000 gid 1000 mode 0777
link secret to open/hard: EPERM
link writable to open/hard2: ok
link mine to open/hard3: ok
mkfifo in rootdir: EACCES
rmdir open/d: ok
unlink sticky/theirs: EPERM
rename sticky/theirs: EPERM
unlink sticky/mine: ok
create sgid/f: ok
owner of sgid/f: uid 1000 gid 2500 mode 0644
mkdir sgid/d: ok
owner of sgid/d: uid 1000 gid 2500 mode 2755
chmod mine 0600: ok
chmod mine 02755: ok
mode of mine: uid 1000 gid 1000 mode 2755
chmod secret 0644: EPERM
chown mine to 1001: EPERM
chown mine to 1000:2000: ok
chown mine group 3000: EPERM
owner of mine: uid 1000 gid 2000 mode 0755
chown setid to 1000:1000: ok
mode of setid: uid 1000 gid 1000 mode 0755
chown readable to 0:0: EPERM
utimes writable now: ok
utimes readable now: EACCES
utimes writable explicit: EPERM
utimes group_rw explicit: EPERM
truncate writable: ok
truncate readable: EACCES
truncate secret: EACCES
opendir /proc/self/fd: ok
open /proc/self/status: ok
"#;

const MODES: [&str; 3] = ["user", "nocap", "root"];

#[test]
fn permissions_match_linux_on_tmpfs() {
    if !running_as_root() {
        eprintln!("skipped: `perms` prepares its files as root");
        return;
    }
    let base = TempDir::new("perms-native");
    let native_base = base.path().to_str().expect("utf-8 temp path").to_owned();
    for mode in MODES {
        let (native, sandboxed) = compare_runs(
            Run::native(resource("perms"), &[native_base.as_str(), mode]),
            Run::sandbox(resource("perms"), &["/tmp", mode]),
        );
        if mode == "user" {
            native.assert_code(0).assert_stdout(AS_USER);
        }
        sandboxed.assert_code(0).assert_stdout(native.stdout_str());
    }
}

#[test]
fn permissions_match_linux_on_gofer_files() {
    if !running_as_root() {
        eprintln!("skipped: `perms` prepares its files as root");
        return;
    }
    let base = TempDir::new("perms-native");
    let native_base = base.path().to_str().expect("utf-8 temp path").to_owned();
    // A root filesystem served read-write: the program and a work directory.
    let rootfs = TempDir::new("perms-rootfs");
    std::fs::set_permissions(rootfs.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod rootfs");
    std::fs::copy(resource("perms"), rootfs.path().join("perms")).expect("copy perms");
    for dir in ["work", "proc"] {
        std::fs::create_dir(rootfs.path().join(dir)).expect("mkdir");
        std::fs::set_permissions(rootfs.path().join(dir), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let root = rootfs.path().to_str().expect("utf-8 temp path");
    for mode in MODES {
        let (native, sandboxed) = compare_runs(
            Run::native(resource("perms"), &[native_base.as_str(), mode]),
            Run::sandbox_flags(&["--rootfs", root, "--rw"], "/perms", &["/work", mode]),
        );
        native.assert_code(0);
        sandboxed.assert_code(0).assert_stdout(native.stdout_str());
    }
    // The fixture was removed through the gofer too.
    assert_eq!(std::fs::read_dir(rootfs.path().join("work")).expect("work").count(), 0);
}

/// An OCI container whose `process.user` is uid 1000 (gid 1001) sees the
/// permission bits of its root filesystem, and a file it creates there is
/// its own, in the sandbox and on the host (the gofer, running as root,
/// gives new files to the creating user as runc's kernel would).
#[test]
fn oci_process_user_is_checked_and_owns_what_it_creates() {
    if !running_as_root() {
        eprintln!("skipped: the container's files are prepared as root");
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let template = ringfence_tests::build_busybox_bundle("busybox-perms");
    let env = TempDir::new("perms-oci");
    let rootfs = env.path().join("rootfs");
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(std::fs::canonicalize(template.join("rootfs")).expect("template rootfs"))
        .arg(&rootfs)
        .status()
        .expect("cp");
    assert!(copied.success(), "cannot copy the busybox rootfs");
    let set_mode = |path: &str, mode: u32| {
        std::fs::set_permissions(rootfs.join(path), std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    std::fs::write(rootfs.join("secret"), "top secret\n").expect("write");
    set_mode("secret", 0o600);
    std::fs::write(rootfs.join("shared"), "shared\n").expect("write");
    set_mode("shared", 0o644);
    std::fs::create_dir(rootfs.join("private")).expect("mkdir");
    set_mode("private", 0o700);
    std::fs::create_dir(rootfs.join("drop")).expect("mkdir");
    set_mode("drop", 0o1777);
    set_mode("", 0o755);
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(template.join("config.json")).expect("config")).expect("json");
    config["root"] = serde_json::json!({"path": rootfs.to_str().expect("utf-8"), "readonly": false});
    config["process"]["user"] = serde_json::json!({"uid": 1000, "gid": 1001});
    config["process"]["env"] = serde_json::json!(["PATH=/bin"]);
    config["process"]["args"] = serde_json::json!([
        "sh",
        "-c",
        "cat /secret 2>/dev/null; echo secret $?; \
        cat /shared; ls /private 2>/dev/null; echo private $?; \
        (echo x > /new) 2>/dev/null; echo create in / $?; \
        echo x > /drop/mine && stat -c '%u %g %a' /drop/mine; \
        ls /proc/self/fd >/dev/null && echo proc fd listed"
    ]);
    let bundle = env.path().join("bundle");
    std::fs::create_dir(&bundle).expect("mkdir bundle");
    std::fs::write(bundle.join("config.json"), serde_json::to_vec_pretty(&config).expect("json")).expect("write");
    let state = env.path().join("state");
    std::fs::create_dir(&state).expect("mkdir state");
    let (state, bundle) = (state.to_str().expect("utf-8"), bundle.to_str().expect("utf-8"));
    let out = Run::ringfence(&["--root", state, "run", "-b", bundle, "perms-user"]).run();
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "secret 1\nshared\nprivate 1\ncreate in / 1\n1000 1001 644\nproc fd listed\n");
    let mine = std::fs::metadata(rootfs.join("drop/mine")).expect("created on the host");
    assert_eq!((mine.uid(), mine.gid()), (1000, 1001));
    assert!(!rootfs.join("new").exists());
    let _ = Run::ringfence(&["--root", state, "delete", "--force", "perms-user"]).run();
}
