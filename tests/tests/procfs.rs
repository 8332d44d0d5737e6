//! /proc in the sandbox: the `procfs` C program (resources/c/procfs.c)
//! natively and in the sandbox, and busybox's process tools (`ps`, `top`,
//! `free`, `uptime`) and file tools on /proc in the busybox rootfs. Pids,
//! times and sizes differ from a native run, so the busybox checks compare
//! the structure of the output (headers, which commands are listed, parent
//! links) rather than the text.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use ringfence_tests::{busybox, compare_runs, resource, workspace_root, Outcome, Run};

/// What `procfs a b` prints on Linux.
const PROCFS: &str = r#"stat: 52 fields, pid yes, comm (procfs), state R, ppid yes, pgrp yes, session yes, threads 1
stat: vsize is statm's size yes, rss > 0 yes, exit_signal 17
stat: started before now yes
status: Name procfs, State R, Tgid yes, Pid yes, PPid yes, Threads 1
status: SigPnd 0000000000000200, SigBlk 0000000000000200, SigIgn (standard) 0000000000000800, SigCgt 0000000000004000
stat: signal 512, blocked 512, sigignore (standard) 2048, sigcatch 16384
exe: is argv[0] yes
cwd: is getcwd yes
self: is the pid yes
thread-self: is pid/task/tid yes
exe: lstat is a link yes, stat is a regular file yes
fd: /dev/null yes
fd: program file yes
fd: pipe yes
fd: stat through the link is the file yes
fdinfo: pos 3
fd: listing has the new fds yes
maps: code executable yes, [stack] holds a local yes, [heap] yes
cmdline: argv NUL-separated yes
environ: the initial environment yes
comm: procfs
child: state S, ppid is us yes, comm (procfs)
child: listed in /proc yes
zombie: state Z, exit code 1792
reaped: /proc/<pid> gone yes
"#;

#[test]
fn procfs_natively() {
    Run::native(resource("procfs"), &["a", "b"]).run().assert_code(0).assert_stdout(PROCFS);
}

#[test]
fn procfs_matches_linux() {
    let (_, sandboxed) =
        compare_runs(Run::native(resource("procfs"), &["a", "b"]), Run::sandbox(resource("procfs"), &["a", "b"]));
    sandboxed.assert_code(0).assert_stdout(PROCFS);
}

/// The busybox tree, built (or found up to date) once per test process.
fn rootfs() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let script = workspace_root().join("resources/rootfs/busybox.sh");
        let status = Command::new("bash").arg(script).status().expect("run busybox.sh");
        assert!(status.success(), "resources/rootfs/busybox.sh failed");
        workspace_root().join("target/rootfs/busybox")
    })
}

/// `sh -c SCRIPT` in the sandbox over the busybox tree with `--memory 256M`.
fn sh(script: &str) -> Outcome {
    let tree = rootfs().to_str().expect("utf-8 path");
    Run::sandbox_flags(&["--rootfs", tree, "--memory", "256M"], "/bin/sh", &["-c", script])
        .env_clear()
        .env("PATH", "/bin")
        .run()
}

fn lines(out: &Outcome) -> Vec<String> {
    out.stdout_str().lines().map(str::to_owned).collect()
}

/// The first line of a busybox applet run natively (a header).
fn native_header(args: &[&str]) -> String {
    let out = Run::native(busybox(), args).run();
    out.stdout_str().lines().next().unwrap_or_default().to_owned()
}

/// `(pid, ppid, comm)` rows of `ps -o pid,ppid,comm`.
fn ps_rows(out: &[String]) -> Vec<(u32, u32, String)> {
    out.iter()
        .skip(1)
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.parse().ok()?, w.next()?.parse().ok()?, w.next()?.to_owned()))
        })
        .collect()
}

#[test]
fn ps_lists_the_processes() {
    // ps is not the script's last command, so the shell does not exec it,
    // and sleep has had the time to exec.
    let out = sh("sleep 5 & sleep 0.2; ps -o pid,ppid,comm; kill $!");
    out.assert_code(0);
    let l = lines(&out);
    assert_eq!(l.first().cloned().unwrap_or_default(), native_header(&["ps", "-o", "pid,ppid,comm"]), "{l:?}");
    let rows = ps_rows(&l);
    let shell = rows.iter().find(|r| r.2 == "sh").unwrap_or_else(|| panic!("no sh in {rows:?}"));
    assert_eq!((shell.0, shell.1), (1, 0), "the shell is the container's init: {rows:?}");
    assert!(rows.iter().any(|r| r.2 == "sleep" && r.1 == shell.0), "sleep, child of sh: {rows:?}");
    assert!(rows.iter().any(|r| r.2 == "ps" && r.1 == shell.0), "ps, child of sh: {rows:?}");
}

#[test]
fn ps_default_columns() {
    let out = sh("sleep 5 & sleep 0.2; ps; kill $!");
    out.assert_code(0);
    let l = lines(&out);
    assert_eq!(l.first().cloned().unwrap_or_default(), native_header(&["ps"]), "{l:?}");
    assert!(l.iter().any(|x| x.ends_with("sleep 5") && x.contains(" root ")), "{l:?}");
}

#[test]
fn top_prints_its_header() {
    let out = sh("top -b -n1");
    out.assert_code(0);
    let l = lines(&out);
    let native = Run::native(busybox(), &["top", "-b", "-n1"]).run();
    let nl: Vec<String> = native.stdout_str().lines().take(4).map(str::to_owned).collect();
    assert!(l.len() >= 5, "{l:?}");
    for (i, prefix) in ["Mem:", "CPU:", "Load average:"].iter().enumerate() {
        assert!(l[i].starts_with(prefix) && nl[i].starts_with(prefix), "line {i}: {:?} / native {:?}", l[i], nl[i]);
    }
    assert_eq!(l[3], nl[3], "column header");
    assert!(l.iter().any(|x| x.contains("top -b -n1") && x.contains(" R ")), "top itself, running: {l:?}");
}

#[test]
fn free_reports_the_sandbox_memory() {
    let out = sh("free");
    out.assert_code(0);
    let l = lines(&out);
    let mem: Vec<u64> = l
        .iter()
        .find(|x| x.starts_with("Mem:"))
        .unwrap_or_else(|| panic!("no Mem: line in {l:?}"))
        .split_whitespace()
        .skip(1)
        .map(|w| w.parse().expect("number"))
        .collect();
    let (total, used, free) = (mem[0], mem[1], mem[2]);
    // 256 MiB of guest memory, less what the sentry itself takes.
    assert!((128 << 10..=256 << 10).contains(&total), "total {total} kB: {l:?}");
    assert!(used > 0 && used + free <= total, "{l:?}");
    let swap = l.iter().find(|x| x.starts_with("Swap:")).expect("Swap: line");
    assert_eq!(swap.split_whitespace().skip(1).collect::<Vec<_>>(), ["0", "0", "0"]);
}

#[test]
fn uptime_prints_load_average() {
    let out = sh("uptime");
    out.assert_code(0);
    let s = out.stdout_str();
    assert!(s.contains(" up ") && s.contains("load average: 0.00, 0.00, 0.00"), "{s}");
}

#[test]
fn status_names_the_process() {
    let out = sh("cat /proc/self/status; echo ppid=$$");
    out.assert_code(0);
    let s = out.stdout_str();
    let field = |k: &str| {
        s.lines().find_map(|l| l.strip_prefix(&format!("{k}:\t"))).unwrap_or_else(|| panic!("no {k} in {s}")).to_owned()
    };
    assert_eq!(field("Name"), "cat");
    assert_eq!(field("PPid"), "1");
    assert_eq!(field("Tgid"), field("Pid"));
    assert!(field("Pid").parse::<u32>().expect("pid") > 1);
    assert_eq!(field("Threads"), "1");
}

#[test]
fn exe_and_fd_links() {
    let out = sh("readlink /proc/self/exe; exec 5</etc/passwd 7>/tmp/x; ls /proc/self/fd; readlink /proc/$$/fd/5; \
         readlink /proc/$$/fd/7; echo piped | cat /dev/stdin");
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "/bin/busybox\n0\n1\n2\n3\n5\n7\n/etc/passwd\n/tmp/x\npiped\n");
}

#[test]
fn maps_cpuinfo_mounts() {
    let out = sh("grep -c '\\[stack\\]' /proc/self/maps; grep -c ' r-xp ' /proc/self/maps; \
         cat /proc/cpuinfo | grep -c processor; grep -c '^model name' /proc/cpuinfo; \
         grep '^proc ' /proc/mounts; cut -d' ' -f2 /proc/mounts | sort | tr '\\n' ' '");
    out.assert_code(0);
    assert_eq!(
        out.stdout_str(),
        "1\n1\n1\n1\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n/ /dev /dev/pts /proc /tmp "
    );
}

#[test]
fn proc_is_read_only() {
    let out = sh("echo 1 > /proc/sys/vm/overcommit_memory || echo refused; mkdir /proc/x || echo refused; \
         cat /proc/sys/vm/overcommit_memory /proc/sys/kernel/ostype /proc/sys/fs/pipe-max-size");
    out.assert_code(0);
    assert_eq!(out.stdout_str(), "refused\nrefused\n0\nLinux\n1048576\n");
}
