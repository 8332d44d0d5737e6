//! The container block ([`abi::container`]) decoded: what the OCI config
//! asks of the init process and which filesystems to mount where. The block
//! comes from the host and is checked here as hostile input (the runtime
//! checked the config already; a block that fails here is a bug or an
//! attack, and boot stops).

use alloc::vec::Vec;

use abi::container::{self as cb, BlockError, Reader};
use abi::linux::{rlimit, Rlimit};

use super::creds::DEFAULT_CAPS;
use crate::error::SysError;

/// Capability sets as the config gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub inheritable: u64,
    pub permitted: u64,
    pub ambient: u64,
}

/// How to start a process: its user, working directory, limits and
/// capabilities (OCI `process`). `Default` is what `ringfence do` runs:
/// root in `/` with the default capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub umask: u32,
    /// Absolute, resolved in the container; `None` is `/`.
    pub cwd: Option<Vec<u8>>,
    /// Limits to set, by resource number.
    pub rlimits: Vec<(u32, Rlimit)>,
    /// `None`: root's default set (runc's default capabilities).
    pub caps: Option<CapSets>,
    pub no_new_privs: bool,
    /// Host descriptor handles the process gets as fds 3, 4...
    /// (`--preserve-fds`).
    pub preserved_fds: Vec<u32>,
}

impl Default for ProcessSpec {
    fn default() -> Self {
        Self {
            uid: 0,
            gid: 0,
            groups: Vec::new(),
            umask: 0o022,
            cwd: None,
            rlimits: Vec::new(),
            caps: None,
            no_new_privs: false,
            preserved_fds: Vec::new(),
        }
    }
}

/// One mount of the config, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// `abi::container::MOUNT_*`.
    pub kind: u32,
    /// `abi::container::MNT_*`.
    pub flags: u32,
    /// tmpfs root mode (0: the default, 0o1777).
    pub mode: u32,
    /// tmpfs size in bytes (0: the default).
    pub size: u64,
    pub destination: Vec<u8>,
    /// The gofer attach name of a bind mount.
    pub aname: Vec<u8>,
}

/// The decoded block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSpec {
    pub process: ProcessSpec,
    /// `None`: the default tree (`ringfence do`); `Some`: the config's
    /// mounts (see kernel/rootfs.rs).
    pub mounts: Option<Vec<MountSpec>>,
}

fn bad(why: &'static str) -> SysError {
    SysError::einval(why)
}

fn short(_: BlockError) -> SysError {
    bad("container block truncated")
}

/// Decodes `block` (empty: the defaults).
pub fn parse(block: &[u8]) -> Result<ContainerSpec, SysError> {
    let mut spec = ContainerSpec::default();
    let records = cb::records(block).map_err(|_| bad("container block version mismatch"))?;
    for rec in records {
        let (kind, body) = rec.map_err(short)?;
        let mut r = Reader::new(body);
        let p = &mut spec.process;
        match kind {
            cb::REC_USER => {
                p.uid = r.u32().map_err(short)?;
                p.gid = r.u32().map_err(short)?;
                p.umask = r.u32().map_err(short)? & 0o777;
                p.groups.clear();
                while !r.is_empty() {
                    p.groups.push(r.u32().map_err(short)?);
                }
            }
            cb::REC_CWD => {
                let cwd = r.rest();
                if cwd.first() != Some(&b'/') || cwd.contains(&0) {
                    return Err(bad("container block: cwd not absolute"));
                }
                p.cwd = Some(cwd.to_vec());
            }
            cb::REC_RLIMIT => {
                let res = r.u32().map_err(short)?;
                let (cur, max) = (r.u64().map_err(short)?, r.u64().map_err(short)?);
                if res >= rlimit::RLIM_NLIMITS || cur > max {
                    return Err(bad("container block: bad rlimit"));
                }
                p.rlimits.push((res, Rlimit { cur, max }));
            }
            cb::REC_CAPS => {
                let mut v = [0u64; 5];
                for x in &mut v {
                    *x = r.u64().map_err(short)?;
                }
                let [bounding, effective, inheritable, permitted, ambient] = v;
                p.caps = Some(CapSets { bounding, effective, inheritable, permitted, ambient });
            }
            cb::REC_NO_NEW_PRIVS => p.no_new_privs = true,
            // Accepted: the sentry has no OOM killer to weigh it.
            cb::REC_OOM_SCORE_ADJ => {}
            cb::REC_CONFIGURED_MOUNTS => {
                spec.mounts.get_or_insert_with(Vec::new);
            }
            cb::REC_PRESERVED_FDS => {
                p.preserved_fds.clear();
                while !r.is_empty() {
                    let h = r.u32().map_err(short)?;
                    // The sandbox's own stdio is not the container's to take.
                    if h < 3 {
                        return Err(bad("container block: preserved fd handle below 3"));
                    }
                    p.preserved_fds.push(h);
                }
                if p.preserved_fds.len() > cb::MAX_PRESERVED_FDS {
                    return Err(bad("container block: too many preserved fds"));
                }
            }
            cb::REC_MOUNT => {
                let m = MountSpec {
                    kind: r.u32().map_err(short)?,
                    flags: r.u32().map_err(short)?,
                    mode: r.u32().map_err(short)? & 0o7777,
                    size: r.u64().map_err(short)?,
                    destination: r.counted().map_err(short)?.to_vec(),
                    aname: r.counted().map_err(short)?.to_vec(),
                };
                if m.destination.first() != Some(&b'/') || m.destination.contains(&0) {
                    return Err(bad("container block: mount destination not absolute"));
                }
                spec.mounts.get_or_insert_with(Vec::new).push(m);
            }
            _ => return Err(bad("container block: unknown record")),
        }
    }
    Ok(spec)
}

impl ProcessSpec {
    /// The credentials the process starts with, before exec's transition
    /// (which the caller applies, as runc's final execve does).
    pub fn credentials(&self) -> super::creds::Credentials {
        let mut c = super::creds::Credentials::root(DEFAULT_CAPS);
        c.ruid = self.uid;
        c.euid = self.uid;
        c.suid = self.uid;
        c.fsuid = self.uid;
        c.rgid = self.gid;
        c.egid = self.gid;
        c.sgid = self.gid;
        c.fsgid = self.gid;
        c.groups = alloc::sync::Arc::from(self.groups.as_slice());
        if let Some(caps) = self.caps {
            c.bounding = caps.bounding;
            c.permitted = caps.permitted;
            c.effective = caps.effective & caps.permitted;
            c.inheritable = caps.inheritable;
            // The kernel keeps ambient within permitted and inheritable
            // (PR_CAP_AMBIENT_RAISE fails otherwise; runc ignores that).
            c.ambient = caps.ambient & caps.permitted & caps.inheritable;
        } else if self.uid != 0 {
            // setuid away from root drops permitted and effective.
            c.permitted = 0;
            c.effective = 0;
        }
        c.no_new_privs = self.no_new_privs;
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(f: impl FnOnce(&mut cb::Writer<&mut dyn FnMut(&[u8])>)) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut sink = |b: &[u8]| out.extend_from_slice(b);
            let mut w = cb::Writer::new(&mut sink as &mut dyn FnMut(&[u8]));
            f(&mut w);
        }
        out
    }

    #[test]
    fn decodes_user_cwd_rlimits_and_mounts() {
        let b = block(|w| {
            w.record(
                cb::REC_USER,
                &[&1000u32.to_le_bytes(), &100u32.to_le_bytes(), &0o027u32.to_le_bytes(), &5u32.to_le_bytes()],
            );
            w.record(cb::REC_CWD, &[b"/tmp"]);
            w.record(cb::REC_RLIMIT, &[&7u32.to_le_bytes(), &64u64.to_le_bytes(), &128u64.to_le_bytes()]);
            w.record(
                cb::REC_MOUNT,
                &[
                    &cb::MOUNT_TMPFS.to_le_bytes(),
                    &cb::MNT_NOSUID.to_le_bytes(),
                    &0o700u32.to_le_bytes(),
                    &(1u64 << 20).to_le_bytes(),
                    &5u32.to_le_bytes(),
                    b"/data",
                    &0u32.to_le_bytes(),
                ],
            );
        });
        let s = parse(&b).expect("parses");
        assert_eq!((s.process.uid, s.process.gid, s.process.umask), (1000, 100, 0o027));
        assert_eq!(s.process.groups, [5]);
        assert_eq!(s.process.cwd.as_deref(), Some(&b"/tmp"[..]));
        assert_eq!(s.process.rlimits, [(7, Rlimit { cur: 64, max: 128 })]);
        let m = s.mounts.expect("mounts");
        assert_eq!(
            (m[0].kind, m[0].mode, m[0].size, &m[0].destination[..]),
            (cb::MOUNT_TMPFS, 0o700, 1 << 20, &b"/data"[..])
        );
        let c = s.process.credentials();
        assert_eq!((c.euid, c.permitted, c.effective), (1000, 0, 0));
        assert!(parse(&[]).is_ok_and(|s| s == ContainerSpec::default()));
        assert!(parse(&block(|w| w.record(cb::REC_CWD, &[b"rel"]))).is_err());
        assert!(parse(&block(|w| w.record(99, &[]))).is_err());
    }

    #[test]
    fn preserved_fds_are_handles_above_stdio() {
        let b = block(|w| w.record(cb::REC_PRESERVED_FDS, &[&1001u32.to_le_bytes(), &1002u32.to_le_bytes()]));
        assert_eq!(parse(&b).expect("parses").process.preserved_fds, [1001, 1002]);
        // The sandbox's own stdio, a cut handle, too many.
        assert!(parse(&block(|w| w.record(cb::REC_PRESERVED_FDS, &[&2u32.to_le_bytes()]))).is_err());
        assert!(parse(&block(|w| w.record(cb::REC_PRESERVED_FDS, &[&[7, 0, 0]]))).is_err());
        let many: Vec<u8> = (0..=cb::MAX_PRESERVED_FDS).flat_map(|_| 1000u32.to_le_bytes()).collect();
        assert!(parse(&block(|w| w.record(cb::REC_PRESERVED_FDS, &[&many]))).is_err());
    }
}
