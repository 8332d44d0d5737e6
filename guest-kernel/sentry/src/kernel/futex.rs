//! Futexes: tasks blocked on a 32-bit word of application memory, woken by
//! address.
//!
//! A futex is named by its address space and virtual address. Linux names
//! futexes in MAP_SHARED memory by the page instead, so that processes
//! sharing it meet; the sentry has no shared mappings yet, so both the
//! private and the shared forms use the address-space name (for private
//! memory Linux does the same).

use alloc::vec::Vec;

use super::task::{RunState, Task};
use super::Kernel;
use crate::platform::Platform;

/// The identity of a futex word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FutexKey {
    /// The address space (its shared-state pointer), or 0 for a word in
    /// shared memory, keyed by its physical address.
    pub space: usize,
    pub addr: u64,
}

/// The key of `addr` in `t`'s address space. A non-private futex in
/// shared memory (MAP_SHARED) is keyed by the word's frame, so processes
/// that map it at different addresses meet on it.
pub fn key<A: crate::platform::AddressSpace>(t: &Task<A>, addr: u64, private: bool) -> FutexKey {
    if !private {
        if let Some(pa) = t.mm.lock().shared_phys(addr) {
            return FutexKey { space: 0, addr: pa };
        }
    }
    FutexKey { space: alloc::sync::Arc::as_ptr(&t.mm) as *const u8 as usize, addr }
}

/// Tasks blocked on `key` whose bitset meets `bitset`, in tid order.
fn waiters<P: Platform>(k: &Kernel<P>, key: FutexKey, bitset: u32) -> Vec<u32> {
    k.tasks
        .values()
        .filter(|t| t.state == RunState::Blocked && t.futex.is_some_and(|(fk, b)| fk == key && b & bitset != 0))
        .map(|t| t.tid)
        .collect()
}

/// Wakes up to `n` waiters of `key` matching `bitset`; returns how many.
pub fn wake<P: Platform>(k: &mut Kernel<P>, key: FutexKey, n: u32, bitset: u32) -> u32 {
    let mut woke = 0;
    for tid in waiters(k, key, bitset) {
        if woke >= n {
            break;
        }
        if let Some(t) = k.tasks.get_mut(&tid) {
            t.woken = true;
            t.futex = None;
            t.state = RunState::Runnable;
            k.runq.push(tid);
            woke += 1;
        }
    }
    woke
}

/// Wakes up to `n` waiters of the word at `addr` in `t`'s address space.
pub fn wake_address<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    addr: u64,
    n: u32,
    bitset: u32,
    private: bool,
) -> u32 {
    let key = key(t, addr, private);
    wake(k, key, n, bitset)
}

/// Moves up to `n` waiters of `from` to wait on `to`; returns how many.
pub fn requeue<P: Platform>(k: &mut Kernel<P>, from: FutexKey, to: FutexKey, n: u32) -> u32 {
    let mut moved = 0;
    for tid in waiters(k, from, u32::MAX) {
        if moved >= n {
            break;
        }
        if let Some(t) = k.tasks.get_mut(&tid) {
            if let Some((_, b)) = t.futex {
                t.futex = Some((to, b));
            }
            moved += 1;
        }
    }
    moved
}
