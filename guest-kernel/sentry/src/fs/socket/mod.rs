//! Unix domain sockets (AF_UNIX): stream, datagram and seqpacket.
//!
//! A socket is an open file description ([`Socket`]). Data goes into the
//! *receiver's* queue as messages ([`Msg`]): a stream reads across message
//! boundaries, datagram and seqpacket sockets one message at a time. A
//! connected socket holds its peer weakly, so the last close of either side
//! drops it and tells the other (EOF, EPIPE, ECONNRESET). Names live in
//! [`names`]: abstract names in a table, filesystem names as socket nodes
//! whose identity maps to the bound socket.
//!
//! Every state change posts [`WaitKey::Io`] with the socket's id; blocking
//! is the syscall layer's business, as for pipes. No sentry lock is held
//! while another socket's is taken, and files carried by messages are
//! dropped outside the locks (a dropped socket locks its peer).

pub mod names;
mod poll;
#[cfg(test)]
mod tests;

use alloc::collections::VecDeque;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use crate::error::SysError;
use crate::kernel::fd::File;
use crate::kernel::task::WaitKey;
use abi::linux::errno;
pub use names::Addr;

/// Socket types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockType {
    Stream = 1,
    Dgram = 2,
    SeqPacket = 5,
}

impl SockType {
    /// Whether the type keeps message boundaries.
    pub fn datagrams(self) -> bool {
        self != Self::Stream
    }

    /// Whether the type connects to a listener.
    pub fn connection(self) -> bool {
        self != Self::Dgram
    }
}

/// Linux's default socket buffer size (net.core.wmem_default).
pub const DEFAULT_BUF: usize = 212_992;
/// Largest SO_SNDBUF/SO_RCVBUF request honoured (net.core.wmem_max), doubled as Linux does.
pub const MAX_BUF: usize = 2 * 212_992;
/// Datagrams queued at an unconnected receiver (net.unix.max_dgram_qlen).
const MAX_DGRAM_QLEN: usize = 10;
/// What a queued message costs beyond its bytes, as Linux charges an skb's truesize.
const MSG_OVERHEAD: usize = 256;
/// Largest listen backlog (net.core.somaxconn).
pub const SOMAXCONN: u32 = 4096;

/// Who sent something: SO_PEERCRED and SCM_CREDENTIALS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cred {
    pub pid: u32,
    pub uid: u32,
    pub gid: u32,
}

impl Cred {
    /// What Linux reports for a socket with no peer credentials.
    pub const NONE: Cred = Cred { pid: 0, uid: 65534, gid: 65534 };

    pub fn to_bytes(self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[..4].copy_from_slice(&self.pid.to_le_bytes());
        b[4..8].copy_from_slice(&self.uid.to_le_bytes());
        b[8..].copy_from_slice(&self.gid.to_le_bytes());
        b
    }
}

/// One queued message (a send's bytes on a stream).
pub struct Msg {
    data: Vec<u8>,
    /// Bytes of `data` already read (streams).
    off: usize,
    files: Vec<File>,
    cred: Cred,
    from: Option<Addr>,
}

impl Msg {
    pub fn new(data: Vec<u8>, files: Vec<File>, cred: Cred, from: Option<Addr>) -> Self {
        Self { data, off: 0, files, cred, from }
    }

    fn len(&self) -> usize {
        self.data.len() - self.off
    }
}

enum Conn {
    /// Not connected (or a datagram socket without a default peer).
    None,
    Listening {
        backlog: VecDeque<Arc<Socket>>,
        max: usize,
    },
    Connected {
        peer: Weak<Socket>,
        /// The peer's name when the connection was made (getpeername).
        peer_addr: Option<Addr>,
        peer_cred: Cred,
    },
}

struct State {
    addr: Option<Addr>,
    conn: Conn,
    rx: VecDeque<Msg>,
    /// Bytes queued, each message charged [`MSG_OVERHEAD`] more (so empty
    /// datagrams cannot fill the sentry's heap).
    rx_bytes: usize,
    /// No more data will arrive (peer shut down writing or closed; or SHUT_RD).
    rx_shut: bool,
    /// Sending is over (SHUT_WR, or the peer shut down reading or closed).
    tx_shut: bool,
    /// Pending error (SO_ERROR).
    err: i32,
    /// The creator's credentials (a listener passes them to its clients).
    cred: Cred,
    sndbuf: usize,
    rcvbuf: usize,
    passcred: bool,
    reuseaddr: bool,
    /// Sockets that found this one's queue full when polled: they are told
    /// when it drains (their readiness key is their own id).
    wake_on_read: Vec<u64>,
}

/// A unix domain socket, as an open file description.
pub struct Socket {
    pub id: u64,
    pub kind: SockType,
    /// Status flags (O_NONBLOCK; the access mode is O_RDWR).
    pub flags: spin::Mutex<u32>,
    st: spin::Mutex<State>,
}

impl core::fmt::Debug for Socket {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Socket({}, {:?})", self.id, self.kind)
    }
}

fn err(e: i32, why: &'static str) -> SysError {
    SysError::new(e, why)
}

/// The outcome of an operation that may have to wait.
#[derive(Debug)]
pub enum Io<T> {
    Done(T),
    /// Not possible now: wait for these sockets' ids and retry.
    Wait([u64; 2]),
}

/// What a receive got.
pub struct Received {
    pub data: Vec<u8>,
    /// The message's full length (datagrams: for MSG_TRUNC).
    pub full_len: usize,
    pub truncated: bool,
    pub files: Vec<File>,
    pub cred: Cred,
    pub from: Option<Addr>,
}

impl Socket {
    /// A new unconnected socket created by `cred`.
    pub fn new(kind: SockType, flags: u32, cred: Cred) -> Arc<Socket> {
        Arc::new(Socket {
            id: crate::kernel::poll::new_io_id(),
            kind,
            flags: spin::Mutex::new(flags),
            st: spin::Mutex::new(State {
                addr: None,
                conn: Conn::None,
                rx: VecDeque::new(),
                rx_bytes: 0,
                rx_shut: false,
                tx_shut: false,
                err: 0,
                cred,
                sndbuf: DEFAULT_BUF,
                rcvbuf: DEFAULT_BUF,
                passcred: false,
                reuseaddr: false,
                wake_on_read: Vec::new(),
            }),
        })
    }

    /// Two sockets connected to each other (socketpair).
    pub fn pair(kind: SockType, flags: u32, cred: Cred) -> (Arc<Socket>, Arc<Socket>) {
        let a = Socket::new(kind, flags, cred);
        let b = Socket::new(kind, flags, cred);
        Socket::link(&a, &b, None, None, cred, cred);
        (a, b)
    }

    fn link(a: &Arc<Socket>, b: &Arc<Socket>, a_sees: Option<Addr>, b_sees: Option<Addr>, a_cred: Cred, b_cred: Cred) {
        a.st.lock().conn = Conn::Connected { peer: Arc::downgrade(b), peer_addr: a_sees, peer_cred: a_cred };
        b.st.lock().conn = Conn::Connected { peer: Arc::downgrade(a), peer_addr: b_sees, peer_cred: b_cred };
    }

    pub fn nonblocking(&self) -> bool {
        *self.flags.lock() & crate::vfs::file::flags::O_NONBLOCK != 0
    }

    fn notify(&self) {
        post_change(self.id);
    }

    /// The bound name.
    pub fn addr(&self) -> Option<Addr> {
        self.st.lock().addr.clone()
    }

    /// Records the name `bind` gave (EINVAL if already bound).
    pub fn set_addr(&self, a: Addr) -> Result<(), SysError> {
        let mut s = self.st.lock();
        if s.addr.is_some() {
            return Err(SysError::einval("socket already bound"));
        }
        s.addr = Some(a);
        Ok(())
    }

    fn peer(&self) -> Option<Arc<Socket>> {
        match &self.st.lock().conn {
            Conn::Connected { peer, .. } => peer.upgrade(),
            _ => None,
        }
    }

    fn is_connected(&self) -> bool {
        matches!(self.st.lock().conn, Conn::Connected { .. })
    }

    /// The peer's name (getpeername): `Ok(None)` for an unnamed peer.
    pub fn peer_addr(&self) -> Result<Option<Addr>, SysError> {
        match &self.st.lock().conn {
            Conn::Connected { peer_addr, .. } if self.kind.connection() => Ok(peer_addr.clone()),
            Conn::Connected { peer, .. } => match peer.upgrade() {
                Some(p) => Ok(p.addr()),
                None => Err(err(errno::ENOTCONN, "peer is gone")),
            },
            _ => Err(err(errno::ENOTCONN, "not connected")),
        }
    }

    /// SO_PEERCRED.
    pub fn peer_cred(&self) -> Cred {
        match &self.st.lock().conn {
            Conn::Connected { peer_cred, .. } if self.kind.connection() => *peer_cred,
            _ => Cred::NONE,
        }
    }

    pub fn listening(&self) -> bool {
        matches!(self.st.lock().conn, Conn::Listening { .. })
    }

    /// Takes the pending error (SO_ERROR).
    pub fn take_error(&self) -> i32 {
        core::mem::take(&mut self.st.lock().err)
    }

    /// SO_SNDBUF / SO_RCVBUF, as Linux doubles and clamps them.
    pub fn set_buf(&self, send: bool, val: i32) {
        let want = usize::try_from(val.max(0)).unwrap_or(0).min(MAX_BUF / 2) * 2;
        let mut s = self.st.lock();
        if send {
            s.sndbuf = want.max(4608);
        } else {
            s.rcvbuf = want.max(2304);
        }
    }

    pub fn buf(&self, send: bool) -> usize {
        let s = self.st.lock();
        if send {
            s.sndbuf
        } else {
            s.rcvbuf
        }
    }

    pub fn set_passcred(&self, on: bool) {
        self.st.lock().passcred = on;
    }

    pub fn passcred(&self) -> bool {
        self.st.lock().passcred
    }

    pub fn set_reuseaddr(&self, on: bool) {
        self.st.lock().reuseaddr = on;
    }

    pub fn reuseaddr(&self) -> bool {
        self.st.lock().reuseaddr
    }

    /// listen(2): an unconnected, bound stream or seqpacket socket starts
    /// taking connections (a listener only changes its backlog).
    pub fn listen(&self, backlog: i32) -> Result<(), SysError> {
        if !self.kind.connection() {
            return Err(err(errno::EOPNOTSUPP, "listen on a datagram socket"));
        }
        let max = usize::try_from(backlog.clamp(0, i32::try_from(SOMAXCONN).unwrap_or(i32::MAX))).unwrap_or(0);
        let mut s = self.st.lock();
        if s.addr.is_none() {
            return Err(SysError::einval("listen on an unbound socket"));
        }
        match &mut s.conn {
            Conn::None => s.conn = Conn::Listening { backlog: VecDeque::new(), max },
            Conn::Listening { max: m, .. } => *m = max,
            Conn::Connected { .. } => return Err(SysError::einval("listen on a connected socket")),
        }
        drop(s);
        self.notify();
        Ok(())
    }

    /// connect(2) of a stream or seqpacket socket `me` to `target`, made by `cred`.
    pub fn connect_stream(me: &Arc<Socket>, target: &Arc<Socket>, cred: Cred) -> Result<Io<()>, SysError> {
        match me.st.lock().conn {
            Conn::Connected { .. } => return Err(err(errno::EISCONN, "already connected")),
            Conn::Listening { .. } => return Err(SysError::einval("connect on a listening socket")),
            Conn::None => {}
        }
        if target.kind != me.kind {
            return Err(err(errno::EPROTOTYPE, "the listener is of another socket type"));
        }
        let mut ts = target.st.lock();
        let (full, listener_cred, listener_addr) = match &ts.conn {
            Conn::Listening { backlog, max } => (backlog.len() > *max, ts.cred, ts.addr.clone()),
            _ => return Err(err(errno::ECONNREFUSED, "no listener at that name")),
        };
        if full {
            return Ok(Io::Wait([target.id, me.id]));
        }
        let server = Socket::new(me.kind, 0, listener_cred);
        server.st.lock().addr = listener_addr.clone();
        let me_addr = me.addr();
        Socket::link(me, &server, listener_addr, me_addr, listener_cred, cred);
        if let Conn::Listening { backlog, .. } = &mut ts.conn {
            backlog.push_back(server);
        }
        drop(ts);
        target.notify();
        me.notify();
        Ok(Io::Done(()))
    }

    /// connect(2) of a datagram socket: sets (or with `None` clears) the default peer.
    pub fn connect_dgram(&self, target: Option<&Arc<Socket>>) -> Result<(), SysError> {
        let conn = match target {
            Some(t) => {
                if t.kind != self.kind {
                    return Err(err(errno::EPROTOTYPE, "the target is of another socket type"));
                }
                Conn::Connected { peer: Arc::downgrade(t), peer_addr: t.addr(), peer_cred: Cred::NONE }
            }
            None => Conn::None,
        };
        self.st.lock().conn = conn;
        self.notify();
        Ok(())
    }

    /// accept(2): the next connection in the backlog.
    pub fn accept(&self) -> Result<Io<Arc<Socket>>, SysError> {
        let mut s = self.st.lock();
        let Conn::Listening { backlog, .. } = &mut s.conn else {
            return Err(SysError::einval("accept on a socket that is not listening"));
        };
        match backlog.pop_front() {
            Some(c) => {
                drop(s);
                self.notify();
                Ok(Io::Done(c))
            }
            None => Ok(Io::Wait([self.id, self.id])),
        }
    }

    /// shutdown(2): `rd` and/or `wr`.
    pub fn shutdown(&self, rd: bool, wr: bool) -> Result<(), SysError> {
        if self.kind.connection() && !self.is_connected() {
            return Err(err(errno::ENOTCONN, "not connected"));
        }
        {
            let mut s = self.st.lock();
            s.rx_shut |= rd;
            s.tx_shut |= wr;
        }
        if self.kind.connection() {
            if let Some(p) = self.peer() {
                let mut ps = p.st.lock();
                ps.tx_shut |= rd;
                ps.rx_shut |= wr;
                drop(ps);
                p.notify();
            }
        }
        self.notify();
        Ok(())
    }

    /// Where a send goes: `to` if given, else the connected peer.
    /// EPIPE means the caller raises SIGPIPE (unless MSG_NOSIGNAL).
    pub fn send_target(&self, to: Option<Arc<Socket>>) -> Result<Arc<Socket>, SysError> {
        let (tx_shut, connected) = {
            let s = self.st.lock();
            (s.tx_shut, matches!(s.conn, Conn::Connected { .. }))
        };
        if self.kind.connection() {
            if to.is_some() {
                return Err(if connected {
                    err(errno::EISCONN, "address given on a connected socket")
                } else {
                    err(errno::EOPNOTSUPP, "address given on a connection-mode socket")
                });
            }
            if !connected {
                return Err(err(errno::ENOTCONN, "not connected"));
            }
            if tx_shut {
                return Err(err(errno::EPIPE, "sending was shut down"));
            }
            let p = self.peer().ok_or(err(errno::EPIPE, "peer closed"))?;
            if p.st.lock().rx_shut {
                return Err(err(errno::EPIPE, "peer shut down reading"));
            }
            return Ok(p);
        }
        if tx_shut {
            return Err(err(errno::EPIPE, "sending was shut down"));
        }
        let target = match to {
            Some(t) => t,
            None if connected => self.peer().ok_or(err(errno::ECONNREFUSED, "peer closed"))?,
            None => return Err(err(errno::ENOTCONN, "no destination and not connected")),
        };
        if target.kind != self.kind {
            return Err(err(errno::EPROTOTYPE, "the target is of another socket type"));
        }
        // A datagram receiver connected elsewhere takes nothing from us.
        if let Conn::Connected { peer, .. } = &target.st.lock().conn {
            if !core::ptr::eq(peer.as_ptr(), self) {
                return Err(err(errno::EPERM, "the receiver is connected to another socket"));
            }
        }
        Ok(target)
    }

    /// Bytes a stream send to `target` may add now.
    pub fn stream_room(&self, target: &Socket) -> usize {
        let limit = self.buf(true);
        limit.saturating_sub(target.st.lock().rx_bytes + MSG_OVERHEAD)
    }

    /// Whether `target` has room for a datagram of `len` bytes from `self`.
    pub fn dgram_fits(&self, target: &Socket, len: usize) -> Result<bool, SysError> {
        let limit = self.buf(true);
        if len > limit.saturating_sub(32) {
            return Err(err(errno::EMSGSIZE, "message larger than the send buffer"));
        }
        let ts = target.st.lock();
        let own_peer = matches!(&ts.conn, Conn::Connected { peer, .. } if core::ptr::eq(peer.as_ptr(), self));
        if self.kind == SockType::Dgram && !own_peer && ts.rx.len() > MAX_DGRAM_QLEN {
            return Ok(false);
        }
        Ok(ts.rx_bytes == 0 || ts.rx_bytes + len + MSG_OVERHEAD <= limit)
    }

    /// Queues `msg` at this (receiving) socket.
    pub fn deliver(&self, msg: Msg) {
        let mut s = self.st.lock();
        s.rx_bytes += msg.data.len() + MSG_OVERHEAD;
        s.rx.push_back(msg);
        drop(s);
        self.notify();
    }

    /// The most bytes a receive could take now: the first datagram's
    /// length, or a stream's queued bytes.
    pub fn pending_len(&self) -> usize {
        let s = self.st.lock();
        if self.kind.datagrams() {
            s.rx.front().map_or(0, Msg::len)
        } else {
            s.rx.iter().map(Msg::len).sum()
        }
    }

    /// Receives up to `max` bytes. `peek` leaves the data queued. A stream
    /// reads across messages, stopping after one that carries files (or
    /// at a change of credentials when `passcred` is on).
    pub fn recv(&self, max: usize, peek: bool) -> Result<Io<Option<Received>>, SysError> {
        let mut s = self.st.lock();
        // Linux reads a stream only in the connected state.
        if self.kind == SockType::Stream && !matches!(s.conn, Conn::Connected { .. }) {
            return Err(SysError::einval("stream socket is not connected"));
        }
        if s.rx.is_empty() {
            if s.err != 0 {
                let e = core::mem::take(&mut s.err);
                return Err(err(e, "connection reset by peer"));
            }
            if matches!(s.conn, Conn::Listening { .. }) {
                return Err(SysError::einval("receive on a listening socket"));
            }
            if self.kind == SockType::SeqPacket && matches!(s.conn, Conn::None) {
                return Err(err(errno::ENOTCONN, "not connected"));
            }
            if s.rx_shut {
                return Ok(Io::Done(None));
            }
            return Ok(Io::Wait([self.id, self.id]));
        }
        let mut out = Received {
            data: Vec::new(),
            full_len: 0,
            truncated: false,
            files: Vec::new(),
            cred: Cred::default(),
            from: None,
        };
        let mut dropped: Vec<Msg> = Vec::new();
        if self.kind.datagrams() {
            let m = &s.rx[0];
            let n = m.len().min(max);
            out.data.extend_from_slice(&m.data[m.off..m.off + n]);
            out.full_len = m.len();
            out.truncated = n < m.len();
            out.cred = m.cred;
            out.from = m.from.clone();
            if peek {
                out.files = m.files.clone();
            } else if let Some(mut m) = s.rx.pop_front() {
                s.rx_bytes -= m.data.len() + MSG_OVERHEAD;
                out.files = core::mem::take(&mut m.files);
                dropped.push(m);
            }
        } else {
            let passcred = s.passcred;
            let mut i = 0;
            while out.data.len() < max && i < s.rx.len() {
                let m = &s.rx[i];
                if i > 0 && passcred && m.cred != out.cred {
                    break;
                }
                if i == 0 {
                    out.cred = m.cred;
                    out.from = m.from.clone();
                }
                let n = m.len().min(max - out.data.len());
                out.data.extend_from_slice(&m.data[m.off..m.off + n]);
                let has_files = !m.files.is_empty();
                if peek {
                    if has_files {
                        out.files = m.files.clone();
                        break;
                    }
                    i += 1;
                    continue;
                }
                let m = &mut s.rx[i];
                m.off += n;
                if has_files {
                    out.files = core::mem::take(&mut m.files);
                }
                let done = m.off == m.data.len();
                if done {
                    if let Some(m) = s.rx.pop_front() {
                        s.rx_bytes -= MSG_OVERHEAD;
                        dropped.push(m);
                    }
                } else {
                    i += 1;
                }
                if has_files {
                    break;
                }
            }
            if !peek {
                s.rx_bytes -= out.data.len();
            }
            out.full_len = out.data.len();
        }
        let writers = if peek { Vec::new() } else { core::mem::take(&mut s.wake_on_read) };
        drop(s);
        drop(dropped);
        if !peek {
            self.notify();
            for id in writers {
                post_change(id);
            }
        }
        Ok(Io::Done(Some(out)))
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        let (conn, rx, addr) = {
            let mut s = self.st.lock();
            (core::mem::replace(&mut s.conn, Conn::None), core::mem::take(&mut s.rx), s.addr.take())
        };
        if let Conn::Connected { peer, .. } = &conn {
            if self.kind.connection() {
                if let Some(p) = peer.upgrade() {
                    let mut ps = p.st.lock();
                    ps.rx_shut = true;
                    ps.tx_shut = true;
                    if !rx.is_empty() {
                        ps.err = errno::ECONNRESET;
                    }
                    drop(ps);
                    p.notify();
                }
            }
        }
        if let Some(a) = addr {
            names::release(&a);
        }
        post_change(self.id);
        // Queued connections and files in flight go last, with no lock held.
        drop(conn);
        drop(rx);
    }
}

/// Posts a change of socket `id` to its waiters and to epoll. Every event
/// is named: an edge-triggered epoll entry then reports any change of the
/// socket (at worst once more than Linux would, never once less).
fn post_change(id: u64) {
    use crate::kernel::poll::{READABLE, WRITABLE};
    use abi::linux::poll::{POLLERR, POLLHUP, POLLRDHUP};
    crate::kernel::poll::notify_events(WaitKey::Io(id), READABLE | WRITABLE | POLLHUP | POLLRDHUP | POLLERR);
}
