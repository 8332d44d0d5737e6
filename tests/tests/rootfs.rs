//! `ringfence do --rootfs DIR [--rw]`: the gofer process serving the root
//! filesystem is started, confined, and gone when ringfence ends, however
//! it ends. (What the sandbox sees through it is the sentry's part.)

use std::os::unix::fs::MetadataExt;
use std::thread;
use std::time::Duration;

use ringfence_tests::{assert_no_process_with, busybox, processes_with, resource, Run, TempDir, SIGKILL, SIGTERM};

/// Copies host program `from` into `dir` as `/name` (PROGRAM resolves inside
/// the rootfs) and returns the in-tree path.
fn install(dir: &TempDir, from: &std::path::Path, name: &str) -> String {
    let to = dir.path().join(name);
    std::fs::copy(from, &to).expect("copy the program into the rootfs");
    format!("/{name}")
}

/// The `ringfence gofer` processes serving `dir`.
fn gofers_of(dir: &TempDir) -> Vec<(u32, String)> {
    let dir = dir.path().to_string_lossy().into_owned();
    processes_with(&dir).into_iter().filter(|(_, cmd)| cmd.contains(" gofer ")).collect()
}

/// Waits up to 5 s for a gofer serving `dir` to appear.
fn wait_for_gofer(dir: &TempDir) -> (u32, String) {
    for _ in 0..500 {
        if let Some(g) = gofers_of(dir).into_iter().next() {
            return g;
        }
        thread::sleep(Duration::from_millis(10));
    }
    panic!("no `ringfence gofer` process serving {}", dir.path().display());
}

#[test]
fn missing_rootfs_is_an_error_125() {
    let out = Run::ringfence(&["do", "--rootfs", "/nonexistent/rf-rootfs", "--", "/bin/true"]).run();
    out.assert_code(125).assert_stdout("");
    assert_eq!(out.stderr_str(), "ringfence: --rootfs /nonexistent/rf-rootfs: no such directory\n");
}

#[test]
fn rootfs_that_is_a_file_is_an_error_125() {
    let dir = TempDir::new("rootfs-file");
    let file = dir.file("plain", b"not a directory", 0o644);
    let out = Run::sandbox_flags(&["--rootfs", &file.to_string_lossy()], busybox(), &["true"]).run();
    out.assert_code(125);
    assert!(out.stderr_str().contains("no such directory"), "{}", out.stderr_str());
}

#[test]
fn gofer_serves_rootfs_readonly_by_default_and_rw_on_request() {
    let dir = TempDir::new("rootfs-mode");
    let root = dir.path().to_string_lossy().into_owned();
    for (flags, readonly) in [(vec!["--rootfs", &root], true), (vec!["--rootfs", &root, "--rw"], false)] {
        let running = Run::sandbox_flags(
            &[&flags[..], &["--timeout", "5"]].concat(),
            install(&dir, &resource("spin"), "spin"),
            &["x"],
        )
        .timeout(Duration::from_secs(15))
        .spawn();
        let (pid, cmdline) = wait_for_gofer(&dir);
        assert!(cmdline.contains(&format!("--root {root}")), "{cmdline}");
        assert_eq!(cmdline.contains("--readonly"), readonly, "{flags:?}: {cmdline}");
        // Confined: its root becomes the served directory. The process is
        // visible from its exec on, before it pivots: wait for that.
        let served = std::fs::metadata(dir.path()).map(|m| (m.dev(), m.ino())).ok();
        let mut gofer_root = None;
        for _ in 0..500 {
            gofer_root = std::fs::metadata(format!("/proc/{pid}/root/")).map(|m| (m.dev(), m.ino())).ok();
            if gofer_root == served {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(gofer_root, served, "the gofer's / is not {root}");
        running.signal(SIGTERM);
        running.wait().assert_code(128 + SIGTERM);
        assert_no_process_with(&root, Duration::from_secs(2));
    }
}

#[test]
fn default_rootfs_is_the_hosts_root_readonly() {
    let out = Run::sandbox_flags(&["--debug"], busybox(), &["true"]).run();
    out.assert_code(0);
    let started = out.stderr_str().lines().find(|l| l.contains("gofer started")).map(str::to_owned);
    let started = started.unwrap_or_else(|| panic!("no gofer start in the debug log:\n{}", out.stderr_str()));
    assert!(started.contains("root=/ ") && started.contains("readonly=true"), "{started}");
}

#[test]
fn timeout_leaves_no_gofer_behind() {
    let dir = TempDir::new("rootfs-timeout");
    let root = dir.path().to_string_lossy().into_owned();
    let out =
        Run::sandbox_flags(&["--rootfs", &root, "--timeout", "1"], install(&dir, &resource("spin"), "spin"), &["x"])
            .timeout(Duration::from_secs(15))
            .run();
    out.assert_code(124);
    assert_no_process_with(&root, Duration::from_secs(2));
}

#[test]
fn normal_exit_leaves_no_gofer_behind() {
    let dir = TempDir::new("rootfs-exit");
    let root = dir.path().to_string_lossy().into_owned();
    Run::sandbox_flags(&["--rootfs", &root, "--rw"], install(&dir, &busybox(), "busybox"), &["echo", "done"])
        .run()
        .assert_code(0)
        .assert_stdout("done\n");
    assert_no_process_with(&root, Duration::from_secs(2));
}

#[test]
fn sigkill_of_ringfence_kills_the_gofer() {
    let dir = TempDir::new("rootfs-sigkill");
    let root = dir.path().to_string_lossy().into_owned();
    let running = Run::sandbox_flags(&["--rootfs", &root], install(&dir, &resource("spin"), "spin"), &["x"])
        .timeout(Duration::from_secs(15))
        .spawn();
    wait_for_gofer(&dir);
    // Only ringfence itself, not its process group: the gofer must go by
    // its parent-death signal.
    running.signal(SIGKILL);
    running.wait().assert_code(128 + SIGKILL);
    assert_no_process_with(&root, Duration::from_secs(2));
}
