//! Open file descriptions ([`File`]: host streams, sandbox files, pipes,
//! sockets, event files) and the file descriptor table (lowest free
//! number, close-on-exec flag), shared by CLONE_FILES clones.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use crate::error::SysError;
use crate::vfs::file::OpenFile;
use abi::linux::errno;

/// An open file description.
#[derive(Debug, Clone)]
pub enum File {
    /// One of the host's standard streams (host fd 0, 1 or 2).
    HostStdio { host_fd: u32, tty: bool },
    /// `/dev/tty`: the host terminal the sandbox's stdio is connected to,
    /// read through host fd `read_fd` and written through `write_fd`.
    HostTty { read_fd: u32, write_fd: u32 },
    /// A file of the sandbox's own filesystems.
    Vfs(Arc<OpenFile>),
    /// One end of a pipe.
    Pipe(Arc<crate::fs::pipe::PipeEnd>),
    /// A unix domain socket.
    Socket(Arc<crate::fs::socket::Socket>),
    /// An event file: epoll, eventfd, timerfd or signalfd.
    Event(Arc<crate::fs::event::EventFile>),
    /// A terminal: a pty's master or slave, or the console.
    Tty(Arc<crate::fs::tty::TtyFile>),
}

impl File {
    /// A reference to this file description that does not keep it open
    /// (epoll's interest list).
    pub fn downgrade(&self) -> WeakFile {
        match self {
            File::HostStdio { host_fd, tty } => WeakFile::HostStdio { host_fd: *host_fd, tty: *tty },
            File::HostTty { read_fd, write_fd } => WeakFile::HostTty { read_fd: *read_fd, write_fd: *write_fd },
            File::Vfs(f) => WeakFile::Vfs(Arc::downgrade(f)),
            File::Pipe(p) => WeakFile::Pipe(Arc::downgrade(p)),
            File::Event(e) => WeakFile::Event(Arc::downgrade(e)),
            File::Socket(so) => WeakFile::Socket(Arc::downgrade(so)),
            File::Tty(f) => WeakFile::Tty(Arc::downgrade(f)),
        }
    }

    /// What identifies the open file description: two descriptors share a
    /// description (dup, fork) exactly when their identities are equal.
    /// The host streams have no shared description; their host fd stands in.
    pub fn identity(&self) -> usize {
        match self {
            File::HostStdio { host_fd, .. } => *host_fd as usize,
            File::HostTty { .. } => 3,
            File::Vfs(f) => Arc::as_ptr(f) as usize,
            File::Pipe(p) => Arc::as_ptr(p) as usize,
            File::Event(e) => Arc::as_ptr(e) as usize,
            File::Socket(so) => Arc::as_ptr(so) as usize,
            File::Tty(f) => Arc::as_ptr(f) as usize,
        }
    }
}

/// A [`File`] held without keeping it open.
#[derive(Debug, Clone)]
pub enum WeakFile {
    HostStdio { host_fd: u32, tty: bool },
    HostTty { read_fd: u32, write_fd: u32 },
    Vfs(Weak<OpenFile>),
    Pipe(Weak<crate::fs::pipe::PipeEnd>),
    Event(Weak<crate::fs::event::EventFile>),
    Socket(Weak<crate::fs::socket::Socket>),
    Tty(Weak<crate::fs::tty::TtyFile>),
}

impl WeakFile {
    /// The file, if it is still open somewhere.
    pub fn upgrade(&self) -> Option<File> {
        match self {
            WeakFile::HostStdio { host_fd, tty } => Some(File::HostStdio { host_fd: *host_fd, tty: *tty }),
            WeakFile::HostTty { read_fd, write_fd } => Some(File::HostTty { read_fd: *read_fd, write_fd: *write_fd }),
            WeakFile::Vfs(f) => f.upgrade().map(File::Vfs),
            WeakFile::Pipe(p) => p.upgrade().map(File::Pipe),
            WeakFile::Event(e) => e.upgrade().map(File::Event),
            WeakFile::Socket(so) => so.upgrade().map(File::Socket),
            WeakFile::Tty(f) => f.upgrade().map(File::Tty),
        }
    }
}

/// A descriptor: the file and its per-descriptor flags.
#[derive(Debug, Clone)]
pub struct Descriptor {
    pub file: File,
    pub cloexec: bool,
}

/// The file descriptor table of a process.
#[derive(Debug, Default, Clone)]
pub struct FdTable {
    slots: Vec<Option<Descriptor>>,
    tty_mask: u32,
}

impl FdTable {
    /// fds 0, 1, 2 connected to the host's stdin, stdout and stderr.
    pub fn with_stdio(tty_mask: u32) -> Self {
        let slots = (0..3u32)
            .map(|n| {
                Some(Descriptor { file: File::HostStdio { host_fd: n, tty: tty_mask & (1 << n) != 0 }, cloexec: false })
            })
            .collect();
        Self { slots, tty_mask }
    }

    /// fds 0, 1, 2 connected to host descriptors registered for an exec'd
    /// process (none of them a terminal).
    pub fn with_host_fds(fds: [u32; 3]) -> Self {
        let slots =
            fds.iter().map(|&n| Some(Descriptor { file: File::HostStdio { host_fd: n, tty: false }, cloexec: false }));
        Self { slots: slots.collect(), tty_mask: 0 }
    }

    /// Which host standard streams are terminals (bit n = host fd n).
    pub fn tty_mask(&self) -> u32 {
        self.tty_mask
    }

    /// The file at `fd`.
    pub fn get(&self, fd: i32) -> Result<File, SysError> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get(i).and_then(Option::as_ref))
            .map(|d| d.file.clone())
            .ok_or(SysError::ebadf("fd not open"))
    }

    /// The open descriptors, lowest first.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Descriptor)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| Some((u32::try_from(i).ok()?, s.as_ref()?)))
    }

    /// Closes `fd`.
    pub fn close(&mut self, fd: i32) -> Result<(), SysError> {
        let slot =
            usize::try_from(fd).ok().and_then(|i| self.slots.get_mut(i)).ok_or(SysError::ebadf("fd not open"))?;
        slot.take().map(|_| ()).ok_or(SysError::ebadf("fd not open"))
    }

    /// Installs `file` at the lowest free fd `>= min`, below `limit`.
    pub fn install(&mut self, file: File, min: usize, limit: usize, cloexec: bool) -> Result<i32, SysError> {
        let mut i = min;
        while i < self.slots.len() && self.slots[i].is_some() {
            i += 1;
        }
        if i >= limit {
            return Err(SysError::new(errno::EMFILE, "fd limit reached"));
        }
        if i >= self.slots.len() {
            self.slots.resize(i + 1, None);
        }
        self.slots[i] = Some(Descriptor { file, cloexec });
        i32::try_from(i).map_err(|_| SysError::new(errno::EMFILE, "fd out of range"))
    }

    /// Installs `file` exactly at `fd` (closing what was there), as dup2.
    pub fn install_at(&mut self, file: File, fd: i32, limit: usize, cloexec: bool) -> Result<(), SysError> {
        let i = usize::try_from(fd).ok().filter(|&i| i < limit).ok_or(SysError::ebadf("fd out of range"))?;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, None);
        }
        self.slots[i] = Some(Descriptor { file, cloexec });
        Ok(())
    }

    /// The close-on-exec flag of `fd`.
    pub fn cloexec(&self, fd: i32) -> Result<bool, SysError> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get(i).and_then(Option::as_ref))
            .map(|d| d.cloexec)
            .ok_or(SysError::ebadf("fd not open"))
    }

    /// Closes every close-on-exec descriptor (exec).
    pub fn close_on_exec(&mut self) {
        for s in &mut self.slots {
            if s.as_ref().is_some_and(|d| d.cloexec) {
                *s = None;
            }
        }
    }

    /// Sets the close-on-exec flag of `fd`.
    pub fn set_cloexec(&mut self, fd: i32, on: bool) -> Result<(), SysError> {
        let d = usize::try_from(fd)
            .ok()
            .and_then(|i| self.slots.get_mut(i))
            .and_then(Option::as_mut)
            .ok_or(SysError::ebadf("fd not open"))?;
        d.cloexec = on;
        Ok(())
    }
}
