//! Exit statuses: the program's own, 128 + signal, and ringfence's 125, 126
//! and 127 for its own errors, unrunnable and missing programs.

use ringfence_tests::{busybox, compare, resource, Run, TempDir};

#[test]
fn exit_codes_pass_through() {
    for code in [0, 1, 2, 42, 127, 255] {
        let (_, sandboxed) = compare(resource("exit_code"), &[code.to_string()]);
        sandboxed.assert_code(code);
    }
    // exit(256): the kernel keeps the low 8 bits.
    let (_, sandboxed) = compare(resource("exit_code"), &["256"]);
    sandboxed.assert_code(0);
}

#[test]
fn write_to_address_0_is_sigsegv_139() {
    let (_, sandboxed) = compare(resource("segv"), &[] as &[&str]);
    sandboxed.assert_code(139);
}

#[test]
fn busybox_false_is_1() {
    compare(busybox(), &["false"]).1.assert_code(1);
}

#[test]
fn missing_program_is_127() {
    let out = Run::sandbox("/nonexistent/ringfence-test/no-such-program", &[] as &[&str]).run();
    out.assert_code(127);
    let out = Run::sandbox("ringfence-test-no-such-program", &[] as &[&str]).env("PATH", "/usr/bin:/bin").run();
    out.assert_code(127);
}

#[test]
fn non_elf_file_is_126() {
    let dir = TempDir::new("non-elf");
    // Executable, but neither ELF nor a #! script.
    let text = dir.file("not-elf", b"echo this is not a program\n", 0o755);
    Run::sandbox(&text, &[] as &[&str]).run().assert_code(126);
    let truncated = dir.file("truncated-elf", b"\x7fELF\x02\x01\x01", 0o755);
    Run::sandbox(&truncated, &[] as &[&str]).run().assert_code(126);
}

#[test]
fn file_without_execute_permission_is_126() {
    let dir = TempDir::new("no-x");
    let elf = std::fs::read(resource("exit_code")).expect("read exit_code");
    let path = dir.file("exit_code", &elf, 0o644);
    Run::sandbox(&path, &["0"]).run().assert_code(126);
}

#[test]
fn program_found_through_path() {
    let bin = busybox();
    let dir = bin.parent().expect("busybox has a directory");
    Run::sandbox("busybox", &["echo", "via PATH"]).env("PATH", dir).run().assert_code(0).assert_stdout("via PATH\n");
}

#[test]
fn ringfence_errors_are_125_with_a_message() {
    let out = Run::sandbox_flags(&["--memory", "not-a-size"], busybox(), &["true"]).run();
    out.assert_code(125);
    assert!(
        out.stderr_str().contains("ringfence: "),
        "expected a `ringfence: ...` message on stderr, got:\n{}",
        out.stderr_str()
    );
}
