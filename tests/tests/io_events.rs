//! The I/O event C program of resources/c, natively and in the sandbox:
//! `io_events` (poll and select on pipes; epoll level- and edge-triggered,
//! one-shot, nested, its errors and the lifetime of its entries;
//! epoll_pwait's signal mask; eventfd; timerfd; signalfd with SIGUSR1,
//! real-time signals and SIGCHLD). The native run must print exactly the
//! expected text, and the sandboxed run the same as the native one.

use ringfence_tests::{compare_runs, resource, Run};

const NO_ARGS: &[&str] = &[];

/// What `io_events` prints on Linux.
const IO_EVENTS: &str = r#"poll empty pipe, 30 ms: -, waited at least 30 ms: yes
poll write end: OUT
poll after a write: IN
select: 2 ready, read end yes, write end yes
select empty pipe, 30 ms: 0, waited at least 30 ms: yes, timeval left 0: yes
select with tv_usec 1500000: 1, with tv_usec -1: -1 EINVAL, with tv_sec -1: -1 EINVAL
poll woken by a child's write: IN, before the timeout: yes
poll, data and no writer: IN|HUP
poll, empty and no writer: HUP
select, empty and no writer: 1, readable yes
poll write end, no reader: OUT|ERR
poll with RLIMIT_NOFILE 16: 16 fds 0, 17 fds -1 EINVAL
poll closed fd and fd -1: 1, NVAL and -
LT: empty 0, written 1 (IN, data yes), again 1, one read 1, drained 0
ET: empty 0, written 1, again 0, one read 0, written again 1, again 0, blocked until a child's write 1 (IN, fd right yes)
ONESHOT: written 1, again 0, written again 0, re-armed by MOD 1, again 0
write end: 1 ready (OUT)
LT with maxevents 1, three ready pipes: three waits saw all three
ET write end: empty 1, written 0, read 0, filled 0, drained 1 (OUT)
hang-up: entry with no events, writer closed: 1 (HUP)
errors: ADD twice -1 EEXIST, MOD missing -1 ENOENT, DEL missing -1 ENOENT, bad op -1 EINVAL, bad fd -1 EBADF, not an epoll -1 EINVAL, itself -1 EINVAL
errors: directory -1 EPERM, /dev/null -1 EPERM, bad event pointer -1 EFAULT, MOD with EPOLLEXCLUSIVE -1 EINVAL, ADD with EPOLLEXCLUSIVE 0
errors: maxevents 0 -1 EINVAL, maxevents -1 -1 EINVAL, maxevents INT_MAX/12+1 -1 EINVAL, wait on a pipe -1 EINVAL, epoll_create(0) -1 EINVAL, epoll_create1(1) -1 EINVAL, read -1 EINVAL
flags: EPOLL_CLOEXEC FD_CLOEXEC yes, F_GETFL O_RDWR yes
lifetime: fd closed, dup open: 1 (OUT, data 77), DEL by the dup -1 ENOENT, reader sees EOF yes, then 0 ready
nested: poll outer -, outer 0, after a write: poll outer IN, outer 1 (IN, inner yes), inner 1 (pipe yes)
nested: blocked outer woken by a child's write 1, before the timeout yes; poll on outer woken IN
loops: outer into inner -1 ELOOP; chain of epolls: 4 nested, then ELOOP
epoll_pwait with SIGUSR1 unblocked: -1 EINTR, handler ran 1, blocked again yes
epoll_pwait2, 20 ms: 0, waited at least 20 ms yes
eventfd: initial 3, after writes of 5 and 2: 7, poll empty OUT, short read -1 EINVAL, write of 2^64-1 -1 EINVAL, short write -1 EINVAL
eventfd: blocked read woken by a child: 8 bytes, value 1, before the timeout yes
nonblocking: read -1 EAGAIN, write of the maximum 8, poll IN, one more -1 EAGAIN, F_GETFL O_RDWR|O_NONBLOCK yes, FD_CLOEXEC yes
semaphore: 1 1 1 EAGAIN, eventfd2 bad flags -1 EINVAL
epoll ET on an eventfd: empty 1 (OUT), again 0, written 1 (IN|OUT), again 0
timerfd: unarmed 0 0, armed value within 40 ms yes, interval 20 ms yes, first read after at least 40 ms yes, count at least 1 yes, after 70 ms at least 3 yes
timerfd: disarmed, old interval 20 ms yes, old value at most 20 ms yes, now 0 0
nonblocking: read -1 EAGAIN, F_GETFL O_RDWR|O_NONBLOCK yes, absolute +30 ms: poll IN after at least 30 ms yes, read 8 count 1, again -1 EAGAIN
epoll on a timerfd: before 0, blocked 1 (IN) after at least 150 ms yes, before the timeout yes, read 1, then 0
realtime, absolute in the past: read 8 count 1
errors: CLOCK_BOOTTIME yes, clock 2 -1 EINVAL, bad flags -1 EINVAL, nsec 1e9 -1 EINVAL, settime flags 4 -1 EINVAL, settime on an eventfd -1 EINVAL, short read -1 EINVAL, write -1 EINVAL
signalfd: empty read -1 EAGAIN, poll -, after kill: poll IN, read 128 bytes: signo 10, SI_USER yes, pid self yes, uid self yes
signalfd: RTMIN outside the mask: read -1 EAGAIN, mask update returns the fd yes, then read 2 records: signo 10 code 0 int 0 signo 34 code -1 int 42
SIGCHLD: read 128 bytes, signo 17, CLD_EXITED yes, pid right yes, status 7
epoll on a signalfd: empty 0, after kill 1 (IN), blocked until a child's kill 1, before the timeout yes, then 0
blocking signalfd read woken by a child's kill: 128 bytes, signo 10, pid right yes, FD_CLOEXEC yes, F_GETFL O_RDWR yes
errors: short read -1 EINVAL, write -1 EINVAL, sizemask 4 -1 EINVAL, bad flags -1 EINVAL, on an eventfd -1 EINVAL
"#;

#[test]
fn io_events_natively() {
    Run::native(resource("io_events"), NO_ARGS).run().assert_code(0).assert_stdout(IO_EVENTS);
}

#[test]
fn io_events_match_linux() {
    let (_, sandboxed) =
        compare_runs(Run::native(resource("io_events"), NO_ARGS), Run::sandbox(resource("io_events"), NO_ARGS));
    sandboxed.assert_code(0).assert_stdout(IO_EVENTS);
}
