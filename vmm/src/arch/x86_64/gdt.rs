//! The boot GDT (Linux layout, as shared/pvm/kernel-rules/ds2.c) and the
//! per-vCPU TSS.

use abi::layout;

use crate::loader::LoadError;
use crate::vstate::GuestMemory;

/// Code/data descriptors, indexed by selector / 8.
const SEGMENTS: [(usize, u64); 6] = [
    (1, 0x00cf_9b00_0000_ffff), // 32-bit kernel code (unused)
    (2, 0x00af_9b00_0000_ffff), // 0x10 kernel CS (64-bit)
    (3, 0x00cf_9300_0000_ffff), // 0x18 kernel DS
    (4, 0x00cf_fb00_0000_ffff), // 0x23 user32 CS
    (5, 0x00cf_f300_0000_ffff), // 0x2b user DS
    (6, 0x00af_fb00_0000_ffff), // 0x33 user CS (64-bit)
];

/// First TSS descriptor slot (selector 0x40).
const TSS_SLOT: usize = (layout::selector::TSS / 8) as usize;
/// Descriptors: the segments, then one 16-byte TSS descriptor per vCPU.
pub const GDT_ENTRIES: usize = TSS_SLOT + 2 * MAX_VCPUS;
const MAX_VCPUS: usize = 8;
const _: () = assert!(MAX_VCPUS as u64 == layout::MAX_VCPUS);
/// GDTR limit.
#[allow(clippy::cast_possible_truncation)] // 191: asserted below
pub const GDT_LIMIT: u16 = (GDT_ENTRIES * 8 - 1) as u16;
const _: () = assert!(GDT_ENTRIES * 8 - 1 <= u16::MAX as usize);
/// TSS limit: a 104-byte 64-bit TSS.
pub const TSS_LIMIT: u32 = 0x67;
/// Offset of RSP0 in the TSS.
const TSS_RSP0: u64 = 4;
/// Offset of the I/O map base in the TSS; pointing it past the limit
/// denies all port I/O from user mode.
const TSS_IOMAP_BASE: u64 = 0x66;

/// The TR selector of vCPU `n`.
pub fn tss_selector(vcpu: u64) -> u16 {
    let n = u16::try_from(vcpu.min(layout::MAX_VCPUS - 1)).unwrap_or(0);
    layout::selector::TSS + 16 * n
}

/// The two descriptor words of an available 64-bit TSS at `base`.
pub fn tss_descriptor(base: u64) -> [u64; 2] {
    let low = u64::from(TSS_LIMIT) | ((base & 0xff_ffff) << 16) | (0x89 << 40) | (((base >> 24) & 0xff) << 56);
    [low, base >> 32]
}

/// The whole GDT for `vcpus` vCPUs.
pub fn gdt(vcpus: u64) -> [u64; GDT_ENTRIES] {
    let mut gdt = [0u64; GDT_ENTRIES];
    for (slot, desc) in SEGMENTS {
        gdt[slot] = desc;
    }
    for (n, slot) in (0..vcpus.min(layout::MAX_VCPUS)).zip((TSS_SLOT..).step_by(2)) {
        let [low, high] = tss_descriptor(layout::KERNEL_BASE + layout::tss_gpa(n));
        gdt[slot] = low;
        gdt[slot + 1] = high;
    }
    gdt
}

/// Writes the GDT at `GDT_GPA` and each vCPU's TSS (RSP0 = its trap stack
/// top in the upper half, which the PVM variant requires).
pub fn write_gdt_and_tss(mem: &GuestMemory, vcpus: u64) -> Result<(), LoadError> {
    if vcpus == 0 || vcpus > layout::MAX_VCPUS {
        return Err(LoadError::TooManyVcpus(vcpus));
    }
    for (i, desc) in (0u64..).zip(gdt(vcpus)) {
        mem.write_u64(layout::GDT_GPA + 8 * i, desc)?;
    }
    for n in 0..vcpus {
        let tss = layout::tss_gpa(n);
        mem.write_bytes(tss, &[0u8; (TSS_LIMIT + 1) as usize])?;
        mem.write_bytes(tss + TSS_RSP0, &layout::trap_stack_top(n).to_le_bytes())?;
        let iomap = u16::try_from(TSS_LIMIT + 1).unwrap_or(u16::MAX);
        mem.write_bytes(tss + TSS_IOMAP_BASE, &iomap.to_le_bytes())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tss_descriptor_matches_ds2() {
        let b = layout::KERNEL_BASE + layout::tss_gpa(1);
        // ds2.c: 0x67 | ((b & 0xffffff) << 16) | (0x89 << 40) | (((b >> 24) & 0xff) << 56); b >> 32
        assert_eq!(b, 0xffff_ffff_8000_c080);
        assert_eq!(tss_descriptor(b), [0x8000_8900_c080_0067, 0xffff_ffff]);
    }

    #[test]
    fn gdt_layout() {
        let g = gdt(2);
        assert_eq!(g[0], 0);
        assert_eq!(g[2], 0x00af_9b00_0000_ffff);
        assert_eq!(g[3], 0x00cf_9300_0000_ffff);
        assert_eq!(g[6], 0x00af_fb00_0000_ffff);
        assert_eq!(g[8], 0x8000_8900_c000_0067);
        assert_eq!(g[10], 0x8000_8900_c080_0067);
        assert_eq!(g[12], 0);
        assert_eq!(tss_selector(1), 0x50);
        assert_eq!(GDT_LIMIT, 191);
    }

    #[test]
    fn tss_bytes_in_memory() {
        let mem = GuestMemory::new_anonymous(layout::MIN_GUEST_MEMORY);
        write_gdt_and_tss(&mem, 2).expect("write");
        assert_eq!(mem.read_u64(layout::GDT_GPA + 0x10).expect("read"), 0x00af_9b00_0000_ffff);
        let mut rsp0 = [0u8; 8];
        mem.read_bytes(layout::tss_gpa(1) + 4, &mut rsp0).expect("read");
        assert_eq!(u64::from_le_bytes(rsp0), layout::trap_stack_top(1));
        assert_eq!(layout::trap_stack_top(1), 0xffff_ffff_8014_0000);
        let mut iomap = [0u8; 2];
        mem.read_bytes(layout::tss_gpa(0) + 0x66, &mut iomap).expect("read");
        assert_eq!(u16::from_le_bytes(iomap), 0x68);
        assert!(matches!(write_gdt_and_tss(&mem, 9), Err(LoadError::TooManyVcpus(9))));
    }
}
