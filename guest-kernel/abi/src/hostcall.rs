//! Hostcalls: requests the sentry makes to the VMM.
//!
//! The guest fills its vCPU's [`HostcallBlock`] (at
//! [`crate::layout::hostcall_block_gpa`]) and writes any 32-bit value to
//! [`HOSTCALL_PORT`]. The VMM validates the block (version, number, every
//! guest-physical range), performs the request and writes `ret`/`ret2` back
//! before resuming the vCPU. A malformed request ends the sandbox.
//!
//! The block is shaped so the same requests can later move onto a ring
//! served by a VMM thread: it is self-describing and holds no pointers other
//! than guest-physical ranges.

/// Port the guest writes to signal a hostcall.
pub const HOSTCALL_PORT: u16 = 0x7f0;
/// Version of the block layout; the VMM refuses any other.
pub const HOSTCALL_VERSION: u32 = 1;
/// Maximum scatter/gather segments in one request.
pub const MAX_SEGMENTS: usize = 128;
/// Largest total byte count of one request's segments.
pub const MAX_TRANSFER: u64 = 16 << 20;

/// One guest-physical range of a request's data.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub gpa: u64,
    pub len: u64,
}

/// The request block, one per vCPU.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HostcallBlock {
    /// Must be [`HOSTCALL_VERSION`].
    pub version: u32,
    /// A [`Hostcall`] number.
    pub nr: u32,
    /// Request arguments; meaning per hostcall.
    pub args: [u64; 4],
    /// Result: `>= 0` success, `< 0` a negated Linux errno.
    pub ret: i64,
    /// Second result word.
    pub ret2: u64,
    /// Number of valid entries in `segments`.
    pub nsegs: u32,
    pub pad: u32,
    /// Data ranges of the request.
    pub segments: [Segment; MAX_SEGMENTS],
}

impl HostcallBlock {
    /// An empty request.
    pub const fn new() -> Self {
        Self {
            version: HOSTCALL_VERSION,
            nr: 0,
            args: [0; 4],
            ret: 0,
            ret2: 0,
            nsegs: 0,
            pad: 0,
            segments: [Segment { gpa: 0, len: 0 }; MAX_SEGMENTS],
        }
    }
}

impl Default for HostcallBlock {
    fn default() -> Self {
        Self::new()
    }
}

const _: () = assert!(core::mem::size_of::<HostcallBlock>() <= 4096);

macro_rules! hostcalls {
    ($($(#[$meta:meta])* $name:ident = $num:literal,)*) => {
        /// The hostcall table.
        #[repr(u32)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Hostcall {
            $($(#[$meta])* $name = $num,)*
        }

        impl Hostcall {
            /// Decodes a hostcall number.
            pub const fn from_raw(nr: u32) -> Option<Self> {
                match nr {
                    $($num => Some(Self::$name),)*
                    _ => None,
                }
            }

            /// The hostcall's name, for logs.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($name),)*
                }
            }
        }
    };
}

hostcalls! {
    /// Write the segments to host fd `args[0]` (1 or 2, or a descriptor
    /// registered for an exec'd process: `-EBADF` once it is gone).
    /// `ret`: bytes written.
    Write = 1,
    /// Read from host fd `args[0]` (0, or a registered descriptor) into the
    /// segments. `ret`: bytes read, 0 at EOF.
    Read = 2,
    /// End the sandbox: `args[0]` an [`ExitKind`], `args[1]` the code or signal.
    Exit = 3,
    /// `ret`: host CLOCK_REALTIME in ns; `ret2`: host CLOCK_MONOTONIC in ns.
    Clock = 4,
    /// Sleep `args[0]` ns on the host; ends early when the sandbox is torn
    /// down or a control request arrives (the guest re-checks its clock).
    Sleep = 5,
    /// One log line at level `args[0]` ([`LogLevel`]) with the segments as text.
    Log = 6,
    /// The sentry failed: the segments hold the message. Never returns.
    Panic = 7,
    /// One 9P2000.L exchange with the gofer. The first `args[0]` segments
    /// hold the T-message (written to the gofer as they are), the remaining
    /// segments receive the R-message in order (its first segment at least
    /// [`P9_MIN_REPLY`] bytes). `ret`: the R-message's size, or `-errno`
    /// (EIO once the gofer connection is lost, ENOSYS without a gofer).
    /// `ret2`: a donated-file handle for [`Hostcall::FileRead`] when the
    /// gofer passed the host fd it opened along with the reply (an
    /// `Rlopen` for reading), else 0.
    P9 = 8,
    /// Wait up to `args[2]` ns (0: just look) until host fd `args[0]` (0, 1
    /// or 2, or a registered descriptor) is ready for `args[1]` (POLLIN for
    /// 0, POLLOUT for 1 and 2). `ret`: the ready events
    /// (POLLIN/POLLOUT/POLLHUP/POLLERR), 0 on timeout or when a control
    /// request arrives, `-EINTR` when the VM is being stopped.
    /// With [`POLL_WATCH_WINSIZE`] in `args[1]` (with POLLIN), also returns
    /// early when the window size of the host fd differs from `args[3]`
    /// ([`pack_winsize`]); `ret2` is then always its current window size.
    Poll = 9,
    /// Takes the next control request (`abi::control`) into the segments
    /// (at least [`crate::control::MAX_REQUEST`] bytes in all). `ret`: its
    /// size, 0 when none waits.
    ControlFetch = 10,
    /// A control reply or event (`abi::control`) in the segments (at most
    /// [`crate::control::MAX_REPLY`] bytes). `ret`: 0, or `-EINVAL` for a
    /// malformed message, `-ENOENT` for an id nobody waits for.
    ControlReply = 11,
    /// Read from donated file `args[0]` (a `ret2` of [`Hostcall::P9`]) at
    /// offset `args[1]` into the segments, as `preadv` until they are full
    /// or the file ends, with no gofer round trip. `ret`: bytes read, or
    /// `-EBADF` for a handle the VMM does not hold.
    FileRead = 12,
    /// Release donated file `args[0]` (its fid is being clunked). `ret`: 0
    /// or `-EBADF`.
    FileClose = 13,
}

/// Donated files the VMM holds at once; beyond, donations are refused
/// (`ret2` 0) and reads go through the gofer.
pub const MAX_DONATED_FILES: usize = 1024;

/// [`Hostcall::Poll`] `args[1]` flag: watch the host fd's window size.
pub const POLL_WATCH_WINSIZE: u64 = 1 << 32;

/// A window size as one word (`ret2` of [`Hostcall::Poll`]).
pub const fn pack_winsize(w: crate::linux::Winsize) -> u64 {
    (w.ws_row as u64) | (w.ws_col as u64) << 16 | (w.ws_xpixel as u64) << 32 | (w.ws_ypixel as u64) << 48
}

/// The inverse of [`pack_winsize`].
#[allow(clippy::cast_possible_truncation)] // each field is 16 bits by construction
pub const fn unpack_winsize(v: u64) -> crate::linux::Winsize {
    crate::linux::Winsize {
        ws_row: v as u16,
        ws_col: (v >> 16) as u16,
        ws_xpixel: (v >> 32) as u16,
        ws_ypixel: (v >> 48) as u16,
    }
}

/// Largest 9P message either way (the msize the VMM accepts).
pub const P9_MAX_MESSAGE: u64 = 4 << 20;
/// Smallest first reply segment: size[4] type[1] tag[2].
pub const P9_MIN_REPLY: u64 = 7;

/// How the application ended ([`Hostcall::Exit`] `args[0]`).
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// `exit_group(code)`: `args[1]` is the code (low 8 bits used).
    Exited = 0,
    /// Killed by signal `args[1]`.
    Signaled = 1,
}

impl ExitKind {
    /// Decodes an exit kind.
    pub const fn from_raw(v: u64) -> Option<Self> {
        match v {
            0 => Some(Self::Exited),
            1 => Some(Self::Signaled),
            _ => None,
        }
    }
}

/// Levels of [`Hostcall::Log`].
#[repr(u64)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}

impl LogLevel {
    /// Decodes a level.
    pub const fn from_raw(v: u64) -> Option<Self> {
        match v {
            1 => Some(Self::Error),
            2 => Some(Self::Warn),
            3 => Some(Self::Info),
            4 => Some(Self::Debug),
            5 => Some(Self::Trace),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn winsize_packs_into_one_word() {
        let w = crate::linux::Winsize { ws_row: 33, ws_col: 77, ws_xpixel: 0xffff, ws_ypixel: 0x8001 };
        assert_eq!(unpack_winsize(pack_winsize(w)), w);
        assert_eq!(pack_winsize(crate::linux::Winsize::default()), 0);
    }

    #[test]
    fn numbers_round_trip() {
        for h in [
            Hostcall::Write,
            Hostcall::Read,
            Hostcall::Exit,
            Hostcall::Clock,
            Hostcall::Sleep,
            Hostcall::Log,
            Hostcall::Panic,
            Hostcall::P9,
            Hostcall::Poll,
            Hostcall::ControlFetch,
            Hostcall::ControlReply,
            Hostcall::FileRead,
            Hostcall::FileClose,
        ] {
            assert_eq!(Hostcall::from_raw(h as u32), Some(h));
        }
        assert_eq!(Hostcall::from_raw(0), None);
        assert_eq!(Hostcall::from_raw(u32::MAX), None);
    }
}
