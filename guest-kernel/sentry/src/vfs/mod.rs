//! The virtual file system: inodes, path walking, mounts and open files.
//!
//! Filesystems implement [`Inode`]. A path is resolved by [`path::walk`]
//! from a [`path::Location`] (the chain of directories from the container
//! root, so `..` never climbs above the root), following symlinks up to
//! [`path::MAX_SYMLINKS`] and crossing mount points through the
//! [`path::MountTable`]. An open file is a [`file::OpenFile`].
//!
//! Error conventions (as Linux): a missing component is ENOENT, a
//! non-directory in the middle of a path ENOTDIR, too many links ELOOP, a
//! name over 255 bytes ENAMETOOLONG, a write to a read-only filesystem
//! EROFS. Methods a filesystem does not support keep their default, which
//! returns the errno Linux uses for that case.

pub mod file;
pub mod path;
pub mod perm;

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::error::SysError;
use crate::platform::{PhysAddr, PhysMem};
use abi::linux::{errno, Timespec};

/// A shared inode.
pub type InodeRef = Arc<dyn Inode>;

/// File types (the `S_IFMT` part of a mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    Regular,
    Directory,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

/// `S_IFMT` and the type bits.
pub mod mode {
    pub const S_IFMT: u32 = 0o170000;
    pub const S_IFSOCK: u32 = 0o140000;
    pub const S_IFLNK: u32 = 0o120000;
    pub const S_IFREG: u32 = 0o100000;
    pub const S_IFBLK: u32 = 0o060000;
    pub const S_IFDIR: u32 = 0o040000;
    pub const S_IFCHR: u32 = 0o020000;
    pub const S_IFIFO: u32 = 0o010000;
    /// Permission and set-id/sticky bits.
    pub const S_IALLUGO: u32 = 0o7777;
}

impl FileType {
    /// The `S_IFMT` bits of this type.
    pub const fn mode_bits(self) -> u32 {
        match self {
            Self::Regular => mode::S_IFREG,
            Self::Directory => mode::S_IFDIR,
            Self::Symlink => mode::S_IFLNK,
            Self::CharDevice => mode::S_IFCHR,
            Self::BlockDevice => mode::S_IFBLK,
            Self::Fifo => mode::S_IFIFO,
            Self::Socket => mode::S_IFSOCK,
        }
    }

    /// The type of a mode, `None` for an invalid one.
    pub const fn from_mode(m: u32) -> Option<Self> {
        match m & mode::S_IFMT {
            mode::S_IFREG => Some(Self::Regular),
            mode::S_IFDIR => Some(Self::Directory),
            mode::S_IFLNK => Some(Self::Symlink),
            mode::S_IFCHR => Some(Self::CharDevice),
            mode::S_IFBLK => Some(Self::BlockDevice),
            mode::S_IFIFO => Some(Self::Fifo),
            mode::S_IFSOCK => Some(Self::Socket),
            _ => None,
        }
    }

    /// The `d_type` value of getdents64.
    pub const fn dirent_type(self) -> u8 {
        match self {
            Self::Fifo => 1,
            Self::CharDevice => 2,
            Self::Directory => 4,
            Self::BlockDevice => 6,
            Self::Regular => 8,
            Self::Symlink => 10,
            Self::Socket => 12,
        }
    }
}

/// Device numbers of the in-kernel objects' pseudo filesystems (st_dev of
/// sockets, pipes and anonymous-inode files).
pub const SOCKFS_DEV: u64 = 0x8;
pub const ANON_INODE_DEV: u64 = 0xa;
pub const PIPEFS_DEV: u64 = 0xc;

/// File attributes (`struct stat` as the sentry keeps it).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub dev: u64,
    pub ino: u64,
    /// Type and permission bits.
    pub mode: u32,
    pub nlink: u64,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: u64,
    pub blksize: u64,
    pub blocks: u64,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
}

impl Stat {
    /// The attributes of an in-kernel object with no file behind it (a
    /// pipe, socket or anonymous-inode file): owned by root, one link, no
    /// size or times, 4 KiB blocks.
    pub fn kernel_object(dev: u64, ino: u64, mode: u32) -> Self {
        Self { dev, ino, mode, nlink: 1, blksize: 4096, ..Self::default() }
    }

    /// The file type.
    pub fn file_type(&self) -> Option<FileType> {
        FileType::from_mode(self.mode)
    }

    /// Encodes x86-64 `struct stat` (144 bytes).
    pub fn to_bytes(&self) -> [u8; 144] {
        let mut b = [0u8; 144];
        let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
        put(0, &self.dev.to_le_bytes());
        put(8, &self.ino.to_le_bytes());
        put(16, &self.nlink.to_le_bytes());
        put(24, &self.mode.to_le_bytes());
        put(28, &self.uid.to_le_bytes());
        put(32, &self.gid.to_le_bytes());
        put(40, &self.rdev.to_le_bytes());
        put(48, &self.size.to_le_bytes());
        put(56, &self.blksize.to_le_bytes());
        put(64, &self.blocks.to_le_bytes());
        for (i, t) in [self.atime, self.mtime, self.ctime].iter().enumerate() {
            put(72 + i * 16, &t.tv_sec.to_le_bytes());
            put(80 + i * 16, &t.tv_nsec.to_le_bytes());
        }
        b
    }
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub ino: u64,
    pub kind: FileType,
    pub name: Vec<u8>,
}

/// Attribute changes (chmod, chown, utimensat, truncate).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SetAttr {
    /// New permission bits (type bits ignored).
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub atime: Option<Timespec>,
    pub mtime: Option<Timespec>,
}

/// Filesystem statistics (`struct statfs`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StatFs {
    pub fs_type: u64,
    pub bsize: u64,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub namelen: u64,
    pub flags: u64,
}

/// What [`Inode::lookup_many`] resolved: the nodes of the names walked,
/// in order, and why the walk stopped short if it failed.
pub struct Walked {
    pub nodes: Vec<InodeRef>,
    pub err: Option<SysError>,
}

fn not_dir() -> SysError {
    SysError::new(errno::ENOTDIR, "not a directory")
}

/// A file system object. Directory operations take a validated name (one
/// component: non-empty, no '/', not "." or "..", at most 255 bytes).
pub trait Inode: Send + Sync {
    /// Attributes.
    fn stat(&self) -> Result<Stat, SysError>;

    /// The child called `name` (directories).
    fn lookup(&self, _name: &[u8]) -> Result<InodeRef, SysError> {
        Err(not_dir())
    }

    /// The file's type as path walks need it. Filesystems that know it
    /// without fetching attributes (9P qids) answer without a round trip.
    fn file_kind(&self) -> Result<Option<FileType>, SysError> {
        Ok(self.stat()?.file_type())
    }

    /// Looks up `names` (at least one, each a valid component) one below
    /// the other, as far as it goes cheaply: filesystems that can resolve
    /// several components in one exchange (9P's multi-name Twalk) return
    /// the nodes of a prefix. The walk stops after a symlink (the caller
    /// resolves it) and after a node for which `stop(node.id())` holds (a
    /// mount point); `err` is the failure of `names[nodes.len()]`, if the
    /// walk failed there. The default looks up the first name only.
    fn lookup_many(&self, names: &[&[u8]], _stop: &dyn Fn((u64, u64)) -> bool) -> Walked {
        match names.first().map(|n| self.lookup(n)) {
            Some(Ok(n)) => Walked { nodes: alloc::vec![n], err: None },
            Some(Err(e)) => Walked { nodes: Vec::new(), err: Some(e) },
            None => Walked { nodes: Vec::new(), err: None },
        }
    }

    /// Every entry except "." and "..", in a stable order (directories).
    fn readdir(&self) -> Result<Vec<DirEntry>, SysError> {
        Err(not_dir())
    }

    /// Reads at `off` into `buf` (regular files and devices).
    fn read_at(&self, _off: u64, _buf: &mut [u8]) -> Result<usize, SysError> {
        Err(SysError::new(errno::EINVAL, "not readable"))
    }

    /// Writes `buf` at `off` (regular files and devices).
    fn write_at(&self, _off: u64, _buf: &[u8]) -> Result<usize, SysError> {
        Err(SysError::new(errno::EINVAL, "not writable"))
    }

    /// Reads at `off` straight into the physical ranges `segs` (file data
    /// then needs no copy in the sentry). The default goes through a buffer.
    fn read_phys(&self, phys: &PhysMem, off: u64, segs: &[(PhysAddr, u64)]) -> Result<usize, SysError> {
        let mut done = 0usize;
        for &(pa, len) in segs {
            let mut buf = alloc::vec![0u8; usize::try_from(len).map_err(|_| SysError::einval("segment too large"))?];
            let n = self.read_at(off + done as u64, &mut buf)?;
            phys.write(pa, &buf[..n]);
            done += n;
            if n < buf.len() {
                break;
            }
        }
        Ok(done)
    }

    /// Writes the physical ranges `segs` at `off`. The default goes through a buffer.
    fn write_phys(&self, phys: &PhysMem, off: u64, segs: &[(PhysAddr, u64)]) -> Result<usize, SysError> {
        let mut done = 0usize;
        for &(pa, len) in segs {
            let mut buf = alloc::vec![0u8; usize::try_from(len).map_err(|_| SysError::einval("segment too large"))?];
            phys.read(pa, &mut buf);
            let n = self.write_at(off + done as u64, &buf)?;
            done += n;
            if n < buf.len() {
                break;
            }
        }
        Ok(done)
    }

    /// The target of a symlink.
    fn readlink(&self) -> Result<Vec<u8>, SysError> {
        Err(SysError::new(errno::EINVAL, "not a symlink"))
    }

    /// For a symlink that names an open file rather than a path (Linux's
    /// "magic links", /proc/<pid>/fd/N of a pipe): the node a resolution
    /// following it lands on. `None` for ordinary symlinks.
    fn magic_target(&self) -> Result<Option<InodeRef>, SysError> {
        Ok(None)
    }

    /// Creates a regular file, FIFO or device node `name` (directories).
    fn create(&self, _name: &[u8], _kind: FileType, _perm: u32, _rdev: u64) -> Result<InodeRef, SysError> {
        Err(not_dir())
    }

    /// Creates directory `name`.
    fn mkdir(&self, _name: &[u8], _perm: u32) -> Result<InodeRef, SysError> {
        Err(not_dir())
    }

    /// Creates symlink `name` pointing at `target`.
    fn symlink(&self, _name: &[u8], _target: &[u8]) -> Result<InodeRef, SysError> {
        Err(not_dir())
    }

    /// Adds a hard link `name` to `node` (same filesystem).
    fn link(&self, _name: &[u8], _node: &InodeRef) -> Result<(), SysError> {
        Err(not_dir())
    }

    /// Removes `name`; `dir` selects rmdir semantics.
    fn unlink(&self, _name: &[u8], _dir: bool) -> Result<(), SysError> {
        Err(not_dir())
    }

    /// Moves `name` to `new_name` in `new_dir` (same filesystem), replacing
    /// a compatible existing target as rename(2) does.
    fn rename(&self, _name: &[u8], _new_dir: &InodeRef, _new_name: &[u8]) -> Result<(), SysError> {
        Err(not_dir())
    }

    /// Changes attributes.
    fn setattr(&self, _attr: &SetAttr) -> Result<(), SysError> {
        Err(SysError::new(errno::EPERM, "attributes cannot be changed"))
    }

    /// Flushes to stable storage.
    fn fsync(&self) -> Result<(), SysError> {
        Ok(())
    }

    /// Filesystem statistics.
    fn statfs(&self) -> Result<StatFs, SysError> {
        Err(SysError::new(errno::ENOSYS, "statfs not supported by this filesystem"))
    }

    /// A process-unique identity for mount-point matching and rename checks.
    fn id(&self) -> (u64, u64) {
        self.stat().map_or((0, 0), |s| (s.dev, s.ino))
    }

    /// Downcast support for same-filesystem operations (link, rename).
    fn as_any(&self) -> &dyn core::any::Any;
}

/// Checks one path component for directory operations.
pub fn check_name(name: &[u8]) -> Result<(), SysError> {
    if name.is_empty() || name == b"." || name == b".." {
        return Err(SysError::new(errno::EINVAL, "invalid name"));
    }
    if name.contains(&b'/') || name.contains(&0) {
        return Err(SysError::new(errno::EINVAL, "invalid character in name"));
    }
    if name.len() > 255 {
        return Err(SysError::new(errno::ENAMETOOLONG, "name longer than 255 bytes"));
    }
    Ok(())
}
