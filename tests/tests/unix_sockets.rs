//! Unix domain sockets and FIFOs: `unix_sockets DIR` (resources/c) natively
//! and in the sandbox. It prints deterministic lines; the native run must
//! print exactly the expected text (so the program is known to be right on
//! Linux), and the sandboxed run the same as the native one.

use std::path::PathBuf;

use ringfence_tests::{compare_runs, resource, Run, TempDir};

/// `Run::native` or `Run::sandbox`.
type Side = fn(PathBuf, &[String]) -> Run;

/// What `unix_sockets` prints on Linux.
const EXPECTED: &str = r#"stream pair: getsockname len 2, getpeername len 2 family AF_UNIX, SO_TYPE STREAM SO_DOMAIN AF_UNIX SO_PROTOCOL 0 SO_ACCEPTCONN 0
stream: peek 11, read 11 "hello world" (two writes, one read)
stream: reply 4 bytes
empty: MSG_DONTWAIT recv -1 EAGAIN
recv into a buffer running into unmapped memory: 5
MSG_WAITALL: 16 bytes from 4 writes
shutdown(SHUT_WR): peer reads 0 (EOF), own send -1 EPIPE
the other direction still works: 5 bytes
closed peer: send MSG_NOSIGNAL -1 EPIPE, read 0 (EOF)
closed peer: write kills with SIGPIPE; ignored: -1 EPIPE
peer closed with unread data: read -1 ECONNRESET, then 0
SOCK_NONBLOCK: filled then EAGAIN, poll POLLOUT when full 0, drained all yes, empty read EAGAIN
F_GETFL: O_RDWR yes O_NONBLOCK yes
bulk: 1 MiB in one write, received 1048576 bytes intact yes, writer status 0
dgram pair: 3, peek 4 of 7 -> 4, 4 of 7 -> 4 MSG_TRUNC yes, MSG_TRUNC flag -> 17, empty datagram 0, then -1 EAGAIN
dgram pair: recvfrom an unnamed sender, address length 0; SO_TYPE DGRAM
dgram pair: send after the peer closed -1 ECONNREFUSED
seqpacket pair: 5, 3 of 6 -> 3, after close 0, send -1 EPIPE
abstract: connect before bind -1 ECONNREFUSED
abstract: connect before listen -1 ECONNREFUSED, second bind -1 EADDRINUSE
abstract: getsockname length matches yes, name matches yes, SO_ACCEPTCONN 1
abstract: accepted (client address length 2), read 4, SO_PEERCRED pid is the client yes uid 0, accepted socket's name matches yes, FD_CLOEXEC yes, client status 0
nonblocking accept with no client: -1 EAGAIN
connect before accept: 0, listener poll 1 POLLIN yes, accept ok yes
accepted socket after the client closed: read 0
backlog 0: first connect 0, nonblocking second -1 EAGAIN, blocking third waited yes then connected (status 0), accepts ok yes
path: bound, the node is a socket yes, second bind -1 EADDRINUSE
path: getsockname length is the path's plus NUL yes, path matches yes
path: accepted (client address length 2), read 4, SO_PEERCRED pid is the client yes uid 0, accepted socket's name matches yes, FD_CLOEXEC yes, client status 0
path: connect after unlink -1 ENOENT
path: connect to a regular file -1 ECONNREFUSED, to a closed socket's node -1 ECONNREFUSED
stream connect to a seqpacket listener: abstract -1 ECONNREFUSED, path -1 EPROTOTYPE
dgram: sendto a path, recvfrom 4 bytes from the sender's path yes
dgram: unconnected send ENOTCONN, connected send 11, received 11, unnamed sender's address length 0
dgram: sendto a socket connected elsewhere -1 EPERM
dgram: sendto a missing path -1 ENOENT
SCM_RIGHTS: sendmsg 1, child wrote "via passed pipe" through the passed pipe end, child status 0
SCM_RIGHTS of a seqpacket socket: received "over a passed socket", then 0 (EOF: the last copy closed), child status 0
SCM_RIGHTS into room for 1 of 2: received 1, MSG_CTRUNC yes, the received fd works yes
SCM_RIGHTS with MSG_PEEK: peek got 1, receive got 1
SCM_CREDENTIALS: present yes, pid is ours yes, uid matches yes, SO_PASSCRED 1
poll stream: idle [OUT], data [IN OUT], peer SHUT_WR [IN OUT RDHUP], peer closed [IN OUT HUP RDHUP]
poll unconnected: stream [OUT HUP], dgram [OUT]
poll woken by a child's send: 1 [IN]
poll for POLLOUT on a full socket woken by the reader: 1 [OUT]
mkfifo: S_ISFIFO yes, again -1 EEXIST
fifo: O_WRONLY|O_NONBLOCK with no reader -1 ENXIO
fifo: O_RDONLY|O_NONBLOCK opens yes, read with no writer 0
fifo: reader open waited for the writer, read "through the fifo" then EOF, fstat S_ISFIFO yes, writer status 0
fifo: writer open waited for the reader, read 1, writer status 0
fifo: O_RDWR opens at once and reads its own write: 4
socket(AF_UNIX, SOCK_STREAM, 7): -1 EPROTONOSUPPORT
getsockname of a directory: -1 ENOTSOCK
"#;

/// `unix_sockets DIR` with its own scratch directory (the sandbox sees an
/// empty host directory through its overlay, its writes kept there).
fn unix_sockets(run: Side, dir: &TempDir) -> Run {
    run(resource("unix_sockets"), &[dir.path().to_string_lossy().into_owned()])
}

#[test]
fn unix_sockets_natively() {
    let dir = TempDir::new("unix-sockets");
    unix_sockets(Run::native, &dir).run().assert_code(0).assert_stdout(EXPECTED);
}

#[test]
fn unix_sockets_match_linux() {
    let (native_dir, sandbox_dir) = (TempDir::new("unix-sockets"), TempDir::new("unix-sockets-sandbox"));
    let (_, sandboxed) = compare_runs(unix_sockets(Run::native, &native_dir), unix_sockets(Run::sandbox, &sandbox_dir));
    sandboxed.assert_code(0).assert_stdout(EXPECTED);
}
