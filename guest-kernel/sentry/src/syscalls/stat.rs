//! stat, lstat, fstat, newfstatat, statx.

use super::file::{base_location, path_arg};
use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::kernel::fd::File;
use crate::kernel::{Kernel, Task};
use crate::platform::Platform;
use crate::vfs::Stat;
use abi::linux::Timespec;

pub(super) const AT_EMPTY_PATH: u32 = 0x1000;
pub(super) const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
const AT_NO_AUTOMOUNT: u32 = 0x800;
const AT_STATX_SYNC_TYPE: u32 = 0x6000;
/// STATX_BASIC_STATS: type, mode, nlink, uid, gid, atime, mtime, ctime, ino, size, blocks.
const STATX_BASIC_STATS: u32 = 0x7ff;

/// The attributes of an open file.
pub(crate) fn file_stat<P: Platform>(k: &Kernel<P>, file: &File) -> Result<Stat, SysError> {
    match file {
        File::Vfs(f) => f.node.stat(),
        File::Pipe(p) if p.fifo.is_some() => p.fifo.as_ref().map_or(Err(SysError::ebadf("no node")), |n| n.stat()),
        File::Socket(s) => Ok(Stat::kernel_object(crate::vfs::SOCKFS_DEV, s.id, crate::vfs::mode::S_IFSOCK | 0o777)),
        File::Event(e) => Ok(e.stat()),
        File::Pipe(p) => Ok(Stat::kernel_object(crate::vfs::PIPEFS_DEV, p.id(), 0o010600)),
        File::Tty(f) => {
            let (dev, ino) = f.ident();
            let mode = if f.master || f.tty.is_console() { 0o600 } else { 0o620 };
            let mut st = Stat::kernel_object(dev, ino, crate::vfs::mode::S_IFCHR | mode);
            st.rdev = f.rdev();
            st.blksize = 1024;
            Ok(st)
        }
        File::HostStdio { host_fd, .. } | File::HostTty { read_fd: host_fd, .. } => {
            let s = k.params.stdio.get(*host_fd as usize).copied().unwrap_or_default();
            // A stream's size and times are not known to the sandbox.
            Ok(Stat {
                dev: s.dev,
                ino: s.ino,
                mode: s.mode,
                nlink: 1,
                uid: s.uid,
                gid: s.gid,
                rdev: s.rdev,
                size: 0,
                blksize: s.blksize,
                blocks: 0,
                atime: Timespec::default(),
                mtime: Timespec::default(),
                ctime: Timespec::default(),
            })
        }
    }
}

/// Resolves `(dirfd, path, flags)` as the *at syscalls do and stats it.
fn stat_at<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    dirfd: i32,
    path_addr: u64,
    flags: u32,
) -> Result<Stat, SysError> {
    let path = t.mm.lock().read_cstr(&mut k.frames, path_addr, crate::vfs::path::PATH_MAX)?;
    if path.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(SysError::new(abi::linux::errno::ENOENT, "empty path"));
        }
        let file = t.file(dirfd)?;
        return file_stat(k, &file);
    }
    let base = base_location(t, dirfd, &path)?;
    let loc = t.fs().resolve(&base, &path, flags & AT_SYMLINK_NOFOLLOW == 0)?;
    loc.node().stat()
}

/// Implements Linux `stat(2)`.
pub fn sys_stat<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let path = path_arg(k, t, a.u64(0))?;
    let loc = t.fs().resolve(&t.fs().cwd, &path, true)?;
    let st = loc.node().stat()?;
    t.mm.lock().copy_out(&mut k.frames, a.u64(1), &st.to_bytes())?;
    Ok(0)
}

/// Implements Linux `lstat(2)`.
pub fn sys_lstat<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let path = path_arg(k, t, a.u64(0))?;
    let loc = t.fs().resolve(&t.fs().cwd, &path, false)?;
    let st = loc.node().stat()?;
    t.mm.lock().copy_out(&mut k.frames, a.u64(1), &st.to_bytes())?;
    Ok(0)
}

/// Implements Linux `fstat(2)`.
pub fn sys_fstat<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let file = t.file(a.fd(0))?;
    let st = file_stat(k, &file)?;
    t.mm.lock().copy_out(&mut k.frames, a.u64(1), &st.to_bytes())?;
    Ok(0)
}

/// Implements Linux `newfstatat(2)`.
pub fn sys_newfstatat<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let flags = a.uint(3);
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT) != 0 {
        return Err(SysError::einval("unknown flags"));
    }
    let st = stat_at(k, t, a.fd(0), a.u64(1), flags)?;
    t.mm.lock().copy_out(&mut k.frames, a.u64(2), &st.to_bytes())?;
    Ok(0)
}

/// Linux's `new_decode_dev`: (major, minor).
fn decode_dev(dev: u64) -> (u32, u32) {
    let major = (dev & 0xfff00) >> 8;
    let minor = (dev & 0xff) | ((dev >> 12) & 0xfff00);
    (u32::try_from(major).unwrap_or(0), u32::try_from(minor).unwrap_or(0))
}

/// Implements Linux `statx(2)` with the basic statistics.
pub fn sys_statx<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let flags = a.uint(2);
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE) != 0 {
        return Err(SysError::einval("unknown flags"));
    }
    if a.uint(3) & 0x8000_0000 != 0 {
        return Err(SysError::einval("reserved mask bit"));
    }
    let st = stat_at(k, t, a.fd(0), a.u64(1), flags)?;
    let mut b = [0u8; 256];
    let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
    put(0, &STATX_BASIC_STATS.to_le_bytes());
    put(4, &u32::try_from(st.blksize).unwrap_or(4096).to_le_bytes());
    put(16, &u32::try_from(st.nlink).unwrap_or(u32::MAX).to_le_bytes());
    put(20, &st.uid.to_le_bytes());
    put(24, &st.gid.to_le_bytes());
    put(28, &u16::try_from(st.mode & 0xffff).unwrap_or(0).to_le_bytes());
    put(32, &st.ino.to_le_bytes());
    put(40, &st.size.to_le_bytes());
    put(48, &st.blocks.to_le_bytes());
    for (off, ts) in [(64, st.atime), (96, st.ctime), (112, st.mtime)] {
        put(off, &ts.tv_sec.to_le_bytes());
        put(off + 8, &u32::try_from(ts.tv_nsec).unwrap_or(0).to_le_bytes());
    }
    let (rmaj, rmin) = decode_dev(st.rdev);
    let (dmaj, dmin) = decode_dev(st.dev);
    put(128, &rmaj.to_le_bytes());
    put(132, &rmin.to_le_bytes());
    put(136, &dmaj.to_le_bytes());
    put(140, &dmin.to_le_bytes());
    t.mm.lock().copy_out(&mut k.frames, a.u64(4), &b)?;
    Ok(0)
}
