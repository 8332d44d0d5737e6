//! Deep paths on the gofer's tree resolve in few 9P exchanges: the sentry
//! walks up to 16 plain components per Twalk (issue #4), stopping at
//! symlinks (resolved in the sandbox), `..` and mount points. Results must
//! match Linux for symlinks in the middle, `..`, missing components and
//! files used as directories.

use std::path::Path;

use ringfence_tests::{busybox, compare_runs, Run, TempDir};

/// A tree under the host's /tmp, which the default root (the host's /
/// under an overlay) shows through the gofer.
fn tree() -> TempDir {
    let t = TempDir::new("deep-walk");
    let p = t.path();
    std::fs::create_dir_all(p.join("a/b/c/d/e")).expect("mkdir");
    std::fs::write(p.join("a/b/c/d/e/f"), b"deep\n").expect("write");
    std::fs::write(p.join("top"), b"top\n").expect("write");
    std::os::unix::fs::symlink("b/c", p.join("a/mid")).expect("symlink");
    std::os::unix::fs::symlink("../../..", p.join("a/b/c/up")).expect("symlink");
    t
}

/// The sandbox's hostcall count for `busybox stat -c %n PATH`.
fn hostcalls_of_stat(path: &Path) -> u64 {
    let p = path.to_str().expect("utf-8 path");
    let out = Run::sandbox_flags(&["--stats"], busybox(), &["stat", "-c", "%n", p]).run();
    out.assert_code(0).assert_stdout(format!("{p}\n"));
    let stderr = out.stderr_str();
    let line = stderr.lines().find(|l| l.starts_with("ringfence-stats:")).expect("stats line");
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix("hostcalls="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no hostcalls in {line:?}"))
}

#[test]
fn a_deep_path_costs_about_what_a_shallow_one_does() {
    let t = tree();
    let shallow = hostcalls_of_stat(&t.path().join("top"));
    let deep = hostcalls_of_stat(&t.path().join("a/b/c/d/e/f"));
    // One component per Twalk cost a walk and an attribute fetch for each
    // of the five extra directories (+10); batched, the whole path is one
    // Twalk and the directories passed through need no attributes.
    assert!(deep <= shallow + 1, "stat of a 7-deep path: {deep} hostcalls, of a 2-deep one: {shallow}");
}

#[test]
fn symlinks_dotdot_and_failures_inside_deep_paths_match_linux() {
    let t = tree();
    let root = t.path().to_str().expect("utf-8 path").to_owned();
    let script = format!(
        "cd {root} && cat a/mid/d/e/f && cat a/b/c/up/a/b/c/d/e/f && cat a/b/c/d/../d/e/f && \
         cat a/b/c/d/e/f/g 2>/dev/null; echo $?; cat a/b/nope/d/e/f 2>/dev/null; echo $?; \
         stat -c '%n %F' a/mid a/b/c/up a/mid/d/e a/b/c/d/e/f; ls a/mid/d; \
         test -e a/b/c/d/e/g; echo $?"
    );
    compare_runs(Run::native(busybox(), &["sh", "-c", &script]), Run::sandbox(busybox(), &["sh", "-c", &script]));
}
