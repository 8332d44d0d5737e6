use alloc::vec::Vec;

use super::*;

fn msg(data: &[u8]) -> Msg {
    Msg::new(data.to_vec(), Vec::new(), Cred::default(), None)
}

fn got(r: Result<Io<Option<Received>>, SysError>) -> Received {
    match r {
        Ok(Io::Done(Some(r))) => r,
        _ => panic!("a message was expected"),
    }
}

#[test]
fn datagrams_keep_boundaries_and_truncate() {
    let (a, b) = Socket::pair(SockType::Dgram, 0, Cred::default());
    let to = a.send_target(None).expect("peer");
    assert!(a.dgram_fits(&to, 7).expect("fits"));
    to.deliver(msg(b"one"));
    to.deliver(msg(b"two two"));
    assert_eq!(got(b.recv(64, false)).data, b"one");
    let peeked = got(b.recv(4, true));
    assert_eq!((peeked.data.as_slice(), peeked.truncated), (&b"two "[..], true));
    let r = got(b.recv(4, false));
    assert_eq!((r.full_len, r.truncated), (7, true));
    assert!(matches!(b.recv(4, false), Ok(Io::Wait(_))));
    // Larger than the send buffer: EMSGSIZE.
    assert_eq!(a.dgram_fits(&to, DEFAULT_BUF).err().map(|e| e.errno), Some(errno::EMSGSIZE));
    // Empty datagrams are charged too: the queue fills.
    let mut n = 0;
    while a.dgram_fits(&to, 0).expect("fits") {
        to.deliver(msg(b""));
        n += 1;
        assert!(n < 10_000, "empty datagrams never fill the queue");
    }
}

#[test]
fn backlog_accept_and_shutdown() {
    let cred = Cred { pid: 7, uid: 0, gid: 0 };
    let l = Socket::new(SockType::Stream, 0, cred);
    assert_eq!(l.listen(0).err().map(|e| e.errno), Some(errno::EINVAL), "unbound");
    l.set_addr(Addr::Abstract(b"t".to_vec())).expect("bind");
    l.listen(0).expect("listen");
    let c1 = Socket::new(SockType::Stream, 0, Cred { pid: 8, ..cred });
    let c2 = Socket::new(SockType::Stream, 0, cred);
    assert!(matches!(Socket::connect_stream(&c1, &l, Cred { pid: 8, ..cred }), Ok(Io::Done(()))));
    assert!(matches!(Socket::connect_stream(&c2, &l, cred), Ok(Io::Wait(_))), "backlog 0 holds one");
    let Ok(Io::Done(s1)) = l.accept() else { panic!("a connection was expected") };
    assert_eq!(s1.peer_cred().pid, 8);
    assert_eq!(c1.peer_cred().pid, 7);
    assert_eq!(c1.peer_addr().expect("peer"), Some(Addr::Abstract(b"t".to_vec())));
    // The client shuts down writing: the server reads EOF, and may still write.
    c1.shutdown(false, true).expect("shutdown");
    assert!(matches!(s1.recv(8, false), Ok(Io::Done(None))));
    assert_eq!(c1.send_target(None).err().map(|e| e.errno), Some(errno::EPIPE));
    let to = s1.send_target(None).expect("server can still send");
    to.deliver(msg(b"x"));
    assert_eq!(got(c1.recv(8, false)).data, b"x");
    // The server closes: the client's sends fail with EPIPE.
    drop(to);
    drop(s1);
    assert_eq!(c1.send_target(None).err().map(|e| e.errno), Some(errno::EPIPE));
}

#[test]
fn a_stream_read_stops_after_files() {
    let (a, b) = Socket::pair(SockType::Stream, 0, Cred::default());
    let (x, _y) = Socket::pair(SockType::Stream, 0, Cred::default());
    let to = a.send_target(None).expect("peer");
    to.deliver(msg(b"ab"));
    to.deliver(Msg::new(b"cd".to_vec(), alloc::vec![File::Socket(x)], Cred::default(), None));
    to.deliver(msg(b"ef"));
    let r = got(b.recv(64, false));
    assert_eq!((r.data.as_slice(), r.files.len()), (&b"abcd"[..], 1));
    assert_eq!(got(b.recv(64, false)).data, b"ef");
}

#[test]
fn stream_pair_reads_across_sends_and_sees_eof() {
    let (a, b) = Socket::pair(SockType::Stream, 0, Cred::default());
    b.deliver(msg(b"hel"));
    b.deliver(msg(b"lo"));
    assert_eq!(got(b.recv(16, false)).data, b"hello");
    assert!(matches!(b.recv(16, false), Ok(Io::Wait(_))));
    drop(a);
    assert!(matches!(b.recv(16, false), Ok(Io::Done(None))));
}
