//! Control groups for a container's sandbox and gofer processes, on either
//! layout the kernel offers without systemd:
//!
//! * **v2** (unified): `/sys/fs/cgroup` is a `cgroup2` mount; one directory
//!   holds every controller, enabled from the mount's root down through each
//!   ancestor's `cgroup.subtree_control`.
//! * **v1** (and the hybrid layout, whose `unified` mount carries no
//!   controller we use): one hierarchy per controller, found in
//!   `/proc/self/mountinfo`; the container gets a directory in each of the
//!   memory, cpu and pids hierarchies.
//!
//! Paths follow runc: an absolute `cgroupsPath` is taken from the root of
//! each hierarchy, a relative one (and the default `ringfence/<id>`) from the
//! runtime's own cgroup in it, so containers stay inside whatever limits the
//! caller runs under. Processes join by writing `0` in the forked child
//! before it executes (see [`Cgroup::join_files`]), so they never run
//! outside their limits.

use std::io::{self, Write as _};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

/// Where cgroup file systems are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The v1 controllers a container gets a directory in.
const V1_CONTROLLERS: &[&str] = &["memory", "cpu", "pids"];

/// How long removing a cgroup waits for its killed processes to leave it.
const EMPTY_TIMEOUT: Duration = Duration::from_secs(5);

/// The limits of `linux.resources` that ringfence applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    /// `memory.limit` in bytes (`None` or -1: unlimited).
    pub memory_limit: Option<i64>,
    /// `memory.reservation` (soft limit) in bytes.
    pub memory_reservation: Option<i64>,
    /// `memory.swap`: memory plus swap in bytes (-1: unlimited).
    pub memory_swap: Option<i64>,
    /// `cpu.shares` (v1 weight, 2..=262144).
    pub cpu_shares: Option<u64>,
    /// `cpu.quota` in microseconds per period (-1: unlimited).
    pub cpu_quota: Option<i64>,
    /// `cpu.period` in microseconds.
    pub cpu_period: Option<u64>,
    /// `pids.limit` (0 or less: unlimited, as runc).
    pub pids_limit: Option<i64>,
}

impl Resources {
    fn wants(&self, controller: &str) -> bool {
        match controller {
            "memory" => self.memory_limit.is_some() || self.memory_reservation.is_some() || self.memory_swap.is_some(),
            "cpu" => self.cpu_shares.is_some() || self.cpu_quota.is_some() || self.cpu_period.is_some(),
            "pids" => self.pids_limit.is_some(),
            _ => false,
        }
    }
}

/// Why a cgroup could not be set up or removed.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot create the cgroup {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {value:?} to {path}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: io::Error,
    },
    #[error("the {controller} controller is not available (linux.resources sets a {controller} limit)")]
    NoController { controller: String },
    /// A cgroup of the container's path is left from before (a killed
    /// run of a container of the same id) and processes still run in it.
    #[error("the cgroup {path} already exists and processes {pids:?} run in it (another container of this id?)")]
    InUse { path: PathBuf, pids: Vec<i32> },
    #[error("cannot remove the cgroup {path}")]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A container's cgroup: one directory (v2) or one per hierarchy (v1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cgroup {
    /// The container's directories.
    pub dirs: Vec<PathBuf>,
    /// Directories made for it above them (removed when empty).
    pub parents: Vec<PathBuf>,
}

/// One mounted hierarchy: where it is mounted, the cgroup path of its root
/// (not `/` inside a cgroup namespace), and the runtime's own cgroup in it.
#[derive(Debug)]
struct Hierarchy {
    controller: &'static str,
    mount: PathBuf,
    mount_root: PathBuf,
    own: PathBuf,
}

impl Hierarchy {
    /// The directory of cgroup `path` (absolute: from the hierarchy's root;
    /// relative: from the runtime's own cgroup).
    fn dir(&self, path: &Path) -> PathBuf {
        let base = if path.is_absolute() { Path::new("/") } else { self.own.as_path() };
        let full = base.join(path);
        let inside = full.strip_prefix(&self.mount_root).unwrap_or(&full);
        let rel = inside.strip_prefix("/").unwrap_or(inside);
        self.mount.join(rel)
    }
}

/// Checks a `cgroupsPath`: clean, with no `..` (it must not climb out of
/// the hierarchy) and no systemd `slice:prefix:name` form (no systemd here).
pub fn check_path(path: &Path) -> Result<(), String> {
    let text = path.to_string_lossy();
    if text.is_empty() {
        return Err("empty".into());
    }
    if text.contains(':') {
        return Err(format!("{text}: systemd cgroup paths (slice:prefix:name) are not supported"));
    }
    if path.components().any(|c| matches!(c, Component::ParentDir | Component::CurDir)) {
        return Err(format!("{text}: '.' and '..' are not allowed"));
    }
    Ok(())
}

impl Cgroup {
    /// Creates cgroup `path` in every hierarchy the container uses and sets
    /// `res` on it. On failure, removes whatever it created.
    pub fn create(path: &Path, res: &Resources) -> Result<Self, CgroupError> {
        let mut cg = Self { dirs: Vec::new(), parents: Vec::new() };
        // Read once: each read of these costs a walk of every mount or
        // hierarchy (~50-100 us here), on the path of every `create`.
        let host = HostView::read()?;
        let result = match host.unified_mount() {
            Some(mount) => cg.create_v2(&host, &mount, path, res),
            None => cg.create_v1(&host, path, res),
        };
        match result {
            Ok(()) => Ok(cg),
            Err(e) => {
                let _ = cg.remove();
                Err(e)
            }
        }
    }

    fn create_v2(&mut self, host: &HostView, mount: &Path, path: &Path, res: &Resources) -> Result<(), CgroupError> {
        let own = host.own_cgroup(|controllers| controllers.is_empty());
        let h = Hierarchy { controller: "", mount: mount.to_path_buf(), mount_root: host.mount_root(mount), own };
        let dir = h.dir(path);
        let available = read(&mount.join("cgroup.controllers"))?;
        let wanted: Vec<&str> = V1_CONTROLLERS
            .iter()
            .copied()
            .filter(|c| available.split_whitespace().any(|a| a == *c) || res.wants(c))
            .collect();
        if let Some(c) = wanted.iter().find(|c| !available.split_whitespace().any(|a| a == **c)) {
            return Err(CgroupError::NoController { controller: (*c).to_owned() });
        }
        self.make_dirs(mount, &dir)?;
        // Controllers reach a cgroup only through each ancestor's
        // subtree_control, from the root down.
        let mut ancestor = mount.to_path_buf();
        let rel = dir.strip_prefix(mount).unwrap_or(&dir).to_path_buf();
        for part in rel.components() {
            for c in &wanted {
                let file = ancestor.join("cgroup.subtree_control");
                if !read(&file)?.split_whitespace().any(|a| a == *c) {
                    write(&file, &format!("+{c}"))?;
                }
            }
            ancestor.push(part);
        }
        self.dirs.push(dir.clone());
        set_v2(&dir, res)
    }

    fn create_v1(&mut self, host: &HostView, path: &Path, res: &Resources) -> Result<(), CgroupError> {
        let hierarchies = host.v1_hierarchies();
        for controller in V1_CONTROLLERS {
            let Some(h) = hierarchies.iter().find(|h| h.controller == *controller) else {
                if res.wants(controller) {
                    return Err(CgroupError::NoController { controller: (*controller).to_owned() });
                }
                continue;
            };
            let dir = h.dir(path);
            // Co-mounted controllers (cpu,cpuacct) share one directory.
            if self.dirs.contains(&dir) {
                continue;
            }
            self.make_dirs(&h.mount, &dir)?;
            self.dirs.push(dir.clone());
            set_v1(controller, &dir, res)?;
        }
        Ok(())
    }

    /// `mkdir -p` below `mount`, remembering what it made. A parent that
    /// vanishes meanwhile (another container's delete removing an empty
    /// `ringfence/`) is made again.
    fn make_dirs(&mut self, mount: &Path, dir: &Path) -> Result<(), CgroupError> {
        let rel = dir.strip_prefix(mount).unwrap_or(dir);
        for _attempt in 0..3 {
            let mut cur = mount.to_path_buf();
            let mut vanished = false;
            for part in rel.components() {
                cur.push(part);
                match std::fs::create_dir(&cur) {
                    Ok(()) if cur == dir => {}
                    Ok(()) => self.parents.push(cur.clone()),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists && cur != dir => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        // Left by a run that was killed before `delete`:
                        // started afresh (no stale limits) when empty.
                        remove_stale(dir)?;
                        std::fs::create_dir(dir).map_err(|source| CgroupError::Create { path: cur.clone(), source })?;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        vanished = true;
                        break;
                    }
                    Err(source) => return Err(CgroupError::Create { path: cur, source }),
                }
            }
            if !vanished {
                return Ok(());
            }
        }
        Err(CgroupError::Create { path: dir.to_path_buf(), source: io::ErrorKind::NotFound.into() })
    }

    /// The files a single-threaded process writes `0` to, to join: v1's
    /// `tasks`, else (v2) `cgroup.procs`.
    ///
    /// Moving a whole thread group (`cgroup.procs`, or any pid but `0`)
    /// takes the kernel's global threadgroup lock for writing, which waits
    /// out an RCU grace period: 5-12 ms here, the largest single cost of
    /// `run`. Moving only the calling thread (`0` to v1 `tasks`) skips that
    /// lock (kernel/cgroup/cgroup.c, `cgroup_procs_write_start`): ~70 us. In
    /// the forked child before exec that thread is the whole process.
    pub fn join_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| join_file(d)).collect()
    }

    /// Kills whatever still runs in the cgroup, waits for it to leave, and
    /// removes the directories (and the parents made for them, when empty).
    pub fn remove(&self) -> Result<(), CgroupError> {
        let deadline = Instant::now() + EMPTY_TIMEOUT;
        for dir in self.dirs.iter().rev() {
            loop {
                // Tried first: the usual cgroup is empty by now (its
                // sandbox process reaped), and listing it costs a read.
                match std::fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    // EBUSY: processes still run there, or killed ones are
                    // still leaving.
                    Err(source) if Instant::now() > deadline => {
                        return Err(CgroupError::Remove { path: dir.clone(), source })
                    }
                    Err(_) => {
                        for pid in pids_in(dir) {
                            let _ = crate::sys::kill(pid, libc::SIGKILL);
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
        }
        for parent in self.parents.iter().rev() {
            // Other containers may still live there.
            let _ = std::fs::remove_dir(parent);
        }
        Ok(())
    }

    /// The record kept in the container's state directory: one directory a
    /// line, parents prefixed with `+`.
    pub fn to_record(&self) -> String {
        let mut s = String::new();
        for d in &self.dirs {
            s.push_str(&d.to_string_lossy());
            s.push('\n');
        }
        for p in &self.parents {
            s.push('+');
            s.push_str(&p.to_string_lossy());
            s.push('\n');
        }
        s
    }

    /// Reads [`Self::to_record`]'s text back; only paths below the cgroup
    /// mounts are taken (the record is ours, but a stray line must never
    /// make `delete` remove something else).
    pub fn from_record(text: &str) -> Self {
        let mut cg = Self { dirs: Vec::new(), parents: Vec::new() };
        for line in text.lines() {
            let (list, p) = match line.strip_prefix('+') {
                Some(p) => (&mut cg.parents, p),
                None => (&mut cg.dirs, line),
            };
            let p = PathBuf::from(p);
            if p.starts_with(CGROUP_ROOT) && !p.components().any(|c| c == Component::ParentDir) {
                list.push(p);
            }
        }
        cg
    }
}

fn set_v1(controller: &str, dir: &Path, res: &Resources) -> Result<(), CgroupError> {
    match controller {
        "memory" => {
            if let Some(v) = res.memory_limit {
                write(&dir.join("memory.limit_in_bytes"), &v.to_string())?;
            }
            if let Some(v) = res.memory_swap {
                write(&dir.join("memory.memsw.limit_in_bytes"), &v.to_string())?;
            }
            if let Some(v) = res.memory_reservation {
                write(&dir.join("memory.soft_limit_in_bytes"), &v.to_string())?;
            }
        }
        "cpu" => {
            if let Some(v) = res.cpu_shares {
                write(&dir.join("cpu.shares"), &v.to_string())?;
            }
            // The period first: a quota is checked against it.
            if let Some(v) = res.cpu_period {
                write(&dir.join("cpu.cfs_period_us"), &v.to_string())?;
            }
            if let Some(v) = res.cpu_quota {
                write(&dir.join("cpu.cfs_quota_us"), &v.to_string())?;
            }
        }
        "pids" => {
            if let Some(v) = res.pids_limit {
                write(&dir.join("pids.max"), &pids_max(v))?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn set_v2(dir: &Path, res: &Resources) -> Result<(), CgroupError> {
    let max = |v: i64| if v < 0 { "max".to_owned() } else { v.to_string() };
    if let Some(v) = res.memory_limit {
        write(&dir.join("memory.max"), &max(v))?;
    }
    if let Some(v) = res.memory_reservation {
        write(&dir.join("memory.low"), &max(v))?;
    }
    if let Some(swap) = res.memory_swap {
        // v1's memsw is memory plus swap; v2's swap.max is swap alone.
        let v = match (swap, res.memory_limit) {
            (s, _) if s < 0 => "max".to_owned(),
            (s, Some(l)) if l >= 0 => s.saturating_sub(l).max(0).to_string(),
            (s, _) => s.to_string(),
        };
        write(&dir.join("memory.swap.max"), &v)?;
    }
    if let Some(shares) = res.cpu_shares {
        write(&dir.join("cpu.weight"), &shares_to_weight(shares).to_string())?;
    }
    if res.cpu_quota.is_some() || res.cpu_period.is_some() {
        let quota = res.cpu_quota.filter(|q| *q > 0).map_or_else(|| "max".to_owned(), |q| q.to_string());
        let period = res.cpu_period.unwrap_or(100_000);
        write(&dir.join("cpu.max"), &format!("{quota} {period}"))?;
    }
    if let Some(v) = res.pids_limit {
        write(&dir.join("pids.max"), &pids_max(v))?;
    }
    Ok(())
}

fn pids_max(limit: i64) -> String {
    if limit > 0 {
        limit.to_string()
    } else {
        "max".to_owned()
    }
}

/// runc's conversion of v1 shares (2..=262144) to a v2 weight (1..=10000).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 100;
    }
    1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142
}

fn read(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(|source| CgroupError::Read { path: path.to_path_buf(), source })
}

fn write(path: &Path, value: &str) -> Result<(), CgroupError> {
    let err = |source| CgroupError::Write { path: path.to_path_buf(), value: value.to_owned(), source };
    let mut f = std::fs::OpenOptions::new().write(true).open(path).map_err(err)?;
    f.write_all(value.as_bytes()).map_err(err)
}

/// See [`Cgroup::join_files`]: only v1 directories have `tasks`.
fn join_file(dir: &Path) -> PathBuf {
    let tasks = dir.join("tasks");
    if tasks.exists() {
        tasks
    } else {
        dir.join("cgroup.procs")
    }
}

/// Removes the leftover cgroup `dir` and the empty cgroups below it, or
/// fails naming the processes that still run there.
fn remove_stale(dir: &Path) -> Result<(), CgroupError> {
    let pids = pids_in_tree(dir, 0);
    if !pids.is_empty() {
        return Err(CgroupError::InUse { path: dir.to_path_buf(), pids });
    }
    tracing::warn!(cgroup = %dir.display(), "removing a leftover cgroup of this container id");
    remove_tree(dir, 0)
}

/// Nesting followed below a leftover cgroup (ours have none).
const MAX_DEPTH: usize = 16;

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().filter(|e| e.file_type().is_ok_and(|t| t.is_dir())).map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn pids_in_tree(dir: &Path, depth: usize) -> Vec<i32> {
    let mut pids = pids_in(dir);
    if depth < MAX_DEPTH {
        for sub in subdirs(dir) {
            pids.extend(pids_in_tree(&sub, depth + 1));
        }
    }
    pids
}

fn remove_tree(dir: &Path, depth: usize) -> Result<(), CgroupError> {
    if depth < MAX_DEPTH {
        for sub in subdirs(dir) {
            remove_tree(&sub, depth + 1)?;
        }
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(CgroupError::Remove { path: dir.to_path_buf(), source }),
    }
}

fn pids_in(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// One mount of `/proc/self/mountinfo`: (root, mount point, fs type, super
/// options).
type Mount = (PathBuf, PathBuf, String, String);

/// What the cgroup code reads of this process's view of the host, read
/// once per operation: its mounts and its own cgroups.
struct HostView {
    mounts: Vec<Mount>,
    /// `/proc/self/cgroup`.
    own: String,
}

impl HostView {
    fn read() -> Result<Self, CgroupError> {
        Ok(Self {
            mounts: parse_mountinfo(&read(Path::new("/proc/self/mountinfo"))?),
            own: read(Path::new("/proc/self/cgroup"))?,
        })
    }

    /// `/sys/fs/cgroup` when it is a `cgroup2` mount (the unified layout).
    fn unified_mount(&self) -> Option<PathBuf> {
        self.mounts
            .iter()
            .find(|(_, mp, fs, _)| fs == "cgroup2" && mp == Path::new(CGROUP_ROOT))
            .map(|(_, mp, _, _)| mp.clone())
    }

    fn mount_root(&self, mount: &Path) -> PathBuf {
        self.mounts
            .iter()
            .find(|(_, mp, _, _)| mp == mount)
            .map_or_else(|| PathBuf::from("/"), |(root, ..)| root.clone())
    }

    fn v1_hierarchies(&self) -> Vec<Hierarchy> {
        let mut out = Vec::new();
        for (root, mount, fs, opts) in &self.mounts {
            if fs != "cgroup" {
                continue;
            }
            for controller in V1_CONTROLLERS {
                if opts.split(',').any(|o| o == *controller)
                    && !out.iter().any(|h: &Hierarchy| h.controller == *controller)
                {
                    let own = self.own_cgroup(|list| list.split(',').any(|c| c == *controller));
                    out.push(Hierarchy { controller, mount: mount.clone(), mount_root: root.clone(), own });
                }
            }
        }
        out
    }

    /// The runtime's own cgroup in the hierarchy whose `/proc/self/cgroup`
    /// controller list satisfies `matches` (empty for v2).
    fn own_cgroup(&self, matches: impl Fn(&str) -> bool) -> PathBuf {
        self.own
            .lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, list, path) = (parts.next()?, parts.next()?, parts.next()?);
                matches(list).then(|| PathBuf::from(path))
            })
            .next()
            .unwrap_or_else(|| PathBuf::from("/"))
    }
}

/// The mounts of a `/proc/self/mountinfo` text.
fn parse_mountinfo(text: &str) -> Vec<Mount> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else { continue };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 5 || r.len() < 3 {
            continue;
        }
        out.push((PathBuf::from(unescape(l[3])), PathBuf::from(unescape(l[4])), r[0].to_owned(), r[2].to_owned()));
    }
    out
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b.get(i + 1..i + 4).filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push(d.iter().fold(0u8, |n, c| n.wrapping_mul(8).wrapping_add(c - b'0')));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let h = Hierarchy {
            controller: "memory",
            mount: "/sys/fs/cgroup/memory".into(),
            mount_root: "/".into(),
            own: "/a/b".into(),
        };
        assert_eq!(h.dir(Path::new("/x/y")), Path::new("/sys/fs/cgroup/memory/x/y"));
        assert_eq!(h.dir(Path::new("x/y")), Path::new("/sys/fs/cgroup/memory/a/b/x/y"));
        assert!(check_path(Path::new("/ok/path")).is_ok());
        assert!(check_path(Path::new("a/../../b")).is_err());
        assert!(check_path(Path::new("system.slice:rf:x")).is_err());
    }

    #[test]
    fn weights() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
    }

    #[test]
    fn records() {
        let cg = Cgroup {
            dirs: vec!["/sys/fs/cgroup/memory/ringfence/x".into()],
            parents: vec!["/sys/fs/cgroup/memory/ringfence".into()],
        };
        assert_eq!(Cgroup::from_record(&cg.to_record()), cg);
        assert!(Cgroup::from_record("/etc\n+/sys/fs/cgroup/../etc\n").dirs.is_empty());
    }

    #[test]
    fn joins_through_tasks_on_v1_only() {
        let base = std::env::temp_dir().join(format!("rf-cgjoin-{}", std::process::id()));
        let (v1, v2) = (base.join("v1"), base.join("v2"));
        std::fs::create_dir_all(&v1).expect("mkdir");
        std::fs::create_dir_all(&v2).expect("mkdir");
        std::fs::write(v1.join("tasks"), "").expect("tasks");
        let cg = Cgroup { dirs: vec![v1.clone(), v2.clone()], parents: Vec::new() };
        assert_eq!(cg.join_files(), [v1.join("tasks"), v2.join("cgroup.procs")]);
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
