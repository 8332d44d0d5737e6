//! The trees a gofer serves besides its root: the container's bind mounts,
//! each attached by its name (`Tattach.aname`) and confined to itself as
//! the root is (its top node has no parent, so `..` stays there).
//!
//! Each source is bind-mounted onto itself inside the gofer's private mount
//! namespace and remounted `nodev,nosuid,noexec` (and `ro` for a read-only
//! mount) before the gofer pivots into its root, and is then held as an
//! `O_PATH` descriptor: after the pivot no path reaches it, but the
//! descriptor does, and the kernel enforces the mount's read-only flag on
//! every change made through it.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::MountFlags;

/// One extra tree to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeSpec {
    /// The attach name the client asks for (non-empty, not `/`).
    pub name: String,
    /// The host file or directory (absolute, resolved by the runtime).
    pub source: PathBuf,
    pub readonly: bool,
}

impl TreeSpec {
    /// Parses `NAME:ro:PATH` or `NAME:rw:PATH` (the `--tree` argument).
    pub fn parse(arg: &str) -> Option<Self> {
        let (name, rest) = arg.split_once(':')?;
        let (mode, source) = rest.split_once(':')?;
        let readonly = match mode {
            "ro" => true,
            "rw" => false,
            _ => return None,
        };
        let ok_name = !name.is_empty() && !name.contains('/');
        (ok_name && source.starts_with('/')).then(|| Self { name: name.into(), source: source.into(), readonly })
    }

    /// The `--tree` argument for this tree.
    pub fn to_arg(&self) -> String {
        format!("{}:{}:{}", self.name, if self.readonly { "ro" } else { "rw" }, self.source.display())
    }
}

/// A tree opened for serving.
#[derive(Debug)]
pub struct OpenTree {
    pub name: String,
    pub fd: OwnedFd,
    pub readonly: bool,
}

/// Binds `spec.source` onto itself with the serving flags and opens it
/// (inside the gofer's private mount namespace, before the pivot).
pub(crate) fn bind_and_open(spec: &TreeSpec) -> Result<OpenTree, Errno> {
    let src = spec.source.as_path();
    rustix::mount::mount_bind(src, src)?;
    let mut flags = MountFlags::BIND | MountFlags::NODEV | MountFlags::NOSUID | MountFlags::NOEXEC;
    if spec.readonly {
        flags |= MountFlags::RDONLY;
    }
    let top = if src == Path::new("/") { Path::new("/..") } else { src };
    rustix::mount::mount_remount(top, flags, "")?;
    let fd = rustix::fs::open(top, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
    Ok(OpenTree { name: spec.name.clone(), fd, readonly: spec.readonly })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tree_arguments() {
        let t = TreeSpec::parse("m3:ro:/srv/a:b").expect("parses");
        assert_eq!((t.name.as_str(), t.readonly, t.source.as_path()), ("m3", true, Path::new("/srv/a:b")));
        assert_eq!(TreeSpec::parse(&t.to_arg()), Some(t));
        for bad in ["m3:rx:/a", ":ro:/a", "m3:ro:rel", "a/b:rw:/x", "m3"] {
            assert_eq!(TreeSpec::parse(bad), None, "{bad}");
        }
    }
}
