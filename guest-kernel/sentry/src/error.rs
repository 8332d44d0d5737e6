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
}

/// Result of a syscall handler: the non-negative return value or an error.
pub type SysResult = Result<u64, SysError>;
