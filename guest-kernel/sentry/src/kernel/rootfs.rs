//! The filesystem tree a container starts with.
//!
//! Until the gofer serves the container's root (files issue, in progress),
//! the root is an in-sandbox tmpfs holding the standard mount points:
//! `/dev` (device nodes), `/tmp` (tmpfs) and `/proc` (an empty mount point
//! for procfs).

use alloc::sync::Arc;

use crate::error::SysError;
use crate::fs::{dev, tmpfs};
use crate::vfs::path::{FsContext, Location, MountTable};
use crate::vfs::FileType;

/// Device numbers of the sandbox's filesystems.
const ROOT_DEV: u64 = dev::makedev(0, 30);
const DEV_DEV: u64 = dev::makedev(0, 31);
const TMP_DEV: u64 = dev::makedev(0, 32);

/// Builds the initial tree and returns the context init resolves paths in.
pub fn build() -> Result<FsContext, SysError> {
    let root = tmpfs::new(ROOT_DEV, 0o755, 4 << 20);
    let mut mounts = MountTable::default();

    let dev_dir = root.mkdir(b"dev", 0o755)?;
    let devfs = tmpfs::new(DEV_DEV, 0o755, 64 << 10);
    for (name, rdev) in [
        (&b"null"[..], dev::NULL),
        (b"zero", dev::ZERO),
        (b"full", dev::FULL),
        (b"random", dev::RANDOM),
        (b"urandom", dev::URANDOM),
    ] {
        devfs.create(name, FileType::CharDevice, 0o666, rdev)?;
    }
    // As on Linux, these go through /proc/self/fd (procfs comes with the
    // processes issue).
    devfs.symlink(b"fd", b"/proc/self/fd")?;
    for (i, name) in [&b"stdin"[..], b"stdout", b"stderr"].iter().enumerate() {
        let mut target = b"/proc/self/fd/".to_vec();
        target.push(b'0' + u8::try_from(i).unwrap_or(0));
        devfs.symlink(name, &target)?;
    }
    devfs.mkdir(b"shm", 0o1777)?;
    mounts.mount(&dev_dir, devfs);

    let tmp_dir = root.mkdir(b"tmp", 0o1777)?;
    mounts.mount(&tmp_dir, tmpfs::new(TMP_DEV, 0o1777, 16 << 20));
    root.mkdir(b"proc", 0o555)?;

    let loc = Location::root(root);
    Ok(FsContext { root: loc.clone(), cwd: loc, mounts: Arc::new(spin::Mutex::new(mounts)) })
}
