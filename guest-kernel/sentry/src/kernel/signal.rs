//! Signals: dispositions, pending sets with their `siginfo`, default
//! actions, and the x86-64 `rt_sigframe` that handlers run on.

use alloc::vec::Vec;

use crate::arch::{FpState, UserRegs, RFLAGS_USER_MASK};
use abi::linux::signal::*;

/// A recorded signal disposition (`struct sigaction` as the kernel sees it).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

/// The dispositions of all 64 signals.
#[derive(Debug, Clone)]
pub struct SigHand(pub [SigAction; 64]);

impl Default for SigHand {
    fn default() -> Self {
        Self([SigAction::default(); 64])
    }
}

impl SigHand {
    /// The disposition of `sig` (1..=64).
    pub fn get(&self, sig: u32) -> SigAction {
        self.0[(sig - 1) as usize]
    }

    pub fn set(&mut self, sig: u32, act: SigAction) {
        self.0[(sig - 1) as usize] = act;
    }

    /// exec: caught signals go back to their default action; ignored stay ignored.
    pub fn reset_for_exec(&mut self) {
        for a in &mut self.0 {
            if a.handler != SIG_IGN {
                *a = SigAction::default();
            }
        }
    }

    /// Whether `sig` would be ignored if delivered now.
    pub fn ignores(&self, sig: u32) -> bool {
        let a = self.get(sig);
        a.handler == SIG_IGN || (a.handler == SIG_DFL && default_action(sig) == DefaultAction::Ignore)
    }
}

/// A `siginfo_t` (128 bytes, Linux layout).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SigInfo(pub [u8; 128]);

impl core::fmt::Debug for SigInfo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SigInfo(signo {}, code {})", self.signo(), self.code())
    }
}

impl SigInfo {
    fn put32(&mut self, off: usize, v: i32) {
        self.0[off..off + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn put64(&mut self, off: usize, v: u64) {
        self.0[off..off + 8].copy_from_slice(&v.to_le_bytes());
    }

    /// A bare siginfo with signo and code.
    pub fn new(sig: u32, code: i32) -> Self {
        let mut s = Self([0; 128]);
        s.put32(0, sig.cast_signed());
        s.put32(8, code);
        s
    }

    /// Sent by a process (kill, tkill): `si_pid`, `si_uid`.
    pub fn from_process(sig: u32, code: i32, pid: u32, uid: u32) -> Self {
        let mut s = Self::new(sig, code);
        s.put32(16, pid.cast_signed());
        s.put32(20, uid.cast_signed());
        s
    }

    /// A fault at `addr`.
    pub fn fault(sig: u32, code: i32, addr: u64) -> Self {
        let mut s = Self::new(sig, code);
        s.put64(16, addr);
        s
    }

    /// SIGCHLD for a child's state change.
    pub fn child(code: i32, pid: u32, status: i32, utime_ticks: u64, stime_ticks: u64) -> Self {
        let mut s = Self::new(SIGCHLD, code);
        s.put32(16, pid.cast_signed());
        s.put32(24, status);
        s.put64(32, utime_ticks);
        s.put64(40, stime_ticks);
        s
    }

    pub fn signo(&self) -> u32 {
        u32::from_le_bytes([self.0[0], self.0[1], self.0[2], self.0[3]])
    }

    pub fn code(&self) -> i32 {
        i32::from_le_bytes([self.0[8], self.0[9], self.0[10], self.0[11]])
    }
}

/// Pending signals: the set, and the siginfo of each queued instance
/// (one per standard signal, queued for real-time ones).
#[derive(Debug, Default, Clone)]
pub struct SigPending {
    queue: Vec<SigInfo>,
}

/// Most queued real-time signals per pending set (RLIMIT_SIGPENDING-like).
const MAX_QUEUED: usize = 1024;

impl SigPending {
    /// The set of pending signals.
    pub fn set(&self) -> u64 {
        self.queue.iter().fold(0, |s, i| s | bit(i.signo()))
    }

    /// Queues `info`; a standard signal already pending is not queued twice.
    /// Returns false if it was dropped.
    pub fn push(&mut self, info: SigInfo) -> bool {
        let sig = info.signo();
        if (sig < SIGRTMIN && self.set() & bit(sig) != 0) || self.queue.len() >= MAX_QUEUED {
            return false;
        }
        self.queue.push(info);
        true
    }

    /// Takes the first queued instance of `sig`.
    pub fn take(&mut self, sig: u32) -> Option<SigInfo> {
        let i = self.queue.iter().position(|s| s.signo() == sig)?;
        Some(self.queue.remove(i))
    }

    /// Whether a queued instance satisfies `f`.
    pub fn any(&self, f: impl Fn(&SigInfo) -> bool) -> bool {
        self.queue.iter().any(f)
    }

    /// Removes the queued instances that satisfy `f`.
    pub fn remove_where(&mut self, f: impl Fn(&SigInfo) -> bool) {
        self.queue.retain(|s| !f(s));
    }

    /// Removes every instance of the signals in `mask`.
    pub fn discard(&mut self, mask: u64) {
        self.queue.retain(|s| mask & bit(s.signo()) == 0);
    }
}

/// The lowest-numbered signal in `set` (synchronous signals first, as
/// Linux picks them).
pub fn first(set: u64) -> Option<u32> {
    const SYNC: u64 = bit(SIGSEGV) | bit(SIGBUS) | bit(SIGILL) | bit(SIGTRAP) | bit(SIGFPE) | bit(SIGSYS);
    let pick = if set & SYNC != 0 { set & SYNC } else { set };
    (pick != 0).then(|| pick.trailing_zeros() + 1)
}

/// The lowest signal of `set` for which `pred` holds.
pub fn first_matching(set: u64, pred: impl Fn(u32) -> bool) -> Option<u32> {
    (1..=64u32).find(|&sig| set & bit(sig) != 0 && pred(sig))
}

/// What a signal does when its handler is SIG_DFL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultAction {
    Terminate,
    /// Terminate with a core dump (reported in the wait status; no file written).
    Core,
    Ignore,
    Stop,
    Continue,
}

/// Linux's default action for `sig`.
pub fn default_action(sig: u32) -> DefaultAction {
    match sig {
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | SIGXCPU | SIGXFSZ | SIGSYS => {
            DefaultAction::Core
        }
        SIGCHLD | SIGURG | SIGWINCH => DefaultAction::Ignore,
        SIGCONT => DefaultAction::Continue,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => DefaultAction::Stop,
        _ => DefaultAction::Terminate,
    }
}

/// Byte sizes of the frame pieces.
const UCONTEXT_SIZE: u64 = 304;
const UCONTEXT_BYTES: usize = 304;
const FRAME_BYTES: usize = 8 + UCONTEXT_BYTES + 128;
const SIGINFO_SIZE: u64 = 128;
/// `pretcode` + `ucontext` + `siginfo`.
pub const FRAME_SIZE: u64 = 8 + UCONTEXT_SIZE + SIGINFO_SIZE;
const FPSTATE_SIZE: u64 = crate::arch::FPSTATE_BYTES as u64;
/// `uc_flags`: UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS, as Linux sets them.
const UC_FLAGS: u64 = 0x2 | 0x4;
/// Red zone the ABI lets leaf code use below rsp.
const RED_ZONE: u64 = 128;

/// A signal frame laid out for the user stack.
#[derive(Debug)]
pub struct Frame {
    /// Where the frame starts (the handler's rsp).
    pub sp: u64,
    /// The frame bytes (`rt_sigframe`).
    pub bytes: Vec<u8>,
    /// Where the FPU state goes and its bytes.
    pub fp_at: u64,
}

/// Builds the `rt_sigframe` for a handler: the interrupted registers,
/// mask and FPU state, and the siginfo. `stack_top` is where the frame
/// goes below (the current rsp, or the top of the alternate stack).
pub fn build_frame(
    regs: &UserRegs,
    info: &SigInfo,
    restorer: u64,
    old_mask: u64,
    altstack: (u64, u64, u32),
    stack_top: u64,
    on_alt: bool,
) -> Option<Frame> {
    let top = if on_alt { stack_top } else { stack_top.checked_sub(RED_ZONE)? };
    let fp_at = top.checked_sub(FPSTATE_SIZE)? & !63;
    // rsp at handler entry is 8 mod 16, as right after a call.
    let sp = ((fp_at.checked_sub(FRAME_SIZE)?) & !15).checked_sub(8)?;
    let mut b = alloc::vec![0u8; FRAME_BYTES];
    let mut put = |off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_le_bytes());
    put(0, restorer);
    // struct ucontext at 8.
    put(8, UC_FLAGS);
    put(16, 0); // uc_link
    put(24, altstack.0);
    let ss_flags = if altstack.2 & SS_DISABLE != 0 {
        u64::from(SS_DISABLE)
    } else if on_alt {
        u64::from(SS_ONSTACK)
    } else {
        0
    };
    put(32, ss_flags);
    put(40, altstack.1);
    // struct sigcontext at 48.
    let sc = 48;
    let gp = [
        regs.r8,
        regs.r9,
        regs.r10,
        regs.r11,
        regs.r12,
        regs.r13,
        regs.r14,
        regs.r15,
        regs.rdi,
        regs.rsi,
        regs.rbp,
        regs.rbx,
        regs.rdx,
        regs.rax,
        regs.rcx,
        regs.rsp,
        regs.rip,
        regs.rflags,
    ];
    for (i, v) in gp.iter().enumerate() {
        put(sc + i * 8, *v);
    }
    // cs, gs, fs, ss (16 bits each).
    put(sc + 144, regs.cs | (regs.ss << 48));
    put(sc + 152, regs.error_code);
    put(sc + 160, regs.vector);
    put(sc + 168, old_mask);
    put(sc + 176, 0); // cr2: filled for faults through siginfo's si_addr
    put(sc + 184, fp_at);
    // uc_sigmask after the 256-byte sigcontext.
    put(sc + 256, old_mask);
    let info_at = 8 + UCONTEXT_BYTES;
    b[info_at..info_at + 128].copy_from_slice(&info.0);
    Some(Frame { sp, bytes: b, fp_at })
}

/// Offsets in the frame, for the handler's arguments.
pub const fn frame_info_offset() -> u64 {
    8 + UCONTEXT_SIZE
}

/// The ucontext's offset in the frame.
pub const fn frame_ucontext_offset() -> u64 {
    8
}

/// What `rt_sigreturn` restores, decoded from the frame's ucontext.
#[derive(Debug)]
pub struct Restored {
    pub mask: u64,
    pub fp_at: u64,
    /// sigaltstack fields saved in the frame (applied by sigreturn as Linux
    /// does with `restore_altstack`).
    pub altstack: (u64, u64, u32),
}

/// Restores registers from a ucontext (`uc` holds its 304 bytes). Only
/// user-controllable state is taken: segment selectors and privileged
/// flags are forced to their user values.
pub fn restore_frame(regs: &mut UserRegs, uc: &[u8]) -> Restored {
    let get = |off: usize| {
        let mut x = [0u8; 8];
        x.copy_from_slice(&uc[off..off + 8]);
        u64::from_le_bytes(x)
    };
    let sc = 40;
    let v: Vec<u64> = (0..18).map(|i| get(sc + i * 8)).collect();
    regs.r8 = v[0];
    regs.r9 = v[1];
    regs.r10 = v[2];
    regs.r11 = v[3];
    regs.r12 = v[4];
    regs.r13 = v[5];
    regs.r14 = v[6];
    regs.r15 = v[7];
    regs.rdi = v[8];
    regs.rsi = v[9];
    regs.rbp = v[10];
    regs.rbx = v[11];
    regs.rdx = v[12];
    regs.rax = v[13];
    regs.rcx = v[14];
    regs.rsp = v[15];
    regs.rip = v[16];
    regs.rflags = (regs.rflags & !RFLAGS_USER_MASK) | (v[17] & RFLAGS_USER_MASK);
    let flags = get(24);
    Restored {
        mask: get(sc + 256),
        fp_at: get(sc + 184),
        altstack: (get(16), get(32), u32::try_from(flags & 0xffff_ffff).unwrap_or(SS_DISABLE)),
    }
}

/// Makes FPU state from user memory safe to load with `fxrstor` or
/// `xrstor`: reserved MXCSR bits or a bad XSAVE header would fault in the
/// sentry. The header keeps only the saved components (standard format,
/// reserved bytes zero), with x87 and SSE always taken from the image.
pub fn sanitize_fp(fp: &mut FpState) {
    let mut m = [0u8; 4];
    m.copy_from_slice(&fp.bytes[24..28]);
    let mxcsr = u32::from_le_bytes(m) & 0xffff;
    fp.bytes[24..28].copy_from_slice(&mxcsr.to_le_bytes());
    fp.bytes[28..32].copy_from_slice(&0xffffu32.to_le_bytes());
    let mut bv = [0u8; 8];
    bv.copy_from_slice(&fp.ext[0..8]);
    let bv = (u64::from_le_bytes(bv) & crate::arch::XSAVE_MASK) | 0x3;
    fp.ext[0..8].copy_from_slice(&bv.to_le_bytes());
    fp.ext[8..64].fill(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_roundtrip() {
        let mut regs =
            UserRegs { rip: 0x401000, rsp: 0x7fff_0000, rax: 7, r15: 15, rflags: 0x202, ..Default::default() };
        regs.cs = 0x33;
        let info = SigInfo::from_process(SIGUSR1, SI_USER, 5, 0);
        let f = build_frame(&regs, &info, 0x400800, 0x55, (0, 0, SS_DISABLE), regs.rsp, false).expect("room");
        assert_eq!((f.sp + 8) % 16, 0);
        assert!(f.sp + FRAME_SIZE <= f.fp_at);
        assert!(f.fp_at + FPSTATE_SIZE <= regs.rsp - RED_ZONE);
        let mut back = UserRegs::default();
        let r = restore_frame(&mut back, &f.bytes[8..8 + UCONTEXT_BYTES]);
        assert_eq!((back.rip, back.rsp, back.rax, back.r15), (0x401000, 0x7fff_0000, 7, 15));
        assert_eq!(r.mask, 0x55);
        assert_eq!(r.fp_at, f.fp_at);
        let got = &f.bytes[8 + UCONTEXT_BYTES..][..128];
        assert_eq!(got, &info.0[..]);
    }

    #[test]
    fn pending_queues_rt_only() {
        let mut p = SigPending::default();
        assert!(p.push(SigInfo::new(SIGUSR1, SI_USER)));
        assert!(!p.push(SigInfo::new(SIGUSR1, SI_USER)));
        assert!(p.push(SigInfo::new(SIGRTMIN, SI_QUEUE)));
        assert!(p.push(SigInfo::new(SIGRTMIN, SI_QUEUE)));
        assert_eq!(p.set(), bit(SIGUSR1) | bit(SIGRTMIN));
        assert!(p.take(SIGRTMIN).is_some());
        assert_eq!(p.set(), bit(SIGUSR1) | bit(SIGRTMIN));
        assert_eq!(first(bit(SIGUSR1) | bit(SIGSEGV)), Some(SIGSEGV));
    }
}
