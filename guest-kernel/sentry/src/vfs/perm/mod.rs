//! Discretionary access control: Linux's permission rules for files
//! (fs/namei.c `generic_permission`, `may_open`, `may_create`,
//! `may_delete`, fs/attr.c `setattr_prepare`, capabilities(7)).
//!
//! Every check takes the caller's [`Credentials`]: the filesystem ids
//! (fsuid, fsgid, supplementary groups) and the effective capabilities.
//! A uid 0 without capabilities gets no bypass, as on Linux. Attributes
//! come from [`Inode::stat`], which every filesystem answers from memory
//! once fetched (the gofer caches Rgetattr), so the per-component check of
//! a path walk costs no hostcall after the first and none at all for a
//! caller holding CAP_DAC_OVERRIDE or CAP_DAC_READ_SEARCH.

use super::{mode, FileType, InodeRef, SetAttr, Stat};
use crate::error::SysError;
use crate::kernel::creds::Credentials;
use abi::linux::caps::{CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID};
use abi::linux::errno;

/// Access wanted (the `MAY_*` bits, which are also the `R_OK`/`W_OK`/`X_OK`
/// values of access(2)).
pub const MAY_EXEC: u32 = 1;
pub const MAY_WRITE: u32 = 2;
pub const MAY_READ: u32 = 4;

pub const S_ISUID: u32 = 0o4000;
pub const S_ISGID: u32 = 0o2000;
pub const S_ISVTX: u32 = 0o1000;
const S_IXGRP: u32 = 0o010;
const S_IXUGO: u32 = 0o111;

fn eacces(why: &'static str) -> SysError {
    SysError::new(errno::EACCES, why)
}

fn eperm(why: &'static str) -> SysError {
    SysError::new(errno::EPERM, why)
}

/// Linux's `in_group_p`: the filesystem group or a supplementary one.
pub fn in_group(c: &Credentials, gid: u32) -> bool {
    c.fsgid == gid || c.groups.contains(&gid)
}

/// Whether the caller owns the file or has CAP_FOWNER
/// (`inode_owner_or_capable`).
pub fn owner_or_capable(c: &Credentials, st: &Stat) -> bool {
    c.fsuid == st.uid || c.capable(CAP_FOWNER)
}

/// Whether `c` passes every directory search without looking at it.
fn searches_anything(c: &Credentials) -> bool {
    c.capable(CAP_DAC_OVERRIDE) || c.capable(CAP_DAC_READ_SEARCH)
}

/// Linux's `generic_permission`: `may` (MAY_* bits) on a file with
/// attributes `st`.
pub fn check(c: &Credentials, st: &Stat, may: u32) -> Result<(), SysError> {
    let may = may & (MAY_READ | MAY_WRITE | MAY_EXEC);
    let bits = if c.fsuid == st.uid {
        st.mode >> 6
    } else if in_group(c, st.gid) {
        st.mode >> 3
    } else {
        st.mode
    };
    if may & !bits & 7 == 0 {
        return Ok(());
    }
    if st.file_type() == Some(FileType::Directory) {
        if may & MAY_WRITE == 0 && c.capable(CAP_DAC_READ_SEARCH) {
            return Ok(());
        }
        if c.capable(CAP_DAC_OVERRIDE) {
            return Ok(());
        }
        return Err(eacces("permission denied"));
    }
    // Exec is granted by CAP_DAC_OVERRIDE only when some x bit is set.
    if (may & MAY_EXEC == 0 || st.mode & S_IXUGO != 0) && c.capable(CAP_DAC_OVERRIDE) {
        return Ok(());
    }
    if may == MAY_READ && c.capable(CAP_DAC_READ_SEARCH) {
        return Ok(());
    }
    Err(eacces("permission denied"))
}

/// [`check`] on a node, for callers that have not fetched its attributes.
pub fn check_node(c: &Credentials, node: &InodeRef, may: u32) -> Result<(), SysError> {
    check(c, &node.stat()?, may)
}

/// Search permission on a directory during a path walk. `None` credentials
/// are the kernel's own resolutions (spawning init, mounts): unchecked.
pub fn may_search(c: Option<&Credentials>, dir: &InodeRef) -> Result<(), SysError> {
    match c {
        Some(c) if !searches_anything(c) => check(c, &dir.stat()?, MAY_EXEC),
        _ => Ok(()),
    }
}

/// The access an `open(2)` with `flags` needs (`O_TRUNC` needs write).
pub fn open_access(flags: u32) -> u32 {
    use super::file::flags::*;
    let acc = match flags & O_ACCMODE {
        O_RDONLY => MAY_READ,
        O_WRONLY => MAY_WRITE,
        _ => MAY_READ | MAY_WRITE,
    };
    if flags & O_TRUNC != 0 {
        acc | MAY_WRITE
    } else {
        acc
    }
}

/// Linux's `may_create` for `name` in `dir`: write and search permission
/// on the directory (an existing name is EEXIST first, as Linux looks it
/// up before checking). Returns the new file's owner and mode (see
/// [`new_owner`]) for [`adopt`].
pub fn may_create(
    c: &Credentials,
    dir: &InodeRef,
    name: &[u8],
    kind: FileType,
    perm: u32,
) -> Result<(u32, u32, u32), SysError> {
    let st = dir.stat()?;
    if let Err(e) = check(c, &st, MAY_WRITE | MAY_EXEC) {
        if dir.lookup(name).is_ok() {
            return Err(SysError::new(errno::EEXIST, "file exists"));
        }
        return Err(e);
    }
    Ok(new_owner(c, &st, kind, perm))
}

/// Linux's `check_sticky`: in a sticky directory only the file's owner,
/// the directory's owner or CAP_FOWNER may remove or rename a file.
fn sticky_forbids(c: &Credentials, dir: &Stat, victim: &Stat) -> bool {
    dir.mode & S_ISVTX != 0 && c.fsuid != victim.uid && c.fsuid != dir.uid && !c.capable(CAP_FOWNER)
}

/// Linux's `may_delete` for `name` in `dir` (unlink, rmdir, rename): a
/// missing name is ENOENT first, then write and search permission on the
/// directory and its sticky bit. Callers with CAP_DAC_OVERRIDE and
/// CAP_FOWNER pass without a lookup.
pub fn may_delete(c: &Credentials, dir: &InodeRef, name: &[u8]) -> Result<(), SysError> {
    if c.capable(CAP_DAC_OVERRIDE) && c.capable(CAP_FOWNER) {
        return Ok(());
    }
    let victim = dir.lookup(name)?;
    let dst = dir.stat()?;
    check(c, &dst, MAY_WRITE | MAY_EXEC)?;
    if sticky_forbids(c, &dst, &victim.stat()?) {
        return Err(eperm("sticky directory: not the owner"));
    }
    Ok(())
}

/// Linux's `may_linkat` with `fs.protected_hardlinks = 1` (the default of
/// every distribution): a non-owner may link only to a regular file it can
/// read and write that is not set-id, unless it has CAP_FOWNER.
pub fn may_link(c: &Credentials, src: &InodeRef) -> Result<(), SysError> {
    if c.capable(CAP_FOWNER) {
        return Ok(());
    }
    let st = src.stat()?;
    if c.fsuid == st.uid {
        return Ok(());
    }
    let safe = st.file_type() == Some(FileType::Regular)
        && st.mode & S_ISUID == 0
        && st.mode & (S_ISGID | S_IXGRP) != (S_ISGID | S_IXGRP)
        && check(c, &st, MAY_READ | MAY_WRITE).is_ok();
    if safe {
        Ok(())
    } else {
        Err(eperm("hard link to a file the caller may not read and write"))
    }
}

/// Linux's `may_open` after resolution (EISDIR and ELOOP are the
/// caller's): the access `flags` ask for, unless the file was just
/// created by this open.
pub fn may_open(c: &Credentials, st: &Stat, flags: u32) -> Result<(), SysError> {
    check(c, st, open_access(flags))
}

/// Exec permission: a regular file with execute permission.
pub fn may_exec(c: &Credentials, st: &Stat) -> Result<(), SysError> {
    if st.file_type() != Some(FileType::Regular) {
        return Err(eacces("not a regular file"));
    }
    check(c, st, MAY_EXEC)
}

/// The credentials access(2) checks with: the real ids as filesystem ids,
/// and the permitted capabilities only when the real uid is 0.
pub fn access_creds(c: &Credentials) -> Credentials {
    let mut a = c.clone();
    a.fsuid = c.ruid;
    a.fsgid = c.rgid;
    a.effective = if c.ruid == 0 { c.permitted } else { 0 };
    a
}

/// The owner and the mode of a new file created with permission `perm` in a
/// directory with attributes `dir` (Linux's `inode_init_owner`): the
/// caller's fsuid, the directory's group when it is set-group-ID (and a new
/// directory inherits that bit), else the caller's fsgid.
pub fn new_owner(c: &Credentials, dir: &Stat, kind: FileType, perm: u32) -> (u32, u32, u32) {
    if dir.mode & S_ISGID == 0 {
        return (c.fsuid, c.fsgid, perm);
    }
    let gid = dir.gid;
    let perm = if kind == FileType::Directory {
        perm | S_ISGID
    } else if perm & (S_ISGID | S_IXGRP) == (S_ISGID | S_IXGRP) && !in_group(c, gid) && !c.capable(CAP_FSETID) {
        perm & !S_ISGID
    } else {
        perm
    };
    (c.fsuid, gid, perm)
}

/// Gives a node just created by the caller its owner: filesystems create
/// as root, so only a caller other than root:root (or a set-group-ID
/// directory) costs an attribute change. On files the gofer serves
/// read-write this is a Tsetattr, which the gofer (running as root)
/// applies on the host: the host file belongs to the container's user, as
/// with runc; on the read-only root's overlay it stays in the tmpfs.
pub fn adopt(node: &InodeRef, (uid, gid, perm): (u32, u32, u32), asked_perm: u32) -> Result<(), SysError> {
    let attr = SetAttr {
        uid: (uid != 0).then_some(uid),
        gid: (gid != 0).then_some(gid),
        mode: (perm != asked_perm).then_some(perm),
        ..SetAttr::default()
    };
    if attr == SetAttr::default() {
        return Ok(());
    }
    node.setattr(&attr)
}

/// chmod(2) (`setattr_prepare` with ATTR_MODE): the owner or CAP_FOWNER;
/// S_ISGID is dropped when the caller is not in the file's group and lacks
/// CAP_FSETID. Returns the mode to set.
pub fn chmod(c: &Credentials, st: &Stat, perm: u32) -> Result<u32, SysError> {
    if !owner_or_capable(c, st) {
        return Err(eperm("chmod of a file the caller does not own"));
    }
    let perm = perm & mode::S_IALLUGO;
    if perm & S_ISGID != 0 && !in_group(c, st.gid) && !c.capable(CAP_FSETID) {
        return Ok(perm & !S_ISGID);
    }
    Ok(perm)
}

/// chown(2) (`chown_ok`, `chgrp_ok`, `notify_change`): changing the owner
/// needs CAP_CHOWN; changing the group needs ownership and membership of
/// the new group, or CAP_CHOWN. A non-directory loses its set-user-ID bit
/// and its set-group-ID bit when group-executable (when not, it marks
/// mandatory locking and stays unless the caller lacks CAP_FSETID and the
/// new group). Returns the attribute change.
pub fn chown(c: &Credentials, st: &Stat, uid: Option<u32>, gid: Option<u32>) -> Result<SetAttr, SysError> {
    if let Some(u) = uid {
        let unchanged_own = c.fsuid == st.uid && u == st.uid;
        if !unchanged_own && !c.capable(CAP_CHOWN) {
            return Err(eperm("chown needs CAP_CHOWN"));
        }
    }
    if let Some(g) = gid {
        let own_group = c.fsuid == st.uid && (g == st.gid || in_group(c, g));
        if !own_group && !c.capable(CAP_CHOWN) {
            return Err(eperm("chgrp to a group the caller is not in"));
        }
    }
    let mut attr = SetAttr { uid, gid, ..SetAttr::default() };
    // Dropping set-id bits is a mode change, which needs ownership or
    // CAP_FOWNER (setattr_prepare): CAP_CHOWN alone is not enough.
    if st.file_type() != Some(FileType::Directory) {
        let mut m = st.mode & mode::S_IALLUGO;
        m &= !S_ISUID;
        let new_gid = gid.unwrap_or(st.gid);
        if m & S_ISGID != 0 && (m & S_IXGRP != 0 || (!in_group(c, new_gid) && !c.capable(CAP_FSETID))) {
            m &= !S_ISGID;
        }
        if m != st.mode & mode::S_IALLUGO {
            if !owner_or_capable(c, st) {
                return Err(eperm("set-id bits of a file the caller does not own"));
            }
            attr.mode = Some(m);
        }
    }
    Ok(attr)
}

/// utimensat(2): explicit times need ownership or CAP_FOWNER (EPERM);
/// setting both to now also allows anyone who may write the file (EACCES).
/// `explicit` is whether either time is an explicit value, `touch` whether
/// both are "now".
pub fn utimes(c: &Credentials, st: &Stat, explicit: bool, touch: bool) -> Result<(), SysError> {
    if owner_or_capable(c, st) {
        return Ok(());
    }
    if explicit {
        return Err(eperm("explicit times on a file the caller does not own"));
    }
    if touch {
        return check(c, st, MAY_WRITE);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
