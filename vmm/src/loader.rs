//! Loading the guest: the guest image (an ELF: its PT_LOAD segments), the
//! program (boot module) and its argument blob, and the boot info block.

use abi::boot::{ImageHeader, BOOT_VERSION, IMAGE_MAGIC};
use abi::layout;

use crate::vstate::{GuestMemory, MemoryError};

/// Errors loading the guest.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The guest image is not an ELF64 x86-64 executable we can read.
    #[error("the guest image is not a valid ELF64 executable ({0})")]
    NotElf(&'static str),
    /// A loadable segment lies outside the image window.
    #[error(
        "guest image segment {start:#x}..{end:#x} lies outside {:#x}..{:#x}",
        layout::KERNEL_IMAGE_GPA,
        layout::KERNEL_IMAGE_END
    )]
    SegmentOutside { start: u64, end: u64 },
    /// The image header at `KERNEL_IMAGE_GPA` has the wrong magic.
    #[error("the guest image has no ringfence image header (magic {found:#x}, expected {IMAGE_MAGIC:#x})")]
    HeaderMagic { found: u64 },
    /// The image was built for another boot protocol version.
    #[error("the guest image is for boot version {found}, this VMM speaks {BOOT_VERSION}")]
    HeaderVersion { found: u32 },
    /// Something does not fit in guest memory.
    #[error("{what} ({len} bytes) does not fit in guest memory of {mem_size} bytes")]
    TooBig { what: &'static str, len: u64, mem_size: u64 },
    /// The boot page-table pool is too small for this memory size.
    #[error("boot page-table pool exhausted")]
    PageTablePoolExhausted,
    /// More vCPUs than the layout has room for.
    #[error("{0} vCPUs requested, the layout has room for 1..={max}", max = layout::MAX_VCPUS)]
    TooManyVcpus(u64),
    /// Writing guest memory.
    #[error("cannot write boot data to guest memory")]
    Memory(#[from] MemoryError),
}

/// What loading the image found.
#[derive(Debug, Clone, Copy)]
pub struct LoadedImage {
    /// First guest-physical byte after the image (its bss included).
    pub end: u64,
    /// The image header.
    pub header: ImageHeader,
}

fn le_u16(b: &[u8], off: usize) -> Result<u16, LoadError> {
    b.get(off..off + 2).and_then(|s| s.try_into().ok()).map(u16::from_le_bytes).ok_or(LoadError::NotElf("truncated"))
}

fn le_u32(b: &[u8], off: usize) -> Result<u32, LoadError> {
    b.get(off..off + 4).and_then(|s| s.try_into().ok()).map(u32::from_le_bytes).ok_or(LoadError::NotElf("truncated"))
}

fn le_u64(b: &[u8], off: usize) -> Result<u64, LoadError> {
    b.get(off..off + 8).and_then(|s| s.try_into().ok()).map(u64::from_le_bytes).ok_or(LoadError::NotElf("truncated"))
}

const PT_LOAD: u32 = 1;
const EM_X86_64: u16 = 62;

/// One PT_LOAD segment: `file` bytes of the image go to guest-physical
/// `paddr`, followed by zeroes up to `memsz`.
struct Segment<'a> {
    paddr: u64,
    memsz: u64,
    file: &'a [u8],
}

/// The image's PT_LOAD segments, each checked to land inside
/// `KERNEL_IMAGE_GPA..KERNEL_IMAGE_END` and to lie inside the image file,
/// before anything is written.
fn segments(image: &[u8]) -> Result<Vec<Segment<'_>>, LoadError> {
    if image.get(..4) != Some(b"\x7fELF") {
        return Err(LoadError::NotElf("bad magic"));
    }
    if image.get(4) != Some(&2) || image.get(5) != Some(&1) {
        return Err(LoadError::NotElf("not 64-bit little-endian"));
    }
    if le_u16(image, 18)? != EM_X86_64 {
        return Err(LoadError::NotElf("not x86-64"));
    }
    let phoff = usize::try_from(le_u64(image, 32)?).map_err(|_| LoadError::NotElf("phoff"))?;
    let phentsize = usize::from(le_u16(image, 54)?);
    let phnum = usize::from(le_u16(image, 56)?);
    if phentsize != 56 {
        return Err(LoadError::NotElf("bad program header size"));
    }
    let mut out = Vec::new();
    for i in 0..phnum {
        let ph = phoff.checked_add(i * phentsize).ok_or(LoadError::NotElf("phoff"))?;
        if le_u32(image, ph)? != PT_LOAD {
            continue;
        }
        let offset = le_u64(image, ph + 8)?;
        let paddr = le_u64(image, ph + 24)?;
        let filesz = le_u64(image, ph + 32)?;
        let memsz = le_u64(image, ph + 40)?;
        let end = paddr.checked_add(memsz).ok_or(LoadError::SegmentOutside { start: paddr, end: u64::MAX })?;
        if paddr < layout::KERNEL_IMAGE_GPA || end > layout::KERNEL_IMAGE_END {
            return Err(LoadError::SegmentOutside { start: paddr, end });
        }
        if filesz > memsz {
            return Err(LoadError::NotElf("segment file size above its memory size"));
        }
        let file = usize::try_from(offset)
            .ok()
            .zip(usize::try_from(filesz).ok())
            .and_then(|(o, n)| image.get(o..o.checked_add(n)?))
            .ok_or(LoadError::NotElf("segment outside the file"))?;
        out.push(Segment { paddr, memsz, file });
    }
    Ok(out)
}

/// Loads the guest image at its physical addresses and reads its header.
///
/// Each segment goes in with one `pwrite` to the memfd (`write_bulk`):
/// copying through the mapping, as linux-loader's `Elf::load` did, took a
/// page fault, a page allocation and a page clear per 4 KiB, ~0.9 ms for
/// the 1.1 MiB image on every sandbox start. Guest memory is fresh, so
/// the bss (`memsz` past the file bytes) is already zero.
pub fn load_image(mem: &GuestMemory, image: &[u8]) -> Result<LoadedImage, LoadError> {
    let segments = segments(image)?;
    let mut end = layout::KERNEL_IMAGE_GPA;
    for seg in &segments {
        mem.write_bulk(seg.paddr, seg.file)?;
        end = end.max(seg.paddr + seg.memsz);
    }
    let header: ImageHeader = mem.read(layout::KERNEL_IMAGE_GPA)?;
    if header.magic != IMAGE_MAGIC {
        return Err(LoadError::HeaderMagic { found: header.magic });
    }
    if header.version != BOOT_VERSION {
        return Err(LoadError::HeaderVersion { found: header.version });
    }
    Ok(LoadedImage { end, header })
}

/// Where the program and its arguments went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Placement {
    pub module_gpa: u64,
    pub module_len: u64,
    pub args_gpa: u64,
    pub args_len: u64,
    pub argc: u32,
    pub envc: u32,
    /// First free page after both.
    pub free_start: u64,
}

fn page_up(x: u64) -> Option<u64> {
    Some(x.checked_add(layout::PAGE_SIZE - 1)? & !(layout::PAGE_SIZE - 1))
}

/// The argument blob: `exec_path\0`, each argv entry `\0`, each envp entry `\0`.
pub fn args_blob(exec_path: &[u8], argv: &[Vec<u8>], envp: &[Vec<u8>]) -> Vec<u8> {
    let mut blob = Vec::new();
    for s in std::iter::once(exec_path).chain(argv.iter().map(Vec::as_slice)).chain(envp.iter().map(Vec::as_slice)) {
        blob.extend_from_slice(s);
        blob.push(0);
    }
    blob
}

/// Copies the program (page aligned, at or above `KERNEL_IMAGE_END` and the
/// image end) and the argument blob after it, followed by the container
/// block ([`abi::container`]; empty for none).
pub fn place_program(
    mem: &GuestMemory,
    image_end: u64,
    program: &[u8],
    exec_path: &[u8],
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    container_block: &[u8],
) -> Result<Placement, LoadError> {
    let too_big = |what, len: usize| LoadError::TooBig {
        what,
        len: u64::try_from(len).unwrap_or(u64::MAX),
        mem_size: mem.size(),
    };
    let argc = u32::try_from(argv.len()).map_err(|_| too_big("argv", argv.len()))?;
    let envc = u32::try_from(envp.len()).map_err(|_| too_big("envp", envp.len()))?;
    let mut blob = args_blob(exec_path, argv, envp);
    blob.extend_from_slice(container_block);
    let module_len = u64::try_from(program.len()).map_err(|_| too_big("program", program.len()))?;
    let args_len = u64::try_from(blob.len()).map_err(|_| too_big("arguments", blob.len()))?;
    let module_gpa =
        page_up(image_end.max(layout::KERNEL_IMAGE_END)).ok_or_else(|| too_big("program", program.len()))?;
    let args_gpa = module_gpa
        .checked_add(module_len)
        .and_then(page_up)
        .filter(|&a| mem.contains(a, 0))
        .ok_or_else(|| too_big("program", program.len()))?;
    let free_start = args_gpa
        .checked_add(args_len)
        .and_then(page_up)
        .filter(|&f| f < mem.size())
        .ok_or_else(|| too_big("program and arguments", program.len() + blob.len()))?;
    mem.write_bulk(module_gpa, program)?;
    mem.write_bytes(args_gpa, &blob)?;
    Ok(Placement { module_gpa, module_len, args_gpa, args_len, argc, envc, free_start })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal guest image: one PT_LOAD segment at `KERNEL_IMAGE_GPA`
    /// (linked at `KERNEL_BASE + KERNEL_IMAGE_GPA`) holding the image
    /// header followed by `code`; entry = the code.
    pub fn tiny_image(code: &[u8], syscall_entry_offset: u64) -> Vec<u8> {
        let vaddr = layout::KERNEL_BASE + layout::KERNEL_IMAGE_GPA;
        let entry = vaddr + 32;
        let mut seg = Vec::new();
        seg.extend_from_slice(&IMAGE_MAGIC.to_le_bytes());
        seg.extend_from_slice(&BOOT_VERSION.to_le_bytes());
        seg.extend_from_slice(&0u32.to_le_bytes());
        seg.extend_from_slice(&entry.to_le_bytes());
        seg.extend_from_slice(&(entry + syscall_entry_offset).to_le_bytes());
        seg.extend_from_slice(code);
        let mut elf = vec![0u8; 64 + 56];
        elf[..4].copy_from_slice(b"\x7fELF");
        elf[4] = 2; // ELFCLASS64
        elf[5] = 1; // little endian
        elf[6] = 1; // EV_CURRENT
        elf[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
        elf[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        elf[20..24].copy_from_slice(&1u32.to_le_bytes());
        elf[24..32].copy_from_slice(&entry.to_le_bytes());
        elf[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
        elf[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        elf[54..56].copy_from_slice(&56u16.to_le_bytes()); // e_phentsize
        elf[56..58].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        let ph = 64;
        let off = 0x1000u64;
        let len = seg.len() as u64;
        elf[ph..ph + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
        elf[ph + 4..ph + 8].copy_from_slice(&7u32.to_le_bytes()); // RWX
        elf[ph + 8..ph + 16].copy_from_slice(&off.to_le_bytes());
        elf[ph + 16..ph + 24].copy_from_slice(&vaddr.to_le_bytes());
        elf[ph + 24..ph + 32].copy_from_slice(&layout::KERNEL_IMAGE_GPA.to_le_bytes());
        elf[ph + 32..ph + 40].copy_from_slice(&len.to_le_bytes());
        elf[ph + 40..ph + 48].copy_from_slice(&len.to_le_bytes());
        elf[ph + 48..ph + 56].copy_from_slice(&0x1000u64.to_le_bytes());
        elf.resize(0x1000, 0);
        elf.extend_from_slice(&seg);
        elf
    }

    #[test]
    fn loads_tiny_image() {
        let mem = GuestMemory::new_anonymous(layout::MIN_GUEST_MEMORY);
        let img = tiny_image(&[0x0f, 0x0b], 0);
        let loaded = load_image(&mem, &img).expect("load");
        assert_eq!(loaded.header.entry, layout::KERNEL_BASE + layout::KERNEL_IMAGE_GPA + 32);
        assert_eq!(loaded.end, layout::KERNEL_IMAGE_GPA + 34);
        let mut code = [0u8; 2];
        mem.read_bytes(layout::KERNEL_IMAGE_GPA + 32, &mut code).expect("read");
        assert_eq!(code, [0x0f, 0x0b]);
    }

    #[test]
    fn refuses_bad_images() {
        let mem = GuestMemory::new_anonymous(layout::MIN_GUEST_MEMORY);
        assert!(matches!(load_image(&mem, b"hello"), Err(LoadError::NotElf(_))));
        let mut img = tiny_image(&[0x90], 0);
        // Move the segment's paddr to KERNEL_IMAGE_END.
        img[64 + 24..64 + 32].copy_from_slice(&layout::KERNEL_IMAGE_END.to_le_bytes());
        assert!(matches!(load_image(&mem, &img), Err(LoadError::SegmentOutside { .. })));
        let mut img = tiny_image(&[0x90], 0);
        img[0x1000] ^= 0xff; // break the header magic
        assert!(matches!(load_image(&mem, &img), Err(LoadError::HeaderMagic { .. })));
        let mut img = tiny_image(&[0x90], 0);
        // A segment whose file bytes run past the end of the file.
        img[64 + 32..64 + 40].copy_from_slice(&0x10_0000u64.to_le_bytes());
        img[64 + 40..64 + 48].copy_from_slice(&0x10_0000u64.to_le_bytes());
        assert!(matches!(load_image(&mem, &img), Err(LoadError::NotElf(_))));
    }

    #[test]
    fn loads_through_the_memfd_with_a_zero_bss() {
        let mem = GuestMemory::new_memfd(layout::MIN_GUEST_MEMORY).expect("memfd");
        let mut img = tiny_image(&[0x0f, 0x0b], 0);
        // memsz 64 KiB: the rest is bss.
        img[64 + 40..64 + 48].copy_from_slice(&0x1_0000u64.to_le_bytes());
        let loaded = load_image(&mem, &img).expect("load");
        assert_eq!(loaded.end, layout::KERNEL_IMAGE_GPA + 0x1_0000);
        let mut code = [0u8; 2];
        mem.read_bytes(layout::KERNEL_IMAGE_GPA + 32, &mut code).expect("read");
        assert_eq!(code, [0x0f, 0x0b]);
        assert_eq!(mem.read_u64(layout::KERNEL_IMAGE_GPA + 0x8000).expect("read"), 0);
    }

    #[test]
    fn places_program_and_args() {
        let mem = GuestMemory::new_anonymous(layout::MIN_GUEST_MEMORY);
        let prog = vec![0x7fu8; 5000];
        let p = place_program(
            &mem,
            layout::KERNEL_IMAGE_GPA + 0x1234,
            &prog,
            b"/bin/x",
            &[b"x".to_vec(), b"-a".to_vec()],
            &[b"A=1".to_vec()],
            &[],
        )
        .expect("place");
        assert_eq!(p.module_gpa, layout::KERNEL_IMAGE_END);
        assert_eq!(p.args_gpa, layout::KERNEL_IMAGE_END + 0x2000);
        assert_eq!(p.args_len, 7 + 2 + 3 + 4);
        assert_eq!(p.free_start, layout::KERNEL_IMAGE_END + 0x3000);
        assert_eq!((p.argc, p.envc), (2, 1));
        let mut blob = vec![0u8; 16];
        mem.read_bytes(p.args_gpa, &mut blob).expect("read");
        assert_eq!(&blob, b"/bin/x\0x\0-a\0A=1\0");
        let huge = vec![0u8; usize::try_from(layout::MIN_GUEST_MEMORY).expect("fits")];
        assert!(matches!(place_program(&mem, 0, &huge, b"/x", &[], &[], &[]), Err(LoadError::TooBig { .. })));
    }
}
