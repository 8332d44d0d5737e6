//! Reading a bundle's config.json (through oci-spec) and checking that the
//! sandbox can honour every field it sets: what it cannot is refused with a
//! message naming the field, never silently dropped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use super::mounts::{self, MountConfig};
use super::process::{self, ProcessConfig};

/// The file a bundle's configuration lives in.
pub const CONFIG_FILE: &str = "config.json";

/// The longest hostname uname can report.
const MAX_HOSTNAME: usize = 64;

/// A config.json that cannot be run: which field, and why.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {field}: {why}")]
pub struct ConfigError {
    /// The config file.
    pub path: String,
    /// The JSON path of the offending field (e.g. `process.user.uid`).
    pub field: String,
    pub why: String,
}

/// What the sandbox runs, taken from a checked config.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerConfig {
    /// `process.args`, `args[0]` resolved by the sentry in the root.
    pub args: Vec<String>,
    /// `process.env`.
    pub env: Vec<String>,
    /// `root.path`, made absolute and canonical.
    pub rootfs: PathBuf,
    /// `root.readonly`.
    pub readonly: bool,
    /// `hostname` (empty when unset).
    pub hostname: String,
    /// `annotations`.
    pub annotations: HashMap<String, String>,
    /// `process.user`, `cwd`, `rlimits`, `capabilities`...
    pub process: ProcessConfig,
    /// `mounts`, in order.
    pub mounts: Vec<MountConfig>,
    /// Guest memory: `linux.resources.memory.limit`, or the default.
    pub memory_bytes: u64,
    /// `hooks` (see `hooks.rs`).
    pub hooks: super::hooks::Hooks,
    /// `linux.namespaces`, `linux.cgroupsPath`, `linux.resources` (see
    /// `linux.rs`).
    pub placement: super::linux::Placement,
    /// `process.terminal`: the container's stdio is a pty whose master goes
    /// to the `--console-socket`.
    pub terminal: bool,
}

/// Guest memory of a container whose config sets no memory limit.
pub const DEFAULT_MEMORY: u64 = 512 << 20;
/// The least memory a sandbox runs in (the sentry's heap and tables).
pub const MIN_MEMORY: u64 = 64 << 20;
/// The most memory a sandbox gets (the VMM's limit).
pub const MAX_MEMORY: u64 = 64 << 30;
/// What the sandbox and gofer processes use on the host besides guest
/// memory (about 14 MiB measured idle, with headroom): the memory limit also
/// becomes the cgroup's, which charges both, so the guest gets the rest.
pub const HOST_OVERHEAD: u64 = 24 << 20;

/// Reads and checks `bundle/config.json` as bytes (so the caller can keep
/// exactly what was checked).
pub fn load_bundle(bundle: &Path) -> Result<(ContainerConfig, Vec<u8>), ConfigError> {
    let path = bundle.join(CONFIG_FILE);
    let shown = path.display().to_string();
    let bytes = std::fs::read(&path).map_err(|e| ConfigError {
        path: shown.clone(),
        field: "(file)".into(),
        why: format!("cannot read: {e}"),
    })?;
    let config = parse(&bytes, bundle).map_err(|(field, why)| ConfigError { path: shown, field, why })?;
    Ok((config, bytes))
}

/// Parses and checks a config.json; relative `root.path` is taken from
/// `bundle`. Errors are (field, why).
pub fn parse(bytes: &[u8], bundle: &Path) -> Result<ContainerConfig, (String, String)> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let spec: Spec = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let field = if field == "." || field == "?" { "(document)".to_owned() } else { field };
        (field, e.into_inner().to_string())
    })?;
    check(&spec, bundle)
}

fn err<T>(field: impl Into<String>, why: impl Into<String>) -> Result<T, (String, String)> {
    Err((field.into(), why.into()))
}

fn check(spec: &Spec, bundle: &Path) -> Result<ContainerConfig, (String, String)> {
    let version = spec.version();
    if !version.starts_with("1.") {
        return err("ociVersion", format!("unsupported version {version:?} (1.x expected)"));
    }
    let Some(process) = spec.process() else {
        return err("process", "missing (ringfence runs one process per container)");
    };
    let args = process.args().clone().unwrap_or_default();
    match args.first() {
        None => return err("process.args", "empty (the program to run is required)"),
        Some(a) if a.is_empty() => return err("process.args[0]", "empty program name"),
        Some(_) => {}
    }
    if let Some(i) = args.iter().position(|a| a.contains('\0')) {
        return err(format!("process.args[{i}]"), "contains a NUL byte");
    }
    let env = process.env().clone().unwrap_or_default();
    for (i, e) in env.iter().enumerate() {
        if !e.contains('=') || e.starts_with('=') || e.contains('\0') {
            return err(format!("process.env[{i}]"), format!("{e:?} is not NAME=value"));
        }
    }
    let process_config = process::check(process)?;
    let Some(root) = spec.root() else {
        return err("root", "missing (the container's root filesystem is required)");
    };
    if root.path().as_os_str().is_empty() {
        return err("root.path", "empty");
    }
    let rootfs = bundle.join(root.path());
    let rootfs = match std::fs::canonicalize(&rootfs) {
        Ok(p) if p.is_dir() => p,
        Ok(_) => return err("root.path", format!("{} is not a directory", rootfs.display())),
        Err(e) => return err("root.path", format!("{}: {e}", rootfs.display())),
    };
    let hostname = spec.hostname().clone().unwrap_or_default();
    if hostname.len() > MAX_HOSTNAME {
        return err("hostname", format!("longer than {MAX_HOSTNAME} bytes"));
    }
    if hostname.contains('\0') {
        return err("hostname", "contains a NUL byte");
    }
    let mounts = mounts::check(spec.mounts().as_deref().unwrap_or_default(), bundle)?;
    let hooks = super::hooks::check(spec)?;
    // Before memory_bytes: it names malformed limits more precisely.
    let placement = super::linux::check_placement(spec)?;
    let memory_bytes = memory_bytes(spec)?;
    Ok(ContainerConfig {
        args,
        env,
        rootfs,
        readonly: root.readonly().unwrap_or(false),
        hostname,
        annotations: spec.annotations().clone().unwrap_or_default(),
        process: process_config,
        mounts,
        memory_bytes,
        hooks,
        placement,
        terminal: process.terminal() == Some(true),
    })
}

/// `linux.resources.memory.limit` as the guest's memory: the limit less
/// [`HOST_OVERHEAD`], rounded down to pages, at most [`MAX_MEMORY`]; below
/// [`MIN_MEMORY`] is an error (the sandbox's kernel lives in the same
/// memory). Unset or -1: the default.
fn memory_bytes(spec: &Spec) -> Result<u64, (String, String)> {
    let limit = spec.linux().as_ref().and_then(|l| l.resources().as_ref()).and_then(|r| r.memory().as_ref());
    let Some(limit) = limit.and_then(|m| m.limit()) else { return Ok(DEFAULT_MEMORY) };
    if limit == -1 {
        return Ok(DEFAULT_MEMORY);
    }
    let Ok(bytes) = u64::try_from(limit) else {
        return err("linux.resources.memory.limit", format!("{limit} is negative"));
    };
    if bytes < MIN_MEMORY + HOST_OVERHEAD {
        return err(
            "linux.resources.memory.limit",
            format!("{bytes} bytes is below the sandbox's minimum of {} MiB", (MIN_MEMORY + HOST_OVERHEAD) >> 20),
        );
    }
    Ok((bytes - HOST_OVERHEAD).min(MAX_MEMORY) & !4095)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> serde_json::Value {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "process": {"terminal": false, "args": ["sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]},
            "root": {"path": "."},
            "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}]
        })
    }

    fn field_of(v: &serde_json::Value) -> String {
        let bytes = serde_json::to_vec(v).unwrap_or_default();
        match parse(&bytes, Path::new("/")) {
            Ok(_) => "ok".into(),
            Err((f, _)) => f,
        }
    }

    #[test]
    fn accepts_the_base() {
        assert_eq!(field_of(&base()), "ok");
    }

    #[test]
    fn names_the_field() {
        let cases: &[(&str, serde_json::Value, &str)] = &[
            ("/process/user/uid", serde_json::json!("x"), "process.user.uid"),
            ("/process/terminal", serde_json::json!("yes"), "process.terminal"),
            ("/process/args", serde_json::json!([]), "process.args"),
            ("/process/cwd", serde_json::json!("rel"), "process.cwd"),
            ("/process/env", serde_json::json!(["NOEQUALS"]), "process.env[0]"),
            ("/root/path", serde_json::json!("/nonexistent-ringfence"), "root.path"),
            ("/mounts/0/type", serde_json::json!("weirdfs"), "mounts[0].type"),
            ("/mounts/0/type", serde_json::json!("sysfs"), "mounts[0].type"),
            ("/ociVersion", serde_json::json!("0.1"), "ociVersion"),
        ];
        for (ptr, value, want) in cases {
            let mut v = base();
            if let Some(slot) = v.pointer_mut(ptr) {
                *slot = value.clone();
            }
            assert_eq!(field_of(&v), *want, "{ptr} = {value}");
        }
    }
}
