//! The `linux` section of config.json that places the sandbox process on
//! the host: its namespaces (`linux.namespaces`), its cgroup
//! (`linux.cgroupsPath`) and limits (`linux.resources`). What ringfence cannot
//! honour is refused naming the field.

use std::path::PathBuf;

use oci_spec::runtime::{LinuxNamespaceType, LinuxResources, Spec};

use crate::cgroups::{self, Resources};

/// One namespace of the sandbox process, as runc reads `linux.namespaces`:
/// listed without a path, a new one; with a path, that one is joined; not
/// listed, the runtime's own is shared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// The `CLONE_NEW*` flag of its type.
    pub flag: libc::c_int,
    /// The type as config.json spells it.
    pub name: &'static str,
    /// The namespace file to join (`None`: a new namespace).
    pub path: Option<PathBuf>,
}

/// Where the sandbox process goes on the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Placement {
    pub namespaces: Vec<Namespace>,
    /// `linux.cgroupsPath` (`None`: the default `ringfence/<id>`).
    pub cgroups_path: Option<PathBuf>,
    pub resources: Resources,
}

/// The namespace types `linux.namespaces` may list (the `features` command
/// reports these).
pub const NAMESPACES: &[&str] = &["cgroup", "ipc", "mount", "network", "pid", "uts"];

type Checked<T> = Result<T, (String, String)>;

fn err<T>(field: impl Into<String>, why: impl Into<String>) -> Checked<T> {
    Err((field.into(), why.into()))
}

/// Checks `linux.namespaces`, `linux.cgroupsPath` and `linux.resources`.
pub fn check_placement(spec: &Spec) -> Checked<Placement> {
    let Some(linux) = spec.linux() else { return Ok(Placement::default()) };
    let mut namespaces: Vec<Namespace> = Vec::new();
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        let field = format!("linux.namespaces[{i}]");
        let (flag, name) = match ns.typ() {
            LinuxNamespaceType::Mount => (libc::CLONE_NEWNS, "mount"),
            LinuxNamespaceType::Pid => (libc::CLONE_NEWPID, "pid"),
            LinuxNamespaceType::Network => (libc::CLONE_NEWNET, "network"),
            LinuxNamespaceType::Ipc => (libc::CLONE_NEWIPC, "ipc"),
            LinuxNamespaceType::Uts => (libc::CLONE_NEWUTS, "uts"),
            LinuxNamespaceType::Cgroup => (libc::CLONE_NEWCGROUP, "cgroup"),
            // The sentry keeps its own uids and clocks: the host-side
            // process gains nothing from these, and they are not wired.
            LinuxNamespaceType::User => return err(format!("{field}.type"), "user namespaces are not supported yet"),
            LinuxNamespaceType::Time => return err(format!("{field}.type"), "time namespaces are not supported yet"),
        };
        if namespaces.iter().any(|n| n.flag == flag) {
            return err(format!("{field}.type"), format!("{name} is listed twice"));
        }
        let path = ns.path().clone().filter(|p| !p.as_os_str().is_empty());
        if let Some(p) = &path {
            if flag == libc::CLONE_NEWNS {
                // The sandbox process and its gofer reach the state
                // directory and the rootfs by host paths, which another
                // mount namespace may not have.
                return err(format!("{field}.path"), "joining an existing mount namespace is not supported");
            }
            if !p.is_absolute() {
                return err(format!("{field}.path"), format!("{}: not an absolute path", p.display()));
            }
            if let Err(e) = std::fs::metadata(p) {
                return err(format!("{field}.path"), format!("{}: {e}", p.display()));
            }
        }
        namespaces.push(Namespace { flag, name, path });
    }
    let cgroups_path = linux.cgroups_path().clone();
    if let Some(p) = &cgroups_path {
        cgroups::check_path(p).or_else(|why| err("linux.cgroupsPath", why))?;
    }
    let resources = match linux.resources() {
        Some(r) => check_resources(r)?,
        None => Resources::default(),
    };
    Ok(Placement { namespaces, cgroups_path, resources })
}

fn check_resources(r: &LinuxResources) -> Checked<Resources> {
    // Fields that have no cgroup setting here yet. `devices` is accepted:
    // the sandbox gives the container no host device whatever it says.
    let unsupported = [
        ("linux.resources.blockIO", r.block_io().is_some()),
        ("linux.resources.hugepageLimits", r.hugepage_limits().as_ref().is_some_and(|v| !v.is_empty())),
        ("linux.resources.network", r.network().is_some()),
        ("linux.resources.rdma", r.rdma().as_ref().is_some_and(|v| !v.is_empty())),
        ("linux.resources.unified", r.unified().as_ref().is_some_and(|v| !v.is_empty())),
    ];
    if let Some((field, _)) = unsupported.iter().find(|(_, set)| *set) {
        return err(*field, "not supported yet");
    }
    let mut res = Resources::default();
    if let Some(m) = r.memory() {
        let unsupported = [
            ("kernel", m.kernel().is_some()),
            ("kernelTCP", m.kernel_tcp().is_some()),
            ("swappiness", m.swappiness().is_some()),
            ("disableOOMKiller", m.disable_oom_killer() == Some(true)),
        ];
        if let Some((name, _)) = unsupported.iter().find(|(_, set)| *set) {
            return err(format!("linux.resources.memory.{name}"), "not supported yet");
        }
        for (name, v) in [("limit", m.limit()), ("reservation", m.reservation()), ("swap", m.swap())] {
            if let Some(v) = v {
                if v == 0 || v < -1 {
                    return err(format!("linux.resources.memory.{name}"), format!("{v}: a byte count or -1 expected"));
                }
            }
        }
        if let (Some(limit), Some(swap)) = (m.limit(), m.swap()) {
            if limit > 0 && swap > 0 && swap < limit {
                return err("linux.resources.memory.swap", format!("{swap} is below memory.limit {limit}"));
            }
        }
        res.memory_limit = m.limit();
        res.memory_reservation = m.reservation();
        res.memory_swap = m.swap();
    }
    if let Some(c) = r.cpu() {
        let unsupported = [
            ("cpus", c.cpus().as_ref().is_some_and(|s| !s.is_empty())),
            ("mems", c.mems().as_ref().is_some_and(|s| !s.is_empty())),
            ("realtimeRuntime", c.realtime_runtime().is_some()),
            ("realtimePeriod", c.realtime_period().is_some()),
            ("burst", c.burst().is_some()),
            ("idle", c.idle().is_some()),
        ];
        if let Some((name, _)) = unsupported.iter().find(|(_, set)| *set) {
            return err(format!("linux.resources.cpu.{name}"), "not supported yet");
        }
        if let Some(s) = c.shares() {
            if !(2..=262_144).contains(&s) {
                return err("linux.resources.cpu.shares", format!("{s}: between 2 and 262144 expected"));
            }
        }
        if let Some(p) = c.period() {
            if !(1000..=1_000_000).contains(&p) {
                return err("linux.resources.cpu.period", format!("{p}: between 1000 and 1000000 µs expected"));
            }
        }
        if let Some(q) = c.quota() {
            if q != -1 && q < 1000 {
                return err("linux.resources.cpu.quota", format!("{q}: -1 or at least 1000 µs expected"));
            }
        }
        res.cpu_shares = c.shares();
        res.cpu_quota = c.quota();
        res.cpu_period = c.period();
    }
    if let Some(p) = r.pids() {
        res.pids_limit = Some(p.limit());
    }
    Ok(res)
}
