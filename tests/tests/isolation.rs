//! User code cannot read, write or execute sentry memory.
//!
//! `isolation MODE ADDR` makes one access; natively and in the sandbox it
//! must die by SIGSEGV (139). Natively the addresses are host kernel
//! addresses or unmapped low pages; in the sandbox they are the sentry's
//! image and kernel map, its direct map of all guest memory, and the low
//! guest-physical structures the VMM builds (boot info, hostcall blocks,
//! GDT, IDT, TSS, VIF, page tables, stacks, image) which must not be visible
//! at the same user addresses. The numbers come from the `abi` crate so the
//! test follows the layout.

use abi::layout::{
    BOOT_INFO_GPA, BOOT_PML4_GPA, BOOT_PT_POOL_GPA, GDT_GPA, HOSTCALL_GPA, IDT_GPA, KERNEL_BASE, KERNEL_IMAGE_GPA,
    KERNEL_MAP_SIZE, MIN_GUEST_MEMORY, PAGE_SIZE, PHYS_MAP_BASE, STACKS_GPA, TSS_GPA, VIF_GPA,
};
use ringfence_tests::{resource, Run};
use std::fmt::Write as _;

/// Runs each (mode, address) natively and sandboxed and reports every
/// access that did not end in SIGSEGV on both sides.
fn assert_all_segv(mode: &str, addrs: &[u64]) {
    let program = resource("isolation");
    let mut failures = String::new();
    for &addr in addrs {
        let args = [mode.to_owned(), format!("{addr:#x}")];
        let native = Run::native(&program, &args).run();
        let sandboxed = Run::sandbox(&program, &args).run();
        for run in [&native, &sandboxed] {
            if run.code() != 139 {
                let _ = writeln!(
                    failures,
                    "`{}`: status {} ({:?}), stdout {:?}, stderr {:?}",
                    run.label,
                    run.code(),
                    run.status,
                    run.stdout_str(),
                    run.stderr_str()
                );
            }
        }
    }
    assert!(failures.is_empty(), "{mode} accesses that did not die by SIGSEGV:\n{failures}");
}

/// The sentry image and the low structures through the kernel mapping.
fn sentry_image_addrs() -> Vec<u64> {
    vec![
        KERNEL_BASE + KERNEL_IMAGE_GPA, // 0xffffffff80200000: the image
        KERNEL_BASE + KERNEL_IMAGE_GPA + 0x10000,
        KERNEL_BASE, // low structures through the kernel map
        KERNEL_BASE + BOOT_INFO_GPA,
        KERNEL_BASE + HOSTCALL_GPA,
        KERNEL_BASE + STACKS_GPA, // vCPU 0 kernel stack
        KERNEL_BASE + KERNEL_MAP_SIZE - PAGE_SIZE,
    ]
}

/// The direct map of all guest memory.
fn direct_map_addrs() -> Vec<u64> {
    vec![
        PHYS_MAP_BASE, // 0xffff888000000000
        PHYS_MAP_BASE + BOOT_INFO_GPA,
        PHYS_MAP_BASE + KERNEL_IMAGE_GPA,
        PHYS_MAP_BASE + (16 << 20), // frame allocator territory
        PHYS_MAP_BASE + MIN_GUEST_MEMORY - PAGE_SIZE,
    ]
}

/// Low guest-physical pages 0x1000..0x20000 and the stacks and image, at
/// the same numbers as user addresses.
fn low_addrs() -> Vec<u64> {
    vec![
        BOOT_INFO_GPA, // 0x1000
        HOSTCALL_GPA,  // 0x2000
        GDT_GPA,
        IDT_GPA,
        TSS_GPA,
        VIF_GPA,
        0x10000,
        BOOT_PML4_GPA,
        BOOT_PML4_GPA + PAGE_SIZE, // user PML4
        BOOT_PT_POOL_GPA,
        0x1f000,
        STACKS_GPA,
        KERNEL_IMAGE_GPA,
    ]
}

#[test]
fn the_brief_addresses_are_covered() {
    assert!(sentry_image_addrs().contains(&0xffff_ffff_8020_0000));
    assert!(direct_map_addrs().contains(&0xffff_8880_0000_0000));
    let low = low_addrs();
    assert!(low.contains(&0x1000) && low.contains(&0x1f000));
}

#[test]
fn user_cannot_read_the_sentry_image() {
    assert_all_segv("read", &sentry_image_addrs());
}

#[test]
fn user_cannot_write_the_sentry_image() {
    assert_all_segv("write", &sentry_image_addrs());
}

#[test]
fn user_cannot_execute_the_sentry_image() {
    assert_all_segv("exec", &sentry_image_addrs()[..2]);
}

#[test]
fn user_cannot_read_the_direct_map() {
    assert_all_segv("read", &direct_map_addrs());
}

#[test]
fn user_cannot_write_the_direct_map() {
    assert_all_segv("write", &direct_map_addrs());
}

#[test]
fn user_cannot_execute_the_direct_map() {
    assert_all_segv("exec", &direct_map_addrs()[..2]);
}

#[test]
fn low_guest_physical_pages_are_not_user_mapped_for_reading() {
    assert_all_segv("read", &low_addrs());
}

#[test]
fn low_guest_physical_pages_are_not_user_mapped_for_writing() {
    assert_all_segv("write", &low_addrs());
}
