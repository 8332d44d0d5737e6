//! The sentry's heap: a region of guest memory reached through the direct map.

use linked_list_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Hands `[start, start + size)` (direct-map virtual addresses) to the heap.
///
/// # Safety
///
/// The range must be mapped, writable, unused by anything else, and this
/// must be called once, before the first allocation.
pub unsafe fn init(start: u64, size: u64) {
    // SAFETY: the caller guarantees the range is ours and unused.
    unsafe { HEAP.lock().init(start as *mut u8, usize::try_from(size).unwrap_or(0)) };
}
