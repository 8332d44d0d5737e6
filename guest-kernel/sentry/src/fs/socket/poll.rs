//! Readiness of a unix socket, as Linux's `unix_poll` and `unix_dgram_poll`.

use super::{Conn, SockType, Socket};
use abi::linux::poll::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDHUP, POLLRDNORM, POLLWRBAND, POLLWRNORM};

const WRITABLE: u32 = POLLOUT | POLLWRNORM | POLLWRBAND;

impl Socket {
    /// The POLL* events of this socket now.
    pub fn poll_events(&self) -> u32 {
        let s = self.st.lock();
        let mut ev = 0;
        if s.err != 0 {
            ev |= POLLERR;
        }
        if s.rx_shut {
            ev |= POLLRDHUP | POLLIN | POLLRDNORM;
        }
        if s.rx_shut && s.tx_shut {
            ev |= POLLHUP;
        }
        let (listening, peer) = match &s.conn {
            Conn::Listening { backlog, .. } => {
                if !backlog.is_empty() {
                    ev |= POLLIN | POLLRDNORM;
                }
                (true, None)
            }
            Conn::Connected { peer, .. } => (false, Some(peer.clone())),
            Conn::None => (false, None),
        };
        if !s.rx.is_empty() {
            ev |= POLLIN | POLLRDNORM;
        }
        // An unconnected connection-mode socket has hung up.
        if self.kind != SockType::Dgram && !listening && peer.is_none() {
            ev |= POLLHUP;
        }
        let sndbuf = s.sndbuf;
        drop(s);
        if listening {
            return ev;
        }
        // Writable while the peer's queue is below a quarter of our send
        // buffer (Linux counts our bytes in flight the same way).
        let writable = match peer.and_then(|p| p.upgrade()) {
            Some(p) if !core::ptr::eq(&*p, self) => {
                let mut ps = p.st.lock();
                let full = self.kind == SockType::Dgram
                    && !matches!(&ps.conn, Conn::Connected { peer, .. } if core::ptr::eq(peer.as_ptr(), self))
                    && ps.rx.len() > super::MAX_DGRAM_QLEN;
                let writable = !full && ps.rx_bytes * 4 <= sndbuf;
                if !writable && !ps.wake_on_read.contains(&self.id) {
                    ps.wake_on_read.push(self.id);
                }
                writable
            }
            _ => true,
        };
        if writable {
            ev |= WRITABLE;
        }
        ev
    }
}
