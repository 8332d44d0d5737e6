//! Reading a bundle's config.json (through oci-spec) and checking that the
//! sandbox can honour every field it sets: what it cannot is refused with a
//! message naming the field, never silently dropped.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::{Mount, Spec};

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
    /// `process.terminal`: the container's stdio is a pty whose master goes
    /// to the `--console-socket`.
    pub terminal: bool,
}

/// Mount types whose file system the sandbox provides, with where it
/// provides them (the sentry mounts these itself; see kernel/rootfs.rs).
const PROVIDED: &[(&str, &str)] = &[("proc", "/proc"), ("tmpfs", "/dev"), ("tmpfs", "/tmp"), ("devpts", "/dev/pts")];

/// Mount types the runtime spec knows that the sandbox has no file system
/// for yet.
const NOT_YET: &[&str] = &["sysfs", "mqueue", "cgroup", "cgroup2", "bind", "none", "overlay"];

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
    let cwd = process.cwd();
    if !cwd.is_absolute() {
        return err("process.cwd", format!("{} is not an absolute path", cwd.display()));
    }
    if cwd != Path::new("/") {
        return err("process.cwd", format!("{}: only / is supported yet", cwd.display()));
    }
    let user = process.user();
    if user.uid() != 0 {
        return err("process.user.uid", format!("{}: only uid 0 is supported yet", user.uid()));
    }
    if user.gid() != 0 {
        return err("process.user.gid", format!("{}: only gid 0 is supported yet", user.gid()));
    }
    if user.additional_gids().as_ref().is_some_and(|g| !g.is_empty()) {
        return err("process.user.additionalGids", "not supported yet");
    }
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
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        check_mount(i, m)?;
    }
    if let Some(hooks) = spec.hooks() {
        let any = [
            hooks.prestart().as_ref(),
            hooks.create_runtime().as_ref(),
            hooks.create_container().as_ref(),
            hooks.start_container().as_ref(),
            hooks.poststart().as_ref(),
            hooks.poststop().as_ref(),
        ]
        .into_iter()
        .flatten()
        .any(|h| !h.is_empty());
        if any {
            return err("hooks", "hooks are not supported yet");
        }
    }
    Ok(ContainerConfig {
        args,
        env,
        rootfs,
        readonly: root.readonly().unwrap_or(false),
        hostname,
        annotations: spec.annotations().clone().unwrap_or_default(),
        terminal: process.terminal() == Some(true),
    })
}

fn check_mount(i: usize, m: &Mount) -> Result<(), (String, String)> {
    let dest = m.destination();
    if !dest.is_absolute() || dest.components().any(|c| c == Component::ParentDir) {
        return err(format!("mounts[{i}].destination"), format!("{}: not an absolute, clean path", dest.display()));
    }
    let dest = dest.to_string_lossy();
    let dest = if dest.len() > 1 { dest.trim_end_matches('/') } else { &dest };
    let is_bind = m.options().iter().flatten().any(|o| o == "bind" || o == "rbind");
    let Some(typ) = m.typ().as_deref().filter(|_| !is_bind).or(is_bind.then_some("bind")) else {
        return err(format!("mounts[{i}].type"), format!("missing for {dest} (and no bind option)"));
    };
    if PROVIDED.iter().any(|&(t, d)| t == typ && d == dest) {
        return Ok(());
    }
    if typ == "bind" {
        return err(format!("mounts[{i}]"), format!("bind mount at {dest}: bind mounts are not supported yet"));
    }
    if PROVIDED.iter().any(|&(t, _)| t == typ) || NOT_YET.contains(&typ) {
        let places: Vec<&str> = PROVIDED.iter().filter(|&&(t, _)| t == typ).map(|&(_, d)| d).collect();
        let hint = if places.is_empty() { String::new() } else { format!(" (only at {})", places.join(", ")) };
        return err(format!("mounts[{i}].type"), format!("{typ} at {dest}: not provided by the sandbox yet{hint}"));
    }
    err(format!("mounts[{i}].type"), format!("unknown mount type {typ:?} at {dest}"))
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
            ("/process/user/uid", serde_json::json!(5), "process.user.uid"),
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
