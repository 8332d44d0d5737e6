//! A fault inside the sentry (supervisor mode) is reported, not hidden: the
//! VM ends with the sentry-panic status, and the message names the vector,
//! the faulting address and a backtrace. Triggered by the hidden
//! `--inject-sentry-fault` test hook, which exists on KVM only (the
//! ptrace platform refuses it).

use ringfence_tests::{busybox, Run};

#[test]
fn sentry_fault_is_reported_with_registers_and_backtrace() {
    let flags = ["--platform", "kvm", "--inject-sentry-fault"];
    let out = Run::sandbox_flags(&flags, busybox(), &["echo", "never printed"]).run();
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

#[test]
fn ptrace_platform_refuses_the_kvm_fault_hook() {
    let out = Run::sandbox_flags(&["--platform", "ptrace", "--inject-sentry-fault"], busybox(), &["true"]).run();
    assert_ne!(out.code(), 0);
    assert!(out.stderr_str().contains("KVM test hook"), "{}", out.stderr_str());
}
