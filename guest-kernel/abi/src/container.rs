//! The container block: what an OCI config.json asks of the init process
//! (user, cwd, rlimits, capabilities...) and the container's mounts, passed
//! from the runtime to the sentry after the environment strings in the
//! argument area (`BootInfo::args_gpa`), so that `BootInfo` keeps its fixed
//! shape. An empty block (the `ringfence do` case) means "defaults".
//!
//! Layout, all little-endian: `MAGIC` u32, `VERSION` u32, then records of
//! `kind` u16, reserved u16, `len` u32 and `len` bytes of payload. Unknown
//! kinds are an error for the guest (both sides are built together; a
//! mismatch is a bug, not something to skip). The guest treats the block as
//! hostile input: every read is bounds-checked by [`Reader`].

/// "RFCB" little-endian.
pub const MAGIC: u32 = 0x4243_4652;
/// Bumped whenever a record's payload changes shape.
pub const VERSION: u32 = 1;

/// uid u32, gid u32, umask u32, then u32 additional gids to the end.
pub const REC_USER: u16 = 1;
/// The working directory (absolute path bytes, no NUL).
pub const REC_CWD: u16 = 2;
/// resource u32, soft u64, hard u64 (`RLIM_INFINITY` = u64::MAX).
pub const REC_RLIMIT: u16 = 3;
/// bounding, effective, inheritable, permitted, ambient: u64 masks.
pub const REC_CAPS: u16 = 4;
/// Empty: set no_new_privs on the init process.
pub const REC_NO_NEW_PRIVS: u16 = 5;
/// oom_score_adj as an i32.
pub const REC_OOM_SCORE_ADJ: u16 = 6;
/// One mount, in config order: kind u32, flags u32 (`MNT_*`), mode u32,
/// size u64 (0 = default), destination length u32 + bytes, 9P attach name
/// length u32 + bytes (bind mounts; empty otherwise).
pub const REC_MOUNT: u16 = 7;
/// Empty: the config mounts its own `/dev`, `/proc`... and nothing is added
/// but the sandbox's `/dev` device nodes when no mount is at `/dev`.
pub const REC_CONFIGURED_MOUNTS: u16 = 8;
/// `--preserve-fds`: u32 host descriptor handles (registered with the
/// control channel, each above 2) to the end; the init process gets them
/// as fds 3, 4... in order.
pub const REC_PRESERVED_FDS: u16 = 9;
/// Most descriptors [`REC_PRESERVED_FDS`] may carry.
pub const MAX_PRESERVED_FDS: usize = 250;

/// A tmpfs (`/dev` gets the device nodes in it).
pub const MOUNT_TMPFS: u32 = 1;
/// procfs.
pub const MOUNT_PROC: u32 = 2;
/// A host file or directory the gofer serves under the mount's attach name.
pub const MOUNT_BIND: u32 = 3;
/// A devpts instance.
pub const MOUNT_DEVPTS: u32 = 4;

/// Read-only.
pub const MNT_RDONLY: u32 = 1 << 0;
pub const MNT_NOSUID: u32 = 1 << 1;
pub const MNT_NODEV: u32 = 1 << 2;
pub const MNT_NOEXEC: u32 = 1 << 3;

/// Why a block does not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockError {
    /// Shorter than a header or a record says.
    Truncated,
    /// Magic or version differ.
    Version,
}

/// A bounds-checked cursor over a payload.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], BlockError> {
        if n > self.buf.len() {
            return Err(BlockError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    pub fn u16(&mut self) -> Result<u16, BlockError> {
        let b = self.bytes(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Result<u32, BlockError> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn u64(&mut self) -> Result<u64, BlockError> {
        Ok(u64::from(self.u32()?) | (u64::from(self.u32()?) << 32))
    }

    /// A u32 length, then that many bytes.
    pub fn counted(&mut self) -> Result<&'a [u8], BlockError> {
        let n = usize::try_from(self.u32()?).map_err(|_| BlockError::Truncated)?;
        self.bytes(n)
    }

    /// What is left.
    pub fn rest(&mut self) -> &'a [u8] {
        core::mem::take(&mut self.buf)
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// The records of a block: `(kind, payload)`. An empty block has none.
pub fn records(block: &[u8]) -> Result<Records<'_>, BlockError> {
    let mut r = Reader::new(block);
    if !block.is_empty() && (r.u32()? != MAGIC || r.u32()? != VERSION) {
        return Err(BlockError::Version);
    }
    Ok(Records { r })
}

/// Iterator over a block's records.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    r: Reader<'a>,
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<(u16, &'a [u8]), BlockError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.r.is_empty() {
            return None;
        }
        let rec = (|| {
            let kind = self.r.u16()?;
            let _reserved = self.r.u16()?;
            let body = self.r.counted()?;
            Ok((kind, body))
        })();
        if rec.is_err() {
            self.r.rest();
        }
        Some(rec)
    }
}

/// Appends records to a block through `out` (no allocation here: the host
/// collects into a `Vec`).
pub struct Writer<F: FnMut(&[u8])> {
    out: F,
}

impl<F: FnMut(&[u8])> Writer<F> {
    /// Starts a block (writes the header).
    pub fn new(mut out: F) -> Self {
        out(&MAGIC.to_le_bytes());
        out(&VERSION.to_le_bytes());
        Self { out }
    }

    /// One record whose payload is the concatenation of `parts`.
    /// Payloads are bounded by the argument area; a length that does not
    /// fit u32 is a caller bug and is clamped (the guest then rejects it).
    pub fn record(&mut self, kind: u16, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        (self.out)(&kind.to_le_bytes());
        (self.out)(&0u16.to_le_bytes());
        (self.out)(&len.to_le_bytes());
        for p in parts {
            (self.out)(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_truncation() {
        let mut buf = [0u8; 64];
        let mut n = 0;
        {
            let mut w = Writer::new(|b: &[u8]| {
                buf[n..n + b.len()].copy_from_slice(b);
                n += b.len();
            });
            w.record(REC_CWD, &[b"/tmp"]);
            w.record(REC_NO_NEW_PRIVS, &[]);
        }
        let block = &buf[..n];
        let mut it = records(block).expect("header");
        assert_eq!(it.next(), Some(Ok((REC_CWD, &b"/tmp"[..]))));
        assert_eq!(it.next(), Some(Ok((REC_NO_NEW_PRIVS, &b""[..]))));
        assert_eq!(it.next(), None);
        let mut cut = records(&block[..n - 4]).expect("header");
        assert_eq!(cut.next(), Some(Ok((REC_CWD, &b"/tmp"[..]))));
        assert_eq!(cut.next(), Some(Err(BlockError::Truncated)));
        assert_eq!(cut.next(), None);
        assert!(records(&[0u8; 8]).is_err());
        assert!(records(&[]).is_ok_and(|mut r| r.next().is_none()));
    }
}
