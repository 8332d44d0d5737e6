//! Path and file syscalls: open, lseek, getdents64, mkdir, unlink, rename,
//! symlink, readlink, link, chmod, chown, utimensat, truncate, fsync,
//! statfs, getcwd, chdir, access.
//!
//! Permissions are checked as Linux does (see [`crate::vfs::perm`]): the
//! path walk checks search permission with the thread's credentials, the
//! calls here what each operation needs.

use alloc::sync::Arc;
use alloc::vec::Vec;

use super::stat::{AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW};
use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::kernel::fd::File;
use crate::kernel::{Kernel, Task};
use crate::platform::{AddressSpace, Platform};
use crate::time::coarse_now;
use crate::vfs::file::{flags::*, OpenFile};
use crate::vfs::path::{Location, Restrict, PATH_MAX};
use crate::vfs::perm::{self, MAY_EXEC, MAY_WRITE};
use crate::vfs::{check_name, FileType, SetAttr};
use abi::linux::{errno, Timespec};

/// `dirfd` meaning the working directory.
pub const AT_FDCWD: i32 = -100;
const AT_REMOVEDIR: u32 = 0x200;
const AT_SYMLINK_FOLLOW: u32 = 0x400;
const AT_EACCESS: u32 = 0x200;

/// Reads a path argument (ENOENT if empty).
pub(super) fn path_arg<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    addr: u64,
) -> Result<Vec<u8>, SysError> {
    let p = t.mm.lock().read_cstr(&mut k.frames, addr, PATH_MAX)?;
    if p.is_empty() {
        return Err(SysError::new(errno::ENOENT, "empty path"));
    }
    Ok(p)
}

/// Where a `*at` path starts: the root for absolute paths, else the
/// working directory or the directory open at `dirfd`.
pub(super) fn base_location<A: AddressSpace>(t: &Task<A>, dirfd: i32, path: &[u8]) -> Result<Location, SysError> {
    if path.first() == Some(&b'/') || dirfd == AT_FDCWD {
        return Ok(t.fs().cwd.clone());
    }
    match t.file(dirfd)? {
        File::Vfs(f) if f.node.stat()?.file_type() == Some(FileType::Directory) => Ok(f.loc.clone()),
        _ => Err(SysError::new(errno::ENOTDIR, "dirfd is not a directory")),
    }
}

fn do_open<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    dirfd: i32,
    path_addr: u64,
    flags: u32,
    mode: u32,
) -> SysResult {
    let path = path_arg(k, t, path_addr)?;
    let base = base_location(t, dirfd, &path)?;
    open_at(k, t, base, &path, flags, mode, Restrict::default())
}

/// Opens `path` from `base` with `flags` under `restrict`.
fn open_at<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    base: Location,
    path: &[u8],
    flags: u32,
    mode: u32,
    restrict: Restrict,
) -> SysResult {
    if flags & O_TMPFILE == O_TMPFILE {
        return Err(SysError::new(errno::EOPNOTSUPP, "O_TMPFILE not supported"));
    }
    let follow = flags & O_NOFOLLOW == 0;
    // A file this open creates is not checked against its own mode.
    let mut created = false;
    let loc = if flags & O_CREAT != 0 {
        let (dir, name) = t.fs().resolve_parent_restricted(&base, path, restrict)?;
        if name.is_empty() || name == b"." || name == b".." || path.ends_with(b"/") {
            return Err(SysError::new(errno::EISDIR, "cannot create a directory with open"));
        }
        match t.fs().resolve_restricted(&dir, &name, follow, restrict) {
            Ok(_) if flags & O_EXCL != 0 => return Err(SysError::new(errno::EEXIST, "file exists")),
            Ok(loc) => loc,
            Err(e) if e.errno == errno::ENOENT => {
                check_name(&name)?;
                let asked = mode & !t.umask & 0o7777;
                let owner = perm::may_create(&t.creds, dir.node(), &name, FileType::Regular, asked)?;
                let node = dir.node().create(&name, FileType::Regular, owner.2, 0)?;
                perm::adopt(&node, owner, owner.2)?;
                created = true;
                dir.child(&name, node)
            }
            Err(e) => return Err(e),
        }
    } else {
        t.fs().resolve_restricted(&base, path, follow, restrict)?
    };
    let st = loc.node().stat()?;
    let kind = st.file_type();
    if flags & O_PATH == 0 {
        if kind == Some(FileType::Symlink) {
            return Err(SysError::new(errno::ELOOP, "O_NOFOLLOW on a symlink"));
        }
        if kind == Some(FileType::Directory) && (flags & O_ACCMODE != O_RDONLY || flags & O_CREAT != 0) {
            return Err(SysError::new(errno::EISDIR, "is a directory"));
        }
        if !created {
            perm::may_open(&t.creds, &st, flags)?;
        }
        if flags & O_TRUNC != 0 && kind == Some(FileType::Regular) && flags & O_ACCMODE != O_RDONLY {
            loc.node().setattr(&SetAttr { size: Some(0), ..SetAttr::default() })?;
        }
    }
    if flags & O_DIRECTORY != 0 && kind != Some(FileType::Directory) {
        return Err(SysError::new(errno::ENOTDIR, "not a directory"));
    }
    let keep = flags & !(O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_CLOEXEC);
    // /proc first: an fd link there opens the very file it names (a pipe
    // end is not a FIFO to wait on).
    if let Some(file) = crate::fs::proc::open(k, t, &loc, keep)? {
        let limit = t.fd_limit();
        return t.fds.lock().install(file, 0, limit, flags & O_CLOEXEC != 0).map(|fd| fd.unsigned_abs().into());
    }
    if kind == Some(FileType::CharDevice) && flags & O_PATH == 0 {
        if let Some(file) = super::tty::open_device(k, t, st.rdev, flags) {
            let limit = t.fd_limit();
            return t.fds.lock().install(file?, 0, limit, flags & O_CLOEXEC != 0).map(|fd| fd.unsigned_abs().into());
        }
    }
    if kind == Some(FileType::CharDevice) && st.rdev == crate::fs::dev::TTY && flags & O_PATH == 0 {
        let file = host_tty(t.fds.lock().tty_mask())?;
        let limit = t.fd_limit();
        return t.fds.lock().install(file, 0, limit, flags & O_CLOEXEC != 0).map(|fd| fd.unsigned_abs().into());
    }
    if kind == Some(FileType::Fifo) && flags & O_PATH == 0 {
        return open_fifo(t, loc.node(), flags);
    }
    let file = File::Vfs(Arc::new(OpenFile::new(loc, keep)));
    let limit = t.fd_limit();
    t.fds.lock().install(file, 0, limit, flags & O_CLOEXEC != 0).map(|fd| fd.unsigned_abs().into())
}

/// Opens a FIFO as a pipe end, waiting for the other side as Linux does.
fn open_fifo<A: AddressSpace>(t: &mut Task<A>, node: &crate::vfs::InodeRef, flags: u32) -> SysResult {
    use crate::fs::fifo::{self, Opened};
    match fifo::open(node, flags, t.tid)? {
        Opened::End(end) => {
            let limit = t.fd_limit();
            t.fds.lock().install(File::Pipe(end), 0, limit, flags & O_CLOEXEC != 0).map(|fd| fd.unsigned_abs().into())
        }
        Opened::Wait(id) => {
            t.wait_on(crate::kernel::task::WaitKey::Io(id));
            Err(SysError::block())
        }
    }
}

/// `/dev/tty` as the host terminal: read through stdin and written through
/// the first of stdout/stderr that is a terminal. Without one, ENXIO, as for
/// a process with no controlling terminal.
fn host_tty(tty_mask: u32) -> Result<File, SysError> {
    let write_fd = [1u32, 2].into_iter().find(|&fd| tty_mask & (1 << fd) != 0);
    match (tty_mask & 1 != 0, write_fd) {
        (true, Some(write_fd)) => Ok(File::HostTty { read_fd: 0, write_fd }),
        _ => Err(SysError::new(errno::ENXIO, "no controlling terminal")),
    }
}

/// Implements Linux `open(2)`.
pub fn sys_open<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_open(k, t, AT_FDCWD, a.u64(0), a.uint(1), a.uint(2))
}

/// Implements Linux `openat(2)`.
pub fn sys_openat<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_open(k, t, a.fd(0), a.u64(1), a.uint(2), a.uint(3))
}

const RESOLVE_NO_XDEV: u64 = 0x01;
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_NO_SYMLINKS: u64 = 0x04;
const RESOLVE_BENEATH: u64 = 0x08;
const RESOLVE_IN_ROOT: u64 = 0x10;
const RESOLVE_CACHED: u64 = 0x20;
/// Every `open(2)` flag Linux knows (VALID_OPEN_FLAGS).
const VALID_OPEN_FLAGS: u64 = 0o37_777_703;

/// Implements Linux `openat2(2)`. The sandbox has no magic links, so
/// RESOLVE_NO_MAGICLINKS holds trivially; RESOLVE_CACHED lookups are
/// always allowed to proceed.
pub fn sys_openat2<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let size = a.u64(3);
    if size < 24 {
        return Err(SysError::einval("open_how too small"));
    }
    if size > 4096 {
        return Err(SysError::new(errno::E2BIG, "open_how too large"));
    }
    let mut how = alloc::vec![0u8; usize::try_from(size).unwrap_or(24)];
    t.mm.lock().copy_in(&mut k.frames, a.u64(2), &mut how)?;
    if how[24..].iter().any(|&b| b != 0) {
        return Err(SysError::new(errno::E2BIG, "unknown open_how fields set"));
    }
    let word = |i: usize| {
        u64::from_le_bytes([how[i], how[i + 1], how[i + 2], how[i + 3], how[i + 4], how[i + 5], how[i + 6], how[i + 7]])
    };
    let (flags, mode, resolve) = (word(0), word(8), word(16));
    if flags & !VALID_OPEN_FLAGS != 0 {
        return Err(SysError::einval("unknown open flags"));
    }
    let flags = u32::try_from(flags).map_err(|_| SysError::einval("unknown open flags"))?;
    let creating = flags & O_CREAT != 0 || flags & O_TMPFILE == O_TMPFILE;
    if mode & !0o7777 != 0 || (!creating && mode != 0) {
        return Err(SysError::einval("mode without O_CREAT or with unknown bits"));
    }
    let all = RESOLVE_NO_XDEV
        | RESOLVE_NO_MAGICLINKS
        | RESOLVE_NO_SYMLINKS
        | RESOLVE_BENEATH
        | RESOLVE_IN_ROOT
        | RESOLVE_CACHED;
    if resolve & !all != 0 || (resolve & RESOLVE_BENEATH != 0 && resolve & RESOLVE_IN_ROOT != 0) {
        return Err(SysError::einval("bad resolve flags"));
    }
    let restrict = Restrict {
        no_symlinks: resolve & RESOLVE_NO_SYMLINKS != 0,
        beneath: resolve & RESOLVE_BENEATH != 0,
        in_root: resolve & RESOLVE_IN_ROOT != 0,
        no_xdev: resolve & RESOLVE_NO_XDEV != 0,
    };
    let path = path_arg(k, t, a.u64(1))?;
    let dirfd = a.fd(0);
    // BENEATH and IN_ROOT work from dirfd even for an absolute path.
    let base = if (restrict.beneath || restrict.in_root) && path.first() == Some(&b'/') {
        base_location(t, dirfd, b".")?
    } else {
        base_location(t, dirfd, &path)?
    };
    open_at(k, t, base, &path, flags, u32::try_from(mode).unwrap_or(0), restrict)
}

/// Implements Linux `creat(2)`.
pub fn sys_creat<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_open(k, t, AT_FDCWD, a.u64(0), O_CREAT | O_WRONLY | O_TRUNC, a.uint(1))
}

/// Implements Linux `lseek(2)`.
pub fn sys_lseek<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    match t.file(a.fd(0))? {
        File::Vfs(f) => f.seek(a.u64(1).cast_signed(), a.uint(2)),
        File::HostStdio { .. }
        | File::HostTty { .. }
        | File::Pipe(_)
        | File::Socket(_)
        | File::Event(_)
        | File::Tty(_) => Err(SysError::new(errno::ESPIPE, "stream is not seekable")),
    }
}

/// Implements Linux `getdents64(2)`.
pub fn sys_getdents64<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let File::Vfs(f) = t.file(a.fd(0))? else {
        return Err(SysError::new(errno::ENOTDIR, "not a directory"));
    };
    let max = usize::try_from(a.u64(2).min(1 << 20)).unwrap_or(0);
    let out = f.getdents(max)?;
    t.mm.lock().copy_out(&mut k.frames, a.u64(1), &out)?;
    Ok(out.len() as u64)
}

fn do_mkdir<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    dirfd: i32,
    path_addr: u64,
    mode: u32,
) -> SysResult {
    let path = path_arg(k, t, path_addr)?;
    let base = base_location(t, dirfd, &path)?;
    let (dir, name) = t.fs().resolve_parent(&base, &path)?;
    new_entry_name(&name)?;
    let asked = mode & !t.umask & 0o7777;
    let owner = perm::may_create(&t.creds, dir.node(), &name, FileType::Directory, asked)?;
    let node = dir.node().mkdir(&name, asked)?;
    perm::adopt(&node, owner, asked).map(|()| 0)
}

/// Implements Linux `mkdir(2)`.
pub fn sys_mkdir<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_mkdir(k, t, AT_FDCWD, a.u64(0), a.uint(1))
}

/// Implements Linux `mkdirat(2)`.
pub fn sys_mkdirat<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_mkdir(k, t, a.fd(0), a.u64(1), a.uint(2))
}

fn do_unlink<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    dirfd: i32,
    path_addr: u64,
    rmdir: bool,
) -> SysResult {
    let path = path_arg(k, t, path_addr)?;
    let base = base_location(t, dirfd, &path)?;
    let (dir, name) = t.fs().resolve_parent(&base, &path)?;
    match name.as_slice() {
        b"" => return Err(SysError::new(errno::EBUSY, "cannot remove the root")),
        b"." if rmdir => return Err(SysError::einval("cannot remove '.'")),
        b".." if rmdir => return Err(SysError::new(errno::ENOTEMPTY, "cannot remove '..'")),
        b"." | b".." => return Err(SysError::new(errno::EISDIR, "is a directory")),
        _ => {}
    }
    if !rmdir && path.ends_with(b"/") {
        return Err(SysError::new(errno::ENOTDIR, "trailing slash"));
    }
    perm::may_delete(&t.creds, dir.node(), &name)?;
    dir.node().unlink(&name, rmdir).map(|()| 0)
}

/// Implements Linux `unlink(2)`.
pub fn sys_unlink<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_unlink(k, t, AT_FDCWD, a.u64(0), false)
}

/// Implements Linux `rmdir(2)`.
pub fn sys_rmdir<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_unlink(k, t, AT_FDCWD, a.u64(0), true)
}

/// Implements Linux `unlinkat(2)`.
pub fn sys_unlinkat<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let flags = a.uint(2);
    if flags & !AT_REMOVEDIR != 0 {
        return Err(SysError::einval("unknown flags"));
    }
    do_unlink(k, t, a.fd(0), a.u64(1), flags & AT_REMOVEDIR != 0)
}

/// Checks the last component of a path that is to be created: the root,
/// "." and ".." always exist (EEXIST), then the usual name rules.
pub(super) fn new_entry_name(name: &[u8]) -> Result<(), SysError> {
    if name.is_empty() || name == b"." || name == b".." {
        return Err(SysError::new(errno::EEXIST, "file exists"));
    }
    check_name(name)
}

const RENAME_NOREPLACE: u32 = 1;

fn do_rename<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    (olddirfd, old_addr): (i32, u64),
    (newdirfd, new_addr): (i32, u64),
    flags: u32,
) -> SysResult {
    if flags & !RENAME_NOREPLACE != 0 {
        return Err(SysError::einval("only RENAME_NOREPLACE is supported"));
    }
    let old = path_arg(k, t, old_addr)?;
    let new = path_arg(k, t, new_addr)?;
    let (odir, oname) = t.fs().resolve_parent(&base_location(t, olddirfd, &old)?, &old)?;
    let (ndir, nname) = t.fs().resolve_parent(&base_location(t, newdirfd, &new)?, &new)?;
    for n in [&oname, &nname] {
        if n.is_empty() || n == b"." || n == b".." {
            return Err(SysError::new(errno::EBUSY, "cannot rename '.', '..' or the root"));
        }
    }
    let src = odir.node().lookup(&oname)?;
    // A directory cannot move below itself.
    let mut at = ndir.clone();
    loop {
        if Arc::ptr_eq(at.node(), &src) {
            return Err(SysError::einval("cannot move a directory into itself"));
        }
        if at.name().is_empty() {
            break;
        }
        at = at.parent();
    }
    if flags & RENAME_NOREPLACE != 0 && ndir.node().lookup(&nname).is_ok() {
        return Err(SysError::new(errno::EEXIST, "target exists"));
    }
    rename_allowed(t, (&odir, &oname, &src), (&ndir, &nname))?;
    odir.node().rename(&oname, ndir.node(), &nname).map(|()| 0)
}

/// Linux's rename checks: deleting the source; deleting the target if it
/// exists, else creating it; and a directory moving to another parent must
/// be writable (its ".." changes).
fn rename_allowed<A: AddressSpace>(
    t: &Task<A>,
    (odir, oname, src): (&Location, &[u8], &crate::vfs::InodeRef),
    (ndir, nname): (&Location, &[u8]),
) -> Result<(), SysError> {
    perm::may_delete(&t.creds, odir.node(), oname)?;
    match ndir.node().lookup(nname) {
        Ok(_) => perm::may_delete(&t.creds, ndir.node(), nname)?,
        Err(_) => {
            perm::may_create(&t.creds, ndir.node(), nname, FileType::Regular, 0)?;
        }
    }
    if !Arc::ptr_eq(odir.node(), ndir.node()) && src.file_kind()? == Some(FileType::Directory) {
        perm::check_node(&t.creds, src, MAY_WRITE)?;
    }
    Ok(())
}

/// Implements Linux `rename(2)`.
pub fn sys_rename<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_rename(k, t, (AT_FDCWD, a.u64(0)), (AT_FDCWD, a.u64(1)), 0)
}

/// Implements Linux `renameat(2)`.
pub fn sys_renameat<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_rename(k, t, (a.fd(0), a.u64(1)), (a.fd(2), a.u64(3)), 0)
}

/// Implements Linux `renameat2(2)` (RENAME_NOREPLACE; not RENAME_EXCHANGE or RENAME_WHITEOUT).
pub fn sys_renameat2<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_rename(k, t, (a.fd(0), a.u64(1)), (a.fd(2), a.u64(3)), a.uint(4))
}

fn do_symlink<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    target_addr: u64,
    dirfd: i32,
    path_addr: u64,
) -> SysResult {
    let target = path_arg(k, t, target_addr)?;
    let path = path_arg(k, t, path_addr)?;
    let (dir, name) = t.fs().resolve_parent(&base_location(t, dirfd, &path)?, &path)?;
    new_entry_name(&name)?;
    let owner = perm::may_create(&t.creds, dir.node(), &name, FileType::Symlink, 0o777)?;
    let node = dir.node().symlink(&name, &target)?;
    perm::adopt(&node, owner, 0o777).map(|()| 0)
}

/// Implements Linux `symlink(2)`.
pub fn sys_symlink<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_symlink(k, t, a.u64(0), AT_FDCWD, a.u64(1))
}

/// Implements Linux `symlinkat(2)`.
pub fn sys_symlinkat<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_symlink(k, t, a.u64(0), a.fd(1), a.u64(2))
}

fn do_readlink<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    dirfd: i32,
    path_addr: u64,
    buf: u64,
    size: u64,
) -> SysResult {
    if size == 0 || size > i32::MAX as u64 {
        return Err(SysError::einval("bad buffer size"));
    }
    let path = path_arg(k, t, path_addr)?;
    let loc = t.fs().resolve(&base_location(t, dirfd, &path)?, &path, false)?;
    let target = loc.node().readlink()?;
    let n = target.len().min(usize::try_from(size).unwrap_or(usize::MAX));
    t.mm.lock().copy_out(&mut k.frames, buf, &target[..n])?;
    Ok(n as u64)
}

/// Implements Linux `readlink(2)`.
pub fn sys_readlink<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_readlink(k, t, AT_FDCWD, a.u64(0), a.u64(1), a.u64(2))
}

/// Implements Linux `readlinkat(2)`.
pub fn sys_readlinkat<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_readlink(k, t, a.fd(0), a.u64(1), a.u64(2), a.u64(3))
}

fn do_link<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    (olddirfd, old_addr): (i32, u64),
    (newdirfd, new_addr): (i32, u64),
    flags: u32,
) -> SysResult {
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(SysError::einval("unknown flags"));
    }
    let old = path_arg(k, t, old_addr)?;
    let new = path_arg(k, t, new_addr)?;
    let src = t.fs().resolve(&base_location(t, olddirfd, &old)?, &old, flags & AT_SYMLINK_FOLLOW != 0)?;
    let (dir, name) = t.fs().resolve_parent(&base_location(t, newdirfd, &new)?, &new)?;
    new_entry_name(&name)?;
    perm::may_create(&t.creds, dir.node(), &name, FileType::Regular, 0)?;
    perm::may_link(&t.creds, src.node())?;
    dir.node().link(&name, src.node()).map(|()| 0)
}

/// Implements Linux `link(2)`.
pub fn sys_link<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_link(k, t, (AT_FDCWD, a.u64(0)), (AT_FDCWD, a.u64(1)), 0)
}

/// Implements Linux `linkat(2)`.
pub fn sys_linkat<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_link(k, t, (a.fd(0), a.u64(1)), (a.fd(2), a.u64(3)), a.uint(4))
}

/// The node named by `(dirfd, path)`, or the open file when `path` is
/// empty and `AT_EMPTY_PATH` is set.
fn node_at<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    dirfd: i32,
    path_addr: u64,
    flags: u32,
) -> Result<crate::vfs::InodeRef, SysError> {
    let fs = t.fs();
    node_in(k, t, &fs, dirfd, path_addr, flags)
}

/// [`node_at`] resolved in `fs` (whose credentials the walk checks).
fn node_in<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    fs: &crate::vfs::path::FsContext,
    dirfd: i32,
    path_addr: u64,
    flags: u32,
) -> Result<crate::vfs::InodeRef, SysError> {
    let path = t.mm.lock().read_cstr(&mut k.frames, path_addr, PATH_MAX)?;
    if path.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(SysError::new(errno::ENOENT, "empty path"));
        }
        return fd_node(t, dirfd);
    }
    let loc = fs.resolve(&base_location(t, dirfd, &path)?, &path, flags & AT_SYMLINK_NOFOLLOW == 0)?;
    Ok(Arc::clone(loc.node()))
}

fn fd_node<A: AddressSpace>(t: &Task<A>, fd: i32) -> Result<crate::vfs::InodeRef, SysError> {
    match t.file(fd)? {
        File::Vfs(f) => Ok(Arc::clone(&f.node)),
        File::HostStdio { .. }
        | File::HostTty { .. }
        | File::Pipe(_)
        | File::Socket(_)
        | File::Event(_)
        | File::Tty(_) => Err(SysError::new(errno::EPERM, "attributes of a stream cannot change")),
    }
}

fn set_mode<A: AddressSpace>(t: &Task<A>, node: &crate::vfs::InodeRef, mode: u32) -> SysResult {
    let mode = perm::chmod(&t.creds, &node.stat()?, mode)?;
    node.setattr(&SetAttr { mode: Some(mode), ..SetAttr::default() }).map(|()| 0)
}

/// Implements Linux `chmod(2)`.
pub fn sys_chmod<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let node = node_at(k, t, AT_FDCWD, a.u64(0), 0)?;
    set_mode(t, &node, a.uint(1))
}

/// Implements Linux `fchmod(2)`.
pub fn sys_fchmod<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    set_mode(t, &fd_node(t, a.fd(0))?, a.uint(1))
}

/// Implements Linux `fchmodat(2)`.
pub fn sys_fchmodat<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let node = node_at(k, t, a.fd(0), a.u64(1), 0)?;
    set_mode(t, &node, a.uint(2))
}

fn set_owner<A: AddressSpace>(t: &Task<A>, node: &crate::vfs::InodeRef, uid: u32, gid: u32) -> SysResult {
    let (uid, gid) = ((uid != u32::MAX).then_some(uid), (gid != u32::MAX).then_some(gid));
    let attr = perm::chown(&t.creds, &node.stat()?, uid, gid)?;
    if attr == SetAttr::default() {
        return Ok(0);
    }
    node.setattr(&attr).map(|()| 0)
}

/// Implements Linux `chown(2)`.
pub fn sys_chown<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let node = node_at(k, t, AT_FDCWD, a.u64(0), 0)?;
    set_owner(t, &node, a.uint(1), a.uint(2))
}

/// Implements Linux `lchown(2)`.
pub fn sys_lchown<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let node = node_at(k, t, AT_FDCWD, a.u64(0), AT_SYMLINK_NOFOLLOW)?;
    set_owner(t, &node, a.uint(1), a.uint(2))
}

/// Implements Linux `fchown(2)`.
pub fn sys_fchown<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    set_owner(t, &fd_node(t, a.fd(0))?, a.uint(1), a.uint(2))
}

/// Implements Linux `fchownat(2)`.
pub fn sys_fchownat<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let flags = a.uint(4);
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(SysError::einval("unknown flags"));
    }
    let node = node_at(k, t, a.fd(0), a.u64(1), flags)?;
    set_owner(t, &node, a.uint(2), a.uint(3))
}

const UTIME_NOW: i64 = (1 << 30) - 1;
const UTIME_OMIT: i64 = (1 << 30) - 2;

/// Implements Linux `utimensat(2)` (and futimens with a NULL path).
pub fn sys_utimensat<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let flags = a.uint(3);
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(SysError::einval("unknown flags"));
    }
    let node = if a.u64(1) == 0 { fd_node(t, a.fd(0))? } else { node_at(k, t, a.fd(0), a.u64(1), flags)? };
    let now = coarse_now();
    // Whether a time is explicit (EPERM for non-owners) and whether both are
    // "now" (allowed to whoever may write).
    let (mut explicit, mut touch) = (false, true);
    let (atime, mtime) = if a.u64(2) == 0 {
        (Some(now), Some(now))
    } else {
        let mut b = [0u8; 32];
        t.mm.lock().copy_in(&mut k.frames, a.u64(2), &mut b)?;
        let word =
            |i: usize| i64::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3], b[i + 4], b[i + 5], b[i + 6], b[i + 7]]);
        let pick = |sec: i64, nsec: i64| -> Result<Option<Timespec>, SysError> {
            match nsec {
                UTIME_NOW => Ok(Some(now)),
                UTIME_OMIT => Ok(None),
                0..=999_999_999 => Ok(Some(Timespec { tv_sec: sec, tv_nsec: nsec })),
                _ => Err(SysError::einval("bad tv_nsec")),
            }
        };
        let (an, mn) = (word(8), word(24));
        explicit = an != UTIME_NOW && an != UTIME_OMIT || mn != UTIME_NOW && mn != UTIME_OMIT;
        touch = an == UTIME_NOW && mn == UTIME_NOW;
        (pick(word(0), an)?, pick(word(16), mn)?)
    };
    if atime.is_none() && mtime.is_none() {
        return Ok(0);
    }
    perm::utimes(&t.creds, &node.stat()?, explicit, touch)?;
    node.setattr(&SetAttr { atime, mtime, ..SetAttr::default() }).map(|()| 0)
}

/// Truncates `node`; `creds` are checked for write permission (truncate by
/// path), `None` for ftruncate, whose descriptor is open for writing.
fn truncate_node(
    node: &crate::vfs::InodeRef,
    len: u64,
    creds: Option<&crate::kernel::creds::Credentials>,
) -> SysResult {
    if len > i64::MAX as u64 {
        return Err(SysError::einval("negative length"));
    }
    let st = node.stat()?;
    match st.file_type() {
        Some(FileType::Directory) => Err(SysError::new(errno::EISDIR, "is a directory")),
        Some(FileType::Regular) => {
            if let Some(c) = creds {
                perm::check(c, &st, MAY_WRITE)?;
            }
            node.setattr(&SetAttr { size: Some(len), ..SetAttr::default() }).map(|()| 0)
        }
        _ => Err(SysError::einval("not a regular file")),
    }
}

/// Implements Linux `truncate(2)`.
pub fn sys_truncate<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let node = node_at(k, t, AT_FDCWD, a.u64(0), 0)?;
    truncate_node(&node, a.u64(1), Some(&t.creds))
}

/// Implements Linux `ftruncate(2)`.
pub fn sys_ftruncate<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    match t.file(a.fd(0))? {
        File::Vfs(f) if f.writable() => truncate_node(&f.node, a.u64(1), None),
        _ => Err(SysError::einval("not open for writing")),
    }
}

/// Implements Linux `fsync(2)` and `fdatasync(2)`.
pub fn sys_fsync<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    match t.file(a.fd(0))? {
        File::Vfs(f) => f.node.fsync().map(|()| 0),
        File::HostStdio { .. }
        | File::HostTty { .. }
        | File::Pipe(_)
        | File::Socket(_)
        | File::Event(_)
        | File::Tty(_) => Err(SysError::einval("cannot sync a stream")),
    }
}

fn statfs_bytes(s: &crate::vfs::StatFs) -> [u8; 120] {
    let mut b = [0u8; 120];
    for (i, v) in [s.fs_type, s.bsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree].iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
    }
    // f_fsid at 56 stays zero.
    b[64..72].copy_from_slice(&s.namelen.to_le_bytes());
    b[72..80].copy_from_slice(&s.bsize.to_le_bytes());
    b[80..88].copy_from_slice(&s.flags.to_le_bytes());
    b
}

/// Implements Linux `statfs(2)`.
pub fn sys_statfs<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let node = node_at(k, t, AT_FDCWD, a.u64(0), 0)?;
    let s = node.statfs()?;
    t.mm.lock().copy_out(&mut k.frames, a.u64(1), &statfs_bytes(&s))?;
    Ok(0)
}

/// Implements Linux `fstatfs(2)`.
pub fn sys_fstatfs<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let File::Vfs(f) = t.file(a.fd(0))? else {
        return Err(SysError::new(errno::ENOSYS, "statfs of a host stream"));
    };
    let s = f.node.statfs()?;
    t.mm.lock().copy_out(&mut k.frames, a.u64(1), &statfs_bytes(&s))?;
    Ok(0)
}

/// Implements Linux `getcwd(2)`.
pub fn sys_getcwd<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let mut p = t.fs().cwd.path();
    p.push(0);
    if p.len() as u64 > a.u64(1) {
        return Err(SysError::new(errno::ERANGE, "buffer too small"));
    }
    t.mm.lock().copy_out(&mut k.frames, a.u64(0), &p)?;
    Ok(p.len() as u64)
}

/// Implements Linux `chdir(2)`.
pub fn sys_chdir<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    let path = path_arg(k, t, a.u64(0))?;
    let loc = t.fs().resolve(&t.fs().cwd, &path, true)?;
    let st = loc.node().stat()?;
    if st.file_type() != Some(FileType::Directory) {
        return Err(SysError::new(errno::ENOTDIR, "not a directory"));
    }
    perm::check(&t.creds, &st, MAY_EXEC)?;
    t.fs.lock().cwd = loc;
    Ok(0)
}

/// Implements Linux `fchdir(2)`.
pub fn sys_fchdir<P: Platform>(_k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    match t.file(a.fd(0))? {
        File::Vfs(f) if f.node.stat()?.file_type() == Some(FileType::Directory) => {
            perm::check_node(&t.creds, &f.node, MAY_EXEC)?;
            t.fs.lock().cwd = f.loc.clone();
            Ok(0)
        }
        _ => Err(SysError::new(errno::ENOTDIR, "not a directory")),
    }
}

fn do_access<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    dirfd: i32,
    path_addr: u64,
    mode: u32,
    flags: u32,
) -> SysResult {
    if mode & !7 != 0 {
        return Err(SysError::einval("bad mode"));
    }
    if flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(SysError::einval("unknown flags"));
    }
    // access(2) checks with the real ids unless AT_EACCESS, the walk too.
    let creds = if flags & AT_EACCESS != 0 { t.creds.clone() } else { perm::access_creds(&t.creds) };
    let mut fs = t.fs();
    fs.creds = Some(creds.clone());
    let node = node_in(k, t, &fs, dirfd, path_addr, flags)?;
    if mode == 0 {
        return Ok(0);
    }
    perm::check(&creds, &node.stat()?, mode).map(|()| 0)
}

/// Implements Linux `access(2)`.
pub fn sys_access<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_access(k, t, AT_FDCWD, a.u64(0), a.uint(1), 0)
}

/// Implements Linux `faccessat(2)`.
pub fn sys_faccessat<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_access(k, t, a.fd(0), a.u64(1), a.uint(2), 0)
}

/// Implements Linux `faccessat2(2)`.
pub fn sys_faccessat2<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_access(k, t, a.fd(0), a.u64(1), a.uint(2), a.uint(3))
}
