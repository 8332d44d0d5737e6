//! Putting a container's sandbox process in its place on the host (its
//! cgroup and namespaces, from `linux.rs`), and taking the place down again
//! when the container is deleted, whatever happened to the process.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::linux::Placement;
use crate::cgroups::Cgroup;
use crate::sys::{self, PidNamespace};

/// The file in a container's state directory recording its cgroup
/// directories, written before the sandbox process starts so that a
/// `create` killed half-way still leaves `delete` what to remove.
const CGROUP_RECORD: &str = "cgroups";

/// The cgroup of a container whose config names none (relative: below the
/// runtime's own cgroup, as runc's default).
pub fn default_cgroup_path(id: &str) -> PathBuf {
    Path::new("ringfence").join(id)
}

/// Makes the container's cgroup and opens what the sandbox process's child
/// side needs to join it and its namespaces.
pub fn prepare(dir: &Path, id: &str, p: &Placement) -> anyhow::Result<(sys::Placement, PidNamespace)> {
    let path = p.cgroups_path.clone().unwrap_or_else(|| default_cgroup_path(id));
    let mut cgroup = Cgroup::create(&path, &p.resources).context("linux.resources")?;
    if p.cgroups_path.is_none() {
        // The default parent is ringfence's own: removed with its last
        // container, whichever container made it.
        for parent in cgroup.dirs.iter().filter_map(|d| d.parent()) {
            if !cgroup.parents.iter().any(|p| p == parent) {
                cgroup.parents.push(parent.to_path_buf());
            }
        }
    }
    let record = dir.join(CGROUP_RECORD);
    if let Err(e) = std::fs::write(&record, cgroup.to_record()) {
        let _ = cgroup.remove();
        return Err(e).with_context(|| format!("cannot write {}", record.display()));
    }
    let mut place = sys::Placement::default();
    for file in cgroup.join_files() {
        let fd = std::fs::OpenOptions::new()
            .write(true)
            .open(&file)
            .with_context(|| format!("cannot open {}", file.display()))?;
        place.cgroup_join.push(OwnedFd::from(fd));
    }
    let mut pid = PidNamespace::Shared;
    for ns in &p.namespaces {
        let fd = match &ns.path {
            None if ns.flag == libc::CLONE_NEWPID => {
                pid = PidNamespace::New;
                continue;
            }
            None => {
                place.unshare |= ns.flag;
                continue;
            }
            Some(path) => OwnedFd::from(
                std::fs::File::open(path)
                    .with_context(|| format!("cannot open the {} namespace {}", ns.name, path.display()))?,
            ),
        };
        if ns.flag == libc::CLONE_NEWPID {
            pid = PidNamespace::Join(fd);
        } else {
            place.join.push((fd, ns.flag));
        }
    }
    Ok((place, pid))
}

/// Removes the container's cgroup (killing what still runs in it: the
/// gofer of a sandbox process that was SIGKILLed without a pid namespace).
pub fn remove(dir: &Path) -> anyhow::Result<()> {
    let record = dir.join(CGROUP_RECORD);
    let text = match std::fs::read_to_string(&record) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", record.display())),
    };
    Cgroup::from_record(&text).remove().context("cannot remove the container's cgroup")?;
    let _ = std::fs::remove_file(&record);
    Ok(())
}
