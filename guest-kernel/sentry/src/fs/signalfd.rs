//! signalfd: reads the reading task's pending signals in a mask as
//! `struct signalfd_siginfo` records.

use crate::kernel::deliver::pending_set;
use crate::kernel::poll::{Readiness, READABLE};
use crate::kernel::signal::SigInfo;
use crate::kernel::task::WaitKey;
use crate::kernel::{Kernel, Task};
use crate::platform::Platform;
use abi::linux::signal::*;
use abi::linux::signalfd::SIGNALFD_SIGINFO_SIZE;

/// The signals a signalfd reads.
#[derive(Debug)]
pub struct SignalFd {
    mask: spin::Mutex<u64>,
}

/// SIGKILL and SIGSTOP are never read through a signalfd.
const UNREADABLE: u64 = bit(SIGKILL) | bit(SIGSTOP);

impl SignalFd {
    pub fn new(mask: u64) -> Self {
        Self { mask: spin::Mutex::new(mask & !UNREADABLE) }
    }

    pub fn mask(&self) -> u64 {
        *self.mask.lock()
    }

    pub fn set_mask(&self, mask: u64) {
        *self.mask.lock() = mask & !UNREADABLE;
    }

    /// Readable when a signal in the mask is pending for `t` (its thread
    /// or its process). Any signal's arrival wakes a task waiting on
    /// [`WaitKey::Signal`], blocked or not.
    pub fn readiness<P: Platform>(&self, k: &Kernel<P>, t: &Task<P::AddressSpace>) -> Readiness {
        let events = if pending_set(k, t) & self.mask() != 0 { READABLE } else { 0 };
        Readiness { events, key: Some(WaitKey::Signal), at: None }
    }
}

/// Which union member of a `siginfo_t` is filled, as Linux's siginfo_layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Kill,
    Timer,
    Poll,
    Fault,
    Chld,
    Rt,
    Sys,
}

fn layout(sig: u32, code: i32) -> Layout {
    const SI_SIGIO: i32 = -5;
    const NSIGPOLL: i32 = 6;
    if code > SI_USER && code < SI_KERNEL {
        match sig {
            SIGILL | SIGFPE | SIGSEGV | SIGBUS | SIGTRAP => Layout::Fault,
            SIGCHLD => Layout::Chld,
            SIGSYS => Layout::Sys,
            _ if code <= NSIGPOLL => Layout::Poll,
            _ => Layout::Kill,
        }
    } else if code == SI_TIMER {
        Layout::Timer
    } else if code == SI_SIGIO {
        Layout::Poll
    } else if code < 0 {
        Layout::Rt
    } else {
        Layout::Kill
    }
}

/// The `struct signalfd_siginfo` for `info`, as Linux's signalfd_copyinfo.
pub fn signalfd_siginfo(info: &SigInfo) -> [u8; SIGNALFD_SIGINFO_SIZE] {
    let si = &info.0;
    let mut out = [0u8; SIGNALFD_SIGINFO_SIZE];
    let mut copy = |to: usize, from: usize, len: usize| out[to..to + len].copy_from_slice(&si[from..from + len]);
    // ssi_signo, ssi_errno, ssi_code from si_signo, si_errno, si_code.
    copy(0, 0, 12);
    match layout(info.signo(), info.code()) {
        Layout::Kill => {
            copy(12, 16, 4); // ssi_pid
            copy(16, 20, 4); // ssi_uid
        }
        Layout::Timer => {
            copy(24, 16, 4); // ssi_tid
            copy(32, 20, 4); // ssi_overrun
            copy(44, 24, 4); // ssi_int
            copy(48, 24, 8); // ssi_ptr
        }
        Layout::Poll => {
            copy(28, 16, 4); // ssi_band (low half of si_band)
            copy(20, 24, 4); // ssi_fd
        }
        Layout::Fault => {
            copy(72, 16, 8); // ssi_addr
            copy(80, 24, 2); // ssi_addr_lsb
        }
        Layout::Chld => {
            copy(12, 16, 4); // ssi_pid
            copy(16, 20, 4); // ssi_uid
            copy(40, 24, 4); // ssi_status
            copy(56, 32, 8); // ssi_utime
            copy(64, 40, 8); // ssi_stime
        }
        Layout::Rt => {
            copy(12, 16, 4); // ssi_pid
            copy(16, 20, 4); // ssi_uid
            copy(44, 24, 4); // ssi_int
            copy(48, 24, 8); // ssi_ptr
        }
        Layout::Sys => {
            copy(88, 16, 8); // ssi_call_addr
            copy(84, 24, 4); // ssi_syscall
            copy(96, 28, 4); // ssi_arch
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u32_at(b: &[u8], off: usize) -> u32 {
        u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
    }

    #[test]
    fn kill_and_child_layouts() {
        let s = signalfd_siginfo(&SigInfo::from_process(SIGUSR1, SI_USER, 42, 7));
        assert_eq!((u32_at(&s, 0), u32_at(&s, 8), u32_at(&s, 12), u32_at(&s, 16)), (SIGUSR1, 0, 42, 7));
        let s = signalfd_siginfo(&SigInfo::child(CLD_EXITED, 9, 3, 1, 2));
        assert_eq!((u32_at(&s, 0), u32_at(&s, 12), u32_at(&s, 40)), (SIGCHLD, 9, 3));
        assert_eq!(s[56], 1);
        assert_eq!(s[64], 2);
        let s = signalfd_siginfo(&SigInfo::fault(SIGSEGV, 1, 0x1234));
        assert_eq!(u32_at(&s, 72), 0x1234);
    }
}
