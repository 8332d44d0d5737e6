//! The view of the processes /proc names are resolved against: captured by
//! the syscall dispatcher for the calling task when a syscall reaches
//! /proc, and dropped when the syscall ends.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::error::SysError;
use crate::kernel::fd::File;
use crate::kernel::{Kernel, Task};
use crate::platform::Platform;

/// What a file descriptor's `/proc/<pid>/fd/N` link says.
#[derive(Debug, Clone, PartialEq)]
pub struct FdLink {
    /// The link text.
    pub target: Vec<u8>,
    /// The attributes of a file that has no path (a pipe, a host stream):
    /// following the link lands on it.
    pub object: Option<crate::vfs::Stat>,
    /// The link's permission bits: the open file's access mode, as Linux
    /// shows it (r-x for reading, -wx for writing, rwx for both).
    pub perm: u32,
}

/// One process as /proc names see it.
#[derive(Debug, Clone, Default)]
pub struct ProcEntry {
    /// Live threads (empty for a zombie).
    pub threads: Vec<u32>,
    pub exe: Vec<u8>,
    /// Working directory and root of the first live thread.
    pub cwd: Option<Vec<u8>>,
    pub root: Option<Vec<u8>>,
    pub fds: BTreeMap<u32, FdLink>,
    /// Effective uid and gid of the first live thread: the owner of the
    /// process's /proc files, as Linux shows them (root for a zombie).
    pub owner: (u32, u32),
}

/// The processes, and who is asking.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// The calling thread's process and thread ids.
    pub pid: u32,
    pub tid: u32,
    pub procs: BTreeMap<u32, ProcEntry>,
}

impl View {
    /// The process `pid` if it still exists and has (or, as a zombie,
    /// had) thread `tid`.
    pub fn thread(&self, pid: u32, tid: u32) -> Option<&ProcEntry> {
        self.procs.get(&pid).filter(|p| p.threads.contains(&tid) || (p.threads.is_empty() && tid == pid))
    }

    /// The process a thread id belongs to.
    pub fn owner_of(&self, tid: u32) -> Option<u32> {
        self.procs.iter().find(|(_, p)| p.threads.contains(&tid)).map(|(&pid, _)| pid)
    }
}

/// The view installed for the syscall in progress. One task runs sentry
/// code at a time; with several vCPUs this becomes per-vCPU.
static CURRENT: spin::Mutex<Option<Arc<View>>> = spin::Mutex::new(None);

/// The installed view, or the marker error that makes the dispatcher
/// install one and retry.
pub fn current() -> Result<Arc<View>, SysError> {
    CURRENT.lock().clone().ok_or(SysError::needs_proc_view())
}

/// Installs the view of the kernel as task `t` sees it.
pub fn install<P: Platform>(k: &Kernel<P>, t: &Task<P::AddressSpace>) {
    *CURRENT.lock() = Some(Arc::new(capture(k, t)));
}

/// Installs a prepared view (unit tests).
#[cfg(test)]
pub fn install_view(v: View) {
    *CURRENT.lock() = Some(Arc::new(v));
}

/// Drops the installed view.
pub fn clear() {
    *CURRENT.lock() = None;
}

/// The task `tid`: the running one or one in the kernel's table.
pub fn task<'a, P: Platform>(
    k: &'a Kernel<P>,
    t: &'a Task<P::AddressSpace>,
    tid: u32,
) -> Option<&'a Task<P::AddressSpace>> {
    if t.tid == tid {
        Some(t)
    } else {
        k.tasks.get(&tid).map(|b| &**b)
    }
}

/// Captures the processes.
pub fn capture<P: Platform>(k: &Kernel<P>, t: &Task<P::AddressSpace>) -> View {
    let mut procs = BTreeMap::new();
    for (&pid, p) in &k.procs {
        let threads: Vec<u32> = if p.zombie.is_some() { Vec::new() } else { p.threads.clone() };
        let first = threads.iter().find_map(|&tid| task(k, t, tid));
        let mut e = ProcEntry { threads, exe: p.exe.clone(), ..ProcEntry::default() };
        if let Some(th) = first {
            e.owner = (th.creds.euid, th.creds.egid);
            e.cwd = Some(th.fs().cwd.path());
            e.root = Some(th.fs().root.path());
            let fds = th.fds.lock();
            e.fds = fds
                .iter()
                .map(|(n, d)| {
                    let object = match &d.file {
                        File::Vfs(_) | File::HostTty { .. } => None,
                        f => crate::syscalls::stat::file_stat(k, f).ok(),
                    };
                    (n, FdLink { target: describe(k, &d.file), object, perm: access_perm(&d.file) })
                })
                .collect();
        }
        procs.insert(pid, e);
    }
    View { pid: t.pid, tid: t.tid, procs }
}

/// The permission bits of an fd link for `f`'s access mode.
fn access_perm(f: &File) -> u32 {
    use crate::vfs::file::flags::{O_ACCMODE, O_RDONLY, O_WRONLY};
    let mode = match f {
        File::Vfs(of) => of.flags() & O_ACCMODE,
        File::Pipe(p) => *p.flags.lock() & O_ACCMODE,
        File::Socket(_) | File::Event(_) => 2,
        File::HostStdio { host_fd: 0, .. } => O_RDONLY,
        File::HostStdio { .. } => O_WRONLY,
        File::HostTty { .. } => 2,
        File::Tty(f) => *f.flags.lock() & O_ACCMODE,
    };
    match mode {
        O_RDONLY => 0o500,
        O_WRONLY => 0o300,
        _ => 0o700,
    }
}

/// Linux's `(major, minor)` of a glibc-encoded device number.
pub fn dev_numbers(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

/// The `/proc/<pid>/fd/N` text for an open file.
pub fn describe<P: Platform>(k: &Kernel<P>, f: &File) -> Vec<u8> {
    use crate::vfs::mode;
    match f {
        File::Vfs(of) => of.loc.path(),
        File::Pipe(p) => format!("pipe:[{}]", p.id()).into_bytes(),
        File::Socket(so) => format!("socket:[{}]", so.id).into_bytes(),
        File::Event(e) => e.anon_name().as_bytes().to_vec(),
        File::HostTty { .. } => b"/dev/tty".to_vec(),
        File::Tty(f) => f.path(),
        File::HostStdio { host_fd, .. } => {
            let s = k.params.stdio.get(*host_fd as usize).copied().unwrap_or_default();
            let (major, minor) = dev_numbers(s.rdev);
            match s.mode & mode::S_IFMT {
                mode::S_IFIFO => format!("pipe:[{}]", s.ino).into_bytes(),
                mode::S_IFSOCK => format!("socket:[{}]", s.ino).into_bytes(),
                mode::S_IFCHR if major == 136 => format!("/dev/pts/{minor}").into_bytes(),
                mode::S_IFCHR if major == 1 && minor == 3 => b"/dev/null".to_vec(),
                mode::S_IFCHR if major == 5 && minor == 0 => b"/dev/tty".to_vec(),
                // The host file's path is not known inside the sandbox.
                _ => format!("host:[{host_fd}]").into_bytes(),
            }
        }
    }
}
