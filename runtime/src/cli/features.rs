//! `ringfence features`: what this runtime implements, as the runtime-spec
//! features document (features.md) has it, for engines that ask before
//! they generate a config.json.

use ringfence::oci::hooks::Kind;
use ringfence::oci::{linux, process, spec};

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
            "capabilities": &process::CAP_NAMES[..],
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
