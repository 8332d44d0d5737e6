//! The last page of user space: Linux and the KVM sandbox map it; the
//! ptrace platform keeps its stub page there and ends the application's
//! range below it (`AddressSpace::USER_END`), so mmap refuses it with
//! ENOMEM instead of the program faulting at its first touch
//! (resources/c/top_page.c).

use ringfence_tests::{compare, resource, sandbox_platform, Run};

#[test]
fn the_last_user_page_is_mapped_as_on_linux_or_refused_on_ptrace() {
    if sandbox_platform().as_deref() == Some("ptrace") {
        Run::sandbox(resource("top_page"), &[] as &[&str]).run().assert_code(0).assert_stdout("top page: ENOMEM\n");
    } else {
        let (native, _) = compare(resource("top_page"), &[] as &[&str]);
        native.assert_stdout("top page: mapped, read back 42\n");
    }
}
