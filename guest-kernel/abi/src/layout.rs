//! Guest physical and virtual memory layout.
//!
//! Guest physical memory is one memfd, starting at guest-physical 0. The low
//! 2 MiB hold fixed structures the VMM prepares before the first instruction;
//! the guest image is loaded at [`KERNEL_IMAGE_GPA`]; everything above the
//! boot module and argument blob is free for the sentry's frame allocator.
//!
//! The kernel page table maps all guest memory at [`PHYS_MAP_BASE`] (the
//! direct map) and the low [`KERNEL_MAP_SIZE`] bytes at [`KERNEL_BASE`] (the
//! image and the fixed structures, addressable with 32-bit sign-extended
//! absolute addresses). The lower half belongs to the application.

/// Size of a small page.
pub const PAGE_SIZE: u64 = 4096;
/// Size of a large (2 MiB) page.
pub const LARGE_PAGE_SIZE: u64 = 2 << 20;

/// Virtual base of the kernel mapping: guest-physical `p` is at `KERNEL_BASE + p`
/// for `p < KERNEL_MAP_SIZE`.
pub const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;
/// Bytes of low guest memory mapped at [`KERNEL_BASE`].
pub const KERNEL_MAP_SIZE: u64 = 64 << 20;
/// Virtual base of the direct map of all guest memory.
pub const PHYS_MAP_BASE: u64 = 0xffff_8880_0000_0000;

/// Boot information block ([`crate::boot::BootInfo`]), written by the VMM.
pub const BOOT_INFO_GPA: u64 = 0x1000;
/// Hostcall request blocks, one page per vCPU.
pub const HOSTCALL_GPA: u64 = 0x2000;
/// Maximum number of vCPUs the layout has room for.
pub const MAX_VCPUS: u64 = 8;
/// Global descriptor table (one page).
pub const GDT_GPA: u64 = 0xa000;
/// Interrupt descriptor table (one page, 256 gates).
pub const IDT_GPA: u64 = 0xb000;
/// Task state segments, [`TSS_STRIDE`] bytes per vCPU.
pub const TSS_GPA: u64 = 0xc000;
/// Distance between two vCPUs' task state segments.
pub const TSS_STRIDE: u64 = 0x80;
/// VIF pages (PVM variant only), one page per vCPU.
pub const VIF_GPA: u64 = 0xd000;
/// The control page ([`crate::control::ControlPage`]), written by the VMM
/// between two runs of the vCPU.
pub const CONTROL_GPA: u64 = 0x15000;
/// Boot page tables: kernel PML4 at this 8 KiB-aligned address, the user PML4
/// of the same pair at `+0x1000`.
pub const BOOT_PML4_GPA: u64 = 0x16000;
/// Pool for the page-table pages the VMM builds (direct map, kernel map).
pub const BOOT_PT_POOL_GPA: u64 = 0x18000;
/// End of that pool.
pub const BOOT_PT_POOL_END: u64 = STACKS_GPA;
/// Per-vCPU stacks: vCPU `n` owns `[STACKS_GPA + n * STACK_STRIDE, +STACK_STRIDE)`,
/// the sentry's kernel stack below [`KERNEL_STACK_SIZE`] and the trap stack
/// (`TSS.RSP0`, where exceptions from user mode land) above it.
pub const STACKS_GPA: u64 = 0x100000;
/// Bytes of stacks per vCPU.
pub const STACK_STRIDE: u64 = 0x20000;
/// Bytes of the kernel stack at the bottom of each vCPU's stack region.
pub const KERNEL_STACK_SIZE: u64 = 0x1c000;

/// Kernel virtual address of vCPU `n`'s initial kernel stack pointer.
pub const fn kernel_stack_top(vcpu: u64) -> u64 {
    KERNEL_BASE + STACKS_GPA + vcpu * STACK_STRIDE + KERNEL_STACK_SIZE
}

/// Kernel virtual address of vCPU `n`'s trap stack top (`TSS.RSP0`).
pub const fn trap_stack_top(vcpu: u64) -> u64 {
    KERNEL_BASE + STACKS_GPA + (vcpu + 1) * STACK_STRIDE
}

/// Where the guest image's first segment is loaded (its ELF physical address).
pub const KERNEL_IMAGE_GPA: u64 = 0x200000;
/// Highest guest-physical address the guest image may occupy.
pub const KERNEL_IMAGE_END: u64 = 0x1000000;

/// Size of the sentry's heap in `mem` bytes of guest memory: an eighth,
/// 8..64 MiB. It starts at `BootInfo::free_start`; the frame allocator's
/// frames follow it.
pub const fn sentry_heap_size(mem: u64) -> u64 {
    let eighth = mem / 8;
    if eighth < (8 << 20) {
        8 << 20
    } else if eighth > (64 << 20) {
        64 << 20
    } else {
        eighth
    }
}

/// Smallest guest memory the VMM accepts.
pub const MIN_GUEST_MEMORY: u64 = 64 << 20;
/// Largest guest memory the boot page-table pool can direct-map.
pub const MAX_GUEST_MEMORY: u64 = 64 << 30;

/// GDT selectors (Linux layout).
pub mod selector {
    /// 64-bit kernel code.
    pub const KERNEL_CS: u16 = 0x10;
    /// Kernel data.
    pub const KERNEL_DS: u16 = 0x18;
    /// 32-bit user code.
    pub const USER32_CS: u16 = 0x23;
    /// User data.
    pub const USER_DS: u16 = 0x2b;
    /// 64-bit user code.
    pub const USER_CS: u16 = 0x33;
    /// First task state segment; vCPU `n` uses `TSS + 16 * n`.
    pub const TSS: u16 = 0x40;
}

/// `STAR` value: kernel CS 0x10, `sysret` base 0x23 (user CS 0x33, SS 0x2b).
pub const STAR: u64 = 0x0023_0010_0000_0000;
/// `SFMASK`: clear TF, DF, IF, AC, NT on `syscall` entry.
pub const SFMASK: u64 = 0x47700;

/// Highest user virtual address (exclusive), as on Linux with 4-level paging.
pub const USER_END: u64 = 0x0000_7fff_ffff_f000;

/// Guest-physical address of vCPU `n`'s hostcall block.
pub const fn hostcall_block_gpa(vcpu: u64) -> u64 {
    HOSTCALL_GPA + vcpu * PAGE_SIZE
}

/// Guest-physical address of vCPU `n`'s VIF page.
pub const fn vif_gpa(vcpu: u64) -> u64 {
    VIF_GPA + vcpu * PAGE_SIZE
}

/// Guest-physical address of vCPU `n`'s TSS.
pub const fn tss_gpa(vcpu: u64) -> u64 {
    TSS_GPA + vcpu * TSS_STRIDE
}

/// The PVM variant's VIF page (one per vCPU).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct Vif {
    /// The guest's interrupt flag: 0 masked, 1 enabled.
    pub if_: u8,
    /// Set by the hypervisor when an interrupt waits for `if_ = 1`.
    pub pending: u8,
    /// Unused.
    pub pad: [u8; 6],
    /// Faulting address of the last page fault (with the CR2 cell flag).
    pub cr2: u64,
}

/// PVM variant MSRs and flags (see shared/pvm/FACTS.md).
pub mod pvm {
    /// VIF page registration: guest-physical address | [`VIF_VALID`] | flags.
    pub const MSR_VIF: u32 = 0x4b56_4d10;
    /// Reads "PVM" on the paravirtual variant.
    pub const MSR_SIGNATURE: u32 = 0x4b56_4d11;
    /// TSC frequency in kHz.
    pub const MSR_TSC_KHZ: u32 = 0x4b56_4d13;
    /// The signature value: ASCII "PVM" little-endian.
    pub const SIGNATURE: u64 = 0x004d_5650;
    /// "State valid" bit of the VIF MSR.
    pub const VIF_VALID: u64 = 0x400;
    /// Isolated direct switch: KPTI pair, `int $0x19` and `int $0x17` gates, CR2 cell.
    pub const VIF_FLAGS_DIRECT_SWITCH: u64 = 0x7f;
    /// Return to user like `sysretq` (rip = RCX, rflags = R11).
    pub const GATE_SYSRET: u8 = 0x19;
    /// Return to user like `iretq` (5-word frame at RSP).
    pub const GATE_IRET: u8 = 0x17;
    /// Host-kernel hypercall gate: number in RAX.
    pub const GATE_HYPERCALL: u8 = 0x1b;
    /// Hypercall: flush the local TLB.
    pub const HC_FLUSH_TLB: u64 = 0x1007;
    /// Hypercall: invalidate one page (address in RBX).
    pub const HC_INVLPG: u64 = 0x1008;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_is_an_eighth_of_memory_within_bounds() {
        assert_eq!(sentry_heap_size(MIN_GUEST_MEMORY), 8 << 20);
        assert_eq!(sentry_heap_size(256 << 20), 32 << 20);
        assert_eq!(sentry_heap_size(MAX_GUEST_MEMORY), 64 << 20);
    }
}
