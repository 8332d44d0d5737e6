//! Per-task state.

use crate::arch::{FpState, UserRegs, RFLAGS_FIXED, RFLAGS_IF, RFLAGS_USER_MASK};
use crate::kernel::fd::FdTable;
use crate::mm::MemoryManager;
use crate::platform::AddressSpace;
use crate::vfs::path::FsContext;
use abi::layout::selector;
use abi::linux::{rlimit, Rlimit};

/// A recorded signal disposition (`struct sigaction` as the kernel sees it).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

/// One thread of an application (here: the container's init).
#[derive(Debug)]
pub struct Task<A: AddressSpace> {
    pub regs: UserRegs,
    pub fp: FpState,
    pub mm: MemoryManager<A>,
    pub fds: FdTable,
    /// Root, working directory and mounts for path resolution.
    pub fs: FsContext,
    pub tid: u32,
    pub pid: u32,
    pub ppid: u32,
    /// `set_tid_address` pointer.
    pub clear_child_tid: u64,
    /// `set_robust_list` head and length.
    pub robust_list: (u64, u64),
    pub sigactions: [SigAction; 64],
    pub sigmask: u64,
    pub rlimits: [Rlimit; 16],
    pub umask: u32,
    /// The command name (`PR_SET_NAME`, /proc comm), NUL padded.
    pub comm: [u8; 16],
    /// A signal raised by a syscall, acted on when the syscall returns.
    pub pending_signal: Option<u32>,
    /// Time spent running application code and in the sentry.
    pub utime_ns: u64,
    pub stime_ns: u64,
}

/// Linux's default limits for a process started by a container runtime.
pub fn default_rlimits() -> [Rlimit; 16] {
    let inf = Rlimit { cur: rlimit::RLIM_INFINITY, max: rlimit::RLIM_INFINITY };
    let mut r = [inf; 16];
    r[rlimit::RLIMIT_STACK as usize] = Rlimit { cur: 8 << 20, max: rlimit::RLIM_INFINITY };
    r[rlimit::RLIMIT_CORE as usize] = Rlimit { cur: 0, max: rlimit::RLIM_INFINITY };
    r[rlimit::RLIMIT_NOFILE as usize] = Rlimit { cur: 1024, max: 1 << 20 };
    r[rlimit::RLIMIT_MEMLOCK as usize] = Rlimit { cur: 8 << 20, max: 8 << 20 };
    r[rlimit::RLIMIT_NPROC as usize] = Rlimit { cur: 1 << 20, max: 1 << 20 };
    r[rlimit::RLIMIT_SIGPENDING as usize] = Rlimit { cur: 1 << 16, max: 1 << 16 };
    r[rlimit::RLIMIT_MSGQUEUE as usize] = Rlimit { cur: 819200, max: 819200 };
    r[rlimit::RLIMIT_NICE as usize] = Rlimit { cur: 0, max: 0 };
    r[rlimit::RLIMIT_RTPRIO as usize] = Rlimit { cur: 0, max: 0 };
    r
}

impl<A: AddressSpace> Task<A> {
    /// A task about to start at `entry` with stack pointer `sp`.
    pub fn new(mm: MemoryManager<A>, fs: FsContext, entry: u64, sp: u64, tty_mask: u32) -> Self {
        Self {
            regs: UserRegs::new_user(entry, sp),
            fp: FpState::new_user(),
            mm,
            fds: FdTable::with_stdio(tty_mask),
            fs,
            tid: 1,
            pid: 1,
            ppid: 0,
            clear_child_tid: 0,
            robust_list: (0, 0),
            sigactions: [SigAction::default(); 64],
            sigmask: 0,
            rlimits: default_rlimits(),
            umask: 0o022,
            comm: [0; 16],
            pending_signal: None,
            utime_ns: 0,
            stime_ns: 0,
        }
    }

    /// The lowest fd number the task may not use (RLIMIT_NOFILE).
    pub fn fd_limit(&self) -> usize {
        usize::try_from(self.rlimits[rlimit::RLIMIT_NOFILE as usize].cur).unwrap_or(usize::MAX)
    }

    /// Sets the command name from a path's last component, as exec does.
    pub fn set_comm_from_path(&mut self, path: &[u8]) {
        let base = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
        self.comm = [0; 16];
        let n = base.len().min(15);
        self.comm[..n].copy_from_slice(&base[..n]);
    }

    /// Forces the register file into a state that is safe to return to
    /// user mode with: user selectors, interrupts on, no privileged flags.
    pub fn sanitize_regs(&mut self) {
        let r = &mut self.regs;
        r.cs = u64::from(selector::USER_CS);
        r.ss = u64::from(selector::USER_DS);
        r.rflags = (r.rflags & RFLAGS_USER_MASK) | RFLAGS_IF | RFLAGS_FIXED;
    }
}
