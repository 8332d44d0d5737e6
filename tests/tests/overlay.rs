//! The default root is the host's `/`, read-only, with an in-sandbox tmpfs
//! over it: programs can write anywhere, and nothing reaches the host.

use ringfence_tests::{busybox, unique_marker, Run};

#[test]
fn writes_stay_in_the_sandbox() {
    let name = format!("/etc/{}", unique_marker("overlay"));
    // `.` (source) reads the file back with the shell's own builtins.
    let script = format!("echo 'echo one' > {name}; echo 'echo two' >> {name}; . {name}");
    let out = Run::sandbox(busybox(), &["sh", "-c", &script]).run();
    out.assert_code(0).assert_stdout("one\ntwo\n");
    assert!(!std::path::Path::new(&name).exists(), "{name} leaked to the host");
}

#[test]
fn changed_host_files_are_copied_up() {
    let before = std::fs::read("/etc/os-release").expect("host os-release");
    let out =
        Run::sandbox(busybox(), &["sh", "-c", "echo 'echo appended' >> /etc/os-release; . /etc/os-release; echo $ID"])
            .run();
    out.assert_code(0);
    assert!(out.stdout_str().starts_with("appended\n"), "stdout: {}", out.stdout_str());
    assert_eq!(std::fs::read("/etc/os-release").expect("host os-release"), before, "the host file changed");
}

#[test]
fn removals_stay_in_the_sandbox() {
    Run::sandbox(busybox(), &["rm", "/etc/os-release"]).run().assert_code(0).assert_stdout("");
    assert!(std::path::Path::new("/etc/os-release").exists(), "the host file was removed");
}
