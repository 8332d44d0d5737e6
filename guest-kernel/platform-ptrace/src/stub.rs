//! Stub processes: one per application address space.
//!
//! A stub is a fork of the sentry process that keeps nothing of it but one
//! page, the stub page at [`STUB_PAGE`]: the code below (read and execute
//! only) and, after it, a list of syscalls the sentry wants run (mmap,
//! munmap, mprotect of the memfd). The stub's only other file is the memfd
//! of sentry physical memory, at fd [`MEMFD_FD`].
//!
//! The application runs in the stub under `PTRACE_SYSEMU`, so none of its
//! syscalls reach the host. The sentry runs the list by pointing the stub
//! at the code with `PTRACE_CONT`; a seccomp filter kills the stub on any
//! syscall but mmap/munmap/mprotect from the code's one `syscall`
//! instruction, so not even a confused tracer can let application code make
//! a host syscall. `PTRACE_O_EXITKILL` and `PR_SET_PDEATHSIG` end stubs
//! with the sentry.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

use abi::layout::PAGE_SIZE;

use crate::sys;

/// The stub page: between the stack's top (`sentry::mm::STACK_TOP`) and
/// the end of user memory, where no VMA is placed unless asked for with
/// MAP_FIXED (which the address space refuses there).
pub const STUB_PAGE: u64 = 0x7fff_ffff_e000;
/// The memfd's descriptor in every stub.
pub const MEMFD_FD: i32 = 3;
/// Where the syscall list starts in the stub page.
const OPS_OFFSET: usize = 256;
/// Words per listed syscall: number and six arguments.
const OP_WORDS: usize = 7;
/// Syscalls one run of the list holds.
pub const MAX_OPS: usize = (PAGE_BYTES - OPS_OFFSET) / (OP_WORDS * 8);
/// [`PAGE_SIZE`] as a length.
const PAGE_BYTES: usize = 4096;

// The stub code. In: rbx = the list, r12 = its length. Runs each syscall;
// stops at int3 when done (r12 = 0) or at the first failure (rax =
// -errno, r12 = the syscalls left, the failed one included).
core::arch::global_asm!(
    ".pushsection .text.rf_stub, \"ax\"",
    ".globl rf_stub_start",
    ".globl rf_stub_syscall_end",
    ".globl rf_stub_end",
    "rf_stub_start:",
    "1:",
    "test r12, r12",
    "jz 2f",
    "mov rax, [rbx]",
    "mov rdi, [rbx + 8]",
    "mov rsi, [rbx + 16]",
    "mov rdx, [rbx + 24]",
    "mov r10, [rbx + 32]",
    "mov r8, [rbx + 40]",
    "mov r9, [rbx + 48]",
    "syscall",
    "rf_stub_syscall_end:",
    "cmp rax, -4095",
    "jae 2f",
    "add rbx, 56",
    "dec r12",
    "jmp 1b",
    "2:",
    "int3",
    "rf_stub_end:",
    ".popsection",
);

extern "C" {
    /// glibc's registration of the thread's rseq area (ABI since 2.35):
    /// offset from the thread pointer and size (0: not registered).
    static __rseq_offset: isize;
    static __rseq_size: u32;
    static rf_stub_start: u8;
    static rf_stub_syscall_end: u8;
    static rf_stub_end: u8;
}

/// The stub code's bytes and the offset just past its `syscall`.
fn stub_code() -> (&'static [u8], u64) {
    // SAFETY: the three labels delimit the stub code in this binary's text,
    // start <= syscall_end <= end; the bytes are read only.
    unsafe {
        let start = std::ptr::addr_of!(rf_stub_start);
        let end = std::ptr::addr_of!(rf_stub_end);
        let sys_end = std::ptr::addr_of!(rf_stub_syscall_end);
        let len = usize::try_from(end.offset_from(start)).unwrap_or(0);
        let sys_off = u64::try_from(sys_end.offset_from(start)).unwrap_or(0);
        (std::slice::from_raw_parts(start, len), sys_off)
    }
}

/// One syscall for the stub to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    pub nr: u64,
    pub args: [u64; 6],
}

/// A live stub process (killed and reaped on drop).
#[derive(Debug)]
pub struct Stub {
    /// The stub's first thread, which also runs the syscall lists.
    pub pid: libc::pid_t,
    /// Its other threads ([`Stub::spawn_thread`]), reaped on drop.
    threads: Vec<libc::pid_t>,
    /// The stub page, mapped read-write here.
    page: *mut u8,
    _page_fd: OwnedFd,
    /// The register file the stub stopped with (segment selectors etc.).
    pub base_regs: libc::user_regs_struct,
}

/// Errors creating or driving a stub.
#[derive(Debug, thiserror::Error)]
pub enum StubError {
    #[error("{what}: {source}")]
    Sys { what: &'static str, source: io::Error },
    #[error("stub {pid} stopped unexpectedly (wait status {status:#x})")]
    Unexpected { pid: i32, status: i32 },
    #[error("stub syscall {nr} failed: errno {errno}")]
    Failed { nr: u64, errno: i64 },
}

fn sys_err(what: &'static str) -> impl FnOnce(io::Error) -> StubError {
    move |source| StubError::Sys { what, source }
}

/// The clone flags of a stub thread: a thread of the stub sharing
/// everything, traced as its parent is (it starts with a SIGSTOP stop).
pub const THREAD_FLAGS: u64 = (libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD
    | libc::CLONE_SYSVSEM
    | libc::CLONE_PTRACE) as u64;

/// The stub's seccomp filter: x86-64, from the stub's syscall instruction
/// only: mmap/munmap/mprotect, exit (a stub thread ending) and clone with
/// [`THREAD_FLAGS`] (a new stub thread). A syscall from elsewhere
/// (application code reaching the host's vsyscall page, whose emulation
/// PTRACE_SYSEMU does not stop) is refused with SIGSYS, which the switch
/// turns into a fault; any other syscall from the stub's instruction kills
/// the stub. Threads inherit the filter.
fn filter(syscall_ip: u64) -> Vec<libc::sock_filter> {
    // BPF_LD|BPF_W|BPF_ABS, BPF_JMP|BPF_JEQ|BPF_K, BPF_RET|BPF_K.
    const LD: u16 = 0x20;
    const JEQ: u16 = 0x15;
    const RET: u16 = 0x06;
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    // The three returns, at the end.
    const ALLOW: usize = 16;
    const KILL: usize = 17;
    const TRAP: usize = 18;
    let lo32 = |v: u64| u32::try_from(v & 0xffff_ffff).unwrap_or(0);
    let hi32 = |v: u64| u32::try_from(v >> 32).unwrap_or(0);
    let nr = |n: libc::c_long| u32::try_from(n).unwrap_or(u32::MAX);
    // A compare at index `at`: on equal to `jt` (None: the next), else `jf`.
    let jeq = |at: usize, k: u32, jt: Option<usize>, jf: Option<usize>| {
        let off = |to: Option<usize>| to.map_or(0, |t| u8::try_from(t - at - 1).unwrap_or(0));
        libc::sock_filter { code: JEQ, jt: off(jt), jf: off(jf), k }
    };
    let ld = |k: u32| libc::sock_filter { code: LD, jt: 0, jf: 0, k };
    let ret = |k: u32| libc::sock_filter { code: RET, jt: 0, jf: 0, k };
    // seccomp_data: nr @0, arch @4, instruction_pointer @8, args @16.
    let prog = vec![
        ld(4),
        jeq(1, AUDIT_ARCH_X86_64, None, Some(KILL)),
        ld(8),
        jeq(3, lo32(syscall_ip), None, Some(TRAP)),
        ld(12),
        jeq(5, hi32(syscall_ip), None, Some(TRAP)),
        ld(0),
        jeq(7, nr(libc::SYS_mmap), Some(ALLOW), None),
        jeq(8, nr(libc::SYS_munmap), Some(ALLOW), None),
        jeq(9, nr(libc::SYS_mprotect), Some(ALLOW), None),
        jeq(10, nr(libc::SYS_exit), Some(ALLOW), None),
        jeq(11, nr(libc::SYS_clone), None, Some(KILL)),
        ld(16),
        jeq(13, lo32(THREAD_FLAGS), None, Some(KILL)),
        ld(20),
        jeq(15, hi32(THREAD_FLAGS), Some(ALLOW), Some(KILL)),
        ret(libc::SECCOMP_RET_ALLOW),
        ret(libc::SECCOMP_RET_KILL_PROCESS),
        ret(libc::SECCOMP_RET_TRAP),
    ];
    debug_assert_eq!(prog.len(), TRAP + 1);
    prog
}

impl Stub {
    /// Forks a new stub sharing `memfd` and waits until it is ready.
    pub fn spawn(memfd: &OwnedFd) -> Result<Self, StubError> {
        let (code, sys_off) = stub_code();
        let page_fd = sys::memfd(c"ringfence-stub", PAGE_SIZE).map_err(sys_err("stub page memfd"))?;
        let page = sys::map_shared(page_fd.as_raw_fd(), PAGE_SIZE).map_err(sys_err("stub page mmap"))?;
        // SAFETY: `page` is a fresh PAGE_SIZE mapping and the code is shorter
        // than OPS_OFFSET (checked).
        unsafe {
            assert!(code.len() <= OPS_OFFSET, "stub code too long");
            std::ptr::copy_nonoverlapping(code.as_ptr(), page, code.len());
        }
        let prog = filter(STUB_PAGE + sys_off);
        let fprog = libc::sock_fprog { len: u16::try_from(prog.len()).unwrap_or(0), filter: prog.as_ptr().cast_mut() };
        let memfd_raw = memfd.as_raw_fd();
        let page_raw = page_fd.as_raw_fd();
        // SAFETY: getpid takes no arguments.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the child only makes raw syscalls (async-signal-safe) on
        // values prepared before the fork, then jumps to the stub page; it
        // never returns into Rust code.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(StubError::Sys { what: "fork", source: io::Error::last_os_error() });
        }
        if pid == 0 {
            // SAFETY: see above; this is the child.
            unsafe { child(parent, memfd_raw, page_raw, &fprog) }
        }
        let mut stub = Self {
            pid,
            threads: Vec::new(),
            page: page.cast(),
            _page_fd: page_fd,
            // SAFETY: plain integers.
            base_regs: unsafe { std::mem::zeroed() },
        };
        let status = sys::wait_retry(pid).map_err(sys_err("waitpid"))?;
        if !(libc::WIFSTOPPED(status) && libc::WSTOPSIG(status) == libc::SIGTRAP) {
            return Err(StubError::Unexpected { pid, status });
        }
        sys::set_options(pid, libc::PTRACE_O_EXITKILL | libc::PTRACE_O_TRACESYSGOOD)
            .map_err(sys_err("PTRACE_SETOPTIONS"))?;
        stub.base_regs = sys::get_regs(pid).map_err(sys_err("PTRACE_GETREGS"))?;
        // Everything the fork copied goes: the sentry's image, heap, stacks,
        // the vDSO.
        stub.run(&[Op { nr: libc::SYS_munmap as u64, args: [0, STUB_PAGE, 0, 0, 0, 0] }])?;
        Ok(stub)
    }

    /// Runs `ops` in the stub's first thread (at most [`MAX_OPS`] per
    /// stop); the last syscall's result.
    pub fn run(&mut self, ops: &[Op]) -> Result<u64, StubError> {
        let mut rax = 0;
        for chunk in ops.chunks(MAX_OPS) {
            self.start(self.pid, chunk)?;
            let status = loop {
                let status = sys::wait_retry(self.pid).map_err(sys_err("waitpid"))?;
                // A signal sent to the stub (the tick's SIGSTOP that lost a
                // race with a syscall stop, a terminal's SIGINT): dropped.
                if libc::WIFSTOPPED(status)
                    && libc::WSTOPSIG(status) != libc::SIGTRAP
                    && sys::get_siginfo(self.pid).is_ok_and(|si| si.si_code <= 0)
                {
                    sys::cont(self.pid).map_err(sys_err("PTRACE_CONT"))?;
                    continue;
                }
                break status;
            };
            if !(libc::WIFSTOPPED(status) && libc::WSTOPSIG(status) == libc::SIGTRAP) {
                if let (Ok(r), Ok(si)) = (sys::get_regs(self.pid), sys::get_siginfo(self.pid)) {
                    tracing::error!(
                        rip = r.rip,
                        rbx = r.rbx,
                        r12 = r.r12,
                        addr = sys::si_addr(&si),
                        code = si.si_code,
                        "stub fault"
                    );
                    if let Ok(m) = std::fs::read_to_string(format!("/proc/{}/maps", self.pid)) {
                        tracing::error!("maps:\n{m}");
                    }
                }
                return Err(StubError::Unexpected { pid: self.pid, status });
            }
            let out = sys::get_regs(self.pid).map_err(sys_err("PTRACE_GETREGS"))?;
            if out.r12 != 0 {
                let failed = chunk.len() - usize::try_from(out.r12).unwrap_or(chunk.len()).min(chunk.len());
                return Err(StubError::Failed {
                    nr: chunk.get(failed).map_or(0, |o| o.nr),
                    errno: -(out.rax.cast_signed()),
                });
            }
            rax = out.rax;
        }
        Ok(rax)
    }

    /// Writes `ops` (at most [`MAX_OPS`]) to the list and resumes stub
    /// thread `tid` at the code.
    fn start(&mut self, tid: libc::pid_t, ops: &[Op]) -> Result<(), StubError> {
        debug_assert!(ops.len() <= MAX_OPS);
        for (i, op) in ops.iter().take(MAX_OPS).enumerate() {
            let mut words = [0u64; OP_WORDS];
            words[0] = op.nr;
            words[1..].copy_from_slice(&op.args);
            // SAFETY: OPS_OFFSET + MAX_OPS * 56 <= PAGE_SIZE; the page is
            // ours and the stub only reads it while we wait.
            unsafe {
                let dst = self.page.add(OPS_OFFSET + i * OP_WORDS * 8);
                std::ptr::copy_nonoverlapping(words.as_ptr().cast::<u8>(), dst, OP_WORDS * 8);
            }
        }
        let mut r = self.base_regs;
        r.rip = STUB_PAGE;
        r.rbx = STUB_PAGE + OPS_OFFSET as u64;
        r.r12 = ops.len() as u64;
        r.eflags = 0x202;
        r.orig_rax = u64::MAX;
        r.cs = 0x33;
        r.ss = 0x2b;
        sys::set_regs(tid, &r).map_err(sys_err("PTRACE_SETREGS"))?;
        crate::STOPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        sys::cont(tid).map_err(sys_err("PTRACE_CONT"))
    }

    /// A new thread of the stub, cloned by the first one; it waits in a
    /// ptrace stop for its registers.
    pub fn spawn_thread(&mut self) -> Result<libc::pid_t, StubError> {
        let rax = self.run(&[Op { nr: libc::SYS_clone as u64, args: [THREAD_FLAGS, 0, 0, 0, 0, 0] }])?;
        let tid = libc::pid_t::try_from(rax).map_err(|_| StubError::Failed { nr: libc::SYS_clone as u64, errno: 0 })?;
        self.threads.push(tid);
        // CLONE_PTRACE queued it a SIGSTOP: its first stop, before any
        // instruction (the next resume passes no signal).
        let status = sys::wait_retry(tid).map_err(sys_err("waitpid"))?;
        if !libc::WIFSTOPPED(status) {
            return Err(StubError::Unexpected { pid: tid, status });
        }
        Ok(tid)
    }

    /// Ends stub thread `tid` (not the first): it runs `exit`, and is reaped.
    pub fn end_thread(&mut self, tid: libc::pid_t) -> Result<(), StubError> {
        debug_assert_ne!(tid, self.pid);
        self.start(tid, &[Op { nr: libc::SYS_exit as u64, args: [0; 6] }])?;
        loop {
            let status = sys::wait_retry(tid).map_err(sys_err("waitpid"))?;
            if !libc::WIFSTOPPED(status) {
                break;
            }
            // A signal that was on its way (the tick's SIGSTOP): dropped.
            sys::cont(tid).map_err(sys_err("PTRACE_CONT"))?;
        }
        self.threads.retain(|&t| t != tid);
        Ok(())
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        sys::kill(self.pid, libc::SIGKILL);
        // Traced threads are the tracer's to reap, and the first thread is
        // reported only once the others are gone.
        for &tid in &self.threads {
            let _ = sys::wait_retry(tid);
        }
        let _ = sys::wait_retry(self.pid);
    }
}

/// The child side of [`Stub::spawn`].
///
/// # Safety
///
/// Only in the child of a fork of `parent`; `fprog` points at a live filter.
unsafe fn child(parent: libc::pid_t, memfd: i32, page_fd: i32, fprog: &libc::sock_fprog) -> ! {
    // SAFETY: raw syscalls on integers and pointers to live locals; on any
    // failure the child exits (the parent sees an unexpected status).
    unsafe {
        let fail = |_: &str| -> ! { libc::_exit(127) };
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
            fail("pdeathsig");
        }
        // A sentry killed between the fork and the prctl sends no signal:
        // the stub would outlive it, reparented (seen when `ringfence do`
        // was SIGKILLed while it started a stub).
        if libc::getppid() != parent {
            fail("parent gone");
        }
        if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) != 0 {
            fail("traceme");
        }
        let addr = STUB_PAGE as *mut libc::c_void;
        let p = libc::mmap(
            addr,
            PAGE_BYTES,
            libc::PROT_READ | libc::PROT_EXEC,
            libc::MAP_SHARED | libc::MAP_FIXED,
            page_fd,
            0,
        );
        if p != addr {
            fail("mmap");
        }
        if memfd != MEMFD_FD && libc::dup2(memfd, MEMFD_FD) != MEMFD_FD {
            fail("dup2");
        }
        for fd in 0..MEMFD_FD {
            libc::close(fd);
        }
        libc::syscall(libc::SYS_close_range, MEMFD_FD + 1, u32::MAX, 0);
        // The fork inherited glibc's rseq registration, whose area goes with
        // the unmapping below: the kernel would then fault the stub on its
        // next return to user mode.
        if __rseq_size != 0 {
            let tp: u64;
            core::arch::asm!("mov {}, fs:0", out(reg) tp, options(nostack, readonly));
            let area = tp.wrapping_add_signed(__rseq_offset as i64);
            const RSEQ_FLAG_UNREGISTER: i32 = 1;
            const RSEQ_SIG: u32 = 0x5305_3053;
            for len in [32, __rseq_size] {
                if libc::syscall(libc::SYS_rseq, area, len, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) == 0 {
                    break;
                }
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            fail("no_new_privs");
        }
        if libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, std::ptr::from_ref(fprog)) != 0 {
            fail("seccomp");
        }
        // An empty list: straight to the stub's int3, the first stop.
        core::arch::asm!(
            "xor r12d, r12d",
            "jmp {page}",
            page = in(reg) STUB_PAGE,
            options(noreturn)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two lists in a row (the second return to user mode after the
    /// fork's memory is gone: an inherited rseq area faulted it).
    #[test]
    fn runs_ops_twice() {
        let memfd = sys::memfd(c"t", 1 << 20).expect("memfd");
        let mut stub = Stub::spawn(&memfd).expect("spawn");
        stub.run(&[Op { nr: libc::SYS_munmap as u64, args: [0x1000, 0x1000, 0, 0, 0, 0] }]).expect("munmap");
        let flags = (libc::MAP_SHARED | libc::MAP_FIXED) as u64;
        stub.run(&[Op { nr: libc::SYS_mmap as u64, args: [0x10000, 0x2000, 3, flags, 3, 0] }]).expect("mmap");
    }
}
