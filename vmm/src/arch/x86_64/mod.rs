//! x86-64 boot state. The two KVM flavours differ in a few places, kept in
//! [`pvm`] (the paravirtual variant of the development machines) and
//! [`hardware`] (VMX/SVM).

pub mod cpuid;
pub mod gdt;
pub mod hardware;
pub mod paging;
pub mod pvm;

use abi::boot::ImageHeader;
use abi::layout;

use crate::loader::LoadError;
use crate::vstate::{CpuidTable, GuestMemory, ModeProbe, SegmentSetup, Vcpu, VcpuSetup};

/// CR0: PE, MP, ET, NE, WP, AM, PG.
pub const CR0: u64 = 0x8005_0033;
/// CR4: PAE, OSFXSR, OSXMMEXCPT.
pub const CR4: u64 = 0x20 | 0x200 | 0x400;
/// CR4.FSGSBASE, added when the CPU has it.
pub const CR4_FSGSBASE: u64 = 0x1_0000;
/// EFER: SCE, LME, LMA, NXE.
pub const EFER: u64 = 0xd01;
/// RFLAGS at entry: only the reserved bit 1.
pub const RFLAGS: u64 = 2;

const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_SFMASK: u32 = 0xc000_0084;

/// Which KVM the VM runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The paravirtual `kvm_pvm` variant (guest runs at hardware CPL 3).
    Pvm,
    /// Hardware virtualization (VMX or SVM).
    Hardware,
}

impl Variant {
    /// Detects the variant from a created vCPU.
    pub fn detect(vcpu: &Vcpu) -> Self {
        if pvm::detect(vcpu) {
            Self::Pvm
        } else {
            Self::Hardware
        }
    }

    /// How to tell user from kernel mode when the guest stops: the PVM
    /// variant's CS is stale, hardware has one table for both modes.
    pub fn mode_probe(self) -> ModeProbe {
        match self {
            Self::Pvm => ModeProbe::Cr3Bit12,
            Self::Hardware => ModeProbe::Cpl,
        }
    }

    /// Whether kernel page-table entries carry U=1.
    pub fn kernel_pages_user(self) -> bool {
        match self {
            Self::Pvm => pvm::KERNEL_PAGES_USER,
            Self::Hardware => hardware::KERNEL_PAGES_USER,
        }
    }

    /// Whether to set CR4.FSGSBASE, given what CPUID.(7,0).EBX bit 0 says.
    pub fn fsgsbase(self, cpuid_fsgsbase: bool) -> bool {
        match self {
            Self::Pvm => cpuid_fsgsbase || pvm::FSGSBASE,
            Self::Hardware => cpuid_fsgsbase,
        }
    }

    /// CPUID.1 ECX and EDX as the guest's CPUID will report them.
    pub fn leaf1(self, table: &CpuidTable, lapic: bool) -> [u32; 2] {
        match self {
            Self::Pvm => pvm::leaf1(),
            Self::Hardware => cpuid::table_leaf1(table, lapic),
        }
    }

    /// The `abi::boot` flag for the variant.
    pub fn boot_flags(self) -> u32 {
        match self {
            Self::Pvm => abi::boot::FLAG_PVM,
            Self::Hardware => 0,
        }
    }

    /// TSC frequency in kHz (0 if unknown).
    pub fn tsc_khz(self, vcpu: &Vcpu) -> u64 {
        match self {
            Self::Pvm => pvm::tsc_khz(vcpu),
            Self::Hardware => hardware::tsc_khz(vcpu),
        }
    }

    /// Per-vCPU guest memory the variant needs before the vCPU starts.
    pub fn prepare_vcpu_memory(self, mem: &GuestMemory, vcpu: u64) -> Result<(), LoadError> {
        match self {
            Self::Pvm => pvm::prepare_vcpu_memory(mem, vcpu),
            Self::Hardware => Ok(()),
        }
    }

    fn extra_msrs(self, vcpu: u64) -> Vec<(u32, u64)> {
        match self {
            Self::Pvm => pvm::msrs(vcpu),
            Self::Hardware => hardware::msrs(vcpu),
        }
    }
}

/// Writes the boot page tables, GDT and TSSs for `vcpus` vCPUs.
pub fn write_boot_structures(mem: &GuestMemory, variant: Variant, vcpus: u64) -> Result<(), LoadError> {
    paging::build_boot_tables(mem, variant.kernel_pages_user())?;
    gdt::write_gdt_and_tss(mem, vcpus)?;
    Ok(())
}

/// Whether CR4.FSGSBASE will be set (CPUID.(7,0).EBX bit 0).
pub fn cr4(fsgsbase: bool) -> u64 {
    if fsgsbase {
        CR4 | CR4_FSGSBASE
    } else {
        CR4
    }
}

/// The initial state of vCPU `index`.
pub fn vcpu_setup(variant: Variant, index: u64, fsgsbase: bool, header: &ImageHeader) -> VcpuSetup {
    let flat =
        SegmentSetup { selector: 0, base: 0, limit: 0xfffff, type_: 0, dpl: 0, db: false, s: true, l: false, g: true };
    let mut msrs = vec![(MSR_STAR, layout::STAR), (MSR_LSTAR, header.syscall_entry), (MSR_SFMASK, layout::SFMASK)];
    msrs.extend(variant.extra_msrs(index));
    VcpuSetup {
        cr0: CR0,
        cr3: layout::BOOT_PML4_GPA,
        cr4: cr4(fsgsbase),
        efer: EFER,
        cs: SegmentSetup { selector: layout::selector::KERNEL_CS, type_: 0xb, l: true, ..flat },
        ds: SegmentSetup { selector: layout::selector::KERNEL_DS, type_: 3, db: true, ..flat },
        tr: SegmentSetup {
            selector: gdt::tss_selector(index),
            base: layout::KERNEL_BASE + layout::tss_gpa(index),
            limit: gdt::TSS_LIMIT,
            type_: 11,
            dpl: 0,
            db: false,
            s: false,
            l: false,
            g: false,
        },
        gdt_base: layout::KERNEL_BASE + layout::GDT_GPA,
        gdt_limit: gdt::GDT_LIMIT,
        idt_base: layout::KERNEL_BASE + layout::IDT_GPA,
        idt_limit: IDT_LIMIT,
        msrs,
        rip: header.entry,
        rsp: layout::kernel_stack_top(index),
        rdi: index,
        rflags: RFLAGS,
        apic_base: None,
    }
}

/// `IA32_APIC_BASE` for vCPU `index`: the default base, enabled, in x2APIC
/// mode (the guest then programs it with `wrmsr`, FACTS.md), BSP on vCPU 0.
pub fn x2apic_base(index: u64) -> u64 {
    const BASE: u64 = 0xfee0_0000;
    const ENABLE: u64 = 1 << 11;
    const X2APIC: u64 = 1 << 10;
    const BSP: u64 = 1 << 8;
    BASE | ENABLE | X2APIC | if index == 0 { BSP } else { 0 }
}

/// 256 gates of 16 bytes; the guest fills them at boot.
pub const IDT_LIMIT: u16 = 256 * 16 - 1;

/// Reads one MSR, treating errors as absent.
fn read_msr(vcpu: &Vcpu, index: u32) -> Option<u64> {
    match vcpu.get_msr(index) {
        Ok(v) => v,
        Err(err) => {
            tracing::debug!(index, %err, "MSR not readable");
            None
        }
    }
}
