//! lopen, read, write, fsync, and reopening a node for I/O.

use std::os::fd::{AsFd, OwnedFd};

use p9::{open_flags as f, Rfsync, Rlopen, Rwrite, Tfsync, Tlopen, Tread, Twrite};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::fid::{Node, OpenFile};
use crate::server::Server;

/// The open flags the server honours, from a `Tlopen`/`Tlcreate` request:
/// the access mode plus `APPEND`, `DSYNC`, `SYNC`, `DIRECT`, `NOATIME` and
/// `NONBLOCK`. `TRUNC` is returned apart (applied after the inode check);
/// `CREAT`/`EXCL` belong to `Tlcreate`; `NOFOLLOW`, `CLOEXEC` and `NOCTTY`
/// are always added; anything else is ignored.
pub(crate) struct OpenRequest {
    pub flags: OFlags,
    pub readable: bool,
    pub writable: bool,
    pub truncate: bool,
}

impl OpenRequest {
    pub(crate) fn parse(p9flags: u32) -> Result<Self, Errno> {
        let (mut flags, readable, writable) = match p9flags & f::ACCMODE {
            f::RDONLY => (OFlags::RDONLY, true, false),
            f::WRONLY => (OFlags::WRONLY, false, true),
            f::RDWR => (OFlags::RDWR, true, true),
            _ => return Err(Errno::INVAL),
        };
        for (bit, flag) in [
            (f::APPEND, OFlags::APPEND),
            (f::DSYNC, OFlags::DSYNC),
            (f::SYNC, OFlags::SYNC),
            (f::DIRECT, OFlags::DIRECT),
            (f::NOATIME, OFlags::NOATIME),
            (f::NONBLOCK, OFlags::NONBLOCK),
        ] {
            if p9flags & bit != 0 {
                flags |= flag;
            }
        }
        Ok(Self { flags, readable, writable, truncate: p9flags & f::TRUNC != 0 })
    }
}

impl Server {
    /// Opens `node` for I/O without resolving anything outside it:
    /// * a directory is reopened as `"."` relative to its own `O_PATH` fd;
    /// * a regular file is reopened by name from its parent directory's fd
    ///   with `O_NOFOLLOW` (and `O_NONBLOCK`, so a fifo swapped in under the
    ///   name cannot block the server), then must be the same inode as the
    ///   node (`ESTALE` otherwise: the name was replaced since the walk);
    /// * a symlink is `ELOOP`; device nodes, fifos and sockets are never
    ///   opened by the gofer (`EPERM`).
    pub(crate) fn open_node(&self, node: &Node, flags: OFlags) -> Result<OwnedFd, Errno> {
        let base = OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NOFOLLOW;
        match node.file_type {
            FileType::Directory => {
                if flags.intersects(OFlags::WRONLY | OFlags::RDWR) {
                    return Err(Errno::ISDIR);
                }
                rustix::fs::openat(node.fd.as_fd(), ".", flags | base | OFlags::DIRECTORY, Mode::empty())
            }
            FileType::RegularFile => {
                let loc = node.loc().ok_or(Errno::STALE)?;
                let fd = rustix::fs::openat(
                    loc.parent.fd.as_fd(),
                    loc.name.as_slice(),
                    flags | base | OFlags::NONBLOCK,
                    Mode::empty(),
                )?;
                if !node.same_inode(&rustix::fs::fstat(&fd)?) {
                    return Err(Errno::STALE);
                }
                if !flags.contains(OFlags::NONBLOCK) {
                    rustix::fs::fcntl_setfl(&fd, rustix::fs::fcntl_getfl(&fd)? - OFlags::NONBLOCK)?;
                }
                Ok(fd)
            }
            FileType::Symlink => Err(Errno::LOOP),
            _ => Err(Errno::PERM),
        }
    }

    pub(crate) fn lopen(&mut self, t: &Tlopen) -> Result<Rlopen, Errno> {
        let req = OpenRequest::parse(t.flags)?;
        if req.writable || req.truncate {
            self.check_writable()?;
        }
        let fid = self.fid(t.fid)?;
        if fid.open.is_some() {
            return Err(Errno::INVAL);
        }
        let node = std::sync::Arc::clone(&fid.node);
        let fd = self.open_node(&node, req.flags)?;
        if req.truncate && req.writable && node.file_type == FileType::RegularFile {
            rustix::fs::ftruncate(&fd, 0)?;
        }
        let qid = node.qid;
        if let Some(fid) = self.fids.get_mut(&t.fid) {
            fid.open = Some(OpenFile { fd, readable: req.readable, writable: req.writable });
        }
        Ok(Rlopen { qid, iounit: 0 })
    }

    /// Reads at most `count`, `msize - IOHDRSZ` and `buf.len()` bytes into
    /// `buf` (the reply buffer, after the Rread header).
    pub(crate) fn read(&mut self, t: &Tread, buf: &mut [u8]) -> Result<usize, Errno> {
        let open = self.fid(t.fid)?.open_file()?;
        if !open.readable {
            return Err(Errno::BADF);
        }
        let max = usize::try_from(t.count.min(self.msize.saturating_sub(p9::IOHDRSZ))).map_err(|_| Errno::INVAL)?;
        let buf = buf.get_mut(..max.min(buf.len())).ok_or(Errno::INVAL)?;
        rustix::io::pread(&open.fd, buf, t.offset)
    }

    pub(crate) fn write(&mut self, t: &Twrite<'_>) -> Result<Rwrite, Errno> {
        self.check_writable()?;
        let open = self.fid(t.fid)?.open_file()?;
        if !open.writable {
            return Err(Errno::BADF);
        }
        let n = rustix::io::pwrite(&open.fd, t.data, t.offset)?;
        Ok(Rwrite { count: u32::try_from(n).map_err(|_| Errno::OVERFLOW)? })
    }

    pub(crate) fn fsync(&mut self, t: &Tfsync) -> Result<Rfsync, Errno> {
        let open = self.fid(t.fid)?.open_file()?;
        if t.datasync != 0 {
            rustix::fs::fdatasync(&open.fd)?;
        } else {
            rustix::fs::fsync(&open.fd)?;
        }
        Ok(Rfsync {})
    }
}
