//! Open file descriptions.

use alloc::vec::Vec;

use super::path::Location;
use super::{DirEntry, FileType, InodeRef};
use crate::error::SysError;
use crate::platform::{PhysAddr, PhysMem};
use abi::linux::errno;

/// `open(2)` flags the sentry keeps on a description.
pub mod flags {
    pub const O_ACCMODE: u32 = 0o3;
    pub const O_RDONLY: u32 = 0o0;
    pub const O_WRONLY: u32 = 0o1;
    pub const O_RDWR: u32 = 0o2;
    pub const O_CREAT: u32 = 0o100;
    pub const O_EXCL: u32 = 0o200;
    pub const O_NOCTTY: u32 = 0o400;
    pub const O_TRUNC: u32 = 0o1000;
    pub const O_APPEND: u32 = 0o2000;
    pub const O_NONBLOCK: u32 = 0o4000;
    pub const O_DSYNC: u32 = 0o10000;
    pub const O_ASYNC: u32 = 0o20000;
    pub const O_DIRECT: u32 = 0o40000;
    pub const O_LARGEFILE: u32 = 0o100000;
    pub const O_DIRECTORY: u32 = 0o200000;
    pub const O_NOFOLLOW: u32 = 0o400000;
    pub const O_NOATIME: u32 = 0o1000000;
    pub const O_CLOEXEC: u32 = 0o2000000;
    pub const O_SYNC: u32 = 0o4010000;
    pub const O_PATH: u32 = 0o10000000;
    pub const O_TMPFILE: u32 = 0o20200000;
    /// Flags F_SETFL may change.
    pub const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME;
}

/// An open file: the node, where it was opened, its flags and offset.
pub struct OpenFile {
    pub node: InodeRef,
    /// The path it was opened by (for fchdir, /proc and openat bases).
    pub loc: Location,
    state: spin::Mutex<State>,
}

struct State {
    flags: u32,
    offset: u64,
    /// Directory listing taken at the first getdents, "." and ".." first.
    listing: Option<Vec<DirEntry>>,
}

impl core::fmt::Debug for OpenFile {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "OpenFile({:?})", self.loc)
    }
}

impl OpenFile {
    /// A description of `loc` opened with `flags`.
    pub fn new(loc: Location, flags: u32) -> Self {
        let node = alloc::sync::Arc::clone(loc.node());
        Self { node, loc, state: spin::Mutex::new(State { flags, offset: 0, listing: None }) }
    }

    /// A description of `loc` whose data comes from `node` instead of the
    /// node at `loc` (a /proc file's contents captured at open).
    pub fn with_node(loc: Location, node: InodeRef, flags: u32) -> Self {
        Self { node, loc, state: spin::Mutex::new(State { flags, offset: 0, listing: None }) }
    }

    /// The status flags (access mode included).
    pub fn flags(&self) -> u32 {
        self.state.lock().flags
    }

    /// The file offset.
    pub fn offset(&self) -> u64 {
        self.state.lock().offset
    }

    /// Replaces the changeable status flags (F_SETFL).
    pub fn set_status_flags(&self, new: u32) {
        let mut s = self.state.lock();
        s.flags = (s.flags & !flags::SETFL_MASK) | (new & flags::SETFL_MASK);
    }

    pub fn readable(&self) -> bool {
        let f = self.flags();
        f & flags::O_PATH == 0 && matches!(f & flags::O_ACCMODE, flags::O_RDONLY | flags::O_RDWR)
    }

    pub fn writable(&self) -> bool {
        let f = self.flags();
        f & flags::O_PATH == 0 && matches!(f & flags::O_ACCMODE, flags::O_WRONLY | flags::O_RDWR)
    }

    /// Reads at `at` (or the file offset, advancing it) straight into
    /// physical ranges.
    pub fn read_phys(&self, phys: &PhysMem, at: Option<u64>, segs: &[(PhysAddr, u64)]) -> Result<usize, SysError> {
        self.transfer_at(at, false, |off| {
            if self.node.file_kind()? == Some(FileType::Directory) {
                return Err(SysError::new(errno::EISDIR, "is a directory"));
            }
            self.node.read_phys(phys, off, segs)
        })
    }

    /// Writes physical ranges at `at` (or the file offset / end with
    /// O_APPEND, advancing it).
    pub fn write_phys(&self, phys: &PhysMem, at: Option<u64>, segs: &[(PhysAddr, u64)]) -> Result<usize, SysError> {
        self.transfer_at(at, true, |off| self.node.write_phys(phys, off, segs))
    }

    /// Runs a transfer of this file at its offset (or at `at`, pread and
    /// pwrite), advancing the offset by what `op` moved; a write with
    /// O_APPEND goes to the end. Also used by transfers done outside the
    /// filesystem (the page cache).
    pub fn transfer_at(
        &self,
        at: Option<u64>,
        write: bool,
        op: impl FnOnce(u64) -> Result<usize, SysError>,
    ) -> Result<usize, SysError> {
        if write && !self.writable() {
            return Err(SysError::ebadf("not open for writing"));
        }
        if !write && !self.readable() {
            return Err(SysError::ebadf("not open for reading"));
        }
        if let Some(off) = at {
            return op(off);
        }
        let mut s = self.state.lock();
        if write && s.flags & flags::O_APPEND != 0 {
            s.offset = self.node.stat()?.size;
        }
        let n = op(s.offset)?;
        s.offset += n as u64;
        Ok(n)
    }

    /// lseek.
    pub fn seek(&self, off: i64, whence: u32) -> Result<u64, SysError> {
        const SEEK_SET: u32 = 0;
        const SEEK_CUR: u32 = 1;
        const SEEK_END: u32 = 2;
        let kind = self.node.stat()?.file_type();
        if matches!(kind, Some(FileType::Fifo | FileType::Socket)) {
            return Err(SysError::new(errno::ESPIPE, "not seekable"));
        }
        let mut s = self.state.lock();
        let base = match whence {
            SEEK_SET => 0,
            SEEK_CUR => s.offset,
            SEEK_END => self.node.stat()?.size,
            _ => return Err(SysError::einval("bad whence")),
        };
        let new = base.checked_add_signed(off).ok_or(SysError::einval("resulting offset negative or too large"))?;
        if new > i64::MAX as u64 {
            return Err(SysError::einval("offset too large"));
        }
        s.offset = new;
        if kind == Some(FileType::Directory) && new == 0 {
            // Rewinding a directory takes a fresh listing (rewinddir).
            s.listing = None;
        }
        Ok(new)
    }

    /// Up to `max_bytes` of getdents64 records from the directory offset.
    pub fn getdents(&self, max_bytes: usize) -> Result<Vec<u8>, SysError> {
        if self.node.stat()?.file_type() != Some(FileType::Directory) {
            return Err(SysError::new(errno::ENOTDIR, "not a directory"));
        }
        let mut s = self.state.lock();
        if s.listing.is_none() {
            let me = self.node.stat()?;
            let parent = self.loc.parent().node().stat()?;
            let mut l = alloc::vec![
                DirEntry { ino: me.ino, kind: FileType::Directory, name: b".".to_vec() },
                DirEntry { ino: parent.ino, kind: FileType::Directory, name: b"..".to_vec() },
            ];
            l.extend(self.node.readdir()?);
            s.listing = Some(l);
        }
        let start = usize::try_from(s.offset).unwrap_or(usize::MAX);
        let mut out = Vec::new();
        let mut next = start;
        if let Some(list) = &s.listing {
            for (i, e) in list.iter().enumerate().skip(start) {
                // struct linux_dirent64: ino 8, off 8, reclen 2, type 1, name, NUL, padded to 8.
                let reclen = (19 + e.name.len() + 1).next_multiple_of(8);
                if out.len() + reclen > max_bytes {
                    break;
                }
                out.extend_from_slice(&e.ino.to_le_bytes());
                out.extend_from_slice(&(i as u64 + 1).to_le_bytes());
                out.extend_from_slice(&u16::try_from(reclen).unwrap_or(u16::MAX).to_le_bytes());
                out.push(e.kind.dirent_type());
                out.extend_from_slice(&e.name);
                out.resize(out.len() + reclen - 19 - e.name.len(), 0);
                next = i + 1;
            }
            if out.is_empty() && start < list.len() {
                return Err(SysError::einval("buffer too small for the next entry"));
            }
        }
        s.offset = next as u64;
        Ok(out)
    }
}
