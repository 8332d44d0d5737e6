//! The command line: global flags, one file per command.

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
    /// Where the sandbox runs (default: kvm where /dev/kvm can run a
    /// guest, ptrace otherwise).
    #[arg(long, global = true, value_enum)]
    pub platform: Option<Platform>,
}

impl GlobalArgs {
    /// `--platform`, or the default for this host (with a one-line notice
    /// when KVM is not usable).
    pub fn platform(&self) -> Platform {
        if let Some(p) = self.platform {
            return p;
        }
        if kvm_usable() {
            Platform::Kvm
        } else {
            eprintln!("ringfence: /dev/kvm is not usable here, running on the ptrace platform");
            Platform::Ptrace
        }
    }
}

/// Whether /dev/kvm opens read-write and speaks the stable KVM API.
fn kvm_usable() -> bool {
    use std::os::fd::AsRawFd;
    const KVM_GET_API_VERSION: libc::c_ulong = 0xae00;
    let Ok(kvm) = OpenOptions::new().read(true).write(true).open("/dev/kvm") else { return false };
    // SAFETY: KVM_GET_API_VERSION takes no argument and only returns a number.
    #[allow(unsafe_code)]
    let v = unsafe { libc::ioctl(kvm.as_raw_fd(), KVM_GET_API_VERSION, 0) };
    v == 12
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
    }
}
