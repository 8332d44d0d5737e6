//! The sentry's heap: a region of guest memory reached through the direct map.
//!
//! Blocks of up to [`MAX_SMALL`] bytes come from per-size-class free lists
//! carved out of chunks of the first-fit heap and never given back to it;
//! larger blocks come from the first-fit heap itself. The sentry allocates
//! and frees a few small objects in most syscalls (path names, directory
//! links, segment lists), and once the heap has many holes a first-fit
//! allocation or free walks the hole list for hundreds of cycles, while a
//! class list pops or pushes in a few. What the classes hold is bounded by
//! the peak of small allocations.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{null_mut, NonNull};

use linked_list_allocator::Heap;

/// Block size of the smallest class; class `c` holds blocks of `MIN_BLOCK << c`.
const MIN_BLOCK: usize = 16;
const CLASSES: usize = 8;
/// Largest block served from a class (2 KiB).
const MAX_SMALL: usize = MIN_BLOCK << (CLASSES - 1);
/// Bytes at least taken from the first-fit heap to refill a class.
const REFILL: usize = 4096;

/// A free block of a class: the next free block of the same class.
struct FreeBlock {
    next: Option<NonNull<FreeBlock>>,
}

struct State {
    big: Heap,
    /// Each class's list of free blocks.
    free: [Option<NonNull<FreeBlock>>; CLASSES],
}

// SAFETY: the free blocks are heap memory nothing else references; they are
// only touched through the lock that owns the state.
unsafe impl Send for State {}

/// The global allocator of the sentry.
struct SentryHeap(spin::Mutex<State>);

/// The class of blocks that fits `layout` (size and alignment), if small.
fn class(layout: Layout) -> Option<usize> {
    let size = layout.size().max(layout.align()).max(MIN_BLOCK);
    if size > MAX_SMALL {
        return None;
    }
    usize::try_from(size.next_power_of_two().trailing_zeros() - MIN_BLOCK.trailing_zeros()).ok()
}

impl State {
    /// Takes a block of class `c`, refilling the class from the first-fit
    /// heap when it is empty. Blocks are aligned to their size.
    fn pop(&mut self, c: usize) -> *mut u8 {
        if self.free[c].is_none() && !self.refill(c) {
            return null_mut();
        }
        let Some(block) = self.free[c] else { return null_mut() };
        // SAFETY: `block` is a free block of class `c` (refill or push put
        // it there): at least MIN_BLOCK bytes, aligned, owned by the list.
        self.free[c] = unsafe { block.as_ptr().read().next };
        block.as_ptr().cast()
    }

    /// Returns `ptr`, a block of class `c`, to its list.
    ///
    /// # Safety
    ///
    /// `ptr` came from `pop(c)` and is no longer used by its owner.
    unsafe fn push(&mut self, c: usize, ptr: *mut u8) {
        let block = ptr.cast::<FreeBlock>();
        // SAFETY: the caller gives back a block of class `c`: at least
        // MIN_BLOCK bytes, aligned to its size, no longer in use.
        unsafe { block.write(FreeBlock { next: self.free[c] }) };
        self.free[c] = NonNull::new(block);
    }

    /// Carves a chunk of the first-fit heap into free blocks of class `c`.
    fn refill(&mut self, c: usize) -> bool {
        let size = MIN_BLOCK << c;
        let chunk = (8 * size).max(REFILL);
        let Ok(layout) = Layout::from_size_align(chunk, size) else { return false };
        let Ok(base) = self.big.allocate_first_fit(layout) else { return false };
        for i in (0..chunk / size).rev() {
            // SAFETY: block `i` lies inside the chunk just allocated, which
            // nothing else references; its offset keeps the chunk's alignment.
            unsafe { self.push(c, base.as_ptr().add(i * size)) };
        }
        true
    }
}

// SAFETY: every block handed out is either a class block (at least as large
// and as aligned as the layout asks, see `class`) or a first-fit block of
// exactly the layout; a block is handed out again only after `dealloc`.
unsafe impl GlobalAlloc for SentryHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut s = self.0.lock();
        match class(layout) {
            Some(c) => s.pop(c),
            None => s.big.allocate_first_fit(layout).map_or(null_mut(), NonNull::as_ptr),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let mut s = self.0.lock();
        match (class(layout), NonNull::new(ptr)) {
            // SAFETY: GlobalAlloc's contract: `ptr` was allocated here with
            // `layout`, so it is a block of this class, now unused.
            (Some(c), _) => unsafe { s.push(c, ptr) },
            // SAFETY: as above, a first-fit block of `layout`.
            (None, Some(p)) => unsafe { s.big.deallocate(p, layout) },
            (None, None) => {}
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new) = Layout::from_size_align(new_size, layout.align()) else { return null_mut() };
        // A block that stays in its class stays where it is.
        if class(layout).is_some() && class(layout) == class(new) {
            return ptr;
        }
        // SAFETY: `new` has a non-zero size (GlobalAlloc's contract).
        let p = unsafe { self.alloc(new) };
        if !p.is_null() {
            // SAFETY: both blocks are valid for the smaller size and distinct
            // (`ptr` is still allocated); `ptr` came from this allocator.
            unsafe {
                core::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        p
    }
}

#[global_allocator]
static HEAP: SentryHeap = SentryHeap(spin::Mutex::new(State { big: Heap::empty(), free: [None; CLASSES] }));

/// Hands `[start, start + size)` (direct-map virtual addresses) to the heap.
///
/// # Safety
///
/// The range must be mapped, writable, unused by anything else, and this
/// must be called once, before the first allocation.
pub unsafe fn init(start: u64, size: u64) {
    // SAFETY: the caller guarantees the range is ours and unused.
    unsafe { HEAP.0.lock().big.init(start as *mut u8, usize::try_from(size).unwrap_or(0)) };
}
