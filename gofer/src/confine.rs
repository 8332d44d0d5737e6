//! Confinement of the gofer process before it serves: after [`confine`] the
//! process sees only the served tree, holds only the capabilities file
//! operations need, and can make only the system calls the server makes.
//!
//! The steps, in order (each needs the privileges the previous ones keep):
//!
//! 1. `unshare(CLONE_NEWNS)`: a mount table of its own, made private
//!    (`MS_REC|MS_PRIVATE`) so nothing below propagates back to the host.
//! 2. The served root is bind-mounted onto itself and the bind remounted
//!    `nodev,nosuid,noexec` (and `ro` when serving read-only). The bind is
//!    not recursive: mounts below the root on the host (for the host's `/`:
//!    `/proc`, `/sys`, `/dev`, `/run`...) are not part of the served tree.
//! 3. `pivot_root(".", ".")` from inside that mount, then
//!    `umount2(".", MNT_DETACH)` drops the old root: the process's `/` is the
//!    served tree and the host's root is unreachable by any path.
//! 4. Capabilities: everything outside [`KEPT_CAPABILITIES`] leaves the
//!    bounding, effective, permitted, inheritable and ambient sets.
//! 5. `PR_SET_NO_NEW_PRIVS`, then the seccomp filter of [`crate::seccomp`]
//!    (violations kill the process).
//!
//! The process must be single-threaded (`unshare(CLONE_NEWNS)` refuses
//! otherwise) and root in the initial user namespace (the runtime is).

use std::path::{Path, PathBuf};

use rustix::io::Errno;
use rustix::mount::{MountFlags, MountPropagationFlags, UnmountFlags};
use rustix::thread::{CapabilitySet, CapabilitySets};

use crate::sys;
use crate::trees::{bind_and_open, OpenTree, TreeSpec};

/// What the server still needs once confined, all of it for file
/// operations on behalf of the sandbox's users (whose permissions the
/// sentry checks):
/// * `CHOWN`: new files are given to the requesting uid/gid.
/// * `DAC_OVERRIDE`: open, create and remove in files and directories that
///   belong to other users.
/// * `FOWNER`: chmod, utimes and hard links on files root does not own.
/// * `FSETID`: keep set-user/group-ID bits through chmod and writes.
///
/// `MKNOD` is not kept: the server creates fifos only, never devices.
/// `SYS_ADMIN` (mounts), `SETPCAP` and the rest go with the confinement.
pub const KEPT_CAPABILITIES: CapabilitySet =
    CapabilitySet::CHOWN.union(CapabilitySet::DAC_OVERRIDE).union(CapabilitySet::FOWNER).union(CapabilitySet::FSETID);

/// Why the gofer could not confine itself.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    #[error("the gofer must run as root to confine itself (euid {euid})")]
    NotRoot { euid: u32 },
    #[error("cannot create a mount namespace for the gofer")]
    Unshare(#[source] Errno),
    #[error("cannot make the gofer's mounts private")]
    MakePrivate(#[source] Errno),
    #[error("cannot bind-mount the served root {path} onto itself")]
    BindRoot {
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("cannot remount the served root {path} nodev,nosuid,noexec")]
    RemountRoot {
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("cannot bind-mount the served tree {path}")]
    BindTree {
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("cannot pivot_root into the served root {path}")]
    PivotRoot {
        path: PathBuf,
        #[source]
        source: Errno,
    },
    #[error("cannot drop capabilities")]
    Capabilities(#[source] Errno),
    #[error("cannot set no_new_privs")]
    NoNewPrivs(#[source] Errno),
    #[error("cannot build the seccomp filter")]
    BuildFilter(#[source] seccompiler::BackendError),
    #[error("cannot install the seccomp filter")]
    InstallFilter(#[source] seccompiler::Error),
}

/// Confines the calling process to `root` (see the module docs). Afterwards
/// the served tree is `/`: serve it with [`crate::serve`] on `"/"`.
///
/// Fails, changing nothing visible outside the process, when not root or
/// when any step fails; the caller must then exit rather than serve.
pub fn confine(root: &Path, readonly: bool) -> Result<(), ConfineError> {
    confine_with_trees(root, readonly, &[]).map(|_| ())
}

/// [`confine`], also opening the extra `trees` (bind mounts) to serve
/// (see [`crate::trees`]); returns them opened, in order.
pub fn confine_with_trees(root: &Path, readonly: bool, trees: &[TreeSpec]) -> Result<Vec<OpenTree>, ConfineError> {
    let euid = rustix::process::geteuid();
    if !euid.is_root() {
        return Err(ConfineError::NotRoot { euid: euid.as_raw() });
    }
    let opened = enter_root(root, readonly, trees)?;
    drop_capabilities().map_err(ConfineError::Capabilities)?;
    rustix::thread::set_no_new_privs(true).map_err(ConfineError::NoNewPrivs)?;
    let filter = crate::seccomp::filter(std::process::id()).map_err(ConfineError::BuildFilter)?;
    seccompiler::apply_filter_all_threads(&filter).map_err(ConfineError::InstallFilter)?;
    tracing::debug!(root = %root.display(), readonly, trees = opened.len(), "gofer confined");
    Ok(opened)
}

/// Steps 1 to 3: a private mount namespace whose root is `root`.
fn enter_root(root: &Path, readonly: bool, trees: &[TreeSpec]) -> Result<Vec<OpenTree>, ConfineError> {
    let path = || root.to_path_buf();
    sys::unshare_mount_namespace().map_err(ConfineError::Unshare)?;
    rustix::mount::mount_change("/", MountPropagationFlags::REC | MountPropagationFlags::PRIVATE)
        .map_err(ConfineError::MakePrivate)?;
    // Before the root's own bind: a source below the root is then not part
    // of the root's (non-recursive) bind.
    let mut opened = Vec::with_capacity(trees.len());
    for t in trees {
        let tree = bind_and_open(t).map_err(|source| ConfineError::BindTree { path: t.source.clone(), source })?;
        opened.push(tree);
    }
    rustix::mount::mount_bind(root, root).map_err(|source| ConfineError::BindRoot { path: path(), source })?;
    // The path that reaches the new bind, the top of the mount stack at
    // `root`. A walk that ends at the process's own root does not cross
    // mounts stacked on it, so for the host's `/` it is "/..": `..` is
    // resolved at the root to the root and then crosses into the top mount.
    let top = if root == Path::new("/") { Path::new("/..") } else { root };
    // A bind mount takes its flags only from a remount.
    let mut flags = MountFlags::BIND | MountFlags::NODEV | MountFlags::NOSUID | MountFlags::NOEXEC;
    if readonly {
        flags |= MountFlags::RDONLY;
    }
    rustix::mount::mount_remount(top, flags, "")
        .map_err(|source| ConfineError::RemountRoot { path: path(), source })?;
    // pivot_root(".", ".") stacks the old root on top of the new one at
    // "."; detaching "." then leaves only the new root (pivot_root(2)).
    let pivot = || -> Result<(), Errno> {
        rustix::process::chdir(top)?;
        match rustix::process::pivot_root(".", ".") {
            Ok(()) => rustix::mount::unmount(".", UnmountFlags::DETACH)?,
            // The initial ramfs (a root booted from an initramfs) cannot be
            // pivoted away from. Do what runc does there: move the new root
            // over "/" and chroot into it. Escaping a chroot needs
            // CAP_SYS_CHROOT or a second chroot; step 4 drops the first and
            // the seccomp filter refuses the second.
            Err(Errno::INVAL) => {
                // Serving "/" itself, the new root is already mounted there.
                if root != Path::new("/") {
                    rustix::mount::mount_move(".", "/")?;
                }
                rustix::process::chroot(".")?;
            }
            Err(e) => return Err(e),
        }
        rustix::process::chdir("/")
    };
    pivot().map_err(|source| ConfineError::PivotRoot { path: path(), source })?;
    Ok(opened)
}

/// Step 4: only [`KEPT_CAPABILITIES`] remain, in every set.
fn drop_capabilities() -> Result<(), Errno> {
    // The bounding set first: dropping from it needs CAP_SETPCAP, which
    // goes with the capset below. Capability numbers past the kernel's last
    // one answer EINVAL, which ends the walk.
    for bit in 0..u64::BITS {
        let cap = CapabilitySet::from_bits_retain(1 << bit);
        if KEPT_CAPABILITIES.contains(cap) {
            continue;
        }
        match rustix::thread::remove_capability_from_bounding_set(cap) {
            Ok(()) => {}
            Err(Errno::INVAL) => break,
            Err(e) => return Err(e),
        }
    }
    rustix::thread::clear_ambient_capability_set()?;
    rustix::thread::set_capabilities(
        None,
        CapabilitySets {
            effective: KEPT_CAPABILITIES,
            permitted: KEPT_CAPABILITIES,
            inheritable: CapabilitySet::empty(),
        },
    )
}
