//! `process.terminal` with `--console-socket`, driven as a person at a
//! terminal would: the test holds the console socket, receives the pty
//! master by SCM_RIGHTS (as runc's recvtty does), and types into an
//! interactive busybox `sh` running as the container's init: a command and
//! its output, `tty`, `stty size` after resizing the master, ^C ending a
//! foreground `sleep` (and the shell prompting again), `exit 3` ending
//! the `run` with status 3. Plus the flag rules runc has.

use std::fs::File;
use std::io::{IoSliceMut, Read as _, Write as _};
use std::mem::MaybeUninit;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ringfence_tests::{build_busybox_bundle, ringfence_command, TempDir};
use rustix::net::{recvmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
use serde_json::{json, Value};

/// The busybox bundle template (its config.json is `ringfence spec`'s).
fn template() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build_busybox_bundle("busybox"))
}

/// A bundle in `dir` running `args` with `terminal`.
fn bundle(dir: &Path, args: &[&str], terminal: bool) -> PathBuf {
    let tpl = template();
    let b = dir.join("bundle");
    std::fs::create_dir(&b).expect("mkdir bundle");
    let rootfs = std::fs::canonicalize(tpl.join("rootfs")).expect("template rootfs");
    std::os::unix::fs::symlink(rootfs, b.join("rootfs")).expect("symlink rootfs");
    let mut config: Value =
        serde_json::from_slice(&std::fs::read(tpl.join("config.json")).expect("read config")).expect("parse config");
    config["process"]["args"] = json!(args);
    config["process"]["terminal"] = json!(terminal);
    std::fs::write(b.join("config.json"), serde_json::to_vec_pretty(&config).expect("json")).expect("write config");
    b
}

/// The master side of the container's terminal, with what it printed.
struct Console {
    master: File,
    out: Arc<Mutex<Vec<u8>>>,
    seen: usize,
}

impl Console {
    fn new(master: File) -> Self {
        let out = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().expect("dup master");
        let sink = Arc::clone(&out);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once the container's side is closed.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().expect("output lock").extend_from_slice(&buf[..n]);
            }
        });
        Self { master, out, seen: 0 }
    }

    fn type_in(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("write to the pty master");
    }

    /// The next line after what was matched before, without its "\r\n".
    fn line(&mut self, within: Duration) -> String {
        let start = self.seen;
        self.expect("\r\n", within);
        let out = self.out.lock().expect("output lock");
        String::from_utf8_lossy(&out[start..self.seen - 2]).into_owned()
    }

    /// Waits until `needle` appears after what was matched before.
    fn expect(&mut self, needle: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            {
                let out = self.out.lock().expect("output lock");
                let hay = &out[self.seen..];
                if let Some(i) = hay.windows(needle.len()).position(|w| w == needle.as_bytes()) {
                    self.seen += i + needle.len();
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "no {needle:?} on the terminal; after the last match it shows {:?}",
                    String::from_utf8_lossy(hay)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Accepts the runtime's connection on `listener` and receives the pty
/// master, unless `child` fails first.
fn receive_master(listener: &UnixListener, child: &mut Child) -> (File, Vec<u8>) {
    listener.set_nonblocking(true).expect("nonblocking listener");
    let deadline = Instant::now() + Duration::from_secs(30);
    let conn = loop {
        match listener.accept() {
            Ok((c, _)) => break c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("accept on the console socket: {e}"),
        }
        if let Some(st) = child.try_wait().expect("try_wait") {
            panic!("ringfence run ended ({st}) before sending the pty master");
        }
        assert!(Instant::now() < deadline, "no connection on the console socket");
        std::thread::sleep(Duration::from_millis(5));
    };
    conn.set_nonblocking(false).expect("blocking connection");
    let mut name = [0u8; 256];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut cmsg = RecvAncillaryBuffer::new(&mut space);
    let got = recvmsg(&conn, &mut [IoSliceMut::new(&mut name)], &mut cmsg, RecvFlags::CMSG_CLOEXEC)
        .expect("recvmsg on the console socket");
    let mut fds = Vec::new();
    for msg in cmsg.drain() {
        if let RecvAncillaryMessage::ScmRights(rights) = msg {
            fds.extend(rights);
        }
    }
    assert_eq!(fds.len(), 1, "one descriptor expected by SCM_RIGHTS");
    let fd = fds.pop().expect("the master");
    (File::from(fd), name[..got.bytes].to_vec())
}

/// `ringfence run --console-socket` of an interactive `sh`, up to its
/// first prompt: the run, its temporary directory, and the console.
fn start_shell(what: &str) -> (Child, TempDir, Console) {
    let dir = TempDir::new(what);
    let root = dir.path().join("root");
    std::fs::create_dir(&root).expect("mkdir root");
    let b = bundle(dir.path(), &["sh"], true);
    let sock = dir.path().join("console.sock");
    let listener = UnixListener::bind(&sock).expect("bind the console socket");
    let stderr = File::create(dir.path().join("stderr")).expect("stderr file");
    let mut child = ringfence_command()
        .arg("--root")
        .arg(&root)
        .arg("run")
        .arg("--console-socket")
        .arg(&sock)
        .arg("--bundle")
        .arg(&b)
        .arg(what)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("start ringfence run");
    let (master, name) = receive_master(&listener, &mut child);
    assert_eq!(name, b"/dev/ptmx", "runc sends the master's name with it");
    let mut con = Console::new(master);
    con.expect("/ # ", LONG);
    (child, dir, con)
}

/// How long the shell may take to answer.
const LONG: Duration = Duration::from_secs(20);

/// Waits for `run` to end; its status code.
fn wait_run(child: &mut Child, dir: &TempDir) -> Option<i32> {
    let deadline = Instant::now() + LONG;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("ringfence run did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if status.code().is_none() {
        let err = std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default();
        panic!("run died ({status}); its stderr: {err}");
    }
    status.code()
}

#[test]
fn job_control_on_the_console() {
    let (mut child, dir, mut con) = start_shell("tty-jobs");
    // ^Z stops the foreground job; the shell takes the terminal back.
    con.type_in(b"sleep 30\r");
    con.expect("sleep 30\r\n", LONG);
    std::thread::sleep(Duration::from_millis(300));
    con.type_in(b"\x1a");
    con.expect("^Z", LONG);
    con.expect("Stopped", LONG);
    con.expect("/ # ", LONG);
    con.type_in(b"kill -9 %1\r");
    con.expect("/ # ", LONG);
    // A background read of the terminal stops the reader (SIGTTIN) ...
    con.type_in(b"cat &\r");
    con.expect("/ # ", LONG);
    std::thread::sleep(Duration::from_millis(300));
    con.type_in(b"jobs\r");
    con.expect("Stopped (tty input)", LONG);
    con.expect("/ # ", LONG);
    // ... until it is brought to the foreground, where it reads lines.
    con.type_in(b"fg %cat\r");
    con.expect("cat\r\n", LONG);
    std::thread::sleep(Duration::from_millis(300));
    con.type_in(b"typed\r");
    con.expect("typed\r\ntyped\r\n", LONG);
    // ^D: end of file for cat, then the shell prompts again.
    con.type_in(b"\x04");
    con.expect("/ # ", LONG);
    con.type_in(b"exit 0\r");
    assert_eq!(wait_run(&mut child, &dir), Some(0));
}

#[test]
fn interactive_shell_on_the_console() {
    let (mut child, dir, mut con) = start_shell("tty-shell");
    let long = LONG;

    con.type_in(b"echo hello\r");
    // The shell's echo of the line, then the command's output.
    con.expect("echo hello\r\nhello\r\n/ # ", long);

    con.type_in(b"tty\r");
    con.expect("tty\r\n/dev/console\r\n", long);
    // The prompt comes once the shell has reaped tty's process, which may
    // still show in ps (as sh: busybox runs the applet in the fork) after
    // its output.
    con.expect("/ # ", long);
    // ps shows the console as init's terminal, as host ps -ef would.
    let root = dir.path().join("root");
    assert_eq!(ps_ttys(&root, "tty-shell"), [("1".to_owned(), "console".to_owned(), "sh".to_owned())]);

    let ws = rustix::termios::Winsize { ws_row: 33, ws_col: 77, ws_xpixel: 0, ws_ypixel: 0 };
    rustix::termios::tcsetwinsize(&con.master, ws).expect("TIOCSWINSZ on the master");
    // The resize reaches the sandbox within ~20 ms on a quiet machine, not
    // within a fixed margin on a loaded one: asked again until it shows.
    let deadline = Instant::now() + long;
    loop {
        con.type_in(b"stty size\r");
        con.expect("stty size\r\n", long);
        let size = con.line(long);
        con.expect("/ # ", long);
        if size == "33 77" {
            break;
        }
        assert!(Instant::now() < deadline, "the resize never reached the container: stty size says {size:?}");
        std::thread::sleep(Duration::from_millis(50));
    }

    con.type_in(b"sleep 30\r");
    con.expect("sleep 30\r\n", long);
    // ^C once sleep runs (the shell made it the foreground job before its
    // exec); typed earlier it would reach the shell instead.
    let deadline = Instant::now() + long;
    while !ps_ttys(&root, "tty-shell").iter().any(|(_, _, cmd)| cmd == "sleep 30") {
        assert!(Instant::now() < deadline, "sleep 30 never showed in ps");
        std::thread::sleep(Duration::from_millis(20));
    }
    let interrupted = Instant::now();
    con.type_in(b"\x03");
    con.expect("^C", long);
    con.expect("/ # ", long);
    assert!(interrupted.elapsed() < Duration::from_secs(10), "^C did not end sleep 30 promptly");

    con.type_in(b"exit 3\r");
    assert_eq!(wait_run(&mut child, &dir), Some(3));
}

/// `ps ID`: (PID, TTY, CMD) of each process.
fn ps_ttys(root: &Path, id: &str) -> Vec<(String, String, String)> {
    let out = ringfence_command().arg("--root").arg(root).args(["ps", id]).output().expect("run ringfence ps");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "ps failed: {}", String::from_utf8_lossy(&out.stderr));
    text.lines()
        .skip(1)
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (w[1].to_owned(), w[4].to_owned(), w[7..].join(" "))
        })
        .collect()
}

/// `ringfence ARGS` with --root in `dir`: (status, stderr).
fn rf(root: &Path, args: &[&str]) -> (i32, String) {
    let out =
        ringfence_command().arg("--root").arg(root).args(args).stdin(Stdio::null()).output().expect("run ringfence");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn console_socket_rules_are_runcs() {
    let dir = TempDir::new("terminal-rules");
    let root = dir.path().join("root");
    std::fs::create_dir(&root).expect("mkdir root");
    let with_tty = bundle(dir.path(), &["true"], true);
    let b = with_tty.to_string_lossy().into_owned();
    let (code, err) = rf(&root, &["create", "--bundle", &b, "c1"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot allocate tty if runc will detach without setting console socket"), "{err}");
    let (code, err) = rf(&root, &["run", "--bundle", &b, "c2"]);
    assert_eq!(code, 1);
    assert!(err.contains("--console-socket"), "{err}");
    let plain_dir = dir.path().join("plain");
    std::fs::create_dir(&plain_dir).expect("mkdir");
    let plain = bundle(&plain_dir, &["true"], false);
    let p = plain.to_string_lossy().into_owned();
    let (code, err) = rf(&root, &["create", "--console-socket", "/nonexistent.sock", "--bundle", &p, "c3"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot use console socket if runc will not detach or allocate tty"), "{err}");
    // A socket nobody listens on: a clear error, and nothing left behind.
    let (code, err) = rf(&root, &["create", "--console-socket", "/nonexistent.sock", "--bundle", &b, "c4"]);
    assert_eq!(code, 1);
    assert!(err.contains("console socket"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&root).expect("read root").filter_map(Result::ok).collect();
    assert!(left.is_empty(), "state left behind: {left:?}");
}

/// A running container (init `sleep 1000`, no terminal) to exec into.
struct Running {
    dir: TempDir,
    root: PathBuf,
    id: String,
}

impl Running {
    fn start(id: &str) -> Self {
        let dir = TempDir::new(id);
        let root = dir.path().join("root");
        std::fs::create_dir(&root).expect("mkdir root");
        let b = bundle(dir.path(), &["sleep", "1000"], false);
        let b = b.to_string_lossy().into_owned();
        // Its stdio not piped: the sandbox process keeps them open.
        let status = ringfence_command()
            .arg("--root")
            .arg(&root)
            .args(["run", "--detach", "--bundle", &b, id])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run ringfence");
        assert!(status.success(), "run --detach failed");
        Self { dir, root, id: id.to_owned() }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = rf(&self.root, &["delete", "--force", &self.id]);
    }
}

/// Drives an interactive `sh` on a terminal whose master is `con`: a
/// command, `tty` naming a pty of the container's devpts, `stty size`
/// after resizing the master, ^C ending a foreground job, ^Z stopping one
/// and `fg` bringing it back, then `exit 5`.
fn drive_shell(con: &mut Console, tty: &str) {
    con.expect("/ # ", LONG);
    con.type_in(b"echo hello\r");
    con.expect("echo hello\r\nhello\r\n/ # ", LONG);
    con.type_in(b"tty\r");
    con.expect(&format!("tty\r\n{tty}\r\n/ # "), LONG);
    let ws = rustix::termios::Winsize { ws_row: 41, ws_col: 99, ws_xpixel: 0, ws_ypixel: 0 };
    rustix::termios::tcsetwinsize(&con.master, ws).expect("TIOCSWINSZ on the master");
    std::thread::sleep(Duration::from_millis(300));
    con.type_in(b"stty size\r");
    con.expect("stty size\r\n41 99\r\n", LONG);
    con.type_in(b"sleep 30\r");
    con.expect("sleep 30\r\n", LONG);
    std::thread::sleep(Duration::from_millis(500));
    let interrupted = Instant::now();
    con.type_in(b"\x03");
    con.expect("^C", LONG);
    con.expect("/ # ", LONG);
    assert!(interrupted.elapsed() < Duration::from_secs(10), "^C did not end sleep 30 promptly");
    con.type_in(b"sleep 30\r");
    con.expect("sleep 30\r\n", LONG);
    std::thread::sleep(Duration::from_millis(300));
    con.type_in(b"\x1a");
    con.expect("Stopped", LONG);
    con.expect("/ # ", LONG);
    // Back to the foreground, where ^C reaches it again.
    con.type_in(b"fg\r");
    con.expect("sleep 30\r\n", LONG);
    std::thread::sleep(Duration::from_millis(300));
    con.type_in(b"\x03");
    con.expect("^C", LONG);
    con.expect("/ # ", LONG);
    con.type_in(b"exit 5\r");
}

/// Waits for `child` to end; its status code (its stderr and the
/// terminal's output on failure).
fn wait_child(child: &mut Child, stderr: &Path, con: &Console) -> Option<i32> {
    let deadline = Instant::now() + LONG;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = String::from_utf8_lossy(&con.out.lock().expect("output lock")).into_owned();
            let tail: String = out.chars().rev().take(300).collect::<Vec<_>>().into_iter().rev().collect();
            panic!(
                "ringfence did not end; its stderr: {}; the terminal's last output: {tail:?}",
                std::fs::read_to_string(stderr).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        status.code().is_some(),
        "ringfence died ({status}); its stderr: {}",
        std::fs::read_to_string(stderr).unwrap_or_default()
    );
    status.code()
}

#[test]
fn exec_tty_through_the_console_socket() {
    let c = Running::start("tty-exec-sock");
    let sock = c.dir.path().join("exec-console.sock");
    let listener = UnixListener::bind(&sock).expect("bind the console socket");
    let err_path = c.dir.path().join("exec-stderr");
    let mut child = ringfence_command()
        .arg("--root")
        .arg(&c.root)
        .args(["exec", "-t", "--console-socket"])
        .arg(&sock)
        .args([&c.id, "sh"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(&err_path).expect("stderr file"))
        .spawn()
        .expect("start ringfence exec");
    let (master, name) = receive_master(&listener, &mut child);
    assert_eq!(name, b"/dev/ptmx");
    let mut con = Console::new(master);
    con.expect("/ # ", LONG);
    // The exec'd shell's terminal in ps; init has none.
    let mut ttys = ps_ttys(&c.root, &c.id);
    ttys.sort();
    assert_eq!(ttys.len(), 2, "{ttys:?}");
    assert_eq!((ttys[0].0.as_str(), ttys[0].1.as_str()), ("1", "?"), "{ttys:?}");
    assert_eq!((ttys[1].1.as_str(), ttys[1].2.as_str()), ("pts/0", "sh"), "{ttys:?}");
    // A fresh prompt for drive_shell.
    con.type_in(b"\r");
    drive_shell(&mut con, "/dev/pts/0");
    assert_eq!(wait_child(&mut child, &err_path, &con), Some(5));
    // The container runs on.
    let (code, _) = rf(&c.root, &["exec", &c.id, "true"]);
    assert_eq!(code, 0);
}

/// A pty pair made by the test: the master, and the slave that stands for
/// the terminal a person runs `ringfence` from.
fn caller_terminal() -> (File, File) {
    use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let name = ptsname(&master, Vec::new()).expect("ptsname");
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(name.to_string_lossy().as_ref())
        .expect("open the pty slave");
    (File::from(master), slave)
}

/// Runs `ringfence ARGS` on the test's own terminal, drives `sh` on it,
/// and checks the exit status and that the terminal's mode is restored.
fn drive_on_callers_terminal(root: &Path, args: &[&str], tty: &str, err_path: &Path) {
    let (master, slave) = caller_terminal();
    let before = rustix::termios::tcgetattr(&slave).expect("tcgetattr");
    let mut child = ringfence_command()
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(slave.try_clone().expect("dup slave"))
        .stdout(slave.try_clone().expect("dup slave"))
        .stderr(File::create(err_path).expect("stderr file"))
        .spawn()
        .expect("start ringfence");
    let mut con = Console::new(master);
    drive_shell(&mut con, tty);
    assert_eq!(wait_child(&mut child, err_path, &con), Some(5));
    let after = rustix::termios::tcgetattr(&slave).expect("tcgetattr");
    assert_eq!(
        (after.local_modes, after.input_modes, after.output_modes),
        (before.local_modes, before.input_modes, before.output_modes),
        "the caller's terminal mode is restored"
    );
}

#[test]
fn run_uses_the_callers_terminal() {
    let dir = TempDir::new("tty-run-relay");
    let root = dir.path().join("root");
    std::fs::create_dir(&root).expect("mkdir root");
    let b = bundle(dir.path(), &["sh"], true);
    let b = b.to_string_lossy().into_owned();
    drive_on_callers_terminal(&root, &["run", "--bundle", &b, "tty-run-relay"], "/dev/console", &dir.path().join("e"));
}

#[test]
fn exec_tty_uses_the_callers_terminal() {
    let c = Running::start("tty-exec-relay");
    let err = c.dir.path().join("exec-stderr");
    drive_on_callers_terminal(&c.root, &["exec", "-t", &c.id, "sh"], "/dev/pts/0", &err);
    // Detached, a terminal needs a console socket (runc's rule).
    let (code, err) = rf(&c.root, &["exec", "-t", "-d", &c.id, "sh"]);
    assert_eq!(code, 255);
    assert!(err.contains("cannot allocate tty if runc will detach without setting console socket"), "{err}");
}
