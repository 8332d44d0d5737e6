//! The connection loop and the one dispatch match.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

use p9::{FrameError, Rlerror, Rmessage, Tmessage, RREAD_HEADER_LEN};
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;
use tracing::debug;

use crate::fid::{Fid, Loc, Node};
use crate::{GoferError, GoferOptions};

/// Smallest msize the server agrees to (room for any non-I/O reply).
pub const MIN_MSIZE: u32 = 4096;

/// A 9P2000.L server for one client connection, serving one directory tree.
pub struct Server {
    pub(crate) root: Arc<Node>,
    pub(crate) opts: GoferOptions,
    /// Negotiated by `Tversion`; `opts.max_msize` until then.
    pub(crate) msize: u32,
    pub(crate) fids: HashMap<u32, Fid>,
    /// Devices seen, in order; a node's qid path mixes in its index here so
    /// that inode numbers of different filesystems do not collide.
    devices: Vec<u64>,
    /// New files are chowned to the requesting user only when we can.
    pub(crate) privileged: bool,
    /// Made on the first Tread [`Server::serve`] splices.
    pub(crate) splice: Option<crate::ops::SplicePipe>,
    /// Trees attached by name besides the root (bind mounts).
    pub(crate) trees: HashMap<Vec<u8>, Arc<Node>>,
}

impl Server {
    /// Opens `root` (the only path the server ever resolves by name; it
    /// comes from the runtime, not the client).
    pub fn new(root: &Path, opts: GoferOptions) -> Result<Self, GoferError> {
        let fd = rustix::fs::open(root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|source| GoferError::OpenRoot { path: root.to_owned(), source })?;
        let st = rustix::fs::fstat(&fd).map_err(|source| GoferError::OpenRoot { path: root.to_owned(), source })?;
        let root = Arc::new(Node::new(fd, &st, st.st_ino, None));
        let msize = opts.max_msize.max(MIN_MSIZE);
        Ok(Self {
            root,
            opts: GoferOptions { max_msize: msize, ..opts },
            msize,
            fids: HashMap::new(),
            devices: vec![st.st_dev],
            privileged: rustix::process::geteuid().is_root(),
            splice: None,
            trees: HashMap::new(),
        })
    }

    /// Serves `tree` to attaches that name it. Its top node has no parent,
    /// so walks stay inside it; read-only trees are mounted so (the kernel
    /// answers EROFS), see [`crate::trees`].
    pub fn add_tree(&mut self, tree: crate::OpenTree) -> Result<(), GoferError> {
        let path = || std::path::PathBuf::from(&tree.name);
        let st = rustix::fs::fstat(&tree.fd).map_err(|source| GoferError::OpenRoot { path: path(), source })?;
        let qid_path = self.qid_path(st.st_dev, st.st_ino);
        let node = Arc::new(Node::new(tree.fd, &st, qid_path, None));
        self.trees.insert(tree.name.into_bytes(), node);
        Ok(())
    }

    /// Serves one connection until the client closes it. Returns an error
    /// only when the connection cannot continue: I/O failure or a frame
    /// whose header is malformed (no tag to answer).
    pub fn serve<C: Read + Write + AsFd>(&mut self, conn: &mut C) -> Result<(), GoferError> {
        let max =
            usize::try_from(self.opts.max_msize).map_err(|_| GoferError::Frame(FrameError::TooShort { len: 0 }))?;
        let mut inbox = crate::inbox::Inbox::new(max);
        let mut out = vec![0u8; max];
        while let Some(frame) = inbox.next(conn, self.msize)? {
            if frame.get(4) == Some(&p9::TREAD) && self.read_spliced(frame, conn).map_err(GoferError::Io)? {
                continue;
            }
            let n = self.handle(frame, &mut out).map_err(GoferError::Frame)?;
            self.send_reply(frame, &out[..n], conn).map_err(GoferError::Io)?;
        }
        Ok(())
    }

    /// Handles one complete frame, writing the reply into `out` (at least
    /// `max_msize` bytes); returns the reply length. `Err` only for a frame
    /// whose header is malformed.
    pub fn handle(&mut self, frame: &[u8], out: &mut [u8]) -> Result<usize, FrameError> {
        let (tag, msg) = p9::decode_t(frame)?;
        let msg = match msg {
            Ok(m) => m,
            Err(e) => {
                debug!(tag, error = %e, "malformed 9P request");
                return Ok(encode_or_eio(tag, &Rlerror { ecode: e.errno() }.into(), out));
            }
        };
        Ok(self.dispatch(tag, msg, out))
    }

    fn dispatch(&mut self, tag: u16, msg: Tmessage<'_>, out: &mut [u8]) -> usize {
        let op = msg.name();
        let reply: Result<Rmessage<'_>, Errno> = match msg {
            Tmessage::Version(t) => {
                let (msize, version) = self.version(&t);
                return encode_or_eio(tag, &p9::Rversion { msize, version }.into(), out);
            }
            Tmessage::Auth(t) => self.auth(&t).map(Into::into),
            Tmessage::Attach(t) => self.attach(&t).map(Into::into),
            Tmessage::Flush(t) => self.flush(&t).map(Into::into),
            Tmessage::Walk(t) => self.walk(&t).map(Into::into),
            Tmessage::Clunk(t) => self.clunk(&t).map(Into::into),
            Tmessage::Remove(t) => self.remove(&t).map(Into::into),
            Tmessage::Statfs(t) => self.statfs(&t).map(Into::into),
            Tmessage::Getattr(t) => self.getattr(&t).map(Into::into),
            Tmessage::Setattr(t) => self.setattr(&t).map(Into::into),
            Tmessage::Lopen(t) => self.lopen(&t).map(Into::into),
            Tmessage::Lcreate(t) => self.lcreate(&t).map(Into::into),
            Tmessage::Read(t) => {
                // The data goes straight into the reply buffer.
                let data = out.get_mut(RREAD_HEADER_LEN..).unwrap_or_default();
                match self.read(&t, data).and_then(|n| u32::try_from(n).map_err(|_| Errno::OVERFLOW)) {
                    Ok(n) => return p9::encode_rread_header(tag, n, out).unwrap_or(0),
                    Err(e) => Err(e),
                }
            }
            Tmessage::Write(t) => self.write(&t).map(Into::into),
            Tmessage::Fsync(t) => self.fsync(&t).map(Into::into),
            Tmessage::Readdir(t) => {
                let data = out.get_mut(RREAD_HEADER_LEN..).unwrap_or_default();
                match self.readdir(&t, data).and_then(|n| u32::try_from(n).map_err(|_| Errno::OVERFLOW)) {
                    Ok(n) => return p9::encode_rreaddir_header(tag, n, out).unwrap_or(0),
                    Err(e) => Err(e),
                }
            }
            Tmessage::Readlink(t) => match self.readlink(&t) {
                Ok(target) => return encode_or_eio(tag, &p9::Rreadlink { target: &target }.into(), out),
                Err(e) => Err(e),
            },
            Tmessage::Mkdir(t) => self.mkdir(&t).map(Into::into),
            Tmessage::Symlink(t) => self.symlink(&t).map(Into::into),
            Tmessage::Mknod(t) => self.mknod(&t).map(Into::into),
            Tmessage::Link(t) => self.link(&t).map(Into::into),
            Tmessage::Rename(t) => self.rename(&t).map(Into::into),
            Tmessage::Renameat(t) => self.renameat(&t).map(Into::into),
            Tmessage::Unlinkat(t) => self.unlinkat(&t).map(Into::into),
            Tmessage::Xattrwalk(t) => self.xattrwalk(&t).map(Into::into),
            Tmessage::Xattrcreate(t) => self.xattrcreate(&t).map(Into::into),
            Tmessage::Lock(t) => self.lock(&t).map(Into::into),
            Tmessage::Getlock(t) => match self.getlock(&t) {
                Ok(r) => return encode_or_eio(tag, &r.into(), out),
                Err(e) => Err(e),
            },
        };
        let reply = reply.unwrap_or_else(|errno| {
            debug!(tag, op, errno = errno.raw_os_error(), "9P request failed");
            Rlerror { ecode: errno.raw_os_error().unsigned_abs() }.into()
        });
        encode_or_eio(tag, &reply, out)
    }

    // ---- helpers shared by the ops ----

    pub(crate) fn fid(&self, fid: u32) -> Result<&Fid, Errno> {
        self.fids.get(&fid).ok_or(Errno::BADF)
    }

    pub(crate) fn node(&self, fid: u32) -> Result<Arc<Node>, Errno> {
        Ok(Arc::clone(&self.fid(fid)?.node))
    }

    /// Fails with `EROFS` when serving read-only.
    pub(crate) fn check_writable(&self) -> Result<(), Errno> {
        if self.opts.readonly {
            Err(Errno::ROFS)
        } else {
            Ok(())
        }
    }

    /// A directory node for `fid`, or `ENOTDIR`.
    pub(crate) fn dir_node(&self, fid: u32) -> Result<Arc<Node>, Errno> {
        let node = self.node(fid)?;
        if node.is_dir() {
            Ok(node)
        } else {
            Err(Errno::NOTDIR)
        }
    }

    pub(crate) fn qid_path(&mut self, dev: u64, ino: u64) -> u64 {
        let index = match self.devices.iter().position(|d| *d == dev) {
            Some(i) => i,
            None => {
                self.devices.push(dev);
                self.devices.len() - 1
            }
        };
        ino ^ (u64::try_from(index).unwrap_or(0) << 56)
    }

    /// Opens `name` in `dir` as a new node: one component, `O_PATH` and
    /// `O_NOFOLLOW`, so a symlink is opened as itself and never followed.
    pub(crate) fn lookup(&mut self, dir: &Arc<Node>, name: &[u8]) -> Result<Arc<Node>, Errno> {
        if !dir.is_dir() {
            return Err(Errno::NOTDIR);
        }
        let fd =
            rustix::fs::openat(dir.fd.as_fd(), name, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
        self.node_from_fd(fd, Loc { parent: Arc::clone(dir), name: name.to_vec() })
    }

    pub(crate) fn node_from_fd(&mut self, fd: OwnedFd, loc: Loc) -> Result<Arc<Node>, Errno> {
        let st = rustix::fs::fstat(&fd)?;
        let path = self.qid_path(st.st_dev, st.st_ino);
        Ok(Arc::new(Node::new(fd, &st, path, Some(loc))))
    }

    /// Gives a file the server just created to the requesting user, when the
    /// server runs as root (an unprivileged gofer creates files as itself).
    pub(crate) fn chown_new(&self, node: &Node, uid: u32, gid: u32) -> Result<(), Errno> {
        if !self.privileged {
            return Ok(());
        }
        let uid = (uid != u32::MAX).then(|| rustix::fs::Uid::from_raw(uid));
        let gid = (gid != u32::MAX).then(|| rustix::fs::Gid::from_raw(gid));
        rustix::fs::chownat(node.fd.as_fd(), "", uid, gid, AtFlags::EMPTY_PATH)
    }
}

/// Encodes `reply`; if it does not fit (it always does for a buffer of
/// msize), answers `EIO` instead so the client is never left waiting.
fn encode_or_eio(tag: u16, reply: &Rmessage<'_>, out: &mut [u8]) -> usize {
    reply.encode(tag, out).unwrap_or_else(|_| {
        let eio = Rmessage::from(Rlerror { ecode: Errno::IO.raw_os_error().unsigned_abs() });
        eio.encode(tag, out).unwrap_or(0)
    })
}
