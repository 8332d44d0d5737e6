//! The contract between the VMM (host) and the guest image (sentry in the VM).
//!
//! Every number both sides must agree on is written once, here: the guest
//! physical and virtual memory layout, the boot information block, the
//! hostcall table and its request block, and the Linux ABI numbers the
//! sentry implements. `no_std`, no allocation.
#![no_std]

pub mod boot;
pub mod container;
pub mod control;
pub mod hostcall;
pub mod layout;
pub mod linux;
