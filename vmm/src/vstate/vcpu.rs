//! One vCPU: its setup from an arch-neutral [`VcpuSetup`], the run loop, the
//! exit decoder [`handle_exit`] and the cross-thread kick.
//!
//! The run loop follows Firecracker: `KVM_RUN` until an exit needs the VMM;
//! `EINTR` (a kick) makes it look at the stop signal. Whether the guest was
//! in user or kernel mode is told by [`ModeProbe`]: on the PVM variant by
//! CR3 bit 12 (its user table is the kernel table + 0x1000), never by CS,
//! which `KVM_GET_SREGS` reports stale there; on hardware, where both modes
//! run on one table, by the CPL in CS.

use std::io;
use std::time::Instant;

use kvm_bindings::{kvm_msr_entry, kvm_regs, kvm_segment, Msrs};
use std::os::fd::AsRawFd;

use kvm_ioctls::{VcpuExit, VcpuFd};

use crate::error::{GuestFault, VmmError};
use crate::stop::StopSignal;
use crate::{sys, Outcome, RunStats};

use super::kvm::{CpuidTable, KvmError};

/// Errors driving a vCPU.
#[derive(Debug, thiserror::Error)]
pub enum VcpuError {
    /// Creating the vCPU.
    #[error("cannot create the vCPU")]
    Create(#[source] KvmError),
    /// `KVM_SET_CPUID2`.
    #[error("KVM_SET_CPUID2 failed")]
    SetCpuid(#[source] kvm_ioctls::Error),
    /// `KVM_GET_SREGS` / `KVM_SET_SREGS` / `KVM_GET_REGS` / `KVM_SET_REGS` /
    /// `KVM_GET_LAPIC` / `KVM_SET_LAPIC`.
    #[error("{op} failed")]
    Registers {
        op: &'static str,
        #[source]
        source: kvm_ioctls::Error,
    },
    /// `KVM_SET_MSRS` failed outright.
    #[error("KVM_SET_MSRS of MSR {index:#x} failed")]
    SetMsr {
        index: u32,
        #[source]
        source: kvm_ioctls::Error,
    },
    /// `KVM_SET_MSRS` set no MSR: the hypervisor refuses this one.
    #[error("KVM_SET_MSRS refused MSR {index:#x} = {value:#x}")]
    MsrRefused { index: u32, value: u64 },
    /// `KVM_GET_MSRS`.
    #[error("KVM_GET_MSRS of MSR {index:#x} failed")]
    GetMsr {
        index: u32,
        #[source]
        source: kvm_ioctls::Error,
    },
    /// `KVM_RUN`.
    #[error("KVM_RUN failed")]
    Run(#[source] kvm_ioctls::Error),
    /// Installing the kick signal handler.
    #[error("cannot install the vCPU kick signal handler")]
    KickHandler(#[source] io::Error),
}

/// A code or data segment register, as the vCPU should start with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SegmentSetup {
    pub selector: u16,
    pub base: u64,
    pub limit: u32,
    /// Descriptor type (e.g. 0xb execute/read accessed, 3 read/write accessed).
    pub type_: u8,
    pub dpl: u8,
    /// Default operand size (32-bit data segments).
    pub db: bool,
    /// Code/data (true) vs system (false) descriptor.
    pub s: bool,
    /// 64-bit code.
    pub l: bool,
    /// 4 KiB granularity.
    pub g: bool,
}

/// The vCPU's initial architectural state, built by `arch`.
#[derive(Debug, Clone, Default)]
pub struct VcpuSetup {
    pub cr0: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub efer: u64,
    pub cs: SegmentSetup,
    /// Used for ds, es, fs, gs and ss.
    pub ds: SegmentSetup,
    pub tr: SegmentSetup,
    pub gdt_base: u64,
    pub gdt_limit: u16,
    pub idt_base: u64,
    pub idt_limit: u16,
    /// MSRs set with `KVM_SET_MSRS`, each checked.
    pub msrs: Vec<(u32, u64)>,
    pub rip: u64,
    pub rsp: u64,
    pub rdi: u64,
    pub rflags: u64,
    /// `IA32_APIC_BASE` (with an in-kernel irqchip), if to be set.
    pub apic_base: Option<u64>,
}

fn kvm_seg(s: &SegmentSetup) -> kvm_segment {
    kvm_segment {
        base: s.base,
        limit: s.limit,
        selector: s.selector,
        type_: s.type_,
        present: 1,
        dpl: s.dpl,
        db: u8::from(s.db),
        s: u8::from(s.s),
        l: u8::from(s.l),
        g: u8::from(s.g),
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

/// How the VMM tells user mode from kernel mode when the guest stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeProbe {
    /// CR3 bit 12 set: the PVM variant's user table of the pair.
    Cr3Bit12,
    /// CS.RPL = 3 (hardware virtualization reports CS accurately).
    Cpl,
}

/// A vCPU.
pub struct Vcpu {
    fd: VcpuFd,
    index: u64,
    mode_probe: ModeProbe,
    /// Where the guest was at each profiler kick (see `crate::profile`).
    samples: Option<Vec<(u64, bool)>>,
    sampler: Option<crate::profile::Sampler>,
}

fn regs_err(op: &'static str) -> impl FnOnce(kvm_ioctls::Error) -> VcpuError {
    move |source| VcpuError::Registers { op, source }
}

impl Vcpu {
    pub(super) fn new(fd: VcpuFd, index: u64) -> Self {
        Self { fd, index, mode_probe: ModeProbe::Cr3Bit12, samples: None, sampler: None }
    }

    /// Sets how [`VmmError::Guest`] tells user from kernel mode (by variant).
    pub fn set_mode_probe(&mut self, probe: ModeProbe) {
        self.mode_probe = probe;
    }

    /// The vCPU's index (`rdi` at entry, its slot in `abi::layout`).
    pub fn index(&self) -> u64 {
        self.index
    }

    /// `KVM_SET_CPUID2`.
    pub fn set_cpuid(&self, cpuid: &CpuidTable) -> Result<(), VcpuError> {
        self.fd.set_cpuid2(&cpuid.0).map_err(VcpuError::SetCpuid)
    }

    /// Reads one MSR; `None` if KVM does not know it.
    pub fn get_msr(&self, index: u32) -> Result<Option<u64>, VcpuError> {
        let mut msrs = Msrs::from_entries(&[kvm_msr_entry { index, ..Default::default() }])
            .map_err(|_| VcpuError::GetMsr { index, source: kvm_ioctls::Error::new(libc::EINVAL) })?;
        let n = self.fd.get_msrs(&mut msrs).map_err(|source| VcpuError::GetMsr { index, source })?;
        Ok((n == 1).then(|| msrs.as_slice()[0].data))
    }

    /// Sets one MSR, failing unless KVM reports it set.
    pub fn set_msr(&self, index: u32, value: u64) -> Result<(), VcpuError> {
        let msrs = Msrs::from_entries(&[kvm_msr_entry { index, data: value, ..Default::default() }])
            .map_err(|_| VcpuError::SetMsr { index, source: kvm_ioctls::Error::new(libc::EINVAL) })?;
        match self.fd.set_msrs(&msrs) {
            Ok(1) => Ok(()),
            Ok(_) => Err(VcpuError::MsrRefused { index, value }),
            Err(source) => Err(VcpuError::SetMsr { index, source }),
        }
    }

    /// Starts the in-kernel local APIC's timer, periodic every `period_ns`
    /// (divide by 1: KVM's APIC timer counts nanoseconds) on `vector`, and
    /// software-enables the APIC with `spurious` as its spurious vector, in
    /// one `KVM_SET_LAPIC` (the guest's `wrmsr`s would each be an emulated
    /// exit). The register page keeps its xAPIC layout in x2APIC mode.
    pub fn start_lapic_timer(&self, period_ns: u32, vector: u8, spurious: u8) -> Result<(), VcpuError> {
        const SVR: usize = 0xf0;
        const LVT_TIMER: usize = 0x320;
        const TIMER_INITIAL: usize = 0x380;
        const TIMER_CURRENT: usize = 0x390;
        const TIMER_DIVIDE: usize = 0x3e0;
        const SVR_ENABLE: u32 = 1 << 8;
        const LVT_PERIODIC: u32 = 1 << 17;
        const DIVIDE_BY_1: u32 = 0xb;
        let mut state = self.fd.get_lapic().map_err(regs_err("KVM_GET_LAPIC"))?;
        let mut set = |reg: usize, v: u32| {
            for (i, b) in v.to_le_bytes().into_iter().enumerate() {
                state.regs[reg + i] = libc::c_char::from_ne_bytes([b]);
            }
        };
        set(SVR, SVR_ENABLE | u32::from(spurious));
        set(TIMER_DIVIDE, DIVIDE_BY_1);
        set(LVT_TIMER, LVT_PERIODIC | u32::from(vector));
        set(TIMER_INITIAL, period_ns);
        // KVM restarts the timer from the current count: a full period.
        set(TIMER_CURRENT, period_ns);
        self.fd.set_lapic(&state).map_err(regs_err("KVM_SET_LAPIC"))
    }

    /// The vCPU's KVM statistics (`KVM_GET_STATS_FD`): every single-value
    /// counter by name. Empty if the kernel does not offer them.
    pub fn kvm_stats(&self) -> Vec<(String, u64)> {
        // KVM_GET_STATS_FD = _IO(KVMIO, 0xce).
        const KVM_GET_STATS_FD: libc::c_ulong = 0xaece;
        // SAFETY: KVM_GET_STATS_FD takes no argument and returns a new fd
        // (or -1); the vCPU fd is valid for the call.
        let raw = unsafe { libc::ioctl(self.fd.as_raw_fd(), KVM_GET_STATS_FD, 0) };
        if raw < 0 {
            return Vec::new();
        }
        // SAFETY: `raw` is a fresh fd we own; File closes it on drop.
        let file = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(raw) };
        read_stats(&file).unwrap_or_default()
    }

    /// `KVM_GET_TSC_KHZ` (hardware KVM).
    pub fn tsc_khz(&self) -> Option<u32> {
        self.fd.get_tsc_khz().ok()
    }

    /// Loads `setup` into the vCPU: special registers, MSRs, registers.
    pub fn configure(&self, setup: &VcpuSetup) -> Result<(), VcpuError> {
        let mut sregs = self.fd.get_sregs().map_err(regs_err("KVM_GET_SREGS"))?;
        sregs.cr0 = setup.cr0;
        sregs.cr3 = setup.cr3;
        sregs.cr4 = setup.cr4;
        sregs.efer = setup.efer;
        sregs.cs = kvm_seg(&setup.cs);
        let ds = kvm_seg(&setup.ds);
        sregs.ds = ds;
        sregs.es = ds;
        sregs.fs = ds;
        sregs.gs = ds;
        sregs.ss = ds;
        sregs.tr = kvm_seg(&setup.tr);
        sregs.gdt.base = setup.gdt_base;
        sregs.gdt.limit = setup.gdt_limit;
        sregs.idt.base = setup.idt_base;
        sregs.idt.limit = setup.idt_limit;
        if let Some(base) = setup.apic_base {
            sregs.apic_base = base;
        }
        self.fd.set_sregs(&sregs).map_err(regs_err("KVM_SET_SREGS"))?;
        for &(index, value) in &setup.msrs {
            self.set_msr(index, value)?;
        }
        let regs =
            kvm_regs { rip: setup.rip, rsp: setup.rsp, rdi: setup.rdi, rflags: setup.rflags, ..Default::default() };
        self.fd.set_regs(&regs).map_err(regs_err("KVM_SET_REGS"))
    }

    /// Where the vCPU stopped: (rip, cr3, whether in user mode).
    fn position(&self) -> (u64, u64, bool) {
        let rip = self.fd.get_regs().map(|r| r.rip).unwrap_or(0);
        let (cr3, cs) = self.fd.get_sregs().map(|s| (s.cr3, s.cs.selector)).unwrap_or((0, 0));
        let user = match self.mode_probe {
            ModeProbe::Cr3Bit12 => cr3 & 0x1000 != 0,
            ModeProbe::Cpl => cs & 3 == 3,
        };
        (rip, cr3, user)
    }

    /// Starts the guest profiler if the environment asks for it (before
    /// the sandbox's seccomp filter: it opens a file and starts a thread).
    pub fn start_profiler(&mut self) {
        // Kicks must find their handler (the default action kills).
        if sys::install_kick_handler().is_err() {
            return;
        }
        self.sampler = crate::profile::Sampler::from_env(self.kick_handle());
        self.samples = self.sampler.as_ref().map(|_| Vec::new());
    }

    fn kick_handle(&mut self) -> VcpuKick {
        let run: *mut kvm_bindings::kvm_run = self.fd.get_kvm_run();
        // SAFETY: `run` points at this vCPU's live kvm_run mapping; taking a
        // field address does not access memory.
        let immediate_exit = unsafe { std::ptr::addr_of_mut!((*run).immediate_exit) };
        VcpuKick { index: self.index, thread: sys::current_thread(), immediate_exit }
    }

    /// Runs the vCPU on the calling thread until the program ends, the
    /// guest fails, or `stop` fires. `started` is when VM creation began
    /// (for [`RunStats::boot_ns`]).
    pub fn run(
        &mut self,
        stop: &StopSignal,
        io: &mut dyn PortIo,
        started: Instant,
        stats: &mut RunStats,
    ) -> Result<Outcome, VmmError> {
        sys::install_kick_handler().map_err(VcpuError::KickHandler)?;
        let kick = self.kick_handle();
        stop.register(kick).map_err(VmmError::Stopped)?;
        // A nudge before the registration kicked nobody: look now.
        io.kicked();
        let result = self.run_loop(stop, io, started, stats);
        if let Some(sampler) = self.sampler.take() {
            sampler.finish(self.samples.take().unwrap_or_default());
        }
        // Before the kvm_run mapping can go away with `self`.
        stop.unregister(self.index);
        result
    }

    fn run_loop(
        &mut self,
        stop: &StopSignal,
        io: &mut dyn PortIo,
        started: Instant,
        stats: &mut RunStats,
    ) -> Result<Outcome, VmmError> {
        let _span = tracing::debug_span!("vcpu", index = self.index).entered();
        stats.boot_ns = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        loop {
            let action = match self.fd.run() {
                Ok(exit) => {
                    stats.exits += 1;
                    handle_exit(exit, io)?
                }
                Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {
                    self.fd.set_kvm_immediate_exit(0);
                    if self.samples.is_some() {
                        let (rip, _, user) = self.position();
                        self.samples.get_or_insert_with(Vec::new).push((rip, user));
                    }
                    // A nudge: the control page, or a pause.
                    io.kicked();
                    ExitAction::Resume
                }
                Err(e) => return Err(VcpuError::Run(e).into()),
            };
            match action {
                ExitAction::Resume => {}
                ExitAction::Finish(outcome) => return Ok(outcome),
                ExitAction::Fault(fault) => {
                    let (rip, cr3, user) = self.position();
                    return Err(VmmError::Guest { fault, vcpu: self.index, rip, cr3, user });
                }
            }
            if let Some(reason) = stop.reason() {
                return Err(VmmError::Stopped(reason));
            }
        }
    }
}

/// Lets another thread interrupt a vCPU's `KVM_RUN`: set `immediate_exit`,
/// then signal the vCPU thread.
#[derive(Debug)]
pub struct VcpuKick {
    index: u64,
    thread: libc::pthread_t,
    immediate_exit: *mut u8,
}

// SAFETY: the pointer is only dereferenced by `kick`, for a volatile byte
// store into the vCPU's kvm_run mapping; KVM documents `immediate_exit` as
// written by other threads. The handle is registered with the StopSignal
// only while the mapping lives (`Vcpu::run` unregisters before returning).
unsafe impl Send for VcpuKick {}

impl VcpuKick {
    /// The vCPU's index.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Makes the vCPU's current or next `KVM_RUN` return `EINTR`.
    pub fn kick(&self) -> io::Result<()> {
        // SAFETY: the kvm_run mapping is live while this handle is
        // registered (see the Send impl); a byte store cannot tear.
        unsafe { self.immediate_exit.write_volatile(1) };
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
        sys::kick_thread(self.thread)
    }
}

/// The VMM side of port I/O: the hostcall port.
pub trait PortIo {
    /// An `out` of `data` to `port`: resume, finish, or a fault for a port
    /// nobody serves.
    fn port_out(&mut self, port: u16, data: &[u8]) -> Result<ExitAction, VmmError>;

    /// `KVM_RUN` was interrupted by a kick: a stop, or a nudge that wants
    /// the vCPU thread to look at its control state (and maybe wait there
    /// while paused) before the guest runs again.
    fn kicked(&mut self) {}
}

/// What the run loop does after an exit.
#[derive(Debug, PartialEq, Eq)]
pub enum ExitAction {
    /// Re-enter the guest.
    Resume,
    /// The run is over.
    Finish(Outcome),
    /// The guest did something the VMM cannot continue from.
    Fault(GuestFault),
}

/// Decodes one VM exit. A free function so tests can feed it made-up exits.
pub fn handle_exit(exit: VcpuExit<'_>, io: &mut dyn PortIo) -> Result<ExitAction, VmmError> {
    Ok(match exit {
        VcpuExit::IoOut(port, data) => io.port_out(port, data)?,
        VcpuExit::IoIn(port, _) => ExitAction::Fault(GuestFault::PortIn(port)),
        VcpuExit::MmioRead(addr, _) | VcpuExit::MmioWrite(addr, _) => ExitAction::Fault(GuestFault::Mmio(addr)),
        VcpuExit::Intr | VcpuExit::IrqWindowOpen => ExitAction::Resume,
        VcpuExit::Shutdown => ExitAction::Fault(GuestFault::TripleFault),
        VcpuExit::Hlt => ExitAction::Fault(GuestFault::Halted),
        VcpuExit::InternalError => ExitAction::Fault(GuestFault::InternalError),
        VcpuExit::FailEntry(reason, _) => ExitAction::Fault(GuestFault::FailEntry(reason)),
        VcpuExit::Unsupported(reason) => ExitAction::Fault(GuestFault::Unknown(reason)),
        other => ExitAction::Fault(GuestFault::Other(exit_name(&other))),
    })
}

fn exit_name(exit: &VcpuExit<'_>) -> &'static str {
    match exit {
        VcpuExit::Unknown => "KVM_EXIT_UNKNOWN",
        VcpuExit::Exception => "KVM_EXIT_EXCEPTION",
        VcpuExit::Hypercall(_) => "KVM_EXIT_HYPERCALL",
        VcpuExit::Debug(_) => "KVM_EXIT_DEBUG",
        VcpuExit::Nmi => "KVM_EXIT_NMI",
        VcpuExit::SystemEvent(..) => "KVM_EXIT_SYSTEM_EVENT",
        VcpuExit::X86Rdmsr(_) => "KVM_EXIT_X86_RDMSR",
        VcpuExit::X86Wrmsr(_) => "KVM_EXIT_X86_WRMSR",
        VcpuExit::MemoryFault { .. } => "KVM_EXIT_MEMORY_FAULT",
        _ => "an unexpected exit",
    }
}

/// Parses a KVM binary statistics file (Documentation/virt/kvm/api.rst,
/// KVM_GET_STATS_FD): the header, the descriptors, then the data.
fn read_stats(file: &std::fs::File) -> std::io::Result<Vec<(String, u64)>> {
    use std::os::unix::fs::FileExt;
    let mut hdr = [0u8; 24];
    file.read_exact_at(&mut hdr, 0)?;
    let word = |b: &[u8], i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let (name_size, num_desc, desc_off, data_off) = (word(&hdr, 4), word(&hdr, 8), word(&hdr, 16), word(&hdr, 20));
    let desc_size = 16 + u64::from(name_size);
    let mut out = Vec::new();
    for i in 0..u64::from(num_desc).min(1024) {
        let mut d = vec![0u8; usize::try_from(desc_size).unwrap_or(0)];
        file.read_exact_at(&mut d, u64::from(desc_off) + i * desc_size)?;
        let size = u16::from_le_bytes([d[6], d[7]]);
        if size != 1 {
            continue;
        }
        let offset = word(&d, 8);
        let name = String::from_utf8_lossy(&d[16..]).trim_end_matches('\0').to_string();
        let mut v = [0u8; 8];
        file.read_exact_at(&mut v, u64::from(data_off) + u64::from(offset))?;
        out.push((name, u64::from_le_bytes(v)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorder {
        outs: Vec<(u16, Vec<u8>)>,
        finish: Option<Outcome>,
    }

    impl PortIo for Recorder {
        fn port_out(&mut self, port: u16, data: &[u8]) -> Result<ExitAction, VmmError> {
            self.outs.push((port, data.to_vec()));
            Ok(match self.finish.clone() {
                Some(o) => ExitAction::Finish(o),
                None => ExitAction::Resume,
            })
        }
    }

    #[test]
    fn io_out_goes_to_port_handler() {
        let mut rec = Recorder::default();
        let data = [1u8, 0, 0, 0];
        let a = handle_exit(VcpuExit::IoOut(0x7f0, &data), &mut rec).expect("ok");
        assert_eq!(a, ExitAction::Resume);
        assert_eq!(rec.outs, vec![(0x7f0, data.to_vec())]);
        rec.finish = Some(Outcome::Exited(3));
        let a = handle_exit(VcpuExit::IoOut(0x7f0, &data), &mut rec).expect("ok");
        assert_eq!(a, ExitAction::Finish(Outcome::Exited(3)));
    }

    #[test]
    fn faults_are_decoded() {
        let mut rec = Recorder::default();
        let cases = [
            (VcpuExit::Shutdown, GuestFault::TripleFault),
            (VcpuExit::Hlt, GuestFault::Halted),
            (VcpuExit::InternalError, GuestFault::InternalError),
            (VcpuExit::FailEntry(7, 0), GuestFault::FailEntry(7)),
            (VcpuExit::Unsupported(99), GuestFault::Unknown(99)),
            (VcpuExit::Nmi, GuestFault::Other("KVM_EXIT_NMI")),
        ];
        for (exit, fault) in cases {
            assert_eq!(handle_exit(exit, &mut rec).expect("ok"), ExitAction::Fault(fault));
        }
        let mut buf = [0u8; 4];
        assert_eq!(
            handle_exit(VcpuExit::IoIn(0x60, &mut buf), &mut rec).expect("ok"),
            ExitAction::Fault(GuestFault::PortIn(0x60))
        );
        assert_eq!(handle_exit(VcpuExit::Intr, &mut rec).expect("ok"), ExitAction::Resume);
        assert!(rec.outs.is_empty());
    }
}
