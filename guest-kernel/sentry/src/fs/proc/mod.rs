//! procfs: `/proc`, generated from the kernel's state.
//!
//! The filesystem code has no kernel at hand, so the kernel reaches it two
//! ways:
//! * **Names** (lookups, directory listings, symlink targets: which pids
//!   exist, `/proc/self`, `fd/N`) come from a [`view::View`], a small
//!   capture of the processes taken by the syscall dispatcher. A proc node
//!   that needs it while none is installed fails with the internal
//!   [`SysError::needs_proc_view`]; the dispatcher then captures the view
//!   for the calling task and runs the syscall again (path resolution has
//!   no side effects before it reaches /proc). Syscalls that never touch
//!   /proc pay nothing.
//! * **File contents** are generated when the file is opened, by
//!   [`open`] from the open path (which has the kernel and the task), and
//!   kept with the open file, as Linux's seq files are read from one
//!   snapshot.
//!
//! Modules: [`node`] (the inodes), [`view`] (the capture), [`pid`]
//! (per-process files), [`system`] (top-level files).

pub mod node;
pub mod pid;
pub mod system;
pub mod view;

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::error::SysError;
use crate::kernel::fd::File;
use crate::kernel::{Kernel, Task};
use crate::platform::Platform;
use crate::vfs::file::{flags, OpenFile};
use crate::vfs::path::Location;
use crate::vfs::{InodeRef, Stat};
use abi::linux::errno;
pub use node::{Kind, Node};

/// A mounted filesystem as /proc/mounts describes it.
#[derive(Debug, Clone)]
pub struct MountDesc {
    pub source: &'static str,
    /// Absolute path of the mount point.
    pub point: alloc::string::String,
    pub fstype: &'static str,
    pub options: alloc::string::String,
    /// Device number of the mounted filesystem.
    pub dev: u64,
}

/// State shared by the nodes of one procfs.
#[derive(Debug)]
pub struct ProcShared {
    pub dev: u64,
    pub mounts: Vec<MountDesc>,
}

/// A procfs on device `dev`, describing `mounts` in /proc/mounts.
pub fn new(dev: u64, mounts: Vec<MountDesc>) -> InodeRef {
    let fs = Arc::new(ProcShared { dev, mounts });
    Arc::new(Node::new(fs, Kind::Root))
}

/// The proc node behind `node`, if it is one.
pub fn as_proc(node: &InodeRef) -> Option<&Node> {
    node.as_any().downcast_ref::<Node>()
}

/// Opens `loc` if it is a /proc file: generates its contents now (see the
/// module doc). Through `fd/N` of a file with no path (a pipe, a host
/// stream) it is that open file itself: Linux opens a new description of
/// the same object, which for these differs only in the status flags.
/// `None` for anything else, which opens normally.
pub fn open<P: Platform>(
    k: &mut Kernel<P>,
    t: &Task<P::AddressSpace>,
    loc: &Location,
    open_flags: u32,
) -> Result<Option<File>, SysError> {
    let Some(node) = as_proc(loc.node()) else { return Ok(None) };
    if let Kind::FdObject(th, fd) = node.kind {
        let owner = view::task(k, t, th.tid).ok_or(SysError::new(errno::ENOENT, "process has exited"))?;
        let file = owner.fds.lock().get(i32::try_from(fd).unwrap_or(-1))?;
        return Ok(Some(file));
    }
    if !node.is_file() || open_flags & flags::O_PATH != 0 {
        return Ok(None);
    }
    if open_flags & flags::O_ACCMODE != flags::O_RDONLY {
        return Err(SysError::new(errno::EACCES, "/proc files are read-only"));
    }
    let data = match node.kind {
        Kind::Sys(f) => system::generate(k, f)?,
        Kind::File(th, node::PidFile::Environ) => pid::environ(k, t, th)?,
        Kind::File(th, f) => pid::generate(k, t, &node.fs, th, f)?,
        Kind::FdInfo(th, fd) => pid::fdinfo(k, t, th, fd)?,
        _ => return Ok(None),
    };
    let snap: InodeRef = Arc::new(Snapshot { stat: node.stat_now(), data });
    Ok(Some(File::Vfs(Arc::new(OpenFile::with_node(loc.clone(), snap, open_flags)))))
}

/// The contents of an open /proc file, captured at open.
struct Snapshot {
    stat: Stat,
    data: Vec<u8>,
}

impl crate::vfs::Inode for Snapshot {
    fn stat(&self) -> Result<Stat, SysError> {
        Ok(self.stat)
    }

    fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<usize, SysError> {
        let start = usize::try_from(off).unwrap_or(usize::MAX).min(self.data.len());
        let n = buf.len().min(self.data.len() - start);
        buf[..n].copy_from_slice(&self.data[start..start + n]);
        Ok(n)
    }

    fn write_at(&self, _off: u64, _buf: &[u8]) -> Result<usize, SysError> {
        Err(SysError::new(errno::EIO, "/proc file has no write operation"))
    }

    fn id(&self) -> (u64, u64) {
        (self.stat.dev, self.stat.ino)
    }

    fn as_any(&self) -> &dyn core::any::Any {
        self
    }
}
