//! The OCI runtime: bundles (config.json), container state, and the
//! lifecycle commands runc users expect.

pub mod commands;
pub mod config;
pub mod control_cmds;
pub mod exec;
pub mod rpc;
pub mod server;
pub mod spec;
pub mod state;
