//! The commands served through a running container's control channel:
//! `exec`, `ps`, `events`, `pause`, `resume`, `wait`, `debug` (and `kill`,
//! in `oci.rs`). Their failures exit with status 1, as runc's.

use std::path::PathBuf;

use ringfence::oci::control_cmds;
use ringfence::oci::debug;
use ringfence::oci::exec::{self, ExecRequest};
use ringfence::oci::rpc::LogLevel;

use super::oci::IdArgs;
use super::GlobalArgs;

/// Arguments of `exec`.
#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// A runtime-spec `process` JSON file describing the process.
    #[arg(long, short = 'p', value_name = "FILE")]
    pub process: Option<PathBuf>,
    /// Working directory in the container.
    #[arg(long)]
    pub cwd: Option<String>,
    /// Set an environment variable (NAME=VALUE); repeatable.
    #[arg(long, short = 'e', value_name = "NAME=VALUE")]
    pub env: Vec<String>,
    /// UID[:GID] to run as (numeric).
    #[arg(long, short = 'u', value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Additional group ids; repeatable.
    #[arg(long = "additional-gids", short = 'g', value_name = "GID")]
    pub additional_gids: Vec<u32>,
    /// Give the process a terminal (a new pty in the container).
    #[arg(long, short = 't')]
    pub tty: bool,
    /// Unix socket to send the terminal's master to (else, in the
    /// foreground, the caller's terminal is used).
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// Return once the process started instead of waiting for it.
    #[arg(long, short = 'd')]
    pub detach: bool,
    /// Write the process's pid (in the container) to FILE.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// The container id.
    pub id: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// `ps --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PsFormat {
    Table,
    Json,
}

/// Arguments of `ps`.
#[derive(Debug, clap::Args)]
pub struct PsArgs {
    #[arg(long, short = 'f', value_enum, default_value_t = PsFormat::Table)]
    pub format: PsFormat,
    /// The container id.
    pub id: String,
}

/// Arguments of `events`.
#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    /// Print the statistics once and exit.
    #[arg(long)]
    pub stats: bool,
    /// How often to print statistics (a duration such as 5s or 500ms).
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// The container id.
    pub id: String,
}

/// `debug --strace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Strace {
    /// Trace every syscall.
    All,
    Off,
}

/// Arguments of `debug` (runsc's names).
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("action").required(true).multiple(true).args(["stacks", "log_level", "strace"])))]
pub struct DebugArgs {
    /// Print every task of the sandbox (state, syscall, what it waits on,
    /// registers) and the sandbox process's host threads.
    #[arg(long)]
    pub stacks: bool,
    /// Set the sandbox's log level: warning (0), info (1) or debug (2);
    /// debug also traces syscalls, as --debug does.
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub log_level: Option<LogLevel>,
    /// Turn the sentry's syscall tracing on (all) or off.
    #[arg(long, value_enum)]
    pub strace: Option<Strace>,
    /// The container id.
    pub id: String,
}

pub fn exec(global: &GlobalArgs, args: ExecArgs) -> anyhow::Result<u8> {
    exec::exec(&ExecRequest {
        root: global.root.clone(),
        id: args.id,
        process: args.process,
        args: args.command,
        cwd: args.cwd,
        env: args.env,
        user: args.user,
        additional_gids: args.additional_gids,
        detach: args.detach,
        pid_file: args.pid_file,
        tty: args.tty,
        console_socket: args.console_socket,
    })
}

pub fn ps(global: &GlobalArgs, args: PsArgs) -> anyhow::Result<u8> {
    print!("{}", control_cmds::ps(&global.root, &args.id, args.format == PsFormat::Json)?);
    Ok(0)
}

pub fn events(global: &GlobalArgs, args: EventsArgs) -> anyhow::Result<u8> {
    let interval = control_cmds::parse_duration(&args.interval)?;
    control_cmds::events(&global.root, &args.id, args.stats, interval)?;
    Ok(0)
}

pub fn pause(global: &GlobalArgs, args: IdArgs) -> anyhow::Result<u8> {
    control_cmds::pause(&global.root, &args.id)?;
    Ok(0)
}

pub fn resume(global: &GlobalArgs, args: IdArgs) -> anyhow::Result<u8> {
    control_cmds::resume(&global.root, &args.id)?;
    Ok(0)
}

pub fn debug(global: &GlobalArgs, args: DebugArgs) -> anyhow::Result<u8> {
    if args.log_level.is_some() || args.strace.is_some() {
        debug::change_logging(&global.root, &args.id, args.log_level, args.strace.map(|s| s == Strace::All))?;
    }
    if args.stacks {
        print!("{}", debug::stacks(&global.root, &args.id)?);
    }
    Ok(0)
}

/// `wait`: prints `{"id":..,"exitStatus":N}` (as runsc) and exits with N.
pub fn wait(global: &GlobalArgs, args: IdArgs) -> anyhow::Result<u8> {
    let code = control_cmds::wait(&global.root, &args.id)?;
    println!("{}", serde_json::json!({ "id": args.id, "exitStatus": code }));
    Ok(code)
}
