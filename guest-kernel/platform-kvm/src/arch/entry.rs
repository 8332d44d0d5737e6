//! Entry and exit assembly: the `syscall` entry, the exception vectors, and
//! the switch between the sentry and user mode.
//!
//! The sentry runs on one kernel stack per vCPU. [`switch_to_user`] saves
//! the kernel's callee-saved registers and stack pointer in [`CpuLocal`],
//! loads the task's registers and returns to user mode; every trap from
//! user mode stores the user registers into the task's [`UserRegs`] (at
//! `CpuLocal::regs`), saves the FPU state and returns from
//! `switch_to_user` on the kernel stack as if it were an ordinary call.
//!
//! Return to user: on the PVM variant only through the `int $0x19`
//! (sysret-like) and `int $0x17` (iret-like) gates after clearing the VIF
//! interrupt byte, never a native `sysretq`/`iretq` (FACTS.md); on hardware
//! `sysretq`/`iretq`.

use abi::layout::{selector, KERNEL_BASE, VIF_GPA};
use sentry::arch::UserRegs;

/// `UserRegs::vector` value for a `syscall` entry (above every CPU vector).
pub const VECTOR_SYSCALL: u64 = 0x100;

/// Per-vCPU data the entry code reaches by absolute address.
#[repr(C)]
#[derive(Debug)]
pub struct CpuLocal {
    /// Scratch: the user stack pointer on `syscall` entry.
    pub user_rsp: u64,
    /// The sentry's stack pointer inside `switch_to_user`.
    pub kernel_rsp: u64,
    /// Where the entry code stores the user registers.
    pub regs: *mut UserRegs,
    /// Where the entry code saves the user FPU state (`fxsave64`).
    pub fpu: *mut u8,
    /// 1 on the PVM variant (return through the gates).
    pub pvm: u64,
    /// 1 when the user FPU state is saved with `xsave64` (the AVX and
    /// AVX-512 registers user code can use on PVM), 0 for `fxsave64`.
    pub xsave: u64,
}

/// The boot vCPU's local data. Only vCPU 0 exists in this version; SMP adds
/// one per vCPU with per-vCPU entry points (as the probes do).
#[no_mangle]
pub static mut CPU_LOCAL: CpuLocal =
    CpuLocal { user_rsp: 0, kernel_rsp: 0, regs: core::ptr::null_mut(), fpu: core::ptr::null_mut(), pvm: 0, xsave: 0 };

/// MXCSR the sentry runs with (all exceptions masked).
#[no_mangle]
static KERNEL_MXCSR: u32 = 0x1f80;

core::arch::global_asm!(
    ".section .text",
    ".globl syscall_entry",
    ".balign 64",
    "syscall_entry:",
    // On the user stack and (PVM) already on the kernel CR3; RCX = user rip,
    // R11 = user rflags. Build the trap frame inside the task's UserRegs.
    "mov %rsp, CPU_LOCAL+0",
    "mov CPU_LOCAL+16, %rsp",
    "add $176, %rsp",
    "pushq ${user_ds}",
    "pushq CPU_LOCAL+0",
    "push %r11",
    "pushq ${user_cs}",
    "push %rcx",
    "pushq $0",
    "pushq ${vsys}",
    "push %rax; push %rbx; push %rcx; push %rdx; push %rsi; push %rdi; push %rbp",
    "push %r8; push %r9; push %r10; push %r11; push %r12; push %r13; push %r14; push %r15",
    "jmp enter_kernel",
    "",
    // Back to the sentry: save the user FPU state, restore the kernel's
    // stack and callee-saved registers, return from switch_to_user.
    "enter_kernel:",
    "mov CPU_LOCAL+24, %rcx",
    "cmpq $0, CPU_LOCAL+40",
    "je 71f",
    "mov ${xsave_mask}, %eax",
    "xor %edx, %edx",
    "xsave64 (%rcx)",
    "jmp 72f",
    "71: fxsave64 (%rcx)",
    "72:",
    "mov CPU_LOCAL+8, %rsp",
    "ldmxcsr KERNEL_MXCSR",
    "cld",
    "pop %r15; pop %r14; pop %r13; pop %r12; pop %rbp; pop %rbx",
    "ret",
    "",
    // switch_to_user(sysret: u64): rdi != 0 when RCX == rip and R11 ==
    // rflags in the saved registers, so the sysret-like return may be used.
    ".globl switch_to_user",
    "switch_to_user:",
    "push %rbx; push %rbp; push %r12; push %r13; push %r14; push %r15",
    "mov %rsp, CPU_LOCAL+8",
    "mov CPU_LOCAL+24, %rcx",
    "cmpq $0, CPU_LOCAL+40",
    "je 73f",
    "mov ${xsave_mask}, %eax",
    "xor %edx, %edx",
    "xrstor64 (%rcx)",
    "jmp 74f",
    "73: fxrstor64 (%rcx)",
    "74:",
    "mov CPU_LOCAL+16, %rsp",
    "test %rdi, %rdi",
    "jz 2f",
    "pop %r15; pop %r14; pop %r13; pop %r12; pop %r11; pop %r10; pop %r9; pop %r8",
    "pop %rbp; pop %rdi; pop %rsi; pop %rdx; pop %rcx; pop %rbx; pop %rax",
    "mov 40(%rsp), %rsp",
    "cmpq $0, CPU_LOCAL+32",
    "je 3f",
    "movb $0, {vif}",
    "int $0x19",
    "ud2",
    "3: sysretq",
    "2:",
    "pop %r15; pop %r14; pop %r13; pop %r12; pop %r11; pop %r10; pop %r9; pop %r8",
    "pop %rbp; pop %rdi; pop %rsi; pop %rdx; pop %rcx; pop %rbx; pop %rax",
    "add $16, %rsp",
    "cmpq $0, CPU_LOCAL+32",
    "je 4f",
    "movb $0, {vif}",
    "int $0x17",
    "ud2",
    "4: iretq",
    "",
    // Exception and interrupt vectors: 16-byte stubs pushing a zero error
    // code where the CPU pushes none, then the vector number.
    ".balign 16",
    ".globl vector_stubs",
    "vector_stubs:",
    ".set vec, 0",
    ".rept 256",
    ".balign 16",
    ".if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)",
    ".else",
    "pushq $0",
    ".endif",
    "pushq $vec",
    "jmp exception_common",
    ".set vec, vec+1",
    ".endr",
    "",
    "exception_common:",
    "testb $3, 24(%rsp)",
    "jz 5f",
    // From user mode, on the trap stack (TSS.RSP0): complete the frame and
    // copy it into the task's UserRegs.
    "push %rax; push %rbx; push %rcx; push %rdx; push %rsi; push %rdi; push %rbp",
    "push %r8; push %r9; push %r10; push %r11; push %r12; push %r13; push %r14; push %r15",
    // Clear AC (alignment checks; on PVM the sentry runs at hardware CPL 3)
    // and DF, which the user may have left set; IF stays off (VIF byte).
    "pushq $2",
    "popfq",
    "mov %rsp, %rsi",
    "mov CPU_LOCAL+16, %rdi",
    "mov $22, %ecx",
    "rep movsq",
    "jmp enter_kernel",
    "5:",
    // From the sentry itself: a bug. Report and stop.
    "push %rax; push %rbx; push %rcx; push %rdx; push %rsi; push %rdi; push %rbp",
    "push %r8; push %r9; push %r10; push %r11; push %r12; push %r13; push %r14; push %r15",
    "mov %rsp, %rdi",
    "and $-16, %rsp",
    "call kernel_trap",
    "ud2",
    user_ds = const selector::USER_DS,
    user_cs = const selector::USER_CS,
    vsys = const VECTOR_SYSCALL,
    vif = const (KERNEL_BASE + VIF_GPA).cast_signed(),
    xsave_mask = const sentry::arch::XSAVE_MASK,
    options(att_syntax)
);

extern "C" {
    /// Returns to user mode with the registers at `CPU_LOCAL.regs` and the
    /// FPU state at `CPU_LOCAL.fpu`; returns when user mode traps.
    pub fn switch_to_user(sysret: u64);
    /// The first of 256 vector stubs, 16 bytes apart.
    pub fn vector_stubs();
}
