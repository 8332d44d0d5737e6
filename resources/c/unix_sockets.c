/* unix_sockets DIR: unix domain sockets and FIFOs, each section printing
 * deterministic lines (never pids or buffer sizes):
 *
 *   - socketpair (stream, datagram, seqpacket): data both ways, names and
 *     options, MSG_PEEK, datagram boundaries and truncation (MSG_TRUNC in
 *     and out), shutdown and EOF, EPIPE and SIGPIPE (MSG_NOSIGNAL),
 *     O_NONBLOCK / MSG_DONTWAIT and EAGAIN, MSG_WAITALL;
 *   - listeners on an abstract name and on a path in DIR served to forked
 *     children: accept/connect, getsockname/getpeername, SO_PEERCRED,
 *     ECONNREFUSED, EADDRINUSE, the socket node in the filesystem, unlink;
 *   - unconnected datagram sockets (sendto a name, recvfrom's address);
 *   - SCM_RIGHTS passing a pipe end and a file to another process,
 *     MSG_CTRUNC, SCM_CREDENTIALS with SO_PASSCRED;
 *   - poll on sockets;
 *   - FIFOs: mkfifo, blocking opens that meet, ENXIO, O_RDWR, stat.
 *
 * DIR is an empty scratch directory. Exits 0; a failed check prints
 * "FAIL ..." and exits 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include "common.h"

static const char *dir;
static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        outf(1, "FAIL %s\n", what);
        failures++;
    }
}

static void die(const char *what)
{
    outf(1, "FAIL %s: %s\n", what, strerror(errno));
    _exit(1);
}

static const char *yes(int b)
{
    return b ? "yes" : "no";
}

static const char *ename(int e)
{
    switch (e) {
    case 0: return "0";
    case EAGAIN: return "EAGAIN";
    case EPIPE: return "EPIPE";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EADDRINUSE: return "EADDRINUSE";
    case ENOENT: return "ENOENT";
    case ENXIO: return "ENXIO";
    case ENOTCONN: return "ENOTCONN";
    case EINVAL: return "EINVAL";
    case EISCONN: return "EISCONN";
    case ENOTSOCK: return "ENOTSOCK";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EPROTOTYPE: return "EPROTOTYPE";
    case ECONNRESET: return "ECONNRESET";
    case EMSGSIZE: return "EMSGSIZE";
    default: return "other";
    }
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static int wait_child(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid)
        die("waitpid");
    return st;
}

static socklen_t abstract_addr(struct sockaddr_un *a, const char *name)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    size_t n = strlen(name);
    memcpy(a->sun_path + 1, name, n);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static socklen_t path_addr(struct sockaddr_un *a, const char *name)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    snprintf(a->sun_path, sizeof a->sun_path, "%s/%s", dir, name);
    return (socklen_t)sizeof *a;
}

static int getint(int fd, int opt)
{
    int v = -1;
    socklen_t l = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, opt, &v, &l) < 0)
        return -errno;
    return v;
}

static void socketpair_stream(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
        die("socketpair");
    struct sockaddr_un a;
    socklen_t l = sizeof a;
    getsockname(sv[0], (struct sockaddr *)&a, &l);
    int name_len = (int)l;
    l = sizeof a;
    getpeername(sv[0], (struct sockaddr *)&a, &l);
    outf(1, "stream pair: getsockname len %d, getpeername len %d family %s, SO_TYPE %s SO_DOMAIN %s SO_PROTOCOL %d SO_ACCEPTCONN %d\n",
         name_len, (int)l, a.sun_family == AF_UNIX ? "AF_UNIX" : "?",
         getint(sv[0], SO_TYPE) == SOCK_STREAM ? "STREAM" : "?", getint(sv[0], SO_DOMAIN) == AF_UNIX ? "AF_UNIX" : "?",
         getint(sv[0], SO_PROTOCOL), getint(sv[0], SO_ACCEPTCONN));
    check(getint(sv[0], SO_SNDBUF) > 0 && getint(sv[0], SO_RCVBUF) > 0, "SO_SNDBUF/SO_RCVBUF positive");
    int one = 1;
    check(setsockopt(sv[0], SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0, "SO_REUSEADDR accepted");

    char buf[64];
    write_all(sv[0], "hello ", 6);
    write_all(sv[0], "world", 5);
    ssize_t n = recv(sv[1], buf, sizeof buf, MSG_PEEK);
    ssize_t m = read(sv[1], buf, sizeof buf);
    buf[m > 0 ? m : 0] = 0;
    outf(1, "stream: peek %zd, read %zd \"%s\" (two writes, one read)\n", n, m, buf);
    write_all(sv[1], "back", 4);
    n = read(sv[0], buf, sizeof buf);
    outf(1, "stream: reply %zd bytes\n", n);

    errno = 0;
    n = recv(sv[1], buf, sizeof buf, MSG_DONTWAIT);
    outf(1, "empty: MSG_DONTWAIT recv %zd %s\n", n, ename(errno));

    /* A buffer that claims more than is mapped: only what arrives is copied. */
    char *pg = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    munmap(pg + 4096, 4096);
    write_all(sv[0], "short", 5);
    n = recv(sv[1], pg + 4090, 1 << 16, 0);
    outf(1, "recv into a buffer running into unmapped memory: %zd\n", n);
    munmap(pg, 4096);

    /* MSG_WAITALL waits for the whole buffer across writes. */
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 4; i++) {
            sleep_ms(10);
            write_all(sv[0], "abcd", 4);
        }
        _exit(0);
    }
    n = recv(sv[1], buf, 16, MSG_WAITALL);
    outf(1, "MSG_WAITALL: %zd bytes from 4 writes\n", n);
    wait_child(pid);

    shutdown(sv[0], SHUT_WR);
    n = read(sv[1], buf, sizeof buf);
    errno = 0;
    ssize_t w = send(sv[0], "x", 1, MSG_NOSIGNAL);
    outf(1, "shutdown(SHUT_WR): peer reads %zd (EOF), own send %zd %s\n", n, w, ename(errno));
    write_all(sv[1], "still", 5);
    n = read(sv[0], buf, sizeof buf);
    outf(1, "the other direction still works: %zd bytes\n", n);
    close(sv[0]);
    close(sv[1]);

    /* Writes to a closed peer. */
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    close(sv[1]);
    errno = 0;
    w = send(sv[0], "x", 1, MSG_NOSIGNAL);
    outf(1, "closed peer: send MSG_NOSIGNAL %zd %s, read %zd (EOF)\n", w, ename(errno), read(sv[0], buf, 1));
    pid = fork();
    if (pid == 0) {
        write(sv[0], "x", 1);
        _exit(0);
    }
    int st = wait_child(pid);
    signal(SIGPIPE, SIG_IGN);
    errno = 0;
    w = write(sv[0], "x", 1);
    outf(1, "closed peer: write kills with %s; ignored: %zd %s\n",
         WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE ? "SIGPIPE" : "?", w, ename(errno));
    signal(SIGPIPE, SIG_DFL);
    close(sv[0]);

    /* Unread data at close: the peer gets ECONNRESET. */
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    write_all(sv[0], "unread", 6);
    close(sv[1]);
    errno = 0;
    n = read(sv[0], buf, sizeof buf);
    outf(1, "peer closed with unread data: read %zd %s, then %zd\n", n, ename(errno), read(sv[0], buf, sizeof buf));
    close(sv[0]);

    /* Filling a nonblocking socket. */
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
    static char big[65536];
    long total = 0;
    for (;;) {
        ssize_t k = write(sv[0], big, sizeof big);
        if (k < 0)
            break;
        total += k;
    }
    int e = errno;
    struct pollfd p = { sv[0], POLLOUT, 0 };
    int full_pollout = poll(&p, 1, 0);
    long drained = 0;
    for (;;) {
        ssize_t k = read(sv[1], big, sizeof big);
        if (k <= 0)
            break;
        drained += k;
    }
    outf(1, "SOCK_NONBLOCK: filled then %s, poll POLLOUT when full %d, drained all %s, empty read %s\n", ename(e),
         full_pollout, yes(drained == total && total > 0), ename(errno));
    int fl = fcntl(sv[0], F_GETFL);
    outf(1, "F_GETFL: O_RDWR %s O_NONBLOCK %s\n", yes((fl & O_ACCMODE) == O_RDWR), yes(fl & O_NONBLOCK));
    close(sv[0]);
    close(sv[1]);
}

/* 1 MiB through a stream from a child, written in one call: the write
 * blocks while the buffer is full and goes on as the parent reads. */
static void bulk(void)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    enum { SIZE = 1 << 20 };
    pid_t pid = fork();
    if (pid == 0) {
        static unsigned char out[SIZE];
        for (int i = 0; i < SIZE; i++)
            out[i] = (unsigned char)(i * 7 + (i >> 9));
        ssize_t n = write(sv[0], out, SIZE);
        _exit(n == SIZE ? 0 : 40);
    }
    close(sv[0]);
    static unsigned char in[SIZE];
    long got = 0;
    int reads = 0;
    for (;;) {
        ssize_t n = read(sv[1], in + got, (size_t)(SIZE - got));
        if (n <= 0)
            break;
        got += n;
        reads++;
    }
    int same = got == SIZE;
    for (int i = 0; same && i < SIZE; i++)
        same = in[i] == (unsigned char)(i * 7 + (i >> 9));
    int st = wait_child(pid);
    /* How many reads it takes depends on scheduling: not printed. */
    (void)reads;
    outf(1, "bulk: 1 MiB in one write, received %ld bytes intact %s, writer status %d\n", got, yes(same),
         WEXITSTATUS(st));
    close(sv[1]);
}

static void socketpair_dgram(void)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0)
        die("socketpair dgram");
    send(sv[0], "one", 3, 0);
    send(sv[0], "two two", 7, 0);
    send(sv[0], "three three three", 17, 0);
    send(sv[0], "", 0, 0);
    char buf[64];
    ssize_t a = recv(sv[1], buf, sizeof buf, 0);
    ssize_t b = recv(sv[1], buf, 4, MSG_PEEK);
    struct iovec iov = { buf, 4 };
    struct msghdr mh = { 0 };
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    ssize_t c = recvmsg(sv[1], &mh, 0);
    int trunc = (mh.msg_flags & MSG_TRUNC) != 0;
    ssize_t d = recv(sv[1], buf, 2, MSG_TRUNC);
    ssize_t z = recv(sv[1], buf, sizeof buf, MSG_DONTWAIT);
    errno = 0;
    ssize_t empty = recv(sv[1], buf, sizeof buf, MSG_DONTWAIT);
    outf(1, "dgram pair: %zd, peek 4 of 7 -> %zd, 4 of 7 -> %zd MSG_TRUNC %s, MSG_TRUNC flag -> %zd, empty datagram %zd, then %zd %s\n",
         a, b, c, yes(trunc), d, z, empty, ename(errno));
    struct sockaddr_un sa;
    socklen_t l = sizeof sa;
    send(sv[0], "x", 1, 0);
    recvfrom(sv[1], buf, sizeof buf, 0, (struct sockaddr *)&sa, &l);
    outf(1, "dgram pair: recvfrom an unnamed sender, address length %d; SO_TYPE %s\n", (int)l,
         getint(sv[0], SO_TYPE) == SOCK_DGRAM ? "DGRAM" : "?");
    close(sv[1]);
    errno = 0;
    ssize_t w = send(sv[0], "x", 1, 0);
    outf(1, "dgram pair: send after the peer closed %zd %s\n", w, ename(errno));
    close(sv[0]);

    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
        die("socketpair seqpacket");
    send(sv[0], "first", 5, 0);
    send(sv[0], "second", 6, 0);
    a = recv(sv[1], buf, sizeof buf, 0);
    b = recv(sv[1], buf, 3, 0);
    close(sv[0]);
    c = recv(sv[1], buf, sizeof buf, 0);
    errno = 0;
    w = send(sv[1], "x", 1, MSG_NOSIGNAL);
    outf(1, "seqpacket pair: %zd, 3 of 6 -> %zd, after close %zd, send %zd %s\n", a, b, c, w, ename(errno));
    close(sv[1]);
}

/* A child that connects to `addr` and exchanges a line; prints nothing. */
static pid_t client(const struct sockaddr_un *addr, socklen_t len, int delay_ms)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        sleep_ms(delay_ms);
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(c, (const struct sockaddr *)addr, len) < 0)
            _exit(10);
        write_all(c, "ping", 4);
        char buf[8];
        ssize_t n = read(c, buf, sizeof buf);
        if (n != 4 || memcmp(buf, "pong", 4) != 0)
            _exit(11);
        struct sockaddr_un peer;
        socklen_t pl = sizeof peer;
        if (getpeername(c, (struct sockaddr *)&peer, &pl) < 0 || pl != len ||
            memcmp(&peer, addr, len > sizeof peer ? sizeof peer : len) != 0)
            _exit(12);
        _exit(0);
    }
    return pid;
}

static void serve(const char *label, int l, const struct sockaddr_un *addr, socklen_t len)
{
    pid_t pid = client(addr, len, 20);
    struct sockaddr_un from;
    socklen_t fl = sizeof from;
    int c = accept4(l, (struct sockaddr *)&from, &fl, SOCK_CLOEXEC);
    if (c < 0)
        die("accept");
    char buf[8];
    ssize_t n = read(c, buf, sizeof buf);
    struct ucred cr;
    socklen_t cl = sizeof cr;
    getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &cl);
    write_all(c, "pong", 4);
    struct sockaddr_un me;
    socklen_t ml = sizeof me;
    getsockname(c, (struct sockaddr *)&me, &ml);
    int st = wait_child(pid);
    outf(1, "%s: accepted (client address length %d), read %zd, SO_PEERCRED pid is the client %s uid %d, accepted socket's name matches %s, FD_CLOEXEC %s, client status %d\n",
         label, (int)fl, n, yes(cr.pid == pid), (int)cr.uid, yes(ml == len && memcmp(&me, addr, len) == 0),
         yes(fcntl(c, F_GETFD) & FD_CLOEXEC), WEXITSTATUS(st));
    close(c);
}

static void listeners(void)
{
    struct sockaddr_un a;
    char name[64];
    snprintf(name, sizeof name, "ringfence-test-%d", (int)getpid());
    socklen_t len = abstract_addr(&a, name);
    int probe = socket(AF_UNIX, SOCK_STREAM, 0);
    errno = 0;
    int r = connect(probe, (struct sockaddr *)&a, len);
    outf(1, "abstract: connect before bind %d %s\n", r, ename(errno));
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(l, (struct sockaddr *)&a, len) < 0)
        die("bind abstract");
    errno = 0;
    r = connect(probe, (struct sockaddr *)&a, len);
    int e1 = errno;
    int l2 = socket(AF_UNIX, SOCK_STREAM, 0);
    errno = 0;
    int r2 = bind(l2, (struct sockaddr *)&a, len);
    outf(1, "abstract: connect before listen %d %s, second bind %d %s\n", r, ename(e1), r2, ename(errno));
    close(l2);
    close(probe);
    if (listen(l, 4) < 0)
        die("listen");
    struct sockaddr_un got;
    socklen_t gl = sizeof got;
    getsockname(l, (struct sockaddr *)&got, &gl);
    outf(1, "abstract: getsockname length matches %s, name matches %s, SO_ACCEPTCONN %d\n", yes(gl == len),
         yes(memcmp(&got, &a, len) == 0), getint(l, SO_ACCEPTCONN));
    serve("abstract", l, &a, len);

    /* Nonblocking accept and a connection waiting in the backlog. */
    fcntl(l, F_SETFL, O_NONBLOCK);
    errno = 0;
    r = accept(l, NULL, NULL);
    outf(1, "nonblocking accept with no client: %d %s\n", r, ename(errno));
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    r = connect(c, (struct sockaddr *)&a, len);
    struct pollfd p = { l, POLLIN, 0 };
    int pr = poll(&p, 1, 1000);
    int s = accept(l, NULL, NULL);
    outf(1, "connect before accept: %d, listener poll %d POLLIN %s, accept ok %s\n", r, pr, yes(p.revents & POLLIN),
         yes(s >= 0));
    /* EOF and ECONNRESET-free close both ways. */
    close(c);
    char buf[4];
    outf(1, "accepted socket after the client closed: read %zd\n", read(s, buf, sizeof buf));
    close(s);
    close(l);

    /* A backlog of 0 holds one connection; then a nonblocking connect
     * fails and a blocking one waits for an accept. */
    l = socket(AF_UNIX, SOCK_STREAM, 0);
    bind(l, (struct sockaddr *)&a, len);
    listen(l, 0);
    int c1 = socket(AF_UNIX, SOCK_STREAM, 0), c2 = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int r1 = connect(c1, (struct sockaddr *)&a, len);
    errno = 0;
    r2 = connect(c2, (struct sockaddr *)&a, len);
    int eb = errno;
    pid_t pid = fork();
    if (pid == 0) {
        int c3 = socket(AF_UNIX, SOCK_STREAM, 0);
        _exit(connect(c3, (struct sockaddr *)&a, len) == 0 ? 0 : 50);
    }
    sleep_ms(30);
    int waiting = waitpid(pid, NULL, WNOHANG) == 0;
    int s1 = accept(l, NULL, NULL);
    int st = wait_child(pid);
    int s2 = accept(l, NULL, NULL);
    outf(1, "backlog 0: first connect %d, nonblocking second %d %s, blocking third waited %s then connected (status %d), accepts ok %s\n",
         r1, r2, ename(eb), yes(waiting), WEXITSTATUS(st), yes(s1 >= 0 && s2 >= 0));
    close(s1);
    close(s2);
    close(c1);
    close(c2);
    close(l);

    /* Filesystem names. */
    len = path_addr(&a, "sock");
    l = socket(AF_UNIX, SOCK_STREAM, 0);
    if (bind(l, (struct sockaddr *)&a, len) < 0)
        die("bind path");
    struct stat sb;
    stat(a.sun_path, &sb);
    l2 = socket(AF_UNIX, SOCK_STREAM, 0);
    errno = 0;
    r2 = bind(l2, (struct sockaddr *)&a, len);
    outf(1, "path: bound, the node is a socket %s, second bind %d %s\n", yes(S_ISSOCK(sb.st_mode)), r2, ename(errno));
    close(l2);
    listen(l, 1);
    gl = sizeof got;
    getsockname(l, (struct sockaddr *)&got, &gl);
    socklen_t want = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(a.sun_path) + 1);
    outf(1, "path: getsockname length is the path's plus NUL %s, path matches %s\n", yes(gl == want),
         yes(strcmp(got.sun_path, a.sun_path) == 0));
    serve("path", l, &a, want);
    unlink(a.sun_path);
    c = socket(AF_UNIX, SOCK_STREAM, 0);
    errno = 0;
    r = connect(c, (struct sockaddr *)&a, len);
    outf(1, "path: connect after unlink %d %s\n", r, ename(errno));
    close(l);

    /* A path that is not a bound socket. */
    struct sockaddr_un f;
    socklen_t fl = path_addr(&f, "plain");
    int fd = open(f.sun_path, O_CREAT | O_WRONLY, 0644);
    close(fd);
    errno = 0;
    r = connect(c, (struct sockaddr *)&f, fl);
    int e = errno;
    l = socket(AF_UNIX, SOCK_STREAM, 0);
    bind(l, (struct sockaddr *)&a, len);
    close(l);
    errno = 0;
    r2 = connect(c, (struct sockaddr *)&a, len);
    outf(1, "path: connect to a regular file %d %s, to a closed socket's node %d %s\n", r, ename(e), r2, ename(errno));
    close(c);
    unlink(a.sun_path);

    /* Type mismatch. */
    len = abstract_addr(&a, name);
    l = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    bind(l, (struct sockaddr *)&a, len);
    listen(l, 1);
    c = socket(AF_UNIX, SOCK_STREAM, 0);
    errno = 0;
    r = connect(c, (struct sockaddr *)&a, len);
    int e2 = errno;
    close(l);
    len = path_addr(&a, "seqpacket");
    l = socket(AF_UNIX, SOCK_SEQPACKET, 0);
    bind(l, (struct sockaddr *)&a, len);
    listen(l, 1);
    errno = 0;
    r2 = connect(c, (struct sockaddr *)&a, len);
    outf(1, "stream connect to a seqpacket listener: abstract %d %s, path %d %s\n", r, ename(e2), r2, ename(errno));
    close(c);
    close(l);
    unlink(a.sun_path);
}

static void dgram_names(void)
{
    struct sockaddr_un a, b, from;
    socklen_t al = path_addr(&a, "dgram-a");
    socklen_t bl = path_addr(&b, "dgram-b");
    int x = socket(AF_UNIX, SOCK_DGRAM, 0), y = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (bind(x, (struct sockaddr *)&a, al) < 0 || bind(y, (struct sockaddr *)&b, bl) < 0)
        die("bind dgram");
    sendto(y, "to a", 4, 0, (struct sockaddr *)&a, al);
    char buf[16];
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(x, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
    outf(1, "dgram: sendto a path, recvfrom %zd bytes from the sender's path %s\n", n,
         yes(strcmp(from.sun_path, b.sun_path) == 0));
    int z = socket(AF_UNIX, SOCK_DGRAM, 0);
    errno = 0;
    ssize_t w = send(z, "x", 1, 0);
    int e = errno;
    connect(z, (struct sockaddr *)&a, al);
    w = send(z, "via connect", 11, 0);
    fl = sizeof from;
    n = recvfrom(x, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
    outf(1, "dgram: unconnected send %s, connected send %zd, received %zd, unnamed sender's address length %d\n",
         ename(e), w, n, (int)fl);
    /* x connected to y takes nothing from z. */
    connect(x, (struct sockaddr *)&b, bl);
    errno = 0;
    w = sendto(z, "x", 1, 0, (struct sockaddr *)&a, al);
    outf(1, "dgram: sendto a socket connected elsewhere %zd %s\n", w, errno == EPERM ? "EPERM" : ename(errno));
    struct sockaddr_un none;
    socklen_t nl = path_addr(&none, "nothing-here");
    errno = 0;
    w = sendto(z, "x", 1, 0, (struct sockaddr *)&none, nl);
    outf(1, "dgram: sendto a missing path %zd %s\n", w, ename(errno));
    close(x);
    close(y);
    close(z);
    unlink(a.sun_path);
    unlink(b.sun_path);
}

static int send_fds(int sock, const int *fds, int n)
{
    char data = 'F';
    struct iovec iov = { &data, 1 };
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * 4)];
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr mh = { 0 };
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = u.buf;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)n);
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)n);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)n);
    return (int)sendmsg(sock, &mh, 0);
}

/* Receives up to 4 fds into `fds`; returns how many, -1 on error. */
static int recv_fds(int sock, int *fds, size_t space, int flags, int *msg_flags)
{
    char data;
    struct iovec iov = { &data, 1 };
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * 4)];
    } u;
    struct msghdr mh = { 0 };
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = u.buf;
    mh.msg_controllen = space;
    if (recvmsg(sock, &mh, flags) != 1)
        return -1;
    *msg_flags = mh.msg_flags;
    int n = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
            int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            memcpy(fds + n, CMSG_DATA(c), sizeof(int) * (size_t)k);
            n += k;
        }
    }
    return n;
}

static void rights(void)
{
    int sv[2], pfd[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    pipe(pfd);
    char path[512];
    snprintf(path, sizeof path, "%s/passed", dir);
    int f = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644);
    write_all(f, "file contents", 13);
    lseek(f, 0, SEEK_SET);
    pid_t pid = fork();
    if (pid == 0) {
        close(sv[0]);
        close(pfd[1]);
        close(f);
        close(pfd[0]);
        int got[4], fl = 0;
        int n = recv_fds(sv[1], got, CMSG_SPACE(sizeof(int) * 4), MSG_CMSG_CLOEXEC, &fl);
        if (n != 2)
            _exit(20);
        if (!(fcntl(got[0], F_GETFD) & FD_CLOEXEC))
            _exit(21);
        char buf[32];
        ssize_t r = read(got[1], buf, sizeof buf);
        if (r != 13 || memcmp(buf, "file contents", 13) != 0)
            _exit(22);
        write_all(got[0], "via passed pipe", 15);
        _exit(0);
    }
    close(sv[1]);
    int fds[2] = { pfd[1], f };
    int s = send_fds(sv[0], fds, 2);
    close(pfd[1]);
    close(f);
    char buf[32];
    ssize_t n = read(pfd[0], buf, sizeof buf);
    buf[n > 0 ? n : 0] = 0;
    int st = wait_child(pid);
    outf(1, "SCM_RIGHTS: sendmsg %d, child wrote \"%s\" through the passed pipe end, child status %d\n", s, buf,
         WEXITSTATUS(st));
    close(sv[0]);
    close(pfd[0]);

    /* A socket passed over a socket. */
    int inner[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, inner);
    pid = fork();
    if (pid == 0) {
        close(sv[0]);
        close(inner[0]);
        close(inner[1]);
        int got[4], fl = 0;
        if (recv_fds(sv[1], got, CMSG_SPACE(sizeof(int) * 4), 0, &fl) != 1)
            _exit(23);
        if (getint(got[0], SO_TYPE) != SOCK_SEQPACKET)
            _exit(24);
        write_all(got[0], "over a passed socket", 20);
        _exit(0);
    }
    close(sv[1]);
    s = send_fds(sv[0], &inner[1], 1);
    close(inner[1]);
    n = recv(inner[0], buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    st = wait_child(pid);
    outf(1, "SCM_RIGHTS of a seqpacket socket: received \"%s\", then %zd (EOF: the last copy closed), child status %d\n",
         buf, recv(inner[0], buf, sizeof buf, 0), WEXITSTATUS(st));
    close(inner[0]);
    close(sv[0]);

    /* Too small a control buffer: MSG_CTRUNC, the fds are closed. */
    socketpair(AF_UNIX, SOCK_DGRAM, 0, sv);
    pipe(pfd);
    int two[2] = { pfd[0], pfd[1] };
    send_fds(sv[0], two, 2);
    int got[4], fl = 0;
    int k = recv_fds(sv[1], got, CMSG_LEN(sizeof(int)), 0, &fl);
    int kept_open = k == 1 && fcntl(got[0], F_GETFD) >= 0;
    outf(1, "SCM_RIGHTS into room for 1 of 2: received %d, MSG_CTRUNC %s, the received fd works %s\n", k,
         yes(fl & MSG_CTRUNC), yes(kept_open));
    if (k == 1)
        close(got[0]);
    /* Peeking duplicates the fds; the real receive gets them again. */
    send_fds(sv[0], two, 1);
    int p1 = recv_fds(sv[1], got, CMSG_SPACE(sizeof(int) * 4), MSG_PEEK, &fl);
    if (p1 == 1)
        close(got[0]);
    int p2 = recv_fds(sv[1], got, CMSG_SPACE(sizeof(int) * 4), 0, &fl);
    if (p2 == 1)
        close(got[0]);
    outf(1, "SCM_RIGHTS with MSG_PEEK: peek got %d, receive got %d\n", p1, p2);
    close(pfd[0]);
    close(pfd[1]);

    /* SCM_CREDENTIALS with SO_PASSCRED. */
    int one = 1;
    setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    send(sv[0], "c", 1, 0);
    char data;
    struct iovec iov = { &data, 1 };
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(struct ucred))];
    } u;
    struct msghdr mh = { 0 };
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = u.buf;
    mh.msg_controllen = sizeof u.buf;
    recvmsg(sv[1], &mh, 0);
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    int ok = c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
             c->cmsg_len == CMSG_LEN(sizeof(struct ucred));
    struct ucred cr = { 0, 0, 0 };
    if (ok && c)
        memcpy(&cr, CMSG_DATA(c), sizeof cr);
    outf(1, "SCM_CREDENTIALS: present %s, pid is ours %s, uid matches %s, SO_PASSCRED %d\n", yes(ok),
         yes(cr.pid == getpid()), yes(cr.uid == getuid()), getint(sv[1], SO_PASSCRED));
    close(sv[0]);
    close(sv[1]);
}

static const char *events(short ev)
{
    static char bufs[4][64];
    static int next;
    char *s = bufs[next++ % 4];
    s[0] = 0;
    if (ev & POLLIN) strcat(s, "IN ");
    if (ev & POLLOUT) strcat(s, "OUT ");
    if (ev & POLLHUP) strcat(s, "HUP ");
    if (ev & POLLRDHUP) strcat(s, "RDHUP ");
    if (ev & POLLERR) strcat(s, "ERR ");
    size_t n = strlen(s);
    if (n)
        s[n - 1] = 0;
    else
        strcpy(s, "-");
    return s;
}

static short poll1(int fd)
{
    struct pollfd p = { fd, POLLIN | POLLOUT | POLLRDHUP, 0 };
    poll(&p, 1, 0);
    return p.revents;
}

static void polling(void)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    outf(1, "poll stream: idle [%s]", events(poll1(sv[0])));
    write_all(sv[1], "x", 1);
    outf(1, ", data [%s]", events(poll1(sv[0])));
    shutdown(sv[1], SHUT_WR);
    outf(1, ", peer SHUT_WR [%s]", events(poll1(sv[0])));
    close(sv[1]);
    outf(1, ", peer closed [%s]\n", events(poll1(sv[0])));
    close(sv[0]);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    int d = socket(AF_UNIX, SOCK_DGRAM, 0);
    outf(1, "poll unconnected: stream [%s], dgram [%s]\n", events(poll1(s)), events(poll1(d)));
    close(s);
    close(d);

    /* A blocking poll woken by a child's write. */
    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv);
    pid_t pid = fork();
    if (pid == 0) {
        sleep_ms(30);
        write_all(sv[1], "wake", 4);
        _exit(0);
    }
    struct pollfd p = { sv[0], POLLIN, 0 };
    int r = poll(&p, 1, 5000);
    outf(1, "poll woken by a child's send: %d [%s]\n", r, events(p.revents));
    wait_child(pid);
    close(sv[0]);
    close(sv[1]);

    /* A poll for POLLOUT on a full socket, woken when a child drains it. */
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
    static char chunk[4096];
    while (write(sv[0], chunk, sizeof chunk) > 0)
        ;
    pid = fork();
    if (pid == 0) {
        sleep_ms(30);
        while (read(sv[1], chunk, sizeof chunk) > 0)
            ;
        _exit(0);
    }
    struct pollfd q = { sv[0], POLLOUT, 0 };
    r = poll(&q, 1, 5000);
    outf(1, "poll for POLLOUT on a full socket woken by the reader: %d [%s]\n", r, events(q.revents));
    wait_child(pid);
    close(sv[0]);
    close(sv[1]);
}

static void fifos(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/fifo", dir);
    if (mkfifo(path, 0600) < 0)
        die("mkfifo");
    struct stat sb;
    stat(path, &sb);
    errno = 0;
    int r = mkfifo(path, 0600);
    outf(1, "mkfifo: S_ISFIFO %s, again %d %s\n", yes(S_ISFIFO(sb.st_mode)), r, errno == EEXIST ? "EEXIST" : "?");
    errno = 0;
    int w = open(path, O_WRONLY | O_NONBLOCK);
    outf(1, "fifo: O_WRONLY|O_NONBLOCK with no reader %d %s\n", w, ename(errno));
    int rn = open(path, O_RDONLY | O_NONBLOCK);
    char buf[64];
    errno = 0;
    ssize_t n = read(rn, buf, sizeof buf);
    outf(1, "fifo: O_RDONLY|O_NONBLOCK opens %s, read with no writer %zd\n", yes(rn >= 0), n);
    close(rn);

    /* A reader blocks in open until the writer comes. */
    pid_t pid = fork();
    if (pid == 0) {
        sleep_ms(30);
        int fd = open(path, O_WRONLY);
        if (fd < 0)
            _exit(30);
        write_all(fd, "through the fifo", 16);
        _exit(0);
    }
    int fd = open(path, O_RDONLY);
    struct stat fs;
    fstat(fd, &fs);
    long got = 0;
    for (;;) {
        ssize_t k = read(fd, buf + got, sizeof buf - 1 - (size_t)got);
        if (k <= 0)
            break;
        got += k;
    }
    buf[got] = 0;
    int st = wait_child(pid);
    outf(1, "fifo: reader open waited for the writer, read \"%s\" then EOF, fstat S_ISFIFO %s, writer status %d\n",
         buf, yes(S_ISFIFO(fs.st_mode)), WEXITSTATUS(st));
    close(fd);

    /* A writer blocks in open until a reader comes. */
    pid = fork();
    if (pid == 0) {
        int wfd = open(path, O_WRONLY);
        if (wfd < 0)
            _exit(31);
        write_all(wfd, "w", 1);
        _exit(0);
    }
    sleep_ms(30);
    fd = open(path, O_RDONLY);
    n = read(fd, buf, sizeof buf);
    st = wait_child(pid);
    outf(1, "fifo: writer open waited for the reader, read %zd, writer status %d\n", n, WEXITSTATUS(st));
    close(fd);

    int rw = open(path, O_RDWR);
    write_all(rw, "self", 4);
    n = read(rw, buf, sizeof buf);
    outf(1, "fifo: O_RDWR opens at once and reads its own write: %zd\n", n);
    close(rw);
    unlink(path);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        outf(2, "usage: unix_sockets DIR\n");
        return 2;
    }
    dir = argv[1];
    socketpair_stream();
    bulk();
    socketpair_dgram();
    listeners();
    dgram_names();
    rights();
    polling();
    fifos();
    errno = 0;
    int r = socket(AF_UNIX, SOCK_STREAM, 7);
    outf(1, "socket(AF_UNIX, SOCK_STREAM, 7): %d %s\n", r, errno == EPROTONOSUPPORT ? "EPROTONOSUPPORT" : "?");
    errno = 0;
    r = getsockname(1 + 1000, NULL, NULL);
    int fd = open("/", O_RDONLY | O_DIRECTORY);
    errno = 0;
    struct sockaddr_un a;
    socklen_t l = sizeof a;
    r = getsockname(fd, (struct sockaddr *)&a, &l);
    outf(1, "getsockname of a directory: %d %s\n", r, ename(errno));
    close(fd);
    return failures ? 1 : 0;
}
