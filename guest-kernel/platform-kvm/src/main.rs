//! The guest image (stub).
#![allow(unsafe_code)]
#![no_std]
#![no_main]
core::arch::global_asm!(
    ".section .text.entry, \"ax\"",
    ".globl _start",
    "_start: ud2",
    ".globl rust_eh_personality",
    "rust_eh_personality: ret",
);
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
