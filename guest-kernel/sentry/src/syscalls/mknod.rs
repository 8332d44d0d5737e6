//! mknod and mknodat: regular files, FIFOs and socket nodes.

use super::file::{base_location, new_entry_name, path_arg, AT_FDCWD};
use super::SyscallArgs;
use crate::error::{SysError, SysResult};
use crate::kernel::{Kernel, Task};
use crate::platform::Platform;
use crate::vfs::{mode, FileType};
use abi::linux::errno;

fn do_mknod<P: Platform>(
    k: &mut Kernel<P>,
    t: &mut Task<P::AddressSpace>,
    dirfd: i32,
    path_addr: u64,
    mode_arg: u32,
) -> SysResult {
    // A zero type means a regular file, as Linux.
    let bits = if mode_arg & mode::S_IFMT == 0 { mode_arg | mode::S_IFREG } else { mode_arg };
    let kind = match FileType::from_mode(bits) {
        Some(k @ (FileType::Regular | FileType::Fifo | FileType::Socket)) => k,
        Some(FileType::CharDevice | FileType::BlockDevice) => {
            return Err(SysError::new(errno::EPERM, "device nodes need CAP_MKNOD, which the sandbox withholds"));
        }
        Some(FileType::Directory) => return Err(SysError::new(errno::EPERM, "mknod of a directory")),
        _ => return Err(SysError::einval("bad file type in mode")),
    };
    let path = path_arg(k, t, path_addr)?;
    let base = base_location(t, dirfd, &path)?;
    let (dir, name) = t.fs().resolve_parent(&base, &path)?;
    new_entry_name(&name)?;
    if dir.node().lookup(&name).is_ok() {
        return Err(SysError::new(errno::EEXIST, "file exists"));
    }
    let asked = mode_arg & !t.umask & 0o7777;
    let owner = crate::vfs::perm::may_create(&t.creds, dir.node(), &name, kind, asked)?;
    let node = dir.node().create(&name, kind, owner.2, 0)?;
    crate::vfs::perm::adopt(&node, owner, owner.2).map(|()| 0)
}

/// Implements Linux `mknod(2)` (no device nodes: EPERM).
pub fn sys_mknod<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_mknod(k, t, AT_FDCWD, a.u64(0), a.uint(1))
}

/// Implements Linux `mknodat(2)` (no device nodes: EPERM).
pub fn sys_mknodat<P: Platform>(k: &mut Kernel<P>, t: &mut Task<P::AddressSpace>, a: &SyscallArgs) -> SysResult {
    do_mknod(k, t, a.fd(0), a.u64(1), a.uint(2))
}
