//! Self-tests of the harness, run natively only: they must pass on any Linux
//! host whatever the state of the sandbox, so a red behaviour test is about
//! ringfence and not about the harness.

use ringfence_tests::{
    assert_no_process_with, busybox, describe_difference, processes_with, pseudo_random_bytes, resource, unique_marker,
    Run, SIGTERM,
};
use std::panic;
use std::thread;
use std::time::Duration;

#[test]
fn signal_deaths_read_as_shell_statuses() {
    Run::native(resource("segv"), &[] as &[&str]).run().assert_code(139);
    Run::native(resource("exit_code"), &["42"]).run().assert_code(42);
}

#[test]
fn stdin_is_fed_and_stdout_collected_in_full() {
    let input = pseudo_random_bytes(1 << 20, 7);
    Run::native(busybox(), &["cat"]).stdin(input.clone()).run().assert_code(0).assert_stdout(&input);
}

#[test]
fn hard_timeout_fails_the_test_and_kills_the_child() {
    let marker = unique_marker("harness-timeout");
    let spin = resource("spin");
    let result = panic::catch_unwind(|| Run::native(&spin, &[&marker]).timeout(Duration::from_millis(300)).run());
    let err = result.expect_err("a child past its timeout must fail the test");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("did not finish"), "unexpected panic message: {msg}");
    assert_no_process_with(&marker, Duration::from_secs(2));
}

#[test]
fn dropping_a_running_child_kills_it() {
    let marker = unique_marker("harness-drop");
    let running = Run::native(resource("spin"), &[&marker]).spawn();
    thread::sleep(Duration::from_millis(100));
    assert_eq!(processes_with(&marker).len(), 1, "spin should be running");
    drop(running);
    assert_no_process_with(&marker, Duration::from_secs(2));
}

#[test]
fn sigterm_to_a_native_spinner_reads_143() {
    let marker = unique_marker("harness-term");
    let running = Run::native(resource("spin"), &[&marker]).spawn();
    thread::sleep(Duration::from_millis(100));
    running.signal(SIGTERM);
    running.wait().assert_code(143);
    assert_no_process_with(&marker, Duration::from_secs(2));
}

#[test]
fn differences_are_located() {
    assert!(describe_difference(b"abc", b"abc").is_none());
    let d = describe_difference(b"abcdef", b"abcxef").expect("differs");
    assert!(d.contains("at byte 3"), "{d}");
    let d = describe_difference(b"abc", b"ab").expect("differs");
    assert!(d.contains("at byte 2"), "{d}");
}
