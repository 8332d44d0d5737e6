//! The `process` fields of a config.json that say how the container's
//! process starts: user, cwd, umask, rlimits, capabilities,
//! noNewPrivileges, oomScoreAdj, and the LSM labels (as runsc: SELinux is
//! refused, an AppArmor profile is ignored with a warning, since the
//! sandbox's own kernel applies neither).

use std::path::{Component, Path};

use oci_spec::runtime::{Capabilities, Process};

/// `RLIMIT_NOFILE`'s largest hard limit (Linux's default `fs.nr_open`; the
/// sentry enforces the same).
const NR_OPEN: u64 = 1 << 20;

/// Capability names in Linux's numbering (capability.h), up to
/// CAP_CHECKPOINT_RESTORE: the ones the sandbox's kernel knows (also what
/// `features` reports).
pub const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Resource names in Linux's numbering (resource.h).
const RLIMIT_NAMES: [&str; 16] = [
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
    "RLIMIT_CORE",
    "RLIMIT_RSS",
    "RLIMIT_NPROC",
    "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_AS",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
];

/// Capability masks, Linux bit numbering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapMasks {
    pub bounding: u64,
    pub effective: u64,
    pub inheritable: u64,
    pub permitted: u64,
    pub ambient: u64,
}

/// How the container's process starts, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessConfig {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// `process.user.umask` (Linux's 022 when unset, as runc).
    pub umask: u32,
    /// `process.cwd`: absolute, normalised.
    pub cwd: String,
    /// (resource number, soft, hard).
    pub rlimits: Vec<(u32, u64, u64)>,
    /// `None`: no `capabilities` object (root keeps the default set).
    pub caps: Option<CapMasks>,
    pub no_new_privileges: bool,
    pub oom_score_adj: Option<i32>,
    /// Said once at create (fields accepted but without effect).
    pub warnings: Vec<String>,
}

type Checked<T> = Result<T, (String, String)>;

fn err<T>(field: impl Into<String>, why: impl Into<String>) -> Checked<T> {
    Err((field.into(), why.into()))
}

/// Checks the fields of `process` this module owns.
pub fn check(process: &Process) -> Checked<ProcessConfig> {
    let cwd = process.cwd();
    if !cwd.is_absolute() {
        return err("process.cwd", format!("{} is not an absolute path", cwd.display()));
    }
    let Some(cwd_str) = cwd.to_str().filter(|s| !s.contains('\0')) else {
        return err("process.cwd", "not valid UTF-8 or contains a NUL byte");
    };
    let cwd = normalise(cwd_str);
    let user = process.user();
    let umask = user.umask().unwrap_or(0o022);
    if umask > 0o777 {
        return err("process.user.umask", format!("{umask:#o} is not a file mode mask"));
    }
    if user.username().as_ref().is_some_and(|u| !u.is_empty()) {
        return err("process.user.username", "only for Windows containers");
    }
    let additional_gids = user.additional_gids().clone().unwrap_or_default();
    if additional_gids.len() > 65536 {
        return err("process.user.additionalGids", "more than NGROUPS_MAX (65536) groups");
    }
    let rlimits = rlimits(process)?;
    let caps = cap_masks(process)?;
    let oom_score_adj = process.oom_score_adj();
    if let Some(adj) = oom_score_adj {
        if !(-1000..=1000).contains(&adj) {
            return err("process.oomScoreAdj", format!("{adj} is outside -1000..=1000"));
        }
    }
    // As runsc: SELinux cannot be honoured and is refused; AppArmor (which
    // Docker sets by default) is ignored with a warning.
    if process.selinux_label().as_ref().is_some_and(|l| !l.is_empty()) {
        return err("process.selinuxLabel", "SELinux is not supported by the sandbox");
    }
    let mut warnings = Vec::new();
    if let Some(profile) = process.apparmor_profile().as_ref().filter(|p| !p.is_empty()) {
        warnings.push(format!("process.apparmorProfile {profile:?} is ignored (the sandbox's kernel has no AppArmor)"));
    }
    Ok(ProcessConfig {
        uid: user.uid(),
        gid: user.gid(),
        additional_gids,
        umask,
        cwd,
        rlimits,
        caps,
        no_new_privileges: process.no_new_privileges().unwrap_or(false),
        oom_score_adj,
        warnings,
    })
}

/// `process.capabilities` as masks; `None` when absent.
pub fn cap_masks(process: &Process) -> Checked<Option<CapMasks>> {
    Ok(match process.capabilities() {
        None => None,
        Some(c) => {
            let mask = |set: &Option<Capabilities>, name: &str| -> Checked<u64> {
                let mut m = 0u64;
                for cap in set.iter().flatten() {
                    let text = serde_json::to_value(cap).ok().and_then(|v| v.as_str().map(str::to_owned));
                    match text.as_deref().and_then(|t| CAP_NAMES.iter().position(|n| *n == t)) {
                        Some(bit) => m |= 1 << bit,
                        None => {
                            return err(format!("process.capabilities.{name}"), format!("unknown capability {text:?}"))
                        }
                    }
                }
                Ok(m)
            };
            Some(CapMasks {
                bounding: mask(c.bounding(), "bounding")?,
                effective: mask(c.effective(), "effective")?,
                inheritable: mask(c.inheritable(), "inheritable")?,
                permitted: mask(c.permitted(), "permitted")?,
                ambient: mask(c.ambient(), "ambient")?,
            })
        }
    })
}

fn rlimits(process: &Process) -> Checked<Vec<(u32, u64, u64)>> {
    let mut out: Vec<(u32, u64, u64)> = Vec::new();
    for (i, r) in process.rlimits().iter().flatten().enumerate() {
        let field = format!("process.rlimits[{i}]");
        let text = serde_json::to_value(r.typ()).ok().and_then(|v| v.as_str().map(str::to_owned));
        let Some(res) = text.as_deref().and_then(|t| RLIMIT_NAMES.iter().position(|n| *n == t)) else {
            return err(format!("{field}.type"), format!("unknown resource {text:?}"));
        };
        let res = u32::try_from(res).unwrap_or(u32::MAX);
        if r.soft() > r.hard() {
            return err(field, format!("soft limit {} above hard limit {}", r.soft(), r.hard()));
        }
        if RLIMIT_NAMES.get(res as usize) == Some(&"RLIMIT_NOFILE") && r.hard() > NR_OPEN {
            return err(format!("{field}.hard"), format!("{} is above RLIMIT_NOFILE's maximum {NR_OPEN}", r.hard()));
        }
        if out.iter().any(|&(x, _, _)| x == res) {
            return err(format!("{field}.type"), format!("{} given twice", RLIMIT_NAMES[res as usize]));
        }
        out.push((res, r.soft(), r.hard()));
    }
    Ok(out)
}

/// `/a/./b//c/` → `/a/b/c` (`..` is kept for the sentry to resolve inside
/// the container, as a chdir would).
fn normalise(path: &str) -> String {
    let mut out = String::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => {
                out.push('/');
                out.push_str(&n.to_string_lossy());
            }
            Component::ParentDir => out.push_str("/.."),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_linux_numbers() {
        assert_eq!(CAP_NAMES.iter().position(|n| *n == "CAP_SYS_ADMIN"), Some(21));
        assert_eq!(CAP_NAMES.iter().position(|n| *n == "CAP_AUDIT_WRITE"), Some(29));
        assert_eq!(RLIMIT_NAMES.iter().position(|n| *n == "RLIMIT_NOFILE"), Some(7));
        assert_eq!(normalise("/a/./b//c/"), "/a/b/c");
        assert_eq!(normalise("/"), "/");
    }
}
