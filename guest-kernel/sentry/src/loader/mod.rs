//! Program loading: puts a static ELF executable into a [`MemoryManager`]
//! and builds the initial stack, as Linux's `fs/binfmt_elf.c` does.
//!
//! Supported:
//! - x86-64 little-endian ELF64, `ET_EXEC` (loaded at its link address) and
//!   `ET_DYN` without an interpreter (static-PIE, loaded at Linux's
//!   `ELF_ET_DYN_BASE`, aligned to the largest `PT_LOAD` alignment; no
//!   randomisation).
//! - Read-only segments are mapped straight from the file's frames
//!   ([`Backing::Phys`], zero copy); writable ones are private copies
//!   ([`Backing::Anon`]) with their bss zero-filled on demand.
//! - The initial stack, laid out like Linux's `create_elf_tables` (strings,
//!   `AT_RANDOM` bytes, `AT_PLATFORM`, argc/argv/envp and the auxiliary
//!   vector; no vDSO, so no `AT_SYSINFO_EHDR`).
//!
//! The file is trusted no more than any user input: every header field is
//! checked (with checked arithmetic) before anything is mapped, and a bad
//! file fails with `ENOEXEC` and a reason.
//!
//! Not yet: `PT_INTERP` (dynamically linked programs fail with `ENOEXEC`),
//! a file-backed page cache (the file must sit whole in sentry physical
//! memory, as the boot module does), `PT_GNU_STACK` executable stacks,
//! address-space randomisation, and `#!` scripts.
//!
//! [`Backing::Phys`]: crate::mm::Backing::Phys
//! [`Backing::Anon`]: crate::mm::Backing::Anon

mod elf;
mod stack;
#[cfg(test)]
mod tests;

use crate::error::SysError;
use crate::mm::frames::FrameAllocator;
use crate::mm::{page_round_down, Backing, MemoryManager, STACK_SIZE, STACK_TOP};
use crate::platform::{AddressSpace, Perms, PhysAddr};

/// Stack bytes below the initial stack pointer mapped at exec.
pub const STACK_PREFAULT: u64 = 32 << 10;

pub use elf::ELF_ET_DYN_BASE;
pub use stack::{ARG_MAX, MAX_ARG_STRLEN};

/// What `execve` passes to the new program besides the file.
#[derive(Debug, Clone, Copy)]
pub struct ExecArgs<'a> {
    /// The path the program was executed as (`AT_EXECFN`).
    pub execfn: &'a [u8],
    /// Argument strings, without NUL terminators.
    pub argv: &'a [&'a [u8]],
    /// Environment strings (`NAME=value`), without NUL terminators.
    pub envp: &'a [&'a [u8]],
    /// The 16 bytes `AT_RANDOM` points at (the libc stack protector seed).
    pub random: [u8; 16],
    /// `AT_UID` and `AT_EUID`.
    pub uid: u32,
    /// `AT_GID` and `AT_EGID`.
    pub gid: u32,
    /// `AT_HWCAP`.
    pub hwcap: u64,
    /// `AT_HWCAP2`.
    pub hwcap2: u64,
}

/// Where the loaded program starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    /// The entry point (`e_entry` plus the load bias).
    pub entry: u64,
    /// The initial `rsp`, 16-byte aligned, pointing at argc.
    pub stack_pointer: u64,
    /// The end of the highest segment (the program break starts at the
    /// page above it).
    pub brk_start: u64,
    /// The program headers' address in memory (`AT_PHDR`), 0 if no segment
    /// maps them.
    pub phdr: u64,
    /// What was added to every virtual address in the file (0 for `ET_EXEC`).
    pub load_bias: u64,
}

/// Loads the ELF executable at sentry-physical `[file_pa, file_pa +
/// file_len)` into `mm` and builds its initial stack.
///
/// `file_pa` must be page aligned and the file's frames must stay unchanged
/// for as long as any address space maps them (read-only segments are
/// mapped straight from them).
///
/// Errors: `ENOEXEC` for a file that is not a loadable static x86-64
/// program, `E2BIG` for arguments over [`ARG_MAX`], `EINVAL`/`EFAULT` for a
/// bad file location, `ENOMEM` when memory runs out. The file and the
/// arguments are fully checked before `mm` is touched; a failure after
/// that (`ENOMEM`) leaves `mm` partly populated, to be discarded by the
/// caller as Linux discards the new mm of a failed exec.
pub fn load_elf<A: AddressSpace>(
    mm: &mut MemoryManager<A>,
    frames: &mut FrameAllocator,
    file_pa: PhysAddr,
    file_len: u64,
    args: &ExecArgs<'_>,
) -> Result<Loaded, SysError> {
    let file = elf::FileRef::new(frames.phys(), file_pa, file_len)?;
    let image = elf::parse(&file)?;
    let entry = image.entry;
    let info = stack::ImageInfo { phdr: image.phdr, phnum: image.phnum, entry };
    let stack_image = stack::build(STACK_TOP, args, &info)?;

    elf::map_segments(mm, frames, &file, &image)?;
    mm.init_brk(image.brk_start);

    mm.map(frames, STACK_TOP - STACK_SIZE, STACK_SIZE, Perms::RW, Backing::Stack, true)?;
    mm.copy_out(frames, stack_image.sp, &stack_image.bytes)?;
    // Startup code touches the stack below the arguments: map that now too.
    let warm = page_round_down(stack_image.sp).saturating_sub(STACK_PREFAULT);
    mm.populate(frames, warm, STACK_TOP - warm)?;

    Ok(Loaded {
        entry,
        stack_pointer: stack_image.sp,
        brk_start: image.brk_start,
        phdr: image.phdr,
        load_bias: image.bias,
    })
}
