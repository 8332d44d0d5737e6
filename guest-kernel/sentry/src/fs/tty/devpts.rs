//! devpts: the directory of pty slaves (`/dev/pts/N`) and `ptmx`. One
//! instance, shared by every mount (as Linux's single-instance devpts): the
//! entries are the ptys whose master is open.

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::error::SysError;
use crate::vfs::{DirEntry, FileType, Inode, InodeRef, Stat};
use abi::linux::errno;

/// st_dev of the devpts filesystem.
pub const DEVPTS_DEV: u64 = crate::fs::dev::makedev(0, 40);
/// Major number of pty slaves (UNIX98_PTY_SLAVE_MAJOR).
const PTS_MAJOR: u64 = 136;
const ROOT_INO: u64 = 1;
const PTMX_INO: u64 = 2;
/// `devpts` in statfs's f_type.
const DEVPTS_SUPER_MAGIC: u64 = 0x1cd1;

/// The device number of `/dev/pts/index` (Linux's new_encode_dev).
pub fn slave_rdev(index: u32) -> u64 {
    let minor = u64::from(index);
    (minor & 0xff) | (PTS_MAJOR << 8) | ((minor & !0xff) << 12)
}

/// The pty number of device `rdev`, if it is a pty slave.
pub fn slave_index(rdev: u64) -> Option<u32> {
    let major = (rdev >> 8) & 0xfff;
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major == PTS_MAJOR).then(|| u32::try_from(minor).ok()).flatten()
}

/// The (dev, ino) of `/dev/pts/index`, which fstat of an open slave
/// reports too (ttyname compares them).
pub fn slave_ident(index: u32) -> (u64, u64) {
    (DEVPTS_DEV, u64::from(index) + 3)
}

/// The (dev, ino) of `ptmx` in devpts, for fstat of a master.
pub const fn ptmx_ident() -> (u64, u64) {
    (DEVPTS_DEV, PTMX_INO)
}

/// The root directory of devpts, for a mount on `/dev/pts` (the initial
/// tree mounts it; a config.json `devpts` mount can use it the same way).
pub fn mount() -> InodeRef {
    Arc::new(Dir)
}

struct Dir;

struct Node {
    ino: u64,
    mode: u32,
    rdev: u64,
    /// uid and gid (a slave's are its opener's).
    owner: (u32, u32),
}

impl Inode for Dir {
    fn stat(&self) -> Result<Stat, SysError> {
        let mut st = Stat::kernel_object(DEVPTS_DEV, ROOT_INO, crate::vfs::mode::S_IFDIR | 0o755);
        st.nlink = 2;
        Ok(st)
    }

    fn lookup(&self, name: &[u8]) -> Result<InodeRef, SysError> {
        let missing = || SysError::new(errno::ENOENT, "no such pty");
        if name == b"ptmx" {
            return Ok(Arc::new(Node { ino: PTMX_INO, mode: 0o666, rdev: crate::fs::dev::PTMX, owner: (0, 0) }));
        }
        // Only canonical decimal numbers name ptys ("01" does not).
        if name.is_empty() || (name.len() > 1 && name[0] == b'0') || !name.iter().all(u8::is_ascii_digit) {
            return Err(missing());
        }
        let index: u32 = core::str::from_utf8(name).ok().and_then(|s| s.parse().ok()).ok_or_else(missing)?;
        let owner = super::pty(index).ok_or_else(missing)?.state.lock().owner;
        Ok(Arc::new(Node { ino: slave_ident(index).1, mode: 0o620, rdev: slave_rdev(index), owner }))
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, SysError> {
        let mut out = alloc::vec![DirEntry { ino: PTMX_INO, kind: FileType::CharDevice, name: b"ptmx".to_vec() }];
        for i in super::pty_indices() {
            out.push(DirEntry {
                ino: slave_ident(i).1,
                kind: FileType::CharDevice,
                name: alloc::format!("{i}").into_bytes(),
            });
        }
        Ok(out)
    }

    fn create(&self, _name: &[u8], _kind: FileType, _perm: u32, _rdev: u64) -> Result<InodeRef, SysError> {
        Err(SysError::new(errno::EACCES, "devpts entries are made by opening ptmx"))
    }

    fn mkdir(&self, _name: &[u8], _perm: u32) -> Result<InodeRef, SysError> {
        Err(SysError::new(errno::EACCES, "devpts entries are made by opening ptmx"))
    }

    fn unlink(&self, _name: &[u8], _dir: bool) -> Result<(), SysError> {
        Err(SysError::new(errno::EPERM, "devpts entries go when their master closes"))
    }

    fn statfs(&self) -> Result<crate::vfs::StatFs, SysError> {
        Ok(crate::vfs::StatFs { fs_type: DEVPTS_SUPER_MAGIC, bsize: 4096, namelen: 255, ..Default::default() })
    }

    fn as_any(&self) -> &dyn core::any::Any {
        self
    }
}

impl Inode for Node {
    fn stat(&self) -> Result<Stat, SysError> {
        let mut st = Stat::kernel_object(DEVPTS_DEV, self.ino, crate::vfs::mode::S_IFCHR | self.mode);
        st.rdev = self.rdev;
        st.blksize = 1024;
        (st.uid, st.gid) = self.owner;
        Ok(st)
    }

    fn as_any(&self) -> &dyn core::any::Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_round_trip() {
        assert_eq!(slave_rdev(0), 0x8800);
        assert_eq!(slave_rdev(300), (300 & 0xff) | (136 << 8) | (0x100 << 12));
        for i in [0, 1, 255, 256, 4095] {
            assert_eq!(slave_index(slave_rdev(i)), Some(i));
        }
        assert_eq!(slave_index(crate::fs::dev::PTMX), None);
    }
}
