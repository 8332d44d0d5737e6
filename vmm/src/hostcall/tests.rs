//! Hostcall validation and handlers against real (anonymous) guest memory.

use std::io::Read as _;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use abi::hostcall::{ExitKind, LogLevel};

use super::*;
use crate::vstate::ExitAction;

fn mem() -> GuestMemory {
    GuestMemory::new_anonymous(layout::MIN_GUEST_MEMORY)
}

fn block(call: Hostcall, args: [u64; 4], segs: &[(u64, u64)]) -> HostcallBlock {
    let mut b = HostcallBlock::new();
    b.nr = call as u32;
    b.args = args;
    b.nsegs = u32::try_from(segs.len()).expect("small");
    for (i, &(gpa, len)) in segs.iter().enumerate() {
        b.segments[i] = Segment { gpa, len };
    }
    b
}

#[test]
fn decode_accepts_valid_request() {
    let m = mem();
    let req = decode(&m, &block(Hostcall::Write, [1, 0, 0, 0], &[(0x40_0000, 10), (0x50_0000, 5)])).expect("valid");
    assert_eq!(req.call, Hostcall::Write);
    assert_eq!(req.total, 15);
    assert_eq!(req.segments.len(), 2);
}

#[test]
fn decode_rejects_malformed() {
    let m = mem();
    let size = m.size();
    let mut b = block(Hostcall::Clock, [0; 4], &[]);
    b.version = 2;
    assert!(matches!(decode(&m, &b), Err(HostcallError::Version { found: 2 })));

    let mut b = block(Hostcall::Clock, [0; 4], &[]);
    b.nr = 999;
    assert!(matches!(decode(&m, &b), Err(HostcallError::UnknownNumber(999))));

    let mut b = block(Hostcall::Write, [1; 4], &[]);
    b.nsegs = u32::try_from(MAX_SEGMENTS + 1).expect("small");
    assert!(matches!(decode(&m, &b), Err(HostcallError::TooManySegments(_))));

    // Out of range, straddling the end, and overflowing gpa + len.
    for (gpa, len) in [(size, 1), (size - 4, 8), (u64::MAX - 3, 8), (8, u64::MAX)] {
        let b = block(Hostcall::Write, [1, 0, 0, 0], &[(0x1000, 4), (gpa, len)]);
        assert!(matches!(decode(&m, &b), Err(HostcallError::SegmentOutside { index: 1, .. })), "{gpa:#x}+{len:#x}");
    }
    // Exactly at the end is fine.
    decode(&m, &block(Hostcall::Write, [1, 0, 0, 0], &[(size - 4, 4)])).expect("at end");

    let segs: Vec<(u64, u64)> = (0..3).map(|i| (i << 23, MAX_TRANSFER / 2)).collect();
    assert!(matches!(decode(&m, &block(Hostcall::Write, [1, 0, 0, 0], &segs)), Err(HostcallError::TooLarge)));
}

#[test]
fn bad_fds_and_arguments_are_fatal() {
    let m = mem();
    let stop = StopSignal::new();
    for (call, fd) in [(Hostcall::Write, 0), (Hostcall::Write, 3), (Hostcall::Read, 1)] {
        let req = decode(&m, &block(call, [fd, 0, 0, 0], &[(0x1000, 1)])).expect("decodes");
        assert!(matches!(serve(&m, &stop, None, None, &req), Err(HostcallError::BadFd { .. })));
    }
    let req = decode(&m, &block(Hostcall::Exit, [7, 0, 0, 0], &[])).expect("decodes");
    assert!(matches!(serve(&m, &stop, None, None, &req), Err(HostcallError::BadArgument { .. })));
    let req = decode(&m, &block(Hostcall::Exit, [ExitKind::Signaled as u64, 65, 0, 0], &[])).expect("decodes");
    assert!(matches!(serve(&m, &stop, None, None, &req), Err(HostcallError::BadArgument { .. })));
    let req = decode(&m, &block(Hostcall::Log, [0, 0, 0, 0], &[])).expect("decodes");
    assert!(matches!(serve(&m, &stop, None, None, &req), Err(HostcallError::BadArgument { .. })));
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // Test-only: libc pipe for a real fd pair.
    #[allow(unsafe_code)]
    // SAFETY: pipe writes two fds into a live array of two c_ints.
    let rc = unsafe { libc::pipe(fds.as_mut_ptr()) };
    assert_eq!(rc, 0);
    // SAFETY: both fds were just created and are owned only here.
    #[allow(unsafe_code)]
    let pair = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    pair
}

#[test]
fn write_goes_straight_to_the_fd() {
    let m = mem();
    m.write_bytes(0x40_0000, b"hello, ").expect("w");
    m.write_bytes(0x50_0123, b"world\n").expect("w");
    let req = decode(&m, &block(Hostcall::Write, [1, 0, 0, 0], &[(0x40_0000, 7), (0x50_0123, 6)])).expect("valid");
    let slices = stdio_slices(&m, &req);
    let (r, w) = pipe();
    let n = crate::sys::writev(w.as_raw_fd(), &slices).expect("writev");
    assert_eq!(n, 13);
    drop(w);
    let mut out = String::new();
    std::fs::File::from(r).read_to_string(&mut out).expect("read");
    assert_eq!(out, "hello, world\n");
}

fn stdio_slices<'m>(m: &'m GuestMemory, req: &Request) -> Vec<vm_memory::VolatileSlice<'m>> {
    req.segments.iter().map(|s| m.slice(s.gpa, usize::try_from(s.len).expect("fits")).expect("slice")).collect()
}

#[test]
fn exit_clock_sleep_log_panic() {
    let m = mem();
    let stop = StopSignal::new();
    let serve_block = |b: HostcallBlock| serve(&m, &stop, None, None, &decode(&m, &b).expect("valid"));
    assert_eq!(
        serve_block(block(Hostcall::Exit, [ExitKind::Exited as u64, 0x1_2a, 0, 0], &[])).expect("ok"),
        Reply::Finish(Outcome::Exited(0x2a))
    );
    assert_eq!(
        serve_block(block(Hostcall::Exit, [ExitKind::Signaled as u64, 11, 0, 0], &[])).expect("ok"),
        Reply::Finish(Outcome::Signaled(11))
    );
    match serve_block(block(Hostcall::Clock, [0; 4], &[])).expect("ok") {
        Reply::Return { ret, ret2 } => {
            assert!(ret > 1_600_000_000_000_000_000);
            assert!(ret2 > 0);
        }
        r => panic!("{r:?}"),
    }
    assert_eq!(serve_block(block(Hostcall::Sleep, [1_000_000, 0, 0, 0], &[])).expect("ok"), Reply::ret(0));
    m.write_bytes(0x1000, b"it broke\n").expect("w");
    assert_eq!(
        serve_block(block(Hostcall::Panic, [0; 4], &[(0x1000, 9)])).expect("ok"),
        Reply::Finish(Outcome::SentryPanic("it broke".into()))
    );
    assert_eq!(
        serve_block(block(Hostcall::Log, [LogLevel::Debug as u64, 0, 0, 0], &[(0x1000, 9)])).expect("ok"),
        Reply::ret(0)
    );
    stop.stop(crate::StopReason::Requested);
    assert_eq!(
        serve_block(block(Hostcall::Sleep, [10_000_000_000, 0, 0, 0], &[])).expect("ok"),
        Reply::ret(-i64::from(libc::EINTR))
    );
}

#[test]
fn port_handler_writes_results_back() {
    let m = mem();
    let stop = StopSignal::new();
    m.write(layout::hostcall_block_gpa(0), block(Hostcall::Clock, [0; 4], &[])).expect("w");
    let mut h = Hostcalls::new(&m, &stop, 0);
    assert_eq!(h.port_out(HOSTCALL_PORT, &[0; 4]).expect("ok"), ExitAction::Resume);
    let back: HostcallBlock = m.read(layout::hostcall_block_gpa(0)).expect("r");
    assert!(back.ret > 0 && back.ret2 > 0);
    assert_eq!(h.count, 1);
    assert_eq!(h.port_out(0x80, &[0; 1]).expect("ok"), ExitAction::Fault(GuestFault::PortOut(0x80)));
    let mut bad = block(Hostcall::Clock, [0; 4], &[]);
    bad.version = 0;
    m.write(layout::hostcall_block_gpa(0), bad).expect("w");
    let err = h.port_out(HOSTCALL_PORT, &[0; 4]).expect_err("malformed");
    assert!(matches!(err, VmmError::BadHostcall { vcpu: 0, .. }));
}

/// The gofer's start-up is checked at the first P9 hostcall, once: a
/// gofer that did not start ends the run with its reason; one that did is
/// used as usual.
#[test]
fn gofer_start_is_checked_at_the_first_exchange() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    let m = mem();
    let stop = StopSignal::new();
    m.write_bytes(0x10_0000, b"\x07\0\0\0\x64\x01\0").expect("write");
    let p9_block = block(Hostcall::P9, [1, 0, 0, 0], &[(0x10_0000, 7), (0x30_0000, 64)]);

    let failed = crate::GoferReady(Arc::new(|| Err("confinement failed".to_owned())));
    let (sock, _theirs) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let mut h = Hostcalls::new(&m, &stop, 0).with_gofer(sock, Some(failed));
    // Other hostcalls do not wait for the gofer.
    m.write(layout::hostcall_block_gpa(0), block(Hostcall::Clock, [0; 4], &[])).expect("w");
    assert_eq!(h.port_out(HOSTCALL_PORT, &[0; 4]).expect("ok"), ExitAction::Resume);
    m.write(layout::hostcall_block_gpa(0), p9_block).expect("w");
    let err = h.port_out(HOSTCALL_PORT, &[0; 4]).expect_err("no gofer");
    assert!(matches!(&err, VmmError::GoferStart(why) if why == "confinement failed"), "{err}");

    let calls = Arc::new(AtomicU32::new(0));
    let counted = Arc::clone(&calls);
    let ready = crate::GoferReady(Arc::new(move || {
        counted.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }));
    let reply = vec![0x0b, 0, 0, 0, 0x65, 1, 0, 1, 2, 3, 4];
    let (sock, gofer) = fake_gofer(7, reply.clone());
    let mut h = Hostcalls::new(&m, &stop, 0).with_gofer(sock, Some(ready));
    assert_eq!(h.port_out(HOSTCALL_PORT, &[0; 4]).expect("ok"), ExitAction::Resume);
    gofer.join().expect("gofer");
    let back: HostcallBlock = m.read(layout::hostcall_block_gpa(0)).expect("r");
    assert_eq!(back.ret, 11);
    // Checked once: the next exchange finds the gofer gone (EIO), not
    // another check.
    assert_eq!(h.port_out(HOSTCALL_PORT, &[0; 4]).expect("ok"), ExitAction::Resume);
    let back: HostcallBlock = m.read(layout::hostcall_block_gpa(0)).expect("r");
    assert_eq!(back.ret, -i64::from(libc::EIO));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// A fake gofer on the other end of a socketpair: reads one request of
/// `req_len` bytes, answers with `reply`.
fn fake_gofer(req_len: usize, reply: Vec<u8>) -> (std::os::unix::net::UnixStream, std::thread::JoinHandle<Vec<u8>>) {
    use std::io::Write as _;
    let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let t = std::thread::spawn(move || {
        let mut got = vec![0u8; req_len];
        theirs.read_exact(&mut got).expect("request");
        theirs.write_all(&reply).expect("reply");
        got
    });
    (ours, t)
}

#[test]
fn p9_relays_scattered_request_and_reply() {
    let m = mem();
    let stop = StopSignal::new();
    // Request in two pieces; reply scattered over three segments.
    m.write_bytes(0x10_0000, b"\x0b\0\0\0\x64\x01\0").expect("write");
    m.write_bytes(0x20_0000, b"abcd").expect("write");
    let mut reply = vec![0x0f, 0, 0, 0, 0x75, 0x01, 0x00];
    reply.extend_from_slice(b"12345678");
    let (sock, gofer) = fake_gofer(11, reply.clone());
    let mut chan = p9::GoferChannel::new(sock);
    let segs = [(0x10_0000, 7), (0x20_0000, 4), (0x30_0000, 7), (0x31_0000, 3), (0x32_0000, 100)];
    let req = decode(&m, &block(Hostcall::P9, [2, 0, 0, 0], &segs)).expect("valid");
    assert_eq!(serve(&m, &stop, Some(&mut chan), None, &req).expect("served"), Reply::ret(15));
    assert_eq!(gofer.join().expect("gofer"), b"\x0b\0\0\0\x64\x01\0abcd");
    let mut got = vec![0u8; 15];
    m.read_bytes(0x30_0000, &mut got[..7]).expect("read");
    m.read_bytes(0x31_0000, &mut got[7..10]).expect("read");
    m.read_bytes(0x32_0000, &mut got[10..]).expect("read");
    assert_eq!(got, reply);
}

#[test]
fn p9_bad_reply_breaks_the_channel() {
    let m = mem();
    let stop = StopSignal::new();
    m.write_bytes(0x10_0000, b"\x07\0\0\0\x64\x01\0").expect("write");
    // A size larger than the guest's reply space.
    let (sock, gofer) = fake_gofer(7, vec![0xff, 0xff, 0, 0, 0x75, 1, 0]);
    let mut chan = p9::GoferChannel::new(sock);
    let req = decode(&m, &block(Hostcall::P9, [1, 0, 0, 0], &[(0x10_0000, 7), (0x30_0000, 64)])).expect("valid");
    assert_eq!(serve(&m, &stop, Some(&mut chan), None, &req).expect("served"), Reply::ret(-i64::from(libc::EIO)));
    gofer.join().expect("gofer");
    // Once broken, no more exchanges.
    assert_eq!(serve(&m, &stop, Some(&mut chan), None, &req).expect("served"), Reply::ret(-i64::from(libc::EIO)));
    // Without a gofer: ENOSYS; malformed segment splits are guest errors.
    assert_eq!(serve(&m, &stop, None, None, &req).expect("served"), Reply::ret(-i64::from(libc::ENOSYS)));
    let bad = decode(&m, &block(Hostcall::P9, [2, 0, 0, 0], &[(0x10_0000, 7), (0x30_0000, 64)])).expect("valid");
    assert!(matches!(serve(&m, &stop, None, None, &bad), Err(HostcallError::BadArgument { .. })));
}

/// A reply that arrives in pieces (the size field itself split) lands
/// whole; one with bytes past its own size breaks the channel.
#[test]
fn p9_reply_in_pieces_and_trailing_bytes() {
    use std::io::Write as _;
    let m = mem();
    let stop = StopSignal::new();
    m.write_bytes(0x10_0000, b"\x07\0\0\0\x64\x01\0").expect("write");
    let reply: Vec<u8> = [&[0x0f, 0, 0, 0, 0x75, 1, 0][..], b"12345678"].concat();
    let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let mut chan = p9::GoferChannel::new(ours);
    let sent = reply.clone();
    let gofer = std::thread::spawn(move || {
        let mut got = [0u8; 7];
        theirs.read_exact(&mut got).expect("request");
        for piece in [&sent[..2], &sent[2..9], &sent[9..]] {
            theirs.write_all(piece).expect("reply");
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        theirs.read_exact(&mut got).expect("request");
        // A reply of 7 bytes followed by 3 more.
        theirs.write_all(&[7, 0, 0, 0, 0x79, 1, 0, 9, 9, 9]).expect("reply");
    });
    // The head segment is large enough to take everything at once.
    let req = decode(&m, &block(Hostcall::P9, [1, 0, 0, 0], &[(0x10_0000, 7), (0x30_0000, 9), (0x31_0000, 64)]))
        .expect("valid");
    assert_eq!(serve(&m, &stop, Some(&mut chan), None, &req).expect("served"), Reply::ret(15));
    let mut got = vec![0u8; 15];
    m.read_bytes(0x30_0000, &mut got[..9]).expect("read");
    m.read_bytes(0x31_0000, &mut got[9..]).expect("read");
    assert_eq!(got, reply);
    // Bytes beyond the reply's size: the stream is out of step.
    let req = decode(&m, &block(Hostcall::P9, [1, 0, 0, 0], &[(0x10_0000, 7), (0x30_0000, 64)])).expect("valid");
    assert_eq!(serve(&m, &stop, Some(&mut chan), None, &req).expect("served"), Reply::ret(-i64::from(libc::EIO)));
    gofer.join().expect("gofer");
    assert_eq!(serve(&m, &stop, Some(&mut chan), None, &req).expect("served"), Reply::ret(-i64::from(libc::EIO)));
}

#[test]
fn p9_requires_exactly_one_message() {
    let m = mem();
    let stop = StopSignal::new();
    // Two Tclunk frames back to back in one request: refused before anything is sent.
    m.write_bytes(0x10_0000, b"\x0b\0\0\0\x78\x01\0\x01\0\0\0\x0b\0\0\0\x78\x01\0\x02\0\0\0").expect("write");
    let req = decode(&m, &block(Hostcall::P9, [1, 0, 0, 0], &[(0x10_0000, 22), (0x30_0000, 64)])).expect("valid");
    assert!(matches!(
        serve(&m, &stop, None, None, &req),
        Err(HostcallError::BadArgument { what: "request size field", .. })
    ));
}

#[test]
fn donated_file_is_read_by_handle_and_released() {
    let m = mem();
    let stop = StopSignal::new();
    let path = std::env::temp_dir().join(format!("vmm-donated-{}", std::process::id()));
    std::fs::write(&path, b"0123456789abcdef").expect("write");
    let file = std::fs::File::open(&path).expect("open");
    std::fs::remove_file(&path).expect("unlink");

    // An Rlopen-sized reply carrying the fd.
    m.write_bytes(0x10_0000, b"\x0f\0\0\0\x0c\x01\0\x01\0\0\0\0\0\0\0").expect("write");
    let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().expect("socketpair");
    let mut chan = p9::GoferChannel::new(ours);
    let reply: Vec<u8> = [&[0x18, 0, 0, 0, 0x0d, 1, 0][..], &[7u8; 17][..]].concat();
    let gofer = std::thread::spawn(move || {
        let mut got = [0u8; 15];
        theirs.read_exact(&mut got).expect("request");
        crate::sys::send_with_fd(theirs.as_raw_fd(), &reply, file.as_raw_fd()).expect("sendmsg");
    });
    let req = decode(&m, &block(Hostcall::P9, [1, 0, 0, 0], &[(0x10_0000, 15), (0x30_0000, 64)])).expect("valid");
    let served = serve(&m, &stop, Some(&mut chan), None, &req).expect("served");
    gofer.join().expect("gofer");
    assert_eq!(served, Reply::Return { ret: 0x18, ret2: 1 });

    // Scattered over two segments from offset 3; then short at the end.
    let read = |args: [u64; 4], segs: &[(u64, u64)], chan: &mut p9::GoferChannel| {
        let req = decode(&m, &block(Hostcall::FileRead, args, segs)).expect("valid");
        serve(&m, &stop, Some(chan), None, &req).expect("served")
    };
    assert_eq!(read([1, 3, 0, 0], &[(0x40_0000, 4), (0x41_0000, 5)], &mut chan), Reply::ret(9));
    let mut got = [0u8; 9];
    m.read_bytes(0x40_0000, &mut got[..4]).expect("read");
    m.read_bytes(0x41_0000, &mut got[4..]).expect("read");
    assert_eq!(&got, b"3456789ab");
    assert_eq!(read([1, 12, 0, 0], &[(0x40_0000, 100)], &mut chan), Reply::ret(4));
    assert_eq!(read([1, 16, 0, 0], &[(0x40_0000, 100)], &mut chan), Reply::ret(0));
    // Handles the channel never gave, offsets past i64: errors, not faults.
    assert_eq!(read([2, 0, 0, 0], &[(0x40_0000, 100)], &mut chan), Reply::ret(-i64::from(libc::EBADF)));
    assert_eq!(read([1, u64::MAX, 0, 0], &[(0x40_0000, 100)], &mut chan), Reply::ret(-i64::from(libc::EINVAL)));

    let close = |h: u64, chan: &mut p9::GoferChannel| {
        let req = decode(&m, &block(Hostcall::FileClose, [h, 0, 0, 0], &[])).expect("valid");
        serve(&m, &stop, Some(chan), None, &req).expect("served")
    };
    assert_eq!(close(1, &mut chan), Reply::ret(0));
    assert_eq!(close(1, &mut chan), Reply::ret(-i64::from(libc::EBADF)));
    assert_eq!(read([1, 0, 0, 0], &[(0x40_0000, 100)], &mut chan), Reply::ret(-i64::from(libc::EBADF)));
}
