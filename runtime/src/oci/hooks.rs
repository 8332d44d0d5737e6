//! The runtime-spec hooks (config.json `hooks`): programs run on the host
//! at points of the lifecycle, each with the container's state JSON on its
//! stdin, `path` executed with exactly `args` (argv[0] included) and `env`,
//! killed after `timeout` seconds.
//!
//! When each kind runs, and what its failure does (runtime-spec
//! config.md#posix-platform-hooks, and runc, which still runs the
//! deprecated `prestart`):
//!
//! | kind | when | failure |
//! |---|---|---|
//! | prestart, createRuntime | `create`, sandbox process ready | `create` fails, container destroyed |
//! | createContainer | `create`, after createRuntime | same |
//! | startContainer | `start`, before the program runs | `start` fails, container destroyed |
//! | poststart | `start`, after the program was released | warning |
//! | poststop | `delete`, after the sandbox is gone | warning |
//!
//! The sentry has no host binaries to run "in the container", so
//! createContainer and startContainer run on the host like the others.

use std::io::{Read as _, Write as _};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use oci_spec::runtime::{Hook, Spec};

/// The hook kinds, in config.json's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Kind {
    pub const ALL: [Self; 6] = [
        Self::Prestart,
        Self::CreateRuntime,
        Self::CreateContainer,
        Self::StartContainer,
        Self::Poststart,
        Self::Poststop,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Prestart => "prestart",
            Self::CreateRuntime => "createRuntime",
            Self::CreateContainer => "createContainer",
            Self::StartContainer => "startContainer",
            Self::Poststart => "poststart",
            Self::Poststop => "poststop",
        }
    }

    fn of(self, spec: &Spec) -> Vec<Hook> {
        let Some(h) = spec.hooks() else { return Vec::new() };
        #[allow(deprecated)]
        let list = match self {
            Self::Prestart => h.prestart(),
            Self::CreateRuntime => h.create_runtime(),
            Self::CreateContainer => h.create_container(),
            Self::StartContainer => h.start_container(),
            Self::Poststart => h.poststart(),
            Self::Poststop => h.poststop(),
        };
        list.clone().unwrap_or_default()
    }
}

/// A container's hooks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    lists: Vec<(Kind, Vec<Hook>)>,
}

/// Checks config.json's `hooks`: absolute paths, positive timeouts, no NUL
/// bytes, `NAME=value` environment entries.
pub fn check(spec: &Spec) -> Result<Hooks, (String, String)> {
    let mut hooks = Hooks::default();
    for kind in Kind::ALL {
        let list = kind.of(spec);
        for (i, h) in list.iter().enumerate() {
            let field = format!("hooks.{}[{i}]", kind.name());
            if !h.path().is_absolute() {
                return Err((format!("{field}.path"), format!("{}: not an absolute path", h.path().display())));
            }
            if h.timeout().is_some_and(|t| t <= 0) {
                return Err((format!("{field}.timeout"), "must be greater than zero".into()));
            }
            if h.args().iter().flatten().any(|a| a.contains('\0')) {
                return Err((format!("{field}.args"), "contains a NUL byte".into()));
            }
            if let Some(e) = h.env().iter().flatten().find(|e| !e.contains('=') || e.contains('\0')) {
                return Err((format!("{field}.env"), format!("{e:?} is not NAME=value")));
            }
        }
        if !list.is_empty() {
            hooks.lists.push((kind, list));
        }
    }
    Ok(hooks)
}

/// Reads the hooks of the config.json copy in a container's state
/// directory (checked by `create`).
pub fn load(config: &Path) -> anyhow::Result<Hooks> {
    let bytes = std::fs::read(config).with_context(|| format!("cannot read {}", config.display()))?;
    let spec: Spec = serde_json::from_slice(&bytes).with_context(|| format!("corrupt {}", config.display()))?;
    check(&spec).map_err(|(field, why)| anyhow::anyhow!("{}: {field}: {why}", config.display()))
}

impl Hooks {
    /// Whether any hook of `kind` is configured.
    pub fn has(&self, kind: Kind) -> bool {
        self.lists.iter().any(|(k, l)| *k == kind && !l.is_empty())
    }

    /// Runs the hooks of `kind` in order with `state` on stdin; stops at
    /// the first failure.
    pub fn run(&self, kind: Kind, state: &str) -> anyhow::Result<()> {
        for (k, list) in &self.lists {
            if *k != kind {
                continue;
            }
            for (i, hook) in list.iter().enumerate() {
                run_one(hook, state)
                    .with_context(|| format!("{} hook {i} ({})", kind.name(), hook.path().display()))?;
            }
        }
        Ok(())
    }

    /// Runs the hooks of `kind`, warning about failures (poststart,
    /// poststop: the lifecycle goes on).
    pub fn run_warn(&self, kind: Kind, state: &str) {
        for (k, list) in &self.lists {
            if *k != kind {
                continue;
            }
            for (i, hook) in list.iter().enumerate() {
                if let Err(err) = run_one(hook, state) {
                    let path = hook.path().display();
                    tracing::warn!(hook = kind.name(), index = i, %path, "hook failed: {err:#}");
                    eprintln!("ringfence: warning: {} hook {i} ({path}): {err:#}", kind.name());
                }
            }
        }
    }
}

/// Runs one hook to completion.
fn run_one(hook: &Hook, state: &str) -> anyhow::Result<()> {
    let path: PathBuf = hook.path().clone();
    let mut cmd = Command::new(&path);
    let args = hook.args().clone().unwrap_or_default();
    match args.split_first() {
        Some((argv0, rest)) => {
            cmd.arg0(argv0).args(rest);
        }
        None => {
            cmd.arg0(&path);
        }
    }
    cmd.env_clear().envs(hook.env().iter().flatten().filter_map(|e| e.split_once('=')));
    // stdout and stderr share one pipe, read on a thread: a hook writing
    // much to either never blocks on the other.
    let (mut reader, writer) = std::io::pipe().context("cannot create a pipe")?;
    cmd.stdin(Stdio::piped()).stdout(writer.try_clone().context("cannot create a pipe")?).stderr(writer);
    let spawned = cmd.spawn();
    // The command holds the pipe's write ends until dropped.
    drop(cmd);
    let mut child = spawned.context("cannot execute it")?;
    // A hook that does not read its stdin makes this fail with EPIPE: fine.
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(state.as_bytes());
    }
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = reader.read_to_end(&mut text);
        let _ = tx.send(String::from_utf8_lossy(&text).into_owned());
    });
    let timeout = hook.timeout().and_then(|t| u64::try_from(t).ok()).map(Duration::from_secs);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().context("cannot wait for it")? {
            break status;
        }
        if timeout.is_some_and(|t| started.elapsed() >= t) {
            let _ = child.kill();
            let _ = child.wait();
            bail!("timed out after {}s", timeout.map_or(0, |t| t.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    // A background process the hook left holding the pipe must not hold us.
    let output = rx.recv_timeout(Duration::from_millis(200)).unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    let how = match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        _ => status.to_string(),
    };
    let output = output.trim();
    if output.is_empty() {
        bail!("{how}");
    }
    bail!("{how}: {output}")
}
