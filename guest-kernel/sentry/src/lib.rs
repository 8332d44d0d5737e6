//! The sentry: ringfence's Linux-compatible kernel.
//!
//! It implements the Linux x86-64 system call ABI for unmodified programs and
//! knows nothing of KVM or ptrace: everything machine-specific comes through
//! the traits in [`platform`]. The kernel logic is `no_std` + `alloc`; unit
//! tests run on the host with `std`.
#![cfg_attr(not(test), no_std)]

extern crate alloc;

pub mod arch;
pub mod error;
pub mod fs;
pub mod kernel;
pub mod loader;
pub mod mm;
pub mod platform;
pub mod syscalls;
#[cfg(test)]
pub mod testutil;
pub mod time;
pub mod vfs;
