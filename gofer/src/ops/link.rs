//! readlink, link, rename, renameat, unlinkat, remove.

use std::os::fd::AsFd;
use std::sync::Arc;

use p9::{
    Rlink, Rremove, Rrename, Rrenameat, Runlinkat, Tlink, Treadlink, Tremove, Trename, Trenameat, Tunlinkat,
    AT_REMOVEDIR,
};
use rustix::fs::{AtFlags, FileType};
use rustix::io::Errno;

use crate::fid::{validate_name, Loc, Node};
use crate::server::Server;

impl Server {
    /// The target as stored, never resolved.
    pub(crate) fn readlink(&mut self, t: &Treadlink) -> Result<Vec<u8>, Errno> {
        let node = self.node(t.fid)?;
        if node.file_type != FileType::Symlink {
            return Err(Errno::INVAL);
        }
        Ok(rustix::fs::readlinkat(node.fd.as_fd(), "", Vec::new())?.into_bytes())
    }

    /// Hard link to the fid's inode itself (`AT_EMPTY_PATH`, needs
    /// CAP_DAC_READ_SEARCH); without the capability, by its name in its
    /// parent, checked to have linked the same inode. The confined gofer
    /// never has it (it opens `open_by_handle_at`, a known escape), even
    /// as root: the kernel says ENOENT then, whoever we are.
    pub(crate) fn link(&mut self, t: &Tlink<'_>) -> Result<Rlink, Errno> {
        self.check_writable()?;
        let dir = self.dir_node(t.dfid)?;
        let node = self.node(t.fid)?;
        let name = validate_name(t.name)?;
        if node.is_dir() {
            return Err(Errno::PERM);
        }
        match rustix::fs::linkat(node.fd.as_fd(), "", dir.fd.as_fd(), name, AtFlags::EMPTY_PATH) {
            Err(Errno::NOENT) => {
                let loc = node.loc().ok_or(Errno::STALE)?;
                rustix::fs::linkat(loc.parent.fd.as_fd(), loc.name.as_slice(), dir.fd.as_fd(), name, AtFlags::empty())?;
                let linked = self.lookup(&dir, name)?;
                if !linked.same_node(&node) {
                    rustix::fs::unlinkat(dir.fd.as_fd(), name, AtFlags::empty())?;
                    return Err(Errno::STALE);
                }
            }
            other => other?,
        }
        Ok(Rlink {})
    }

    /// Renames the fid's file into `dfid` as `name`.
    pub(crate) fn rename(&mut self, t: &Trename<'_>) -> Result<Rrename, Errno> {
        self.check_writable()?;
        let node = self.node(t.fid)?;
        let loc = node.loc().ok_or(Errno::BUSY)?;
        let newdir = self.dir_node(t.dfid)?;
        let name = validate_name(t.name)?;
        rustix::fs::renameat(loc.parent.fd.as_fd(), loc.name.as_slice(), newdir.fd.as_fd(), name)?;
        self.moved(&loc.parent, &loc.name, &newdir, name);
        Ok(Rrename {})
    }

    pub(crate) fn renameat(&mut self, t: &Trenameat<'_>) -> Result<Rrenameat, Errno> {
        self.check_writable()?;
        let olddir = self.dir_node(t.olddirfid)?;
        let newdir = self.dir_node(t.newdirfid)?;
        let oldname = validate_name(t.oldname)?;
        let newname = validate_name(t.newname)?;
        rustix::fs::renameat(olddir.fd.as_fd(), oldname, newdir.fd.as_fd(), newname)?;
        self.moved(&olddir, oldname, &newdir, newname);
        Ok(Rrenameat {})
    }

    /// Points the nodes of fids that were found as `old_dir/old_name` at
    /// their new location, so reopening and `..` keep working.
    fn moved(&self, old_dir: &Node, old_name: &[u8], new_dir: &Arc<Node>, new_name: &[u8]) {
        for fid in self.fids.values() {
            if let Some(loc) = fid.node.loc() {
                if loc.parent.same_node(old_dir) && loc.name == old_name {
                    fid.node.set_loc(Loc { parent: Arc::clone(new_dir), name: new_name.to_vec() });
                }
            }
        }
    }

    pub(crate) fn unlinkat(&mut self, t: &Tunlinkat<'_>) -> Result<Runlinkat, Errno> {
        self.check_writable()?;
        let dir = self.dir_node(t.dirfid)?;
        let name = validate_name(t.name)?;
        let flags = match t.flags {
            0 => AtFlags::empty(),
            AT_REMOVEDIR => AtFlags::REMOVEDIR,
            _ => return Err(Errno::INVAL),
        };
        rustix::fs::unlinkat(dir.fd.as_fd(), name, flags)?;
        Ok(Runlinkat {})
    }

    /// Removes the fid's file by its name in its parent, if that name still
    /// is this inode. The fid is clunked whether or not this succeeds.
    pub(crate) fn remove(&mut self, t: &Tremove) -> Result<Rremove, Errno> {
        let fid = self.fids.remove(&t.fid).ok_or(Errno::BADF)?;
        self.check_writable()?;
        let loc = fid.node.loc().ok_or(Errno::BUSY)?;
        let st = rustix::fs::statat(loc.parent.fd.as_fd(), loc.name.as_slice(), AtFlags::SYMLINK_NOFOLLOW)?;
        if !fid.node.same_inode(&st) {
            return Err(Errno::STALE);
        }
        let flags = if fid.node.is_dir() { AtFlags::REMOVEDIR } else { AtFlags::empty() };
        rustix::fs::unlinkat(loc.parent.fd.as_fd(), loc.name.as_slice(), flags)?;
        Ok(Rremove {})
    }
}
