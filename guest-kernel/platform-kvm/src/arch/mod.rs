//! The x86-64 arch layer of the guest: entry assembly, the IDT, and the few
//! privileged operations, each with its PVM-variant and hardware form.
//!
//! Only two things differ between the backends (FACTS.md): how to return
//! to user mode (gates vs `sysretq`/`iretq`, in `entry.rs`) and how to
//! flush the TLB, load CR3 and read the fault address (here).

pub mod entry;
pub mod lapic;
pub mod mem;

use abi::layout::{selector, vif_gpa, Vif, IDT_GPA, KERNEL_BASE};

/// Which backend the vCPU runs on, fixed at boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The paravirtual `kvm_pvm` variant (isolated direct switch).
    Pvm,
    /// Hardware virtualization (VMX/SVM): architectural behaviour.
    Hardware,
}

/// Fills the IDT with the 256 vector stubs (interrupt gates, kernel CS).
pub fn init_idt() {
    let stubs = entry::vector_stubs as *const () as u64;
    let idt = (KERNEL_BASE + IDT_GPA) as *mut u64;
    for v in 0..256u64 {
        let h = stubs + 16 * v;
        // Breakpoint and overflow may be raised from user mode (DPL 3).
        let kind: u64 = if v == 3 || v == 4 { 0xee } else { 0x8e };
        let lo = (h & 0xffff) | (u64::from(selector::KERNEL_CS) << 16) | (kind << 40) | (((h >> 16) & 0xffff) << 48);
        let hi = h >> 32;
        let i = usize::try_from(v * 2).unwrap_or(0);
        // SAFETY: the IDT page at KERNEL_BASE + IDT_GPA is mapped by the
        // VMM's boot tables and reserved for the IDT (abi::layout); we are
        // the only writer, before any exception can be taken.
        unsafe {
            idt.add(i).write_volatile(lo);
            idt.add(i + 1).write_volatile(hi);
        }
    }
}

/// The vCPU's VIF page (PVM variant).
fn vif() -> *mut Vif {
    (KERNEL_BASE + vif_gpa(0)) as *mut Vif
}

/// The address of the last page fault.
pub fn fault_address(backend: Backend) -> u64 {
    match backend {
        // With the CR2-cell flag the hypervisor stores it in the VIF page,
        // saving an emulated `mov %cr2`.
        // SAFETY: the VIF page is mapped in the kernel table (VMM boot
        // tables) and registered for this vCPU; reading it has no effect.
        Backend::Pvm => unsafe { core::ptr::addr_of!((*vif()).cr2).read_volatile() },
        Backend::Hardware => {
            let v: u64;
            // SAFETY: reading CR2 has no side effects.
            unsafe { core::arch::asm!("mov %cr2, {}", out(reg) v, options(att_syntax, nomem, nostack)) };
            v
        }
    }
}

/// Loads `cr3` (a kernel page-table root; on PVM the host pairs it with
/// `cr3 + 0x1000` for user mode).
pub fn load_cr3(backend: Backend, cr3: u64) {
    match backend {
        // SAFETY: hypercall 0x1001 loads CR3 (FACTS.md); `cr3` is a valid
        // page-table pair whose kernel half maps the running sentry.
        Backend::Pvm => unsafe {
            core::arch::asm!(
                "xchg {0}, %rbx",
                "int $0x1b",
                "xchg {0}, %rbx",
                inout(reg) cr3 => _,
                inout("rax") 0x1001u64 => _,
                options(att_syntax, nostack)
            );
        },
        // SAFETY: as above; `mov %cr3` is the architectural way.
        Backend::Hardware => unsafe {
            core::arch::asm!("mov {}, %cr3", in(reg) cr3, options(att_syntax, nostack));
        },
    }
}

/// Flushes this vCPU's TLB (non-global entries).
pub fn flush_tlb(backend: Backend) {
    match backend {
        // SAFETY: hypercall 0x1007 flushes the local TLB and has no other effect.
        Backend::Pvm => unsafe {
            core::arch::asm!("int $0x1b", inout("rax") abi::layout::pvm::HC_FLUSH_TLB => _, options(att_syntax, nostack));
        },
        // SAFETY: reloading CR3 with its own value flushes non-global entries.
        Backend::Hardware => unsafe {
            core::arch::asm!("mov %cr3, {0}", "mov {0}, %cr3", out(reg) _, options(att_syntax, nostack));
        },
    }
}

/// Sets the FS base for user mode.
pub fn set_fs_base(fsgsbase: bool, v: u64) {
    if fsgsbase {
        // SAFETY: CR4.FSGSBASE is set (boot info flag); the sentry itself
        // never uses FS, so changing its base only affects user mode.
        unsafe { core::arch::asm!("wrfsbase {}", in(reg) v, options(nostack, nomem)) };
    } else {
        write_msr(0xc000_0100, v);
    }
}

/// Sets the user GS base (the sentry does not use GS and never swapgs).
pub fn set_gs_base(fsgsbase: bool, v: u64) {
    if fsgsbase {
        // SAFETY: as for FS.
        unsafe { core::arch::asm!("wrgsbase {}", in(reg) v, options(nostack, nomem)) };
    } else {
        write_msr(0xc000_0101, v);
    }
}

fn write_msr(msr: u32, v: u64) {
    let (lo, hi) = ((v & 0xffff_ffff) as u32, (v >> 32) as u32);
    // SAFETY: only called for FS_BASE/GS_BASE, which affect user mode only.
    unsafe { core::arch::asm!("wrmsr", in("ecx") msr, in("eax") lo, in("edx") hi, options(nostack, nomem)) };
}

/// The time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC is unprivileged and has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Writes to an I/O port: the hostcall doorbell. The VMM handles the exit
/// and resumes the vCPU after the next instruction.
pub fn out32(port: u16, v: u32) {
    // SAFETY: the port belongs to the VMM's hostcall device; the write has
    // no effect inside the guest.
    unsafe { core::arch::asm!("out %eax, %dx", in("dx") port, in("eax") v, options(att_syntax, nostack)) };
}

/// Halts forever (after a fatal error the VMM has been told about).
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: HLT only waits; with interrupts off it never returns
        // unless the VMM resumes us, and then we halt again.
        unsafe { core::arch::asm!("hlt", options(nomem, nostack)) };
    }
}

/// Whether user FPU state is saved with `xsave64` (all of
/// [`sentry::arch::XSAVE_MASK`] that the CPU has fits in
/// [`sentry::arch::FPSTATE_BYTES`] at its standard-format offset), from the
/// CPUID values the VMM passed at boot (the sentry executes no CPUID).
///
/// On the PVM variant user code runs on the host's CR4 and XCR0, so it can
/// use AVX and AVX-512 whatever the guest's CR4 says, and switching tasks
/// must keep those registers (fxsave64 does not). On hardware KVM the
/// guest's CR4 has no OSXSAVE: AVX is off for user code and fxsave64 is
/// the whole state.
pub fn xsave_usable(backend: Backend, cpuid: &abi::boot::CpuidInfo) -> bool {
    if backend != Backend::Pvm || cpuid.leaf1_ecx & (1 << 26) == 0 {
        return false;
    }
    let mask = sentry::arch::XSAVE_MASK;
    (2..64usize).filter(|&i| mask & (1 << i) != 0).all(|i| match cpuid.xsave.get(i) {
        // size 0: the CPU lacks the component; xsave skips it.
        Some(c) => c.size == 0 || (c.offset as usize).saturating_add(c.size as usize) <= sentry::arch::FPSTATE_BYTES,
        None => false,
    })
}
