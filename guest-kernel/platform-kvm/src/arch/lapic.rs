//! The local APIC timer that preempts user code (x2APIC registers through
//! MSRs; the VMM enabled x2APIC mode in `IA32_APIC_BASE`, FACTS.md).
//!
//! A periodic tick: programming a one-shot deadline on every return to
//! user mode would cost an exit per syscall on the PVM variant, a tick
//! costs ~30 µs only while user code runs.

/// The IDT vector of the timer interrupt.
pub const VECTOR_TIMER: u64 = 0x20;
/// The spurious-interrupt vector (needs no EOI).
pub const VECTOR_SPURIOUS: u64 = 0xff;
/// The tick period: half the sentry's time slice, so that a task that never
/// traps runs between one and one and a half slices, and a timer expiry is
/// seen at most this late while such a task runs.
pub const TICK_NS: u64 = sentry::kernel::sched::TIME_SLICE_NS / 2;

const MSR_SVR: u32 = 0x80f;
const MSR_EOI: u32 = 0x80b;
const MSR_LVT_TIMER: u32 = 0x832;
const MSR_TIMER_INITIAL: u32 = 0x838;
const MSR_TIMER_DIVIDE: u32 = 0x83e;
/// SVR: APIC software enable.
const SVR_ENABLE: u64 = 1 << 8;
/// LVT timer mode: periodic.
const LVT_PERIODIC: u64 = 1 << 17;
/// Divide configuration: by 1 (KVM's APIC timer counts at 1 GHz, so one
/// count is one ns).
const DIVIDE_BY_1: u64 = 0xb;

fn wrmsr(msr: u32, v: u64) {
    let (lo, hi) = ((v & 0xffff_ffff) as u32, (v >> 32) as u32);
    // SAFETY: only the x2APIC registers above are written, which the VMM
    // enabled (FLAG_LAPIC_TIMER); they raise interrupts on vector
    // VECTOR_TIMER, which the IDT's stub reports as a trap from user mode
    // (the sentry runs with interrupts off, so it never takes one itself).
    unsafe { core::arch::asm!("wrmsr", in("ecx") msr, in("eax") lo, in("edx") hi, options(nostack, nomem)) };
}

/// Starts the periodic tick.
pub fn start_tick() {
    wrmsr(MSR_SVR, SVR_ENABLE | VECTOR_SPURIOUS);
    wrmsr(MSR_TIMER_DIVIDE, DIVIDE_BY_1);
    wrmsr(MSR_LVT_TIMER, LVT_PERIODIC | VECTOR_TIMER);
    wrmsr(MSR_TIMER_INITIAL, TICK_NS);
}

/// Acknowledges the timer interrupt being handled.
pub fn eoi() {
    wrmsr(MSR_EOI, 0);
}
