//! The 9P2000.L message table. Each message pair is one row; the macros
//! below generate from it the T and R structs, their type constants (R = T +
//! 1, numbers as in Linux `include/net/9p/9p.h`), their `WireFormat` impls,
//! the `Tmessage`/`Rmessage` enums and the decode dispatch. A field is
//! `name: kind`, where the kind selects both its Rust type and its encoding:
//!
//! | kind | Rust type | wire |
//! |---|---|---|
//! | `u8` `u16` `u32` `u64` | same | little endian |
//! | `qid` | [`Qid`] | type[1] version[4] path[8] |
//! | `str` | `&'a [u8]` | len[2] bytes, no NUL |
//! | `data` | `&'a [u8]` | count[4] bytes, borrowed from the frame |
//! | `names` | `Vec<&'a [u8]>` | nwname[2] nwname*str, at most 16 |
//! | `qids` | `Vec<Qid>` | nwqid[2] nwqid*qid, at most 16 |

use alloc::vec::Vec;

use crate::wire::{len, Reader, Writer};
use crate::{DecodeError, EncodeError, Qid};

/// A message body that can be encoded, decoded and measured.
pub trait WireFormat<'a>: Sized {
    /// Bytes of the body (without the 7-byte frame header).
    fn body_len(&self) -> usize;
    fn encode_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError>;
    /// Decodes the fields in order; the caller checks for trailing bytes.
    fn decode_body(r: &mut Reader<'a>) -> Result<Self, DecodeError>;
}

/// A message with its type number.
pub trait Message<'a>: WireFormat<'a> {
    const TYPE: u8;
}

macro_rules! wire_ty {
    (u8) => { u8 };
    (u16) => { u16 };
    (u32) => { u32 };
    (u64) => { u64 };
    (qid) => { Qid };
    (str) => { &'a [u8] };
    (data) => { &'a [u8] };
    (names) => { Vec<&'a [u8]> };
    (qids) => { Vec<Qid> };
}

macro_rules! wire_len {
    (u8, $v:expr) => {
        1
    };
    (u16, $v:expr) => {
        2
    };
    (u32, $v:expr) => {
        4
    };
    (u64, $v:expr) => {
        8
    };
    (qid, $v:expr) => {
        Qid::LEN
    };
    (str, $v:expr) => {
        len::str($v)
    };
    (data, $v:expr) => {
        len::data($v)
    };
    (names, $v:expr) => {
        len::names(&$v)
    };
    (qids, $v:expr) => {
        len::qids(&$v)
    };
}

macro_rules! wire_enc {
    ($w:ident, qid, $v:expr) => {
        $w.qid(&$v)
    };
    ($w:ident, names, $v:expr) => {
        $w.names(&$v)
    };
    ($w:ident, qids, $v:expr) => {
        $w.qids(&$v)
    };
    ($w:ident, $k:ident, $v:expr) => {
        $w.$k($v)
    };
}

/// One message struct with its `WireFormat` and `Message` impls.
macro_rules! wire_struct {
    ($name:ident $(<$lt:lifetime>)? = $ty:expr; { $($f:ident : $k:tt),* $(,)? }) => {
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct $name $(<$lt>)? {
            $(pub $f: wire_ty!($k),)*
        }

        impl<'a> WireFormat<'a> for $name $(<$lt>)? {
            fn body_len(&self) -> usize {
                0 $(+ wire_len!($k, self.$f))*
            }

            #[allow(unused_variables)]
            fn encode_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
                $(wire_enc!(w, $k, self.$f)?;)*
                Ok(())
            }

            #[allow(unused_variables)]
            fn decode_body(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
                Ok(Self { $($f: r.$k()?,)* })
            }
        }

        impl<'a> Message<'a> for $name $(<$lt>)? {
            const TYPE: u8 = $ty;
        }
    };
}

macro_rules! messages {
    ($(
        $variant:ident: $tconst:ident = $tnum:literal, $rconst:ident;
            $tname:ident $(<$tlt:lifetime>)? { $($tf:ident : $tk:tt),* $(,)? }
            $rname:ident $(<$rlt:lifetime>)? { $($rf:ident : $rk:tt),* $(,)? }
    )*) => {
        $(
            pub const $tconst: u8 = $tnum;
            pub const $rconst: u8 = $tnum + 1;
            wire_struct!($tname $(<$tlt>)? = $tconst; { $($tf: $tk),* });
            wire_struct!($rname $(<$rlt>)? = $rconst; { $($rf: $rk),* });

            impl<'a> From<$tname $(<$tlt>)?> for Tmessage<'a> {
                fn from(m: $tname $(<$tlt>)?) -> Self {
                    Self::$variant(m)
                }
            }

            impl<'a> From<$rname $(<$rlt>)?> for Rmessage<'a> {
                fn from(m: $rname $(<$rlt>)?) -> Self {
                    Self::$variant(m)
                }
            }
        )*

        /// Every request type, in table order.
        pub const T_TYPES: &[u8] = &[$($tconst),*];
        /// Every reply type except `RLERROR`, in table order.
        pub const R_TYPES: &[u8] = &[$($rconst),*];

        /// A request (client to server).
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Tmessage<'a> {
            $($variant($tname $(<$tlt>)?),)*
        }

        /// A reply (server to client). `Lerror` answers any request.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Rmessage<'a> {
            $($variant($rname $(<$rlt>)?),)*
            Lerror(Rlerror),
        }

        impl<'a> Tmessage<'a> {
            pub const fn msg_type(&self) -> u8 {
                match self {
                    $(Self::$variant(_) => $tconst,)*
                }
            }

            /// The message's name, for logs and traces ("walk", "lopen"...).
            pub const fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => stringify!($variant),)*
                }
            }

            pub fn body_len(&self) -> usize {
                match self {
                    $(Self::$variant(m) => m.body_len(),)*
                }
            }

            pub fn encode_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
                match self {
                    $(Self::$variant(m) => m.encode_body(w),)*
                }
            }

            /// Decodes a whole body of message type `ty`; no trailing bytes.
            pub fn decode_body(ty: u8, body: &'a [u8]) -> Result<Self, DecodeError> {
                let mut r = Reader::new(body);
                let msg = match ty {
                    $($tconst => Self::$variant(<$tname>::decode_body(&mut r)?),)*
                    _ => return Err(DecodeError::UnknownType(ty)),
                };
                r.finish()?;
                Ok(msg)
            }
        }

        impl<'a> Rmessage<'a> {
            pub const fn msg_type(&self) -> u8 {
                match self {
                    $(Self::$variant(_) => $rconst,)*
                    Self::Lerror(_) => RLERROR,
                }
            }

            pub const fn name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => stringify!($variant),)*
                    Self::Lerror(_) => "Lerror",
                }
            }

            pub fn body_len(&self) -> usize {
                match self {
                    $(Self::$variant(m) => m.body_len(),)*
                    Self::Lerror(m) => m.body_len(),
                }
            }

            pub fn encode_body(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
                match self {
                    $(Self::$variant(m) => m.encode_body(w),)*
                    Self::Lerror(m) => m.encode_body(w),
                }
            }

            pub fn decode_body(ty: u8, body: &'a [u8]) -> Result<Self, DecodeError> {
                let mut r = Reader::new(body);
                let msg = match ty {
                    $($rconst => Self::$variant(<$rname>::decode_body(&mut r)?),)*
                    RLERROR => Self::Lerror(Rlerror::decode_body(&mut r)?),
                    _ => return Err(DecodeError::UnknownType(ty)),
                };
                r.finish()?;
                Ok(msg)
            }
        }
    };
}

/// `Tlerror` (6) is never sent; the number is kept reserved.
pub const _TLERROR: u8 = 6;
pub const RLERROR: u8 = 7;
wire_struct!(Rlerror = RLERROR; { ecode: u32 });

impl From<Rlerror> for Rmessage<'_> {
    fn from(m: Rlerror) -> Self {
        Self::Lerror(m)
    }
}

messages! {
    Statfs: TSTATFS = 8, RSTATFS;
        Tstatfs { fid: u32 }
        Rstatfs {
            ty: u32, bsize: u32, blocks: u64, bfree: u64, bavail: u64,
            files: u64, ffree: u64, fsid: u64, namelen: u32,
        }
    Lopen: TLOPEN = 12, RLOPEN;
        Tlopen { fid: u32, flags: u32 }
        Rlopen { qid: qid, iounit: u32 }
    Lcreate: TLCREATE = 14, RLCREATE;
        Tlcreate<'a> { fid: u32, name: str, flags: u32, mode: u32, gid: u32 }
        Rlcreate { qid: qid, iounit: u32 }
    Symlink: TSYMLINK = 16, RSYMLINK;
        Tsymlink<'a> { fid: u32, name: str, symtgt: str, gid: u32 }
        Rsymlink { qid: qid }
    Mknod: TMKNOD = 18, RMKNOD;
        Tmknod<'a> { dfid: u32, name: str, mode: u32, major: u32, minor: u32, gid: u32 }
        Rmknod { qid: qid }
    Rename: TRENAME = 20, RRENAME;
        Trename<'a> { fid: u32, dfid: u32, name: str }
        Rrename {}
    Readlink: TREADLINK = 22, RREADLINK;
        Treadlink { fid: u32 }
        Rreadlink<'a> { target: str }
    Getattr: TGETATTR = 24, RGETATTR;
        Tgetattr { fid: u32, request_mask: u64 }
        Rgetattr {
            valid: u64, qid: qid, mode: u32, uid: u32, gid: u32, nlink: u64, rdev: u64, size: u64,
            blksize: u64, blocks: u64, atime_sec: u64, atime_nsec: u64, mtime_sec: u64, mtime_nsec: u64,
            ctime_sec: u64, ctime_nsec: u64, btime_sec: u64, btime_nsec: u64, gen: u64, data_version: u64,
        }
    Setattr: TSETATTR = 26, RSETATTR;
        Tsetattr {
            fid: u32, valid: u32, mode: u32, uid: u32, gid: u32, size: u64,
            atime_sec: u64, atime_nsec: u64, mtime_sec: u64, mtime_nsec: u64,
        }
        Rsetattr {}
    Xattrwalk: TXATTRWALK = 30, RXATTRWALK;
        Txattrwalk<'a> { fid: u32, newfid: u32, name: str }
        Rxattrwalk { size: u64 }
    Xattrcreate: TXATTRCREATE = 32, RXATTRCREATE;
        Txattrcreate<'a> { fid: u32, name: str, attr_size: u64, flags: u32 }
        Rxattrcreate {}
    Readdir: TREADDIR = 40, RREADDIR;
        Treaddir { fid: u32, offset: u64, count: u32 }
        Rreaddir<'a> { data: data }
    Fsync: TFSYNC = 50, RFSYNC;
        Tfsync { fid: u32, datasync: u32 }
        Rfsync {}
    Lock: TLOCK = 52, RLOCK;
        Tlock<'a> { fid: u32, ty: u8, flags: u32, start: u64, length: u64, proc_id: u32, client_id: str }
        Rlock { status: u8 }
    Getlock: TGETLOCK = 54, RGETLOCK;
        Tgetlock<'a> { fid: u32, ty: u8, start: u64, length: u64, proc_id: u32, client_id: str }
        Rgetlock<'a> { ty: u8, start: u64, length: u64, proc_id: u32, client_id: str }
    Link: TLINK = 70, RLINK;
        Tlink<'a> { dfid: u32, fid: u32, name: str }
        Rlink {}
    Mkdir: TMKDIR = 72, RMKDIR;
        Tmkdir<'a> { dfid: u32, name: str, mode: u32, gid: u32 }
        Rmkdir { qid: qid }
    Renameat: TRENAMEAT = 74, RRENAMEAT;
        Trenameat<'a> { olddirfid: u32, oldname: str, newdirfid: u32, newname: str }
        Rrenameat {}
    Unlinkat: TUNLINKAT = 76, RUNLINKAT;
        Tunlinkat<'a> { dirfid: u32, name: str, flags: u32 }
        Runlinkat {}
    Version: TVERSION = 100, RVERSION;
        Tversion<'a> { msize: u32, version: str }
        Rversion<'a> { msize: u32, version: str }
    Auth: TAUTH = 102, RAUTH;
        Tauth<'a> { afid: u32, uname: str, aname: str, n_uname: u32 }
        Rauth { aqid: qid }
    Attach: TATTACH = 104, RATTACH;
        Tattach<'a> { fid: u32, afid: u32, uname: str, aname: str, n_uname: u32 }
        Rattach { qid: qid }
    Flush: TFLUSH = 108, RFLUSH;
        Tflush { oldtag: u16 }
        Rflush {}
    Walk: TWALK = 110, RWALK;
        Twalk<'a> { fid: u32, newfid: u32, wnames: names }
        Rwalk { wqids: qids }
    Read: TREAD = 116, RREAD;
        Tread { fid: u32, offset: u64, count: u32 }
        Rread<'a> { data: data }
    Write: TWRITE = 118, RWRITE;
        Twrite<'a> { fid: u32, offset: u64, data: data }
        Rwrite { count: u32 }
    Clunk: TCLUNK = 120, RCLUNK;
        Tclunk { fid: u32 }
        Rclunk {}
    Remove: TREMOVE = 122, RREMOVE;
        Tremove { fid: u32 }
        Rremove {}
}
