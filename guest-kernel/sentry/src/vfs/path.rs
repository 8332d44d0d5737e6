//! Path resolution.

use alloc::borrow::Cow;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::{FileType, InodeRef};
use crate::error::SysError;
use abi::linux::errno;

/// Symlinks followed in one resolution before ELOOP (Linux: 40).
pub const MAX_SYMLINKS: u32 = 40;
/// Longest path accepted (PATH_MAX, including the NUL).
pub const PATH_MAX: usize = 4096;

/// Where a path resolution stands: the directories from the container root
/// down to a node, so that `..` goes back the way it came and never above
/// the root.
///
/// A location is a shared, immutable list linked from the node up to the
/// root: cloning one (every syscall that takes a path clones the working
/// directory and root) costs a reference count, and naming a child adds
/// one link instead of copying the chain.
#[derive(Clone)]
pub struct Location {
    link: Arc<Link>,
}

struct Link {
    /// The name in the parent (empty for the root).
    name: Vec<u8>,
    node: InodeRef,
    parent: Option<Arc<Link>>,
    /// Links from the root to here, the root included.
    depth: usize,
}

impl Drop for Link {
    /// Unlinks the ancestors this link held last one by one: dropping a
    /// deep chain recursively could overflow the sentry's stack.
    fn drop(&mut self) {
        let mut next = self.parent.take();
        while let Some(p) = next {
            next = Arc::into_inner(p).and_then(|mut l| l.parent.take());
        }
    }
}

impl core::fmt::Debug for Location {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Location({:?})", alloc::string::String::from_utf8_lossy(&self.path()))
    }
}

impl Location {
    /// The root of a filesystem tree.
    pub fn root(node: InodeRef) -> Self {
        Self { link: Arc::new(Link { name: Vec::new(), node, parent: None, depth: 1 }) }
    }

    /// The node this location names.
    pub fn node(&self) -> &InodeRef {
        &self.link.node
    }

    /// The parent location (the root's parent is the root).
    pub fn parent(&self) -> Self {
        match &self.link.parent {
            Some(p) => Self { link: Arc::clone(p) },
            None => self.clone(),
        }
    }

    /// The location of child `name` (already looked up as `node`).
    pub fn child(&self, name: &[u8], node: InodeRef) -> Self {
        let depth = self.link.depth + 1;
        Self { link: Arc::new(Link { name: name.to_vec(), node, parent: Some(Arc::clone(&self.link)), depth }) }
    }

    /// Directories from the root to here, the root included.
    fn depth(&self) -> usize {
        self.link.depth
    }

    /// The links from here up to the root.
    fn links(&self) -> impl Iterator<Item = &Link> {
        core::iter::successors(Some(&*self.link), |l| l.parent.as_deref())
    }

    /// The absolute path from the root ("/" for the root).
    pub fn path(&self) -> Vec<u8> {
        if self.link.parent.is_none() {
            return b"/".to_vec();
        }
        let len = self.links().map(|l| l.name.len() + 1).sum::<usize>() - 1;
        let mut p = alloc::vec![0u8; len];
        let mut end = len;
        for l in self.links().filter(|l| l.parent.is_some()) {
            p[end - l.name.len()..end].copy_from_slice(&l.name);
            end -= l.name.len() + 1;
            p[end] = b'/';
        }
        p
    }

    /// The last component's name (empty for the root).
    pub fn name(&self) -> &[u8] {
        &self.link.name
    }

    /// The root of this location's tree.
    pub fn tree_root(&self) -> Self {
        let mut link = &self.link;
        while let Some(p) = &link.parent {
            link = p;
        }
        Self { link: Arc::clone(link) }
    }
}

/// Mounted filesystems: mount-point identity to the mounted root.
#[derive(Default)]
pub struct MountTable {
    mounts: Vec<((u64, u64), InodeRef)>,
    /// Devices of the filesystems mounted `noexec`.
    noexec: Vec<u64>,
}

impl core::fmt::Debug for MountTable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "MountTable({} mounts)", self.mounts.len())
    }
}

impl MountTable {
    /// Mounts `root` over the directory `at`.
    pub fn mount(&mut self, at: &InodeRef, root: InodeRef) {
        let id = at.id();
        self.mounts.retain(|(m, _)| *m != id);
        self.mounts.push((id, root));
    }

    /// Marks the filesystem with device number `dev` as mounted `noexec`:
    /// exec of its files fails with EACCES.
    pub fn set_noexec(&mut self, dev: u64) {
        self.noexec.push(dev);
    }

    /// Whether the filesystem with device number `dev` is `noexec`.
    pub fn is_noexec(&self, dev: u64) -> bool {
        self.noexec.contains(&dev)
    }

    /// Whether something is mounted on the node with identity `id`.
    pub fn is_mount_point(&self, id: (u64, u64)) -> bool {
        self.mounts.iter().any(|(m, _)| *m == id)
    }

    /// The node a lookup lands on: the root of whatever is mounted on
    /// `node`, repeatedly, or `node` itself.
    pub fn cross(&self, mut node: InodeRef) -> InodeRef {
        for _ in 0..16 {
            let id = node.id();
            match self.mounts.iter().find(|(m, _)| *m == id) {
                Some((_, r)) => node = Arc::clone(r),
                None => break,
            }
        }
        node
    }
}

/// Restrictions on a resolution (`openat2`'s `RESOLVE_*`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Restrict {
    /// Fail with ELOOP at any symlink (RESOLVE_NO_SYMLINKS).
    pub no_symlinks: bool,
    /// Fail with EXDEV on an absolute path or a `..` or symlink leaving
    /// the start directory (RESOLVE_BENEATH).
    pub beneath: bool,
    /// Treat the start directory as the root (RESOLVE_IN_ROOT).
    pub in_root: bool,
    /// Fail with EXDEV when crossing a mount point (RESOLVE_NO_XDEV).
    pub no_xdev: bool,
}

/// What a process resolves paths against.
#[derive(Clone, Debug)]
pub struct FsContext {
    pub root: Location,
    pub cwd: Location,
    pub mounts: Arc<spin::Mutex<MountTable>>,
    /// Whose permissions the walk checks (search on each directory);
    /// `None` for the kernel's own resolutions.
    pub creds: Option<crate::kernel::creds::Credentials>,
}

fn is_dir(node: &InodeRef) -> Result<bool, SysError> {
    Ok(node.file_kind()? == Some(FileType::Directory))
}

/// Components one lookup may resolve at once (9P2000.L's MAXWELEM).
const BATCH: usize = 16;

/// A component a batched lookup may include: a plain name.
fn plain(c: &[u8]) -> bool {
    c != b"." && c != b".." && c.len() <= 255
}

fn components(path: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty())
}

impl FsContext {
    /// Resolves `path` from `start` (or the root for an absolute path).
    /// The last component is followed if it is a symlink when
    /// `follow_last` is set or the path ends in '/'.
    pub fn resolve(&self, start: &Location, path: &[u8], follow_last: bool) -> Result<Location, SysError> {
        self.resolve_restricted(start, path, follow_last, Restrict::default())
    }

    /// [`Self::resolve`] under `openat2` restrictions.
    pub fn resolve_restricted(
        &self,
        start: &Location,
        path: &[u8],
        follow_last: bool,
        r: Restrict,
    ) -> Result<Location, SysError> {
        let xdev = || SysError::new(errno::EXDEV, "resolution would leave the start directory");
        // IN_ROOT: the start directory acts as the root for "/" and "..".
        let root = if r.in_root { start.clone() } else { self.root.clone() };
        let floor = start.depth();
        if path.is_empty() {
            return Err(SysError::new(errno::ENOENT, "empty path"));
        }
        if path.len() >= PATH_MAX {
            return Err(SysError::new(errno::ENAMETOOLONG, "path longer than PATH_MAX"));
        }
        let trailing_slash = path.ends_with(b"/");
        if r.beneath && path[0] == b'/' {
            return Err(xdev());
        }
        let mut loc = if path[0] == b'/' { root.clone() } else { start.clone() };
        // Components still to resolve, last first: borrowed from `path`,
        // owned when a symlink's target brought them.
        let mut pending: Vec<Cow<'_, [u8]>> = components(path).rev().map(Cow::Borrowed).collect();
        let mut links = 0u32;
        let mounts = self.mounts.lock();
        // Nodes a batched lookup resolved for the next pending components
        // (last first), and the failure of the component after them. Any
        // change of course (`..`, a symlink, a mount point) drops them.
        let mut ahead: Vec<InodeRef> = Vec::new();
        let mut ahead_err: Option<SysError> = None;
        while let Some(c) = pending.pop() {
            let c: &[u8] = &c;
            if !is_dir(loc.node())? {
                return Err(SysError::new(errno::ENOTDIR, "a path component is not a directory"));
            }
            super::perm::may_search(self.creds.as_ref(), loc.node())?;
            if c == b"." {
                continue;
            }
            if c == b".." {
                ahead.clear();
                ahead_err = None;
                if r.beneath && loc.depth() <= floor {
                    return Err(xdev());
                }
                // Confined: the root's parent is the root.
                if loc.depth() > root.depth() || !Arc::ptr_eq(loc.node(), root.node()) {
                    loc = loc.parent();
                }
                continue;
            }
            if c.len() > 255 {
                return Err(SysError::new(errno::ENAMETOOLONG, "component longer than 255 bytes"));
            }
            let looked_up = match ahead.pop() {
                Some(n) => n,
                None => {
                    if let Some(e) = ahead_err.take() {
                        return Err(e);
                    }
                    let mut names: [&[u8]; BATCH] = [&[]; BATCH];
                    names[0] = c;
                    let mut count = 1;
                    for p in pending.iter().rev().take(BATCH - 1).take_while(|p| plain(p)) {
                        names[count] = p;
                        count += 1;
                    }
                    let walked = loc.node().lookup_many(&names[..count], &|id| mounts.is_mount_point(id));
                    ahead = walked.nodes;
                    ahead.reverse();
                    ahead_err = walked.err;
                    match ahead.pop() {
                        Some(n) => n,
                        None => {
                            return Err(ahead_err
                                .take()
                                .unwrap_or_else(|| SysError::new(errno::EIO, "lookup resolved nothing")))
                        }
                    }
                }
            };
            let child = mounts.cross(Arc::clone(&looked_up));
            if !Arc::ptr_eq(&child, &looked_up) {
                if r.no_xdev {
                    return Err(xdev());
                }
                ahead.clear();
                ahead_err = None;
            }
            let last = pending.is_empty();
            if child.file_kind()? == Some(FileType::Symlink) && (!last || follow_last || trailing_slash) {
                ahead.clear();
                ahead_err = None;
                if r.no_symlinks {
                    return Err(SysError::new(errno::ELOOP, "symlink with RESOLVE_NO_SYMLINKS"));
                }
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(SysError::new(errno::ELOOP, "too many levels of symbolic links"));
                }
                if let Some(node) = child.magic_target()? {
                    loc = loc.child(c, node);
                    continue;
                }
                let target = child.readlink()?;
                if target.is_empty() {
                    return Err(SysError::new(errno::ENOENT, "empty symlink"));
                }
                if target[0] == b'/' {
                    if r.beneath {
                        return Err(xdev());
                    }
                    loc = root.clone();
                }
                pending.extend(components(&target).rev().map(|t| Cow::Owned(t.to_vec())));
                continue;
            }
            loc = loc.child(c, child);
        }
        if trailing_slash && !is_dir(loc.node())? {
            return Err(SysError::new(errno::ENOTDIR, "trailing slash on a non-directory"));
        }
        Ok(loc)
    }

    /// Resolves all but the last component of `path`: the directory and the
    /// final name (which may be "." or ".."; callers reject those as their
    /// syscall does). The name is empty for "/".
    pub fn resolve_parent(&self, start: &Location, path: &[u8]) -> Result<(Location, Vec<u8>), SysError> {
        self.resolve_parent_restricted(start, path, Restrict::default())
    }

    /// [`Self::resolve_parent`] under `openat2` restrictions.
    pub fn resolve_parent_restricted(
        &self,
        start: &Location,
        path: &[u8],
        r: Restrict,
    ) -> Result<(Location, Vec<u8>), SysError> {
        if path.is_empty() {
            return Err(SysError::new(errno::ENOENT, "empty path"));
        }
        if path.len() >= PATH_MAX {
            return Err(SysError::new(errno::ENAMETOOLONG, "path longer than PATH_MAX"));
        }
        let trimmed_len = path.iter().rposition(|&b| b != b'/').map_or(0, |i| i + 1);
        let trimmed = &path[..trimmed_len];
        let (dir, name) = match trimmed.iter().rposition(|&b| b == b'/') {
            Some(i) => (&path[..=i], &trimmed[i + 1..]),
            None if path[0] == b'/' => (&path[..1], &trimmed[..0]),
            None => (&b"."[..], trimmed),
        };
        let dir_loc = self.resolve_restricted(start, dir, true, r)?;
        if !is_dir(dir_loc.node())? {
            return Err(SysError::new(errno::ENOTDIR, "parent is not a directory"));
        }
        if name.len() > 255 {
            return Err(SysError::new(errno::ENAMETOOLONG, "component longer than 255 bytes"));
        }
        // The last name is looked up in the directory: search permission.
        if !name.is_empty() {
            super::perm::may_search(self.creds.as_ref(), dir_loc.node())?;
        }
        Ok((dir_loc, name.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::tmpfs;

    fn ctx(root: InodeRef) -> FsContext {
        let root = Location::root(root);
        FsContext {
            root: root.clone(),
            cwd: root,
            mounts: Arc::new(spin::Mutex::new(MountTable::default())),
            creds: None,
        }
    }

    #[test]
    fn locations_name_their_path_and_share_their_ancestors() {
        let root = tmpfs::new(1, 0o755, 1 << 20);
        let a = root.mkdir(b"a", 0o755).expect("mkdir a");
        let bc = a.mkdir(b"bc", 0o755).expect("mkdir bc");
        let top = Location::root(Arc::clone(&root));
        assert_eq!(top.path(), b"/");
        assert_eq!(top.name(), b"");
        let loc = top.child(b"a", a).child(b"bc", Arc::clone(&bc));
        assert_eq!(loc.path(), b"/a/bc");
        assert_eq!(loc.name(), b"bc");
        assert!(Arc::ptr_eq(loc.node(), &bc));
        assert_eq!(loc.parent().path(), b"/a");
        assert_eq!(loc.parent().parent().parent().path(), b"/", "the root's parent is the root");
        assert!(Arc::ptr_eq(loc.tree_root().node(), &root));
        // A clone is the same chain, not a copy.
        let copy = loc.clone();
        assert!(Arc::ptr_eq(&copy.link, &loc.link));
        let c = ctx(root);
        let walked = c.resolve(&c.root, b"/a/./bc/../bc/", true).expect("resolve");
        assert_eq!(walked.path(), b"/a/bc");
        assert!(Arc::ptr_eq(walked.node(), &bc));
        assert_eq!(walked.parent().parent().depth(), 1);
    }

    #[test]
    fn dropping_a_very_deep_location_does_not_recurse() {
        let root = tmpfs::new(1, 0o755, 1 << 20);
        let mut loc = Location::root(Arc::clone(&root));
        for _ in 0..200_000 {
            loc = loc.child(b"d", Arc::clone(&root));
        }
        assert_eq!(loc.depth(), 200_001);
        let half = loc.parent();
        drop(loc);
        assert_eq!(half.name(), b"d");
        drop(half);
    }

    #[test]
    fn symlinks_are_followed_from_owned_components() {
        let root = tmpfs::new(1, 0o755, 1 << 20);
        let d = root.mkdir(b"d", 0o755).expect("mkdir");
        let f = d.create(b"f", FileType::Regular, 0o644, 0).expect("create");
        root.symlink(b"l", b"d/../d").expect("symlink");
        d.symlink(b"abs", b"/l/f").expect("symlink");
        let c = ctx(root);
        let loc = c.resolve(&c.root, b"l/abs", true).expect("resolve");
        assert!(Arc::ptr_eq(loc.node(), &f));
        assert_eq!(loc.path(), b"/d/f");
        let nofollow = c.resolve(&c.root, b"/l/abs", false).expect("resolve");
        assert_eq!(nofollow.node().file_kind().expect("kind"), Some(FileType::Symlink));
        assert_eq!(c.resolve(&c.root, b"l/f/x", true).err().map(|e| e.errno), Some(errno::ENOTDIR));
        assert_eq!(c.resolve(&c.root, b"l/nope", true).err().map(|e| e.errno), Some(errno::ENOENT));
    }
}
