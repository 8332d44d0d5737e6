//! Processes (thread groups): identity, job control, children, and the
//! status a parent collects with wait.

use alloc::vec::Vec;

use super::signal::SigPending;

/// A child state change a parent has not collected yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// Stopped by `sig` (WUNTRACED).
    Stopped(u32),
    /// Continued (WCONTINUED).
    Continued,
}

/// One process.
#[derive(Debug)]
pub struct Process {
    pub pid: u32,
    pub ppid: u32,
    pub pgid: u32,
    pub sid: u32,
    /// Live threads.
    pub threads: Vec<u32>,
    /// Child processes, alive or zombie.
    pub children: Vec<u32>,
    /// Signals sent to the process as a whole.
    pub pending: SigPending,
    /// The wait status once every thread has exited (a zombie).
    pub zombie: Option<i32>,
    /// The status of a group exit in progress (exit_group, fatal signal).
    pub group_exit: Option<i32>,
    /// An uncollected stop or continue.
    pub report: Option<Report>,
    /// Whether the process is stopped by job control.
    pub stopped: bool,
    /// The process has exec'd since fork (setpgid on it then fails).
    pub execed: bool,
    /// CPU time of exited threads, and of waited-for children.
    pub utime_ns: u64,
    pub stime_ns: u64,
    pub child_utime_ns: u64,
    pub child_stime_ns: u64,
    /// Command line and environment of the last exec (for /proc).
    pub cmdline: Vec<u8>,
    /// PR_SET_CHILD_SUBREAPER: orphaned descendants are reparented here
    /// rather than to init.
    pub subreaper: bool,
    /// Its parent is told of its end by a signal other than SIGCHLD (or
    /// none): a "clone" child, waited for only with __WCLONE or __WALL.
    pub clone_child: bool,
    /// Interval and POSIX timers.
    pub timers: super::timer::Timers,
    /// The program file of the last exec (/proc/<pid>/exe).
    pub exe: Vec<u8>,
    /// Monotonic time the process was created at (/proc/<pid>/stat).
    pub start_ns: u64,
    /// Where the environment strings of the last exec lie in memory,
    /// `[start, end)` (/proc/<pid>/environ reads them there, as Linux).
    pub env: (u64, u64),
}

impl Process {
    pub fn new(pid: u32, ppid: u32, pgid: u32, sid: u32) -> Self {
        Self {
            pid,
            ppid,
            pgid,
            sid,
            threads: alloc::vec![pid],
            children: Vec::new(),
            pending: SigPending::default(),
            zombie: None,
            group_exit: None,
            report: None,
            stopped: false,
            execed: false,
            utime_ns: 0,
            stime_ns: 0,
            child_utime_ns: 0,
            child_stime_ns: 0,
            cmdline: Vec::new(),
            subreaper: false,
            clone_child: false,
            timers: super::timer::Timers::default(),
            exe: Vec::new(),
            start_ns: 0,
            env: (0, 0),
        }
    }
}

/// Wait statuses as Linux encodes them.
pub mod status {
    /// Exited with `code`.
    pub const fn exited(code: u8) -> i32 {
        (code as i32) << 8
    }

    /// Killed by `sig`, with a core dump reported if `core`.
    pub const fn signaled(sig: u32, core: bool) -> i32 {
        (sig as i32 & 0x7f) | if core { 0x80 } else { 0 }
    }

    /// Stopped by `sig`.
    pub const fn stopped(sig: u32) -> i32 {
        ((sig as i32) << 8) | 0x7f
    }

    /// Continued.
    pub const CONTINUED: i32 = 0xffff;

    /// The `si_code` and `si_status` of an exit or death status (SIGCHLD, waitid).
    pub const fn child_code(st: i32) -> (i32, i32) {
        use abi::linux::signal::{CLD_DUMPED, CLD_EXITED, CLD_KILLED};
        if st & 0x7f == 0 {
            (CLD_EXITED, (st >> 8) & 0xff)
        } else if st & 0x80 != 0 {
            (CLD_DUMPED, st & 0x7f)
        } else {
            (CLD_KILLED, st & 0x7f)
        }
    }
}
