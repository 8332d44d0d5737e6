//! The local APIC timer that preempts user code (x2APIC registers through
//! MSRs; the VMM enabled x2APIC mode in `IA32_APIC_BASE` and started the
//! periodic tick, `abi::boot::FLAG_LAPIC_TIMER`).
//!
//! A periodic tick: programming a one-shot deadline on every return to
//! user mode would cost an exit per syscall on the PVM variant, a tick
//! costs ~30 µs only while user code runs.

/// The IDT vector of the timer interrupt.
pub const VECTOR_TIMER: u64 = abi::boot::TIMER_VECTOR as u64;

// The tick is half a time slice (see `abi::boot::TICK_NS`).
const _: () = assert!(abi::boot::TICK_NS == sentry::kernel::sched::TIME_SLICE_NS / 2);

const MSR_EOI: u32 = 0x80b;

fn wrmsr(msr: u32, v: u64) {
    let (lo, hi) = ((v & 0xffff_ffff) as u32, (v >> 32) as u32);
    // SAFETY: only the x2APIC EOI register is written, which the VMM
    // enabled (FLAG_LAPIC_TIMER); acknowledging an interrupt has no other
    // effect on the sentry's state.
    unsafe { core::arch::asm!("wrmsr", in("ecx") msr, in("eax") lo, in("edx") hi, options(nostack, nomem)) };
}

/// Acknowledges the timer interrupt being handled.
pub fn eoi() {
    wrmsr(MSR_EOI, 0);
}
