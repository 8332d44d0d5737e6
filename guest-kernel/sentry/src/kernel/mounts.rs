//! The tree of a container started from an OCI config: the root from the
//! gofer, then the config's mounts in order, each at its destination
//! resolved in the tree built so far (missing directories on the way are
//! created, as runc creates mount points).
//!
//! What each mount type gets: `tmpfs` a tmpfs (with the device nodes when
//! it is at `/dev`) of the size and mode asked; `proc` a procfs; `bind`
//! the tree the gofer serves under the mount's attach name (read-only ones
//! are enforced by the gofer, EROFS); `devpts` the sandbox's one devpts
//! (also mounted on `/dev/pts` of the device tmpfs when the config mounts
//! none there). `nosuid` holds always (the sentry honours no set-user-ID bits)
//! and `nodev` too for what matters (device nodes open only the sentry's
//! own devices); `noexec` makes exec of the mount's files fail with EACCES
//! (mmap with PROT_EXEC is not refused yet). The runtime refuses
//! everything else before the sandbox starts.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use abi::container as cb;
use abi::linux::errno;

use super::container::MountSpec;
use super::rootfs::{self, desc, DEV_DEV, GOFER_DEV, OVERLAY_DEV, ROOT_DEV, TMP_DEV, UPPER_DEV};
use crate::error::SysError;
use crate::fs::proc::{self, MountDesc};
use crate::fs::tty::devpts;
use crate::fs::{dev, gofer, tmpfs};
use crate::vfs::path::{FsContext, Location};
use crate::vfs::{FileType, InodeRef};

/// The first device minor of the config's mounts (one each; `/proc/<pid>/
/// mountinfo` uses the minor as the mount id).
const FIRST_MINOR: u64 = 40;
/// At most this many mounts (the runtime refuses more).
pub const MAX_MOUNTS: usize = 200;
/// A tmpfs without `size=`: Linux gives half of memory; this is the same
/// order for the default guest, and pages are taken only when written.
const DEFAULT_TMPFS_SIZE: u64 = 256 << 20;

type Failed = (SysError, Vec<u8>);

/// Builds the tree for `config` (see the module docs).
pub fn build(
    session: Option<&gofer::Session>,
    overlay: bool,
    config: &[MountSpec],
    console: bool,
) -> Result<FsContext, Failed> {
    if config.len() > MAX_MOUNTS {
        return Err((SysError::einval("too many mounts"), Vec::new()));
    }
    let at_root = |e| (e, b"/".to_vec());
    let mut descs = Vec::new();
    let root = match session {
        Some(s) => {
            let root = s.attach(b"", GOFER_DEV).map_err(at_root)?;
            if overlay {
                descs.push(desc("overlay", "/", "overlay", OVERLAY_DEV));
                crate::fs::overlay::new(root, tmpfs::new(UPPER_DEV, 0o755, 16 << 20), OVERLAY_DEV)
            } else {
                descs.push(desc("rootfs", "/", "9p", GOFER_DEV));
                root
            }
        }
        None => {
            descs.push(desc("rootfs", "/", "tmpfs", ROOT_DEV));
            tmpfs::new(ROOT_DEV, 0o755, 4 << 20)
        }
    };
    let loc = Location::root(root);
    let mut fs = FsContext { root: loc.clone(), cwd: loc, mounts: Default::default(), creds: None };
    let configured = |p: &[u8]| config.iter().any(|m| m.destination == p);
    // The device nodes, unless the config's own /dev mount carries them.
    if !configured(b"/dev") {
        if let Ok(at) = existing_dir(&fs, b"/dev") {
            let (dev, pts) =
                rootfs::devfs_with(DEV_DEV, 0o755, 64 << 10, console).map_err(|e| (e, b"/dev".to_vec()))?;
            mount_at(&fs, &at, dev);
            descs.push(desc("tmpfs", "/dev", "tmpfs", DEV_DEV));
            if !configured(b"/dev/pts") {
                mount_at(&fs, &pts, devpts::mount());
                descs.push(desc("devpts", "/dev/pts", "devpts", devpts::DEVPTS_DEV));
            }
        }
    }
    // As runsc: a /tmp of the sandbox's own when the config has none.
    if !configured(b"/tmp") {
        if let Ok(at) = existing_dir(&fs, b"/tmp") {
            mount_at(&fs, &at, tmpfs::new(TMP_DEV, 0o1777, 16 << 20));
            descs.push(desc("tmpfs", "/tmp", "tmpfs", TMP_DEV));
        }
    }
    let mut procs = Vec::new();
    // A devpts went on the config's /dev (listed after it).
    let mut pts_desc = false;
    for (i, m) in config.iter().enumerate() {
        let failed = |e| (e, m.destination.clone());
        let minor = FIRST_MINOR + u64::try_from(i).unwrap_or(0);
        let dev = dev::makedev(0, minor);
        let point = String::from_utf8_lossy(&m.destination).into_owned();
        let (fsroot, fstype, source, opts) = match m.kind {
            cb::MOUNT_TMPFS => {
                let mode = if m.mode == 0 { 0o1777 } else { m.mode };
                let size = if m.size == 0 { DEFAULT_TMPFS_SIZE } else { m.size };
                let root = if m.destination == b"/dev" {
                    let (root, pts) = rootfs::devfs_with(dev, mode, size, console).map_err(failed)?;
                    if !configured(b"/dev/pts") {
                        mount_at(&fs, &pts, devpts::mount());
                        pts_desc = true;
                    }
                    root
                } else {
                    tmpfs::new(dev, mode, size)
                };
                (root, "tmpfs", "tmpfs", format!(",size={}k,mode={:o}", size / 1024, mode))
            }
            cb::MOUNT_PROC => {
                // Made last, so that its /proc/mounts lists every mount.
                let at = mount_point(&fs, &m.destination, true).map_err(failed)?;
                procs.push((at, dev));
                descs.push(MountDesc { source: "proc", point, fstype: "proc", options: options(m.flags, ""), dev });
                continue;
            }
            cb::MOUNT_BIND => {
                let Some(s) = session else {
                    return Err(failed(SysError::new(errno::ENOSYS, "bind mounts need the gofer")));
                };
                let root = s.attach(&m.aname, dev).map_err(failed)?;
                (root, "9p", "none", String::new())
            }
            cb::MOUNT_DEVPTS => (devpts::mount(), "devpts", "devpts", String::new()),
            _ => return Err(failed(SysError::new(errno::ENODEV, "unknown filesystem type"))),
        };
        let is_dir = fsroot.file_kind().map_err(failed)? == Some(FileType::Directory);
        let at = mount_point(&fs, &m.destination, is_dir).map_err(failed)?;
        mount_at(&fs, &at, fsroot);
        if m.flags & cb::MNT_NOEXEC != 0 {
            fs.mounts.lock().set_noexec(dev);
        }
        descs.push(MountDesc { source, point, fstype, options: options(m.flags, &opts), dev });
        if core::mem::take(&mut pts_desc) {
            descs.push(desc("devpts", "/dev/pts", "devpts", devpts::DEVPTS_DEV));
        }
    }
    for (at, dev) in procs {
        mount_at(&fs, &at, proc::new(dev, descs.clone()));
    }
    fs.cwd = fs.root.clone();
    Ok(fs)
}

/// The options /proc/mounts shows.
fn options(flags: u32, extra: &str) -> String {
    let mut s = String::from(if flags & cb::MNT_RDONLY != 0 { "ro" } else { "rw" });
    for (bit, name) in [(cb::MNT_NOSUID, ",nosuid"), (cb::MNT_NODEV, ",nodev"), (cb::MNT_NOEXEC, ",noexec")] {
        if flags & bit != 0 {
            s.push_str(name);
        }
    }
    s.push_str(",relatime");
    s.push_str(extra);
    s
}

fn mount_at(fs: &FsContext, at: &InodeRef, root: InodeRef) {
    fs.mounts.lock().mount(at, root);
}

fn existing_dir(fs: &FsContext, path: &[u8]) -> Result<InodeRef, SysError> {
    let loc = fs.resolve(&fs.root, path, true)?;
    match loc.node().file_kind()? {
        Some(FileType::Directory) => Ok(loc.node().clone()),
        _ => Err(SysError::new(errno::ENOTDIR, "not a directory")),
    }
}

/// The node to mount on at `path`, created when missing: directories on the
/// way, and the last component as a directory (`dir`) or an empty file (a
/// file bind mount). Symlinks on the way are followed inside the container.
fn mount_point(fs: &FsContext, path: &[u8], dir: bool) -> Result<InodeRef, SysError> {
    let mut cur = fs.root.clone();
    let names: Vec<&[u8]> = path.split(|&b| b == b'/').filter(|c| !c.is_empty() && *c != b".").collect();
    for (i, name) in names.iter().enumerate() {
        let last = i + 1 == names.len();
        cur = match fs.resolve(&cur, name, true) {
            Ok(loc) => loc,
            Err(e) if e.errno == errno::ENOENT => {
                let node = cur.node();
                let made =
                    if last && !dir { node.create(name, FileType::Regular, 0o644, 0) } else { node.mkdir(name, 0o755) };
                // runc makes mount points before it remounts the root
                // read-only; here the gofer serves it read-only already.
                let made = made.map_err(|e| match e.errno {
                    errno::EROFS => SysError::new(errno::EROFS, "mount point missing in the read-only root"),
                    _ => e,
                })?;
                cur.child(name, made)
            }
            Err(e) => return Err(e),
        };
        // The kind only: a 9P node knows it from its walk, without a Tgetattr.
        let kind = cur.node().file_kind()?;
        if !last && kind != Some(FileType::Directory) {
            return Err(SysError::new(errno::ENOTDIR, "mount point path has a non-directory"));
        }
        if last && dir && kind != Some(FileType::Directory) {
            return Err(SysError::new(errno::ENOTDIR, "mount point is not a directory"));
        }
        if last && !dir && kind == Some(FileType::Directory) {
            return Err(SysError::new(errno::EISDIR, "file mounted on a directory"));
        }
    }
    Ok(cur.node().clone())
}
