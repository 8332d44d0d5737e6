//! An overlay: a writable tmpfs over a read-only tree (the host's `/`
//! served by the gofer), so a container can write anywhere while nothing
//! reaches the host.
//!
//! Semantics follow Linux overlayfs with default options: a file is copied
//! up (data and attributes) to the upper layer on its first change; names
//! removed from the lower layer are hidden by per-directory whiteouts;
//! directory listings merge both layers; renaming a directory that exists
//! in the lower layer fails with EXDEV (overlayfs without redirect_dir),
//! which makes `mv` fall back to copy and delete. Inode numbers come from
//! the lower layer where a file exists there, so they survive a copy-up.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use crate::error::SysError;
use crate::platform::{PhysAddr, PhysMem};
use crate::vfs::{DirEntry, FileType, Inode, InodeRef, SetAttr, Stat, StatFs, Walked};
use abi::linux::errno;

/// Marks inode numbers of files that exist only in the upper layer.
const UPPER_INO: u64 = 1 << 62;
/// Bytes moved per request while copying a file up.
const COPY_CHUNK: usize = 1 << 20;

/// A node of the overlay.
pub struct Node {
    dev: u64,
    /// The directory this node was looked up in, and its name there (none for the root).
    parent: Option<(Weak<Node>, Vec<u8>)>,
    lower: Option<InodeRef>,
    upper: spin::Mutex<Option<InodeRef>>,
    /// Names hidden in this directory (whiteouts of lower entries).
    removed: spin::Mutex<BTreeSet<Vec<u8>>>,
    children: spin::Mutex<BTreeMap<Vec<u8>, Arc<Node>>>,
    me: Weak<Node>,
}

/// The overlay of `upper` (an empty writable directory) over `lower`.
pub fn new(lower: InodeRef, upper: InodeRef, dev: u64) -> InodeRef {
    Node::make(dev, None, Some(lower), Some(upper))
}

fn enoent() -> SysError {
    SysError::new(errno::ENOENT, "no such file or directory")
}

impl Node {
    fn make(
        dev: u64,
        parent: Option<(Weak<Node>, Vec<u8>)>,
        lower: Option<InodeRef>,
        upper: Option<InodeRef>,
    ) -> Arc<Node> {
        Arc::new_cyclic(|me| Node {
            dev,
            parent,
            lower,
            upper: spin::Mutex::new(upper),
            removed: spin::Mutex::new(BTreeSet::new()),
            children: spin::Mutex::new(BTreeMap::new()),
            me: me.clone(),
        })
    }

    fn upper(&self) -> Option<InodeRef> {
        self.upper.lock().clone()
    }

    /// The layer that answers reads: upper if copied up, else lower.
    fn top(&self) -> Result<InodeRef, SysError> {
        self.upper().or_else(|| self.lower.clone()).ok_or_else(enoent)
    }

    fn kind(&self) -> Result<Option<FileType>, SysError> {
        self.top()?.file_kind()
    }

    /// Makes sure this node exists in the upper layer (copying it and its
    /// ancestors up) and returns it there.
    fn copy_up(&self) -> Result<InodeRef, SysError> {
        if let Some(u) = self.upper() {
            return Ok(u);
        }
        let lower = self.lower.clone().ok_or_else(enoent)?;
        let (parent, name) =
            self.parent.as_ref().ok_or_else(|| SysError::new(errno::EIO, "overlay root has no upper"))?;
        let parent = parent.upgrade().ok_or_else(|| SysError::new(errno::ESTALE, "overlay parent is gone"))?;
        let dir = parent.copy_up()?;
        let st = lower.stat()?;
        let perm = st.mode & 0o7777;
        let up = match st.file_type() {
            Some(FileType::Directory) => dir.mkdir(name, perm)?,
            Some(FileType::Symlink) => dir.symlink(name, &lower.readlink()?)?,
            Some(FileType::Regular) => {
                let up = dir.create(name, FileType::Regular, perm, 0)?;
                let mut buf = alloc::vec![0u8; COPY_CHUNK.min(usize::try_from(st.size).unwrap_or(COPY_CHUNK)).max(1)];
                let mut off = 0u64;
                while off < st.size {
                    let n = lower.read_at(off, &mut buf)?;
                    if n == 0 {
                        break;
                    }
                    up.write_at(off, &buf[..n])?;
                    off += n as u64;
                }
                up
            }
            Some(k) => dir.create(name, k, perm, st.rdev)?,
            None => return Err(SysError::new(errno::EIO, "lower file of unknown type")),
        };
        up.setattr(&SetAttr {
            uid: Some(st.uid),
            gid: Some(st.gid),
            atime: Some(st.atime),
            mtime: Some(st.mtime),
            ..SetAttr::default()
        })?;
        *self.upper.lock() = Some(Arc::clone(&up));
        Ok(up)
    }

    fn child(&self, name: &[u8], lower: Option<InodeRef>, upper: Option<InodeRef>) -> Arc<Node> {
        let node = Node::make(self.dev, Some((self.me.clone(), name.to_vec())), lower, upper);
        self.children.lock().insert(name.to_vec(), Arc::clone(&node));
        node
    }

    fn lower_child(&self, name: &[u8]) -> Option<InodeRef> {
        if self.removed.lock().contains(name) {
            return None;
        }
        self.lower.as_ref().and_then(|l| l.lookup(name).ok())
    }

    /// Whether the lower layer of this directory has `name` (whiteout or not).
    fn lower_has(&self, name: &[u8]) -> bool {
        self.lower.as_ref().is_some_and(|l| l.lookup(name).is_ok())
    }

    fn is_empty_dir(node: &Node) -> Result<bool, SysError> {
        Ok(node.readdir()?.is_empty())
    }

    fn downcast(node: &InodeRef) -> Result<&Node, SysError> {
        node.as_any().downcast_ref::<Node>().ok_or_else(|| SysError::new(errno::EXDEV, "not on the same filesystem"))
    }
}

impl Inode for Node {
    fn stat(&self) -> Result<Stat, SysError> {
        let mut st = self.top()?.stat()?;
        st.ino = self.id().1;
        st.dev = self.dev;
        Ok(st)
    }

    fn lookup(&self, name: &[u8]) -> Result<InodeRef, SysError> {
        if let Some(n) = self.children.lock().get(name) {
            return Ok(Arc::clone(n) as InodeRef);
        }
        if self.kind()? != Some(FileType::Directory) {
            return Err(SysError::new(errno::ENOTDIR, "not a directory"));
        }
        let upper = self.upper().and_then(|u| u.lookup(name).ok());
        let lower = self.lower_child(name);
        // A file in the upper layer hides a lower one of the same name; a
        // directory merges with a lower directory.
        let lower = match (&upper, lower) {
            (Some(u), Some(l)) => {
                let both_dirs = u.stat()?.file_type() == Some(FileType::Directory)
                    && l.stat()?.file_type() == Some(FileType::Directory);
                both_dirs.then_some(l)
            }
            (_, l) => l,
        };
        if upper.is_none() && lower.is_none() {
            return Err(enoent());
        }
        Ok(self.child(name, lower, upper) as InodeRef)
    }

    fn file_kind(&self) -> Result<Option<FileType>, SysError> {
        self.kind()
    }

    /// Cached children first; below a directory that exists only in the
    /// lower layer (no upper copy, no whiteouts), everything is lower-only
    /// too, so the lower layer resolves the rest in one batch.
    fn lookup_many(&self, names: &[&[u8]], stop: &dyn Fn((u64, u64)) -> bool) -> Walked {
        let mut nodes: Vec<InodeRef> = Vec::new();
        let Some(mut dir) = self.me.upgrade() else {
            return Walked { nodes, err: Some(SysError::new(errno::ESTALE, "overlay node is being dropped")) };
        };
        let mut i = 0;
        while i < names.len() {
            let name = names[i];
            let cached = dir.children.lock().get(name).cloned();
            let lower_only = cached.is_none() && dir.upper().is_none() && dir.removed.lock().is_empty();
            if let (true, Some(lower)) = (lower_only, dir.lower.clone()) {
                let dev = self.dev;
                let walked = lower.lookup_many(&names[i..], &|id| stop((dev, id.1)));
                let count = walked.nodes.len();
                for (j, l) in walked.nodes.into_iter().enumerate() {
                    let child = dir.child(names[i + j], Some(l), None);
                    nodes.push(Arc::clone(&child) as InodeRef);
                    dir = child;
                }
                if walked.err.is_some() || i + count < names.len() {
                    return Walked { nodes, err: walked.err };
                }
                i += count;
                continue;
            }
            let child = match cached {
                Some(c) => c,
                None => match dir.lookup(name) {
                    Ok(_) => match dir.children.lock().get(name).cloned() {
                        Some(c) => c,
                        None => break,
                    },
                    Err(e) => return Walked { nodes, err: Some(e) },
                },
            };
            nodes.push(Arc::clone(&child) as InodeRef);
            i += 1;
            if stop(child.id()) || child.kind().ok().flatten() != Some(FileType::Directory) {
                break;
            }
            dir = child;
        }
        Walked { nodes, err: None }
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, SysError> {
        let mut merged: BTreeMap<Vec<u8>, DirEntry> = BTreeMap::new();
        if let Some(l) = &self.lower {
            let removed = self.removed.lock().clone();
            for e in l.readdir()? {
                if !removed.contains(&e.name) {
                    merged.insert(e.name.clone(), e);
                }
            }
        }
        if let Some(u) = self.upper() {
            for e in u.readdir()? {
                let ino = merged.get(&e.name).map_or(e.ino, |l| l.ino);
                merged.insert(e.name.clone(), DirEntry { ino, ..e });
            }
        }
        Ok(merged.into_values().collect())
    }

    fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<usize, SysError> {
        self.top()?.read_at(off, buf)
    }

    fn write_at(&self, off: u64, buf: &[u8]) -> Result<usize, SysError> {
        self.copy_up()?.write_at(off, buf)
    }

    fn read_phys(&self, phys: &PhysMem, off: u64, segs: &[(PhysAddr, u64)]) -> Result<usize, SysError> {
        self.top()?.read_phys(phys, off, segs)
    }

    fn write_phys(&self, phys: &PhysMem, off: u64, segs: &[(PhysAddr, u64)]) -> Result<usize, SysError> {
        self.copy_up()?.write_phys(phys, off, segs)
    }

    fn readlink(&self) -> Result<Vec<u8>, SysError> {
        self.top()?.readlink()
    }

    fn create(&self, name: &[u8], kind: FileType, perm: u32, rdev: u64) -> Result<InodeRef, SysError> {
        if self.lookup(name).is_ok() {
            return Err(SysError::new(errno::EEXIST, "file exists"));
        }
        let up = self.copy_up()?.create(name, kind, perm, rdev)?;
        Ok(self.child(name, None, Some(up)) as InodeRef)
    }

    fn mkdir(&self, name: &[u8], perm: u32) -> Result<InodeRef, SysError> {
        if self.lookup(name).is_ok() {
            return Err(SysError::new(errno::EEXIST, "file exists"));
        }
        // A new directory over a removed lower one stays opaque: the
        // whiteout keeps the old entries out of lookups and listings.
        let up = self.copy_up()?.mkdir(name, perm)?;
        Ok(self.child(name, None, Some(up)) as InodeRef)
    }

    fn symlink(&self, name: &[u8], target: &[u8]) -> Result<InodeRef, SysError> {
        if self.lookup(name).is_ok() {
            return Err(SysError::new(errno::EEXIST, "file exists"));
        }
        let up = self.copy_up()?.symlink(name, target)?;
        Ok(self.child(name, None, Some(up)) as InodeRef)
    }

    fn link(&self, name: &[u8], node: &InodeRef) -> Result<(), SysError> {
        if self.lookup(name).is_ok() {
            return Err(SysError::new(errno::EEXIST, "file exists"));
        }
        let target = Node::downcast(node)?.copy_up()?;
        self.copy_up()?.link(name, &target)?;
        self.children.lock().remove(name);
        Ok(())
    }

    fn unlink(&self, name: &[u8], dir: bool) -> Result<(), SysError> {
        let node = self.lookup(name)?;
        let n = Node::downcast(&node)?;
        let is_dir = n.kind()? == Some(FileType::Directory);
        match (dir, is_dir) {
            (true, false) => return Err(SysError::new(errno::ENOTDIR, "not a directory")),
            (false, true) => return Err(SysError::new(errno::EISDIR, "is a directory")),
            (true, true) if !Node::is_empty_dir(n)? => {
                return Err(SysError::new(errno::ENOTEMPTY, "directory not empty"))
            }
            _ => {}
        }
        if n.upper().is_some() {
            // An emptied upper directory may still hold nothing but is
            // removed the same way; whiteouts live in the overlay node.
            self.copy_up()?.unlink(name, dir)?;
        }
        if self.lower_has(name) {
            self.removed.lock().insert(name.to_vec());
        }
        self.children.lock().remove(name);
        Ok(())
    }

    fn rename(&self, name: &[u8], new_dir: &InodeRef, new_name: &[u8]) -> Result<(), SysError> {
        let target = Node::downcast(new_dir)?;
        let node = self.lookup(name)?;
        let n = Node::downcast(&node)?;
        if n.kind()? == Some(FileType::Directory) && n.lower.is_some() {
            return Err(SysError::new(errno::EXDEV, "renaming a lower directory (copy instead)"));
        }
        if let Ok(existing) = target.lookup(new_name) {
            let e = Node::downcast(&existing)?;
            if core::ptr::eq(e, n) {
                return Ok(());
            }
            let existing_dir = e.kind()? == Some(FileType::Directory);
            target.unlink(new_name, existing_dir)?;
        }
        n.copy_up()?;
        let to = target.copy_up()?;
        self.copy_up()?.rename(name, &to, new_name)?;
        if self.lower_has(name) {
            self.removed.lock().insert(name.to_vec());
        }
        self.children.lock().remove(name);
        target.children.lock().remove(new_name);
        Ok(())
    }

    fn setattr(&self, a: &SetAttr) -> Result<(), SysError> {
        self.copy_up()?.setattr(a)
    }

    fn fsync(&self) -> Result<(), SysError> {
        self.upper().map_or(Ok(()), |u| u.fsync())
    }

    fn statfs(&self) -> Result<StatFs, SysError> {
        self.top()?.statfs()
    }

    fn id(&self) -> (u64, u64) {
        // Lower inode numbers where the file exists below; upper-only files
        // get theirs in a separate range so the two never collide.
        match (&self.lower, self.upper()) {
            (Some(l), _) => (self.dev, l.id().1),
            (None, Some(u)) => (self.dev, u.id().1 | UPPER_INO),
            (None, None) => (self.dev, 0),
        }
    }

    fn as_any(&self) -> &dyn core::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::tmpfs;

    fn names(dir: &InodeRef) -> Vec<Vec<u8>> {
        dir.readdir().expect("readdir").into_iter().map(|e| e.name).collect()
    }

    #[test]
    fn copy_up_whiteouts_and_merged_listings() {
        let lower = tmpfs::new(1, 0o755, 1 << 20);
        let etc = lower.mkdir(b"etc", 0o755).expect("mkdir");
        etc.create(b"hostname", FileType::Regular, 0o644, 0).expect("create").write_at(0, b"host\n").expect("write");
        etc.create(b"passwd", FileType::Regular, 0o644, 0).expect("create");
        lower.mkdir(b"usr", 0o755).expect("mkdir");
        let root = new(Arc::clone(&lower), tmpfs::new(2, 0o755, 1 << 20), 3);

        // Reads come from the lower layer until a change copies up.
        let e = root.lookup(b"etc").expect("etc");
        let h = e.lookup(b"hostname").expect("hostname");
        let ino = h.stat().expect("stat").ino;
        h.write_at(5, b"more\n").expect("append");
        let mut buf = [0u8; 16];
        let n = h.read_at(0, &mut buf).expect("read");
        assert_eq!(&buf[..n], b"host\nmore\n");
        assert_eq!(h.stat().expect("stat").ino, ino, "inode number survives copy-up");
        let mut low = [0u8; 16];
        let n = etc.lookup(b"hostname").expect("lower").read_at(0, &mut low).expect("read");
        assert_eq!(&low[..n], b"host\n", "the lower layer is untouched");

        // New files merge into listings; removed lower files disappear.
        e.create(b"new", FileType::Regular, 0o600, 0).expect("create");
        e.unlink(b"passwd", false).expect("unlink lower file");
        assert_eq!(names(&e), vec![b"hostname".to_vec(), b"new".to_vec()]);
        assert_eq!(e.lookup(b"passwd").err().map(|x| x.errno), Some(errno::ENOENT));
        assert!(etc.lookup(b"passwd").is_ok(), "whiteouts never reach the lower layer");
        // A name can be created again after removal.
        e.create(b"passwd", FileType::Regular, 0o644, 0).expect("recreate");
        assert_eq!(e.lookup(b"passwd").expect("new passwd").stat().expect("stat").size, 0);

        // Lower directories do not move (EXDEV, as overlayfs); files do.
        assert_eq!(root.rename(b"usr", &root, b"usr2").err().map(|x| x.errno), Some(errno::EXDEV));
        e.rename(b"hostname", &root, b"moved").expect("rename file");
        assert!(e.lookup(b"hostname").is_err());
        let n = root.lookup(b"moved").expect("moved").read_at(0, &mut buf).expect("read");
        assert_eq!(&buf[..n], b"host\nmore\n");
        // rmdir of a lower directory that still has entries fails; emptied, it works.
        assert_eq!(root.unlink(b"etc", true).err().map(|x| x.errno), Some(errno::ENOTEMPTY));
        e.unlink(b"new", false).expect("unlink");
        e.unlink(b"passwd", false).expect("unlink");
        root.unlink(b"etc", true).expect("rmdir");
        assert_eq!(names(&root), vec![b"moved".to_vec(), b"usr".to_vec()]);
    }
}
