//! Session and navigation: version, auth, attach, flush, walk, clunk.

use std::sync::Arc;

use p9::{Qid, Rattach, Rauth, Rclunk, Rflush, Rwalk, Tattach, Tauth, Tclunk, Tflush, Tversion, Twalk};
use rustix::io::Errno;

use crate::fid::{validate_name, Fid};
use crate::server::{Server, MIN_MSIZE};
use crate::MAX_FIDS;

impl Server {
    /// Negotiates msize (at most `max_msize`) and the version; resets the
    /// session (all fids are clunked). An unknown version is answered with
    /// "unknown", as the protocol asks. An msize below `MIN_MSIZE` is
    /// raised to it; a client that cannot take that fails on its own.
    pub(crate) fn version(&mut self, t: &Tversion<'_>) -> (u32, &'static [u8]) {
        self.fids.clear();
        self.msize = t.msize.clamp(MIN_MSIZE, self.opts.max_msize);
        let version =
            if t.version.starts_with(p9::VERSION_9P2000L) { p9::VERSION_9P2000L } else { p9::VERSION_UNKNOWN };
        (self.msize, version)
    }

    /// No authentication: the transport is a private socketpair.
    pub(crate) fn auth(&mut self, _t: &Tauth<'_>) -> Result<Rauth, Errno> {
        Err(Errno::OPNOTSUPP)
    }

    /// Binds `fid` to the root (`aname` empty or `/`) or to the extra tree
    /// of that name (ENOENT for none). `afid` must be NOFID.
    pub(crate) fn attach(&mut self, t: &Tattach<'_>) -> Result<Rattach, Errno> {
        if t.afid != p9::NOFID {
            return Err(Errno::INVAL);
        }
        if self.fids.contains_key(&t.fid) {
            return Err(Errno::BADF);
        }
        self.check_fid_room(t.fid)?;
        let uid = if t.n_uname == u32::MAX { 0 } else { t.n_uname };
        let root = match t.aname {
            b"" | b"/" => Arc::clone(&self.root),
            name => Arc::clone(self.trees.get(name).ok_or(Errno::NOENT)?),
        };
        let qid = root.qid;
        self.fids.insert(t.fid, Fid::new(root, uid));
        Ok(Rattach { qid })
    }

    /// Requests are served one at a time, so the flushed one has already
    /// been answered.
    pub(crate) fn flush(&mut self, _t: &Tflush) -> Result<Rflush, Errno> {
        Ok(Rflush {})
    }

    /// Walks component by component from `fid`'s node: `..` goes to the
    /// remembered parent (the root's is itself); any other name must be a
    /// valid single component and is opened `O_PATH|O_NOFOLLOW` in the
    /// current directory, so a symlink is returned as a symlink qid and a
    /// further component under it fails with `ENOTDIR`. A failure after the
    /// first component returns the qids walked so far and binds nothing.
    pub(crate) fn walk(&mut self, t: &Twalk<'_>) -> Result<Rwalk, Errno> {
        let from = self.fid(t.fid)?;
        let uid = from.uid;
        let mut node = Arc::clone(&from.node);
        if t.newfid != t.fid && self.fids.contains_key(&t.newfid) {
            return Err(Errno::BADF);
        }
        let mut wqids: Vec<Qid> = Vec::with_capacity(t.wnames.len());
        for name in &t.wnames {
            let next = if *name == b".." {
                if node.is_dir() {
                    // A node without a parent is the top of its tree (the
                    // root or a bind mount's): `..` stays there.
                    Ok(node.loc().map_or_else(|| Arc::clone(&node), |loc| loc.parent))
                } else {
                    Err(Errno::NOTDIR)
                }
            } else {
                validate_name(name).and_then(|name| self.lookup(&node, name))
            };
            let next = match next {
                Ok(n) => n,
                Err(e) if wqids.is_empty() => return Err(e),
                Err(_) => return Ok(Rwalk { wqids }),
            };
            wqids.push(next.qid);
            node = next;
        }
        self.check_fid_room(t.newfid)?;
        self.fids.insert(t.newfid, Fid::new(node, uid));
        Ok(Rwalk { wqids })
    }

    /// A client may hold at most [`MAX_FIDS`] fids: each costs the gofer
    /// memory (and often a file descriptor), and the client is hostile.
    fn check_fid_room(&self, fid: u32) -> Result<(), Errno> {
        if self.fids.len() >= MAX_FIDS && !self.fids.contains_key(&fid) {
            return Err(Errno::MFILE);
        }
        Ok(())
    }

    pub(crate) fn clunk(&mut self, t: &Tclunk) -> Result<Rclunk, Errno> {
        self.fids.remove(&t.fid).ok_or(Errno::BADF)?;
        Ok(Rclunk {})
    }
}
