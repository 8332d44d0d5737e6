//! `debug`, modelled on runsc's: `--stacks` dumps the sentry's tasks (and
//! the sandbox process's host threads), `--log-level` and `--strace`
//! change what a running sandbox logs.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context as _};

use super::rpc::{self, LogLevel, LoggingArgs, Method, TaskRow};
use super::state::{Container, Status};

/// How long a command waits for the sandbox to answer.
const RPC_TIMEOUT: Duration = Duration::from_secs(15);

/// The running container `id` (a paused sentry cannot answer).
fn open_running(root: &Path, id: &str) -> anyhow::Result<Container> {
    let c = Container::open(root, id, false)?;
    match c.status() {
        Status::Running => Ok(c),
        Status::Paused => bail!("container is paused"),
        _ => bail!("container not running"),
    }
}

/// `debug --stacks`: the sentry's tasks, then the sandbox process's host
/// threads, as text.
pub fn stacks(root: &Path, id: &str) -> anyhow::Result<String> {
    let c = open_running(root, id)?;
    let v = rpc::call(&c.dir, Method::Stacks, &[], Some(RPC_TIMEOUT)).context("cannot dump the stacks")?;
    let tasks: Vec<TaskRow> = serde_json::from_value(v).context("malformed reply from the sandbox")?;
    let mut out = format!("sentry tasks of container {id}:\n");
    for t in &tasks {
        out.push_str(&task_text(t));
    }
    if let Some(pid) = c.stored.pid {
        let _ = writeln!(out, "host threads of the sandbox process {pid}:");
        out.push_str(&host_threads(pid));
    }
    Ok(out)
}

/// One task: a header line, then its registers.
fn task_text(t: &TaskRow) -> String {
    let state = match t.state {
        'R' => "running",
        'S' => "sleeping",
        'T' => "stopped",
        'Z' => "zombie",
        _ => "unknown",
    };
    let mut line = format!("  tid {} pid {} {:?} {state}", t.tid, t.pid, t.comm);
    if let Some(nr) = t.syscall {
        let name = abi::linux::sysno::name(nr).unwrap_or("syscall");
        let _ = write!(line, " in {name}({nr})");
    }
    if !t.wait.is_empty() {
        let _ = write!(line, ": {}", t.wait);
    }
    let _ = writeln!(line, "\n      rip {:#018x} rsp {:#018x}", t.rip, t.rsp);
    line
}

/// The threads of host process `pid`: tid, name, state and the kernel
/// function a sleeping one waits in (`/proc/PID/task`).
fn host_threads(pid: i32) -> String {
    let dir = format!("/proc/{pid}/task");
    let Ok(entries) = std::fs::read_dir(&dir) else { return format!("  (cannot read {dir})\n") };
    let mut tids: Vec<u32> = entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    tids.sort_unstable();
    let mut out = String::new();
    for tid in tids {
        let read = |f: &str| std::fs::read_to_string(format!("{dir}/{tid}/{f}")).unwrap_or_default();
        let comm = read("comm");
        // The state follows the parenthesised name, which may hold spaces.
        let stat = read("stat");
        let state = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().next()).unwrap_or("?");
        let wchan = read("wchan");
        let wchan = if wchan.is_empty() || wchan == "0" { String::new() } else { format!(" in {wchan}") };
        let _ = writeln!(out, "  tid {tid} {:?} {state}{wchan}", comm.trim_end());
    }
    out
}

/// `debug --log-level`/`--strace`: changes what the sandbox logs. A level
/// of debug also turns on syscall tracing (as `--debug` at create does),
/// another level turns it off, unless `strace` says otherwise.
pub fn change_logging(root: &Path, id: &str, level: Option<LogLevel>, strace: Option<bool>) -> anyhow::Result<()> {
    let strace = strace.or(level.map(|l| l == LogLevel::Debug));
    if level.is_none() && strace.is_none() {
        bail!("nothing to change: give --log-level or --strace");
    }
    let c = open_running(root, id)?;
    rpc::call(&c.dir, Method::ChangeLogging(LoggingArgs { level, strace }), &[], Some(RPC_TIMEOUT))
        .context("cannot change the sandbox's logging")?;
    Ok(())
}
