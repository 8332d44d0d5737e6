//! The OCI runtime: bundles (config.json), container state, and the
//! lifecycle commands runc users expect.

pub mod block;
pub mod commands;
pub mod config;
pub mod console;
pub mod hooks;
pub mod linux;
pub mod mounts;
pub mod place;
pub mod process;
pub mod spec;
pub mod state;
