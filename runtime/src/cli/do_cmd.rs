//! `ringfence do [FLAGS] -- PROGRAM [ARGS...]`: run one host program in a
//! sandbox, with the caller's environment and stdio.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context as _};

use ringfence::gofer::{self, Gofer, GoferSpec, Launch};
use ringfence::guest::GUEST_IMAGE;
use ringfence::program;
use ringfence::sandbox::{self, SandboxOptions, Status};
use ringfence::size::parse_size;

use super::{GlobalArgs, LogFormat, Platform};

/// Arguments of `do`.
#[derive(Debug, clap::Args)]
pub struct DoArgs {
    /// Guest memory size (e.g. 512M, 1G, or bytes).
    #[arg(long, default_value = "512M", value_parser = parse_memory)]
    pub memory: u64,
    /// Stop the sandbox after SECONDS (exit status 124).
    #[arg(long, value_name = "SECONDS", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
    /// Print VM counters to stderr at the end.
    #[arg(long)]
    pub stats: bool,
    /// The directory served to the sandbox as its root filesystem (default:
    /// the host's /, read-only).
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
    /// Serve the root filesystem writable (default: read-only).
    #[arg(long)]
    pub rw: bool,
    /// Test hook: make the sentry fault after boot (its fatal-error path).
    #[arg(long, hide = true)]
    pub inject_sentry_fault: bool,
    /// The program (a host path; searched on PATH if it has no '/') and its
    /// arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "PROGRAM")]
    pub command: Vec<OsString>,
}

fn parse_memory(s: &str) -> Result<u64, String> {
    parse_size(s).map_err(|e| e.to_string())
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let secs: f64 = s.parse().map_err(|_| format!("invalid timeout {s:?} (seconds expected)"))?;
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("invalid timeout {s:?} (a positive number of seconds expected)"))
}

/// Runs `do`; returns the exit status.
pub fn run(global: &GlobalArgs, args: DoArgs) -> anyhow::Result<u8> {
    let platform = match global.platform() {
        Platform::Kvm => sandbox::SandboxPlatform::Kvm,
        Platform::Ptrace => sandbox::SandboxPlatform::Ptrace,
    };
    let Some((name, rest)) = args.command.split_first() else {
        bail!("no program given");
    };
    // PROGRAM names a file in the container's root (the host's / by
    // default): the sentry resolves it there (PATH search for a bare name)
    // and reads it through the gofer; this process never opens it.
    let prog = program::Program { path: name.into(), bytes: Vec::new() };
    let argv = args.command.iter().map(|a| a.as_bytes().to_vec()).collect::<Vec<_>>();
    debug_assert_eq!(argv.len(), rest.len() + 1);
    let envp = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend(v.into_vec());
            kv
        })
        .collect();
    let root = args.rootfs.as_deref().unwrap_or(Path::new("/"));
    let Some(root) = gofer::rootfs_dir(root) else {
        bail!("--rootfs {}: no such directory", root.display());
    };
    // Killed and reaped when dropped, on every way out of this function.
    let spec = GoferSpec { launch: Launch::Fork, root, readonly: !args.rw, trees: Vec::new() };
    // The gofer starts alongside the VM: the VMM waits for its handshake
    // only when it first needs the socket.
    let (gofer, conn) = Gofer::spawn(&spec).context("cannot start the gofer")?;
    let ready = gofer::handshake_in_background(&conn).context("cannot start the gofer")?;
    let opts = SandboxOptions {
        memory_bytes: args.memory,
        timeout: args.timeout,
        strace: global.debug,
        hostname: b"ringfence".to_vec(),
        inject_sentry_fault: args.inject_sentry_fault,
        // The default root (the host's /) is read-only with writes kept in
        // the sandbox; --rootfs DIR is read-only, or writable with --rw.
        root_overlay: args.rootfs.is_none(),
        gofer: Some(Arc::new(conn)),
        gofer_ready: Some(ready),
        container_block: Vec::new(),
        // The seccomp filter is the VMM's: the ptrace platform needs ptrace,
        // fork and memfd mappings, which it forbids.
        before_run: (platform == sandbox::SandboxPlatform::Kvm).then(|| ringfence::seccomp::before_run(gofer.pid())),
        platform,
        console: false,
        control: None,
    };
    let finished = sandbox::run(GUEST_IMAGE, prog, argv, envp, &opts)?;
    if args.stats {
        if let Some(s) = finished.stats {
            eprintln!(
                "ringfence-stats: exits={} hostcalls={} p9_exchanges={} p9_us={} boot_us={} wall_us={}",
                s.exits,
                s.hostcalls,
                s.p9_exchanges,
                s.p9_ns / 1000,
                s.boot_ns / 1000,
                finished.wall.as_micros()
            );
        }
    }
    match &finished.status {
        Status::SentryPanic(msg) => eprintln!("ringfence: sentry panic: {msg}"),
        Status::TimedOut(d) => eprintln!("ringfence: timed out after {}s", d.as_secs_f64()),
        Status::Exited(_) | Status::Signaled(_) | Status::Interrupted(_) => {}
    }
    drop(gofer);
    Ok(finished.status.exit_code())
}

/// The global flags a ringfence process started by this one (the sandbox
/// process) inherits: where and how to log.
pub fn logging_global_args(global: &GlobalArgs) -> Vec<OsString> {
    let mut args = Vec::new();
    if global.debug {
        args.push("--debug".into());
    }
    if let Some(log) = &global.log {
        args.push("--log".into());
        args.push(log.clone().into_os_string());
    }
    if global.log_format == LogFormat::Json {
        args.push("--log-format".into());
        args.push("json".into());
    }
    if let Some(dir) = &global.debug_log_dir {
        args.push("--debug-log-dir".into());
        args.push(dir.clone().into_os_string());
    }
    args
}
