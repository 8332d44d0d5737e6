//! The OCI runtime: bundles (config.json), container state, and the
//! lifecycle commands runc users expect.

pub mod commands;
pub mod config;
pub mod console;
pub mod spec;
pub mod state;
