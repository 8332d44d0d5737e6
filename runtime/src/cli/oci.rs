//! The OCI commands, as runc has them: `spec`, `create`, `start`, `run`,
//! `state`, `list`, `kill`, `delete`, and the internal `boot` (the sandbox
//! process `create` starts). Their failures exit with status 1, as runc's.

use std::path::PathBuf;

use ringfence::oci::commands::{self, CreateRequest};
use ringfence::oci::spec;

use super::GlobalArgs;

/// Arguments of `spec`.
#[derive(Debug, clap::Args)]
pub struct SpecArgs {
    /// The bundle directory to write config.json into.
    #[arg(long, short = 'b', default_value = ".")]
    pub bundle: PathBuf,
}

/// Arguments of `create` (and, with `--detach`, `run`).
#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The bundle directory (holding config.json).
    #[arg(long, short = 'b', default_value = ".")]
    pub bundle: PathBuf,
    /// Write the sandbox process's pid to FILE.
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Pass N extra descriptors (3 to 3+N-1) to the container's process,
    /// as its fds 3 to 3+N-1.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
    /// A unix socket to send the pty master to, when the config asks for a
    /// terminal (process.terminal).
    #[arg(long, value_name = "PATH")]
    pub console_socket: Option<PathBuf>,
    /// The container id.
    pub id: String,
}

/// Arguments of `run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Return once the container started instead of waiting for it.
    #[arg(long, short = 'd')]
    pub detach: bool,
}

/// Commands taking only an id.
#[derive(Debug, clap::Args)]
pub struct IdArgs {
    /// The container id.
    pub id: String,
}

/// `list --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

/// Arguments of `list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[arg(long, short = 'f', value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
    /// Print only the ids.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Arguments of `kill`.
#[derive(Debug, clap::Args)]
pub struct KillArgs {
    /// The container id.
    pub id: String,
    /// A signal name (TERM, SIGKILL) or number.
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
    /// Signal every process of the container, not only its init.
    #[arg(long, short = 'a')]
    pub all: bool,
}

/// Arguments of `delete`.
#[derive(Debug, clap::Args)]
pub struct DeleteArgs {
    /// Kill a running container first.
    #[arg(long, short = 'f')]
    pub force: bool,
    /// The container id.
    pub id: String,
}

/// Arguments of `boot`.
#[derive(Debug, clap::Args)]
pub struct BootArgs {
    /// The bundle (relative root.path is taken from it).
    #[arg(long)]
    pub bundle: PathBuf,
    /// How many descriptors `create` sends on the ready socket.
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Report ready before the gofer has answered (a foreground `run`,
    /// which starts the container at once): a gofer that did not start
    /// ends the run at the first file access instead of failing `create`.
    #[arg(long)]
    pub late_gofer_check: bool,
    /// The container id.
    pub id: String,
}

/// Prints an OCI command's failure and maps it to exit status 1. The
/// failure is logged too: with `--log FILE --log-format json`, containerd's
/// shim reads it back from there, as from runc's log.
pub fn runc_status(result: anyhow::Result<u8>) -> u8 {
    failure_status(result, 1)
}

/// As [`runc_status`], with status `code` for a failure (runc's `exec`
/// fails with 255, its message starting "exec failed: ").
pub fn failure_status(result: anyhow::Result<u8>, code: u8) -> u8 {
    result.unwrap_or_else(|err| {
        if super::logging::to_file() {
            tracing::error!("{err:#}");
        }
        eprintln!("ringfence: {err:#}");
        code
    })
}

fn request(global: &GlobalArgs, args: CreateArgs) -> CreateRequest {
    // The sandbox process (`boot`) runs on the platform chosen here.
    let mut global_args = super::do_cmd::logging_global_args(global);
    global_args.push("--platform".into());
    global_args.push(match global.platform() {
        super::Platform::Kvm => "kvm".into(),
        super::Platform::Ptrace => "ptrace".into(),
    });
    CreateRequest {
        root: global.root.clone(),
        id: args.id,
        bundle: args.bundle,
        pid_file: args.pid_file,
        console_socket: args.console_socket,
        global_args,
        preserve_fds: args.preserve_fds,
    }
}

pub fn spec_cmd(args: SpecArgs) -> anyhow::Result<u8> {
    spec::write_default(&args.bundle)?;
    Ok(0)
}

pub fn create(global: &GlobalArgs, args: CreateArgs) -> anyhow::Result<u8> {
    commands::create(&request(global, args))?;
    Ok(0)
}

pub fn run(global: &GlobalArgs, args: RunArgs) -> anyhow::Result<u8> {
    commands::run(&request(global, args.create), args.detach)
}

pub fn start(global: &GlobalArgs, args: IdArgs) -> anyhow::Result<u8> {
    commands::start(&global.root, &args.id)?;
    Ok(0)
}

pub fn state(global: &GlobalArgs, args: IdArgs) -> anyhow::Result<u8> {
    println!("{}", commands::state(&global.root, &args.id)?);
    Ok(0)
}

pub fn list(global: &GlobalArgs, args: ListArgs) -> anyhow::Result<u8> {
    if args.quiet {
        for id in ringfence::oci::state::list_ids(&global.root)? {
            println!("{id}");
        }
        return Ok(0);
    }
    let out = commands::list(&global.root, args.format == ListFormat::Json)?;
    print!("{out}");
    if args.format == ListFormat::Json {
        println!();
    }
    Ok(0)
}

pub fn kill(global: &GlobalArgs, args: KillArgs) -> anyhow::Result<u8> {
    let sig = commands::parse_signal(&args.signal)?;
    commands::kill(&global.root, &args.id, sig, args.all)?;
    Ok(0)
}

pub fn delete(global: &GlobalArgs, args: DeleteArgs) -> anyhow::Result<u8> {
    commands::delete(&global.root, &args.id, args.force)?;
    Ok(0)
}

pub fn boot(global: &GlobalArgs, args: BootArgs) -> anyhow::Result<u8> {
    let platform = match global.platform() {
        super::Platform::Kvm => ringfence::sandbox::SandboxPlatform::Kvm,
        super::Platform::Ptrace => ringfence::sandbox::SandboxPlatform::Ptrace,
    };
    commands::boot(
        &global.root,
        &args.id,
        &args.bundle,
        global.debug,
        platform,
        args.preserve_fds,
        args.late_gofer_check,
    )
}
