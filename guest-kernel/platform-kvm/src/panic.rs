//! Fatal errors in the sentry: Rust panics and CPU exceptions taken in
//! supervisor mode. Both send a message with the faulting state and a
//! frame-pointer backtrace through the Panic hostcall, which ends the VM
//! with a distinct status; nothing here allocates.

use core::fmt::Write;

use abi::hostcall::Hostcall;
use abi::layout::{KERNEL_BASE, MAX_VCPUS, STACKS_GPA, STACK_STRIDE};
use sentry::arch::UserRegs;

use crate::arch::{self, entry::CPU_LOCAL, Backend};
use crate::hostcall;

/// A fixed-size text buffer (no allocation on the fatal path).
struct Buf {
    bytes: [u8; 2048],
    len: usize,
}

impl Write for Buf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Appends return addresses found by walking the frame-pointer chain from
/// `rbp`, staying inside the vCPU stacks.
fn backtrace(out: &mut Buf, mut rbp: u64) {
    let lo = KERNEL_BASE + STACKS_GPA;
    let hi = lo + STACK_STRIDE * MAX_VCPUS;
    let _ = write!(out, "\nbacktrace:");
    for _ in 0..24 {
        if rbp < lo || rbp + 16 > hi || !rbp.is_multiple_of(8) {
            break;
        }
        // SAFETY: `rbp` was checked to lie inside the vCPU stacks, which
        // are mapped (kernel map) for the sentry's whole life.
        let (next, ret) = unsafe { ((rbp as *const u64).read_volatile(), ((rbp + 8) as *const u64).read_volatile()) };
        if ret == 0 {
            break;
        }
        let _ = write!(out, " {ret:#x}");
        if next <= rbp {
            break;
        }
        rbp = next;
    }
}

fn fatal(msg: &Buf) -> ! {
    hostcall::call_with_text(Hostcall::Panic, [0; 4], &msg.bytes[..msg.len]);
    arch::halt_forever()
}

fn backend() -> Backend {
    // SAFETY: plain read of a word set once at boot.
    if unsafe { core::ptr::addr_of!(CPU_LOCAL.pvm).read_volatile() } != 0 {
        Backend::Pvm
    } else {
        Backend::Hardware
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut b = Buf { bytes: [0; 2048], len: 0 };
    let _ = write!(b, "{info}");
    let rbp: u64;
    // SAFETY: reads the frame pointer register.
    unsafe { core::arch::asm!("mov %rbp, {}", out(reg) rbp, options(att_syntax, nomem, nostack)) };
    backtrace(&mut b, rbp);
    fatal(&b)
}

const NAMES: [&str; 32] = [
    "divide error",
    "debug",
    "NMI",
    "breakpoint",
    "overflow",
    "bound range",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor overrun",
    "invalid TSS",
    "segment not present",
    "stack fault",
    "general protection",
    "page fault",
    "reserved",
    "x87 floating point",
    "alignment check",
    "machine check",
    "SIMD floating point",
    "virtualization",
    "control protection",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "reserved",
    "hypervisor injection",
    "VMM communication",
    "security",
    "reserved",
];

/// Called by the vector stubs for an exception taken in supervisor mode.
#[no_mangle]
extern "C" fn kernel_trap(frame: &UserRegs) -> ! {
    let mut b = Buf { bytes: [0; 2048], len: 0 };
    let name = usize::try_from(frame.vector).ok().and_then(|v| NAMES.get(v)).copied().unwrap_or("interrupt");
    let _ = write!(
        b,
        "sentry fault: vector {} ({}) error {:#x} at rip {:#x}, rsp {:#x}, rflags {:#x}",
        frame.vector, name, frame.error_code, frame.rip, frame.rsp, frame.rflags
    );
    if frame.vector == 14 {
        let _ = write!(b, ", cr2 {:#x}", arch::fault_address(backend()));
    }
    let _ = write!(
        b,
        "\nrax {:#x} rbx {:#x} rcx {:#x} rdx {:#x} rsi {:#x} rdi {:#x} rbp {:#x}",
        frame.rax, frame.rbx, frame.rcx, frame.rdx, frame.rsi, frame.rdi, frame.rbp
    );
    let _ = write!(b, "\nframe rip {:#x}", frame.rip);
    backtrace(&mut b, frame.rbp);
    fatal(&b)
}
