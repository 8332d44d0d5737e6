//! busybox applets that need no filesystem, natively and in the sandbox:
//! the same stdout and the same exit status.

use ringfence_tests::{busybox, compare_busybox, Run};
use std::time::Duration;

#[test]
fn echo_with_arguments() {
    compare_busybox(&["echo", "hello", "world", "two  spaces", ""]);
}

#[test]
fn echo_without_newline() {
    let (_, sandboxed) = compare_busybox(&["echo", "-n", "no newline"]);
    sandboxed.assert_stdout("no newline");
}

#[test]
fn echo_with_escapes() {
    compare_busybox(&["echo", "-e", r"tab\there\nnew line\\ \x41\0102 \a\b\v\f\r end"]);
}

#[test]
fn true_exits_0() {
    let (_, sandboxed) = compare_busybox(&["true"]);
    sandboxed.assert_code(0).assert_stdout("");
}

#[test]
fn false_exits_1() {
    let (_, sandboxed) = compare_busybox(&["false"]);
    sandboxed.assert_code(1);
}

#[test]
fn printf_formats() {
    compare_busybox(&[
        "printf",
        r"%s|%5d|%-5s|%x|%X|%o|%05.2f|%e|%c|%%|%b\n",
        "abc",
        "42",
        "hi",
        "255",
        "255",
        "8",
        "3.14159",
        "12345.678",
        "Z",
        r"esc\taped",
    ]);
}

#[test]
fn printf_repeats_the_format_for_extra_arguments() {
    compare_busybox(&["printf", r"[%s=%d]\n", "a", "1", "b", "2", "c", "3"]);
}

#[test]
fn seq_1_to_100() {
    compare_busybox(&["seq", "1", "100"]);
}

#[test]
fn seq_with_steps_and_options() {
    compare_busybox(&["seq", "1", "3", "100"]);
    compare_busybox(&["seq", "10", "-2", "-5"]);
    compare_busybox(&["seq", "-w", "8", "12"]);
    compare_busybox(&["seq", "-s", ",", "1", "10"]);
}

#[test]
fn large_write_is_intact() {
    // About 1.3 MB in many write(2) calls: nothing lost, reordered or cut.
    let (_, sandboxed) = compare_busybox(&["seq", "1", "200000"]);
    let lines = sandboxed.stdout_str().lines().count();
    assert_eq!(lines, 200_000);
}

#[test]
fn uname_reports_linux_x86_64() {
    // The sandbox reports its own kernel release and version, so `uname -a`
    // differs from the host by design; the system and machine must not.
    for (flag, expected) in [("-s", "Linux\n"), ("-m", "x86_64\n")] {
        let (_, sandboxed) = compare_busybox(&["uname", flag]);
        sandboxed.assert_code(0).assert_stdout(expected);
    }
    let all = Run::sandbox(busybox(), &["uname", "-a"]).run();
    all.assert_code(0);
    let text = all.stdout_str();
    assert!(text.starts_with("Linux ") && text.trim_end().ends_with("Linux"), "uname -a in the sandbox: {text:?}");
}

#[test]
fn env_passes_the_environment_through() {
    // Run both sides, ringfence included, with a cleared environment so that
    // the only variables are the ones set here.
    let vars = [("FOO", "bar"), ("WITH_SPACES", "a b  c"), ("EMPTY", ""), ("UNICODE", "ünïcødé")];
    let mut native = Run::native(busybox(), &["env"]).env_clear();
    let mut sandboxed = Run::sandbox(busybox(), &["env"]).env_clear();
    for (k, v) in vars {
        native = native.env(k, v);
        sandboxed = sandboxed.env(k, v);
    }
    // The order of the variables is not part of the contract: compare sets.
    let (native, sandboxed) = (native.run(), sandboxed.run());
    let sorted = |out: &ringfence_tests::Outcome| {
        let mut lines: Vec<String> = out.stdout_str().lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    let mut expected: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
    expected.sort();
    native.assert_code(0);
    assert_eq!(sorted(&native), expected, "native env");
    sandboxed.assert_code(0);
    assert_eq!(
        sorted(&sandboxed),
        expected,
        "`{}` printed a different environment; stderr:\n{}",
        sandboxed.label,
        sandboxed.stderr_str()
    );
}

#[test]
fn sleep_takes_its_time() {
    let (native, sandboxed) = compare_busybox(&["sleep", "0.1"]);
    for run in [&native, &sandboxed] {
        run.assert_code(0);
        assert!(run.elapsed >= Duration::from_millis(100), "`{}` took only {:?}", run.label, run.elapsed);
    }
}

#[test]
fn basename_strips_directory_and_suffix() {
    compare_busybox(&["basename", "/usr/lib/libfoo.so.1", ".1"]);
    compare_busybox(&["basename", "/a/b/c.txt", ".txt"]);
    compare_busybox(&["basename", "/"]);
}

#[test]
fn expr_arithmetic_strings_and_status() {
    compare_busybox(&["expr", "6", "*", "7"]);
    compare_busybox(&["expr", "length", "hello"]);
    compare_busybox(&["expr", "substr", "ringfence", "5", "5"]);
    compare_busybox(&["expr", "100", "/", "7", "+", "1"]);
    // A false expression prints 0 and exits 1; a syntax error exits 2.
    let (_, sandboxed) = compare_busybox(&["expr", "1", "=", "2"]);
    sandboxed.assert_code(1);
    let (_, sandboxed) = compare_busybox(&["expr", "1", "+"]);
    sandboxed.assert_code(2);
}
