//! The container block ([`abi::container`]) the sentry reads the config's
//! process and mounts from, and the trees the gofer serves for the bind
//! mounts.

use abi::container as cb;

use super::config::ContainerConfig;
use super::mounts::{MountConfig, MountKind};

/// Encodes what the sentry needs of `cfg`; `preserved` are the handles of
/// the `--preserve-fds` descriptors (see `preserve.rs`).
pub fn container_block(cfg: &ContainerConfig, preserved: &[u32]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut w = cb::Writer::new(|b: &[u8]| out.extend_from_slice(b));
    write_block(&mut w, cfg);
    if !preserved.is_empty() {
        let handles: Vec<u8> = preserved.iter().flat_map(|h| h.to_le_bytes()).collect();
        w.record(cb::REC_PRESERVED_FDS, &[&handles]);
    }
    out
}

fn write_block<F: FnMut(&[u8])>(w: &mut cb::Writer<F>, cfg: &ContainerConfig) {
    let p = &cfg.process;
    let gids: Vec<u8> = p.additional_gids.iter().flat_map(|g| g.to_le_bytes()).collect();
    w.record(cb::REC_USER, &[&p.uid.to_le_bytes(), &p.gid.to_le_bytes(), &p.umask.to_le_bytes(), &gids]);
    w.record(cb::REC_CWD, &[p.cwd.as_bytes()]);
    for &(res, soft, hard) in &p.rlimits {
        w.record(cb::REC_RLIMIT, &[&res.to_le_bytes(), &soft.to_le_bytes(), &hard.to_le_bytes()]);
    }
    if let Some(c) = p.caps {
        let sets = [c.bounding, c.effective, c.inheritable, c.permitted, c.ambient].map(u64::to_le_bytes);
        w.record(cb::REC_CAPS, &[&sets[0], &sets[1], &sets[2], &sets[3], &sets[4]]);
    }
    if p.no_new_privileges {
        w.record(cb::REC_NO_NEW_PRIVS, &[]);
    }
    if let Some(adj) = p.oom_score_adj {
        w.record(cb::REC_OOM_SCORE_ADJ, &[&adj.to_le_bytes()]);
    }
    w.record(cb::REC_CONFIGURED_MOUNTS, &[]);
    for m in &cfg.mounts {
        mount_record(w, m);
    }
}

fn mount_record<F: FnMut(&[u8])>(w: &mut cb::Writer<F>, m: &MountConfig) {
    let (kind, mode, size, name) = match &m.kind {
        MountKind::Tmpfs { size, mode } => (cb::MOUNT_TMPFS, *mode, *size, ""),
        MountKind::Proc => (cb::MOUNT_PROC, 0, 0, ""),
        MountKind::Bind { name, .. } => (cb::MOUNT_BIND, 0, 0, name.as_str()),
        MountKind::Devpts => (cb::MOUNT_DEVPTS, 0, 0, ""),
    };
    let mut flags = 0;
    for (on, bit) in
        [(m.readonly, cb::MNT_RDONLY), (m.nosuid, cb::MNT_NOSUID), (m.nodev, cb::MNT_NODEV), (m.noexec, cb::MNT_NOEXEC)]
    {
        if on {
            flags |= bit;
        }
    }
    let len = |s: &str| u32::try_from(s.len()).unwrap_or(u32::MAX).to_le_bytes();
    w.record(
        cb::REC_MOUNT,
        &[
            &kind.to_le_bytes(),
            &flags.to_le_bytes(),
            &mode.to_le_bytes(),
            &size.to_le_bytes(),
            &len(&m.destination),
            m.destination.as_bytes(),
            &len(name),
            name.as_bytes(),
        ],
    );
}

/// The trees the gofer serves besides the root: one per bind mount.
pub fn gofer_trees(cfg: &ContainerConfig) -> Vec<gofer::TreeSpec> {
    cfg.mounts
        .iter()
        .filter_map(|m| match &m.kind {
            MountKind::Bind { source, name } => {
                Some(gofer::TreeSpec { name: name.clone(), source: source.clone(), readonly: m.readonly })
            }
            _ => None,
        })
        .collect()
}
