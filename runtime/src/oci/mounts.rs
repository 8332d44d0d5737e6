//! The `mounts` of a config.json, checked against what the sandbox
//! provides (the sentry makes them, see guest-kernel/sentry/src/kernel/
//! mounts.rs; bind mounts are served by the gofer):
//!
//! * `tmpfs`: options `size=` (bytes, k, m, g), `mode=` (octal), `nosuid`,
//!   `nodev`, `noexec`, `rw`; `ro` and the other tmpfs options (`uid=`,
//!   `nr_inodes=`...) are refused.
//! * `proc`: `nosuid`, `nodev`, `noexec`, `rw`.
//! * bind mounts (a `bind`/`rbind` option, any type): a host directory, `ro`
//!   or `rw`; `rbind` binds only the top mount (the gofer does not cross
//!   the host's mounts below it). Files are refused for now.
//! * `devpts`: the sandbox's devpts (its usual options accepted).
//! * `sysfs`, `mqueue`, `cgroup`, `cgroup2`: refused, naming the
//!   mount (the sandbox has no such filesystem yet; an empty stand-in would
//!   mislead programs that read it).
//!
//! Atime and propagation options (`relatime`, `strictatime`, `rprivate`...)
//! are accepted and have no effect (the sandbox has one mount namespace of
//! its own and does not track atime). Unknown options are refused, as
//! mount(2) refuses unknown filesystem options.

use std::path::{Component, Path, PathBuf};

use oci_spec::runtime::Mount;

/// Mounts a config may have (the sentry's limit).
const MAX_MOUNTS: usize = 200;
/// Options that change nothing in the sandbox.
const NO_EFFECT: &[&str] = &[
    "defaults",
    "atime",
    "noatime",
    "relatime",
    "norelatime",
    "strictatime",
    "nostrictatime",
    "diratime",
    "nodiratime",
    "lazytime",
    "nolazytime",
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
    "suid",
    "dev",
    "exec",
    "async",
    "sync",
];

/// What a mount is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    Tmpfs {
        size: u64,
        mode: u32,
    },
    Proc,
    /// A host directory served by the gofer under `name`.
    Bind {
        source: PathBuf,
        name: String,
    },
    Devpts,
}

/// One checked mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountConfig {
    pub kind: MountKind,
    pub destination: String,
    pub readonly: bool,
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
}

type Checked<T> = Result<T, (String, String)>;

fn err<T>(field: impl Into<String>, why: impl Into<String>) -> Checked<T> {
    Err((field.into(), why.into()))
}

/// Checks `mounts` (relative bind sources are taken from `bundle`).
pub fn check(mounts: &[Mount], bundle: &Path) -> Checked<Vec<MountConfig>> {
    if mounts.len() > MAX_MOUNTS {
        return err("mounts", format!("more than {MAX_MOUNTS} mounts"));
    }
    mounts.iter().enumerate().map(|(i, m)| check_one(i, m, bundle)).collect()
}

fn check_one(i: usize, m: &Mount, bundle: &Path) -> Checked<MountConfig> {
    let dest = m.destination();
    if !dest.is_absolute() || dest.components().any(|c| c == Component::ParentDir) {
        return err(format!("mounts[{i}].destination"), format!("{}: not an absolute, clean path", dest.display()));
    }
    let Some(dest) = dest.to_str().filter(|d| !d.contains('\0')) else {
        return err(format!("mounts[{i}].destination"), "not valid UTF-8 or contains a NUL byte");
    };
    let dest = normalise(dest);
    if dest == "/" {
        return err(format!("mounts[{i}].destination"), "cannot mount over the root");
    }
    let options: Vec<&str> = m.options().iter().flatten().map(String::as_str).collect();
    let is_bind = options.iter().any(|o| *o == "bind" || *o == "rbind");
    let typ = m.typ().as_deref().unwrap_or("");
    let mut c = MountConfig {
        kind: MountKind::Proc,
        destination: dest.clone(),
        readonly: false,
        nosuid: false,
        nodev: false,
        noexec: false,
    };
    let opts_field = format!("mounts[{i}].options");
    let mut size = 0;
    let mut mode = 0;
    for o in &options {
        match *o {
            "ro" => c.readonly = true,
            "rw" => c.readonly = false,
            "nosuid" => c.nosuid = true,
            "nodev" => c.nodev = true,
            "noexec" => c.noexec = true,
            "bind" | "rbind" if is_bind => {}
            o if NO_EFFECT.contains(&o) => {}
            o if typ == "tmpfs" && !is_bind && o.starts_with("size=") => {
                size = parse_size(&o[5..]).ok_or_else(|| (opts_field.clone(), format!("{o}: not a size")))?;
            }
            o if typ == "tmpfs" && !is_bind && o.starts_with("mode=") => {
                mode = u32::from_str_radix(&o[5..], 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| (opts_field.clone(), format!("{o}: not an octal mode")))?;
            }
            // devpts's usual options (the sentry's devpts has these modes).
            o if typ == "devpts" && ["newinstance", "ptmxmode=0666", "mode=0620", "mode=620", "gid=5"].contains(&o) => {
            }
            o => return err(opts_field, format!("{o:?} is not supported for {typ} at {dest}")),
        }
    }
    c.kind = if is_bind {
        let Some(source) = m.source() else {
            return err(format!("mounts[{i}].source"), format!("missing for the bind mount at {dest}"));
        };
        let source = bundle.join(source);
        let source = std::fs::canonicalize(&source)
            .map_err(|e| (format!("mounts[{i}].source"), format!("{}: {e}", source.display())))?;
        if !source.is_dir() {
            return err(
                format!("mounts[{i}].source"),
                format!("{}: bind mounts of files are not supported yet (only directories)", source.display()),
            );
        }
        if source.to_str().is_none() {
            return err(format!("mounts[{i}].source"), "not valid UTF-8");
        }
        MountKind::Bind { source, name: format!("m{i}") }
    } else {
        let field = format!("mounts[{i}].type");
        match typ {
            "tmpfs" if c.readonly => return err(opts_field, format!("ro is not supported for tmpfs at {dest}")),
            "tmpfs" => MountKind::Tmpfs { size, mode },
            "proc" if c.readonly => return err(opts_field, format!("ro is not supported for proc at {dest}")),
            "proc" => MountKind::Proc,
            // The sandbox has one devpts instance (newinstance or not).
            "devpts" => MountKind::Devpts,
            "sysfs" => return err(field, format!("sysfs at {dest}: not provided by the sandbox (remove this mount)")),
            "mqueue" => {
                return err(field, format!("mqueue at {dest}: not provided by the sandbox (no POSIX message queues)"))
            }
            "cgroup" | "cgroup2" => {
                return err(field, format!("{typ} at {dest}: not provided by the sandbox (remove this mount)"))
            }
            "" => return err(field, format!("missing for {dest} (and no bind option)")),
            _ => return err(field, format!("unknown mount type {typ:?} at {dest}")),
        }
    };
    Ok(c)
}

/// `64m`, `65536k`, `1g`, `4096` → bytes (tmpfs's size= syntax; `%` is
/// refused: a share of memory is not what the config should depend on).
fn parse_size(s: &str) -> Option<u64> {
    let (num, mult) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1 << 10),
        b'm' | b'M' => (&s[..s.len() - 1], 1 << 20),
        b'g' | b'G' => (&s[..s.len() - 1], 1 << 30),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult).filter(|&n| n > 0)
}

fn normalise(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536k"), Some(64 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("50%"), None);
        assert_eq!(parse_size("0"), None);
        assert_eq!(normalise("/a//b/./c/"), "/a/b/c");
    }
}
