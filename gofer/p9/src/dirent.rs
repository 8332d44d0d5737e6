//! Directory entries in the data of `Rreaddir`:
//! `qid[13] offset[8] type[1] name[s]`, packed back to back.

use crate::wire::{len, Reader, Writer};
use crate::{DecodeError, EncodeError, Qid};

/// One directory entry. `offset` is the cookie to pass as `Treaddir.offset`
/// to continue *after* this entry; `ty` is the Linux `d_type` (`DT_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dirent<'a> {
    pub qid: Qid,
    pub offset: u64,
    pub ty: u8,
    pub name: &'a [u8],
}

impl Dirent<'_> {
    pub const fn encoded_len(&self) -> usize {
        Qid::LEN + 8 + 1 + len::str(self.name)
    }
}

/// Packs entries into a caller's buffer (the `Rreaddir` data), stopping at
/// the first entry that does not fit.
pub struct DirentWriter<'b> {
    w: Writer<'b>,
    room: usize,
}

impl<'b> DirentWriter<'b> {
    pub fn new(buf: &'b mut [u8]) -> Self {
        let room = buf.len();
        Self { w: Writer::new(buf), room }
    }

    /// Appends `d`; `Ok(false)` (nothing written) when it does not fit.
    pub fn push(&mut self, d: &Dirent<'_>) -> Result<bool, EncodeError> {
        if self.w.position().saturating_add(d.encoded_len()) > self.room {
            return Ok(false);
        }
        self.w.qid(&d.qid)?;
        self.w.u64(d.offset)?;
        self.w.u8(d.ty)?;
        self.w.str(d.name)?;
        Ok(true)
    }

    /// Bytes written so far.
    pub const fn len(&self) -> usize {
        self.w.position()
    }

    pub const fn is_empty(&self) -> bool {
        self.w.position() == 0
    }
}

/// Iterates over the entries of `Rreaddir` data, validating each; yields at
/// most one error, then ends.
pub struct DirentIter<'a> {
    r: Reader<'a>,
    failed: bool,
}

impl<'a> DirentIter<'a> {
    pub const fn new(data: &'a [u8]) -> Self {
        Self { r: Reader::new(data), failed: false }
    }

    fn next_entry(&mut self) -> Result<Dirent<'a>, DecodeError> {
        Ok(Dirent { qid: self.r.qid()?, offset: self.r.u64()?, ty: self.r.u8()?, name: self.r.str()? })
    }
}

impl<'a> Iterator for DirentIter<'a> {
    type Item = Result<Dirent<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.r.remaining() == 0 {
            return None;
        }
        let entry = self.next_entry();
        self.failed = entry.is_err();
        Some(entry)
    }
}
