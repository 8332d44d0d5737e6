//! The sentry's syscall error type.

use abi::linux::errno;

/// A failed syscall: the errno returned to the application and a short
/// reason that appears in the syscall trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SysError {
    pub errno: i32,
    pub why: &'static str,
}

impl SysError {
    /// An error with a reason.
    pub const fn new(errno: i32, why: &'static str) -> Self {
        Self { errno, why }
    }

    pub const fn einval(why: &'static str) -> Self {
        Self::new(errno::EINVAL, why)
    }

    pub const fn efault(why: &'static str) -> Self {
        Self::new(errno::EFAULT, why)
    }

    pub const fn enomem(why: &'static str) -> Self {
        Self::new(errno::ENOMEM, why)
    }

    pub const fn ebadf(why: &'static str) -> Self {
        Self::new(errno::EBADF, why)
    }

    /// Not an error: the syscall must wait (see [`crate::kernel::sched`]);
    /// the task blocks and the syscall is retried when it is woken.
    pub const fn block() -> Self {
        Self::new(EBLOCK, "blocked")
    }

    /// Whether this is the [`SysError::block`] marker.
    pub const fn is_block(&self) -> bool {
        self.errno == EBLOCK
    }

    /// Not an error: a /proc lookup needs the kernel's state, which the
    /// dispatcher then captures (see `fs::proc`) before running the
    /// syscall again.
    pub const fn needs_proc_view() -> Self {
        Self::new(EPROCVIEW, "needs the /proc view")
    }

    /// Not an error: the handler has set every register itself
    /// (rt_sigreturn), so the result must not be stored in rax.
    pub const fn regs_set() -> Self {
        Self::new(EREGS, "registers restored")
    }
}

/// Internal marker errnos, never seen by applications (Linux's are < 4096).
pub const EBLOCK: i32 = 0x10_0001;
pub const EREGS: i32 = 0x10_0002;
pub const EPROCVIEW: i32 = 0x10_0003;

/// Result of a syscall handler: the non-negative return value or an error.
pub type SysResult = Result<u64, SysError>;
