//! The paravirtual `kvm_pvm` variant (shared/pvm/FACTS.md): every present
//! page-table entry needs U=1, each vCPU registers a zeroed VIF page with
//! the direct-switch flags, and the TSC frequency comes from an MSR.

use abi::layout::{self, pvm};

use crate::loader::LoadError;
use crate::vstate::{GuestMemory, Vcpu};

/// Without U=1 on kernel entries the first fetch refaults forever.
pub const KERNEL_PAGES_USER: bool = true;

/// CR4.FSGSBASE works on this variant (verified by shared/pvm/kernel-rules,
/// which runs with CR4 = 0x10620) although its `KVM_GET_SUPPORTED_CPUID`
/// hides the CPUID bit.
pub const FSGSBASE: bool = true;

/// Whether `vcpu` runs on the PVM variant: its signature MSR reads "PVM".
pub fn detect(vcpu: &Vcpu) -> bool {
    super::read_msr(vcpu, pvm::MSR_SIGNATURE) == Some(pvm::SIGNATURE)
}

/// TSC frequency from the variant's MSR.
pub fn tsc_khz(vcpu: &Vcpu) -> u64 {
    super::read_msr(vcpu, pvm::MSR_TSC_KHZ).unwrap_or(0)
}

/// CPUID.1 ECX and EDX as the guest's CPUID reports them: the variant
/// answers with the host's feature bits, not its KVM_SET_CPUID2 table
/// (measured: table ECX 0x81203000 EDX 0x0f8bf9ff, guest CPUID
/// 0xf7f83203 0x1f8bfbff, host 0xfffa3203 0x1f8bfbff: the host's, less
/// OSXSAVE and PCID, which the sentry does not use).
pub fn leaf1() -> [u32; 2] {
    let r = std::arch::x86_64::__cpuid(1);
    [r.ecx, r.edx]
}

/// The VIF page must be zero when registered ("state valid", `if_ = 0`).
pub fn prepare_vcpu_memory(mem: &GuestMemory, vcpu: u64) -> Result<(), LoadError> {
    let len = usize::try_from(layout::PAGE_SIZE).unwrap_or(4096);
    mem.zero(layout::vif_gpa(vcpu), len).map_err(LoadError::Memory)
}

/// The VIF registration: isolated direct switch (KPTI pair, gates, CR2 cell).
pub fn msrs(vcpu: u64) -> Vec<(u32, u64)> {
    vec![(pvm::MSR_VIF, layout::vif_gpa(vcpu) | pvm::VIF_VALID | pvm::VIF_FLAGS_DIRECT_SWITCH)]
}
