//! The program `ringfence do` runs.

use std::path::PathBuf;

/// A program for the sandbox's init.
#[derive(Debug, Clone)]
pub struct Program {
    /// PROGRAM as given (`AT_EXECFN`), resolved by the sentry in the root.
    pub path: PathBuf,
    /// The ELF file to load as the boot module, or empty: the sentry then
    /// reads `path` through the gofer (what `ringfence do` does, so that
    /// this process never opens container files).
    pub bytes: Vec<u8>,
}
