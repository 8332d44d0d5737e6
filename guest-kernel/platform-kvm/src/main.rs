//! The guest image: the sentry linked to run in a KVM VM, in guest
//! supervisor mode.
//!
//! The VMM loads this ELF at guest-physical `KERNEL_IMAGE_GPA`, prepares the
//! boot page tables, GDT, TSS, MSRs and the boot information block, and
//! starts the vCPU at `_start` (found through the image header) on the
//! vCPU's kernel stack. `kmain` fills the IDT, sets up the heap and frame
//! allocator, and hands the init program to the sentry.
#![no_std]
#![no_main]

extern crate alloc;

#[allow(unsafe_code)]
mod arch;
#[allow(unsafe_code)]
mod boot;
#[allow(unsafe_code)]
mod heap;
mod host;
#[allow(unsafe_code)]
mod hostcall;
mod paging;
#[allow(unsafe_code)]
mod panic;
#[allow(unsafe_code)]
mod platform;

use abi::boot::{BOOT_VERSION, IMAGE_MAGIC};

// The image header the VMM reads at KERNEL_IMAGE_GPA, then the entry point.
#[allow(unsafe_code)]
mod start {
    core::arch::global_asm!(
        ".section .image_header, \"a\"",
        ".quad {magic}",
        ".long {version}, 0",
        ".quad _start",
        ".quad syscall_entry",
        ".section .text.entry, \"ax\"",
        ".globl _start",
        "_start:",
        "cld",
        "xor %ebp, %ebp",
        "call kmain",
        "ud2",
        magic = const super::IMAGE_MAGIC,
        version = const super::BOOT_VERSION,
        options(att_syntax)
    );
}
