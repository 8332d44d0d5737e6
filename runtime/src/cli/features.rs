//! `ringfence features`: what this runtime implements, as the runtime-spec
//! features document (features.md) has it, for engines that ask before
//! they generate a config.json.

use ringfence::oci::hooks::Kind;
use ringfence::oci::{linux, spec};

/// Capability names the sandbox's kernel knows (Linux 6.x, up to
/// CAP_CHECKPOINT_RESTORE), in number order.
const CAPABILITIES: &[&str] = &[
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

/// The features document.
pub fn document() -> serde_json::Value {
    let hooks: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
    serde_json::json!({
        // config.rs accepts any 1.x version.
        "ociVersionMin": "1.0.0",
        "ociVersionMax": spec::OCI_VERSION,
        "hooks": hooks,
        // The sandbox provides /proc, /dev and /tmp itself and honours no
        // mount option yet.
        "mountOptions": [],
        "linux": {
            "namespaces": linux::NAMESPACES,
            "capabilities": CAPABILITIES,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": false},
            // linux.seccomp is the container's filter: the sentry serves
            // the container's system calls and does not apply it (the
            // sandbox process has a fixed filter of its own).
            "seccomp": {"enabled": false},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {}
    })
}

/// Prints the document.
pub fn run() -> anyhow::Result<u8> {
    println!("{}", serde_json::to_string_pretty(&document())?);
    Ok(0)
}
