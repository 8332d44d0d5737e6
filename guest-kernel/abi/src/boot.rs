//! The boot information block the VMM writes at [`crate::layout::BOOT_INFO_GPA`].

/// "RFBOOT\0\0" little-endian.
pub const BOOT_MAGIC: u64 = 0x0000_544f_4f42_4652;
/// Bumped whenever [`BootInfo`] changes shape.
pub const BOOT_VERSION: u32 = 3;

/// The vCPU runs on the PVM variant (VIF page, page-table pair, gates).
pub const FLAG_PVM: u32 = 1 << 0;
/// Trace every syscall with arguments and result to the log hostcall.
pub const FLAG_STRACE: u32 = 1 << 1;
/// The CPU has `wrfsbase`/`rdfsbase` enabled (CR4.FSGSBASE).
pub const FLAG_FSGSBASE: u32 = 1 << 2;
/// Fault injection for tests: the sentry touches an unmapped kernel
/// address right after boot, exercising its fatal-fault report.
pub const FLAG_INJECT_SENTRY_FAULT: u32 = 1 << 3;
/// The gofer's root is read-only: put an in-sandbox tmpfs over it so that
/// writes stay in the sandbox.
pub const FLAG_ROOT_OVERLAY: u32 = 1 << 4;
/// The vCPU has an in-kernel local APIC in x2APIC mode (KVM_CREATE_IRQCHIP)
/// whose timer the VMM started before the first instruction: periodic,
/// every [`TICK_NS`], on [`TIMER_VECTOR`]. The sentry only acknowledges
/// ticks (`KVM_SET_LAPIC` from the VMM costs no exit; the four `wrmsr`s
/// the guest would need cost ~35 us each on PVM).
pub const FLAG_LAPIC_TIMER: u32 = 1 << 7;
/// Period of the preemption tick: half the sentry's time slice, so that a
/// task that never traps runs between one and one and a half slices, and
/// a timer expiry is seen at most this late while such a task runs.
pub const TICK_NS: u64 = 5_000_000;
/// The IDT vector of the timer interrupt.
pub const TIMER_VECTOR: u8 = 0x20;
/// The local APIC's spurious-interrupt vector (needs no EOI).
pub const SPURIOUS_VECTOR: u8 = 0xff;
/// The container has a terminal (OCI `process.terminal`): the host's fds
/// 0 and 1 are a raw pty whose master the runtime handed out, and the
/// sentry runs `/dev/console`'s line discipline over them.
pub const FLAG_CONSOLE: u32 = 1 << 8;

/// Bit `n` of [`BootInfo::tty_mask`]: host fd `n` (0, 1, 2) is a terminal.
pub const TTY_STDIN: u32 = 1 << 0;

/// Everything the sentry needs to start, written by the VMM before the
/// first instruction. The guest treats it as input from the host: it checks
/// the magic and version and bounds every range against `mem_size`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct BootInfo {
    pub magic: u64,
    pub version: u32,
    /// `FLAG_*`.
    pub flags: u32,
    /// Bytes of guest physical memory.
    pub mem_size: u64,
    /// First guest-physical byte the sentry may allocate (page aligned).
    pub free_start: u64,
    /// The program's ELF file, copied into guest memory (page aligned).
    pub module_gpa: u64,
    pub module_len: u64,
    /// NUL-terminated strings: the exec path, then `argc` args, then `envc`
    /// environment entries.
    pub args_gpa: u64,
    pub args_len: u64,
    pub argc: u32,
    pub envc: u32,
    /// TSC frequency in kHz (0 if unknown).
    pub tsc_khz: u64,
    /// Which of the host's fds 0, 1, 2 are terminals (bit n = fd n).
    pub tty_mask: u32,
    pub pad: u32,
    /// Window size of the terminal on the host's stdout, if any.
    pub winsize: crate::linux::Winsize,
    /// Seed for the sentry's random number generator (AT_RANDOM, getrandom).
    pub seed: [u8; 32],
    /// Host name reported by uname (NUL padded).
    pub hostname: [u8; 64],
    /// What the host's fds 0, 1, 2 are, for fstat of the standard streams.
    pub stdio: [StdioStat; 3],
    /// The kernel `struct termios` (TCGETS) of the first terminal among the
    /// host's fds 0..2, zero if none is a terminal.
    pub termios: [u8; 36],
    pub pad2: u32,
    /// What the guest's CPUID reports that the sentry needs.
    pub cpuid: CpuidInfo,
}

/// The CPUID values the sentry uses, read by the VMM from the table it gave
/// the vCPU: on KVM every CPUID exits to the host (~33 us on kvm_pvm), so
/// the sentry executes none.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CpuidInfo {
    /// CPUID.1:ECX (the bits that vary at run time, such as OSXSAVE, may
    /// differ; the sentry reads XSAVE).
    pub leaf1_ecx: u32,
    /// CPUID.1:EDX (AT_HWCAP).
    pub leaf1_edx: u32,
    /// CPUID.(0xd, i) for XSAVE component i: zero for i < 2 and for
    /// components the CPU lacks.
    pub xsave: [XsaveComponent; 16],
}

/// One XSAVE state component: CPUID.(0xd, i) EAX and EBX.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct XsaveComponent {
    /// Bytes of the component's state (0: the CPU lacks it).
    pub size: u32,
    /// Offset in the standard-format XSAVE area.
    pub offset: u32,
}

/// The host's `fstat` of one standard stream (mode 0: the fd is closed).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StdioStat {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub pad: u32,
    pub dev: u64,
    pub ino: u64,
    pub rdev: u64,
    pub blksize: u64,
}

/// "RFIMAGE\0" little-endian.
pub const IMAGE_MAGIC: u64 = 0x0045_4741_4d49_4652;

/// The header at the start of the guest image (guest-physical
/// [`crate::layout::KERNEL_IMAGE_GPA`]): where the VMM points the vCPU.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct ImageHeader {
    /// [`IMAGE_MAGIC`].
    pub magic: u64,
    /// [`BOOT_VERSION`] the image was built for.
    pub version: u32,
    pub pad: u32,
    /// Kernel virtual address of the boot entry (rdi = vCPU index).
    pub entry: u64,
    /// Kernel virtual address for `LSTAR` (the `syscall` entry).
    pub syscall_entry: u64,
}
