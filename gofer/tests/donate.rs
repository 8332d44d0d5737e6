//! Donated files: with `donate_fds`, the Rlopen of a regular file opened
//! read-only carries the gofer's host fd; nothing else does.

mod common;

use std::io::{IoSliceMut, Write};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;

use common::{Client, TempDir};
use gofer::GoferOptions;
use p9::*;
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};

/// Sends Tlopen on `fid` and reads the reply with recvmsg: whether it was
/// an Rlopen, and the fd that came with it.
fn lopen_with_fd(c: &mut Client, fid: u32, flags: u32) -> (bool, Option<OwnedFd>) {
    let mut frame = Vec::new();
    Tmessage::from(Tlopen { fid, flags }).encode_to_vec(7, &mut frame).expect("encode");
    c.sock.write_all(&frame).expect("send");
    let mut reply = vec![0u8; 64];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut cmsg = RecvAncillaryBuffer::new(&mut space);
    let mut iov = [IoSliceMut::new(&mut reply)];
    let r = rustix::net::recvmsg(&c.sock, &mut iov, &mut cmsg, RecvFlags::CMSG_CLOEXEC).expect("recvmsg");
    let n = r.bytes;
    assert_eq!(u32::from_le_bytes(reply[..4].try_into().expect("size")) as usize, n, "one whole reply");
    let mut fd = None;
    for m in cmsg.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = m {
            fd = fds.next();
        }
    }
    (reply[4] == RLOPEN, fd)
}

fn tree() -> TempDir {
    let t = TempDir::new("donate");
    std::fs::create_dir_all(t.path().join("dir")).expect("mkdir");
    std::fs::write(t.path().join("f"), b"donated bytes").expect("write");
    t
}

#[test]
fn read_only_regular_files_come_with_their_fd() {
    let t = tree();
    let mut c = Client::start(t.path(), GoferOptions { donate_fds: true, ..GoferOptions::default() });
    c.attach(0);
    c.walk(0, 1, &["f"]).expect("walk");
    let (ok, fd) = lopen_with_fd(&mut c, 1, open_flags::RDONLY);
    assert!(ok);
    let fd = fd.expect("a donated fd");
    let mut buf = [0u8; 32];
    let n = rustix::io::pread(&fd, &mut buf, 8).expect("pread the donated fd");
    assert_eq!(&buf[..n], b"bytes");
    // Read-only: the sandbox cannot write through it.
    assert!(rustix::io::pwrite(&fd, b"x", 0).is_err());
    // The fid still reads through 9P as before.
    assert_eq!(c.read(1, 0, 64).expect("read"), b"donated bytes");

    // Opened for writing, or a directory: no fd.
    c.walk(0, 2, &["f"]).expect("walk");
    assert_eq!(lopen_with_fd(&mut c, 2, open_flags::RDWR).map_fd(), (true, false));
    c.walk(0, 3, &["dir"]).expect("walk");
    assert_eq!(lopen_with_fd(&mut c, 3, open_flags::RDONLY).map_fd(), (true, false));
    // A failed open: no fd either.
    assert_eq!(lopen_with_fd(&mut c, 99, open_flags::RDONLY).map_fd(), (false, false));
    c.finish().expect("clean end");
}

#[test]
fn no_fd_without_the_option() {
    let t = tree();
    let mut c = Client::start(t.path(), GoferOptions::default());
    c.attach(0);
    c.walk(0, 1, &["f"]).expect("walk");
    assert_eq!(lopen_with_fd(&mut c, 1, open_flags::RDONLY).map_fd(), (true, false));
    c.finish().expect("clean end");
}

/// Compares replies by (ok, whether an fd came).
trait MapFd {
    fn map_fd(self) -> (bool, bool);
}

impl MapFd for (bool, Option<OwnedFd>) {
    fn map_fd(self) -> (bool, bool) {
        (self.0, self.1.is_some())
    }
}
