//! `ringfence gofer --fd N --root DIR [--readonly]` (internal, hidden): the
//! gofer process. The runtime re-executes itself with this command; it
//! confines itself to DIR and serves 9P on the inherited socket N until the
//! other end closes.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use gofer::GoferOptions;

/// Arguments of `gofer`.
#[derive(Debug, clap::Args)]
pub struct GoferArgs {
    /// The connected unix socket to serve, inherited from the runtime.
    #[arg(long, value_name = "N")]
    pub fd: i32,
    /// The directory to serve as the sandbox's root.
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,
    /// Refuse every change to the tree.
    #[arg(long)]
    pub readonly: bool,
}

/// Runs `gofer`; returns the exit status.
pub fn run(args: GoferArgs) -> anyhow::Result<u8> {
    let conn = gofer::inherited_socket(args.fd).with_context(|| format!("gofer: --fd {}", args.fd))?;
    gofer::confine(&args.root, args.readonly).context("gofer")?;
    let opts = GoferOptions { readonly: args.readonly, ..GoferOptions::default() };
    gofer::serve(conn, Path::new("/"), opts).context("gofer")?;
    Ok(0)
}
