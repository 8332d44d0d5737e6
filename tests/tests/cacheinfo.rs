//! The cache geometry glibc learns from CPUID (resources/c/cacheinfo.c)
//! natively and in the sandbox. On KVM the VMM rewrites CPUID leaf 2 on
//! Intel from leaf 4's data (vmm/src/arch/x86_64/cpuid.rs) so that glibc
//! stops walking leaf 4 at start: programs must still see caches where the
//! host has them, the same line sizes, the same L1 caches, and L2/L3 sizes
//! within a factor of two (the nearest legacy descriptor). Under ptrace
//! the program runs on the host's CPUID: everything is equal.

use std::collections::BTreeMap;

use ringfence_tests::{resource, sandbox_platform, Outcome, Run};

fn values(out: &Outcome) -> BTreeMap<String, i64> {
    out.stdout_str()
        .lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap_or_else(|| panic!("bad line {l:?}"));
            (k.to_owned(), v.parse().unwrap_or_else(|_| panic!("bad value in {l:?}")))
        })
        .collect()
}

#[test]
fn cache_sizes_are_sane_and_line_sizes_native() {
    let native = Run::native(resource("cacheinfo"), &[] as &[&str]).run();
    let sandboxed = Run::sandbox(resource("cacheinfo"), &[] as &[&str]).run();
    native.assert_code(0);
    sandboxed.assert_code(0);
    let (n, s) = (values(&native), values(&sandboxed));
    assert_eq!(n.keys().collect::<Vec<_>>(), s.keys().collect::<Vec<_>>());
    if sandbox_platform().as_deref() == Some("ptrace") {
        assert_eq!(n, s);
        return;
    }
    let what = format!("native {n:?}\nsandbox {s:?}");
    for level in ["l1d", "l1i", "l2", "l3"] {
        let size = format!("{level}_size");
        if n[&size] > 0 {
            assert!(s[&size] > 0, "{size}: {what}");
            let (a, b) = (n[&size], s[&size]);
            assert!(b <= 2 * a && a <= 2 * b, "{size} off by more than 2x: {what}");
        }
        let line = format!("{level}_line");
        assert_eq!(n[&line], s[&line], "{line}: {what}");
    }
    assert_eq!(n["l1d_size"], s["l1d_size"], "{what}");
    assert_eq!(n["l1i_size"], s["l1i_size"], "{what}");
    assert_eq!(n["l4_size"] > 0, s["l4_size"] > 0, "{what}");
    for assoc in ["l1d_assoc", "l2_assoc", "l3_assoc"] {
        if n[assoc] > 0 {
            assert!(s[assoc] > 0, "{assoc}: {what}");
        }
    }
}
