//! The container's files from a rootfs served by the gofer: busybox applets
//! run natively in a chroot of a tree and in the sandbox with that tree as
//! `--rootfs`, stdout and exit status compared; for changes, each side gets
//! its own copy and the resulting trees are compared too. The tree
//! (resources/rootfs/busybox.sh) holds symlinks pointing outside it, which
//! must resolve inside it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use ringfence_tests::{compare_runs, workspace_root, Run, TempDir};

fn rootfs() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let script = workspace_root().join("resources/rootfs/busybox.sh");
        let status = Command::new("bash").arg(script).status().expect("run busybox.sh");
        assert!(status.success(), "resources/rootfs/busybox.sh failed");
        workspace_root().join("target/rootfs/busybox")
    })
}

fn native(tree: &Path, args: &[&str]) -> Run {
    let mut a: Vec<&str> = vec![tree.to_str().expect("utf-8 path"), "/bin/busybox"];
    a.extend_from_slice(args);
    Run::native("chroot", &a)
}

fn sandboxed(tree: &Path, rw: bool, args: &[&str]) -> Run {
    let mut flags = vec!["--rootfs", tree.to_str().expect("utf-8 path")];
    if rw {
        flags.push("--rw");
    }
    Run::sandbox_flags(&flags, "/bin/busybox", args)
}

/// Reads only: both sides use the same tree.
fn same(args: &[&str]) {
    compare_runs(native(rootfs(), args), sandboxed(rootfs(), false, args));
}

/// A listing of a tree (names, types, sizes, modes, link targets), for
/// comparing the effects of changes.
fn listing(tree: &Path) -> String {
    let out =
        Command::new("find").arg(".").args(["-printf", "%p %y %s %m %l\n"]).current_dir(tree).output().expect("find");
    let mut lines: Vec<&str> = std::str::from_utf8(&out.stdout).expect("utf-8").lines().collect();
    lines.sort_unstable();
    lines.join("\n")
}

/// Changes: each side gets a fresh copy; outputs and resulting trees must match.
fn changed(args: &[&str]) {
    let a = TempDir::new("rootfs-native");
    let b = TempDir::new("rootfs-sandbox");
    for d in [&a, &b] {
        let st =
            Command::new("cp").arg("-a").arg(format!("{}/.", rootfs().display())).arg(d.path()).status().expect("cp");
        assert!(st.success());
    }
    compare_runs(native(a.path(), args), sandboxed(b.path(), true, args));
    assert_eq!(listing(a.path()), listing(b.path()), "trees differ after {args:?}");
}

#[test]
fn ls() {
    same(&["ls", "-l", "/data"]);
    same(&["ls", "-laR", "/data/dir"]);
    same(&["ls", "/"]);
}

#[test]
fn cat_through_symlinks_stays_inside() {
    same(&["cat", "/data/hello.txt", "/data/rel-link", "/data/abs-link", "/data/up-link", "/etc/passwd"]);
    same(&["cat", "/../../../etc/os-release"]);
    same(&["cat", "/data/etc-link/../etc/hostname"]);
    same(&["cat", "/data/dangling"]);
}

#[test]
fn find_stat_du_wc() {
    same(&["find", "/data"]);
    same(&["stat", "-c", "%n %s %a %F %h %U %G", "/data/hello.txt", "/data/dir", "/data/rel-link", "/data/dir/run.sh"]);
    same(&["du", "-a", "/data"]);
    same(&["wc", "/data/numbers.txt", "/data/big.txt"]);
}

#[test]
fn checksums_grep_sort_tar() {
    same(&["sha256sum", "/data/big.txt", "/data/numbers.txt", "/bin/busybox"]);
    same(&["grep", "-r", "needle", "/data"]);
    same(&["sort", "-rn", "/data/numbers.txt"]);
    same(&["tar", "-cf", "-", "-C", "/data", "dir"]);
}

#[test]
fn changes_match_linux() {
    changed(&["cp", "/data/hello.txt", "/data/copy.txt"]);
    changed(&["cp", "-a", "/data/dir", "/data/dir2"]);
    changed(&["mv", "/data/hello.txt", "/data/dir/moved.txt"]);
    changed(&["rm", "/data/big.txt"]);
    changed(&["rm", "-r", "/data/dir"]);
    changed(&["mkdir", "-p", "/data/x/y/z"]);
    changed(&["ln", "-s", "/etc/passwd", "/data/newlink"]);
    changed(&["touch", "/data/newfile"]);
    // A hard link: the confined gofer has no CAP_DAC_READ_SEARCH for
    // linkat(AT_EMPTY_PATH), so it links by name (found by the kernel's
    // own 9p client in ci/hwkvm/k9p.sh).
    changed(&["sh", "-c", "ln /data/hello.txt /data/hard && stat -c '%h %s' /data/hard /data/hello.txt"]);
}

#[test]
fn readonly_rootfs_refuses_changes() {
    let out = sandboxed(rootfs(), false, &["mkdir", "/data/nope"]).run();
    assert_eq!(out.code(), 1, "{}", out.stderr_str());
    assert!(out.stderr_str().contains("Read-only file system"), "{}", out.stderr_str());
    assert!(!rootfs().join("data/nope").exists());
}
