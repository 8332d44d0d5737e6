//! Codec errors. Hand-written `Display`/`Error` impls: the crate has no
//! dependencies so that it cannot pull `std` into the guest image.

use core::fmt;

/// Why a frame could not be split into `tag` + body: nothing can be answered,
/// the peer is out of sync and the connection should be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer than the 7 header bytes (size, type, tag).
    TooShort { len: usize },
    /// The size field does not equal the length of the slice given.
    SizeMismatch { declared: u32, actual: usize },
    /// The size field exceeds the negotiated maximum (msize).
    TooLarge { declared: u32, max: u32 },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort { len } => write!(f, "9P frame of {len} bytes is shorter than its 7-byte header"),
            Self::SizeMismatch { declared, actual } => {
                write!(f, "9P frame declares {declared} bytes but {actual} were given")
            }
            Self::TooLarge { declared, max } => write!(f, "9P frame of {declared} bytes exceeds msize {max}"),
        }
    }
}

impl core::error::Error for FrameError {}

/// Why a message body (after a valid frame header) could not be decoded.
/// The tag is known at this point, so the server answers with `Rlerror`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The message type byte is not a 9P2000.L message of this direction.
    UnknownType(u8),
    /// A field, count or length runs past the end of the frame.
    Truncated,
    /// The body is longer than its fields.
    TrailingBytes { extra: usize },
    /// A string contains a NUL byte (never valid in a Linux name or path).
    NulInString,
    /// `nwname`/`nwqid` above `MAXWELEM` (16).
    TooManyWalkElements(u16),
}

impl DecodeError {
    /// The errno the server answers a malformed request with:
    /// `EOPNOTSUPP` for a message it does not know, `EINVAL` otherwise.
    pub const fn errno(&self) -> u32 {
        match self {
            Self::UnknownType(_) => crate::errno::EOPNOTSUPP,
            _ => crate::errno::EINVAL,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownType(t) => write!(f, "unknown 9P2000.L message type {t}"),
            Self::Truncated => f.write_str("9P message body is truncated"),
            Self::TrailingBytes { extra } => write!(f, "9P message body has {extra} trailing bytes"),
            Self::NulInString => f.write_str("9P string contains a NUL byte"),
            Self::TooManyWalkElements(n) => write!(f, "9P walk with {n} elements exceeds MAXWELEM"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// Why a message could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodeError {
    /// The output slice is shorter than `encoded_len()`.
    BufferTooSmall { needed: usize, available: usize },
    /// A string longer than 65535 bytes or containing NUL.
    InvalidString,
    /// More than 16 walk names/qids, or a data blob longer than `u32::MAX`.
    TooLong,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BufferTooSmall { needed, available } => {
                write!(f, "9P message needs {needed} bytes, buffer has {available}")
            }
            Self::InvalidString => f.write_str("9P string is longer than 65535 bytes or contains NUL"),
            Self::TooLong => f.write_str("9P field has more elements than the protocol allows"),
        }
    }
}

impl core::error::Error for EncodeError {}
