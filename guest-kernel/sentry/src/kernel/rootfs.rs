//! The filesystem tree a container starts with.
//!
//! With a gofer, the root is the gofer's tree (9P) with `/dev` (device
//! nodes) mounted over the directory of that name, and `/tmp` (tmpfs) too
//! unless the root is the overlay over the host's `/` (which already keeps
//! writes in the sandbox). Without one, the root is an in-sandbox tmpfs
//! holding `/dev`, `/tmp` and `/proc`. procfs is mounted on `/proc`.
//!
//! With an OCI config (a container block with mounts), the config's mounts
//! are made in order instead (see [`super::mounts`]): `/dev` still gets the
//! device nodes (in the config's tmpfs at `/dev` when there is one), and
//! `/tmp` a tmpfs when the config mounts nothing there (as runsc does).
//!
//! `/dev` holds `ptmx` and a `pts` directory with devpts on it, and
//! `console` when the container has a terminal.

use alloc::sync::Arc;

use crate::error::SysError;
use alloc::vec::Vec;

use super::container::MountSpec;
use crate::fs::proc::{self, MountDesc};
use crate::fs::tty::devpts;
use crate::fs::{dev, gofer, tmpfs};
use crate::mm::frames::FrameAllocator;
use crate::platform::P9Transport;
use crate::vfs::path::{FsContext, Location, MountTable};
use crate::vfs::FileType;
use crate::vfs::InodeRef;

/// Device numbers of the sandbox's filesystems.
pub(super) const ROOT_DEV: u64 = dev::makedev(0, 30);
pub(super) const DEV_DEV: u64 = dev::makedev(0, 31);
pub(super) const TMP_DEV: u64 = dev::makedev(0, 32);
pub(super) const GOFER_DEV: u64 = dev::makedev(0, 33);
pub(super) const OVERLAY_DEV: u64 = dev::makedev(0, 34);
pub(super) const UPPER_DEV: u64 = dev::makedev(0, 35);
pub(super) const PROC_DEV: u64 = dev::makedev(0, 36);

pub(super) fn desc(source: &'static str, point: &'static str, fstype: &'static str, dev: u64) -> MountDesc {
    let options = if fstype == "proc" { "rw,nosuid,nodev,noexec,relatime" } else { "rw,relatime" };
    MountDesc { source, point: point.into(), fstype, options: options.into(), dev }
}

/// Builds the initial tree and returns the context init resolves paths in;
/// `config`: the OCI config's mounts, if it came with one. A failure names
/// the mount destination it happened at.
pub fn build(
    transport: Arc<dyn P9Transport>,
    frames: &mut FrameAllocator,
    overlay: bool,
    config: Option<&[MountSpec]>,
    console: bool,
) -> Result<FsContext, (SysError, Vec<u8>)> {
    let session = match gofer::connect(transport, frames) {
        Ok(s) => Some(s),
        Err(e) if e.errno == abi::linux::errno::ENOSYS => None,
        Err(e) => return Err((e, b"/".to_vec())),
    };
    if let Some(config) = config {
        return super::mounts::build(session.as_ref(), overlay, config, console);
    }
    default_tree(session.as_ref(), overlay, console).map_err(|e| (e, b"/".to_vec()))
}

/// The tree of `ringfence do`.
fn default_tree(session: Option<&gofer::Session>, overlay: bool, console: bool) -> Result<FsContext, SysError> {
    let mut mounts = MountTable::default();
    // What /proc/mounts lists, in mount order.
    let mut descs = Vec::new();
    let proc_dir;
    let root = match session.map(|s| s.attach(b"", GOFER_DEV)) {
        Some(Ok(root)) => {
            let root = if overlay {
                descs.push(desc("overlay", "/", "overlay", OVERLAY_DEV));
                crate::fs::overlay::new(root, tmpfs::new(UPPER_DEV, 0o755, 16 << 20), OVERLAY_DEV)
            } else {
                descs.push(desc("rootfs", "/", "9p", GOFER_DEV));
                root
            };
            // The kind, not the attributes: on 9P the walk's qid has it,
            // so checking a mount point costs no Tgetattr.
            let is_dir = |name: &[u8]| {
                root.lookup(name).ok().filter(|n| n.file_kind().is_ok_and(|k| k == Some(FileType::Directory)))
            };
            if let Some(d) = is_dir(b"dev") {
                let (dev, pts) = devfs_with(DEV_DEV, 0o755, 64 << 10, console)?;
                mounts.mount(&d, dev);
                mounts.mount(&pts, devpts::mount());
                descs.push(desc("tmpfs", "/dev", "tmpfs", DEV_DEV));
                descs.push(desc("devpts", "/dev/pts", "devpts", devpts::DEVPTS_DEV));
            }
            // Over the overlay, /tmp is already the sandbox's to write (and
            // shows the host's files); a --rootfs tree gets its own tmpfs.
            if !overlay {
                if let Some(t) = is_dir(b"tmp") {
                    mounts.mount(&t, tmpfs::new(TMP_DEV, 0o1777, 16 << 20));
                    descs.push(desc("tmpfs", "/tmp", "tmpfs", TMP_DEV));
                }
            }
            proc_dir = is_dir(b"proc");
            root
        }
        None => {
            let root = tmpfs::new(ROOT_DEV, 0o755, 4 << 20);
            let (dev, pts) = devfs_with(DEV_DEV, 0o755, 64 << 10, console)?;
            mounts.mount(&root.mkdir(b"dev", 0o755)?, dev);
            mounts.mount(&pts, devpts::mount());
            mounts.mount(&root.mkdir(b"tmp", 0o1777)?, tmpfs::new(TMP_DEV, 0o1777, 16 << 20));
            descs.push(desc("rootfs", "/", "tmpfs", ROOT_DEV));
            descs.push(desc("tmpfs", "/dev", "tmpfs", DEV_DEV));
            descs.push(desc("devpts", "/dev/pts", "devpts", devpts::DEVPTS_DEV));
            descs.push(desc("tmpfs", "/tmp", "tmpfs", TMP_DEV));
            proc_dir = Some(root.mkdir(b"proc", 0o555)?);
            root
        }
        Some(Err(e)) => return Err(e),
    };
    // A tree without a /proc directory gets no procfs (there is nothing
    // to mount it on).
    if let Some(d) = proc_dir {
        descs.push(desc("proc", "/proc", "proc", PROC_DEV));
        mounts.mount(&d, proc::new(PROC_DEV, descs));
    }
    let loc = Location::root(root);
    Ok(FsContext { root: loc.clone(), cwd: loc, mounts: Arc::new(spin::Mutex::new(mounts)), creds: None })
}

/// A tmpfs (device `dev`, root mode `perm`, `budget` bytes) with the
/// standard device nodes (and `console` when the container has a
/// terminal), and its `pts` directory for devpts.
pub(super) fn devfs_with(dev: u64, perm: u32, budget: u64, console: bool) -> Result<(InodeRef, InodeRef), SysError> {
    let devfs = tmpfs::new(dev, perm, budget);
    for (name, rdev) in [
        (&b"null"[..], dev::NULL),
        (b"zero", dev::ZERO),
        (b"full", dev::FULL),
        (b"random", dev::RANDOM),
        (b"urandom", dev::URANDOM),
        (b"tty", dev::TTY),
        (b"ptmx", dev::PTMX),
    ] {
        devfs.create(name, FileType::CharDevice, 0o666, rdev)?;
    }
    if console {
        let node = devfs.create(b"console", FileType::CharDevice, 0o600, dev::CONSOLE)?;
        let st = node.stat()?;
        crate::fs::tty::console::set_node_ident(st.dev, st.ino);
    }
    let pts = devfs.mkdir(b"pts", 0o755)?;
    // As on Linux, these go through /proc/self/fd.
    devfs.symlink(b"fd", b"/proc/self/fd")?;
    for (i, name) in [&b"stdin"[..], b"stdout", b"stderr"].iter().enumerate() {
        let mut target = b"/proc/self/fd/".to_vec();
        target.push(b'0' + u8::try_from(i).unwrap_or(0));
        devfs.symlink(name, &target)?;
    }
    devfs.mkdir(b"shm", 0o1777)?;
    Ok((devfs, pts))
}
