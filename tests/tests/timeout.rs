//! `--timeout` and signals to ringfence end the sandbox promptly and leave
//! no process behind.

use ringfence_tests::{assert_no_process_with, busybox, resource, unique_marker, Run, SIGINT, SIGTERM};
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn timeout_kills_a_spinning_program_with_124() {
    let marker = unique_marker("timeout");
    let out =
        Run::sandbox_flags(&["--timeout", "1"], resource("spin"), &[&marker]).timeout(Duration::from_secs(15)).run();
    out.assert_code(124);
    assert!(out.elapsed >= Duration::from_millis(900), "--timeout 1 fired after only {:?}", out.elapsed);
    assert!(out.elapsed < Duration::from_millis(3500), "--timeout 1 took {:?} to end the sandbox", out.elapsed);
    assert_no_process_with(&marker, Duration::from_secs(2));
}

#[test]
fn timeout_does_not_touch_a_quick_program() {
    Run::sandbox_flags(&["--timeout", "20"], busybox(), &["echo", "in time"])
        .run()
        .assert_code(0)
        .assert_stdout("in time\n");
}

/// Sends `sig` to `ringfence do -- spin MARKER` after 300 ms and expects
/// it to end with 128 + sig within 2 s, leaving nothing behind.
fn signal_ends_sandbox(sig: i32) {
    let marker = unique_marker("signal");
    let running = Run::sandbox(resource("spin"), &[&marker]).timeout(Duration::from_secs(15)).spawn();
    thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    running.signal(sig);
    let out = running.wait();
    let took = sent.elapsed();
    out.assert_code(128 + sig);
    assert!(took < Duration::from_secs(2), "exit took {took:?} after the signal");
    assert_no_process_with(&marker, Duration::from_secs(2));
}

#[test]
fn sigterm_ends_the_sandbox_with_143() {
    signal_ends_sandbox(SIGTERM);
}

#[test]
fn sigint_ends_the_sandbox_with_130() {
    signal_ends_sandbox(SIGINT);
}
