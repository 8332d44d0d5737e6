//! The VMM's top-level error.

use std::fmt;

use crate::hostcall::HostcallError;
use crate::loader::LoadError;
use crate::stop::StopReason;
use crate::vstate::{KvmError, MemoryError, VcpuError};

/// Why the guest could not continue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestFault {
    /// `KVM_EXIT_SHUTDOWN`: an exception while delivering a double fault.
    TripleFault,
    /// `KVM_EXIT_HLT`: the guest halted with no way to wake it.
    Halted,
    /// `KVM_EXIT_INTERNAL_ERROR`.
    InternalError,
    /// `KVM_EXIT_FAIL_ENTRY` with the hardware reason.
    FailEntry(u64),
    /// `in` from a port: the VMM serves none.
    PortIn(u16),
    /// `out` to a port other than the hostcall port.
    PortOut(u16),
    /// An access to unbacked guest-physical memory (MMIO).
    Mmio(u64),
    /// An exit reason kvm-ioctls does not decode.
    Unknown(u32),
    /// Any other exit, by name.
    Other(&'static str),
}

impl fmt::Display for GuestFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TripleFault => write!(f, "guest triple fault (KVM_EXIT_SHUTDOWN)"),
            Self::Halted => write!(f, "guest halted (KVM_EXIT_HLT)"),
            Self::InternalError => write!(f, "KVM internal error (KVM_EXIT_INTERNAL_ERROR)"),
            Self::FailEntry(r) => {
                write!(f, "guest entry failed (KVM_EXIT_FAIL_ENTRY, reason {r:#x})")
            }
            Self::PortIn(p) => write!(f, "unexpected port input from port {p:#x}"),
            Self::PortOut(p) => write!(f, "unexpected port output to port {p:#x}"),
            Self::Mmio(a) => write!(f, "unexpected MMIO access at {a:#x}"),
            Self::Unknown(r) => write!(f, "unknown VM exit reason {r}"),
            Self::Other(n) => write!(f, "unexpected VM exit {n}"),
        }
    }
}

/// Errors of [`crate::run`].
#[derive(Debug, thiserror::Error)]
pub enum VmmError {
    /// The configuration cannot be run.
    #[error("invalid VM configuration: {0}")]
    Config(&'static str),
    /// The gofer serving the root did not start.
    #[error("the gofer did not start: {0}")]
    GoferStart(String),
    /// The step before the guest runs (the sandbox's confinement) failed.
    #[error("cannot confine the sandbox process: {0}")]
    BeforeRun(String),
    /// `/dev/kvm`, the VM or memory slots.
    #[error("KVM setup failed")]
    Kvm(#[from] KvmError),
    /// Guest memory.
    #[error("guest memory setup failed")]
    Memory(#[from] MemoryError),
    /// Loading the guest image, program or boot structures.
    #[error("cannot load the guest")]
    Load(#[from] LoadError),
    /// vCPU setup or `KVM_RUN`.
    #[error("vCPU failed")]
    Vcpu(#[from] VcpuError),
    /// The guest stopped in a way the VMM cannot continue from.
    #[error("{fault} on vCPU {vcpu} at rip {rip:#x}, cr3 {cr3:#x} ({mode} mode)", mode = if *user { "user" } else { "kernel" })]
    Guest { fault: GuestFault, vcpu: u64, rip: u64, cr3: u64, user: bool },
    /// The sentry sent a malformed hostcall; the sandbox ends.
    #[error("vCPU {vcpu} sent a malformed hostcall")]
    BadHostcall {
        vcpu: u64,
        #[source]
        source: HostcallError,
    },
    /// Stopped from outside ([`crate::StopSignal::stop`]).
    #[error("{0}")]
    Stopped(StopReason),
}
