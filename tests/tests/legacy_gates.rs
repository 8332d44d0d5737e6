//! The legacy kernel entries a 64-bit program can still try, the vsyscall
//! page and `int 0x80`, fault in the sandbox on every platform as on KVM
//! (where neither exists): on ptrace the host kernel would otherwise serve
//! them (the stub's seccomp filter refuses the vsyscall, and the switch
//! recognises `int 0x80` at a syscall stop).

use ringfence_tests::{resource, Run};

#[test]
fn vsyscall_call_faults_at_the_vsyscall_address() {
    Run::sandbox(resource("legacy_gates"), &[] as &[&str])
        .run()
        .assert_code(0)
        .assert_stdout("signal 11 at 0xffffffffff600400\n");
}

#[test]
fn int80_faults() {
    Run::sandbox(resource("legacy_gates"), &["int80"]).run().assert_code(0).assert_stdout("signal 11 at (nil)\n");
}
