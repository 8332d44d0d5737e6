//! The ringfence runtime library: what the `ringfence` commands do, behind
//! the thin clap layer in `src/cli/`.

pub mod cgroups;
#[allow(unsafe_code)]
pub mod forked;
pub mod gofer;
pub mod guest;
pub mod oci;
pub mod program;
pub mod sandbox;
pub mod seccomp;
pub mod size;
#[allow(unsafe_code)]
mod sys;
