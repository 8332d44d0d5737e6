//! The commands that talk to a running container's sandbox over the
//! control RPC (`rpc.rs`): kill (once running), pause, resume, ps, events,
//! wait. `exec` is in `exec.rs`.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context as _};

use super::rpc::{self, Method, ProcessRow, StatsReply};
use super::state::{Container, Status};

/// How long a command waits for the sandbox to answer.
const RPC_TIMEOUT: Duration = Duration::from_secs(15);
/// Where the sandbox process leaves the container's exit status.
const EXIT_STATUS_FILE: &str = "exit-status";

/// Signals the running container `c` (sandbox process `pid`): its init, or
/// every process with `all`.
pub fn kill_running(c: &Container, pid: i32, sig: i32, all: bool) -> anyhow::Result<()> {
    if c.status() == Status::Paused {
        // The sentry cannot take a signal while its vCPU is stopped; only
        // SIGKILL, which ends the whole sandbox, is delivered at once.
        if sig == libc::SIGKILL {
            return crate::sys::kill(pid, sig).with_context(|| format!("cannot signal the sandbox process {pid}"));
        }
        bail!("cannot signal a paused container (resume it first, or use SIGKILL)");
    }
    let signal = u32::try_from(sig).context("invalid signal")?;
    let method = Method::Signal { signal, pid: (!all).then_some(1), all };
    match rpc::call(&c.dir, method, &[], Some(RPC_TIMEOUT)) {
        Ok(_) => Ok(()),
        // The container ended meanwhile (e.g. of an earlier signal).
        Err(_) if !c.alive() => bail!("container not running"),
        Err(e) => Err(e.context("cannot signal the container")),
    }
}

/// `pause`.
pub fn pause(root: &Path, id: &str) -> anyhow::Result<()> {
    let mut c = Container::open(root, id, true)?;
    match c.status() {
        Status::Running => {}
        Status::Paused => bail!("container already paused"),
        _ => bail!("container not running"),
    }
    rpc::call(&c.dir, Method::Pause, &[], Some(RPC_TIMEOUT)).context("cannot pause the container")?;
    c.stored.status = Status::Paused;
    c.save()
}

/// `resume`.
pub fn resume(root: &Path, id: &str) -> anyhow::Result<()> {
    let mut c = Container::open(root, id, true)?;
    if c.status() != Status::Paused {
        bail!("container not paused");
    }
    rpc::call(&c.dir, Method::Resume, &[], Some(RPC_TIMEOUT)).context("cannot resume the container")?;
    c.stored.status = Status::Running;
    c.save()
}

/// Where the sandbox process records the container's exit status as its VM
/// ends, for `wait` callers that come later. Opened (empty) before the VM
/// runs: the sandbox process's seccomp filter forbids opening files after.
pub struct ExitRecord(std::fs::File);

impl ExitRecord {
    pub fn create(dir: &Path) -> anyhow::Result<Self> {
        let f = std::fs::File::create(dir.join(EXIT_STATUS_FILE)).context("cannot create the exit status file")?;
        Ok(Self(f))
    }

    /// Writes `code` (one short write: a reader sees all of it or nothing).
    pub fn record(mut self, code: u8) -> anyhow::Result<()> {
        use std::io::Write as _;
        self.0.write_all(format!("{code}\n").as_bytes())?;
        Ok(())
    }
}

/// `wait`: waits for the container to end; its exit status.
pub fn wait(root: &Path, id: &str) -> anyhow::Result<u8> {
    let c = Container::open(root, id, false)?;
    let dir = c.dir.clone();
    let status = c.status();
    // Not held while waiting: other commands (kill) must get in.
    drop(c);
    let recorded = || -> anyhow::Result<u8> {
        let text =
            std::fs::read_to_string(dir.join(EXIT_STATUS_FILE)).context("the container's exit status is not known")?;
        // Empty: the sandbox process died before it could write it.
        anyhow::ensure!(!text.trim().is_empty(), "the container's exit status is not known");
        text.trim().parse().context("corrupt exit status")
    };
    match status {
        Status::Stopped => recorded(),
        Status::Creating | Status::Created => bail!("container not started"),
        Status::Running | Status::Paused => match rpc::call(&dir, Method::Wait, &[], None) {
            Ok(v) => v.as_u64().and_then(|c| u8::try_from(c).ok()).context("malformed reply from the sandbox"),
            // It ended between the status check and the call.
            Err(_) => recorded(),
        },
    }
}

/// The rows of the container's processes.
fn process_rows(root: &Path, id: &str) -> anyhow::Result<Vec<ProcessRow>> {
    let c = Container::open(root, id, false)?;
    match c.status() {
        Status::Running => {}
        Status::Paused => bail!("container is paused"),
        _ => bail!("container not running"),
    }
    let v = rpc::call(&c.dir, Method::Processes, &[], Some(RPC_TIMEOUT)).context("cannot list the processes")?;
    serde_json::from_value(v).context("malformed reply from the sandbox")
}

/// `ps`: a table (gVisor's columns) or, as runc, a JSON list of pids.
pub fn ps(root: &Path, id: &str, json: bool) -> anyhow::Result<String> {
    let rows = process_rows(root, id)?;
    if json {
        let pids: Vec<u32> = rows.iter().map(|r| r.pid).collect();
        return Ok(serde_json::to_string(&pids)? + "\n");
    }
    Ok(ps_table(&rows, now_unix_ns()))
}

fn now_unix_ns() -> u64 {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `ps -ef`-like columns: UID PID PPID C TTY STIME TIME CMD.
fn ps_table(rows: &[ProcessRow], now_ns: u64) -> String {
    let mut table = vec![["UID", "PID", "PPID", "C", "TTY", "STIME", "TIME", "CMD"].map(str::to_owned)];
    for r in rows {
        let elapsed = now_ns.saturating_sub(r.start_unix_ns).max(1);
        // Percent of the CPU used since it started, as ps's C.
        let c = u128::from(r.cpu_ns) * 100 / u128::from(elapsed);
        let tty = tty_name(r.tty);
        let cmd = if r.cmdline.is_empty() { format!("[{}]", r.comm) } else { r.cmdline.join(" ") };
        table.push([
            r.uid.to_string(),
            r.pid.to_string(),
            r.ppid.to_string(),
            c.min(99).to_string(),
            tty,
            stime(r.start_unix_ns, now_ns),
            cpu_time(r.cpu_ns),
            cmd,
        ]);
    }
    super::table::format(&table, " ")
}

/// A controlling terminal's name as ps shows it, from its device number
/// (Linux's encoding: major in bits 8-19, minor in 0-7 and 20-31).
fn tty_name(dev: u32) -> String {
    let (major, minor) = ((dev >> 8) & 0xfff, (dev & 0xff) | ((dev >> 12) & !0xff));
    match (major, minor) {
        (0, 0) => "?".to_owned(),
        (136..=143, n) => format!("pts/{}", (major - 136) * 256 + n),
        (5, 1) => "console".to_owned(),
        (4, n) => format!("tty{n}"),
        _ => format!("{major},{minor}"),
    }
}

/// HH:MM (UTC) for a start within the last day, else the month and day.
fn stime(start_ns: u64, now_ns: u64) -> String {
    let secs = start_ns / 1_000_000_000;
    if now_ns.saturating_sub(start_ns) < 86_400 * 1_000_000_000 {
        format!("{:02}:{:02}", secs / 3600 % 24, secs / 60 % 60)
    } else {
        let date = super::state::now_rfc3339_at(secs);
        date.get(5..10).unwrap_or("?").to_owned()
    }
}

/// Cumulative CPU time as `[DD-]HH:MM:SS`.
fn cpu_time(ns: u64) -> String {
    let s = ns / 1_000_000_000;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}-{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

/// One `events` line in runc's shape.
fn stats_event(id: &str, s: &StatsReply) -> serde_json::Value {
    serde_json::json!({
        "type": "stats",
        "id": id,
        "data": {
            "cpu": { "usage": { "total": s.user_ns + s.system_ns, "user": s.user_ns, "kernel": s.system_ns } },
            "memory": { "usage": { "usage": s.memory_bytes } },
            "pids": { "current": s.pids },
        }
    })
}

/// `events [--stats] [--interval D]`: one stats line with `--stats`, else
/// a line every `interval` until the container stops.
pub fn events(root: &Path, id: &str, once: bool, interval: Duration) -> anyhow::Result<()> {
    let dir = Container::open(root, id, false)?.dir;
    let mut out = std::io::stdout().lock();
    loop {
        let c = Container::open(root, id, false)?;
        match c.status() {
            Status::Running => {}
            Status::Paused => bail!("container is paused"),
            _ if once => bail!("container not running"),
            // The stream ends with the container.
            _ => return Ok(()),
        }
        drop(c);
        let v = match rpc::call(&dir, Method::Event, &[], Some(RPC_TIMEOUT)) {
            Ok(v) => v,
            Err(_) if !once && !rpc::available(&dir) => return Ok(()),
            Err(e) => return Err(e.context("cannot read the container's statistics")),
        };
        let s: StatsReply = serde_json::from_value(v).context("malformed reply from the sandbox")?;
        match writeln!(out, "{}", stats_event(id, &s)).and_then(|()| out.flush()) {
            Ok(()) => {}
            // The reader went away (`events | head`): the stream is over.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        if once {
            return Ok(());
        }
        std::thread::sleep(interval);
    }
}

/// Parses a Go-style duration as runc's `--interval` takes it: a number
/// with a unit (ns, us, ms, s, m, h), possibly several (`1m30s`).
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = text.trim();
    if rest.is_empty() {
        bail!("invalid duration {text:?}");
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_end);
        let unit_end = tail.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let n: f64 = num.parse().map_err(|_| anyhow::anyhow!("invalid duration {text:?}"))?;
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => bail!("invalid duration {text:?}: unknown unit {unit:?}"),
        };
        total += Duration::try_from_secs_f64(n * scale).map_err(|_| anyhow::anyhow!("invalid duration {text:?}"))?;
        rest = tail;
    }
    if total.is_zero() {
        bail!("duration must be greater than 0");
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").ok(), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("100ms").ok(), Some(Duration::from_millis(100)));
        assert_eq!(parse_duration("1m30s").ok(), Some(Duration::from_secs(90)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("x").is_err());
    }

    #[test]
    fn table() {
        let rows = vec![ProcessRow {
            pid: 1,
            ppid: 0,
            uid: 0,
            state: 'S',
            start_unix_ns: 3_600_000_000_000,
            cpu_ns: 61_000_000_000,
            tty: 0,
            comm: "sh".into(),
            cmdline: vec!["sh".into(), "-c".into(), "sleep 30".into()],
        }];
        let t = ps_table(&rows, 3_700_000_000_000);
        let mut lines = t.lines();
        assert_eq!(
            lines.next().map(|l| l.split_whitespace().collect::<Vec<_>>()),
            Some(vec!["UID", "PID", "PPID", "C", "TTY", "STIME", "TIME", "CMD"])
        );
        let row: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
        assert_eq!(row, vec!["0", "1", "0", "61", "?", "01:00", "00:01:01", "sh", "-c", "sleep", "30"]);
    }

    #[test]
    fn tty_names() {
        assert_eq!(tty_name(0), "?");
        assert_eq!(tty_name((136 << 8) | 3), "pts/3");
        // pts/300: minor 300 = 44 in the low byte, 1 above bit 20.
        assert_eq!(tty_name((136 << 8) | 44 | (1 << 20)), "pts/300");
        assert_eq!(tty_name((5 << 8) | 1), "console");
        assert_eq!(tty_name((4 << 8) | 1), "tty1");
    }
}
