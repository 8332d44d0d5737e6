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

    /// The CPUID leaves KVM supports, passed through to the guest as is.
    pub fn supported_cpuid(&self) -> Result<CpuId, KvmError> {
        self.fd.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES).map_err(KvmError::SupportedCpuid)
    }
}

/// Whether CPUID leaf 7 subleaf 0 reports FSGSBASE (EBX bit 0).
pub fn cpuid_has_fsgsbase(cpuid: &CpuId) -> bool {
    cpuid.as_slice().iter().any(|e| e.function == 7 && e.index == 0 && e.ebx & 1 != 0)
}
