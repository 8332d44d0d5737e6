//! ringfence's gofer: the 9P2000.L server that gives the sandbox its files.
//!
//! The gofer is the only process that opens container files on the host.
//! It serves one directory tree (the rootfs) to one client over a unix
//! socket, and is written to hold against a hostile client:
//!
//! * Fids hold `O_PATH` descriptors, never path strings. A walk opens one
//!   validated component at a time with `openat(dir, name,
//!   O_PATH|O_NOFOLLOW)`: names are non-empty, contain no `/`, and are not
//!   `.`; `..` never reaches the kernel, it moves to the parent node the
//!   server remembered (the root's is itself), so it cannot leave the tree.
//! * Symlinks are returned as symlinks (`Treadlink`) and never followed;
//!   a walk through one fails with `ENOTDIR`.
//! * Files are opened for I/O from their parent's fd with `O_NOFOLLOW` and
//!   checked to be the walked inode (directories as `"."` of their own fd);
//!   no `/proc/self/fd` magic links. Attributes change through the node's
//!   own fd with `AT_EMPTY_PATH` (`fchmodat2` for the mode).
//! * Only regular files, directories, symlinks and fifos are created.
//!   Device nodes in the tree are never opened.
//! * With `readonly`, every request that would change the tree fails with
//!   `EROFS`.
//! * Every handler returns `Result<_, Errno>`; an error becomes `Rlerror`
//!   and never ends the connection. A malformed request body gets
//!   `Rlerror(EINVAL)` (`EOPNOTSUPP` for an unknown type) under its tag; a
//!   malformed frame header closes the connection.
//!
//! Permission checks are the client's: the sentry is the kernel of the
//! container and enforces its credentials; the gofer (root in the runtime)
//! confines the client to the tree and gives new files to the requesting
//! user. Requests are served one at a time per connection.
//!
//! The process that serves is confined first ([`confine`]): its own mount
//! namespace whose root is the served tree, few capabilities, and a seccomp
//! filter ([`seccomp`]). Not yet: xattrs.

pub mod confine;
mod fid;
mod inbox;
mod ops;
pub mod seccomp;
mod server;
#[allow(unsafe_code)]
mod sys;
pub mod trees;

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

pub use confine::{confine, confine_with_trees, ConfineError};
pub use p9::FrameError;
pub use rustix::io::Errno;
pub use server::{Server, MIN_MSIZE};
pub use sys::inherited_socket;
pub use trees::{OpenTree, TreeSpec};

/// The msize offered by default: 1 MiB of I/O payload plus headers.
pub const DEFAULT_MAX_MSIZE: u32 = (1 << 20) + 4096;

/// Fids one connection may hold (EMFILE beyond): the sentry keeps one per
/// cached dentry and open file, far below this.
pub const MAX_FIDS: usize = 1 << 16;

/// How one served tree is exposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoferOptions {
    /// Refuse every change to the tree with `EROFS`.
    pub readonly: bool,
    /// The largest msize agreed to in `Tversion`; also the size of the two
    /// per-connection buffers.
    pub max_msize: u32,
    /// Pass the host fd of each file opened read-only along with its
    /// `Rlopen` (`SCM_RIGHTS`, see `ops::donate`): for the sandbox, which
    /// reads it without a round trip. Off for any other client.
    pub donate_fds: bool,
}

impl Default for GoferOptions {
    fn default() -> Self {
        Self { readonly: false, max_msize: DEFAULT_MAX_MSIZE, donate_fds: false }
    }
}

/// Why the gofer stopped serving a connection.
#[derive(Debug, thiserror::Error)]
pub enum GoferError {
    #[error("cannot open the served root {path}")]
    OpenRoot {
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("9P connection failed")]
    Io(#[source] std::io::Error),
    #[error("client sent a malformed 9P frame")]
    Frame(#[source] FrameError),
}

/// Serves `root` on `conn` until the client hangs up: the entry point of
/// `ringfence gofer`.
pub fn serve(mut conn: UnixStream, root: &Path, opts: GoferOptions) -> Result<(), GoferError> {
    Server::new(root, opts)?.serve(&mut conn)
}

/// [`serve`], with extra trees attached by name (see [`trees`]).
pub fn serve_with_trees(
    mut conn: UnixStream,
    root: &Path,
    opts: GoferOptions,
    trees: Vec<OpenTree>,
) -> Result<(), GoferError> {
    let mut server = Server::new(root, opts)?;
    for t in trees {
        server.add_tree(t)?;
    }
    server.serve(&mut conn)
}
