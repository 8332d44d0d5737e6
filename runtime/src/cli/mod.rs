//! The command line: global flags, one file per command.

pub mod control;
pub mod do_cmd;
pub mod features;
pub mod gofer;
pub mod logging;
pub mod oci;

use std::fs::OpenOptions;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

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
    /// Also write a debug-level log of every ringfence process (command,
    /// sandbox, gofer) to a file of its own in DIR.
    #[arg(long, global = true, value_name = "DIR")]
    pub debug_log_dir: Option<PathBuf>,
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
    /// Print what this runtime implements (runtime-spec features JSON).
    Features,
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
    /// Show a running sandbox's tasks, change what it logs (as runsc).
    Debug(control::DebugArgs),
    /// Internal: the gofer process, started by the runtime itself.
    #[command(hide = true)]
    Gofer(gofer::GoferArgs),
}

/// Runs the parsed command line; returns the exit status.
pub fn run(cli: Cli) -> anyhow::Result<u8> {
    logging::init(&cli.global, command_name(&cli.command))?;
    let g = &cli.global;
    match cli.command {
        Command::Do(args) => do_cmd::run(g, args),
        Command::Gofer(args) => gofer::run(args),
        Command::Features => Ok(oci::runc_status(features::run())),
        Command::Spec(args) => Ok(oci::runc_status(oci::spec_cmd(args))),
        Command::Create(args) => Ok(oci::runc_status(oci::create(g, args))),
        Command::Start(args) => Ok(oci::runc_status(oci::start(g, args))),
        Command::Run(args) => Ok(oci::runc_status(oci::run(g, args))),
        Command::State(args) => Ok(oci::runc_status(oci::state(g, args))),
        Command::List(args) => Ok(oci::runc_status(oci::list(g, args))),
        Command::Kill(args) => Ok(oci::runc_status(oci::kill(g, args))),
        Command::Delete(args) => Ok(oci::runc_status(oci::delete(g, args))),
        Command::Exec(args) => {
            use anyhow::Context as _;
            Ok(oci::failure_status(control::exec(g, args).context("exec failed"), 255))
        }
        Command::Ps(args) => Ok(oci::runc_status(control::ps(g, args))),
        Command::Events(args) => Ok(oci::runc_status(control::events(g, args))),
        Command::Pause(args) => Ok(oci::runc_status(control::pause(g, args))),
        Command::Resume(args) => Ok(oci::runc_status(control::resume(g, args))),
        Command::Wait(args) => Ok(oci::runc_status(control::wait(g, args))),
        Command::Debug(args) => Ok(oci::runc_status(control::debug(g, args))),
    }
}

fn command_name(c: &Command) -> &'static str {
    match c {
        Command::Do(_) => "do",
        Command::Spec(_) => "spec",
        Command::Create(_) => "create",
        Command::Start(_) => "start",
        Command::Run(_) => "run",
        Command::State(_) => "state",
        Command::List(_) => "list",
        Command::Kill(_) => "kill",
        Command::Delete(_) => "delete",
        Command::Features => "features",
        Command::Exec(_) => "exec",
        Command::Ps(_) => "ps",
        Command::Events(_) => "events",
        Command::Pause(_) => "pause",
        Command::Resume(_) => "resume",
        Command::Wait(_) => "wait",
        Command::Debug(_) => "debug",
        Command::Gofer(_) => "gofer",
    }
}
