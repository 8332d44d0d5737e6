//! What the guest sees at boot: page tables, GDT, TSS and the vCPU's
//! initial state. Safe code only; guest memory is reached through
//! `vstate::GuestMemory`.

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use x86_64::*;
