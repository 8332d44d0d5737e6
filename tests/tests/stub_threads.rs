//! The ptrace platform runs each application thread on a host thread of
//! its own in the address space's stub process, and ends it with the
//! thread: `thread_wave` starts threads that block, and the host's
//! /proc/<stub>/task is counted while they run and after they are joined.
//! Always on `--platform ptrace` (it needs no /dev/kvm).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ringfence_tests::{resource, ringfence_bin, Run};

const THREADS: usize = 8;

/// The processes whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|s| {
                s.rsplit_once(") ").and_then(|(_, rest)| rest.split(' ').nth(1)?.parse::<u32>().ok()) == Some(pid)
            })
        })
        .collect()
}

/// Host threads of process `pid`.
fn thread_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, Iterator::count)
}

/// The one stub of the sandbox `rf`: the child that is not the gofer.
fn stub_of(rf: u32) -> u32 {
    let stubs: Vec<u32> = children_of(rf)
        .into_iter()
        .filter(|c| {
            !std::fs::read(format!("/proc/{c}/cmdline")).is_ok_and(|a| a.split(|b| *b == 0).any(|a| a == b"gofer"))
        })
        .collect();
    assert_eq!(stubs.len(), 1, "one stub among the children of {rf}: {stubs:?}");
    stubs[0]
}

/// Polls `count` until it is `want` (a thread's exit is reaped right after
/// its last syscall, but the host's /proc may lag a moment).
fn settles(want: usize, count: impl Fn() -> usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n = count();
        if n == want || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn thread_wave_natively() {
    Run::native(resource("thread_wave"), &["3"]).stdin("gg").run().assert_code(0).assert_stdout("running 3\njoined\n");
}

#[test]
fn stub_threads_follow_application_threads() {
    let mut child = Command::new(ringfence_bin())
        .args(["do", "--platform", "ptrace", "--"])
        .arg(resource("thread_wave"))
        .arg(THREADS.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ringfence");
    let rf = child.id();
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next = || lines.next().and_then(Result::ok).unwrap_or_default();

    assert_eq!(next(), format!("running {THREADS}"));
    let stub = stub_of(rf);
    // The main thread and the blocked ones, one host thread each.
    assert_eq!(settles(THREADS + 1, || thread_count(stub)), THREADS + 1, "stub threads while {THREADS} run");
    stdin.write_all(b"g").expect("release the threads");

    assert_eq!(next(), "joined");
    assert_eq!(settles(1, || thread_count(stub)), 1, "stub threads after the join");
    stdin.write_all(b"g").expect("let it exit");
    let status = child.wait().expect("wait");
    assert!(status.success(), "thread_wave: {status}");
    assert_eq!(thread_count(stub), 0, "the stub is gone");
}
