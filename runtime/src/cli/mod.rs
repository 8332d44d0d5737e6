//! The command line: global flags, one file per command.

pub mod control;
pub mod do_cmd;
pub mod gofer;
pub mod oci;

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::EnvFilter;

/// ringfence: a sandboxed OCI container runtime.
#[derive(Debug, Parser)]
#[command(name = "ringfence", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, clap::Args)]
pub struct GlobalArgs {
    /// Debug logging, and trace the sandboxed program's syscalls to stderr.
    #[arg(long, global = true)]
    pub debug: bool,
    /// Write logs to FILE instead of stderr.
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// Log line format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Directory for container state.
    #[arg(long, global = true, default_value = "/run/ringfence")]
    pub root: PathBuf,
    /// Where the sandbox runs.
    #[arg(long, global = true, value_enum, default_value_t = Platform::Kvm)]
    pub platform: Platform,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `--platform`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Platform {
    /// The sentry in a KVM virtual machine.
    Kvm,
    /// The sentry in a process, the program in a ptrace'd stub.
    Ptrace,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one program in a sandbox, without a bundle.
    #[command(name = "do")]
    Do(do_cmd::DoArgs),
    /// Write a default config.json into a bundle.
    Spec(oci::SpecArgs),
    /// Create a container from a bundle; its process waits for `start`.
    Create(oci::CreateArgs),
    /// Start a created container.
    Start(oci::IdArgs),
    /// Create and start a container; wait for it unless --detach.
    Run(oci::RunArgs),
    /// Print a container's state (runtime-spec JSON).
    State(oci::IdArgs),
    /// List the containers.
    List(oci::ListArgs),
    /// Send a signal to a container.
    Kill(oci::KillArgs),
    /// Delete a container.
    Delete(oci::DeleteArgs),
    /// Run a new process in a running container.
    Exec(control::ExecArgs),
    /// List a container's processes.
    Ps(control::PsArgs),
    /// Print a container's statistics (JSON lines).
    Events(control::EventsArgs),
    /// Suspend all processes of a container.
    Pause(oci::IdArgs),
    /// Resume a paused container.
    Resume(oci::IdArgs),
    /// Wait for a container to exit; print and return its exit status.
    Wait(oci::IdArgs),
    /// Internal: the gofer process, started by the runtime itself.
    #[command(hide = true)]
    Gofer(gofer::GoferArgs),
    /// Internal: a container's sandbox process, started by `create`.
    #[command(hide = true)]
    Boot(oci::BootArgs),
}

/// Environment variable overriding the log filter (tracing `EnvFilter` syntax).
const LOG_ENV: &str = "RINGFENCE_LOG";

/// Sets up `tracing` as the global flags ask.
pub fn init_logging(global: &GlobalArgs) -> anyhow::Result<()> {
    let default = if global.debug { "debug" } else { "warn" };
    let filter = match std::env::var(LOG_ENV) {
        Ok(spec) if !spec.is_empty() => {
            EnvFilter::try_new(&spec).with_context(|| format!("invalid {LOG_ENV} {spec:?}"))?
        }
        _ => EnvFilter::new(default),
    };
    let (writer, ansi) = match &global.log {
        Some(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("cannot open log file {}", path.display()))?;
            (BoxMakeWriter::new(Mutex::new(file)), false)
        }
        // Colours only for a person at a terminal, never into pipes or files.
        None => (BoxMakeWriter::new(std::io::stderr), std::io::IsTerminal::is_terminal(&std::io::stderr())),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi && global.log_format == LogFormat::Text);
    let result = match global.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))
}

/// Runs the parsed command line; returns the exit status.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    init_logging(&cli.global)?;
    match cli.command {
        Command::Do(args) => do_cmd::run(&cli.global, args),
        Command::Gofer(args) => gofer::run(args),
        Command::Boot(args) => oci::boot(&cli.global, args),
        Command::Spec(args) => Ok(oci::runc_status(oci::spec_cmd(args))),
        Command::Create(args) => Ok(oci::runc_status(oci::create(&cli.global, args))),
        Command::Start(args) => Ok(oci::runc_status(oci::start(&cli.global, args))),
        Command::Run(args) => Ok(oci::runc_status(oci::run(&cli.global, args))),
        Command::State(args) => Ok(oci::runc_status(oci::state(&cli.global, args))),
        Command::List(args) => Ok(oci::runc_status(oci::list(&cli.global, args))),
        Command::Kill(args) => Ok(oci::runc_status(oci::kill(&cli.global, args))),
        Command::Delete(args) => Ok(oci::runc_status(oci::delete(&cli.global, args))),
        Command::Exec(args) => Ok(oci::runc_status(control::exec(&cli.global, args))),
        Command::Ps(args) => Ok(oci::runc_status(control::ps(&cli.global, args))),
        Command::Events(args) => Ok(oci::runc_status(control::events(&cli.global, args))),
        Command::Pause(args) => Ok(oci::runc_status(control::pause(&cli.global, args))),
        Command::Resume(args) => Ok(oci::runc_status(control::resume(&cli.global, args))),
        Command::Wait(args) => Ok(oci::runc_status(control::wait(&cli.global, args))),
    }
}
