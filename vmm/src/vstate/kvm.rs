//! `/dev/kvm`.

use kvm_bindings::{CpuId, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::Kvm as KvmFd;

use super::vm::Vm;

/// Errors of the KVM system device.
#[derive(Debug, thiserror::Error)]
pub enum KvmError {
    /// Opening `/dev/kvm`.
    #[error("cannot open /dev/kvm")]
    Open(#[source] kvm_ioctls::Error),
    /// `KVM_CREATE_VM`.
    #[error("KVM_CREATE_VM failed")]
    CreateVm(#[source] kvm_ioctls::Error),
    /// `KVM_GET_SUPPORTED_CPUID`.
    #[error("KVM_GET_SUPPORTED_CPUID failed")]
    SupportedCpuid(#[source] kvm_ioctls::Error),
    /// `KVM_SET_USER_MEMORY_REGION`.
    #[error("KVM_SET_USER_MEMORY_REGION failed")]
    SetMemory(#[source] kvm_ioctls::Error),
    /// `KVM_CREATE_VCPU` or mapping its `kvm_run`.
    #[error("KVM_CREATE_VCPU failed")]
    CreateVcpu(#[source] kvm_ioctls::Error),
    /// `KVM_CREATE_IRQCHIP`.
    #[error("KVM_CREATE_IRQCHIP failed")]
    CreateIrqchip(#[source] kvm_ioctls::Error),
}

/// How often `KVM_CREATE_VM` is retried on `EINTR`. Creating a VM can be
/// interrupted by a signal while the kernel sets up the MMU (Firecracker
/// retries the same way; see the LKML thread "KVM: x86: avoid EINTR from
/// KVM_CREATE_VM" for why the kernel can return it).
const CREATE_VM_ATTEMPTS: u32 = 5;

/// The open `/dev/kvm`.
pub struct Kvm {
    fd: KvmFd,
}

impl Kvm {
    /// Opens `/dev/kvm` (close-on-exec).
    pub fn open() -> Result<Self, KvmError> {
        Ok(Self { fd: KvmFd::new().map_err(KvmError::Open)? })
    }

    /// Creates a VM, retrying a few times on `EINTR`.
    pub fn create_vm(&self) -> Result<Vm, KvmError> {
        let mut attempt = 1;
        loop {
            match self.fd.create_vm() {
                Ok(fd) => return Ok(Vm::new(fd)),
                Err(e) if e.errno() == libc::EINTR && attempt < CREATE_VM_ATTEMPTS => {
                    attempt += 1;
                }
                Err(e) => return Err(KvmError::CreateVm(e)),
            }
        }
    }

    /// The CPUID leaves KVM supports: the starting point of the guest's
    /// table (`arch::cpuid` edits a few of them).
    pub fn supported_cpuid(&self) -> Result<CpuidTable, KvmError> {
        self.fd.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES).map(CpuidTable).map_err(KvmError::SupportedCpuid)
    }
}

/// The guest's CPUID table (the `KVM_SET_CPUID2` input), read and edited by
/// leaf and subleaf so that the code deciding its contents needs no KVM type.
#[derive(Debug, Clone)]
pub struct CpuidTable(pub(super) CpuId);

impl CpuidTable {
    /// A table of `(leaf, subleaf, [eax, ebx, ecx, edx])` entries.
    #[cfg(test)]
    pub fn from_entries(entries: &[(u32, u32, [u32; 4])]) -> Self {
        use kvm_bindings::{kvm_cpuid_entry2, KVM_CPUID_FLAG_SIGNIFCANT_INDEX};
        let entries: Vec<kvm_cpuid_entry2> = entries
            .iter()
            .map(|&(function, index, [eax, ebx, ecx, edx])| kvm_cpuid_entry2 {
                function,
                index,
                flags: KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
                eax,
                ebx,
                ecx,
                edx,
                ..Default::default()
            })
            .collect();
        Self(CpuId::from_entries(&entries).expect("fewer than KVM_MAX_CPUID_ENTRIES entries"))
    }

    /// `[eax, ebx, ecx, edx]` of leaf `function`, subleaf `index` (0 for
    /// leaves without subleaves), if the table has it.
    pub fn get(&self, function: u32, index: u32) -> Option<[u32; 4]> {
        self.0
            .as_slice()
            .iter()
            .find(|e| e.function == function && e.index == index)
            .map(|e| [e.eax, e.ebx, e.ecx, e.edx])
    }

    /// Replaces the registers of an existing entry; false if there is none.
    pub fn set(&mut self, function: u32, index: u32, [eax, ebx, ecx, edx]: [u32; 4]) -> bool {
        match self.0.as_mut_slice().iter_mut().find(|e| e.function == function && e.index == index) {
            Some(e) => {
                (e.eax, e.ebx, e.ecx, e.edx) = (eax, ebx, ecx, edx);
                true
            }
            None => false,
        }
    }
}

/// Whether CPUID leaf 7 subleaf 0 reports FSGSBASE (EBX bit 0).
pub fn cpuid_has_fsgsbase(cpuid: &CpuidTable) -> bool {
    cpuid.get(7, 0).is_some_and(|r| r[1] & 1 != 0)
}
