//! A fault inside the sentry (supervisor mode) is reported, not hidden: the
//! VM ends with the sentry-panic status, and the message names the vector,
//! the faulting address and a backtrace. Triggered by the hidden
//! `--inject-sentry-fault` test hook.

use ringfence_tests::{busybox, Run};

#[test]
fn sentry_fault_is_reported_with_registers_and_backtrace() {
    let out = Run::sandbox_flags(&["--inject-sentry-fault"], busybox(), &["echo", "never printed"]).run();
    out.assert_code(125).assert_stdout("");
    let err = out.stderr_str();
    for want in [
        "ringfence: sentry panic: sentry fault: vector 14 (page fault)",
        "cr2 0xffffc00000000000",
        "at rip 0xffffffff8",
        "backtrace: 0xffffffff8",
    ] {
        assert!(err.contains(want), "missing {want:?} in:\n{err}");
    }
}
