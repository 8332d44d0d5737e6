//! Pseudo-terminals through /dev/ptmx (`resources/c/pty.c`), natively and
//! in the sandbox: posix_openpt, grantpt, unlockpt, ptsname and ttyname;
//! the default termios; canonical input with echo, erase and kill; raw
//! mode with VMIN and VTIME; output processing; window size; EOF; ^C to
//! the foreground group of a controlling terminal; /proc/self/stat's
//! tty_nr and tpgid; hang-ups. The native
//! run must print exactly the expected text, the sandboxed run the same.

use ringfence_tests::{compare_runs, resource, Run};

const NO_ARGS: &[&str] = &[];

/// What `pty` prints on Linux.
const PTY: &str = r#"ptmx: ptsname under /dev/pts/ yes, matches TIOCGPTN yes, locked 1, master isatty 1
open before unlockpt: -1 EIO
grantpt 0 unlockpt 0
slave: isatty 1, char device yes, major 136, ttyname matches yes
tcgetpgrp of a terminal that is not ours: -1 ENOTTY
defaults: ICANON 1 ECHO 1 ISIG 1 ICRNL 1 OPOST 1 ONLCR 1, VINTR 3 VEOF 4 VERASE 127 VMIN 1
canonical read: 6 "hello\n"
echo: 7 "hello\r\n"
after erase and kill: 3 "xy\n"
their echo: 24 "abx\x08 \x08c\x08 \x08\x08 \x08\x08 \x08xyz\x08 \x08\r\n"
partial line: poll 0, FIONREAD 0
line ended: first 2: 2 "pa"
poll 1 FIONREAD 5, rest: 3 "rt\n"
EOF on an empty line: read 0
slave output: 5 "out\r\n"
raw VMIN 0 VTIME 0, nothing there: read 0
raw read: 4 "xyz\n"
no echo in raw mode: 0
output without OPOST: 4 "out\n"
VTIME 2 with nothing there: read 0 after at least 150 ms yes
VMIN 3 after three bytes: 3 "123"
nonblocking empty read: -1 EAGAIN
window size set on the master, read on the slave: 33 77
ctty: acquired with fg group and session of the leader y, ^C gave SIGINT yes
/proc/self/stat: tty_nr is the slave's device, tpgid our foreground group: y
echo of ^C: 2 "^C"
stopped job: stopped 1, after SIGTERM still there 1, after SIGCONT signaled 1 by 15
master read after the slave closed: -1 EIO
slave read after the master closed: 0
slave write after the master closed: -1 EIO
"#;

#[test]
fn pty_natively() {
    Run::native(resource("pty"), NO_ARGS).run().assert_code(0).assert_stdout(PTY);
}

#[test]
fn pty_matches_linux() {
    let (_, sandboxed) = compare_runs(Run::native(resource("pty"), NO_ARGS), Run::sandbox(resource("pty"), NO_ARGS));
    sandboxed.assert_code(0).assert_stdout(PTY);
}
