//! The OCI runtime: bundles (config.json), container state, and the
//! lifecycle commands runc users expect.

pub mod block;
pub mod boot;
pub mod commands;
pub mod config;
pub mod console;
pub mod control_cmds;
pub mod debug;
pub mod exec;
pub mod hooks;
pub mod linux;
pub mod mounts;
pub mod place;
pub mod preserve;
pub mod process;
pub mod rpc;
pub mod server;
pub mod spec;
pub mod start_wait;
pub mod state;
pub mod table;
