//! The initial process stack, laid out as Linux's `create_elf_tables`
//! (fs/binfmt_elf.c) and `execve` string copying (fs/exec.c) do on x86-64.
//!
//! From the top down:
//!
//! ```text
//! top - 8          8 zero bytes
//!                  execfn string                  <- AT_EXECFN
//!                  argv strings, then envp strings (argv[0] lowest)
//!                  (aligned down to 16)
//!                  "x86_64"                       <- AT_PLATFORM
//!                  16 random bytes                <- AT_RANDOM
//!                  (padding so that rsp is 16-byte aligned)
//!                  auxv pairs, AT_NULL
//!                  envp pointers, NULL
//!                  argv pointers, NULL
//! rsp              argc
//! ```
//!
//! Linux moves the top down by a random amount (`arch_align_stack`); we
//! don't randomise.

use alloc::vec::Vec;

use super::elf::PHDR_SIZE;
use super::ExecArgs;
use crate::error::SysError;
use abi::layout::PAGE_SIZE;
use abi::linux::auxv::*;
use abi::linux::errno::E2BIG;

/// Most bytes of argument and environment strings plus their pointers,
/// Linux's limit for the default 8 MiB stack (a quarter of it).
pub const ARG_MAX: u64 = 2 << 20;
/// Longest single argument or environment string, NUL included (Linux's
/// `MAX_ARG_STRLEN`).
pub const MAX_ARG_STRLEN: u64 = 32 * PAGE_SIZE;
/// `AT_PLATFORM`.
const PLATFORM: &[u8] = b"x86_64\0";
/// `AT_CLKTCK`: Linux's `USER_HZ`.
const CLOCK_TICKS: u64 = 100;

/// What the auxiliary vector says about the loaded image.
#[derive(Debug, Clone, Copy)]
pub(super) struct ImageInfo {
    pub phdr: u64,
    pub phnum: u64,
    /// The program's entry point (`AT_ENTRY`).
    pub entry: u64,
    /// The interpreter's load bias (`AT_BASE`), 0 without one.
    pub base: u64,
}

/// The initial stack's contents: `bytes` go at `[sp, top)`.
#[derive(Debug)]
pub(super) struct StackImage {
    pub sp: u64,
    pub bytes: Vec<u8>,
    /// Where the environment strings lie: `[start, end)`.
    pub env: (u64, u64),
}

fn e2big(why: &'static str) -> SysError {
    SysError::new(E2BIG, why)
}

/// Bytes `strings` take with their NUL terminators, checking each.
fn strings_size(strings: &[&[u8]]) -> Result<u64, SysError> {
    let mut total = 0u64;
    for s in strings {
        let len = s.len() as u64 + 1;
        if len > MAX_ARG_STRLEN {
            return Err(e2big("argument string too long"));
        }
        if s.contains(&0) {
            return Err(SysError::einval("argument string contains a NUL byte"));
        }
        total = total.saturating_add(len);
    }
    Ok(total)
}

/// Checks the arguments: `E2BIG` when they exceed [`ARG_MAX`] or a string
/// exceeds [`MAX_ARG_STRLEN`], `EINVAL` for a string holding a NUL. Returns
/// the bytes the execfn string and the argument strings take.
pub(super) fn check(args: &ExecArgs<'_>) -> Result<(u64, u64), SysError> {
    let execfn_len = strings_size(&[args.execfn])?;
    let strings_len = strings_size(args.argv)?.saturating_add(strings_size(args.envp)?);
    let pointers = (args.argv.len() as u64).saturating_add(args.envp.len() as u64).saturating_mul(8);
    if strings_len.saturating_add(pointers).saturating_add(execfn_len) > ARG_MAX {
        return Err(e2big("argument list too long"));
    }
    Ok((execfn_len, strings_len))
}

/// Builds the stack image for a stack whose highest address is `top`
/// (exclusive). Fails as [`check`] does, and with `ENOMEM` for a `top` too
/// low to hold the arguments.
pub(super) fn build(top: u64, args: &ExecArgs<'_>, info: &ImageInfo) -> Result<StackImage, SysError> {
    let argc = args.argv.len() as u64;
    let envc = args.envp.len() as u64;
    let (execfn_len, strings_len) = check(args)?;
    // Everything below is bounded by ARG_MAX plus a few hundred bytes.
    let below = |addr: u64, n: u64| addr.checked_sub(n).ok_or(SysError::enomem("stack top too low"));

    let execfn_addr = below(top, 8 + execfn_len)?;
    let strings_addr = below(execfn_addr, strings_len)?;
    let platform_addr = below(strings_addr & !15, PLATFORM.len() as u64)?;
    let random_addr = below(platform_addr, 16)?;

    let auxv: [(u64, u64); 19] = [
        (AT_HWCAP, args.hwcap),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_CLKTCK, CLOCK_TICKS),
        (AT_PHDR, info.phdr),
        (AT_PHENT, PHDR_SIZE),
        (AT_PHNUM, info.phnum),
        (AT_BASE, info.base),
        (AT_FLAGS, 0),
        (AT_ENTRY, info.entry),
        (AT_UID, u64::from(args.uid)),
        (AT_EUID, u64::from(args.uid)),
        (AT_GID, u64::from(args.gid)),
        (AT_EGID, u64::from(args.gid)),
        (AT_SECURE, 0),
        (AT_RANDOM, random_addr),
        (AT_HWCAP2, args.hwcap2),
        (AT_EXECFN, execfn_addr),
        (AT_PLATFORM, platform_addr),
        (AT_NULL, 0),
    ];
    // argc, argv + NULL, envp + NULL, then the auxv pairs.
    let words = 1 + (argc + 1) + (envc + 1) + 2 * auxv.len() as u64;
    let sp = below(random_addr, words * 8)? & !15;

    let size = usize::try_from(top - sp).map_err(|_| e2big("argument list too long"))?;
    let mut bytes = alloc::vec![0u8; size];
    let mut w = Writer { bytes: &mut bytes, sp };
    w.put(execfn_addr, args.execfn);
    let mut at = strings_addr;
    let mut pointers = Vec::with_capacity(args.argv.len() + args.envp.len());
    for s in args.argv.iter().chain(args.envp) {
        pointers.push(at);
        w.put(at, s);
        at += s.len() as u64 + 1;
    }
    w.put(platform_addr, PLATFORM);
    w.put(random_addr, &args.random);

    let (argv_ptrs, envp_ptrs) = pointers.split_at(args.argv.len());
    let mut at = sp;
    let mut word = |w: &mut Writer<'_>, v: u64| {
        w.put(at, &v.to_le_bytes());
        at += 8;
    };
    word(&mut w, argc);
    for &p in argv_ptrs {
        word(&mut w, p);
    }
    word(&mut w, 0);
    for &p in envp_ptrs {
        word(&mut w, p);
    }
    word(&mut w, 0);
    for (k, v) in auxv {
        word(&mut w, k);
        word(&mut w, v);
    }
    let env_start = strings_addr + strings_size(args.argv)?;
    Ok(StackImage { sp, bytes, env: (env_start, strings_addr + strings_len) })
}

/// Writes into the image by address.
struct Writer<'a> {
    bytes: &'a mut [u8],
    sp: u64,
}

impl Writer<'_> {
    /// Copies `data` to `addr`; the layout computed in [`build`] keeps every
    /// write inside the image (the zero bytes after each string are
    /// already there).
    fn put(&mut self, addr: u64, data: &[u8]) {
        let dst =
            usize::try_from(addr - self.sp).ok().and_then(|off| self.bytes.get_mut(off..off.checked_add(data.len())?));
        debug_assert!(dst.is_some(), "stack write outside the image");
        if let Some(dst) = dst {
            dst.copy_from_slice(data);
        }
    }
}
