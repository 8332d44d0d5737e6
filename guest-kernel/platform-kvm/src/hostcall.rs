//! The hostcall client: fills this vCPU's request block and rings the
//! doorbell port. The only port I/O in the guest.

use abi::hostcall::{Hostcall, HostcallBlock, Segment, HOSTCALL_PORT, HOSTCALL_VERSION, MAX_SEGMENTS};
use abi::layout::{hostcall_block_gpa, KERNEL_BASE, KERNEL_MAP_SIZE, PHYS_MAP_BASE};

use crate::arch;

fn block() -> *mut HostcallBlock {
    (KERNEL_BASE + hostcall_block_gpa(0)) as *mut HostcallBlock
}

/// Guest-physical address of a sentry virtual address (kernel map or
/// direct map), if it has one.
pub fn virt_to_phys(va: u64) -> Option<u64> {
    if va >= KERNEL_BASE {
        let pa = va - KERNEL_BASE;
        return (pa < KERNEL_MAP_SIZE).then_some(pa);
    }
    va.checked_sub(PHYS_MAP_BASE).filter(|&pa| pa < (1 << 40))
}

/// Performs hostcall `nr` with `args` and up to [`MAX_SEGMENTS`] segments
/// (guest-physical). Returns `(ret, ret2)`.
pub fn call(nr: Hostcall, args: [u64; 4], segs: &[(u64, u64)]) -> (i64, u64) {
    let n = segs.len().min(MAX_SEGMENTS);
    let b = block();
    // SAFETY: the block page at KERNEL_BASE + hostcall_block_gpa(0) is
    // mapped by the boot tables and reserved for this vCPU's hostcalls
    // (abi::layout); only this vCPU uses it, one call at a time (the sentry
    // never re-enters a hostcall), and the VMM touches it only while this
    // vCPU is stopped in the `out` below.
    unsafe {
        (*b).version = HOSTCALL_VERSION;
        (*b).nr = nr as u32;
        (*b).args = args;
        (*b).ret = 0;
        (*b).ret2 = 0;
        (*b).nsegs = u32::try_from(n).unwrap_or(0);
        for (i, &(gpa, len)) in segs[..n].iter().enumerate() {
            (*b).segments[i] = Segment { gpa, len };
        }
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
        arch::out32(HOSTCALL_PORT, 0);
        core::sync::atomic::compiler_fence(core::sync::atomic::Ordering::SeqCst);
        (core::ptr::addr_of!((*b).ret).read_volatile(), core::ptr::addr_of!((*b).ret2).read_volatile())
    }
}

/// Performs a hostcall whose data is a sentry string (log, panic).
pub fn call_with_text(nr: Hostcall, args: [u64; 4], text: &[u8]) -> (i64, u64) {
    let va = text.as_ptr() as u64;
    match virt_to_phys(va) {
        Some(pa) => call(nr, args, &[(pa, text.len() as u64)]),
        None => call(nr, args, &[]),
    }
}

/// Whether the VMM flagged control requests in the control page.
pub fn control_pending() -> bool {
    let page = (KERNEL_BASE + abi::layout::CONTROL_GPA) as *const u32;
    // SAFETY: the control page lies in the kernel map set up at boot
    // (abi::layout: below KERNEL_MAP_SIZE) and is written by the VMM only
    // while this vCPU is stopped; an aligned u32 read cannot tear.
    unsafe { page.read_volatile() != 0 }
}
