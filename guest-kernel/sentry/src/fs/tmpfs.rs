//! tmpfs: a filesystem in sentry memory.
//!
//! File data lives on the sentry heap, within a per-filesystem byte budget
//! (ENOSPC beyond it) so that a large file cannot exhaust the heap. Moving
//! file data into page-cache frames comes with file-backed mmap.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::error::SysError;
use crate::fs::dev;
use crate::time::coarse_now;
use crate::vfs::{DirEntry, FileType, Inode, InodeRef, SetAttr, Stat, StatFs};
use abi::linux::{errno, Timespec};

/// TMPFS_MAGIC for statfs.
const TMPFS_MAGIC: u64 = 0x0102_1994;
const BLOCK: u64 = 4096;

/// State shared by every node of one tmpfs.
#[derive(Debug)]
struct Shared {
    dev: u64,
    next_ino: AtomicU64,
    /// Bytes of file data allowed and in use.
    budget: u64,
    used: AtomicU64,
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    perm: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    atime: Timespec,
    mtime: Timespec,
    ctime: Timespec,
}

enum Body {
    File(spin::Mutex<Vec<u8>>),
    Dir(spin::Mutex<BTreeMap<Vec<u8>, InodeRef>>),
    Symlink(Vec<u8>),
    /// A device node, FIFO or socket: only attributes here.
    Special {
        rdev: u64,
    },
}

/// A tmpfs node.
pub struct Node {
    fs: Arc<Shared>,
    ino: u64,
    kind: FileType,
    meta: spin::Mutex<Meta>,
    body: Body,
}

/// A new, empty tmpfs: its root directory with permissions `perm`, on
/// device `dev`, holding at most `budget` bytes of file data.
pub fn new(dev: u64, perm: u32, budget: u64) -> InodeRef {
    let fs = Arc::new(Shared { dev, next_ino: AtomicU64::new(1), budget, used: AtomicU64::new(0) });
    Node::new_node(&fs, FileType::Directory, perm, Body::Dir(spin::Mutex::new(BTreeMap::new())))
}

fn exists() -> SysError {
    SysError::new(errno::EEXIST, "file exists")
}

impl Node {
    fn new_node(fs: &Arc<Shared>, kind: FileType, perm: u32, body: Body) -> InodeRef {
        let now = coarse_now();
        let nlink = if kind == FileType::Directory { 2 } else { 1 };
        Arc::new(Self {
            fs: Arc::clone(fs),
            ino: fs.next_ino.fetch_add(1, Ordering::Relaxed),
            kind,
            meta: spin::Mutex::new(Meta {
                perm: perm & 0o7777,
                uid: 0,
                gid: 0,
                nlink,
                atime: now,
                mtime: now,
                ctime: now,
            }),
            body,
        })
    }

    fn dir(&self) -> Result<&spin::Mutex<BTreeMap<Vec<u8>, InodeRef>>, SysError> {
        match &self.body {
            Body::Dir(d) => Ok(d),
            _ => Err(SysError::new(errno::ENOTDIR, "not a directory")),
        }
    }

    fn touch(&self, data_changed: bool) {
        let now = coarse_now();
        let mut m = self.meta.lock();
        m.ctime = now;
        if data_changed {
            m.mtime = now;
        }
    }

    fn add_link(&self, delta: i64) {
        let mut m = self.meta.lock();
        m.nlink = m.nlink.saturating_add_signed(delta);
        m.ctime = coarse_now();
    }

    /// Inserts a new child, failing if the name exists.
    fn insert(&self, name: &[u8], node: InodeRef) -> Result<InodeRef, SysError> {
        let mut d = self.dir()?.lock();
        if d.contains_key(name) {
            return Err(exists());
        }
        d.insert(name.to_vec(), Arc::clone(&node));
        drop(d);
        self.touch(true);
        Ok(node)
    }

    fn same_fs<'a>(&self, other: &'a InodeRef) -> Result<&'a Node, SysError> {
        match other.as_any().downcast_ref::<Node>() {
            Some(n) if Arc::ptr_eq(&n.fs, &self.fs) => Ok(n),
            _ => Err(SysError::new(errno::EXDEV, "not on the same filesystem")),
        }
    }

    fn is_empty_dir(node: &InodeRef) -> bool {
        node.as_any().downcast_ref::<Node>().is_some_and(|n| matches!(&n.body, Body::Dir(d) if d.lock().is_empty()))
    }

    fn reserve(&self, old_len: u64, new_len: u64) -> Result<(), SysError> {
        if new_len <= old_len {
            self.fs.used.fetch_sub(old_len - new_len, Ordering::Relaxed);
            return Ok(());
        }
        let grow = new_len - old_len;
        let used = self.fs.used.fetch_add(grow, Ordering::Relaxed);
        if used + grow > self.fs.budget {
            self.fs.used.fetch_sub(grow, Ordering::Relaxed);
            return Err(SysError::new(errno::ENOSPC, "tmpfs is full"));
        }
        Ok(())
    }

    fn resize(&self, data: &mut Vec<u8>, len: u64) -> Result<(), SysError> {
        let new = usize::try_from(len).map_err(|_| SysError::new(errno::EFBIG, "file too large"))?;
        self.reserve(data.len() as u64, len)?;
        if new > data.len() && data.try_reserve(new - data.len()).is_err() {
            self.reserve(len, data.len() as u64)?;
            return Err(SysError::new(errno::ENOSPC, "out of memory for tmpfs data"));
        }
        data.resize(new, 0);
        Ok(())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Body::File(d) = &self.body {
            self.fs.used.fetch_sub(d.lock().len() as u64, Ordering::Relaxed);
        }
    }
}

impl Inode for Node {
    fn stat(&self) -> Result<Stat, SysError> {
        let m = *self.meta.lock();
        let size = match &self.body {
            Body::File(d) => d.lock().len() as u64,
            Body::Dir(_) => BLOCK,
            Body::Symlink(t) => t.len() as u64,
            Body::Special { .. } => 0,
        };
        let rdev = match self.body {
            Body::Special { rdev } => rdev,
            _ => 0,
        };
        Ok(Stat {
            dev: self.fs.dev,
            ino: self.ino,
            mode: self.kind.mode_bits() | m.perm,
            nlink: m.nlink,
            uid: m.uid,
            gid: m.gid,
            rdev,
            size,
            blksize: BLOCK,
            blocks: size.div_ceil(512),
            atime: m.atime,
            mtime: m.mtime,
            ctime: m.ctime,
        })
    }

    fn lookup(&self, name: &[u8]) -> Result<InodeRef, SysError> {
        self.dir()?.lock().get(name).cloned().ok_or(SysError::new(errno::ENOENT, "no such file or directory"))
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, SysError> {
        let d = self.dir()?.lock();
        d.iter()
            .map(|(name, node)| {
                let st = node.stat()?;
                Ok(DirEntry { ino: st.ino, kind: st.file_type().unwrap_or(FileType::Regular), name: name.clone() })
            })
            .collect()
    }

    fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<usize, SysError> {
        match &self.body {
            Body::File(d) => {
                let d = d.lock();
                let start = usize::try_from(off).unwrap_or(usize::MAX).min(d.len());
                let n = buf.len().min(d.len() - start);
                buf[..n].copy_from_slice(&d[start..start + n]);
                Ok(n)
            }
            Body::Special { rdev } if self.kind == FileType::CharDevice => dev::read(*rdev, buf),
            Body::Dir(_) => Err(SysError::new(errno::EISDIR, "is a directory")),
            _ => Err(SysError::einval("not readable")),
        }
    }

    fn write_at(&self, off: u64, buf: &[u8]) -> Result<usize, SysError> {
        match &self.body {
            Body::File(d) => {
                let mut d = d.lock();
                let end = off.checked_add(buf.len() as u64).ok_or(SysError::new(errno::EFBIG, "file too large"))?;
                if end > d.len() as u64 {
                    self.resize(&mut d, end)?;
                }
                let start = usize::try_from(off).map_err(|_| SysError::new(errno::EFBIG, "file too large"))?;
                d[start..start + buf.len()].copy_from_slice(buf);
                drop(d);
                self.touch(true);
                Ok(buf.len())
            }
            Body::Special { rdev } if self.kind == FileType::CharDevice => dev::write(*rdev, buf),
            Body::Dir(_) => Err(SysError::new(errno::EISDIR, "is a directory")),
            _ => Err(SysError::einval("not writable")),
        }
    }

    fn readlink(&self) -> Result<Vec<u8>, SysError> {
        match &self.body {
            Body::Symlink(t) => Ok(t.clone()),
            _ => Err(SysError::einval("not a symlink")),
        }
    }

    fn create(&self, name: &[u8], kind: FileType, perm: u32, rdev: u64) -> Result<InodeRef, SysError> {
        self.dir()?;
        let body = match kind {
            FileType::Regular => Body::File(spin::Mutex::new(Vec::new())),
            FileType::CharDevice | FileType::BlockDevice | FileType::Fifo | FileType::Socket => Body::Special { rdev },
            FileType::Directory | FileType::Symlink => return Err(SysError::einval("use mkdir or symlink")),
        };
        self.insert(name, Node::new_node(&self.fs, kind, perm, body))
    }

    fn mkdir(&self, name: &[u8], perm: u32) -> Result<InodeRef, SysError> {
        self.dir()?;
        let node = self.insert(
            name,
            Node::new_node(&self.fs, FileType::Directory, perm, Body::Dir(spin::Mutex::new(BTreeMap::new()))),
        )?;
        self.add_link(1);
        Ok(node)
    }

    fn symlink(&self, name: &[u8], target: &[u8]) -> Result<InodeRef, SysError> {
        self.dir()?;
        self.insert(name, Node::new_node(&self.fs, FileType::Symlink, 0o777, Body::Symlink(target.to_vec())))
    }

    fn link(&self, name: &[u8], node: &InodeRef) -> Result<(), SysError> {
        let n = self.same_fs(node)?;
        if n.kind == FileType::Directory {
            return Err(SysError::new(errno::EPERM, "hard link to a directory"));
        }
        self.insert(name, Arc::clone(node))?;
        n.add_link(1);
        Ok(())
    }

    fn unlink(&self, name: &[u8], dir: bool) -> Result<(), SysError> {
        let mut d = self.dir()?.lock();
        let node = d.get(name).cloned().ok_or(SysError::new(errno::ENOENT, "no such file or directory"))?;
        let is_dir = node.stat()?.file_type() == Some(FileType::Directory);
        match (dir, is_dir) {
            (true, false) => return Err(SysError::new(errno::ENOTDIR, "not a directory")),
            (false, true) => return Err(SysError::new(errno::EISDIR, "is a directory")),
            (true, true) if !Node::is_empty_dir(&node) => {
                return Err(SysError::new(errno::ENOTEMPTY, "directory not empty"));
            }
            _ => {}
        }
        d.remove(name);
        drop(d);
        if let Some(n) = node.as_any().downcast_ref::<Node>() {
            n.add_link(if is_dir { -2 } else { -1 });
        }
        if is_dir {
            self.add_link(-1);
        }
        self.touch(true);
        Ok(())
    }

    fn rename(&self, name: &[u8], new_dir: &InodeRef, new_name: &[u8]) -> Result<(), SysError> {
        let target_dir = self.same_fs(new_dir)?;
        let node = self.lookup(name)?;
        let moving_dir = node.stat()?.file_type() == Some(FileType::Directory);
        if let Ok(existing) = target_dir.lookup(new_name) {
            if Arc::ptr_eq(&existing, &node) {
                return Ok(());
            }
            let existing_dir = existing.stat()?.file_type() == Some(FileType::Directory);
            match (moving_dir, existing_dir) {
                (true, false) => return Err(SysError::new(errno::ENOTDIR, "target is not a directory")),
                (false, true) => return Err(SysError::new(errno::EISDIR, "target is a directory")),
                (true, true) if !Node::is_empty_dir(&existing) => {
                    return Err(SysError::new(errno::ENOTEMPTY, "target directory not empty"));
                }
                _ => {}
            }
            target_dir.unlink(new_name, existing_dir)?;
        }
        self.dir()?.lock().remove(name);
        target_dir.dir()?.lock().insert(new_name.to_vec(), Arc::clone(&node));
        if moving_dir && !core::ptr::eq(self, target_dir) {
            self.add_link(-1);
            target_dir.add_link(1);
        }
        self.touch(true);
        target_dir.touch(true);
        if let Some(n) = node.as_any().downcast_ref::<Node>() {
            n.touch(false);
        }
        Ok(())
    }

    fn setattr(&self, a: &SetAttr) -> Result<(), SysError> {
        if let Some(size) = a.size {
            match &self.body {
                Body::File(d) => self.resize(&mut d.lock(), size)?,
                Body::Dir(_) => return Err(SysError::new(errno::EISDIR, "is a directory")),
                _ => return Err(SysError::einval("cannot truncate this file type")),
            }
        }
        let mut m = self.meta.lock();
        if let Some(p) = a.mode {
            m.perm = p & 0o7777;
        }
        if let Some(u) = a.uid {
            m.uid = u;
        }
        if let Some(g) = a.gid {
            m.gid = g;
        }
        if let Some(t) = a.atime {
            m.atime = t;
        }
        if let Some(t) = a.mtime {
            m.mtime = t;
        }
        if a.size.is_some() && a.mtime.is_none() {
            m.mtime = coarse_now();
        }
        m.ctime = coarse_now();
        Ok(())
    }

    fn statfs(&self) -> Result<StatFs, SysError> {
        let used = self.fs.used.load(Ordering::Relaxed).div_ceil(BLOCK);
        let blocks = self.fs.budget / BLOCK;
        Ok(StatFs {
            fs_type: TMPFS_MAGIC,
            bsize: BLOCK,
            blocks,
            bfree: blocks.saturating_sub(used),
            bavail: blocks.saturating_sub(used),
            files: 1 << 20,
            ffree: (1 << 20) - self.fs.next_ino.load(Ordering::Relaxed).min(1 << 20),
            namelen: 255,
            flags: 0,
        })
    }

    fn id(&self) -> (u64, u64) {
        (self.fs.dev, self.ino)
    }

    fn as_any(&self) -> &dyn core::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_dirs_links_and_budget() {
        let root = new(1, 0o755, 8192);
        let d = root.mkdir(b"d", 0o755).expect("mkdir");
        assert_eq!(root.mkdir(b"d", 0o755).err().map(|e| e.errno), Some(errno::EEXIST));
        let f = d.create(b"f", FileType::Regular, 0o644, 0).expect("create");
        assert_eq!(f.write_at(0, b"hello").expect("write"), 5);
        assert_eq!(f.write_at(4096, b"x").expect("sparse write"), 1);
        assert_eq!(f.stat().expect("stat").size, 4097);
        let mut buf = [9u8; 8];
        assert_eq!(f.read_at(0, &mut buf).expect("read"), 8);
        assert_eq!(&buf, b"hello\0\0\0");
        assert_eq!(f.write_at(8192, b"y").err().map(|e| e.errno), Some(errno::ENOSPC));
        d.link(b"g", &f).expect("link");
        assert_eq!(f.stat().expect("stat").nlink, 2);
        root.rename(b"d", &root, b"e").expect("rename dir");
        assert!(root.lookup(b"d").is_err());
        let e = root.lookup(b"e").expect("renamed");
        assert_eq!(root.unlink(b"e", true).err().map(|e| e.errno), Some(errno::ENOTEMPTY));
        e.unlink(b"f", false).expect("unlink");
        e.unlink(b"g", false).expect("unlink");
        root.unlink(b"e", true).expect("rmdir");
        assert_eq!(root.stat().expect("stat").nlink, 2);
    }
}
