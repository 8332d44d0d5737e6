//! `--preserve-fds N`: the caller's descriptors 3 to 3+N-1 become the
//! container init's fds 3 to 3+N-1, as with runc.
//!
//! `create` sends them to the sandbox process over the ready socket by
//! SCM_RIGHTS (one message, right after starting it), rather than by
//! inheritance, so that they never sit at numbers the sandbox process or
//! its gofer use. The sandbox process registers them with the control
//! channel; the sentry reads and writes them through hostcalls, as the
//! stdio of exec'd processes.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use anyhow::{bail, Context as _};
use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

pub use abi::container::MAX_PRESERVED_FDS;

/// The first preserved descriptor.
const FIRST: i32 = 3;

/// The caller's descriptors 3 to 3+`n`-1, checked open.
pub fn caller_fds(n: u32) -> anyhow::Result<Vec<BorrowedFd<'static>>> {
    let count = usize::try_from(n).unwrap_or(usize::MAX);
    if count > MAX_PRESERVED_FDS {
        bail!("--preserve-fds {n}: at most {MAX_PRESERVED_FDS} descriptors can be passed");
    }
    let last = FIRST.saturating_add(i32::try_from(n).unwrap_or(i32::MAX));
    (FIRST..last)
        .map(|fd| {
            crate::sys::inherited_fd(fd).with_context(|| format!("--preserve-fds {n}: descriptor {fd} is not open"))
        })
        .collect()
}

/// Sends `fds` (at least one) over `sock` in one message.
pub fn send(sock: &UnixStream, fds: &[BorrowedFd<'_>]) -> anyhow::Result<()> {
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
    let mut anc = SendAncillaryBuffer::new(&mut space);
    if !anc.push(SendAncillaryMessage::ScmRights(fds)) {
        bail!("too many descriptors to preserve");
    }
    let n = sendmsg(sock, &[IoSlice::new(b"F")], &mut anc, SendFlags::NOSIGNAL)
        .context("cannot pass the preserved descriptors")?;
    anyhow::ensure!(n == 1, "cannot pass the preserved descriptors");
    Ok(())
}

/// Receives exactly `n` descriptors sent by [`send`] (close-on-exec).
pub fn recv(sock: &UnixStream, n: u32) -> anyhow::Result<Vec<OwnedFd>> {
    let count = usize::try_from(n).unwrap_or(usize::MAX).min(MAX_PRESERVED_FDS);
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(count))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    let mut byte = [0u8; 1];
    let msg = recvmsg(sock.as_fd(), &mut [IoSliceMut::new(&mut byte)], &mut anc, RecvFlags::CMSG_CLOEXEC)
        .context("cannot receive the preserved descriptors")?;
    let mut fds = Vec::new();
    for m in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(it) = m {
            fds.extend(it);
        }
    }
    if msg.bytes != 1 || msg.flags.contains(ReturnFlags::CTRUNC) || fds.len() != count {
        bail!("expected {n} preserved descriptors, got {}", fds.len());
    }
    Ok(fds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_cross_the_socket_in_order() {
        let (a, b) = UnixStream::pair().expect("pair");
        let (r1, w1) = rustix::pipe::pipe().expect("pipe");
        let (r2, w2) = rustix::pipe::pipe().expect("pipe");
        send(&a, &[w1.as_fd(), w2.as_fd()]).expect("send");
        let got = recv(&b, 2).expect("recv");
        assert_eq!(got.len(), 2);
        rustix::io::write(&got[0], b"one").expect("write");
        rustix::io::write(&got[1], b"two").expect("write");
        let mut buf = [0u8; 3];
        rustix::io::read(&r1, &mut buf).expect("read");
        assert_eq!(&buf, b"one");
        rustix::io::read(&r2, &mut buf).expect("read");
        assert_eq!(&buf, b"two");
        // Fewer than announced is an error, not a short list.
        send(&a, &[w1.as_fd()]).expect("send");
        assert!(recv(&b, 2).is_err());
    }
}
