//! Control requests: the host (a `ringfence` command, through the sandbox
//! process's control server) asking the running sentry to do something.
//!
//! The VMM queues requests and sets [`ControlPage::pending`] in the page at
//! [`crate::layout::CONTROL_GPA`] (written only by the vCPU thread, between
//! two runs of the vCPU), so the sentry notices with one memory read at its
//! scheduling points and no extra VM exit. The sentry takes one request
//! with [`crate::hostcall::Hostcall::ControlFetch`] and answers it with
//! [`crate::hostcall::Hostcall::ControlReply`]; the same hostcall carries
//! the events it reports on its own (exits of exec'd processes, id 0).
//!
//! Encoding: little-endian; a message is [`Header`] then the body of its
//! kind. Variable fields are length-prefixed: bytes as `u32 len, data`,
//! lists as `u32 count, items`. Both sides decode with [`Reader`], which
//! checks every length against the message and never panics.

/// Version of the message encoding; a message of another version is refused.
pub const CONTROL_VERSION: u32 = 3;
/// Largest request (the sentry's fetch buffer is this big).
pub const MAX_REQUEST: usize = 64 << 10;
/// Largest reply the VMM accepts.
pub const MAX_REPLY: usize = 1 << 20;
/// Most arguments, environment entries or groups in an exec request.
pub const MAX_LIST: u32 = 4096;

/// The page the VMM writes for the sentry.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct ControlPage {
    /// Non-zero while requests wait to be fetched.
    pub pending: u32,
    pub pad: u32,
}

/// Request and reply kinds.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Request: [`SignalTarget`] u32, pid u32, signal u32. Reply: empty.
    Signal = 1,
    /// Request: empty. Reply: count u32, then per process [`ProcessEntry`].
    Processes = 2,
    /// Request: empty. Reply: pids u32, memory bytes u64, user ns u64,
    /// system ns u64.
    Stats = 3,
    /// Request: argv list, envp list, cwd bytes, uid u32, gid u32, groups
    /// list of u32, stdio host fds 3 × u32, flags u32 ([`EXEC_TERMINAL`]).
    /// Reply: pid u32.
    Exec = 4,
    /// Event (sentry to host, id 0): pid u32, wait status u32 (Linux
    /// encoding) of an exec'd process that ended.
    Exited = 5,
    /// Request: empty. Reply: count u32, then per task [`TaskDump`].
    Stacks = 6,
    /// Request: flags u32 ([`LOG_STRACE`]). Reply: empty. Sets what the
    /// sentry logs from now on.
    Logging = 7,
}

impl Kind {
    /// Decodes a kind.
    pub const fn from_raw(v: u32) -> Option<Self> {
        match v {
            1 => Some(Self::Signal),
            2 => Some(Self::Processes),
            3 => Some(Self::Stats),
            4 => Some(Self::Exec),
            5 => Some(Self::Exited),
            6 => Some(Self::Stacks),
            7 => Some(Self::Logging),
            _ => None,
        }
    }
}

/// [`Kind::Exec`] flag: the process gets a new pty of the sentry's
/// devpts as its stdio and controlling terminal (a new session), whose
/// master side is stdio host fds 0 (input) and 1 (output).
pub const EXEC_TERMINAL: u32 = 1;

/// [`Kind::Exec`] flag: five capability masks follow the flags (bounding,
/// effective, inheritable, permitted, ambient), the container's
/// `process.capabilities` or `--process`'s; without it the process gets
/// root's default sets (dropped by a non-zero uid).
pub const EXEC_CAPS: u32 = 2;

/// [`Kind::Logging`] flag: trace every syscall (as `--debug` at boot).
pub const LOG_STRACE: u32 = 1;

/// Who a [`Kind::Signal`] request signals.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalTarget {
    /// The process `pid`.
    Process = 0,
    /// Every process of the container.
    All = 1,
    /// The foreground process group of init's terminal session (init's
    /// process group when it has no terminal).
    Foreground = 2,
}

impl SignalTarget {
    /// Decodes a target.
    pub const fn from_raw(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::Process),
            1 => Some(Self::All),
            2 => Some(Self::Foreground),
            _ => None,
        }
    }
}

/// Process states in a [`Kind::Processes`] reply (as /proc's letters).
pub mod state {
    pub const RUNNING: u8 = b'R';
    pub const SLEEPING: u8 = b'S';
    pub const STOPPED: u8 = b'T';
    pub const ZOMBIE: u8 = b'Z';
}

/// Every message starts with this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub version: u32,
    /// Matches a reply to its request; 0 for events.
    pub id: u64,
    pub kind: u32,
    /// Replies: 0, or a negated Linux errno (the body is then empty).
    /// Requests: 0.
    pub status: i32,
}

impl Header {
    /// Encoded size.
    pub const SIZE: usize = 20;

    /// Writes the header.
    pub fn write(&self, w: &mut Writer<'_>) {
        w.u32(self.version);
        w.u64(self.id);
        w.u32(self.kind);
        w.u32(self.status.cast_unsigned());
    }

    /// Reads a header, refusing another version.
    pub fn read(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let version = r.u32()?;
        if version != CONTROL_VERSION {
            return Err(DecodeError::Version(version));
        }
        Ok(Self { version, id: r.u64()?, kind: r.u32()?, status: r.u32()?.cast_signed() })
    }
}

/// One process of a [`Kind::Processes`] reply, in this order: pid u32,
/// ppid u32, uid u32, state u32 (a [`state`] letter), start u64 (monotonic
/// ns), cpu u64 (user + system ns), tty u32 (device number, 0 none), comm
/// bytes, cmdline bytes (NUL-separated arguments).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessEntry<'a> {
    pub pid: u32,
    pub ppid: u32,
    pub uid: u32,
    pub state: u8,
    pub start_ns: u64,
    pub cpu_ns: u64,
    pub tty: u32,
    pub comm: &'a [u8],
    pub cmdline: &'a [u8],
}

impl<'a> ProcessEntry<'a> {
    /// Writes the entry.
    pub fn write(&self, w: &mut Writer<'_>) {
        w.u32(self.pid);
        w.u32(self.ppid);
        w.u32(self.uid);
        w.u32(u32::from(self.state));
        w.u64(self.start_ns);
        w.u64(self.cpu_ns);
        w.u32(self.tty);
        w.bytes(self.comm);
        w.bytes(self.cmdline);
    }

    /// Reads an entry.
    pub fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            pid: r.u32()?,
            ppid: r.u32()?,
            uid: r.u32()?,
            state: u8::try_from(r.u32()?).map_err(|_| DecodeError::Invalid("process state"))?,
            start_ns: r.u64()?,
            cpu_ns: r.u64()?,
            tty: r.u32()?,
            comm: r.bytes()?,
            cmdline: r.bytes()?,
        })
    }
}

/// One task of a [`Kind::Stacks`] reply, in this order: tid u32, pid u32,
/// state u32 (a [`state`] letter), syscall u64 (the number it is in while
/// blocked, [`NO_SYSCALL`] otherwise), rip u64, rsp u64, comm bytes, wait
/// bytes (what a sleeping task waits on, in words: "pipe read on fd 0",
/// "child exit", "futex 0x7f..."; empty when running).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskDump<'a> {
    pub tid: u32,
    pub pid: u32,
    pub state: u8,
    pub syscall: u64,
    pub rip: u64,
    pub rsp: u64,
    pub comm: &'a [u8],
    pub wait: &'a [u8],
}

/// [`TaskDump::syscall`] of a task that is not in a syscall.
pub const NO_SYSCALL: u64 = u64::MAX;

impl<'a> TaskDump<'a> {
    /// Writes the entry.
    pub fn write(&self, w: &mut Writer<'_>) {
        w.u32(self.tid);
        w.u32(self.pid);
        w.u32(u32::from(self.state));
        w.u64(self.syscall);
        w.u64(self.rip);
        w.u64(self.rsp);
        w.bytes(self.comm);
        w.bytes(self.wait);
    }

    /// Reads an entry.
    pub fn read(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            tid: r.u32()?,
            pid: r.u32()?,
            state: u8::try_from(r.u32()?).map_err(|_| DecodeError::Invalid("task state"))?,
            syscall: r.u64()?,
            rip: r.u64()?,
            rsp: r.u64()?,
            comm: r.bytes()?,
            wait: r.bytes()?,
        })
    }
}

/// Why a message did not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The message ended inside a field.
    Short,
    /// Another encoding version.
    Version(u32),
    /// A field out of range (named).
    Invalid(&'static str),
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Short => f.write_str("message too short"),
            Self::Version(v) => write!(f, "message version {v}, expected {CONTROL_VERSION}"),
            Self::Invalid(what) => write!(f, "invalid {what}"),
        }
    }
}

/// Reads fields from a message.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// Reads `buf` from its start.
    pub const fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Short);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// A u32.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A u64.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }

    /// Length-prefixed bytes.
    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.u32()?;
        self.take(usize::try_from(n).map_err(|_| DecodeError::Short)?)
    }

    /// A list count, at most `max`.
    pub fn count(&mut self, max: u32) -> Result<u32, DecodeError> {
        let n = self.u32()?;
        if n > max {
            return Err(DecodeError::Invalid("list length"));
        }
        Ok(n)
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
}

/// Writes fields into a buffer; past its end, only counts (see
/// [`Writer::overflowed`]), so a caller can size a buffer or detect a
/// reply that does not fit.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> Writer<'a> {
    /// Writes into `buf` from its start.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }

    fn put(&mut self, data: &[u8]) {
        let end = self.len.saturating_add(data.len());
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(data);
        }
        self.len = end;
    }

    /// A u32.
    pub fn u32(&mut self, v: u32) {
        self.put(&v.to_le_bytes());
    }

    /// A u64.
    pub fn u64(&mut self, v: u64) {
        self.put(&v.to_le_bytes());
    }

    /// Length-prefixed bytes.
    pub fn bytes(&mut self, data: &[u8]) {
        self.u32(u32::try_from(data.len()).unwrap_or(u32::MAX));
        self.put(data);
    }

    /// Bytes written (or that would have been).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the fields did not fit in the buffer.
    pub fn overflowed(&self) -> bool {
        self.len > self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut buf = [0u8; 256];
        let mut w = Writer::new(&mut buf);
        Header { version: CONTROL_VERSION, id: 7, kind: Kind::Processes as u32, status: -3 }.write(&mut w);
        w.u32(1);
        let e = ProcessEntry {
            pid: 1,
            ppid: 0,
            uid: 0,
            state: state::SLEEPING,
            start_ns: 5,
            cpu_ns: 6,
            tty: 0,
            comm: b"sh",
            cmdline: b"sh\0-c\0",
        };
        e.write(&mut w);
        assert!(!w.overflowed());
        let n = w.len();
        let mut r = Reader::new(&buf[..n]);
        let h = Header::read(&mut r).expect("header");
        assert_eq!((h.id, h.kind, h.status), (7, 2, -3));
        assert_eq!(r.count(10), Ok(1));
        assert_eq!(ProcessEntry::read(&mut r), Ok(e));
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn task_dump_round_trip() {
        let mut buf = [0u8; 128];
        let mut w = Writer::new(&mut buf);
        let d = TaskDump {
            tid: 3,
            pid: 2,
            state: state::SLEEPING,
            syscall: 0,
            rip: 0x401000,
            rsp: 0x7fff_0000,
            comm: b"cat",
            wait: b"pipe read on fd 0",
        };
        d.write(&mut w);
        let n = w.len();
        assert_eq!(TaskDump::read(&mut Reader::new(&buf[..n])), Ok(d));
        // Cut short anywhere: an error, never a panic.
        for cut in 0..n {
            assert!(TaskDump::read(&mut Reader::new(&buf[..cut])).is_err());
        }
        assert_eq!(Kind::from_raw(7), Some(Kind::Logging));
        assert_eq!(Kind::from_raw(8), None);
    }

    #[test]
    fn hostile_input_is_refused() {
        assert_eq!(Header::read(&mut Reader::new(&[1, 0, 0])), Err(DecodeError::Short));
        assert_eq!(Header::read(&mut Reader::new(&[9; 20])), Err(DecodeError::Version(0x0909_0909)));
        // A length past the end.
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 1]);
        assert_eq!(r.bytes(), Err(DecodeError::Short));
        let mut r = Reader::new(&[5, 0, 0, 0]);
        assert_eq!(r.count(4), Err(DecodeError::Invalid("list length")));
        let mut small = [0u8; 4];
        let mut w = Writer::new(&mut small);
        w.u64(1);
        assert!(w.overflowed());
    }
}
