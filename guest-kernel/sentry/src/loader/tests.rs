#![allow(clippy::cast_possible_truncation)]

use std::collections::BTreeMap;

use super::*;
use crate::mm::{STACK_SIZE, STACK_TOP};
use crate::testutil::{FakeSpace, TestMem};
use ::elf::abi::{ET_DYN, ET_EXEC, PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_PHDR};
use abi::layout::{PAGE_SIZE, USER_END};
use abi::linux::auxv::*;
use abi::linux::errno;

const BUSYBOX: &str = "/usr/bin/busybox";
const RANDOM: [u8; 16] = *b"0123456789abcdef";

fn args<'a>(argv: &'a [&'a [u8]], envp: &'a [&'a [u8]]) -> ExecArgs<'a> {
    ExecArgs { execfn: b"/bin/prog", argv, envp, random: RANDOM, uid: 1000, gid: 100, hwcap: 0x178b_fbff, hwcap2: 2 }
}

struct Run {
    mem: TestMem,
    mm: MemoryManager<FakeSpace>,
    file_pa: u64,
    /// Where the interpreter file sits (0 without one).
    interp_pa: u64,
}

fn load_with(file: &[u8], a: &ExecArgs<'_>) -> (Run, Result<Loaded, SysError>) {
    let (mut mem, file_pa) = TestMem::with_file(16, file);
    let mut mm = MemoryManager::new(FakeSpace::new());
    let r = load_elf(&mut mm, &mut mem.frames, file_pa, file.len() as u64, a);
    (Run { mem, mm, file_pa, interp_pa: 0 }, r)
}

/// Physical memory holding `main` at 0 and `interp` at the next page,
/// followed by `mib` MiB of allocatable frames. Returns the interpreter's
/// address.
fn two_files(mib: u64, main: &[u8], interp: &[u8]) -> (TestMem, u64) {
    let interp_pa = (main.len() as u64).next_multiple_of(PAGE_SIZE);
    let end = (interp_pa + interp.len() as u64).next_multiple_of(PAGE_SIZE);
    let mem = TestMem::with_reserved(mib + end.div_ceil(1 << 20), end);
    assert!(mem.phys().write(0, main) && mem.phys().write(interp_pa, interp));
    (mem, interp_pa)
}

/// Loads `main` with `interp` as its interpreter.
fn load_dyn(main: &[u8], interp: &[u8]) -> (Run, Result<Loaded, SysError>) {
    let (mut mem, interp_pa) = two_files(16, main, interp);
    let mut mm = MemoryManager::new(FakeSpace::new());
    let a = args(&[b"prog"], &[b"A=1"]);
    let i = Some((interp_pa, interp.len() as u64));
    let r = load_elf_with_interp(&mut mm, &mut mem.frames, 0, main.len() as u64, i, &a);
    (Run { mem, mm, file_pa: 0, interp_pa }, r)
}

fn load_dyn_err(main: &[u8], interp: &[u8]) -> SysError {
    load_dyn(main, interp).1.expect_err("load should fail")
}

/// [`interpreter`] on `file`.
fn interp_of(file: &[u8]) -> Result<Option<Vec<u8>>, SysError> {
    let (mut mem, file_pa) = TestMem::with_file(1, file);
    interpreter(&mut mem.frames, file_pa, file.len() as u64)
}

fn load(file: &[u8]) -> (Run, Loaded) {
    let (run, r) = load_with(file, &args(&[b"prog"], &[]));
    (run, r.expect("load"))
}

fn load_err(file: &[u8]) -> SysError {
    load_with(file, &args(&[b"prog"], &[])).1.expect_err("load should fail")
}

/// A program header for [`craft`].
#[derive(Clone, Copy)]
struct Ph {
    ty: u32,
    flags: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
    memsz: u64,
    align: u64,
}

fn load_ph(flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Ph {
    Ph { ty: PT_LOAD, flags, offset, vaddr, filesz, memsz, align: PAGE_SIZE }
}

/// A minimal ELF64 x86-64 file: header, program headers at 64, zero bytes
/// up to `len`, and each segment's file bytes filled with a pattern.
fn craft(e_type: u16, entry: u64, phs: &[Ph], len: usize) -> Vec<u8> {
    let mut f = std::vec![0u8; len.max(64 + 56 * phs.len())];
    for ph in phs {
        if ph.ty != PT_LOAD {
            continue;
        }
        let (Ok(start), Ok(n)) = (usize::try_from(ph.offset), usize::try_from(ph.filesz)) else {
            continue;
        };
        for (i, b) in f.iter_mut().skip(start).take(n).enumerate() {
            *b = (i % 251) as u8 + 1;
        }
    }
    f[..16].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    f[16..18].copy_from_slice(&e_type.to_le_bytes());
    f[18..20].copy_from_slice(&62u16.to_le_bytes());
    f[20..24].copy_from_slice(&1u32.to_le_bytes());
    f[24..32].copy_from_slice(&entry.to_le_bytes());
    f[32..40].copy_from_slice(&64u64.to_le_bytes());
    f[52..54].copy_from_slice(&64u16.to_le_bytes());
    f[54..56].copy_from_slice(&56u16.to_le_bytes());
    f[56..58].copy_from_slice(&(phs.len() as u16).to_le_bytes());
    for (i, ph) in phs.iter().enumerate() {
        let o = 64 + 56 * i;
        f[o..o + 4].copy_from_slice(&ph.ty.to_le_bytes());
        f[o + 4..o + 8].copy_from_slice(&ph.flags.to_le_bytes());
        for (j, v) in [ph.offset, ph.vaddr, ph.vaddr, ph.filesz, ph.memsz, ph.align].iter().enumerate() {
            f[o + 8 + 8 * j..o + 16 + 8 * j].copy_from_slice(&v.to_le_bytes());
        }
    }
    f
}

/// A static program: headers and text at 0x400000, data + bss above.
fn exec_phs() -> Vec<Ph> {
    std::vec![
        load_ph(PF_R | PF_X, 0, 0x40_0000, 0x1800, 0x1800),
        load_ph(PF_R | PF_W, 0x2100, 0x40_3100, 0x200, 0x3000),
    ]
}

fn read(run: &mut Run, va: u64, len: usize) -> Vec<u8> {
    let mut buf = std::vec![0u8; len];
    run.mm.copy_in(&mut run.mem.frames, va, &mut buf).expect("readable");
    buf
}

fn word(run: &mut Run, va: u64) -> u64 {
    run.mm.read_u64(&mut run.mem.frames, va).expect("stack word")
}

/// The initial stack, decoded: argv, envp and auxv.
struct Stack {
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
    auxv: Vec<(u64, u64)>,
}

fn decode_stack(run: &mut Run, sp: u64) -> Stack {
    let argc = word(run, sp);
    let mut at = sp + 8;
    let strings = |run: &mut Run, at: &mut u64| {
        let mut out = Vec::new();
        loop {
            let p = word(run, *at);
            *at += 8;
            if p == 0 {
                return out;
            }
            out.push(run.mm.read_cstr(&mut run.mem.frames, p, 1 << 20).expect("string"));
        }
    };
    let argv = strings(run, &mut at);
    assert_eq!(argv.len() as u64, argc);
    let envp = strings(run, &mut at);
    let mut auxv = Vec::new();
    loop {
        let (k, v) = (word(run, at), word(run, at + 8));
        at += 16;
        auxv.push((k, v));
        if k == AT_NULL {
            return Stack { argv, envp, auxv };
        }
    }
}

fn busybox() -> Option<Vec<u8>> {
    match std::fs::read(BUSYBOX) {
        Ok(b) => Some(b),
        Err(e) => {
            std::eprintln!("skipping: {BUSYBOX}: {e}");
            None
        }
    }
}

#[test]
fn loads_busybox_zero_copy_with_a_linux_stack() {
    let Some(file) = busybox() else { return };
    let parsed = ::elf::ElfBytes::<::elf::endian::LittleEndian>::minimal_parse(&file).expect("busybox parses");
    let argv: [&[u8]; 3] = [b"busybox", b"echo", b"hi there"];
    let envp: [&[u8]; 2] = [b"PATH=/bin", b"HOME=/"];
    let (mut run, r) = load_with(&file, &args(&argv, &envp));
    let l = r.expect("busybox loads");
    assert_eq!(l.entry, parsed.ehdr.e_entry);
    assert_eq!(l.load_bias, 0);

    let mut top = 0;
    for ph in parsed.segments().expect("phdrs").iter().filter(|p| p.p_type == PT_LOAD) {
        top = top.max(ph.p_vaddr + ph.p_memsz);
        let va = ph.p_vaddr;
        let (filesz, memsz) = (ph.p_filesz as usize, ph.p_memsz as usize);
        let got = read(&mut run, va, memsz);
        let off = ph.p_offset as usize;
        assert_eq!(got[..filesz], file[off..off + filesz], "segment at {va:#x} holds the file bytes");
        assert!(got[filesz..].iter().all(|&b| b == 0), "bss at {va:#x} is zero");
        let (pa, perms) = run.mm.space_mut().translate(va).expect("faulted in");
        assert_eq!(perms.write, ph.p_flags & PF_W != 0);
        assert_eq!(perms.exec, ph.p_flags & PF_X != 0);
        let file_frame = run.file_pa + ph.p_offset / PAGE_SIZE * PAGE_SIZE;
        if ph.p_flags & PF_W == 0 {
            assert_eq!(pa, file_frame, "read-only segment at {va:#x} maps the file's frame");
        } else {
            assert_ne!(pa, file_frame, "writable segment at {va:#x} is a private copy");
        }
    }
    assert_eq!(l.brk_start, top);
    assert_eq!(run.mm.brk(&mut run.mem.frames, 0), top.next_multiple_of(PAGE_SIZE));

    let sp = l.stack_pointer;
    assert_eq!(sp % 16, 0);
    assert!(sp < crate::mm::STACK_TOP && sp > crate::mm::STACK_TOP - 64 * 1024);
    let st = decode_stack(&mut run, sp);
    assert_eq!(st.argv, argv.map(<[u8]>::to_vec));
    assert_eq!(st.envp, envp.map(<[u8]>::to_vec));
    let keys: Vec<u64> = st.auxv.iter().map(|a| a.0).collect();
    assert_eq!(
        keys,
        [
            AT_HWCAP,
            AT_PAGESZ,
            AT_CLKTCK,
            AT_PHDR,
            AT_PHENT,
            AT_PHNUM,
            AT_BASE,
            AT_FLAGS,
            AT_ENTRY,
            AT_UID,
            AT_EUID,
            AT_GID,
            AT_EGID,
            AT_SECURE,
            AT_RANDOM,
            AT_HWCAP2,
            AT_EXECFN,
            AT_PLATFORM,
            AT_NULL
        ]
    );
    let aux: BTreeMap<u64, u64> = st.auxv.into_iter().collect();
    assert_eq!(aux[&AT_ENTRY], parsed.ehdr.e_entry);
    assert_eq!(aux[&AT_PHNUM], u64::from(parsed.ehdr.e_phnum));
    assert_eq!(aux[&AT_PHENT], 56);
    assert_eq!(aux[&AT_PAGESZ], 4096);
    assert_eq!(aux[&AT_CLKTCK], 100);
    assert_eq!((aux[&AT_UID], aux[&AT_EUID], aux[&AT_GID], aux[&AT_EGID]), (1000, 1000, 100, 100));
    assert_eq!((aux[&AT_HWCAP], aux[&AT_HWCAP2], aux[&AT_SECURE], aux[&AT_BASE]), (0x178b_fbff, 2, 0, 0));
    assert_eq!(aux[&AT_PHDR], l.phdr);
    let phoff = parsed.ehdr.e_phoff as usize;
    let table_len = 56 * usize::from(parsed.ehdr.e_phnum);
    assert_eq!(read(&mut run, aux[&AT_PHDR], table_len), file[phoff..phoff + table_len], "AT_PHDR");
    assert_eq!(read(&mut run, aux[&AT_RANDOM], 16), RANDOM);
    let execfn = run.mm.read_cstr(&mut run.mem.frames, aux[&AT_EXECFN], 4096).expect("execfn");
    assert_eq!(execfn, b"/bin/prog");
    let platform = run.mm.read_cstr(&mut run.mem.frames, aux[&AT_PLATFORM], 4096).expect("platform");
    assert_eq!(platform, b"x86_64");
    // As Linux: execfn ends 8 bytes below the top of the stack.
    assert_eq!(aux[&AT_EXECFN] + 10 + 8, crate::mm::STACK_TOP);
}

#[test]
fn loads_a_crafted_static_pie_at_the_dyn_base() {
    let mut phs = std::vec![
        Ph { ty: PT_PHDR, flags: PF_R, offset: 64, vaddr: 64, filesz: 4 * 56, memsz: 4 * 56, align: 8 },
        load_ph(PF_R, 0, 0, 0x800, 0x800),
        load_ph(PF_R | PF_X, 0x1000, 0x1000, 0x100, 0x100),
        load_ph(PF_R | PF_W, 0x2000, 0x3000, 0x10, 0x5000),
    ];
    let file = craft(ET_DYN, 0x1000, &phs, 0x2010);
    let (mut run, l) = load(&file);
    let bias = ELF_ET_DYN_BASE;
    assert_eq!(l.load_bias, bias);
    assert_eq!(l.entry, bias + 0x1000);
    assert_eq!(l.phdr, bias + 64);
    assert_eq!(l.brk_start, bias + 0x8000);
    assert_eq!(read(&mut run, bias + 0x3000, 0x10), file[0x2000..0x2010]);
    assert_eq!(read(&mut run, bias + 0x3010, 0x4ff0), std::vec![0u8; 0x4ff0]);
    assert_eq!(read(&mut run, bias + 0x1000, 0x100), file[0x1000..0x1100]);
    assert_eq!(run.mm.space_mut().translate(bias + 0x1000).map(|t| t.0), Some(run.file_pa + 0x1000));
    let st = decode_stack(&mut run, l.stack_pointer);
    assert!(st.auxv.contains(&(AT_PHDR, bias + 64)));
    assert!(st.auxv.contains(&(AT_ENTRY, bias + 0x1000)));

    // The bias honours the largest segment alignment.
    phs[3].align = 2 << 20;
    let (_, l) = load(&craft(ET_DYN, 0x1000, &phs, 0x2010));
    assert_eq!(l.load_bias, 0x5555_5560_0000);
}

#[test]
fn read_only_segments_needing_zeroes_or_past_eof_are_copied() {
    // memsz > filesz on a read-only segment, and a text segment whose last
    // page runs past the end of the file.
    let phs = [load_ph(PF_R, 0, 0x40_0000, 0x800, 0x2000), load_ph(PF_R | PF_X, 0x1000, 0x40_3000, 0x80, 0x80)];
    let file = craft(ET_EXEC, 0x40_3000, &phs, 0x1080);
    let (mut run, l) = load(&file);
    assert_eq!(l.phdr, 0x40_0040, "found through the PT_LOAD holding e_phoff");
    assert_eq!(read(&mut run, 0x40_0000, 0x800), file[..0x800]);
    assert_eq!(read(&mut run, 0x40_0800, 0x1800), std::vec![0u8; 0x1800]);
    assert_eq!(read(&mut run, 0x40_3000, 0x80), file[0x1000..0x1080]);
    for va in [0x40_0000, 0x40_3000] {
        let (pa, perms) = run.mm.space_mut().translate(va).expect("mapped");
        assert!(pa >= file.len() as u64, "{va:#x}: a private frame, not the file's");
        assert!(!perms.write);
    }
}

#[test]
fn rejects_hostile_headers() {
    let ok = exec_phs();
    let file = craft(ET_EXEC, 0x40_0100, &ok, 0x2300);
    load(&file);

    let noexec = |f: &[u8], why: &str| {
        let e = load_err(f);
        assert_eq!(e.errno, errno::ENOEXEC, "{why}: {e:?}");
    };
    let with = |edit: &dyn Fn(&mut Vec<Ph>)| {
        let mut phs = ok.clone();
        edit(&mut phs);
        craft(ET_EXEC, 0x40_0100, &phs, 0x2300)
    };
    let patched = |at: usize, bytes: &[u8]| {
        let mut f = file.clone();
        f[at..at + bytes.len()].copy_from_slice(bytes);
        f
    };

    for n in [0, 1, 4, 16, 63, 64, 100, 64 + 2 * 56 - 1] {
        noexec(&file[..n], "truncated");
    }
    noexec(&patched(0, b"\x7fELG"), "bad magic");
    noexec(&patched(4, &[1]), "32-bit");
    noexec(&patched(5, &[2]), "big-endian");
    noexec(&patched(6, &[9]), "version");
    noexec(&patched(16, &1u16.to_le_bytes()), "ET_REL");
    noexec(&patched(18, &3u16.to_le_bytes()), "i386");
    noexec(&patched(54, &32u16.to_le_bytes()), "phentsize");
    noexec(&patched(56, &0u16.to_le_bytes()), "phnum 0");
    noexec(&patched(56, &0xffffu16.to_le_bytes()), "phnum huge");
    noexec(&patched(32, &(0x2300u64 - 56).to_le_bytes()), "program headers past EOF");
    noexec(&patched(32, &u64::MAX.to_le_bytes()), "phoff wraps");
    noexec(&patched(24, &0xffff_8000_0000_0000u64.to_le_bytes()), "entry in the kernel half");
    noexec(&with(&|p| p[1].offset = 0x1_0000_0100), "offset past EOF");
    noexec(&with(&|p| p[1].filesz = 0x2300), "filesz past EOF");
    noexec(&with(&|p| p[1].filesz = u64::MAX), "filesz wraps");
    noexec(&with(&|p| p[1].memsz = 0x100), "filesz > memsz");
    noexec(&with(&|p| p[1].vaddr = 0x40_1100), "overlapping");
    noexec(&with(&|p| (p[1].offset, p[1].vaddr) = (0x1900, 0x40_1900)), "sharing a page");
    noexec(&with(&|p| p[1].vaddr = 0x40_3000), "vaddr not congruent to offset");
    noexec(&with(&|p| p[1].vaddr = 0xffff_8000_0000_0100), "kernel half");
    noexec(&with(&|p| p[1].vaddr = USER_END - 0x1f00), "crosses USER_END");
    noexec(&with(&|p| p[1].memsz = u64::MAX - 0x40_0000), "memsz wraps");
    noexec(&with(&|p| p[1].memsz = u64::MAX - 0x40_3200), "memsz wraps when rounded");
    noexec(&with(&|p| p[0].vaddr = 0), "below mmap_min_addr");
    noexec(&with(&|p| p[1].vaddr = crate::mm::STACK_TOP - 0x2f00), "over the stack");
    noexec(&with(&|p| p.iter_mut().for_each(|p| p.ty = 4)), "no PT_LOAD");
    // Two pattern bytes and the NUL after the text.
    let e = load_err(&with(&|p| p.push(Ph { ty: PT_INTERP, offset: 0x17fe, filesz: 3, ..p[0] })));
    assert_eq!(e, SysError::new(errno::ENOEXEC, "dynamically linked program without its interpreter"));

    let mut huge_align = ok.clone();
    huge_align[0].align = 1 << 63;
    noexec(&craft(ET_DYN, 0x100, &huge_align, 0x2300), "alignment overflows the bias");
}

#[test]
fn rejects_bad_file_locations_and_arguments() {
    let file = craft(ET_EXEC, 0x40_0100, &exec_phs(), 0x2300);
    let (mut mem, _) = TestMem::with_file(1, &file);
    let mut mm = MemoryManager::new(FakeSpace::new());
    let a = args(&[], &[]);
    let size = mem.phys().size();
    let r = load_elf(&mut mm, &mut mem.frames, 8, file.len() as u64, &a);
    assert_eq!(r.map_err(|e| e.errno), Err(errno::EINVAL));
    let r = load_elf(&mut mm, &mut mem.frames, size - PAGE_SIZE, 2 * PAGE_SIZE, &a);
    assert_eq!(r.map_err(|e| e.errno), Err(errno::EFAULT));
    let r = load_elf(&mut mm, &mut mem.frames, PAGE_SIZE, u64::MAX, &a);
    assert_eq!(r.map_err(|e| e.errno), Err(errno::EFAULT));

    let long = std::vec![b'a'; MAX_ARG_STRLEN as usize];
    let e2big = |argv: &[&[u8]]| load_with(&file, &args(argv, &[])).1.map_err(|e| e.errno);
    assert_eq!(e2big(&[long.as_slice()]), Err(errno::E2BIG));
    let ok = &long[..long.len() - 1];
    assert!(e2big(&[ok]).is_ok(), "MAX_ARG_STRLEN counts the NUL");
    let many: Vec<&[u8]> = std::iter::repeat_n(ok, 16).collect();
    assert_eq!(e2big(&many), Err(errno::E2BIG));
    assert_eq!(e2big(&[b"a\0b"]), Err(errno::EINVAL));

    // Argument-heavy but legal: the stack stays aligned and readable.
    let argv: Vec<Vec<u8>> = (0..1000).map(|i| std::format!("arg{i}").into_bytes()).collect();
    let argv: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
    let (mut run, r) = load_with(&file, &args(&argv, &[b"A=1"]));
    let l = r.expect("load");
    assert_eq!(l.stack_pointer % 16, 0);
    let st = decode_stack(&mut run, l.stack_pointer);
    assert_eq!(st.argv.len(), 1000);
    assert_eq!(st.argv[999], b"arg999");
    assert_eq!(st.envp, [b"A=1"]);
}

#[test]
fn stack_pointer_is_aligned_for_every_argument_count() {
    let file = craft(ET_EXEC, 0x40_0100, &exec_phs(), 0x2300);
    let strs: Vec<Vec<u8>> = (0..6).map(|i| std::vec![b'x'; i * 3]).collect();
    for argc in 0..6 {
        for envc in 0..3 {
            let argv: Vec<&[u8]> = strs[..argc].iter().map(Vec::as_slice).collect();
            let envp: Vec<&[u8]> = strs[..envc].iter().map(Vec::as_slice).collect();
            let (mut run, r) = load_with(&file, &args(&argv, &envp));
            let sp = r.expect("load").stack_pointer;
            assert_eq!(sp % 16, 0, "argc {argc} envc {envc}");
            let st = decode_stack(&mut run, sp);
            assert_eq!(st.argv.len(), argc);
            assert_eq!(st.envp.len(), envc);
        }
    }
}

/// A tiny xorshift generator, so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> usize {
        (self.next() % n) as usize
    }
}

#[test]
fn mutated_headers_never_panic_or_leak() {
    let Some(file) = busybox() else { return };
    let (mut mem, file_pa) = TestMem::with_file(64, &file);
    let free = mem.frames.available();
    let phys = mem.phys();
    let head = &file[..4096];
    let table_end = 64 + 56 * usize::from(u16::from_le_bytes([file[56], file[57]]));
    let interesting = [0u64, 1, 0x1000, 0x40_0000, 0x7fff_ffff_f000, 1 << 47, u64::MAX, u64::MAX - 0xfff, 56, 64];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut loaded, mut failed) = (0, 0);
    for _ in 0..3000 {
        let mut m = head.to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(table_end as u64 + 8) & !7;
            match rng.below(3) {
                0 => m[rng.below(table_end as u64)] = rng.next() as u8,
                1 if at + 8 <= m.len() => {
                    m[at..at + 8].copy_from_slice(&interesting[rng.below(10)].to_le_bytes());
                }
                _ if at + 8 <= m.len() => {
                    let v = u64::from_le_bytes(m[at..at + 8].try_into().expect("8 bytes"));
                    m[at..at + 8].copy_from_slice(&v.wrapping_add(rng.next() % 0x3000).to_le_bytes());
                }
                _ => {}
            }
        }
        let len = if rng.below(8) == 0 { rng.below(file.len() as u64) as u64 } else { file.len() as u64 };
        assert!(phys.write(file_pa, &m));
        let mut mm = MemoryManager::new(FakeSpace::new());
        match load_elf(&mut mm, &mut mem.frames, file_pa, len, &args(&[b"x"], &[])) {
            Ok(l) => {
                loaded += 1;
                assert_eq!(l.stack_pointer % 16, 0);
            }
            Err(e) => {
                failed += 1;
                let ok = [errno::ENOEXEC, errno::ENOENT, errno::ENOMEM, errno::EFAULT];
                assert!(ok.contains(&e.errno), "{e:?}");
            }
        }
        mm.destroy(&mut mem.frames);
        assert_eq!(mem.frames.available(), free, "frames leaked");
    }
    std::eprintln!("mutations: loaded {loaded}, failed {failed}");
    assert!(loaded > 0 && failed > 0, "loaded {loaded}, failed {failed}");

    // Pure garbage.
    for _ in 0..500 {
        let g: Vec<u8> = (0..rng.below(600)).map(|_| rng.next() as u8).collect();
        let mut g2 = g.clone();
        if g2.len() >= 4 {
            g2[..4].copy_from_slice(b"\x7fELF");
        }
        for f in [g, g2] {
            let e = load_err(&f);
            assert_eq!(e.errno, errno::ENOEXEC, "{e:?}");
        }
    }
}

#[test]
fn loads_a_gcc_static_pie_if_available() {
    let dir = std::env::temp_dir().join(std::format!("ringfence-loader-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let src = dir.join("t.c");
    let exe = dir.join("t");
    std::fs::write(&src, "int x = 42; char big[100000]; int main(void) { return x + big[5]; }\n").expect("write");
    let built = std::process::Command::new("gcc")
        .args(["-static-pie", "-O1", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .is_ok_and(|o| o.status.success());
    let file = built.then(|| std::fs::read(&exe).ok()).flatten();
    let _ = std::fs::remove_dir_all(&dir);
    let Some(file) = file else {
        std::eprintln!("skipping: gcc -static-pie unavailable");
        return;
    };
    let parsed = ::elf::ElfBytes::<::elf::endian::LittleEndian>::minimal_parse(&file).expect("parses");
    assert_eq!(parsed.ehdr.e_type, ET_DYN);
    let (mut run, l) = load(&file);
    assert_eq!(l.load_bias, ELF_ET_DYN_BASE);
    assert_eq!(l.entry, ELF_ET_DYN_BASE + parsed.ehdr.e_entry);
    let phoff = parsed.ehdr.e_phoff as usize;
    let table_len = 56 * usize::from(parsed.ehdr.e_phnum);
    assert_eq!(read(&mut run, l.phdr, table_len), file[phoff..phoff + table_len]);
    for ph in parsed.segments().expect("phdrs").iter().filter(|p| p.p_type == PT_LOAD) {
        let got = read(&mut run, l.load_bias + ph.p_vaddr, ph.p_filesz as usize);
        assert_eq!(got, file[ph.p_offset as usize..(ph.p_offset + ph.p_filesz) as usize]);
    }
}

const LD_SO: &str = "/lib64/ld-linux-x86-64.so.2";
const TRUE: &str = "/bin/true";
const INTERP_PATH: &[u8] = b"/lib/ld-test.so.1";
const INTERP_PH_OFFSET: u64 = 0x200;

/// A PIE whose `PT_INTERP` holds `path` (NUL included, or not) at 0x200,
/// plus `extra` program headers.
fn dyn_main(path: &[u8], extra: &[Ph]) -> Vec<u8> {
    let n = 5 + extra.len() as u64;
    let mut phs = std::vec![
        Ph { ty: PT_PHDR, flags: PF_R, offset: 64, vaddr: 64, filesz: n * 56, memsz: n * 56, align: 8 },
        Ph { ty: PT_INTERP, flags: PF_R, offset: INTERP_PH_OFFSET, vaddr: 0x200, filesz: 0, memsz: 0, align: 1 },
        load_ph(PF_R, 0, 0, 0x800, 0x800),
        load_ph(PF_R | PF_X, 0x1000, 0x1000, 0x100, 0x100),
        load_ph(PF_R | PF_W, 0x2000, 0x3000, 0x10, 0x2000),
    ];
    phs[1].filesz = path.len() as u64;
    phs[1].memsz = path.len() as u64;
    phs.extend_from_slice(extra);
    let mut f = craft(ET_DYN, 0x1000, &phs, 0x2010.max(INTERP_PH_OFFSET as usize + path.len()));
    f[INTERP_PH_OFFSET as usize..][..path.len()].copy_from_slice(path);
    f
}

fn nul_terminated(path: &[u8]) -> Vec<u8> {
    let mut p = path.to_vec();
    p.push(0);
    p
}

/// A dynamic linker: headers, text, then (after a two-page hole) data and
/// bss.
fn interp_phs() -> Vec<Ph> {
    std::vec![
        load_ph(PF_R, 0, 0, 0x800, 0x800),
        load_ph(PF_R | PF_X, 0x1000, 0x1000, 0x300, 0x300),
        load_ph(PF_R | PF_W, 0x2000, 0x4000, 0x40, 0x1800),
    ]
}

const INTERP_ENTRY: u64 = 0x1010;
/// The interpreter's page-rounded size.
const INTERP_SPAN: u64 = 0x6000;

fn crafted_interp(e_type: u16, phs: &[Ph]) -> Vec<u8> {
    craft(e_type, INTERP_ENTRY, phs, 0x2040)
}

#[test]
fn interpreter_names_the_pt_interp_path() {
    let main = dyn_main(&nul_terminated(INTERP_PATH), &[]);
    assert_eq!(interp_of(&main), Ok(Some(INTERP_PATH.to_vec())));
    assert_eq!(interp_of(&craft(ET_EXEC, 0x40_0100, &exec_phs(), 0x2300)), Ok(None));
    // As Linux, the path ends at its first NUL.
    assert_eq!(interp_of(&dyn_main(b"/lib/a\0junk\0", &[])), Ok(Some(b"/lib/a".to_vec())));
    // The longest path: PATH_MAX bytes with the NUL.
    let long = std::vec![b'a'; 4095];
    assert_eq!(interp_of(&dyn_main(&nul_terminated(&long), &[])), Ok(Some(long)));
    // The rest of the program is checked too.
    let mut bad = main.clone();
    bad[18] = 3;
    assert_eq!(interp_of(&bad).map_err(|e| e.errno), Err(errno::ENOEXEC));
}

#[test]
fn rejects_malformed_pt_interp() {
    let err = |file: &[u8]| {
        let e = interp_of(file).expect_err("interpreter() should fail");
        // Loading fails the same way, before looking at the interpreter.
        assert_eq!(load_dyn_err(file, &crafted_interp(ET_DYN, &interp_phs())), e);
        e
    };
    let noexec = |file: &[u8], why: &str| assert_eq!(err(file).errno, errno::ENOEXEC, "{why}");

    noexec(&dyn_main(INTERP_PATH, &[]), "not NUL-terminated");
    noexec(&dyn_main(&nul_terminated(&std::vec![b'a'; 4096]), &[]), "longer than PATH_MAX");
    noexec(&dyn_main(b"\0", &[]), "only a NUL");
    noexec(&dyn_main(b"", &[]), "empty segment");
    let second = Ph { ty: PT_INTERP, flags: PF_R, offset: 0x200, vaddr: 0x200, filesz: 18, memsz: 18, align: 1 };
    noexec(&dyn_main(&nul_terminated(INTERP_PATH), &[second]), "two PT_INTERPs");
    let past_eof = Ph { offset: 0x2000, ..second };
    let mut main = dyn_main(&nul_terminated(INTERP_PATH), &[]);
    main[64 + 56..64 + 112].copy_from_slice(&ph_bytes(&past_eof));
    noexec(&main, "path past end of file");
    let wraps = Ph { offset: u64::MAX - 8, ..second };
    main[64 + 56..64 + 112].copy_from_slice(&ph_bytes(&wraps));
    noexec(&main, "path offset wraps");
    assert_eq!(err(&dyn_main(b"\0\0", &[])).errno, errno::ENOENT, "empty path");
}

/// One program header's bytes, as [`craft`] writes them.
fn ph_bytes(ph: &Ph) -> Vec<u8> {
    craft(ET_EXEC, 0, &[*ph], 0)[64..120].to_vec()
}

#[test]
fn loads_a_pie_with_its_interpreter() {
    let main = dyn_main(&nul_terminated(INTERP_PATH), &[]);
    let interp = crafted_interp(ET_DYN, &interp_phs());
    let (mut run, r) = load_dyn(&main, &interp);
    let l = r.expect("loads");

    // Nothing else is mapped below MMAP_TOP, so the interpreter goes right
    // under it, as Linux's top-down mmap puts it.
    let base = crate::mm::MMAP_TOP - INTERP_SPAN;
    assert_eq!(l.interp_base, base);
    assert_eq!(l.entry, base + INTERP_ENTRY, "execution starts in the interpreter");
    assert_eq!(l.load_bias, ELF_ET_DYN_BASE);
    assert_eq!(l.phdr, ELF_ET_DYN_BASE + 64);
    assert_eq!(l.brk_start, ELF_ET_DYN_BASE + 0x5000, "the break follows the program");
    assert_eq!(run.mm.brk(&mut run.mem.frames, 0), ELF_ET_DYN_BASE + 0x5000);

    let st = decode_stack(&mut run, l.stack_pointer);
    assert_eq!(st.argv, [b"prog"]);
    assert_eq!(st.envp, [b"A=1"]);
    let aux: BTreeMap<u64, u64> = st.auxv.into_iter().collect();
    assert_eq!(aux[&AT_BASE], base);
    assert_eq!(aux[&AT_ENTRY], ELF_ET_DYN_BASE + 0x1000, "AT_ENTRY is the program's");
    assert_eq!((aux[&AT_PHDR], aux[&AT_PHNUM], aux[&AT_PHENT]), (ELF_ET_DYN_BASE + 64, 5, 56));
    assert_eq!(read(&mut run, aux[&AT_PHDR], 5 * 56), main[64..64 + 5 * 56]);

    // The program, as a static PIE would be.
    assert_eq!(read(&mut run, ELF_ET_DYN_BASE + 0x1000, 0x100), main[0x1000..0x1100]);
    assert_eq!(read(&mut run, ELF_ET_DYN_BASE + 0x3000, 0x10), main[0x2000..0x2010]);
    // The interpreter: read-only pages shared with its file, data copied,
    // bss zero, and the hole between text and data left unmapped.
    assert_eq!(read(&mut run, base, 0x800), interp[..0x800]);
    assert_eq!(read(&mut run, base + 0x1000, 0x300), interp[0x1000..0x1300]);
    assert_eq!(read(&mut run, base + 0x4000, 0x40), interp[0x2000..0x2040]);
    assert_eq!(read(&mut run, base + 0x4040, 0x17c0), std::vec![0u8; 0x17c0]);
    let (text_pa, text_perms) = run.mm.space_mut().translate(base + 0x1000).expect("text mapped");
    assert_eq!(text_pa, run.interp_pa + 0x1000, "interpreter text maps its file's frame");
    assert!(text_perms.exec && !text_perms.write);
    let (data_pa, data_perms) = run.mm.space_mut().translate(base + 0x4000).expect("data mapped");
    assert_ne!(data_pa, run.interp_pa + 0x2000, "interpreter data is a private copy");
    assert!(data_perms.write && !data_perms.exec);
    assert!(run.mm.vma_at(base + 0x2000).is_none() && run.mm.vma_at(base + 0x3fff).is_none(), "hole unmapped");
    let spans: Vec<(u64, u64)> = run.mm.vmas().map(|v| (v.start, v.end)).filter(|v| v.0 >= base).collect();
    let expect = [
        (base, base + 0x1000),
        (base + 0x1000, base + 0x2000),
        (base + 0x4000, base + 0x6000),
        (STACK_TOP - STACK_SIZE, STACK_TOP),
    ];
    assert_eq!(spans, expect);
}

#[test]
fn interpreter_goes_below_what_is_mapped() {
    // An ET_EXEC program sitting right under MMAP_TOP pushes the
    // interpreter below it; the bias of an interpreter linked above 0 is
    // its base minus its link address.
    let top = crate::mm::MMAP_TOP;
    let mut phs = std::vec![
        Ph { ty: PT_INTERP, flags: PF_R, offset: 0x200, vaddr: 0, filesz: 18, memsz: 18, align: 1 },
        load_ph(PF_R | PF_X, 0, top - 0x2000, 0x800, 0x800),
    ];
    let mut main = craft(ET_EXEC, top - 0x1f00, &phs, 0x800);
    main[0x200..0x212].copy_from_slice(&nul_terminated(INTERP_PATH));
    let mut iphs = interp_phs();
    for p in &mut iphs {
        p.vaddr += 0x10_0000;
    }
    let interp = craft(ET_DYN, 0x10_0000 + INTERP_ENTRY, &iphs, 0x2040);
    let (mut run, r) = load_dyn(&main, &interp);
    let l = r.expect("loads");
    let base = top - 0x2000 - INTERP_SPAN;
    assert_eq!(l.interp_base, base.wrapping_sub(0x10_0000));
    assert_eq!(l.entry, base + INTERP_ENTRY);
    assert_eq!(l.brk_start, top - 0x2000 + 0x800);
    assert_eq!(read(&mut run, base + 0x1000, 0x300), interp[0x1000..0x1300]);
    let st = decode_stack(&mut run, l.stack_pointer);
    assert!(st.auxv.contains(&(AT_BASE, base - 0x10_0000)));
    assert!(st.auxv.contains(&(AT_ENTRY, top - 0x1f00)));

    // An interpreter linked at 0x10_0000 placed lower still: AT_BASE wraps.
    phs[1].vaddr = 0x1_0000;
    let mut main = craft(ET_EXEC, 0x1_0100, &phs, 0x800);
    main[0x200..0x212].copy_from_slice(&nul_terminated(INTERP_PATH));
    let (_, r) = load_dyn(&main, &interp);
    assert_eq!(r.expect("loads").interp_base, top - INTERP_SPAN - 0x10_0000);
}

#[test]
fn rejects_bad_interpreters() {
    let main = dyn_main(&nul_terminated(INTERP_PATH), &[]);
    let libbad = |interp: &[u8], why: &str| {
        let e = load_dyn_err(&main, interp);
        assert_eq!(e.errno, errno::ELIBBAD, "{why}: {e:?}");
        e
    };
    let good = crafted_interp(ET_DYN, &interp_phs());
    load_dyn(&main, &good).1.expect("the good interpreter loads");

    let e = libbad(&crafted_interp(ET_EXEC, &interp_phs()), "ET_EXEC interpreter");
    assert_eq!(e.why, "interpreter not position-independent (ET_DYN)");
    let mut with_interp = interp_phs();
    with_interp.push(Ph { ty: PT_INTERP, flags: PF_R, offset: 0x200, vaddr: 0, filesz: 18, memsz: 18, align: 1 });
    let mut nested = crafted_interp(ET_DYN, &with_interp);
    nested[0x200..0x212].copy_from_slice(&nul_terminated(INTERP_PATH));
    assert_eq!(libbad(&nested, "nested interpreter").why, "interpreter has a PT_INTERP of its own");
    nested[0x200] = 0;
    nested[0x201] = 0;
    libbad(&nested, "nested interpreter with an empty path");
    nested[0x211] = b'x';
    libbad(&nested, "nested interpreter with a bad path");

    let mut script = std::vec![b' '; 100];
    script[..10].copy_from_slice(b"#!/bin/sh\n");
    assert_eq!(libbad(&script, "not ELF").why, "not an ELF file");
    libbad(&good[..0x100], "truncated");
    libbad(&crafted_interp(ET_DYN, &[]), "no segments");
    let mut overlap = interp_phs();
    overlap[2].vaddr = 0x1000;
    libbad(&crafted_interp(ET_DYN, &overlap), "overlapping segments");
    let mut outside = good.clone();
    outside[24..32].copy_from_slice(&INTERP_SPAN.to_le_bytes());
    assert_eq!(libbad(&outside, "entry past the end").why, "interpreter entry point outside its segments");
    let mut huge = interp_phs();
    huge[2].memsz = crate::mm::MMAP_TOP;
    assert_eq!(load_dyn_err(&main, &crafted_interp(ET_DYN, &huge)).errno, errno::ENOMEM, "too big to place");
    let mut wraps = interp_phs();
    wraps[2].memsz = u64::MAX - 0x4000;
    libbad(&crafted_interp(ET_DYN, &wraps), "memsz wraps");

    // Interpreter and program must match.
    let static_exec = craft(ET_EXEC, 0x40_0100, &exec_phs(), 0x2300);
    assert_eq!(load_dyn_err(&static_exec, &good).errno, errno::EINVAL, "interpreter for a static program");
    assert_eq!(load_err(&main).errno, errno::ENOEXEC, "dynamic program without its interpreter");
    // A bad interpreter location.
    let (mut mem, _) = two_files(1, &main, &good);
    let mut mm = MemoryManager::new(FakeSpace::new());
    let a = args(&[], &[]);
    let r = load_elf_with_interp(&mut mm, &mut mem.frames, 0, main.len() as u64, Some((8, 0x2040)), &a);
    assert_eq!(r.map_err(|e| e.errno), Err(errno::EINVAL));
    let r = load_elf_with_interp(&mut mm, &mut mem.frames, 0, main.len() as u64, Some((0, u64::MAX)), &a);
    assert_eq!(r.map_err(|e| e.errno), Err(errno::EFAULT));
    assert!(mm.vmas().next().is_none(), "nothing mapped before the checks pass");
}

fn host_file(path: &str) -> Option<Vec<u8>> {
    match std::fs::read(path) {
        Ok(b) => Some(b),
        Err(e) => {
            std::eprintln!("skipping: {path}: {e}");
            None
        }
    }
}

#[test]
fn loads_host_true_with_the_host_dynamic_linker() {
    let (Some(main), Some(ld)) = (host_file(TRUE), host_file(LD_SO)) else { return };
    let parse = |f| ::elf::ElfBytes::<::elf::endian::LittleEndian>::minimal_parse(f).expect("parses");
    let (pmain, pld) = (parse(&main), parse(&ld));
    let ld_loads: Vec<_> = pld.segments().expect("phdrs").iter().filter(|p| p.p_type == PT_LOAD).collect();
    assert_eq!(interp_of(&ld), Ok(None), "the dynamic linker is self-contained");
    if pmain.segments().expect("phdrs").iter().all(|p| p.p_type != PT_INTERP) {
        std::eprintln!("skipping: {TRUE} is statically linked");
        return;
    }
    assert_eq!(interp_of(&main), Ok(Some(LD_SO.as_bytes().to_vec())));

    let (mut run, r) = load_dyn(&main, &ld);
    let l = r.expect("loads");
    let span = ld_loads.iter().map(|p| (p.p_vaddr + p.p_memsz).next_multiple_of(PAGE_SIZE)).max().expect("segments");
    assert_eq!(ld_loads[0].p_vaddr, 0);
    let base = crate::mm::MMAP_TOP - span;
    assert_eq!(l.interp_base, base);
    assert_eq!(l.entry, base + pld.ehdr.e_entry);
    let st = decode_stack(&mut run, l.stack_pointer);
    let aux: BTreeMap<u64, u64> = st.auxv.into_iter().collect();
    assert_eq!(aux[&AT_BASE], base);
    assert_eq!(aux[&AT_ENTRY], l.load_bias + pmain.ehdr.e_entry);
    assert_eq!(aux[&AT_PHNUM], u64::from(pmain.ehdr.e_phnum));
    let table_len = 56 * usize::from(pmain.ehdr.e_phnum);
    let phoff = pmain.ehdr.e_phoff as usize;
    assert_eq!(read(&mut run, aux[&AT_PHDR], table_len), main[phoff..phoff + table_len]);
    for ph in &ld_loads {
        let got = read(&mut run, base + ph.p_vaddr, ph.p_memsz as usize);
        let (off, filesz) = (ph.p_offset as usize, ph.p_filesz as usize);
        assert_eq!(got[..filesz], ld[off..off + filesz], "ld.so segment at {:#x}", ph.p_vaddr);
        assert!(got[filesz..].iter().all(|&b| b == 0));
    }
    let main_end =
        pmain.segments().expect("phdrs").iter().filter(|p| p.p_type == PT_LOAD).map(|p| p.p_vaddr + p.p_memsz);
    assert_eq!(l.brk_start, l.load_bias + main_end.max().expect("segments"));
}

#[test]
fn mutated_interpreter_headers_never_panic_or_leak() {
    let (Some(main), Some(ld)) = (host_file(TRUE), host_file(LD_SO)) else { return };
    if interp_of(&main).ok().flatten().is_none() {
        return;
    }
    let (mut mem, interp_pa) = two_files(64, &main, &ld);
    let free = mem.frames.available();
    let phys = mem.phys();
    let table_end = 64 + 56 * usize::from(u16::from_le_bytes([ld[56], ld[57]]));
    let interesting = [0u64, 1, 3, 0x1000, 1 << 47, u64::MAX, u64::MAX - 0xfff, 56, 64, crate::mm::MMAP_TOP];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut loaded, mut failed) = (0, 0);
    for _ in 0..2000 {
        let mut m = ld[..4096].to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(table_end as u64 + 8) & !7;
            match rng.below(3) {
                0 => m[rng.below(table_end as u64)] = rng.next() as u8,
                1 if at + 8 <= m.len() => m[at..at + 8].copy_from_slice(&interesting[rng.below(10)].to_le_bytes()),
                _ if at + 8 <= m.len() => {
                    let v = u64::from_le_bytes(m[at..at + 8].try_into().expect("8 bytes"));
                    m[at..at + 8].copy_from_slice(&v.wrapping_add(rng.next() % 0x3000).to_le_bytes());
                }
                _ => {}
            }
        }
        let len = if rng.below(8) == 0 { rng.below(ld.len() as u64) as u64 } else { ld.len() as u64 };
        assert!(phys.write(interp_pa, &m));
        let mut mm = MemoryManager::new(FakeSpace::new());
        let a = args(&[b"true"], &[]);
        match load_elf_with_interp(&mut mm, &mut mem.frames, 0, main.len() as u64, Some((interp_pa, len)), &a) {
            Ok(l) => {
                loaded += 1;
                assert!(l.entry >= l.interp_base && l.entry < crate::mm::MMAP_TOP, "{l:?}");
            }
            Err(e) => {
                failed += 1;
                assert!([errno::ELIBBAD, errno::ENOMEM].contains(&e.errno), "{e:?}");
            }
        }
        mm.destroy(&mut mem.frames);
        assert_eq!(mem.frames.available(), free, "frames leaked");
    }
    std::eprintln!("interpreter mutations: loaded {loaded}, failed {failed}");
    assert!(loaded > 0 && failed > 0, "loaded {loaded}, failed {failed}");
}
