//! Per-task (thread) state.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::shared::Shared;
use super::signal::{SigHand, SigPending};
use crate::arch::{FpState, UserRegs, RFLAGS_FIXED, RFLAGS_IF, RFLAGS_USER_MASK};
use crate::kernel::fd::FdTable;
use crate::mm::MemoryManager;
use crate::platform::{AddressSpace, ThreadId};
use crate::vfs::path::FsContext;
use abi::layout::selector;
use abi::linux::{rlimit, Rlimit};

pub use super::signal::SigAction;

/// What a blocked task waits for. Any event on a key makes every task
/// blocked on it runnable; it then retries its syscall, which blocks again
/// if its condition still does not hold. Ordered so that epoll can index
/// its watches by key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WaitKey {
    /// An I/O object changed state: a pipe's buffer or its number of
    /// readers or writers, a socket, an eventfd (ids from
    /// [`crate::kernel::poll::new_io_id`]).
    Io(u64),
    /// A child of process `pid` exited, stopped or continued.
    ChildOf(u32),
    /// A futex word: wakes go through [`crate::kernel::futex`], which marks
    /// the woken task.
    Futex(u64),
    /// The vfork child of task `tid` exec'd or exited.
    Vfork(u32),
    /// A signal arrived for the task (sigsuspend, pause, sigtimedwait,
    /// signalfd reads and polls).
    Signal,
    /// Host standard input may be readable.
    HostStdin,
    /// A host descriptor of an exec'd process may be readable.
    HostFd(u32),
}

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// Running or in the run queue.
    Runnable,
    /// Waiting in a syscall (see [`Task::waits`]).
    Blocked,
    /// Stopped by a job-control signal.
    Stopped,
    /// Exited; the task is freed by the scheduler.
    Dead,
}

/// One thread of an application.
#[derive(Debug)]
pub struct Task<A: AddressSpace> {
    pub regs: UserRegs,
    pub fp: FpState,
    /// The address space, shared by the threads of a process (and with a
    /// `CLONE_VM` child).
    pub mm: Arc<Shared<MemoryManager<A>>>,
    /// The fd table, shared by `CLONE_FILES` clones.
    pub fds: Arc<Shared<FdTable>>,
    /// Root, working directory and mounts for path resolution, shared by
    /// `CLONE_FS` clones (threads): a chdir in one is seen by all.
    pub fs: Arc<Shared<FsContext>>,
    /// Signal dispositions, shared by `CLONE_SIGHAND` clones.
    pub sighand: Arc<Shared<SigHand>>,
    pub tid: u32,
    /// The platform's name for this thread (see [`ThreadId`]).
    pub thread_id: ThreadId,
    /// The thread group (process) id.
    pub pid: u32,
    /// `set_tid_address` / `CLONE_CHILD_CLEARTID` pointer.
    pub clear_child_tid: u64,
    /// `set_robust_list` head and length.
    pub robust_list: (u64, u64),
    pub sigmask: u64,
    /// The mask to restore after the next signal handler (sigsuspend,
    /// pselect, ppoll).
    pub saved_sigmask: Option<u64>,
    /// Signals sent to this thread (tkill, faults).
    pub pending: SigPending,
    /// `sigaltstack`: base, size and flags (SS_DISABLE when none).
    pub altstack: (u64, u64, u32),
    pub rlimits: [Rlimit; 16],
    pub umask: u32,
    /// User and group ids and capabilities.
    pub creds: super::creds::Credentials,
    /// Signal sent to this task when its parent process exits
    /// (PR_SET_PDEATHSIG); cleared by fork.
    pub pdeath_signal: u32,
    /// PR_SET_DUMPABLE.
    pub dumpable: bool,
    /// The command name (`PR_SET_NAME`, /proc comm), NUL padded.
    pub comm: [u8; 16],
    pub state: RunState,
    /// The syscall in the registers has started and is to be retried when
    /// the task is next scheduled (it blocked).
    pub in_syscall: bool,
    /// What the blocked syscall waits for.
    pub waits: Vec<WaitKey>,
    /// When the blocked syscall times out (monotonic ns), set on its first
    /// attempt and kept across retries.
    pub deadline: Option<u64>,
    /// The blocked syscall's own timeout (monotonic ns), when it differs
    /// from the time it is to be woken at ([`Task::deadline`]): poll with
    /// a timer among its files wakes at the timer but times out here.
    pub timeout: Option<u64>,
    /// A futex wake or similar one-shot event was delivered to this task
    /// while it was blocked.
    pub woken: bool,
    /// Progress a partly done blocking syscall keeps across retries (bytes
    /// of a pipe write already moved).
    pub progress: u64,
    /// The futex this task waits on, with its wait bitset.
    pub futex: Option<(super::futex::FutexKey, u32)>,
    /// The syscall number, for restarting an interrupted syscall.
    pub orig_rax: u64,
    /// A vfork child: the parent task waits until this task execs or exits.
    pub vfork_parent: Option<u32>,
    /// Signal the parent gets when this process ends (thread group leader).
    pub exit_signal: u32,
    /// The wait status this thread exited with (the process's, if it is
    /// the last thread and no group exit set one).
    pub exit_status: i32,
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
    /// The init task (tid 1), about to start at `entry` with stack pointer `sp`.
    pub fn new(mm: MemoryManager<A>, fs: FsContext, entry: u64, sp: u64, tty_mask: u32) -> Self {
        Self {
            regs: UserRegs::new_user(entry, sp),
            fp: FpState::new_user(),
            mm: Shared::new(mm),
            fds: Shared::new(FdTable::with_stdio(tty_mask)),
            fs: Shared::new(fs),
            sighand: Shared::new(SigHand::default()),
            tid: 1,
            thread_id: ThreadId::fresh(),
            pid: 1,
            clear_child_tid: 0,
            robust_list: (0, 0),
            sigmask: 0,
            saved_sigmask: None,
            pending: SigPending::default(),
            altstack: (0, 0, abi::linux::signal::SS_DISABLE),
            rlimits: default_rlimits(),
            umask: 0o022,
            creds: super::creds::Credentials::default(),
            pdeath_signal: 0,
            dumpable: true,
            comm: [0; 16],
            state: RunState::Runnable,
            in_syscall: false,
            waits: Vec::new(),
            deadline: None,
            timeout: None,
            woken: false,
            progress: 0,
            futex: None,
            orig_rax: 0,
            vfork_parent: None,
            exit_signal: abi::linux::signal::SIGCHLD,
            exit_status: 0,
            utime_ns: 0,
            stime_ns: 0,
        }
    }

    /// A copy of the task's root, working directory and mounts, to resolve
    /// paths with (without holding the shared lock through filesystem
    /// calls), checking this thread's permissions.
    pub fn fs(&self) -> FsContext {
        let mut fs = self.fs.lock().clone();
        fs.creds = Some(self.creds.clone());
        fs
    }

    /// The open file at `fd`.
    pub fn file(&self, fd: i32) -> Result<crate::kernel::fd::File, crate::error::SysError> {
        self.fds.lock().get(fd)
    }

    /// The lowest fd number the task may not use (RLIMIT_NOFILE).
    pub fn fd_limit(&self) -> usize {
        usize::try_from(self.rlimits[rlimit::RLIMIT_NOFILE as usize].cur).unwrap_or(usize::MAX)
    }

    /// The command name without its NUL padding.
    pub fn comm_name(&self) -> &[u8] {
        let n = self.comm.iter().position(|&b| b == 0).unwrap_or(self.comm.len());
        &self.comm[..n]
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

    /// Registers the blocked syscall's wait on `key`.
    pub fn wait_on(&mut self, key: WaitKey) {
        if !self.waits.contains(&key) {
            self.waits.push(key);
        }
    }

    /// The deadline `rel_ns` from `now`, fixed on the syscall's first attempt.
    pub fn deadline_after(&mut self, now: u64, rel_ns: u64) -> u64 {
        *self.deadline.get_or_insert(now.saturating_add(rel_ns))
    }

    /// Starts an attempt of a syscall that waits up to `rel_ns` (None:
    /// forever) from its first attempt: fixes the timeout then, and makes
    /// it the time to be woken by (which [`Task::wake_by`] can bring
    /// forward for this attempt). Returns the absolute timeout.
    pub fn begin_timed_wait(&mut self, now: u64, rel_ns: Option<u64>) -> Option<u64> {
        if self.timeout.is_none() {
            self.timeout = rel_ns.map(|r| now.saturating_add(r));
        }
        self.deadline = self.timeout;
        self.timeout
    }

    /// Makes the scheduler wake the blocked task by `at` (monotonic ns).
    pub fn wake_by(&mut self, at: u64) {
        self.deadline = Some(self.deadline.map_or(at, |d| d.min(at)));
    }

    /// Clears the per-syscall blocking state (the syscall completed).
    pub fn end_syscall(&mut self) {
        self.in_syscall = false;
        self.waits.clear();
        self.deadline = None;
        self.timeout = None;
        self.woken = false;
        self.progress = 0;
        self.futex = None;
    }
}
