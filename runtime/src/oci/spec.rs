//! `ringfence spec`: the default config.json, as `runc spec` writes it but
//! limited to what the sandbox runs today (only the mounts the sandbox
//! provides), so that the file it writes is accepted as is.
//!
//! `runc spec` writes `terminal: true`; this one keeps it false: a
//! terminal needs `--console-socket` for `create` and `run -d`, and a
//! foreground `run` without one would have to relay its own terminal,
//! which ringfence does not do yet, so the default file would not run.

use std::io::Write as _;
use std::path::Path;

use super::config::CONFIG_FILE;

/// The runtime-spec version ringfence writes and reports.
pub const OCI_VERSION: &str = "1.2.0";

/// The default configuration: `sh` in `rootfs/`, read-only root.
pub fn default_spec() -> serde_json::Value {
    serde_json::json!({
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "ringfence",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]
        }
    })
}

/// Writes the default config.json into `bundle`; refuses to overwrite one
/// (as runc does).
pub fn write_default(bundle: &Path) -> anyhow::Result<()> {
    let path = bundle.join(CONFIG_FILE);
    let mut text = serde_json::to_vec_pretty(&default_spec())?;
    text.push(b'\n');
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).open(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow::anyhow!("File {} exists. Remove it first", path.display())
        } else {
            anyhow::anyhow!("cannot create {}: {e}", path.display())
        }
    })?;
    file.write_all(&text).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}
