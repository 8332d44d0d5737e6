//! Primitive encoders and decoders over byte slices: little-endian integers,
//! qids, 9P strings (`len[2]` + bytes), data blobs (`count[4]` + bytes) and
//! the walk arrays. Every read is bounds-checked against what is left of the
//! frame before anything is allocated or sliced.

use alloc::vec::Vec;

use crate::{DecodeError, EncodeError, Qid, MAXWELEM};

/// Reads fields from a message body, never past its end.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub const fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Bytes not consumed yet.
    pub const fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Fails with `TrailingBytes` unless the whole body was consumed.
    pub const fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes { extra: self.buf.len() })
        }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.buf.len() {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(u8::from_le_bytes(self.array()?))
    }

    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    pub fn qid(&mut self) -> Result<Qid, DecodeError> {
        Ok(Qid { ty: self.u8()?, version: self.u32()?, path: self.u64()? })
    }

    /// A 9P string: `len[2]` then `len` bytes, which must not contain NUL.
    /// Strings are kept as bytes (Linux names are not necessarily UTF-8).
    pub fn str(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.u16()?;
        let s = self.take(usize::from(len))?;
        if s.contains(&0) {
            return Err(DecodeError::NulInString);
        }
        Ok(s)
    }

    /// A data blob: `count[4]` then `count` bytes, borrowed from the frame.
    pub fn data(&mut self) -> Result<&'a [u8], DecodeError> {
        let count = self.u32()?;
        let count = usize::try_from(count).map_err(|_| DecodeError::Truncated)?;
        self.take(count)
    }

    fn walk_count(&mut self) -> Result<usize, DecodeError> {
        let n = self.u16()?;
        if usize::from(n) > MAXWELEM {
            return Err(DecodeError::TooManyWalkElements(n));
        }
        Ok(usize::from(n))
    }

    /// `nwname[2]` strings, at most `MAXWELEM`: the count is checked before
    /// the (at most 16-element) vector is allocated.
    pub fn names(&mut self) -> Result<Vec<&'a [u8]>, DecodeError> {
        let n = self.walk_count()?;
        // Each name needs at least its 2-byte length.
        if n * 2 > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        let mut names = Vec::with_capacity(n);
        for _ in 0..n {
            names.push(self.str()?);
        }
        Ok(names)
    }

    /// `nwqid[2]` qids, at most `MAXWELEM`.
    pub fn qids(&mut self) -> Result<Vec<Qid>, DecodeError> {
        let n = self.walk_count()?;
        if n * Qid::LEN > self.remaining() {
            return Err(DecodeError::Truncated);
        }
        let mut qids = Vec::with_capacity(n);
        for _ in 0..n {
            qids.push(self.qid()?);
        }
        Ok(qids)
    }
}

/// Writes fields into a caller-provided slice; fails instead of panicking
/// when the slice is too short.
pub struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> Writer<'b> {
    pub fn new(buf: &'b mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes written so far.
    pub const fn position(&self) -> usize {
        self.pos
    }

    pub fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let available = self.buf.len().saturating_sub(self.pos);
        let end = self.pos.checked_add(bytes.len()).ok_or(EncodeError::TooLong)?;
        let dst =
            self.buf.get_mut(self.pos..end).ok_or(EncodeError::BufferTooSmall { needed: bytes.len(), available })?;
        dst.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    pub fn u8(&mut self, v: u8) -> Result<(), EncodeError> {
        self.put(&v.to_le_bytes())
    }

    pub fn u16(&mut self, v: u16) -> Result<(), EncodeError> {
        self.put(&v.to_le_bytes())
    }

    pub fn u32(&mut self, v: u32) -> Result<(), EncodeError> {
        self.put(&v.to_le_bytes())
    }

    pub fn u64(&mut self, v: u64) -> Result<(), EncodeError> {
        self.put(&v.to_le_bytes())
    }

    pub fn qid(&mut self, q: &Qid) -> Result<(), EncodeError> {
        self.u8(q.ty)?;
        self.u32(q.version)?;
        self.u64(q.path)
    }

    pub fn str(&mut self, s: &[u8]) -> Result<(), EncodeError> {
        let len = u16::try_from(s.len()).map_err(|_| EncodeError::InvalidString)?;
        if s.contains(&0) {
            return Err(EncodeError::InvalidString);
        }
        self.u16(len)?;
        self.put(s)
    }

    pub fn data(&mut self, d: &[u8]) -> Result<(), EncodeError> {
        let count = u32::try_from(d.len()).map_err(|_| EncodeError::TooLong)?;
        self.u32(count)?;
        self.put(d)
    }

    fn walk_count(&mut self, n: usize) -> Result<(), EncodeError> {
        if n > MAXWELEM {
            return Err(EncodeError::TooLong);
        }
        let n = u16::try_from(n).map_err(|_| EncodeError::TooLong)?;
        self.u16(n)
    }

    pub fn names(&mut self, names: &[&[u8]]) -> Result<(), EncodeError> {
        self.walk_count(names.len())?;
        names.iter().try_for_each(|n| self.str(n))
    }

    pub fn qids(&mut self, qids: &[Qid]) -> Result<(), EncodeError> {
        self.walk_count(qids.len())?;
        qids.iter().try_for_each(|q| self.qid(q))
    }
}

/// Encoded sizes of each field kind (used by `encoded_len()`).
pub mod len {
    use crate::Qid;

    pub const fn str(s: &[u8]) -> usize {
        2 + s.len()
    }

    pub const fn data(d: &[u8]) -> usize {
        4 + d.len()
    }

    pub fn names(names: &[&[u8]]) -> usize {
        2 + names.iter().map(|n| str(n)).sum::<usize>()
    }

    pub const fn qids(qids: &[Qid]) -> usize {
        2 + qids.len() * Qid::LEN
    }
}
