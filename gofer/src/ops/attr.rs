//! getattr, setattr, statfs: all on the node's `O_PATH` descriptor with
//! `AT_EMPTY_PATH`, so no name is resolved again.

use std::os::fd::AsFd;

use p9::{getattr, setattr, Rgetattr, Rsetattr, Rstatfs, Tgetattr, Tsetattr, Tstatfs};
use rustix::fs::{AtFlags, FileType, Gid, OFlags, StatxFlags, Timespec, Timestamps, Uid, UTIME_NOW, UTIME_OMIT};
use rustix::io::Errno;

use crate::server::Server;
use crate::sys;

fn to_u64(v: i64) -> u64 {
    // 9P carries times and sizes unsigned; the client reinterprets them.
    v as u64
}

impl Server {
    /// Returns every basic field (and btime when the filesystem has it),
    /// whatever the request mask: one statx costs the same.
    pub(crate) fn getattr(&mut self, t: &Tgetattr) -> Result<Rgetattr, Errno> {
        let node = self.node(t.fid)?;
        let want = StatxFlags::BASIC_STATS | StatxFlags::BTIME;
        let st = rustix::fs::statx(node.fd.as_fd(), "", AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW, want)?;
        let mut valid = getattr::BASIC;
        if st.stx_mask & StatxFlags::BTIME.bits() != 0 {
            valid |= getattr::BTIME;
        }
        Ok(Rgetattr {
            valid,
            qid: node.qid,
            mode: u32::from(st.stx_mode),
            uid: st.stx_uid,
            gid: st.stx_gid,
            nlink: u64::from(st.stx_nlink),
            rdev: rustix::fs::makedev(st.stx_rdev_major, st.stx_rdev_minor),
            size: st.stx_size,
            blksize: u64::from(st.stx_blksize),
            blocks: st.stx_blocks,
            atime_sec: to_u64(st.stx_atime.tv_sec),
            atime_nsec: u64::from(st.stx_atime.tv_nsec),
            mtime_sec: to_u64(st.stx_mtime.tv_sec),
            mtime_nsec: u64::from(st.stx_mtime.tv_nsec),
            ctime_sec: to_u64(st.stx_ctime.tv_sec),
            ctime_nsec: u64::from(st.stx_ctime.tv_nsec),
            btime_sec: to_u64(st.stx_btime.tv_sec),
            btime_nsec: u64::from(st.stx_btime.tv_nsec),
            gen: 0,
            data_version: 0,
        })
    }

    /// Applies owner, mode, size and times, in that order (times last so an
    /// explicit mtime survives the truncate). `CTIME` alone is a no-op: the
    /// kernel updates ctime with every other change.
    pub(crate) fn setattr(&mut self, t: &Tsetattr) -> Result<Rsetattr, Errno> {
        self.check_writable()?;
        let node = self.node(t.fid)?;
        if t.valid & (setattr::UID | setattr::GID) != 0 {
            let uid = (t.valid & setattr::UID != 0).then(|| Uid::from_raw(t.uid));
            let gid = (t.valid & setattr::GID != 0).then(|| Gid::from_raw(t.gid));
            rustix::fs::chownat(node.fd.as_fd(), "", uid, gid, AtFlags::EMPTY_PATH)?;
        }
        if t.valid & setattr::MODE != 0 {
            let mode = t.mode & 0o7777;
            match sys::fchmod_empty_path(node.fd.as_fd(), mode) {
                // Before Linux 6.6: chmod through an open descriptor.
                Err(Errno::NOSYS) => {
                    let fd = self.open_node(&node, OFlags::RDONLY)?;
                    rustix::fs::fchmod(&fd, rustix::fs::Mode::from_raw_mode(mode))?;
                }
                other => other?,
            }
        }
        if t.valid & setattr::SIZE != 0 {
            match node.file_type {
                FileType::RegularFile => {}
                FileType::Directory => return Err(Errno::ISDIR),
                _ => return Err(Errno::INVAL),
            }
            let fid = self.fid(t.fid)?;
            match fid.open.as_ref().filter(|o| o.writable) {
                Some(open) => rustix::fs::ftruncate(&open.fd, t.size)?,
                None => rustix::fs::ftruncate(self.open_node(&node, OFlags::WRONLY)?, t.size)?,
            }
        }
        if t.valid & (setattr::ATIME | setattr::MTIME) != 0 {
            let time = |set: u32, given: u32, sec: u64, nsec: u64| -> Result<Timespec, Errno> {
                Ok(if t.valid & set == 0 {
                    Timespec { tv_sec: 0, tv_nsec: UTIME_OMIT }
                } else if t.valid & given == 0 {
                    Timespec { tv_sec: 0, tv_nsec: UTIME_NOW }
                } else {
                    Timespec {
                        tv_sec: i64::try_from(sec).map_err(|_| Errno::INVAL)?,
                        tv_nsec: i64::try_from(nsec).map_err(|_| Errno::INVAL)?,
                    }
                })
            };
            let times = Timestamps {
                last_access: time(setattr::ATIME, setattr::ATIME_SET, t.atime_sec, t.atime_nsec)?,
                last_modification: time(setattr::MTIME, setattr::MTIME_SET, t.mtime_sec, t.mtime_nsec)?,
            };
            rustix::fs::utimensat(node.fd.as_fd(), "", &times, AtFlags::EMPTY_PATH | AtFlags::SYMLINK_NOFOLLOW)?;
        }
        Ok(Rsetattr {})
    }

    pub(crate) fn statfs(&mut self, t: &Tstatfs) -> Result<Rstatfs, Errno> {
        let node = self.node(t.fid)?;
        let fs = rustix::fs::fstatfs(node.fd.as_fd())?;
        let vfs = rustix::fs::fstatvfs(node.fd.as_fd())?;
        let u32_of = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
        Ok(Rstatfs {
            ty: u32_of(fs.f_type),
            bsize: u32_of(fs.f_bsize),
            blocks: fs.f_blocks,
            bfree: fs.f_bfree,
            bavail: fs.f_bavail,
            files: fs.f_files,
            ffree: fs.f_ffree,
            fsid: vfs.f_fsid,
            namelen: u32_of(fs.f_namelen),
        })
    }
}
