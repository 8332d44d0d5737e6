//! The line discipline (Linux's n_tty, gVisor's `line_discipline.go`):
//! termios, input editing in canonical mode, echo, input and output
//! character mapping, and the signal characters. Pure state, no kernel:
//! the caller moves the bytes and raises the signals it reports.
//!
//! Not implemented: IXON/IXOFF flow control (^S and ^Q are ordinary input),
//! column-dependent output (ONOCR, ONLRET, tab expansion, delays), XCASE,
//! ECHOPRT, PARMRK and the REPRINT/DISCARD characters.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

use abi::linux::signal::{SIGINT, SIGQUIT, SIGTSTP};

/// Size of the input queue (N_TTY_BUF_SIZE): input beyond it is dropped.
pub const INPUT_MAX: usize = 4096;

/// Indices of `c_cc`.
pub mod cc {
    pub const VINTR: usize = 0;
    pub const VQUIT: usize = 1;
    pub const VERASE: usize = 2;
    pub const VKILL: usize = 3;
    pub const VEOF: usize = 4;
    pub const VTIME: usize = 5;
    pub const VMIN: usize = 6;
    pub const VSUSP: usize = 10;
    pub const VEOL: usize = 11;
    pub const VWERASE: usize = 14;
    pub const VLNEXT: usize = 15;
    pub const VEOL2: usize = 16;
    pub const NCCS: usize = 19;
}

/// `c_iflag` bits.
pub mod iflag {
    pub const ISTRIP: u32 = 0o40;
    pub const INLCR: u32 = 0o100;
    pub const IGNCR: u32 = 0o200;
    pub const ICRNL: u32 = 0o400;
    pub const IXON: u32 = 0o2000;
    pub const IUTF8: u32 = 0o40000;
}

/// `c_oflag` bits.
pub mod oflag {
    pub const OPOST: u32 = 0o1;
    pub const OLCUC: u32 = 0o2;
    pub const ONLCR: u32 = 0o4;
    pub const OCRNL: u32 = 0o10;
}

/// `c_lflag` bits.
pub mod lflag {
    pub const ISIG: u32 = 0o1;
    pub const ICANON: u32 = 0o2;
    pub const ECHO: u32 = 0o10;
    pub const ECHOE: u32 = 0o20;
    pub const ECHOK: u32 = 0o40;
    pub const ECHONL: u32 = 0o100;
    pub const NOFLSH: u32 = 0o200;
    pub const TOSTOP: u32 = 0o400;
    pub const ECHOCTL: u32 = 0o1000;
    pub const ECHOKE: u32 = 0o4000;
    pub const IEXTEN: u32 = 0o100000;
}

/// The kernel `struct termios` (TCGETS layout, 36 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Termios {
    pub iflag: u32,
    pub oflag: u32,
    pub cflag: u32,
    pub lflag: u32,
    pub line: u8,
    pub cc: [u8; cc::NCCS],
}

/// B38400 | CS8 | CREAD: what Linux's pty slaves start with (no HUPCL).
const STD_CFLAG: u32 = 0o277;

impl Default for Termios {
    /// Linux's `tty_std_termios`: cooked mode with echo and signals.
    fn default() -> Self {
        use lflag::*;
        Self {
            iflag: iflag::ICRNL | iflag::IXON,
            oflag: oflag::OPOST | oflag::ONLCR,
            cflag: STD_CFLAG,
            lflag: ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN,
            line: 0,
            // INIT_C_CC: ^C ^\ DEL ^U ^D, VTIME 0, VMIN 1, then ^Q ^S ^Z,
            // EOL 0, ^R ^O ^W ^V, EOL2 0.
            cc: [3, 0x1c, 0x7f, 0x15, 4, 0, 1, 0, 0x11, 0x13, 0x1a, 0, 0x12, 0x0f, 0x17, 0x16, 0, 0, 0],
        }
    }
}

impl Termios {
    /// Encodes the 36-byte kernel layout.
    pub fn to_bytes(&self) -> [u8; 36] {
        let mut b = [0u8; 36];
        for (i, v) in [self.iflag, self.oflag, self.cflag, self.lflag].iter().enumerate() {
            b[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        b[16] = self.line;
        b[17..36].copy_from_slice(&self.cc);
        b
    }

    /// Decodes the 36-byte kernel layout.
    pub fn from_bytes(b: &[u8; 36]) -> Self {
        let word = |i: usize| u32::from_le_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]]);
        let mut cc = [0u8; cc::NCCS];
        cc.copy_from_slice(&b[17..36]);
        Self { iflag: word(0), oflag: word(1), cflag: word(2), lflag: word(3), line: b[16], cc }
    }

    fn l(&self, bit: u32) -> bool {
        self.lflag & bit != 0
    }

    /// Whether `c` is the enabled control character at `idx` (0 disables).
    fn is(&self, idx: usize, c: u8) -> bool {
        self.cc[idx] != 0 && self.cc[idx] == c
    }
}

/// What a piece of input caused, besides becoming readable.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct InputEffects {
    /// Echo for the terminal's output side (already output-processed).
    pub echo: Vec<u8>,
    /// Signals for the foreground process group, in order.
    pub signals: Vec<u32>,
    /// How many input bytes were taken (the rest did not fit).
    pub taken: usize,
}

/// The line discipline of one terminal.
#[derive(Debug, Default, Clone)]
pub struct LineDiscipline {
    pub termios: Termios,
    /// The canonical line being edited (not readable yet).
    line: Vec<u8>,
    /// Readable bytes.
    ready: VecDeque<u8>,
    /// Canonical mode: the lengths of the lines in `ready`, in order (a
    /// line ended by EOF may be empty: a read of it returns 0).
    lines: VecDeque<usize>,
    /// The previous character was LNEXT: take the next one literally.
    lnext: bool,
}

impl LineDiscipline {
    fn canonical(&self) -> bool {
        self.termios.l(lflag::ICANON)
    }

    /// Sets the termios, moving the input between canonical and raw
    /// queues as Linux does when ICANON changes.
    pub fn set_termios(&mut self, t: Termios) {
        let was = self.canonical();
        self.termios = t;
        let now = self.canonical();
        if was && !now {
            // The line being edited becomes readable as it is.
            self.ready.extend(self.line.drain(..));
            self.lines.clear();
        } else if !was && now && !self.ready.is_empty() {
            self.lines.clear();
            self.lines.push_back(self.ready.len());
        }
    }

    /// Bytes a read could take now (FIONREAD).
    pub fn readable_len(&self) -> usize {
        if self.canonical() {
            self.lines.iter().sum()
        } else {
            self.ready.len()
        }
    }

    /// Whether a read would return now (a line, or data in raw mode;
    /// VMIN/VTIME are applied by [`Self::read`]).
    pub fn has_input(&self) -> bool {
        if self.canonical() {
            !self.lines.is_empty()
        } else {
            !self.ready.is_empty()
        }
    }

    /// Room left in the input queue.
    pub fn room(&self) -> usize {
        INPUT_MAX.saturating_sub(self.ready.len() + self.line.len())
    }

    /// Discards all input (TCIFLUSH, a signal character without NOFLSH).
    pub fn flush_input(&mut self) {
        self.line.clear();
        self.ready.clear();
        self.lines.clear();
        self.lnext = false;
    }

    /// Reads at most `max` bytes. `None`: the read must wait. `timed_out`:
    /// the VTIME timer of this read expired (raw mode). Canonical reads
    /// return at most one line; raw reads follow VMIN/VTIME.
    pub fn read(&mut self, max: usize, timed_out: bool) -> Option<Vec<u8>> {
        if self.canonical() {
            let len = *self.lines.front()?;
            let n = len.min(max);
            let out: Vec<u8> = self.ready.drain(..n).collect();
            if n == len {
                self.lines.pop_front();
            } else if let Some(front) = self.lines.front_mut() {
                *front -= n;
            }
            return Some(out);
        }
        let vmin = usize::from(self.termios.cc[cc::VMIN]);
        let vtime = self.termios.cc[cc::VTIME];
        let have = self.ready.len();
        let enough = match (vmin, vtime) {
            (0, 0) => true,
            (0, _) => have > 0 || timed_out,
            (m, 0) => have >= m.min(max).max(1),
            (m, _) => have >= m.min(max).max(1) || (have > 0 && timed_out),
        };
        if !enough {
            return None;
        }
        let n = have.min(max);
        Some(self.ready.drain(..n).collect())
    }

    /// How long (ns) a raw-mode read may wait once it has to: VTIME tenths
    /// of a second (None: no limit).
    pub fn read_timeout_ns(&self) -> Option<u64> {
        let vtime = self.termios.cc[cc::VTIME];
        (!self.canonical() && vtime != 0).then(|| u64::from(vtime) * 100_000_000)
    }

    /// Output processing (OPOST) of `data`, appended to `out`.
    pub fn process_output(&self, data: &[u8], out: &mut Vec<u8>) {
        let o = self.termios.oflag;
        if o & oflag::OPOST == 0 {
            out.extend_from_slice(data);
            return;
        }
        for &c in data {
            match c {
                b'\n' if o & oflag::ONLCR != 0 => out.extend_from_slice(b"\r\n"),
                b'\r' if o & oflag::OCRNL != 0 => out.push(b'\n'),
                c if o & oflag::OLCUC != 0 => out.push(c.to_ascii_uppercase()),
                c => out.push(c),
            }
        }
    }

    /// The echo of `c`: control characters as `^X` with ECHOCTL.
    fn echo_char(&self, c: u8, out: &mut Vec<u8>) {
        if !self.termios.l(lflag::ECHO) {
            return;
        }
        if self.termios.l(lflag::ECHOCTL) && is_ctl(c) {
            out.extend_from_slice(&[b'^', c ^ 0x40]);
        } else {
            self.process_output(&[c], out);
        }
    }

    /// Erases the last character of the line, echoing the erasure.
    fn erase_one(&mut self, out: &mut Vec<u8>) -> Option<u8> {
        let c = self.line.pop()?;
        if self.termios.l(lflag::ECHO) && self.termios.l(lflag::ECHOE) {
            let width = if self.termios.l(lflag::ECHOCTL) && is_ctl(c) { 2 } else { 1 };
            // A UTF-8 continuation byte takes no column of its own.
            let width = if self.termios.iflag & iflag::IUTF8 != 0 && c & 0xc0 == 0x80 { 0 } else { width };
            for _ in 0..width {
                out.extend_from_slice(b"\x08 \x08");
            }
        }
        Some(c)
    }

    /// Takes input bytes (from the master side or the host terminal).
    pub fn receive(&mut self, input: &[u8]) -> InputEffects {
        let mut fx = InputEffects::default();
        for &byte in input {
            if self.room() == 0 && !self.canonical() {
                break;
            }
            fx.taken += 1;
            self.receive_one(byte, &mut fx);
        }
        fx
    }

    fn receive_one(&mut self, byte: u8, fx: &mut InputEffects) {
        let t = self.termios;
        let mut c = byte;
        if t.iflag & iflag::ISTRIP != 0 {
            c &= 0x7f;
        }
        if core::mem::take(&mut self.lnext) {
            if self.termios.l(lflag::ECHO) {
                // Rub out the "^" echoed for LNEXT.
                fx.echo.extend_from_slice(b"\x08");
            }
            self.push_char(c, fx);
            return;
        }
        match c {
            b'\r' if t.iflag & iflag::IGNCR != 0 => return,
            b'\r' if t.iflag & iflag::ICRNL != 0 => c = b'\n',
            b'\n' if t.iflag & iflag::INLCR != 0 => c = b'\r',
            _ => {}
        }
        if t.l(lflag::ISIG) {
            let sig = if t.is(cc::VINTR, c) {
                Some(SIGINT)
            } else if t.is(cc::VQUIT, c) {
                Some(SIGQUIT)
            } else if t.is(cc::VSUSP, c) {
                Some(SIGTSTP)
            } else {
                None
            };
            if let Some(sig) = sig {
                if !t.l(lflag::NOFLSH) {
                    self.flush_input();
                }
                fx.signals.push(sig);
                self.echo_char(c, &mut fx.echo);
                return;
            }
        }
        if !t.l(lflag::ICANON) {
            self.push_char(c, fx);
            return;
        }
        let iexten = t.l(lflag::IEXTEN);
        if iexten && t.is(cc::VLNEXT, c) {
            self.lnext = true;
            if t.l(lflag::ECHO) {
                fx.echo.push(b'^');
            }
            return;
        }
        if t.is(cc::VERASE, c) {
            if self.erase_one(&mut fx.echo).is_some() && t.l(lflag::ECHO) && !t.l(lflag::ECHOE) {
                self.echo_char(c, &mut fx.echo);
            }
            return;
        }
        if iexten && t.is(cc::VWERASE, c) {
            while self.line.last().is_some_and(|b| b.is_ascii_whitespace()) {
                self.erase_one(&mut fx.echo);
            }
            while self.line.last().is_some_and(|b| !b.is_ascii_whitespace()) {
                self.erase_one(&mut fx.echo);
            }
            return;
        }
        if t.is(cc::VKILL, c) {
            if t.l(lflag::ECHO) && t.l(lflag::ECHOE) && t.l(lflag::ECHOKE) {
                while self.erase_one(&mut fx.echo).is_some() {}
            } else {
                self.line.clear();
                self.echo_char(c, &mut fx.echo);
                if t.l(lflag::ECHO) && t.l(lflag::ECHOK) {
                    self.process_output(b"\n", &mut fx.echo);
                }
            }
            return;
        }
        if t.is(cc::VEOF, c) {
            self.end_line();
            return;
        }
        let eol = c == b'\n' || t.is(cc::VEOL, c) || (iexten && t.is(cc::VEOL2, c));
        if eol {
            if self.line.len() + self.ready.len() >= INPUT_MAX {
                return;
            }
            self.line.push(c);
            if t.l(lflag::ECHO) || (c == b'\n' && t.l(lflag::ECHONL)) {
                if c == b'\n' {
                    self.process_output(b"\n", &mut fx.echo);
                } else {
                    self.echo_char(c, &mut fx.echo);
                }
            }
            self.end_line();
            return;
        }
        // Keep room for the newline that ends the line (as n_tty does).
        if self.line.len() + self.ready.len() >= INPUT_MAX - 1 {
            return;
        }
        self.push_char(c, fx);
    }

    /// Adds an ordinary character to the line (canonical) or the readable
    /// queue (raw), with its echo.
    fn push_char(&mut self, c: u8, fx: &mut InputEffects) {
        if self.canonical() {
            self.line.push(c);
        } else {
            self.ready.push_back(c);
        }
        self.echo_char(c, &mut fx.echo);
    }

    /// Makes the edited line readable.
    fn end_line(&mut self) {
        let n = self.line.len();
        self.ready.extend(self.line.drain(..));
        self.lines.push_back(n);
    }
}

/// A character ECHOCTL shows as `^X`: controls other than tab and newline,
/// and DEL.
fn is_ctl(c: u8) -> bool {
    (c < 0x20 && c != b'\t' && c != b'\n') || c == 0x7f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld() -> LineDiscipline {
        LineDiscipline::default()
    }

    #[test]
    fn termios_layout_round_trips() {
        let t = Termios::default();
        let b = t.to_bytes();
        assert_eq!(&b[0..4], &0o2400u32.to_le_bytes());
        assert_eq!(&b[12..16], &0o105073u32.to_le_bytes());
        assert_eq!(b[17], 3);
        assert_eq!(Termios::from_bytes(&b), t);
    }

    #[test]
    fn canonical_line_with_echo() {
        let mut l = ld();
        let fx = l.receive(b"hi\r");
        assert_eq!(fx.echo, b"hi\r\n");
        assert_eq!(fx.taken, 3);
        assert_eq!(l.read(100, false).as_deref(), Some(&b"hi\n"[..]));
        assert_eq!(l.read(100, false), None);
    }

    #[test]
    fn partial_line_is_not_readable() {
        let mut l = ld();
        l.receive(b"abc");
        assert!(!l.has_input());
        assert_eq!(l.read(10, false), None);
        l.receive(b"\n");
        assert_eq!(l.readable_len(), 4);
        assert_eq!(l.read(2, false).as_deref(), Some(&b"ab"[..]));
        assert_eq!(l.read(10, false).as_deref(), Some(&b"c\n"[..]));
    }

    #[test]
    fn reads_stop_at_line_ends() {
        let mut l = ld();
        l.receive(b"one\ntwo\n");
        assert_eq!(l.read(100, false).as_deref(), Some(&b"one\n"[..]));
        assert_eq!(l.read(100, false).as_deref(), Some(&b"two\n"[..]));
    }

    #[test]
    fn erase_kill_and_word_erase() {
        let mut l = ld();
        let fx = l.receive(b"abx\x7fc\n");
        assert_eq!(fx.echo, b"abx\x08 \x08c\r\n");
        assert_eq!(l.read(100, false).as_deref(), Some(&b"abc\n"[..]));
        let fx = l.receive(b"junk\x15ok\n");
        assert_eq!(&fx.echo[..4], b"junk");
        assert_eq!(fx.echo.windows(3).filter(|w| w == b"\x08 \x08").count(), 4);
        assert_eq!(l.read(100, false).as_deref(), Some(&b"ok\n"[..]));
        l.receive(b"echo foo bar\x17baz\n");
        assert_eq!(l.read(100, false).as_deref(), Some(&b"echo foo baz\n"[..]));
        // Erasing an empty line echoes nothing.
        assert_eq!(l.receive(b"\x7f").echo, b"");
    }

    #[test]
    fn eof_ends_a_line_and_reads_zero_on_empty() {
        let mut l = ld();
        let fx = l.receive(b"ab\x04");
        assert_eq!(fx.echo, b"ab");
        assert_eq!(l.read(100, false).as_deref(), Some(&b"ab"[..]));
        l.receive(b"\x04");
        assert_eq!(l.read(100, false).as_deref(), Some(&b""[..]));
        assert_eq!(l.read(100, false), None);
    }

    #[test]
    fn lnext_quotes_a_control_character() {
        let mut l = ld();
        l.receive(b"\x16\x03\n");
        assert_eq!(l.read(100, false).as_deref(), Some(&b"\x03\n"[..]));
    }

    #[test]
    fn signal_characters_flush_and_echo() {
        let mut l = ld();
        let fx = l.receive(b"partial\x03");
        assert_eq!(fx.signals, alloc::vec![SIGINT]);
        assert!(fx.echo.ends_with(b"^C"));
        l.receive(b"\n");
        assert_eq!(l.read(100, false).as_deref(), Some(&b"\n"[..]));
        assert_eq!(l.receive(b"\x1c\x1a").signals, alloc::vec![SIGQUIT, SIGTSTP]);
        // NOFLSH keeps the input; without ISIG ^C is data.
        let mut t = l.termios;
        t.lflag |= lflag::NOFLSH;
        l.set_termios(t);
        l.receive(b"keep\x03\n");
        assert_eq!(l.read(100, false).as_deref(), Some(&b"keep\n"[..]));
        t.lflag &= !lflag::ISIG;
        l.set_termios(t);
        assert!(l.receive(b"\x03\n").signals.is_empty());
        assert_eq!(l.read(100, false).as_deref(), Some(&b"\x03\n"[..]));
    }

    #[test]
    fn no_echo_and_echonl() {
        let mut l = ld();
        let mut t = l.termios;
        t.lflag &= !lflag::ECHO;
        l.set_termios(t);
        assert_eq!(l.receive(b"secret\n").echo, b"");
        t.lflag |= lflag::ECHONL;
        l.set_termios(t);
        assert_eq!(l.receive(b"x\n").echo, b"\r\n");
    }

    #[test]
    fn input_mapping() {
        let mut l = ld();
        let mut t = l.termios;
        t.iflag = iflag::IGNCR;
        l.set_termios(t);
        l.receive(b"a\rb\n");
        assert_eq!(l.read(100, false).as_deref(), Some(&b"ab\n"[..]));
        t.iflag = iflag::INLCR;
        t.lflag &= !lflag::ICANON;
        l.set_termios(t);
        l.receive(b"\n");
        assert_eq!(l.read(100, false).as_deref(), Some(&b"\r"[..]));
    }

    #[test]
    fn raw_mode_vmin_vtime() {
        let mut l = ld();
        let mut t = l.termios;
        t.lflag &= !(lflag::ICANON | lflag::ECHO);
        t.cc[cc::VMIN] = 3;
        l.set_termios(t);
        l.receive(b"ab");
        assert_eq!(l.read(10, false), None);
        // A read asking for fewer than VMIN returns once it has them.
        assert_eq!(l.read(2, false).as_deref(), Some(&b"ab"[..]));
        t.cc[cc::VMIN] = 0;
        t.cc[cc::VTIME] = 5;
        l.set_termios(t);
        assert_eq!(l.read_timeout_ns(), Some(500_000_000));
        assert_eq!(l.read(10, false), None);
        assert_eq!(l.read(10, true).as_deref(), Some(&b""[..]));
        t.cc[cc::VTIME] = 0;
        l.set_termios(t);
        assert_eq!(l.read(10, false).as_deref(), Some(&b""[..]));
        l.receive(b"xyz");
        assert_eq!(l.read(10, false).as_deref(), Some(&b"xyz"[..]));
    }

    #[test]
    fn leaving_canonical_mode_makes_the_line_readable() {
        let mut l = ld();
        l.receive(b"half");
        let mut t = l.termios;
        t.lflag &= !lflag::ICANON;
        l.set_termios(t);
        assert_eq!(l.read(10, false).as_deref(), Some(&b"half"[..]));
    }

    #[test]
    fn output_processing() {
        let l = ld();
        let mut out = Vec::new();
        l.process_output(b"a\nb", &mut out);
        assert_eq!(out, b"a\r\nb");
        let mut raw = ld();
        let mut t = raw.termios;
        t.oflag &= !oflag::OPOST;
        raw.set_termios(t);
        out.clear();
        raw.process_output(b"a\n", &mut out);
        assert_eq!(out, b"a\n");
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut l = ld();
        let mut t = l.termios;
        t.lflag &= !(lflag::ICANON | lflag::ECHO);
        l.set_termios(t);
        let big = alloc::vec![b'x'; INPUT_MAX + 10];
        assert_eq!(l.receive(&big).taken, INPUT_MAX);
        assert_eq!(l.room(), 0);
    }
}
