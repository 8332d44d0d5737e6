//! The 9P2000.L codec: slice-based, `no_std` + `alloc`, shared by the
//! sentry's client and the gofer server.
//!
//! A frame is `size[4] type[1] tag[2] body`, little endian, `size` counting
//! the whole frame. [`decode_t`]/[`decode_r`] take exactly one frame: they
//! first check the header (a [`FrameError`] means the stream is out of sync
//! and the connection should be closed), then decode the body into a
//! separate `Result` so that a malformed request can still be answered with
//! `Rlerror` under its tag.
//!
//! Decoding borrows from the frame: strings and data blobs are `&[u8]` into
//! it (`Rread`/`Twrite` payloads are never copied, so the sentry can point
//! them at guest memory). Strings are kept as bytes rather than `str`: Linux
//! names need not be UTF-8. Every string is checked for embedded NUL, every
//! length and count against the bytes left in the frame *before* anything is
//! sliced or allocated, walks against `MAXWELEM`, and a body must be consumed
//! exactly (no trailing bytes). Decoding never panics.
//!
//! Semantic checks that depend on the server (a name being `.` or containing
//! `/`, a count exceeding the negotiated msize) are the server's.
#![no_std]

extern crate alloc;

use alloc::vec::Vec;

mod dirent;
mod error;
mod messages;
pub mod wire;

pub use dirent::{Dirent, DirentIter, DirentWriter};
pub use error::{DecodeError, EncodeError, FrameError};
pub use messages::*;

/// The protocol version string this codec speaks.
pub const VERSION_9P2000L: &[u8] = b"9P2000.L";
/// Answered to a `Tversion` naming any other version.
pub const VERSION_UNKNOWN: &[u8] = b"unknown";
/// The tag of `Tversion`.
pub const NOTAG: u16 = 0xffff;
/// "No fid", e.g. `afid` of an unauthenticated `Tattach`.
pub const NOFID: u32 = 0xffff_ffff;
/// Maximum number of names in one `Twalk` (and qids in `Rwalk`).
pub const MAXWELEM: usize = 16;
/// size[4] type[1] tag[2].
pub const HEADER_LEN: usize = 7;
/// Room Linux reserves in msize for the header of Tread/Twrite/Rread; the
/// largest I/O payload is `msize - IOHDRSZ`.
pub const IOHDRSZ: u32 = 24;
/// Bytes before the data of an `Rread` (or `Rreaddir`) frame: header + count[4].
pub const RREAD_HEADER_LEN: usize = HEADER_LEN + 4;
/// Bytes before the data of a `Twrite` frame: header + fid + offset + count.
pub const TWRITE_HEADER_LEN: usize = HEADER_LEN + 4 + 8 + 4;

/// The errno values the codec itself chooses (Linux numbering).
pub mod errno {
    pub const EINVAL: u32 = 22;
    pub const EOPNOTSUPP: u32 = 95;
}

/// Qid types (`qid.ty`).
pub mod qid_type {
    pub const DIR: u8 = 0x80;
    pub const APPEND: u8 = 0x40;
    pub const EXCL: u8 = 0x20;
    pub const MOUNT: u8 = 0x10;
    pub const AUTH: u8 = 0x08;
    pub const TMP: u8 = 0x04;
    pub const SYMLINK: u8 = 0x02;
    pub const LINK: u8 = 0x01;
    pub const FILE: u8 = 0x00;
}

/// `Tgetattr.request_mask` / `Rgetattr.valid` bits.
pub mod getattr {
    pub const MODE: u64 = 0x0000_0001;
    pub const NLINK: u64 = 0x0000_0002;
    pub const UID: u64 = 0x0000_0004;
    pub const GID: u64 = 0x0000_0008;
    pub const RDEV: u64 = 0x0000_0010;
    pub const ATIME: u64 = 0x0000_0020;
    pub const MTIME: u64 = 0x0000_0040;
    pub const CTIME: u64 = 0x0000_0080;
    pub const INO: u64 = 0x0000_0100;
    pub const SIZE: u64 = 0x0000_0200;
    pub const BLOCKS: u64 = 0x0000_0400;
    pub const BTIME: u64 = 0x0000_0800;
    pub const GEN: u64 = 0x0000_1000;
    pub const DATA_VERSION: u64 = 0x0000_2000;
    /// What `stat(2)` needs.
    pub const BASIC: u64 = 0x0000_07ff;
    pub const ALL: u64 = 0x0000_3fff;
}

/// `Tsetattr.valid` bits.
pub mod setattr {
    pub const MODE: u32 = 0x0000_0001;
    pub const UID: u32 = 0x0000_0002;
    pub const GID: u32 = 0x0000_0004;
    pub const SIZE: u32 = 0x0000_0008;
    pub const ATIME: u32 = 0x0000_0010;
    pub const MTIME: u32 = 0x0000_0020;
    pub const CTIME: u32 = 0x0000_0040;
    /// Set atime to the given value (otherwise: to now).
    pub const ATIME_SET: u32 = 0x0000_0080;
    /// Set mtime to the given value (otherwise: to now).
    pub const MTIME_SET: u32 = 0x0000_0100;
}

/// `Tlopen`/`Tlcreate` flags (`P9_DOTL_*`; the x86-64 Linux `O_*` values).
pub mod open_flags {
    pub const RDONLY: u32 = 0o0;
    pub const WRONLY: u32 = 0o1;
    pub const RDWR: u32 = 0o2;
    pub const NOACCESS: u32 = 0o3;
    pub const ACCMODE: u32 = 0o3;
    pub const CREATE: u32 = 0o100;
    pub const EXCL: u32 = 0o200;
    pub const NOCTTY: u32 = 0o400;
    pub const TRUNC: u32 = 0o1000;
    pub const APPEND: u32 = 0o2000;
    pub const NONBLOCK: u32 = 0o4000;
    pub const DSYNC: u32 = 0o10000;
    pub const FASYNC: u32 = 0o20000;
    pub const DIRECT: u32 = 0o40000;
    pub const LARGEFILE: u32 = 0o100000;
    pub const DIRECTORY: u32 = 0o200000;
    pub const NOFOLLOW: u32 = 0o400000;
    pub const NOATIME: u32 = 0o1000000;
    pub const CLOEXEC: u32 = 0o2000000;
    pub const SYNC: u32 = 0o4000000;
}

/// `Tlock`/`Tgetlock` types, flags and `Rlock` status.
pub mod lock {
    pub const TYPE_RDLCK: u8 = 0;
    pub const TYPE_WRLCK: u8 = 1;
    pub const TYPE_UNLCK: u8 = 2;
    pub const FLAGS_BLOCK: u32 = 1;
    pub const FLAGS_RECLAIM: u32 = 2;
    pub const SUCCESS: u8 = 0;
    pub const BLOCKED: u8 = 1;
    pub const ERROR: u8 = 2;
    pub const GRACE: u8 = 3;
}

/// `Tunlinkat.flags`: remove a directory (Linux `AT_REMOVEDIR`).
pub const AT_REMOVEDIR: u32 = 0x200;

/// The server's unique identification of a file: type, version and path
/// (the gofer uses the inode number as path).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Qid {
    pub ty: u8,
    pub version: u32,
    pub path: u64,
}

impl Qid {
    /// Encoded size.
    pub const LEN: usize = 13;
}

/// Splits one frame into `(type, tag, body)` after checking its size field
/// against the slice.
pub fn split_frame(frame: &[u8]) -> Result<(u8, u16, &[u8]), FrameError> {
    let mut r = wire::Reader::new(frame);
    let (Ok(size), Ok(ty), Ok(tag)) = (r.u32(), r.u8(), r.u16()) else {
        return Err(FrameError::TooShort { len: frame.len() });
    };
    if usize::try_from(size).ok() != Some(frame.len()) {
        return Err(FrameError::SizeMismatch { declared: size, actual: frame.len() });
    }
    let body = frame.get(HEADER_LEN..).ok_or(FrameError::TooShort { len: frame.len() })?;
    Ok((ty, tag, body))
}

/// For stream transports: the length of the frame that starts with these 4
/// size bytes, checked against the header length and `max` (the msize).
pub fn frame_len(size_field: [u8; 4], max: u32) -> Result<usize, FrameError> {
    let declared = u32::from_le_bytes(size_field);
    if declared > max {
        return Err(FrameError::TooLarge { declared, max });
    }
    let len = usize::try_from(declared).map_err(|_| FrameError::TooLarge { declared, max })?;
    if len < HEADER_LEN {
        return Err(FrameError::TooShort { len });
    }
    Ok(len)
}

/// The result of decoding one frame: its tag, and the message or why its
/// body is malformed.
pub type Decoded<M> = (u16, Result<M, DecodeError>);

/// Decodes one request frame.
pub fn decode_t(frame: &[u8]) -> Result<Decoded<Tmessage<'_>>, FrameError> {
    let (ty, tag, body) = split_frame(frame)?;
    Ok((tag, Tmessage::decode_body(ty, body)))
}

/// Decodes one reply frame.
pub fn decode_r(frame: &[u8]) -> Result<Decoded<Rmessage<'_>>, FrameError> {
    let (ty, tag, body) = split_frame(frame)?;
    Ok((tag, Rmessage::decode_body(ty, body)))
}

fn encode_frame(
    ty: u8,
    tag: u16,
    body_len: usize,
    buf: &mut [u8],
    body: impl FnOnce(&mut wire::Writer<'_>) -> Result<(), EncodeError>,
) -> Result<usize, EncodeError> {
    let total = HEADER_LEN.checked_add(body_len).ok_or(EncodeError::TooLong)?;
    let size = u32::try_from(total).map_err(|_| EncodeError::TooLong)?;
    if buf.len() < total {
        return Err(EncodeError::BufferTooSmall { needed: total, available: buf.len() });
    }
    let mut w = wire::Writer::new(buf);
    w.u32(size)?;
    w.u8(ty)?;
    w.u16(tag)?;
    body(&mut w)?;
    Ok(w.position())
}

/// Encodes one message struct as a frame into `buf`; returns the frame length.
pub fn encode<'a, M: Message<'a>>(tag: u16, msg: &M, buf: &mut [u8]) -> Result<usize, EncodeError> {
    encode_frame(M::TYPE, tag, msg.body_len(), buf, |w| msg.encode_body(w))
}

fn encode_vec(
    len: usize,
    out: &mut Vec<u8>,
    f: impl FnOnce(&mut [u8]) -> Result<usize, EncodeError>,
) -> Result<(), EncodeError> {
    let start = out.len();
    out.resize(start.saturating_add(len), 0);
    match out.get_mut(start..).map(f) {
        Some(Ok(n)) => {
            out.truncate(start.saturating_add(n));
            Ok(())
        }
        Some(Err(e)) => {
            out.truncate(start);
            Err(e)
        }
        None => Err(EncodeError::TooLong),
    }
}

impl Tmessage<'_> {
    /// Length of the whole frame.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN.saturating_add(self.body_len())
    }

    /// Encodes the frame into `buf`; returns its length.
    pub fn encode(&self, tag: u16, buf: &mut [u8]) -> Result<usize, EncodeError> {
        encode_frame(self.msg_type(), tag, self.body_len(), buf, |w| self.encode_body(w))
    }

    /// Appends the frame to `out`.
    pub fn encode_to_vec(&self, tag: u16, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_vec(self.encoded_len(), out, |buf| self.encode(tag, buf))
    }
}

impl Rmessage<'_> {
    /// Length of the whole frame.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN.saturating_add(self.body_len())
    }

    /// Encodes the frame into `buf`; returns its length.
    pub fn encode(&self, tag: u16, buf: &mut [u8]) -> Result<usize, EncodeError> {
        encode_frame(self.msg_type(), tag, self.body_len(), buf, |w| self.encode_body(w))
    }

    /// Appends the frame to `out`.
    pub fn encode_to_vec(&self, tag: u16, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        encode_vec(self.encoded_len(), out, |buf| self.encode(tag, buf))
    }
}

/// Writes the header of an `Rread` frame carrying `count` data bytes into
/// `buf[..RREAD_HEADER_LEN]`, for servers that read file data directly into
/// `buf[RREAD_HEADER_LEN..]`. Returns the frame length.
pub fn encode_rread_header(tag: u16, count: u32, buf: &mut [u8]) -> Result<usize, EncodeError> {
    encode_data_header(RREAD, tag, count, buf)
}

/// Like [`encode_rread_header`] for `Rreaddir`, whose body has the same
/// `count[4] data` layout (pack the entries with [`DirentWriter`]).
pub fn encode_rreaddir_header(tag: u16, count: u32, buf: &mut [u8]) -> Result<usize, EncodeError> {
    encode_data_header(RREADDIR, tag, count, buf)
}

fn encode_data_header(ty: u8, tag: u16, count: u32, buf: &mut [u8]) -> Result<usize, EncodeError> {
    let header = u32::try_from(RREAD_HEADER_LEN).map_err(|_| EncodeError::TooLong)?;
    let size = header.checked_add(count).ok_or(EncodeError::TooLong)?;
    let mut w = wire::Writer::new(buf);
    w.u32(size)?;
    w.u8(ty)?;
    w.u16(tag)?;
    w.u32(count)?;
    usize::try_from(size).map_err(|_| EncodeError::TooLong)
}

#[cfg(test)]
mod tests;
