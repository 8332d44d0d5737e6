//! Program loading: puts an ELF executable (and its interpreter, for a
//! dynamically linked one) into a [`MemoryManager`] and builds the initial
//! stack, as Linux's `fs/binfmt_elf.c` does.
//!
//! Supported:
//! - x86-64 little-endian ELF64, `ET_EXEC` (loaded at its link address) and
//!   `ET_DYN` (PIE, loaded at Linux's `ELF_ET_DYN_BASE`, aligned to the
//!   largest `PT_LOAD` alignment; no randomisation).
//! - `PT_INTERP`: [`interpreter`] names the dynamic linker, which the caller
//!   looks up and passes to [`load_elf_with_interp`]. The interpreter must be
//!   `ET_DYN`; it goes where `mmap` would put it (the highest free range
//!   below [`MMAP_TOP`]), and the auxiliary vector gets `AT_BASE` (its load
//!   bias) and `AT_ENTRY` (the program's entry) while execution starts at
//!   the interpreter's entry. The program break follows the program.
//! - Read-only segments are mapped straight from the file's frames
//!   ([`Backing::Phys`], zero copy); writable ones are private copies
//!   ([`Backing::Anon`]) with their bss zero-filled on demand.
//! - The initial stack, laid out like Linux's `create_elf_tables` (strings,
//!   `AT_RANDOM` bytes, `AT_PLATFORM`, argc/argv/envp and the auxiliary
//!   vector; no vDSO, so no `AT_SYSINFO_EHDR`).
//!
//! Files are trusted no more than any user input: every header field of the
//! program and of its interpreter is checked (with checked arithmetic)
//! before anything is mapped. A bad program fails with `ENOEXEC`, a bad
//! interpreter with `ELIBBAD`, each with a reason. Stricter than Linux: a
//! program with two `PT_INTERP`s is refused (Linux takes the first), and so
//! are an `ET_EXEC` interpreter, an interpreter with a `PT_INTERP` of its
//! own (Linux ignores it) and one whose entry point lies outside its
//! segments.
//!
//! Each file sits in contiguous sentry physical memory (the boot module, or
//! frames read from the file a window at a time as they are first needed,
//! [`crate::mm::lazy`]: the loader reads through [`FrameAllocator::fill`]).
//!
//! Not yet: `PT_GNU_STACK` executable
//! stacks, address-space randomisation, `#!` scripts, and the vDSO.
//!
//! [`Backing::Phys`]: crate::mm::Backing::Phys
//! [`Backing::Anon`]: crate::mm::Backing::Anon
//! [`MMAP_TOP`]: crate::mm::MMAP_TOP

mod elf;
mod stack;
#[cfg(test)]
mod tests;

use alloc::vec::Vec;

use crate::error::SysError;
use crate::mm::frames::FrameAllocator;
use crate::mm::{page_round_down, Backing, MemoryManager, STACK_SIZE, STACK_TOP};
use crate::platform::{AddressSpace, Perms, PhysAddr};
use abi::linux::errno::ENOEXEC;

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
    /// Where execution starts: the interpreter's entry point if there is
    /// one, else the program's (`e_entry` plus the load bias).
    pub entry: u64,
    /// The initial `rsp`, 16-byte aligned, pointing at argc.
    pub stack_pointer: u64,
    /// The end of the highest segment (the program break starts at the
    /// page above it).
    pub brk_start: u64,
    /// The program headers' address in memory (`AT_PHDR`), 0 if no segment
    /// maps them.
    pub phdr: u64,
    /// What was added to every virtual address in the program (0 for
    /// `ET_EXEC`).
    pub load_bias: u64,
    /// What was added to every virtual address in the interpreter
    /// (`AT_BASE`), 0 without one.
    pub interp_base: u64,
    /// Where the environment strings lie on the stack, `[start, end)`
    /// (/proc/<pid>/environ).
    pub env: (u64, u64),
}

/// The interpreter the ELF executable at sentry-physical `[file_pa,
/// file_pa + file_len)` asks for: its `PT_INTERP` path (without the NUL),
/// or `None` for a statically linked program.
///
/// Checks the whole program as [`load_elf_with_interp`] does, failing the
/// same way (`ENOEXEC` for a bad file, including a malformed `PT_INTERP`:
/// not NUL-terminated, longer than `PATH_MAX`, past the end of the file, or
/// more than one; `ENOENT` for an empty path).
pub fn interpreter(frames: &mut FrameAllocator, file_pa: PhysAddr, file_len: u64) -> Result<Option<Vec<u8>>, SysError> {
    let file = elf::FileRef::new(frames.phys(), file_pa, file_len)?;
    let headers = elf::parse_headers(&file, frames)?;
    headers.place_program()?;
    Ok(headers.interp)
}

/// Loads a statically linked ELF executable: [`load_elf_with_interp`]
/// without an interpreter (so a dynamically linked one fails with
/// `ENOEXEC`).
pub fn load_elf<A: AddressSpace>(
    mm: &mut MemoryManager<A>,
    frames: &mut FrameAllocator,
    file_pa: PhysAddr,
    file_len: u64,
    args: &ExecArgs<'_>,
) -> Result<Loaded, SysError> {
    load_elf_with_interp(mm, frames, file_pa, file_len, None, args)
}

/// Loads the ELF executable at sentry-physical `[file_pa, file_pa +
/// file_len)` into `mm`, with the interpreter it names (see
/// [`interpreter`]) at `interp = Some((pa, len))`, and builds its initial
/// stack.
///
/// Each file must start page aligned, and its frames must stay unchanged
/// for as long as any address space maps them (read-only segments are
/// mapped straight from them).
///
/// Errors: `ENOEXEC` for a program that is not a loadable x86-64
/// executable, or that names an interpreter when `interp` is `None`;
/// `ELIBBAD` for an interpreter that is not a loadable `ET_DYN` file;
/// `EINVAL` for an `interp` given to a statically linked program; `E2BIG`
/// for arguments over [`ARG_MAX`]; `EINVAL`/`EFAULT` for a bad file
/// location; `ENOMEM` when memory or address space runs out. The files
/// and the arguments are fully checked before `mm` is touched; a failure
/// after that (`ENOMEM`) leaves `mm` partly populated, to be discarded by
/// the caller as Linux discards the new mm of a failed exec.
pub fn load_elf_with_interp<A: AddressSpace>(
    mm: &mut MemoryManager<A>,
    frames: &mut FrameAllocator,
    file_pa: PhysAddr,
    file_len: u64,
    interp: Option<(PhysAddr, u64)>,
    args: &ExecArgs<'_>,
) -> Result<Loaded, SysError> {
    let phys = *frames.phys();
    let file = elf::FileRef::new(&phys, file_pa, file_len)?;
    let headers = elf::parse_headers(&file, frames)?;
    let image = headers.place_program()?;
    let interp = match (&headers.interp, interp) {
        (None, None) => None,
        (Some(_), Some((pa, len))) => {
            let interp_file = elf::FileRef::new(&phys, pa, len)?;
            Some((interp_file, elf::parse_interp(&interp_file, frames)?))
        }
        (Some(_), None) => return Err(SysError::new(ENOEXEC, "dynamically linked program without its interpreter")),
        (None, Some(_)) => return Err(SysError::einval("interpreter given for a statically linked program")),
    };
    stack::check(args)?;

    elf::map_segments(mm, frames, &file, &image)?;
    mm.init_brk(image.brk_start);
    let (entry, interp_base) = match interp {
        None => (image.entry, 0),
        Some((interp_file, interp)) => {
            // Like Linux's load_elf_interp: one mmap of the whole span finds
            // the place (top-down, after the program is mapped), then each
            // segment goes at its offset in it and the holes stay unmapped.
            let base = mm.map(frames, 0, interp.span, Perms::NONE, Backing::Anon, false)?;
            mm.unmap(frames, base, interp.span)?;
            let interp_image = interp.place(base)?;
            elf::map_segments(mm, frames, &interp_file, &interp_image)?;
            (interp_image.entry, interp_image.bias)
        }
    };

    let info = stack::ImageInfo { phdr: image.phdr, phnum: image.phnum, entry: image.entry, base: interp_base };
    let stack_image = stack::build(STACK_TOP, args, &info)?;
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
        interp_base,
        env: stack_image.env,
    })
}
