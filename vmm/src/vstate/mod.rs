//! KVM state: the only home of KVM types (`kvm-ioctls`, `kvm-bindings`)
//! and of the unsafe code that touches guest memory and the vCPU's
//! `kvm_run` mapping.

mod kvm;
mod memory;
mod vcpu;
mod vm;

pub use kvm::{cpuid_has_fsgsbase, CpuidTable, Kvm, KvmError};
pub use memory::{GuestMemory, MemoryError};
pub use vcpu::{ExitAction, ModeProbe, PortIo, SegmentSetup, Vcpu, VcpuError, VcpuKick, VcpuSetup};
pub use vm::Vm;
