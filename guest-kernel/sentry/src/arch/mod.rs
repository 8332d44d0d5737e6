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

/// Bytes of [`FpState`]: the `xsave` standard-format image of x87, SSE,
/// AVX, AVX-512 and PKRU state (the last, PKRU, ends at byte 2696).
pub const FPSTATE_BYTES: usize = 2752;

/// The XSAVE components the sentry saves and restores for user code
/// (the requested-feature bitmap): x87, SSE, AVX, opmask, ZMM_Hi256,
/// Hi16_ZMM and PKRU; never MPX or AMX.
pub const XSAVE_MASK: u64 = 0x2e7;

/// User FPU state: an `xsave` standard-format image whose first 512 bytes
/// are the `fxsave64` image (all that is used where XSAVE is not).
#[repr(C, align(64))]
#[derive(Clone, Copy)]
pub struct FpState {
    /// The legacy `fxsave64` region.
    pub bytes: [u8; 512],
    /// The XSAVE header (64 bytes) and the extended components.
    pub ext: [u8; FPSTATE_BYTES - 512],
}

impl FpState {
    /// The state of a freshly exec'd program: FCW 0x37f, MXCSR 0x1f80,
    /// every other component in its initial state.
    pub fn new_user() -> Self {
        let mut bytes = [0u8; 512];
        bytes[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
        bytes[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        // MXCSR_MASK: all bits valid.
        bytes[28..32].copy_from_slice(&0xffffu32.to_le_bytes());
        let mut ext = [0u8; FPSTATE_BYTES - 512];
        // XSTATE_BV: x87 and SSE come from the legacy region.
        ext[0] = 0x3;
        Self { bytes, ext }
    }

    /// The whole image, as the signal frame holds it.
    pub fn as_bytes(&self) -> [u8; FPSTATE_BYTES] {
        let mut out = [0u8; FPSTATE_BYTES];
        out[..512].copy_from_slice(&self.bytes);
        out[512..].copy_from_slice(&self.ext);
        out
    }

    /// Sets the image from a signal frame's bytes (to be sanitized).
    pub fn set_bytes(&mut self, b: &[u8; FPSTATE_BYTES]) {
        self.bytes.copy_from_slice(&b[..512]);
        self.ext.copy_from_slice(&b[512..]);
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
