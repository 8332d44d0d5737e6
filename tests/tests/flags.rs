//! The `do` flags: --debug, --stats, --memory, --platform.

use ringfence_tests::{busybox, Run};

#[test]
fn debug_traces_syscalls_on_stderr() {
    let out = Run::sandbox_flags(&["--debug"], busybox(), &["true"]).run();
    out.assert_code(0).assert_stdout("");
    assert!(
        out.stderr_str().contains("exit_group"),
        "--debug output does not mention exit_group:\n{}",
        out.stderr_str()
    );
}

#[test]
fn debug_leaves_stdout_alone() {
    Run::sandbox_flags(&["--debug"], busybox(), &["echo", "traced"]).run().assert_code(0).assert_stdout("traced\n");
}

#[test]
fn stats_prints_one_line_of_counters() {
    let out = Run::sandbox_flags(&["--stats"], busybox(), &["echo", "counted"]).run();
    out.assert_code(0).assert_stdout("counted\n");
    let stderr = out.stderr_str();
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("ringfence-stats:")).collect();
    assert_eq!(lines.len(), 1, "expected one ringfence-stats line in:\n{stderr}");
    let fields: Vec<(&str, u64)> = lines[0]
        .trim_start_matches("ringfence-stats:")
        .split_whitespace()
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let v = v.parse().unwrap_or_else(|_| panic!("field {kv:?} of {:?} is not key=integer", lines[0]));
            (k, v)
        })
        .collect();
    let keys: Vec<&str> = fields.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, ["exits", "hostcalls", "p9_exchanges", "p9_us", "boot_us", "wall_us"], "{}", lines[0]);
    let value = |name: &str| fields.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    assert!(value("exits") > Some(0), "a run needs at least one exit: {}", lines[0]);
    assert!(value("wall_us") > Some(0), "{}", lines[0]);
    // busybox is found and loaded through the gofer.
    assert!(value("p9_exchanges") > Some(0), "{}", lines[0]);
    assert!(value("p9_exchanges") <= value("hostcalls"), "{}", lines[0]);
}

#[test]
fn memory_and_platform_flags_are_accepted() {
    Run::sandbox_flags(&["--memory", "256M", "--platform", "kvm"], busybox(), &["echo", "sized"])
        .run()
        .assert_code(0)
        .assert_stdout("sized\n");
}

#[test]
fn guest_profile_samples_where_the_guest_runs() {
    if ringfence_tests::sandbox_platform().is_some_and(|p| p == "ptrace") {
        return; // The sampler kicks a vCPU: KVM only.
    }
    let dir = ringfence_tests::TempDir::new("guest-profile");
    let file = dir.path().join("profile");
    let marker = ringfence_tests::unique_marker("profile");
    let out = Run::sandbox_flags(&["--timeout", "1"], ringfence_tests::resource("spin"), &[marker.as_str()])
        .env("RINGFENCE_GUEST_PROFILE", &file)
        .run();
    out.assert_code(124);
    let text = std::fs::read_to_string(&file).expect("the profile was written");
    let samples: Vec<(u64, bool)> = text
        .lines()
        .map(|l| {
            let (rip, user) = l.split_once(' ').unwrap_or_else(|| panic!("bad line {l:?}"));
            (u64::from_str_radix(rip, 16).expect("hex rip"), user == "1")
        })
        .collect();
    assert!(samples.len() >= 50, "{} samples in a second of spinning", samples.len());
    // spin loops in user mode below the kernel half; the sentry's samples
    // (boot) lie in the kernel half.
    let user = samples.iter().filter(|(rip, user)| *user && *rip < 0x8000_0000_0000).count();
    assert!(user * 2 > samples.len(), "{user} of {} samples in user mode", samples.len());
    assert!(
        samples.iter().all(|(rip, user)| *user || *rip >= 0xffff_8000_0000_0000),
        "kernel samples in the kernel half"
    );
}
