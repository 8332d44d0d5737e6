//! x86-64 register files as the platform hands them to the sentry.

/// The application's general registers and the hardware trap frame, in the
/// order the guest's entry code pushes them (`r15` first in memory). The
/// layout is shared with assembly in the platform crates: do not reorder.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct UserRegs {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// Trap vector (platform-defined for syscalls).
    pub vector: u64,
    /// Hardware error code, 0 if none.
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
    /// FS base (`arch_prctl(ARCH_SET_FS)`), applied on switch.
    pub fs_base: u64,
    /// GS base, applied on switch.
    pub gs_base: u64,
}

/// Number of u64 words of [`UserRegs`] that entry code fills (r15..=ss).
pub const TRAP_FRAME_WORDS: usize = 22;

impl UserRegs {
    /// The syscall number register.
    pub fn syscall_nr(&self) -> u64 {
        self.rax
    }

    /// Syscall argument registers in ABI order.
    pub fn syscall_args(&self) -> [u64; 6] {
        [self.rdi, self.rsi, self.rdx, self.r10, self.r8, self.r9]
    }

    /// Registers for a fresh program: entry point, stack, user segments,
    /// interrupts enabled.
    pub fn new_user(entry: u64, stack: u64) -> Self {
        Self {
            rip: entry,
            rsp: stack,
            cs: u64::from(abi::layout::selector::USER_CS),
            ss: u64::from(abi::layout::selector::USER_DS),
            rflags: RFLAGS_IF | RFLAGS_FIXED,
            ..Self::default()
        }
    }
}

/// RFLAGS.IF.
pub const RFLAGS_IF: u64 = 1 << 9;
/// RFLAGS bit 1 is always set.
pub const RFLAGS_FIXED: u64 = 1 << 1;
/// The RFLAGS bits user code may change: Linux's FIX_EFLAGS (CF PF AF ZF SF
/// TF DF OF RF AC) and ID.
pub const RFLAGS_USER_MASK: u64 = 0x0025_0dd5;

/// FPU/SSE state in `fxsave64` format.
#[repr(C, align(64))]
#[derive(Clone, Copy)]
pub struct FpState {
    pub bytes: [u8; 512],
}

impl FpState {
    /// The state of a freshly exec'd program: FCW 0x37f, MXCSR 0x1f80.
    pub fn new_user() -> Self {
        let mut bytes = [0u8; 512];
        bytes[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
        bytes[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        // MXCSR_MASK: all bits valid.
        bytes[28..32].copy_from_slice(&0xffffu32.to_le_bytes());
        Self { bytes }
    }
}

impl Default for FpState {
    fn default() -> Self {
        Self::new_user()
    }
}

impl core::fmt::Debug for FpState {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FpState")
    }
}
