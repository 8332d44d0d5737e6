//! The filesystem tree a container starts with.
//!
//! With a gofer, the root is the gofer's tree (9P) with `/dev` (device
//! nodes) mounted over the directory of that name, and `/tmp` (tmpfs) too
//! unless the root is the overlay over the host's `/` (which already keeps
//! writes in the sandbox). Without one, the root is an in-sandbox tmpfs
//! holding `/dev`, `/tmp` and `/proc`. procfs is mounted on `/proc`.

use alloc::sync::Arc;

use crate::error::SysError;
use alloc::vec::Vec;

use crate::fs::proc::{self, MountDesc};
use crate::fs::tty::devpts;
use crate::fs::{dev, gofer, tmpfs};
use crate::mm::frames::FrameAllocator;
use crate::platform::P9Transport;
use crate::vfs::path::{FsContext, Location, MountTable};
use crate::vfs::FileType;
use crate::vfs::InodeRef;

/// Device numbers of the sandbox's filesystems.
const ROOT_DEV: u64 = dev::makedev(0, 30);
const DEV_DEV: u64 = dev::makedev(0, 31);
const TMP_DEV: u64 = dev::makedev(0, 32);
const GOFER_DEV: u64 = dev::makedev(0, 33);
const OVERLAY_DEV: u64 = dev::makedev(0, 34);
const UPPER_DEV: u64 = dev::makedev(0, 35);
const PROC_DEV: u64 = dev::makedev(0, 36);

fn desc(source: &'static str, point: &'static str, fstype: &'static str, dev: u64) -> MountDesc {
    let options = if fstype == "proc" { "rw,nosuid,nodev,noexec,relatime" } else { "rw,relatime" };
    MountDesc { source, point, fstype, options, dev }
}

/// Builds the initial tree and returns the context init resolves paths in.
pub fn build(
    transport: Arc<dyn P9Transport>,
    frames: &mut FrameAllocator,
    overlay: bool,
    console: bool,
) -> Result<FsContext, SysError> {
    let mut mounts = MountTable::default();
    // What /proc/mounts lists, in mount order.
    let mut descs = Vec::new();
    let proc_dir;
    let root = match gofer::mount(transport, frames, GOFER_DEV) {
        Ok(root) => {
            let root = if overlay {
                descs.push(desc("overlay", "/", "overlay", OVERLAY_DEV));
                crate::fs::overlay::new(root, tmpfs::new(UPPER_DEV, 0o755, 16 << 20), OVERLAY_DEV)
            } else {
                descs.push(desc("rootfs", "/", "9p", GOFER_DEV));
                root
            };
            let is_dir = |name: &[u8]| {
                root.lookup(name).ok().filter(|n| n.stat().is_ok_and(|s| s.file_type() == Some(FileType::Directory)))
            };
            if let Some(d) = is_dir(b"dev") {
                let (dev, pts) = devfs(console)?;
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
        Err(e) if e.errno == abi::linux::errno::ENOSYS => {
            let root = tmpfs::new(ROOT_DEV, 0o755, 4 << 20);
            let (dev, pts) = devfs(console)?;
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
        Err(e) => return Err(e),
    };
    // A tree without a /proc directory gets no procfs (there is nothing
    // to mount it on).
    if let Some(d) = proc_dir {
        descs.push(desc("proc", "/proc", "proc", PROC_DEV));
        mounts.mount(&d, proc::new(PROC_DEV, descs));
    }
    let loc = Location::root(root);
    Ok(FsContext { root: loc.clone(), cwd: loc, mounts: Arc::new(spin::Mutex::new(mounts)) })
}

/// A tmpfs with the standard device nodes (and `console` when the
/// container has a terminal), and its `pts` directory for devpts.
fn devfs(console: bool) -> Result<(InodeRef, InodeRef), SysError> {
    let devfs = tmpfs::new(DEV_DEV, 0o755, 64 << 10);
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
