//! Requests as they come off the connection.
//!
//! One `recv` takes whatever has arrived (a whole request, for a client
//! that sends one at a time, as the sandbox does) instead of one read for
//! the size field and one for the rest; requests a client pipelines (the
//! Linux kernel's 9p client) stay buffered for the next call.
//!
//! Waiting for the next request is a `poll` for input, not a blocking
//! read: a blocked reader of a unix stream socket is also woken each time
//! the peer reads a reply off its end (the socket became writable again),
//! which cost the gofer a useless trip through the scheduler per exchange.

use std::io::{ErrorKind, Read};
use std::os::fd::AsFd;

use p9::FrameError;
use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::RecvFlags;

use crate::GoferError;

/// The receive buffer: `buf[start..end]` holds bytes received and not yet
/// handled, a request's first byte at `start`.
pub(crate) struct Inbox {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The connection is not a socket: plain blocking reads.
    not_socket: bool,
}

impl Inbox {
    /// A buffer for requests up to `max` bytes (the largest msize).
    pub(crate) fn new(max: usize) -> Self {
        Self { buf: vec![0u8; max], start: 0, end: 0, not_socket: false }
    }

    /// The next complete request of at most `msize` bytes, receiving until
    /// it is all here; `None` when the client closed the connection
    /// between requests. The previous request's bytes are dropped.
    pub(crate) fn next<C: Read + AsFd>(&mut self, conn: &mut C, msize: u32) -> Result<Option<&[u8]>, GoferError> {
        loop {
            let have = self.end - self.start;
            if have >= 4 {
                let mut size = [0u8; 4];
                size.copy_from_slice(&self.buf[self.start..self.start + 4]);
                let len = p9::frame_len(size, msize).map_err(GoferError::Frame)?;
                if len > self.buf.len() {
                    return Err(GoferError::Frame(FrameError::TooShort { len }));
                }
                if have >= len {
                    let frame = self.start..self.start + len;
                    self.start += len;
                    return Ok(Some(&self.buf[frame]));
                }
            }
            if self.start > 0 {
                // Room for a whole request after what is here (rarely any:
                // the sandbox sends one request at a time).
                self.buf.copy_within(self.start..self.end, 0);
                self.end = have;
                self.start = 0;
            }
            let n = self.receive(conn)?;
            if n == 0 {
                // A client gone between requests (or inside a size field,
                // as before) ends the session; inside a request it is an
                // error.
                return if self.end - self.start < 4 {
                    Ok(None)
                } else {
                    Err(GoferError::Io(ErrorKind::UnexpectedEof.into()))
                };
            }
            self.end += n;
        }
    }

    /// Receives what has arrived into the free end of the buffer, waiting
    /// for input if nothing has; 0 at end of file.
    fn receive<C: Read + AsFd>(&mut self, conn: &mut C) -> Result<usize, GoferError> {
        let room = &mut self.buf[self.end..];
        loop {
            if self.not_socket {
                match conn.read(room) {
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    other => return other.map_err(GoferError::Io),
                }
            }
            match rustix::net::recv(conn.as_fd(), &mut *room, RecvFlags::DONTWAIT) {
                Ok((n, _)) => return Ok(n),
                Err(Errno::AGAIN) => wait_readable(conn)?,
                Err(Errno::INTR) => {}
                Err(Errno::NOTSOCK) => self.not_socket = true,
                Err(e) => return Err(GoferError::Io(e.into())),
            }
        }
    }
}

/// Waits until `conn` has input (or its peer hung up).
fn wait_readable<C: AsFd>(conn: &C) -> Result<(), GoferError> {
    let mut fds = [PollFd::new(conn, PollFlags::IN)];
    match rustix::event::poll(&mut fds, None) {
        Ok(_) | Err(Errno::INTR) => Ok(()),
        Err(e) => Err(GoferError::Io(e.into())),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    use super::*;

    fn frame(ty: u8, tag: u16, body: &[u8]) -> Vec<u8> {
        let len = u32::try_from(7 + body.len()).expect("len");
        let mut f = len.to_le_bytes().to_vec();
        f.push(ty);
        f.extend_from_slice(&tag.to_le_bytes());
        f.extend_from_slice(body);
        f
    }

    /// Requests pipelined in one write, split across writes and across
    /// the end of the buffer come out whole and in order.
    #[test]
    fn frames_come_out_whole_whatever_the_writes() {
        let (mut client, mut server) = UnixStream::pair().expect("socketpair");
        let a = frame(120, 1, &[1, 0, 0, 0]);
        let b = frame(120, 2, &[2, 0, 0, 0]);
        let c = frame(100, 3, &[7u8; 40]);
        let mut inbox = Inbox::new(64);
        // Two at once.
        client.write_all(&[a.clone(), b.clone()].concat()).expect("write");
        assert_eq!(inbox.next(&mut server, 64).expect("a"), Some(&a[..]));
        assert_eq!(inbox.next(&mut server, 64).expect("b"), Some(&b[..]));
        // One in three pieces, from another thread so that the reader
        // waits in between.
        let writer = {
            let c = c.clone();
            let mut client = client.try_clone().expect("clone");
            std::thread::spawn(move || {
                for piece in [&c[..2], &c[2..9], &c[9..]] {
                    client.write_all(piece).expect("write");
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            })
        };
        assert_eq!(inbox.next(&mut server, 64).expect("c"), Some(&c[..]));
        writer.join().expect("writer");
        // Leftovers move to the front when the next frame would not fit.
        let d = frame(100, 4, &[9u8; 30]);
        client.write_all(&[a.clone(), d[..20].to_vec()].concat()).expect("write");
        assert_eq!(inbox.next(&mut server, 64).expect("a"), Some(&a[..]));
        client.write_all(&d[20..]).expect("write");
        assert_eq!(inbox.next(&mut server, 64).expect("d"), Some(&d[..]));
        drop(client);
        assert_eq!(inbox.next(&mut server, 64).expect("eof"), None);
    }

    #[test]
    fn bad_sizes_and_truncated_frames_are_errors() {
        let (mut client, mut server) = UnixStream::pair().expect("socketpair");
        let mut inbox = Inbox::new(64);
        client.write_all(&100u32.to_le_bytes()).expect("write");
        assert!(matches!(inbox.next(&mut server, 64), Err(GoferError::Frame(FrameError::TooLarge { .. }))));
        let (mut client, mut server) = UnixStream::pair().expect("socketpair");
        let mut inbox = Inbox::new(64);
        client.write_all(&frame(120, 1, &[1, 0, 0, 0])[..9]).expect("write");
        drop(client);
        assert!(matches!(inbox.next(&mut server, 64), Err(GoferError::Io(_))));
    }
}
