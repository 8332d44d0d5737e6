//! Donated files: with [`crate::GoferOptions::donate_fds`], the `Rlopen`
//! of a regular file opened read-only carries the host fd the gofer opened
//! (`SCM_RIGHTS`), so the sandbox can `preadv` it straight into guest
//! memory without a gofer round trip per read (gVisor's donated-FD model).
//! The sandbox still never opens a container file by name itself: it gets
//! only descriptors the gofer opened, confined as any other, and only for
//! reading. Other clients (the Linux kernel's 9p client) never get one.

use std::io::{IoSlice, Write};
use std::mem::MaybeUninit;
use std::os::fd::AsFd;

use rustix::fs::FileType;
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

use crate::server::Server;

impl Server {
    /// Writes `reply` (the answer to `frame`) to `conn`, with the fid's
    /// host fd attached when the exchange opened a regular file for reading
    /// only and donation is on.
    pub(crate) fn send_reply<C: Write + AsFd>(&self, frame: &[u8], reply: &[u8], conn: &mut C) -> std::io::Result<()> {
        let opened = self.opts.donate_fds && frame.get(4) == Some(&p9::TLOPEN) && reply.get(4) == Some(&p9::RLOPEN);
        let file = opened
            .then(|| frame.get(7..11).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes))
            .flatten()
            .and_then(|fid| self.fids.get(&fid))
            .and_then(|f| f.open.as_ref())
            .filter(|o| o.readable && !o.writable)
            .filter(|o| rustix::fs::fstat(&o.fd).is_ok_and(|st| FileType::from_raw_mode(st.st_mode).is_file()));
        let Some(open) = file else { return conn.write_all(reply) };
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut cmsg = SendAncillaryBuffer::new(&mut space);
        let fds = [open.fd.as_fd()];
        if !cmsg.push(SendAncillaryMessage::ScmRights(&fds)) {
            return conn.write_all(reply);
        }
        // The fd rides on the first bytes sent; the rest goes as usual.
        let sent = loop {
            match rustix::net::sendmsg(conn.as_fd(), &[IoSlice::new(reply)], &mut cmsg, SendFlags::NOSIGNAL) {
                Ok(n) => break n,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        };
        conn.write_all(&reply[sent..])
    }
}
