//! The VM file descriptor.

use kvm_bindings::kvm_userspace_memory_region;
use kvm_ioctls::VmFd;
use vm_memory::{GuestMemoryBackend, GuestMemoryRegion};

use super::kvm::KvmError;
use super::memory::GuestMemory;
use super::vcpu::{Vcpu, VcpuError};

/// A KVM VM.
pub struct Vm {
    fd: VmFd,
}

impl Vm {
    pub(super) fn new(fd: VmFd) -> Self {
        Self { fd }
    }

    /// Registers every region of `memory` as a KVM memory slot.
    ///
    /// The VM must not outlive `memory`'s mapping: the caller keeps both
    /// in the same scope and drops the VM (and its vCPUs) first.
    pub fn register_memory(&self, memory: &GuestMemory) -> Result<(), KvmError> {
        for (slot, region) in (0u32..).zip(memory.mem().iter()) {
            let region_desc = kvm_userspace_memory_region {
                slot,
                flags: 0,
                guest_phys_addr: region.start_addr().0,
                memory_size: region.len(),
                userspace_addr: region.as_ptr() as u64,
            };
            // SAFETY: the region is a live MAP_SHARED mapping of exactly
            // `memory_size` bytes owned by `memory`; the builder drops the
            // VM before the memory (see above), so KVM never accesses an
            // unmapped host address.
            unsafe { self.fd.set_user_memory_region(region_desc) }.map_err(KvmError::SetMemory)?;
        }
        Ok(())
    }

    /// Creates the in-kernel interrupt controllers (`KVM_CREATE_IRQCHIP`):
    /// each vCPU gets a local APIC whose timer interrupts the guest without
    /// an exit to the VMM. Must precede the vCPUs.
    pub fn create_irqchip(&self) -> Result<(), KvmError> {
        self.fd.create_irq_chip().map_err(KvmError::CreateIrqchip)
    }

    /// Creates vCPU `index`.
    pub fn create_vcpu(&self, index: u64) -> Result<Vcpu, VcpuError> {
        let fd = self.fd.create_vcpu(index).map_err(|e| VcpuError::Create(KvmError::CreateVcpu(e)))?;
        Ok(Vcpu::new(fd, index))
    }
}
