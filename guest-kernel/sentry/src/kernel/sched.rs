//! The run queue and wake-ups.
//!
//! Scheduling is M:1: tasks take turns on this vCPU. A task runs until it
//! blocks in a syscall, yields, exits or uses up its time slice at a trap
//! (the platform's timer interrupt is one: a task that never enters the
//! kernel is preempted at its ticks).
//! A blocking syscall does not keep a kernel stack: it records what it
//! waits for ([`WaitKey`]s and a deadline) and returns
//! [`crate::error::SysError::block`]; when woken, the task retries the
//! syscall from the start with its registers unchanged.
//!
//! Code that cannot reach the kernel (the drop of a pipe end) posts wake-ups
//! with [`notify`]; the scheduler applies them at its next decision.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use super::task::WaitKey;

/// Time a task runs before another runnable task gets the vCPU (checked at
/// traps, timer ticks included).
pub const TIME_SLICE_NS: u64 = 10_000_000;

/// Wake-ups posted from where the kernel is not at hand.
static NOTIFIED: spin::Mutex<Vec<WaitKey>> = spin::Mutex::new(Vec::new());

/// Posts a wake-up for every task blocked on `key`.
pub fn notify(key: WaitKey) {
    let mut n = NOTIFIED.lock();
    if !n.contains(&key) {
        n.push(key);
    }
}

/// Takes the posted wake-ups.
pub fn take_notified() -> Vec<WaitKey> {
    core::mem::take(&mut *NOTIFIED.lock())
}

/// Whether wake-ups are waiting to be applied.
pub fn has_notified() -> bool {
    !NOTIFIED.lock().is_empty()
}

/// The tasks ready to run, in order.
#[derive(Debug, Default)]
pub struct RunQueue {
    q: VecDeque<u32>,
}

impl RunQueue {
    pub fn push(&mut self, tid: u32) {
        if !self.q.contains(&tid) {
            self.q.push_back(tid);
        }
    }

    pub fn pop(&mut self) -> Option<u32> {
        self.q.pop_front()
    }

    pub fn remove(&mut self, tid: u32) {
        self.q.retain(|&t| t != tid);
    }

    pub fn is_empty(&self) -> bool {
        self.q.is_empty()
    }
}
