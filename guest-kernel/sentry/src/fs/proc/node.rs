//! The inodes of /proc: fixed top-level entries, per-process directories
//! and their files and links. A node names what it shows (a pid, a file
//! kind); whether it still exists and where a link points are answered by
//! the installed [`super::view::View`].

use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::view::{self, View};
use super::ProcShared;
use crate::error::SysError;
use crate::time::coarse_now;
use crate::vfs::{DirEntry, FileType, Inode, InodeRef, Stat, StatFs};
use abi::linux::errno;

/// PROC_SUPER_MAGIC for statfs.
const PROC_SUPER_MAGIC: u64 = 0x9fa0;

/// A top-level file (not tied to a process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysFile {
    Cpuinfo,
    Meminfo,
    Uptime,
    Loadavg,
    Stat,
    Filesystems,
    Version,
    Hostname,
    Osrelease,
    Ostype,
    PidMax,
    KernelVersion,
    Uuid,
    Overcommit,
    PipeMaxSize,
}

/// A file in a process (or thread) directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidFile {
    Stat,
    Statm,
    Status,
    Cmdline,
    Environ,
    Comm,
    Maps,
    Mounts,
    Mountinfo,
}

/// A symlink in a process directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PidLink {
    Exe,
    Cwd,
    Root,
}

/// A process directory: `/proc/<pid>` (`tid == pid`, `in_task` false) or
/// `/proc/<pid>/task/<tid>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thread {
    pub pid: u32,
    pub tid: u32,
    pub in_task: bool,
}

/// What a node shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Root,
    /// A fixed directory, by its path below /proc ("sys/kernel").
    Dir(&'static str),
    Sys(SysFile),
    /// A fixed symlink (/proc/mounts -> self/mounts).
    FixedLink(&'static str),
    SelfLink,
    ThreadSelf,
    Pid(Thread),
    Tasks(u32),
    Fds(Thread),
    FdInfos(Thread),
    Fd(Thread, u32),
    /// What `Fd` leads to when its file has no path.
    FdObject(Thread, u32),
    FdInfo(Thread, u32),
    File(Thread, PidFile),
    Link(Thread, PidLink),
}

/// The fixed entries: (parent directory, name, kind).
const FIXED: &[(&str, &str, Kind)] = &[
    ("", "cpuinfo", Kind::Sys(SysFile::Cpuinfo)),
    ("", "meminfo", Kind::Sys(SysFile::Meminfo)),
    ("", "uptime", Kind::Sys(SysFile::Uptime)),
    ("", "loadavg", Kind::Sys(SysFile::Loadavg)),
    ("", "stat", Kind::Sys(SysFile::Stat)),
    ("", "filesystems", Kind::Sys(SysFile::Filesystems)),
    ("", "version", Kind::Sys(SysFile::Version)),
    ("", "mounts", Kind::FixedLink("self/mounts")),
    ("", "self", Kind::SelfLink),
    ("", "thread-self", Kind::ThreadSelf),
    ("", "sys", Kind::Dir("sys")),
    ("sys", "kernel", Kind::Dir("sys/kernel")),
    ("sys", "vm", Kind::Dir("sys/vm")),
    ("sys", "fs", Kind::Dir("sys/fs")),
    ("sys/kernel", "hostname", Kind::Sys(SysFile::Hostname)),
    ("sys/kernel", "osrelease", Kind::Sys(SysFile::Osrelease)),
    ("sys/kernel", "ostype", Kind::Sys(SysFile::Ostype)),
    ("sys/kernel", "pid_max", Kind::Sys(SysFile::PidMax)),
    ("sys/kernel", "version", Kind::Sys(SysFile::KernelVersion)),
    ("sys/kernel", "random", Kind::Dir("sys/kernel/random")),
    ("sys/kernel/random", "uuid", Kind::Sys(SysFile::Uuid)),
    ("sys/vm", "overcommit_memory", Kind::Sys(SysFile::Overcommit)),
    ("sys/fs", "pipe-max-size", Kind::Sys(SysFile::PipeMaxSize)),
];

/// Entries of a process directory (a thread directory has no "task").
const PID_ENTRIES: &[(&str, PidEntry)] = &[
    ("cmdline", PidEntry::File(PidFile::Cmdline)),
    ("comm", PidEntry::File(PidFile::Comm)),
    ("cwd", PidEntry::Link(PidLink::Cwd)),
    ("environ", PidEntry::File(PidFile::Environ)),
    ("exe", PidEntry::Link(PidLink::Exe)),
    ("fd", PidEntry::Fds),
    ("fdinfo", PidEntry::FdInfos),
    ("maps", PidEntry::File(PidFile::Maps)),
    ("mountinfo", PidEntry::File(PidFile::Mountinfo)),
    ("mounts", PidEntry::File(PidFile::Mounts)),
    ("root", PidEntry::Link(PidLink::Root)),
    ("stat", PidEntry::File(PidFile::Stat)),
    ("statm", PidEntry::File(PidFile::Statm)),
    ("status", PidEntry::File(PidFile::Status)),
    ("task", PidEntry::Tasks),
];

#[derive(Debug, Clone, Copy)]
enum PidEntry {
    File(PidFile),
    Link(PidLink),
    Fds,
    FdInfos,
    Tasks,
}

/// A /proc node.
pub struct Node {
    pub fs: Arc<ProcShared>,
    pub kind: Kind,
}

fn enoent() -> SysError {
    SysError::new(errno::ENOENT, "no such /proc entry")
}

/// Parses a decimal id (no sign, no leading zeros).
fn parse_id(name: &[u8]) -> Option<u32> {
    if name.is_empty() || name.len() > 10 || (name[0] == b'0' && name.len() > 1) {
        return None;
    }
    core::str::from_utf8(name).ok()?.parse().ok()
}

/// A stable inode number for a node.
fn ino_of(kind: &Kind) -> u64 {
    // FNV-1a over the node's description: distinct nodes get distinct
    // numbers in practice, and a node keeps its number across lookups.
    let text = format!("{kind:?}");
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 16) | 2
}

impl Node {
    pub fn new(fs: Arc<ProcShared>, kind: Kind) -> Self {
        Self { fs, kind }
    }

    fn child(&self, kind: Kind) -> InodeRef {
        Arc::new(Self::new(Arc::clone(&self.fs), kind))
    }

    /// Whether this is a regular file (contents generated at open).
    pub fn is_file(&self) -> bool {
        matches!(self.kind, Kind::Sys(_) | Kind::File(..) | Kind::FdInfo(..))
    }

    fn file_type(&self) -> FileType {
        match self.kind {
            Kind::Root | Kind::Dir(_) | Kind::Pid(_) | Kind::Tasks(_) | Kind::Fds(_) | Kind::FdInfos(_) => {
                FileType::Directory
            }
            Kind::FixedLink(_) | Kind::SelfLink | Kind::ThreadSelf | Kind::Fd(..) | Kind::Link(..) => FileType::Symlink,
            Kind::Sys(_) | Kind::File(..) | Kind::FdInfo(..) => FileType::Regular,
            // Its real type comes with the stat from the view.
            Kind::FdObject(..) => FileType::Fifo,
        }
    }

    /// The attributes (they need no view).
    pub fn stat_now(&self) -> Stat {
        let kind = self.file_type();
        let perm = match self.kind {
            Kind::Fd(..) => 0o700,
            Kind::Fds(_) => 0o500,
            Kind::Sys(SysFile::Overcommit | SysFile::PipeMaxSize | SysFile::Hostname | SysFile::PidMax) => 0o644,
            Kind::File(_, PidFile::Comm) => 0o644,
            Kind::File(_, PidFile::Environ) => 0o400,
            _ if kind == FileType::Directory => 0o555,
            _ if kind == FileType::Symlink => 0o777,
            _ => 0o444,
        };
        let now = coarse_now();
        Stat {
            dev: self.fs.dev,
            ino: ino_of(&self.kind),
            mode: kind.mode_bits() | perm,
            nlink: if kind == FileType::Directory { 2 } else { 1 },
            uid: 0,
            gid: 0,
            rdev: 0,
            size: 0,
            blksize: 1024,
            blocks: 0,
            atime: now,
            mtime: now,
            ctime: now,
        }
    }

    /// The view, checking that this node's process and thread still exist.
    fn live(&self, th: Thread) -> Result<Arc<View>, SysError> {
        let v = view::current()?;
        if v.thread(th.pid, th.tid).is_none() {
            return Err(enoent());
        }
        Ok(v)
    }

    /// The process whose files this node shows (they are owned by its
    /// effective ids).
    fn process(&self) -> Option<u32> {
        match self.kind {
            Kind::Pid(th)
            | Kind::Fds(th)
            | Kind::FdInfos(th)
            | Kind::Fd(th, _)
            | Kind::FdObject(th, _)
            | Kind::FdInfo(th, _)
            | Kind::File(th, _)
            | Kind::Link(th, _) => Some(th.pid),
            Kind::Tasks(pid) => Some(pid),
            Kind::Root | Kind::Dir(_) | Kind::Sys(_) | Kind::FixedLink(_) | Kind::SelfLink | Kind::ThreadSelf => None,
        }
    }

    fn entry(&self, name: &str, kind: Kind) -> DirEntry {
        let st = Self::new(Arc::clone(&self.fs), kind).stat_now();
        DirEntry { ino: st.ino, kind: st.file_type().unwrap_or(FileType::Regular), name: name.as_bytes().to_vec() }
    }

    fn pid_entry(th: Thread, e: PidEntry) -> Kind {
        match e {
            PidEntry::File(f) => Kind::File(th, f),
            PidEntry::Link(l) => Kind::Link(th, l),
            PidEntry::Fds => Kind::Fds(th),
            PidEntry::FdInfos => Kind::FdInfos(th),
            PidEntry::Tasks => Kind::Tasks(th.pid),
        }
    }
}

impl Inode for Node {
    fn stat(&self) -> Result<Stat, SysError> {
        match self.kind {
            Kind::FdObject(th, fd) => {
                let v = self.live(th)?;
                let p = v.procs.get(&th.pid).ok_or_else(enoent)?;
                p.fds.get(&fd).and_then(|l| l.object).ok_or_else(enoent)
            }
            Kind::Fd(th, fd) => {
                let mut st = self.stat_now();
                // With a view (a path walk reached here), the access mode.
                let v = view::current().ok();
                if let Some(p) = v.as_ref().and_then(|v| v.procs.get(&th.pid)) {
                    (st.uid, st.gid) = p.owner;
                    if let Some(l) = p.fds.get(&fd) {
                        st.mode = FileType::Symlink.mode_bits() | l.perm;
                        st.size = 64;
                    }
                }
                Ok(st)
            }
            _ => {
                let mut st = self.stat_now();
                if let Some(pid) = self.process() {
                    if let Some(p) = view::current()?.procs.get(&pid) {
                        (st.uid, st.gid) = p.owner;
                    }
                }
                Ok(st)
            }
        }
    }

    fn magic_target(&self) -> Result<Option<InodeRef>, SysError> {
        let Kind::Fd(th, fd) = self.kind else { return Ok(None) };
        let v = self.live(th)?;
        let p = v.procs.get(&th.pid).ok_or_else(enoent)?;
        let link = p.fds.get(&fd).ok_or_else(enoent)?;
        Ok(link.object.is_some().then(|| self.child(Kind::FdObject(th, fd))))
    }

    fn lookup(&self, name: &[u8]) -> Result<InodeRef, SysError> {
        match self.kind {
            Kind::Root | Kind::Dir(_) => {
                let here = if let Kind::Dir(p) = self.kind { p } else { "" };
                if let Some((_, _, k)) = FIXED.iter().find(|(p, n, _)| *p == here && n.as_bytes() == name) {
                    return Ok(self.child(*k));
                }
                if here.is_empty() {
                    let id = parse_id(name).ok_or_else(enoent)?;
                    let v = view::current()?;
                    // A thread id works as a pid too (hidden from listings, as on Linux).
                    let pid = if v.procs.contains_key(&id) { id } else { v.owner_of(id).ok_or_else(enoent)? };
                    return Ok(self.child(Kind::Pid(Thread { pid, tid: id, in_task: false })));
                }
                Err(enoent())
            }
            Kind::Pid(th) => {
                self.live(th)?;
                let (_, e) = PID_ENTRIES
                    .iter()
                    .filter(|(n, _)| !(th.in_task && *n == "task"))
                    .find(|(n, _)| n.as_bytes() == name)
                    .ok_or_else(enoent)?;
                Ok(self.child(Self::pid_entry(th, *e)))
            }
            Kind::Tasks(pid) => {
                let tid = parse_id(name).ok_or_else(enoent)?;
                let v = view::current()?;
                v.thread(pid, tid).ok_or_else(enoent)?;
                Ok(self.child(Kind::Pid(Thread { pid, tid, in_task: true })))
            }
            Kind::Fds(th) | Kind::FdInfos(th) => {
                let v = self.live(th)?;
                let fd = parse_id(name).ok_or_else(enoent)?;
                let p = v.procs.get(&th.pid).ok_or_else(enoent)?;
                p.fds.get(&fd).ok_or_else(enoent)?;
                Ok(self.child(if matches!(self.kind, Kind::Fds(_)) { Kind::Fd(th, fd) } else { Kind::FdInfo(th, fd) }))
            }
            _ => Err(SysError::new(errno::ENOTDIR, "not a directory")),
        }
    }

    fn readdir(&self) -> Result<Vec<DirEntry>, SysError> {
        match self.kind {
            Kind::Root | Kind::Dir(_) => {
                let here = if let Kind::Dir(p) = self.kind { p } else { "" };
                let mut out: Vec<DirEntry> =
                    FIXED.iter().filter(|(p, _, _)| *p == here).map(|(_, n, k)| self.entry(n, *k)).collect();
                if here.is_empty() {
                    let v = view::current()?;
                    for &pid in v.procs.keys() {
                        let th = Thread { pid, tid: pid, in_task: false };
                        out.push(self.entry(&format!("{pid}"), Kind::Pid(th)));
                    }
                }
                Ok(out)
            }
            Kind::Pid(th) => {
                self.live(th)?;
                Ok(PID_ENTRIES
                    .iter()
                    .filter(|(n, _)| !(th.in_task && *n == "task"))
                    .map(|(n, e)| self.entry(n, Self::pid_entry(th, *e)))
                    .collect())
            }
            Kind::Tasks(pid) => {
                let v = view::current()?;
                let p = v.procs.get(&pid).ok_or_else(enoent)?;
                Ok(p.threads
                    .iter()
                    .map(|&tid| self.entry(&format!("{tid}"), Kind::Pid(Thread { pid, tid, in_task: true })))
                    .collect())
            }
            Kind::Fds(th) | Kind::FdInfos(th) => {
                let v = self.live(th)?;
                let p = v.procs.get(&th.pid).ok_or_else(enoent)?;
                let fds = matches!(self.kind, Kind::Fds(_));
                Ok(p.fds
                    .keys()
                    .map(|&fd| {
                        let k = if fds { Kind::Fd(th, fd) } else { Kind::FdInfo(th, fd) };
                        self.entry(&format!("{fd}"), k)
                    })
                    .collect())
            }
            _ => Err(SysError::new(errno::ENOTDIR, "not a directory")),
        }
    }

    fn read_at(&self, _off: u64, _buf: &mut [u8]) -> Result<usize, SysError> {
        // Contents are generated at open (super::open); a node read any
        // other way has none.
        match self.file_type() {
            FileType::Directory => Err(SysError::new(errno::EISDIR, "is a directory")),
            _ => Err(SysError::einval("/proc file not opened through the proc open path")),
        }
    }

    fn readlink(&self) -> Result<Vec<u8>, SysError> {
        match self.kind {
            Kind::FixedLink(t) => Ok(t.as_bytes().to_vec()),
            Kind::SelfLink => Ok(format!("{}", view::current()?.pid).into_bytes()),
            Kind::ThreadSelf => {
                let v = view::current()?;
                Ok(format!("{}/task/{}", v.pid, v.tid).into_bytes())
            }
            Kind::Fd(th, fd) => {
                let v = self.live(th)?;
                let p = v.procs.get(&th.pid).ok_or_else(enoent)?;
                Ok(p.fds.get(&fd).ok_or_else(enoent)?.target.clone())
            }
            Kind::Link(th, l) => {
                let v = self.live(th)?;
                let p = v.procs.get(&th.pid).ok_or_else(enoent)?;
                let target = match l {
                    PidLink::Exe => Some(p.exe.clone()).filter(|e| !e.is_empty()),
                    PidLink::Cwd => p.cwd.clone(),
                    PidLink::Root => p.root.clone(),
                };
                target.ok_or_else(enoent)
            }
            _ => Err(SysError::einval("not a symlink")),
        }
    }

    fn create(&self, _name: &[u8], _kind: FileType, _perm: u32, _rdev: u64) -> Result<InodeRef, SysError> {
        Err(self.no_change(errno::EACCES))
    }

    fn mkdir(&self, _name: &[u8], _perm: u32) -> Result<InodeRef, SysError> {
        Err(self.no_change(errno::EPERM))
    }

    fn symlink(&self, _name: &[u8], _target: &[u8]) -> Result<InodeRef, SysError> {
        Err(self.no_change(errno::EPERM))
    }

    fn link(&self, _name: &[u8], _node: &InodeRef) -> Result<(), SysError> {
        Err(self.no_change(errno::EPERM))
    }

    fn unlink(&self, _name: &[u8], _dir: bool) -> Result<(), SysError> {
        Err(self.no_change(errno::EPERM))
    }

    fn rename(&self, _name: &[u8], _new_dir: &InodeRef, _new_name: &[u8]) -> Result<(), SysError> {
        Err(self.no_change(errno::EPERM))
    }

    fn statfs(&self) -> Result<StatFs, SysError> {
        Ok(StatFs { fs_type: PROC_SUPER_MAGIC, bsize: 4096, namelen: 255, ..StatFs::default() })
    }

    fn id(&self) -> (u64, u64) {
        (self.fs.dev, ino_of(&self.kind))
    }

    fn as_any(&self) -> &dyn core::any::Any {
        self
    }
}

impl Node {
    /// The error for a change to /proc's tree: `errno` in a directory (as
    /// Linux's VFS reports a missing operation), ENOTDIR elsewhere.
    fn no_change(&self, errno: i32) -> SysError {
        if self.file_type() == FileType::Directory {
            SysError::new(errno, "/proc cannot be changed")
        } else {
            SysError::new(abi::linux::errno::ENOTDIR, "not a directory")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::proc::view::{FdLink, ProcEntry};
    use alloc::collections::BTreeMap;

    fn names(entries: &[DirEntry]) -> Vec<&[u8]> {
        entries.iter().map(|e| e.name.as_slice()).collect()
    }

    #[test]
    fn ids_parse_strictly() {
        assert_eq!(parse_id(b"12"), Some(12));
        assert_eq!(parse_id(b"0"), Some(0));
        for bad in [&b""[..], b"012", b"1a", b"-1", b"4294967296", b"self"] {
            assert_eq!(parse_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn tree_against_a_view() {
        let root = crate::fs::proc::new(7, Vec::new());
        // Fixed entries need no view; pids do.
        assert!(root.lookup(b"cpuinfo").is_ok());
        assert_eq!(
            root.lookup(b"sys")
                .and_then(|s| s.lookup(b"kernel"))
                .and_then(|k| k.lookup(b"ostype"))
                .map(|n| n.stat().map(|s| s.mode))
                .ok(),
            Some(Ok(0o100444))
        );
        view::clear();
        assert_eq!(root.lookup(b"1").err().map(|e| e.errno), Some(crate::error::EPROCVIEW));
        let mut fds = BTreeMap::new();
        fds.insert(0, FdLink { target: b"/dev/null".to_vec(), object: None, perm: 0o500 });
        let mut procs = BTreeMap::new();
        procs
            .insert(1, ProcEntry { threads: alloc::vec![1, 3], exe: b"/bin/sh".to_vec(), fds, ..ProcEntry::default() });
        procs.insert(2, ProcEntry::default());
        view::install_view(View { pid: 1, tid: 3, procs });
        let listing = root.readdir().expect("readdir");
        assert!(names(&listing).ends_with(&[&b"1"[..], b"2"]), "{:?}", names(&listing));
        assert_eq!(root.lookup(b"self").and_then(|s| s.readlink()).ok(), Some(b"1".to_vec()));
        assert_eq!(root.lookup(b"thread-self").and_then(|s| s.readlink()).ok(), Some(b"1/task/3".to_vec()));
        let p = root.lookup(b"1").expect("pid 1");
        assert_eq!(p.lookup(b"exe").and_then(|e| e.readlink()).ok(), Some(b"/bin/sh".to_vec()));
        assert_eq!(
            p.lookup(b"fd").and_then(|d| d.lookup(b"0")).and_then(|l| l.readlink()).ok(),
            Some(b"/dev/null".to_vec())
        );
        assert_eq!(p.lookup(b"fd").and_then(|d| d.lookup(b"1")).err().map(|e| e.errno), Some(errno::ENOENT));
        let tasks = p.lookup(b"task").and_then(|t| t.readdir()).expect("task listing");
        assert_eq!(names(&tasks), [&b"1"[..], b"3"]);
        // A thread id resolves as a pid but is not listed.
        assert!(root.lookup(b"3").is_ok());
        assert!(!names(&listing).contains(&&b"3"[..]));
        // Process 2 is a zombie: its directory stays, its links do not resolve.
        let z = root.lookup(b"2").expect("zombie");
        assert_eq!(z.lookup(b"cwd").and_then(|c| c.readlink()).err().map(|e| e.errno), Some(errno::ENOENT));
        assert_eq!(root.lookup(b"9").err().map(|e| e.errno), Some(errno::ENOENT));
        assert_eq!(root.mkdir(b"x", 0o755).err().map(|e| e.errno), Some(errno::EPERM));
        view::clear();
    }
}
