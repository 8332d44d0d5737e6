//! The guest's CPUID table: what KVM supports, with one edit that spares
//! user programs CPUID exits (~33 us each on kvm_pvm, 0.8 us natively)
//! without hiding any cache from them.
//!
//! * Leaf 2. Recent Intel CPUs report descriptor 0xff there: "no cache
//!   descriptors, read leaf 4". glibc's cache-info code (`handle_intel` in
//!   sysdeps/x86/dl-cacheinfo.h, run by every static program at start and
//!   by ld.so for every dynamic one) then walks leaf 4 from subleaf 0 for
//!   each of its 12 queries: ~49 CPUIDs per exec. [`leaf2_from_leaf4`]
//!   puts in the legacy descriptors of the caches leaf 4 describes, so each
//!   query costs the one leaf-2 CPUID. Leaf 4 itself is left as it is.
//!
//! Leaf 1's HTT bit would spare glibc's leaf 4 / leaf 0xb walk counting the
//! threads that share the last-level cache (5 CPUIDs), and is not set for
//! one vCPU by QEMU; but the PVM variant reports the host's leaf-1 feature
//! bits whatever KVM_SET_CPUID2 says (its table has HTT clear already), so
//! the table leaves leaf 1 alone.
//!
//! Leaf 2 only for GenuineIntel: AMD's glibc path reads 0x8000_0005/6.
//!
//! [`boot_cpuid`] hands the sentry the few values it needs, so that it
//! executes no CPUID itself.

use abi::boot::{CpuidInfo, XsaveComponent};

use crate::vstate::CpuidTable;

/// CPUID.1:EDX.APIC, which KVM reports as the APIC base MSR's enable bit.
const APIC: u32 = 1 << 9;

/// Edits KVM's supported table into the guest's (see the module doc).
pub fn guest_cpuid(table: &mut CpuidTable) {
    if let (Some(leaf0), Some(leaf2)) = (table.get(0, 0), table.get(2, 0)) {
        if is_intel(leaf0) {
            if let Some(regs) = leaf2_from_leaf4(leaf2, |sub| table.get(4, sub)) {
                table.set(2, 0, regs);
            }
        }
    }
}

/// CPUID.1 ECX and EDX as hardware KVM reports them from `table`. `lapic`:
/// the vCPU has an enabled local APIC (KVM derives EDX.APIC from it at
/// run time).
pub fn table_leaf1(table: &CpuidTable, lapic: bool) -> [u32; 2] {
    let [_, _, ecx, edx] = table.get(1, 0).unwrap_or_default();
    [ecx, if lapic { edx | APIC } else { edx & !APIC }]
}

/// What the sentry would read with CPUID at boot: `leaf1` (ECX, EDX, as
/// the variant reports them) and the XSAVE component layout from `table`.
pub fn boot_cpuid(table: &CpuidTable, [leaf1_ecx, leaf1_edx]: [u32; 2]) -> CpuidInfo {
    let mut xsave = [XsaveComponent::default(); 16];
    for (i, c) in (0u32..).zip(xsave.iter_mut()).skip(2) {
        if let Some([size, offset, _, _]) = table.get(0xd, i) {
            *c = XsaveComponent { size, offset };
        }
    }
    CpuidInfo { leaf1_ecx, leaf1_edx, xsave }
}

/// "GenuineIntel" in CPUID.0: EBX, EDX, ECX.
const INTEL: [u32; 3] = [0x756e_6547, 0x4965_6e69, 0x6c65_746e];

/// Leaf-2 descriptor: "no cache descriptors here, see leaf 4".
const SEE_LEAF4: u8 = 0xff;
/// Leaf-2 descriptor: "no L2 or, on some models, no L3 cache"; glibc stops
/// its L3 search at it, so it never survives a rewrite.
const NO_L2_OR_L3: u8 = 0x40;

/// Which cache a descriptor describes (glibc's `rel_name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    L1Data,
    L1Inst,
    L2,
    L3,
}

/// A cache as leaf 4 describes it, or as a descriptor does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cache {
    level: Level,
    size: u64,
    ways: u32,
    line: u32,
}

/// The legacy descriptors glibc knows (its `intel_02_known`, from the SDM's
/// CPUID leaf 2 table), sizes in KiB. 0x49 is left out: glibc reads it as
/// L3 on family 15 model 6 and as L2 elsewhere.
const DESCRIPTORS: &[(u8, Level, u32, u32, u64)] = {
    use Level::{L1Data as D, L1Inst as I, L2, L3};
    &[
        (0x06, I, 4, 32, 8),
        (0x08, I, 4, 32, 16),
        (0x09, I, 4, 32, 32),
        (0x0a, D, 2, 32, 8),
        (0x0c, D, 4, 32, 16),
        (0x0d, D, 4, 64, 16),
        (0x0e, D, 6, 64, 24),
        (0x21, L2, 8, 64, 256),
        (0x22, L3, 4, 64, 512),
        (0x23, L3, 8, 64, 1024),
        (0x25, L3, 8, 64, 2048),
        (0x29, L3, 8, 64, 4096),
        (0x2c, D, 8, 64, 32),
        (0x30, I, 8, 64, 32),
        (0x39, L2, 4, 64, 128),
        (0x3a, L2, 6, 64, 192),
        (0x3b, L2, 2, 64, 128),
        (0x3c, L2, 4, 64, 256),
        (0x3d, L2, 6, 64, 384),
        (0x3e, L2, 4, 64, 512),
        (0x3f, L2, 2, 64, 256),
        (0x41, L2, 4, 32, 128),
        (0x42, L2, 4, 32, 256),
        (0x43, L2, 4, 32, 512),
        (0x44, L2, 4, 32, 1024),
        (0x45, L2, 4, 32, 2048),
        (0x46, L3, 4, 64, 4096),
        (0x47, L3, 8, 64, 8192),
        (0x48, L2, 12, 64, 3072),
        (0x4a, L3, 12, 64, 6144),
        (0x4b, L3, 16, 64, 8192),
        (0x4c, L3, 12, 64, 12288),
        (0x4d, L3, 16, 64, 16384),
        (0x4e, L2, 24, 64, 6144),
        (0x60, D, 8, 64, 16),
        (0x66, D, 4, 64, 8),
        (0x67, D, 4, 64, 16),
        (0x68, D, 4, 64, 32),
        (0x78, L2, 8, 64, 1024),
        (0x79, L2, 8, 64, 128),
        (0x7a, L2, 8, 64, 256),
        (0x7b, L2, 8, 64, 512),
        (0x7c, L2, 8, 64, 1024),
        (0x7d, L2, 8, 64, 2048),
        (0x7f, L2, 2, 64, 512),
        (0x80, L2, 8, 64, 512),
        (0x82, L2, 8, 32, 256),
        (0x83, L2, 8, 32, 512),
        (0x84, L2, 8, 32, 1024),
        (0x85, L2, 8, 32, 2048),
        (0x86, L2, 4, 64, 512),
        (0x87, L2, 8, 64, 1024),
        (0xd0, L3, 4, 64, 512),
        (0xd1, L3, 4, 64, 1024),
        (0xd2, L3, 4, 64, 2048),
        (0xd6, L3, 8, 64, 1024),
        (0xd7, L3, 8, 64, 2048),
        (0xd8, L3, 8, 64, 4096),
        (0xdc, L3, 12, 64, 2048),
        (0xdd, L3, 12, 64, 4096),
        (0xde, L3, 12, 64, 8192),
        (0xe2, L3, 16, 64, 2048),
        (0xe3, L3, 16, 64, 4096),
        (0xe4, L3, 16, 64, 8192),
        (0xea, L3, 24, 64, 12288),
        (0xeb, L3, 24, 64, 18432),
        (0xec, L3, 24, 64, 24576),
    ]
};

/// The descriptors in table order (which breaks ties in [`descriptor_for`]).
fn descriptors() -> impl Iterator<Item = (u8, Cache)> {
    DESCRIPTORS.iter().map(|&(byte, level, ways, line, kib)| (byte, Cache { level, size: kib * 1024, ways, line }))
}

/// Whether `byte` is a cache descriptor glibc would read (it is replaced).
fn is_cache_descriptor(byte: u8) -> bool {
    byte == 0x49 || descriptors().any(|(b, _)| b == byte)
}

/// The descriptor for `cache`: one that matches exactly, else the one
/// closest in size with the same level and line size (then closest in
/// ways), if within a factor of two of the real size.
///
/// The trade-off: a size that is off but close costs nothing at run time
/// (glibc sizes its memcpy thresholds from it), and walking leaf 4 instead
/// costs ~4 CPUIDs for each of glibc's 3 queries of that level. So on this
/// development host (L2 1 MiB 16-way, L3 35.75 MiB 11-way, for which no
/// descriptor exists) programs see L2 as 1 MiB 8-way (0x78) and L3 as
/// 24 MiB 24-way (0xec); line sizes and both L1 caches are exact.
fn descriptor_for(cache: &Cache) -> Option<u8> {
    descriptors()
        .filter(|(_, d)| d.level == cache.level && d.line == cache.line)
        .min_by_key(|(_, d)| (d.size.abs_diff(cache.size), d.ways.abs_diff(cache.ways)))
        .filter(|(_, d)| d.size.saturating_mul(2) >= cache.size && d.size <= cache.size.saturating_mul(2))
        .map(|(byte, _)| byte)
}

/// The caches leaf 4 lists, and whether it lists one no descriptor level
/// covers (an L4, or a type glibc does not know).
fn leaf4_caches(leaf4: impl Fn(u32) -> Option<[u32; 4]>) -> (Vec<Cache>, bool) {
    let mut caches = Vec::new();
    let mut other = false;
    // Leaf 4 ends at a null type; bound the walk in case it never does.
    for sub in 0..32 {
        let Some([eax, ebx, ecx, _]) = leaf4(sub) else { break };
        let level = match (eax & 0x1f, (eax >> 5) & 7) {
            (0, _) => break,
            (1, 1) => Level::L1Data,
            (2, 1) => Level::L1Inst,
            (1..=3, 2) => Level::L2,
            (1..=3, 3) => Level::L3,
            _ => {
                other = true;
                continue;
            }
        };
        let ways = (ebx >> 22) + 1;
        let partitions = ((ebx >> 12) & 0x3ff) + 1;
        let line = (ebx & 0xfff) + 1;
        let size = u64::from(ways) * u64::from(partitions) * u64::from(line) * (u64::from(ecx) + 1);
        caches.push(Cache { level, size, ways, line });
    }
    (caches, other)
}

/// Leaf 2 with its 0xff descriptor replaced by the legacy descriptors of
/// the caches leaf 4 (`leaf4(subleaf)`) lists; `None` to keep it as it is
/// (no 0xff, nothing describable, or no room).
///
/// 0xff stays, last, when some cache has no usable descriptor: glibc reads
/// the descriptors in order and returns at the first one for the level it
/// asks about, so the described levels never reach the leaf-4 walk.
pub fn leaf2_from_leaf4(leaf2: [u32; 4], leaf4: impl Fn(u32) -> Option<[u32; 4]>) -> Option<[u32; 4]> {
    // The low byte of EAX is the iteration count, always 1 since the P6.
    if leaf2[0] & 0xff != 1 {
        return None;
    }
    // A register with bit 31 set holds no descriptors; EAX's low byte is
    // the count.
    let bytes: Vec<u8> = leaf2
        .iter()
        .enumerate()
        .filter(|&(_, &r)| r & 0x8000_0000 == 0)
        .flat_map(|(i, r)| r.to_le_bytes().into_iter().skip(usize::from(i == 0)))
        .collect();
    if !bytes.contains(&SEE_LEAF4) {
        return None;
    }
    let (caches, other) = leaf4_caches(leaf4);
    let described: Vec<u8> = caches.iter().filter_map(descriptor_for).collect();
    if described.is_empty() {
        return None;
    }
    let mut items = described;
    // TLB, prefetch and other descriptors keep their meaning.
    items.extend(bytes.iter().filter(|&&b| b != 0 && b != SEE_LEAF4 && b != NO_L2_OR_L3 && !is_cache_descriptor(b)));
    if other || caches.iter().any(|c| descriptor_for(c).is_none()) {
        items.push(SEE_LEAF4);
    }
    pack(items)
}

/// Packs descriptor bytes into EAX[31:8], EBX, ECX, EDX in the order glibc
/// reads them (each register from its low byte). A register's top byte
/// must be below 0x80, or bit 31 marks the register reserved: such bytes
/// take the next slot instead, so they only move later (0xff stays last).
fn pack(mut items: Vec<u8>) -> Option<[u32; 4]> {
    let mut regs = [1u32, 0, 0, 0];
    for slot in 1..16 {
        if items.is_empty() {
            break;
        }
        let (reg, shift) = (slot / 4, (slot % 4) * 8);
        let pick = if shift == 24 { items.iter().position(|&b| b < 0x80) } else { Some(0) };
        if let Some(i) = pick {
            regs[reg] |= u32::from(items.remove(i)) << shift;
        }
    }
    items.is_empty().then_some(regs)
}

/// Whether CPUID.0 names GenuineIntel.
pub fn is_intel(leaf0: [u32; 4]) -> bool {
    [leaf0[1], leaf0[3], leaf0[2]] == INTEL
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This development host (Xeon @ 2.50GHz under kvm_pvm): leaf 2 and
    /// leaf 4 subleaves 0..4 as KVM_GET_SUPPORTED_CPUID reports them.
    const HOST_LEAF2: [u32; 4] = [0x7603_6301, 0x00f0_b5ff, 0, 0x00c3_0000];
    const HOST_LEAF4: [[u32; 4]; 5] = [
        [0x0400_0121, 0x01c0_003f, 0x3f, 0],
        [0x0400_0122, 0x01c0_003f, 0x3f, 0],
        [0x0400_0143, 0x03c0_003f, 0x3ff, 0],
        [0x0400_4163, 0x0280_003f, 0xcfff, 5],
        [0, 0, 0, 0],
    ];

    fn host_leaf4(sub: u32) -> Option<[u32; 4]> {
        HOST_LEAF4.get(usize::try_from(sub).ok()?).copied()
    }

    /// What glibc's `intel_check_word` finds for `level` in `regs`: the
    /// descriptor it stops at, or `Err(())` when it would walk leaf 4.
    fn glibc_reads(regs: [u32; 4], level: Level) -> Option<Result<Cache, ()>> {
        let mut first = true;
        for r in regs {
            if r & 0x8000_0000 != 0 {
                continue;
            }
            let mut v = if first { r & !0xff } else { r };
            first = false;
            while v != 0 {
                let byte = v.to_le_bytes()[0];
                if byte == SEE_LEAF4 {
                    return Some(Err(()));
                }
                if let Some((_, d)) = descriptors().find(|(b, d)| *b == byte && d.level == level) {
                    return Some(Ok(d));
                }
                v >>= 8;
            }
        }
        None
    }

    #[test]
    fn this_hosts_caches_get_descriptors_and_lose_0xff() {
        let regs = leaf2_from_leaf4(HOST_LEAF2, host_leaf4).expect("rewritten");
        assert_eq!(
            glibc_reads(regs, Level::L1Data),
            Some(Ok(Cache { level: Level::L1Data, size: 32 << 10, ways: 8, line: 64 }))
        );
        assert_eq!(
            glibc_reads(regs, Level::L1Inst),
            Some(Ok(Cache { level: Level::L1Inst, size: 32 << 10, ways: 8, line: 64 }))
        );
        assert_eq!(
            glibc_reads(regs, Level::L2),
            Some(Ok(Cache { level: Level::L2, size: 1 << 20, ways: 8, line: 64 }))
        );
        assert_eq!(
            glibc_reads(regs, Level::L3),
            Some(Ok(Cache { level: Level::L3, size: 24 << 20, ways: 24, line: 64 }))
        );
        // The TLB and prefetch descriptors are all still there.
        let bytes: Vec<u8> = regs.iter().flat_map(|r| r.to_le_bytes()).collect();
        for b in [0x63, 0x03, 0x76, 0xb5, 0xf0, 0xc3] {
            assert!(bytes.contains(&b), "{b:#x} kept");
        }
        assert!(!bytes.contains(&SEE_LEAF4));
        assert!(regs.iter().all(|r| r & 0x8000_0000 == 0), "{regs:x?}");
        assert_eq!(regs[0] & 0xff, 1);
    }

    #[test]
    fn a_cache_without_descriptor_keeps_0xff_after_the_others() {
        // L3 of 1 GiB: nothing within a factor of two.
        let leaf4 = |sub: u32| match sub {
            3 => Some([0x0400_4163, 0x0280_003f, 0x17_ffff, 5]),
            _ => host_leaf4(sub),
        };
        let regs = leaf2_from_leaf4(HOST_LEAF2, leaf4).expect("rewritten");
        assert!(matches!(glibc_reads(regs, Level::L1Data), Some(Ok(_))));
        assert!(matches!(glibc_reads(regs, Level::L2), Some(Ok(_))));
        assert_eq!(glibc_reads(regs, Level::L3), Some(Err(())));
    }

    #[test]
    fn an_l4_cache_keeps_0xff() {
        let leaf4 = |sub: u32| match sub {
            4 => Some([0x0400_0183, 0x03c0_003f, 0xffff, 0]),
            5 => Some([0; 4]),
            _ => host_leaf4(sub),
        };
        let regs = leaf2_from_leaf4(HOST_LEAF2, leaf4).expect("rewritten");
        assert!(regs.iter().flat_map(|r| r.to_le_bytes()).any(|b| b == SEE_LEAF4));
        assert!(matches!(glibc_reads(regs, Level::L3), Some(Ok(_))));
    }

    #[test]
    fn leaf2_without_0xff_or_with_another_count_is_kept() {
        assert_eq!(leaf2_from_leaf4([0x6658_3b01, 0, 0, 0x0049_7d02], host_leaf4), None);
        assert_eq!(leaf2_from_leaf4([0x7603_6302, 0x00f0_b5ff, 0, 0], host_leaf4), None);
        assert_eq!(leaf2_from_leaf4(HOST_LEAF2, |_| None), None);
    }

    #[test]
    fn exact_matches_win_and_sizes_too_far_off_have_none() {
        let l1d = Cache { level: Level::L1Data, size: 48 << 10, ways: 12, line: 64 };
        // 48 KiB 12-way: no such descriptor; 32 KiB 8-way (0x2c) is closest.
        assert_eq!(descriptor_for(&l1d), Some(0x2c));
        let l2 = Cache { level: Level::L2, size: 2 << 20, ways: 8, line: 64 };
        assert_eq!(descriptor_for(&l2), Some(0x7d));
        let l2_32 = Cache { level: Level::L2, size: 2 << 20, ways: 4, line: 32 };
        assert_eq!(descriptor_for(&l2_32), Some(0x45));
        let huge = Cache { level: Level::L3, size: 256 << 20, ways: 16, line: 64 };
        assert_eq!(descriptor_for(&huge), None);
        let line128 = Cache { level: Level::L2, size: 1 << 20, ways: 8, line: 128 };
        assert_eq!(descriptor_for(&line128), None);
    }

    #[test]
    fn top_bytes_stay_below_0x80() {
        let regs = pack(vec![0x2c, 0x30, 0xec, 0xeb, 0xb5, 0xf0, 0xc3, 0x63, 0x03, 0x76, 0xff]).expect("fits");
        assert!(regs.iter().all(|r| r & 0x8000_0000 == 0), "{regs:x?}");
        let bytes: Vec<u8> = regs.iter().flat_map(|r| r.to_le_bytes()).filter(|&b| b != 0).collect();
        assert_eq!(bytes.last(), Some(&0xff));
        assert_eq!(bytes.len(), 12);
        assert_eq!(pack(vec![0x80; 16]), None);
    }

    #[test]
    fn the_table_is_edited_and_the_sentry_gets_its_values() {
        let intel = [0x16, 0x756e_6547, 0x6c65_746e, 0x4965_6e69];
        let leaf1 = [0x50657, 0x0102_0800, 0xf7f8_3203, 0x1f8b_fbff];
        let mut entries = vec![(0, 0, intel), (1, 0, leaf1), (2, 0, HOST_LEAF2)];
        entries.extend((0..5).map(|i| (4, i, HOST_LEAF4[i as usize])));
        entries.extend([(0xd, 2, [0x100, 0x240, 0, 0]), (0xd, 9, [8, 0xa80, 0, 0])]);
        let mut table = CpuidTable::from_entries(&entries);
        guest_cpuid(&mut table);
        assert_eq!(table.get(2, 0), leaf2_from_leaf4(HOST_LEAF2, host_leaf4));
        assert_eq!(table.get(4, 3), Some(HOST_LEAF4[3]), "leaf 4 is left as it is");
        assert_eq!(table.get(1, 0), Some(leaf1));
        assert_eq!(table_leaf1(&table, false), [0xf7f8_3203, 0x1f8b_f9ff]);
        assert_eq!(table_leaf1(&table, true), [0xf7f8_3203, 0x1f8b_fbff]);
        let info = boot_cpuid(&table, [1, 2]);
        assert_eq!((info.leaf1_ecx, info.leaf1_edx), (1, 2));
        assert_eq!(info.xsave[2], XsaveComponent { size: 0x100, offset: 0x240 });
        assert_eq!(info.xsave[9], XsaveComponent { size: 8, offset: 0xa80 });
        assert_eq!(info.xsave[5], XsaveComponent::default());

        // AMD: leaf 2 untouched.
        let amd = [0x10, 0x6874_7541, 0x444d_4163, 0x6974_6e65];
        let mut table = CpuidTable::from_entries(&[(0, 0, amd), (2, 0, HOST_LEAF2), (4, 0, HOST_LEAF4[0])]);
        guest_cpuid(&mut table);
        assert_eq!(table.get(2, 0), Some(HOST_LEAF2));
    }

    #[test]
    fn vendor() {
        assert!(is_intel([0x16, 0x756e_6547, 0x6c65_746e, 0x4965_6e69]));
        assert!(!is_intel([0x10, 0x6874_7541, 0x444d_4163, 0x6974_6e65]));
    }
}
