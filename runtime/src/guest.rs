//! The guest image (the sentry linked as a kernel), built by `build.rs` and
//! carried inside the binary.

/// The guest image ELF.
pub static GUEST_IMAGE: &[u8] = include_bytes!(env!("RINGFENCE_GUEST_IMAGE"));
