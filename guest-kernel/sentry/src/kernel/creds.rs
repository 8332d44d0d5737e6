//! Credentials: user and group ids, supplementary groups and capabilities,
//! with Linux's rules for changing them (credentials(7), capabilities(7)).
//!
//! A container starts as root with the capability set runc gives by
//! default; everything here is per thread, as on Linux (glibc makes all
//! threads of a process change together).

use alloc::sync::Arc;

use abi::linux::caps::*;

/// The capabilities a container process has by default (the OCI runtime
/// spec's default set, as runc and gVisor give it).
pub const DEFAULT_CAPS: u64 = bit(CAP_CHOWN)
    | bit(CAP_DAC_OVERRIDE)
    | bit(CAP_FSETID)
    | bit(CAP_FOWNER)
    | bit(CAP_MKNOD)
    | bit(CAP_NET_RAW)
    | bit(CAP_SETGID)
    | bit(CAP_SETUID)
    | bit(CAP_SETFCAP)
    | bit(CAP_SETPCAP)
    | bit(CAP_NET_BIND_SERVICE)
    | bit(CAP_SYS_CHROOT)
    | bit(CAP_KILL)
    | bit(CAP_AUDIT_WRITE);

const fn bit(cap: u32) -> u64 {
    1 << cap
}

/// One thread's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    pub ruid: u32,
    pub euid: u32,
    pub suid: u32,
    pub fsuid: u32,
    pub rgid: u32,
    pub egid: u32,
    pub sgid: u32,
    pub fsgid: u32,
    pub groups: Arc<[u32]>,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub bounding: u64,
    pub ambient: u64,
    /// SECBIT_KEEP_CAPS (prctl PR_SET_KEEPCAPS): permitted capabilities
    /// survive the switch away from uid 0.
    pub keep_caps: bool,
    /// PR_SET_NO_NEW_PRIVS: exec never grants privileges.
    pub no_new_privs: bool,
}

impl Default for Credentials {
    fn default() -> Self {
        Self::root(DEFAULT_CAPS)
    }
}

/// Which id of a triple a set*id call leaves alone (-1).
pub const KEEP: u32 = u32::MAX;

impl Credentials {
    /// Root with `caps` effective, permitted and bounding.
    pub fn root(caps: u64) -> Self {
        Self {
            ruid: 0,
            euid: 0,
            suid: 0,
            fsuid: 0,
            rgid: 0,
            egid: 0,
            sgid: 0,
            fsgid: 0,
            groups: Arc::from([0u32; 0]),
            effective: caps,
            permitted: caps,
            inheritable: 0,
            bounding: caps,
            ambient: 0,
            keep_caps: false,
            no_new_privs: false,
        }
    }

    /// Whether the thread has `cap` in its effective set.
    pub fn capable(&self, cap: u32) -> bool {
        self.effective & bit(cap) != 0
    }

    /// Whether `gid` is the effective group or a supplementary one.
    pub fn in_group(&self, gid: u32) -> bool {
        self.egid == gid || self.groups.contains(&gid)
    }

    /// setresuid(2): each id not KEEP must be one of the current real,
    /// effective or saved ids, unless CAP_SETUID. Returns false (EPERM)
    /// when not allowed.
    pub fn set_resuid(&mut self, r: u32, e: u32, s: u32) -> bool {
        let privileged = self.capable(CAP_SETUID);
        let ok = |id: u32| id == KEEP || privileged || id == self.ruid || id == self.euid || id == self.suid;
        if !(ok(r) && ok(e) && ok(s)) {
            return false;
        }
        let old = (self.ruid, self.euid, self.suid);
        if r != KEEP {
            self.ruid = r;
        }
        if e != KEEP {
            self.euid = e;
        }
        if s != KEEP {
            self.suid = s;
        }
        self.fsuid = self.euid;
        self.fix_caps_after_uid_change(old);
        true
    }

    /// setuid(2): with CAP_SETUID sets all three ids, otherwise only the
    /// effective one (to the real or saved id).
    pub fn set_uid(&mut self, uid: u32) -> bool {
        if self.capable(CAP_SETUID) {
            self.set_resuid(uid, uid, uid)
        } else if uid == self.ruid || uid == self.suid {
            self.set_resuid(KEEP, uid, KEEP)
        } else {
            false
        }
    }

    /// setreuid(2): the saved id follows the new effective one when the
    /// real id is set or the effective one differs from the old real id.
    pub fn set_reuid(&mut self, r: u32, e: u32) -> bool {
        let privileged = self.capable(CAP_SETUID);
        if r != KEEP && !privileged && r != self.ruid && r != self.euid {
            return false;
        }
        if e != KEEP && !privileged && e != self.ruid && e != self.euid && e != self.suid {
            return false;
        }
        let new_e = if e == KEEP { self.euid } else { e };
        let s = if r != KEEP || (e != KEEP && e != self.ruid) { new_e } else { KEEP };
        let old = (self.ruid, self.euid, self.suid);
        if r != KEEP {
            self.ruid = r;
        }
        self.euid = new_e;
        if s != KEEP {
            self.suid = s;
        }
        self.fsuid = self.euid;
        self.fix_caps_after_uid_change(old);
        true
    }

    /// Linux's cap_emulate_setxuid: leaving uid 0 drops capabilities.
    fn fix_caps_after_uid_change(&mut self, (or, oe, os): (u32, u32, u32)) {
        let was_root = or == 0 || oe == 0 || os == 0;
        let now_root = self.ruid == 0 || self.euid == 0 || self.suid == 0;
        if was_root && !now_root {
            if !self.keep_caps {
                self.permitted = 0;
                self.effective = 0;
            }
            self.ambient = 0;
        }
        if oe == 0 && self.euid != 0 {
            self.effective = 0;
        }
        if oe != 0 && self.euid == 0 {
            self.effective = self.permitted;
        }
    }

    /// setresgid(2).
    pub fn set_resgid(&mut self, r: u32, e: u32, s: u32) -> bool {
        let privileged = self.capable(CAP_SETGID);
        let ok = |id: u32| id == KEEP || privileged || id == self.rgid || id == self.egid || id == self.sgid;
        if !(ok(r) && ok(e) && ok(s)) {
            return false;
        }
        if r != KEEP {
            self.rgid = r;
        }
        if e != KEEP {
            self.egid = e;
        }
        if s != KEEP {
            self.sgid = s;
        }
        self.fsgid = self.egid;
        true
    }

    /// setgid(2).
    pub fn set_gid(&mut self, gid: u32) -> bool {
        if self.capable(CAP_SETGID) {
            self.set_resgid(gid, gid, gid)
        } else if gid == self.rgid || gid == self.sgid {
            self.set_resgid(KEEP, gid, KEEP)
        } else {
            false
        }
    }

    /// setregid(2).
    pub fn set_regid(&mut self, r: u32, e: u32) -> bool {
        let privileged = self.capable(CAP_SETGID);
        if r != KEEP && !privileged && r != self.rgid && r != self.egid {
            return false;
        }
        if e != KEEP && !privileged && e != self.rgid && e != self.egid && e != self.sgid {
            return false;
        }
        let new_e = if e == KEEP { self.egid } else { e };
        if r != KEEP || (e != KEEP && e != self.rgid) {
            self.sgid = new_e;
        }
        if r != KEEP {
            self.rgid = r;
        }
        self.egid = new_e;
        self.fsgid = self.egid;
        true
    }

    /// setfsuid(2): returns the old fsuid; changes it only to one of the
    /// four uids, or to anything with CAP_SETUID.
    pub fn set_fsuid(&mut self, uid: u32) -> u32 {
        let old = self.fsuid;
        if uid != KEEP && (self.capable(CAP_SETUID) || [self.ruid, self.euid, self.suid, self.fsuid].contains(&uid)) {
            self.fsuid = uid;
        }
        old
    }

    /// setfsgid(2).
    pub fn set_fsgid(&mut self, gid: u32) -> u32 {
        let old = self.fsgid;
        if gid != KEEP && (self.capable(CAP_SETGID) || [self.rgid, self.egid, self.sgid, self.fsgid].contains(&gid)) {
            self.fsgid = gid;
        }
        old
    }

    /// capset(2) rules: the new inheritable set is bounded by the old
    /// inheritable plus permitted (without CAP_SETPCAP) and by the bounding
    /// set; permitted may only shrink; effective must be within permitted.
    pub fn set_caps(&mut self, effective: u64, permitted: u64, inheritable: u64) -> bool {
        let setpcap = self.capable(CAP_SETPCAP);
        if (inheritable & !(self.inheritable | self.permitted) != 0 && !setpcap)
            || inheritable & !(self.inheritable | self.bounding) != 0
            || permitted & !self.permitted != 0
            || effective & !permitted != 0
        {
            return false;
        }
        self.effective = effective;
        self.permitted = permitted;
        self.inheritable = inheritable;
        self.ambient &= permitted & inheritable;
        true
    }

    /// The capability sets after exec (capabilities(7), "Transformation of
    /// capabilities during execve"): the file is treated as having every
    /// capability when the thread is root (no file capabilities or setuid
    /// bits are honoured).
    pub fn exec(&mut self) {
        if self.euid == 0 || self.ruid == 0 {
            self.permitted = self.inheritable | self.bounding;
            self.effective = if self.euid == 0 { self.permitted } else { self.ambient };
        } else {
            self.permitted = self.ambient;
            self.effective = self.ambient;
        }
        self.suid = self.euid;
        self.sgid = self.egid;
        self.fsuid = self.euid;
        self.fsgid = self.egid;
    }
}
