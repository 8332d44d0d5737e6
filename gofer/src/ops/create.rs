//! lcreate, mkdir, symlink, mknod: created with `*at()` in the parent's
//! `O_PATH` fd under a validated name, then looked up again `O_NOFOLLOW`.

use std::os::fd::AsFd;
use std::sync::Arc;

use p9::{Rlcreate, Rmkdir, Rmknod, Rsymlink, Tlcreate, Tmkdir, Tmknod, Tsymlink};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::fid::{validate_name, Node, OpenFile};
use crate::ops::io::OpenRequest;
use crate::server::Server;
use crate::sys;

const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFIFO: u32 = 0o010_000;

impl Server {
    /// Owner first (chown clears set-id bits), then the exact mode the
    /// client asked for if the umask took bits away.
    fn finish_create(&self, node: &Node, mode: u32, uid: u32, gid: u32) -> Result<(), Errno> {
        self.chown_new(node, uid, gid)?;
        let mode = mode & 0o7777;
        if node.fstat()?.st_mode & 0o7777 != mode {
            sys::fchmod_empty_path(node.fd.as_fd(), mode)?;
        }
        Ok(())
    }

    /// Creates and opens a regular file; `fid` (the directory) becomes the
    /// new open file. Always `O_EXCL`: the client creates only names it
    /// found missing, and an existing name is never opened by this path.
    pub(crate) fn lcreate(&mut self, t: &Tlcreate<'_>) -> Result<Rlcreate, Errno> {
        self.check_writable()?;
        let dir = self.dir_node(t.fid)?;
        let uid = self.fid(t.fid)?.uid;
        if self.fid(t.fid)?.open.is_some() {
            return Err(Errno::INVAL);
        }
        let name = validate_name(t.name)?;
        let req = OpenRequest::parse(t.flags)?;
        let flags = req.flags | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY;
        let fd = rustix::fs::openat(dir.fd.as_fd(), name, flags, Mode::from_raw_mode(t.mode & 0o7777))?;
        let node = self.lookup(&dir, name)?;
        if !node.same_inode(&rustix::fs::fstat(&fd)?) {
            return Err(Errno::STALE);
        }
        self.finish_create(&node, t.mode, uid, t.gid)?;
        let qid = node.qid;
        if let Some(fid) = self.fids.get_mut(&t.fid) {
            fid.node = node;
            fid.open = Some(OpenFile { fd, readable: req.readable, writable: req.writable });
        }
        Ok(Rlcreate { qid, iounit: 0 })
    }

    pub(crate) fn mkdir(&mut self, t: &Tmkdir<'_>) -> Result<Rmkdir, Errno> {
        self.check_writable()?;
        let dir = self.dir_node(t.dfid)?;
        let uid = self.fid(t.dfid)?.uid;
        let name = validate_name(t.name)?;
        rustix::fs::mkdirat(dir.fd.as_fd(), name, Mode::from_raw_mode(t.mode & 0o7777))?;
        let node = self.lookup(&dir, name)?;
        self.finish_create(&node, t.mode, uid, t.gid)?;
        Ok(Rmkdir { qid: node.qid })
    }

    /// The target is stored as given (it may point anywhere): the server
    /// never follows a symlink, the client resolves it in its own namespace.
    pub(crate) fn symlink(&mut self, t: &Tsymlink<'_>) -> Result<Rsymlink, Errno> {
        self.check_writable()?;
        let dir = self.dir_node(t.fid)?;
        let uid = self.fid(t.fid)?.uid;
        let name = validate_name(t.name)?;
        if t.symtgt.is_empty() {
            return Err(Errno::NOENT);
        }
        rustix::fs::symlinkat(t.symtgt, dir.fd.as_fd(), name)?;
        let node = self.lookup(&dir, name)?;
        self.chown_new(&node, uid, t.gid)?;
        Ok(Rsymlink { qid: node.qid })
    }

    /// Regular files and fifos only: device nodes would give the guest a
    /// door to host devices (`EPERM`), sockets belong to the sentry.
    pub(crate) fn mknod(&mut self, t: &Tmknod<'_>) -> Result<Rmknod, Errno> {
        self.check_writable()?;
        let dir = self.dir_node(t.dfid)?;
        let uid = self.fid(t.dfid)?.uid;
        let name = validate_name(t.name)?;
        let file_type = match t.mode & S_IFMT {
            0 | S_IFREG => FileType::RegularFile,
            S_IFIFO => FileType::Fifo,
            _ => return Err(Errno::PERM),
        };
        rustix::fs::mknodat(dir.fd.as_fd(), name, file_type, Mode::from_raw_mode(t.mode & 0o7777), 0)?;
        let node: Arc<Node> = self.lookup(&dir, name)?;
        self.finish_create(&node, t.mode, uid, t.gid)?;
        Ok(Rmknod { qid: node.qid })
    }
}
