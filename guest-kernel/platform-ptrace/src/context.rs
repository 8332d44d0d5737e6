//! The switch: load a task's registers into its address space's stub, run
//! it with `PTRACE_SYSEMU` until it traps, read the registers back.

use std::io;
use std::sync::atomic::Ordering;

use abi::layout::USER_END;
use sentry::arch::{FpState, UserRegs, FPSTATE_BYTES, RFLAGS_FIXED, RFLAGS_IF, RFLAGS_USER_MASK, XSAVE_MASK};
use sentry::platform::{Access, AddressSpace, Context, Perms, PhysMem, ThreadId, Trap};

use crate::space::PtraceSpace;
use crate::sys;
use crate::tick;

/// Largest XSAVE image a host may have (AMX included).
const XSTATE_MAX: usize = 16 << 10;
/// Offset of XSTATE_BV in the image.
const XSTATE_BV: usize = 512;
/// `si_code` of a kernel-sent fault signal without an address (#GP etc.).
const SI_KERNEL: i32 = 0x80;
/// `si_code`s of integer divide faults.
const FPE_INTDIV: i32 = 1;
const FPE_INTOVF: i32 = 2;

thread_local! {
    static START: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
}

/// Marks the start of the run, for the first switch's `BOOT_NS`.
pub fn set_start(at: std::time::Instant) {
    START.with(|s| s.set(Some(at)));
}

/// The sentry thread's context.
#[derive(Debug)]
pub struct PtraceContext {
    /// The host's XSAVE image as ptrace gives it: its size, the features
    /// the host accepts, and the bytes beyond the sentry's image.
    xstate: Vec<u8>,
    xstate_len: usize,
    host_xfeatures: u64,
    /// Preemption timer.
    tick: tick::Tick,
    /// Sentry physical memory (to look at the instruction of a syscall stop).
    phys: PhysMem,
}

impl PtraceContext {
    pub fn new(tick: tick::Tick, phys: PhysMem) -> Self {
        Self { xstate: vec![0; XSTATE_MAX], xstate_len: 0, host_xfeatures: 0x3, phys, tick }
    }

    fn load_fp(&mut self, pid: libc::pid_t, fp: &FpState) -> io::Result<()> {
        if self.xstate_len == 0 {
            self.xstate_len = sys::get_xstate(pid, &mut self.xstate)?;
            self.host_xfeatures = xcr0();
            tracing::debug!(len = self.xstate_len, features = self.host_xfeatures, "host XSAVE image");
        }
        let n = self.xstate_len.min(FPSTATE_BYTES);
        let img = fp.as_bytes();
        self.xstate[..n].copy_from_slice(&img[..n]);
        let bv = u64::from_le_bytes(img[XSTATE_BV..XSTATE_BV + 8].try_into().unwrap_or_default())
            & self.host_xfeatures
            & XSAVE_MASK;
        self.xstate[XSTATE_BV..XSTATE_BV + 8].copy_from_slice(&bv.to_le_bytes());
        // XCOMP_BV and the reserved header bytes: zero (standard format).
        self.xstate[XSTATE_BV + 8..XSTATE_BV + 64].fill(0);
        sys::set_xstate(pid, &self.xstate[..self.xstate_len])
    }

    fn save_fp(&mut self, pid: libc::pid_t, fp: &mut FpState) -> io::Result<()> {
        let len = sys::get_xstate(pid, &mut self.xstate)?;
        let mut img = [0u8; FPSTATE_BYTES];
        let n = len.min(FPSTATE_BYTES);
        img[..n].copy_from_slice(&self.xstate[..n]);
        // The kernel's software-reserved bytes are not user state.
        img[464..512].fill(0);
        fp.set_bytes(&img);
        Ok(())
    }
}

/// The features the host kernel enabled in XCR0 (what ptrace accepts in
/// XSTATE_BV).
fn xcr0() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: xgetbv(0) only reads XCR0; Linux on x86-64 enables OSXSAVE
    // wherever XSAVE exists, and ptrace's NT_X86_XSTATE (which got us
    // here) requires XSAVE.
    #[allow(unsafe_code)]
    unsafe {
        core::arch::asm!("xgetbv", in("ecx") 0, out("eax") lo, out("edx") hi, options(nomem, nostack));
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

fn to_host(regs: &UserRegs, base: &libc::user_regs_struct) -> libc::user_regs_struct {
    let mut r = *base;
    r.r15 = regs.r15;
    r.r14 = regs.r14;
    r.r13 = regs.r13;
    r.r12 = regs.r12;
    r.r11 = regs.r11;
    r.r10 = regs.r10;
    r.r9 = regs.r9;
    r.r8 = regs.r8;
    r.rbp = regs.rbp;
    r.rdi = regs.rdi;
    r.rsi = regs.rsi;
    r.rdx = regs.rdx;
    r.rcx = regs.rcx;
    r.rbx = regs.rbx;
    r.rax = regs.rax;
    // Never a syscall to restart.
    r.orig_rax = u64::MAX;
    r.rip = regs.rip;
    r.rsp = regs.rsp;
    r.eflags = (regs.rflags & RFLAGS_USER_MASK) | RFLAGS_FIXED | RFLAGS_IF;
    r.cs = u64::from(abi::layout::selector::USER_CS);
    r.ss = u64::from(abi::layout::selector::USER_DS);
    r.fs_base = regs.fs_base;
    r.gs_base = regs.gs_base;
    r
}

fn from_host(r: &libc::user_regs_struct, regs: &mut UserRegs) {
    regs.r15 = r.r15;
    regs.r14 = r.r14;
    regs.r13 = r.r13;
    regs.r12 = r.r12;
    regs.r11 = r.r11;
    regs.r10 = r.r10;
    regs.r9 = r.r9;
    regs.r8 = r.r8;
    regs.rbp = r.rbp;
    regs.rdi = r.rdi;
    regs.rsi = r.rsi;
    regs.rdx = r.rdx;
    regs.rcx = r.rcx;
    regs.rbx = r.rbx;
    regs.rax = r.rax;
    regs.rip = r.rip;
    regs.rsp = r.rsp;
    regs.rflags = r.eflags;
    regs.cs = u64::from(abi::layout::selector::USER_CS);
    regs.ss = u64::from(abi::layout::selector::USER_DS);
    regs.fs_base = r.fs_base;
    regs.gs_base = r.gs_base;
    regs.vector = 0;
    regs.error_code = 0;
}

/// The kind of access a SIGSEGV was, from what is mapped there: ptrace
/// does not give the page-fault error code. A fault on a mapped page is an
/// access its permissions lack; on an unmapped one it is taken as a read
/// (or an instruction fetch at `rip`), and a write retries as an ACCERR.
fn fault_access(space: &PtraceSpace, addr: u64, rip: u64) -> (Access, bool) {
    let page = |a: u64| a & !(abi::layout::PAGE_SIZE - 1);
    let fetch = page(addr) == page(rip);
    match space.is_mapped(addr) {
        None => (if fetch { Access::Exec } else { Access::Read }, false),
        Some(Perms { read: true, write: false, .. }) if !fetch => (Access::Write, true),
        Some(Perms { exec: false, .. }) if fetch => (Access::Exec, true),
        Some(Perms { read: false, .. }) => (Access::Read, true),
        Some(_) => (Access::Write, true),
    }
}

impl PtraceContext {
    /// Whether the syscall stop at `rip` came from `int 0x80` (CD 80)
    /// rather than `syscall` (0F 05).
    fn int80(&self, space: &PtraceSpace, rip: u64) -> bool {
        let at = rip.wrapping_sub(2);
        let offset = at & (abi::layout::PAGE_SIZE - 1);
        let mut insn = [0u8; 2];
        if offset <= abi::layout::PAGE_SIZE - 2 {
            // Both bytes in one page (every stop but one at a page's
            // start): one lookup, as this runs at every syscall.
            let Some((pa, _)) = space.translate(at) else { return false };
            if !self.phys.read(pa + offset, &mut insn) {
                return false;
            }
        } else {
            for (i, b) in insn.iter_mut().enumerate() {
                let va = at.wrapping_add(i as u64);
                let Some((pa, _)) = space.translate(va) else { return false };
                let mut one = [0u8];
                if !self.phys.read(pa + (va & (abi::layout::PAGE_SIZE - 1)), &mut one) {
                    return false;
                }
                *b = one[0];
            }
        }
        insn == [0xcd, 0x80]
    }
}

impl Context for PtraceContext {
    type AddressSpace = PtraceSpace;

    fn sync_fp(&mut self, space: &mut PtraceSpace, thread: ThreadId, fp: &mut FpState) {
        let Some(th) = space.thread_mut(thread) else { return };
        if std::mem::take(&mut th.fp_held) {
            if let Err(e) = self.save_fp(th.tid, fp) {
                panic!("ptrace platform: PTRACE_GETREGSET on stub {}: {e}", th.tid);
            }
        }
    }

    fn switch(&mut self, space: &mut PtraceSpace, thread: ThreadId, regs: &mut UserRegs, fp: &mut FpState) -> Trap {
        if regs.rip >= USER_END || regs.rsp >= USER_END {
            return Trap::Exception { vector: 13, error_code: 0 };
        }
        if let Err(e) = space.flush() {
            panic!("ptrace platform: cannot update the address space: {e}");
        }
        let th =
            space.host_thread(thread).unwrap_or_else(|e| panic!("ptrace platform: cannot start a stub thread: {e}"));
        let (pid, fp_held) = (th.tid, th.fp_held);
        // From here the FPU state is the stub thread's: it stays there
        // (each application thread has its own host thread) until the
        // sentry asks for it (`sync_fp`).
        th.fp_held = true;
        let tgid = space.stub.pid;
        let fatal = |what: &str, e: io::Error| -> ! { panic!("ptrace platform: {what} on stub {pid}: {e}") };
        if let Err(e) = sys::set_regs(pid, &to_host(regs, &space.stub.base_regs)) {
            fatal("PTRACE_SETREGS", e);
        }
        if !fp_held {
            if let Err(e) = self.load_fp(pid, fp) {
                fatal("PTRACE_SETREGSET", e);
            }
        }
        if let Err(e) = sys::sysemu(pid) {
            fatal("PTRACE_SYSEMU", e);
        }
        if let Some(t0) = START.with(std::cell::Cell::take) {
            crate::BOOT_NS.store(u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
        }
        crate::STOPS.fetch_add(1, Ordering::Relaxed);
        self.tick.arm();
        let mut kicked = false;
        let status = loop {
            match sys::wait(pid) {
                Ok(s) => break s,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    // The tick: stop the stub (the SIGSTOP is suppressed below).
                    if !kicked && self.tick.due() {
                        sys::tgkill(tgid, pid, libc::SIGSTOP);
                        kicked = true;
                    }
                }
                Err(e) => fatal("waitpid", e),
            }
        };
        self.tick.disarm();
        if !libc::WIFSTOPPED(status) {
            panic!("ptrace platform: stub {pid} ended (wait status {status:#x})");
        }
        let r = sys::get_regs(pid).unwrap_or_else(|e| fatal("PTRACE_GETREGS", e));
        from_host(&r, regs);
        let sig = libc::WSTOPSIG(status);
        if sig == libc::SIGTRAP | 0x80 {
            // `int 0x80` (the 32-bit syscall gate) stops here too; on KVM it
            // has no gate and faults: #GP with the IDT entry's error code.
            if self.int80(space, regs.rip) {
                return Trap::Exception { vector: 13, error_code: (0x80 << 3) | 2 };
            }
            regs.rax = r.orig_rax;
            return Trap::Syscall;
        }
        let si = match sys::get_siginfo(pid) {
            Ok(si) => si,
            Err(_) => return Trap::Interrupted,
        };
        let kernel = si.si_code == SI_KERNEL;
        match sig {
            // A syscall the seccomp filter refused: a call into the host's
            // vsyscall page, which the application does not have (on KVM
            // it is an unmapped page: a fetch fault at rip).
            // The kernel emulated a `ret` after refusing it: undo that so
            // the fault is at the call's target with its return address
            // pushed, as on KVM.
            libc::SIGSYS => {
                let addr = sys::si_addr(&si);
                regs.rip = addr;
                regs.rsp = regs.rsp.wrapping_sub(8);
                Trap::PageFault { addr, access: Access::Exec, present: false }
            }
            libc::SIGSEGV if !kernel => {
                let addr = sys::si_addr(&si);
                let (access, present) = fault_access(space, addr, regs.rip);
                Trap::PageFault { addr, access, present }
            }
            libc::SIGSEGV => Trap::Exception { vector: 13, error_code: 0 },
            libc::SIGBUS if si.si_code > 0 => Trap::Exception { vector: 17, error_code: 0 },
            libc::SIGFPE if si.si_code > 0 => {
                let v = if si.si_code == FPE_INTDIV || si.si_code == FPE_INTOVF { 0 } else { 19 };
                Trap::Exception { vector: v, error_code: 0 }
            }
            libc::SIGILL if si.si_code > 0 => Trap::Exception { vector: 6, error_code: 0 },
            libc::SIGTRAP if kernel => Trap::Exception { vector: 3, error_code: 0 },
            libc::SIGTRAP if si.si_code > 0 => Trap::Exception { vector: 1, error_code: 0 },
            // The tick's SIGSTOP, or a signal from outside the sandbox:
            // suppressed (the next resume passes no signal).
            _ => Trap::Interrupted,
        }
    }
}
