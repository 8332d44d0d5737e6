//! Hardware KVM (VMX/SVM): kernel pages are supervisor-only, there is no
//! VIF page, and `KVM_GET_TSC_KHZ` gives the TSC frequency. Kept small so it
//! can be checked on an SVM host (shared/hwkvm).

use crate::vstate::Vcpu;

/// Kernel mappings are supervisor-only (U=0).
pub const KERNEL_PAGES_USER: bool = false;

/// TSC frequency from `KVM_GET_TSC_KHZ`.
pub fn tsc_khz(vcpu: &Vcpu) -> u64 {
    vcpu.tsc_khz().map_or(0, u64::from)
}

/// No MSRs beyond the architectural syscall ones.
pub fn msrs(_vcpu: u64) -> Vec<(u32, u64)> {
    Vec::new()
}
