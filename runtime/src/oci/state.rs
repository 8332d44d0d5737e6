//! Container state: one directory per container under `--root`, holding
//! `state.json` (replaced atomically: written to a temporary file, then
//! renamed), the checked `config.json`, and the start FIFO. Commands lock the
//! directory (flock) so that concurrent commands on one container serialise.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use serde::{Deserialize, Serialize};

use super::spec::OCI_VERSION;

/// The state file in a container's directory.
const STATE_FILE: &str = "state.json";
/// The FIFO the sandbox process waits on until `start` (as runc's exec.fifo).
pub const START_FIFO: &str = "exec.fifo";
/// The config.json checked by `create`, as the sandbox process reads it.
pub const CONFIG_COPY: &str = "config.json";

/// The runtime-spec statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    /// The VM's vCPU does not run (`pause`).
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Creating => "creating",
            Self::Created => "created",
            Self::Running => "running",
            Self::Paused => "paused",
            Self::Stopped => "stopped",
        })
    }
}

/// What `state.json` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    pub id: String,
    /// The status last written; [`Container::status`] checks it against
    /// the sandbox process.
    pub status: Status,
    /// The sandbox process, once started.
    pub pid: Option<i32>,
    /// Its start time (field 22 of /proc/PID/stat), so that a recycled pid
    /// is not taken for it.
    pub pid_start: Option<u64>,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339, UTC.
    pub created: String,
    pub annotations: HashMap<String, String>,
}

/// The runtime-spec state, as `ringfence state` prints it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SpecState<'a> {
    pub oci_version: &'a str,
    pub id: &'a str,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    pub bundle: &'a Path,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: &'a HashMap<String, String>,
}

/// A container's directory, locked for as long as this lives.
#[derive(Debug)]
pub struct Container {
    pub dir: PathBuf,
    pub stored: Stored,
    _lock: File,
}

/// Checks a container id: a single path component of safe characters (as
/// runc: letters, digits, `_+-.`), so that it cannot escape `--root`.
pub fn check_id(id: &str) -> anyhow::Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if !ok {
        bail!("invalid container id format: {id:?}");
    }
    Ok(())
}

/// Makes `root` (mode 0711) and returns its absolute path.
pub fn ensure_root(root: &Path) -> anyhow::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(root)
        .with_context(|| format!("cannot create the state root {}", root.display()))?;
    std::fs::canonicalize(root).with_context(|| format!("state root {}", root.display()))
}

impl Container {
    /// Makes the directory of a new container, locked, with status
    /// creating. Fails if the id is taken.
    pub fn create(root: &Path, stored: Stored) -> anyhow::Result<Self> {
        use std::os::unix::fs::DirBuilderExt as _;
        check_id(&stored.id)?;
        let dir = root.join(&stored.id);
        match std::fs::DirBuilder::new().mode(0o711).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                bail!("container with id exists: {}", stored.id)
            }
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
        }
        let lock = match lock_dir(&dir, true) {
            Ok(l) => l,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let c = Self { dir, stored, _lock: lock };
        if let Err(e) = c.save() {
            let _ = std::fs::remove_dir_all(&c.dir);
            return Err(e);
        }
        Ok(c)
    }

    /// Opens an existing container, locked (exclusively when it will be
    /// changed).
    pub fn open(root: &Path, id: &str, exclusive: bool) -> anyhow::Result<Self> {
        check_id(id)?;
        let dir = root.join(id);
        let lock = match File::open(&dir) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!("container does not exist: {id}"),
            Err(e) => return Err(e).with_context(|| format!("cannot open {}", dir.display())),
        };
        let r = if exclusive { lock.lock() } else { lock.lock_shared() };
        r.with_context(|| format!("cannot lock {}", dir.display()))?;
        let path = dir.join(STATE_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            // Deleted while we waited for the lock.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!("container does not exist: {id}"),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let stored = serde_json::from_slice(&bytes).with_context(|| format!("corrupt state {}", path.display()))?;
        Ok(Self { dir, stored, _lock: lock })
    }

    /// Writes `state.json` atomically.
    pub fn save(&self) -> anyhow::Result<()> {
        let tmp = self.dir.join(format!(".{STATE_FILE}.tmp"));
        let path = self.dir.join(STATE_FILE);
        let mut text = serde_json::to_vec(&self.stored)?;
        text.push(b'\n');
        let mut f = File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        // No fsync: the rename is what makes the update atomic for the
        // other commands, and state under /run (tmpfs) does not outlive a
        // reboot anyway (runc does not sync it either); an fdatasync cost
        // ~10 ms a save on a disk-backed --root, three saves per create.
        f.write_all(&text).with_context(|| format!("cannot write {}", tmp.display()))?;
        drop(f);
        replace(&tmp, &path)
    }

    /// The status, checked against the sandbox process: a container whose
    /// process is gone is stopped, whatever was last written.
    pub fn status(&self) -> Status {
        match self.stored.status {
            Status::Created | Status::Running | Status::Paused if !self.alive() => Status::Stopped,
            s => s,
        }
    }

    /// Whether the sandbox process still runs (not a zombie, not a
    /// recycled pid).
    pub fn alive(&self) -> bool {
        match (self.stored.pid, self.stored.pid_start) {
            (Some(pid), Some(start)) => proc_start_time(pid) == Some(start),
            _ => false,
        }
    }

    /// The runtime-spec state.
    pub fn spec_state(&self) -> SpecState<'_> {
        let status = self.status();
        SpecState {
            oci_version: OCI_VERSION,
            id: &self.stored.id,
            status,
            // As runc: no pid once stopped.
            pid: self.stored.pid.filter(|_| status != Status::Stopped),
            bundle: &self.stored.bundle,
            annotations: &self.stored.annotations,
        }
    }

    /// Removes the directory (the lock goes with it).
    pub fn remove(self) -> anyhow::Result<()> {
        std::fs::remove_dir_all(&self.dir).with_context(|| format!("cannot remove {}", self.dir.display()))
    }
}

/// Puts `tmp` in the place of `path` atomically, `tmp` gone afterwards.
///
/// An exchange (`RENAME_EXCHANGE`) then an unlink of the old text, not a
/// rename over it: on ext4 (`--root` on disk, as `/run` and `/tmp` are on
/// these machines) a rename over an existing file starts the new file's
/// writeback (`auto_da_alloc`), and removing that file later waits for
/// the write to finish. `run` saves state.json twice and deletes it at
/// the end: ~0.35 ms of saves and ~0.35 ms in the final unlink, against
/// ~0.1 ms and ~0.06 ms exchanged (a file never written back is dropped
/// without I/O). A plain rename where there is nothing to exchange with
/// (the first save) or where the file system has no exchange.
fn replace(tmp: &Path, path: &Path) -> anyhow::Result<()> {
    let cwd = rustix::fs::CWD;
    match rustix::fs::renameat_with(cwd, tmp, cwd, path, rustix::fs::RenameFlags::EXCHANGE) {
        Ok(()) => {
            // The old text; a leftover would only be overwritten by the
            // next save or removed with the directory.
            let _ = std::fs::remove_file(tmp);
            Ok(())
        }
        Err(_) => std::fs::rename(tmp, path).with_context(|| format!("cannot replace {}", path.display())),
    }
}

fn lock_dir(dir: &Path, exclusive: bool) -> anyhow::Result<File> {
    let f = File::open(dir).with_context(|| format!("cannot open {}", dir.display()))?;
    let r = if exclusive { f.lock() } else { f.lock_shared() };
    r.with_context(|| format!("cannot lock {}", dir.display()))?;
    Ok(f)
}

/// The start time of a live (non-zombie) process, from /proc/PID/stat.
pub fn proc_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces and ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // starttime is field 22; `rest` starts at field 3.
    fields.nth(22 - 4)?.parse().ok()
}

/// The ids under `root`, sorted.
pub fn list_ids(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ids),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", root.display())),
    };
    for e in entries {
        let e = e?;
        if e.file_type()?.is_dir() {
            if let Some(name) = e.file_name().to_str() {
                if check_id(name).is_ok() {
                    ids.push(name.to_owned());
                }
            }
        }
    }
    ids.sort();
    Ok(ids)
}

/// Now as RFC 3339 UTC with nanoseconds (as runc's `created`).
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    rfc3339(d.as_secs(), d.subsec_nanos())
}

/// `secs` since the epoch as RFC 3339 UTC.
pub fn now_rfc3339_at(secs: u64) -> String {
    rfc3339(secs, 0)
}

fn rfc3339(secs: u64, nanos: u32) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let tod = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z", tod / 3600, tod / 60 % 60, tod % 60, nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(check_id("abc-1.2_x+y").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "\u{e9}"] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn own_start_time() {
        let me = i32::try_from(std::process::id()).unwrap_or(0);
        assert!(proc_start_time(me).is_some());
    }

    /// Each save replaces the text (exchanged, the old text removed), and
    /// the directory holds nothing else.
    #[test]
    fn saves_replace_the_state() {
        let root = std::env::temp_dir().join(format!("rf-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("mkdir");
        let stored = Stored {
            id: "c".into(),
            status: Status::Creating,
            pid: None,
            pid_start: None,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: now_rfc3339(),
            annotations: HashMap::new(),
        };
        let mut c = Container::create(&root, stored).expect("create");
        for (status, pid) in [(Status::Created, 7), (Status::Running, 8)] {
            c.stored.status = status;
            c.stored.pid = Some(pid);
            c.save().expect("save");
            let read: Stored =
                serde_json::from_slice(&std::fs::read(c.dir.join(STATE_FILE)).expect("read")).expect("parse");
            assert_eq!((read.status, read.pid), (status, Some(pid)));
            let names: Vec<_> = std::fs::read_dir(&c.dir).expect("list").flatten().map(|e| e.file_name()).collect();
            assert_eq!(names, [STATE_FILE], "only the state file");
        }
        drop(c);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn rfc3339_shape() {
        let t = now_rfc3339();
        assert_eq!(t.len(), "2026-11-22T20:44:45.000000000Z".len(), "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z'), "{t}");
    }
}
