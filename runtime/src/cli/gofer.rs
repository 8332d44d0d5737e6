//! `ringfence gofer --fd N --root DIR [--readonly]` (internal, hidden): the
//! gofer process, for hand use and `gofer::Launch::Exec` (the runtime's
//! sandbox processes fork theirs without exec and run the same code, see
//! `gofer/fork.rs`). It confines itself to DIR and serves 9P on the
//! inherited socket N until the other end closes.

use std::path::PathBuf;

use anyhow::Context as _;

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
    /// Pass the host fd of each file opened read-only along with its Rlopen
    /// (the sandbox reads it without a gofer round trip).
    #[arg(long)]
    pub donate_fds: bool,
    /// An extra tree served to attaches naming it: `NAME:ro:PATH` or
    /// `NAME:rw:PATH` (the container's bind mounts).
    #[arg(long = "tree", value_name = "NAME:MODE:PATH", value_parser = parse_tree)]
    pub trees: Vec<gofer::TreeSpec>,
}

fn parse_tree(arg: &str) -> Result<gofer::TreeSpec, String> {
    gofer::TreeSpec::parse(arg).ok_or_else(|| format!("{arg:?} is not NAME:ro:PATH or NAME:rw:PATH"))
}

/// Runs `gofer`; returns the exit status.
pub fn run(args: GoferArgs) -> anyhow::Result<u8> {
    let conn = gofer::inherited_socket(args.fd).with_context(|| format!("gofer: --fd {}", args.fd))?;
    ringfence::gofer::confine_and_serve(conn, &args.root, args.readonly, args.donate_fds, &args.trees)
        .context("gofer")?;
    Ok(0)
}
