//! ELF header parsing and validation, and mapping of `PT_LOAD` segments.
//!
//! Only the ELF header and the program header table are read (never the
//! section headers): that is all Linux looks at, and a program whose
//! section table is damaged still runs there.

use alloc::vec::Vec;

use elf::abi::{EI_NIDENT, EM_X86_64, ET_DYN, ET_EXEC, PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_PHDR};
use elf::endian::LittleEndian;
use elf::file::{Class, FileHeader};
use elf::parse::ParseError;
use elf::segment::{ProgramHeader, SegmentTable};

use crate::error::SysError;
use crate::mm::frames::FrameAllocator;
use crate::mm::{
    page_round_down, page_round_up, Backing, MemoryManager, MMAP_MIN_ADDR, MMAP_TOP, STACK_SIZE, STACK_TOP,
};
use crate::platform::{AddressSpace, Perms, PhysAddr, PhysMem};
use crate::vfs::path::PATH_MAX;
use abi::layout::{PAGE_SIZE, USER_END};
use abi::linux::errno::{ELIBBAD, ENOENT, ENOEXEC};

/// Where a static-PIE program is loaded: Linux's x86-64 `ELF_ET_DYN_BASE`
/// (two thirds of the user address space), page aligned.
pub const ELF_ET_DYN_BASE: u64 = 0x5555_5555_4000;

/// Size of an ELF64 file header.
const EHDR_SIZE: u64 = 64;
/// Size of an ELF64 program header (`AT_PHENT`).
pub(super) const PHDR_SIZE: u64 = 56;
/// Largest program header table accepted, as Linux (`elf_read_phdrs`).
const MAX_PHDR_BYTES: u64 = 64 << 10;

fn noexec(why: &'static str) -> SysError {
    SysError::new(ENOEXEC, why)
}

/// The program file: `len` bytes at sentry-physical `pa`.
#[derive(Debug, Clone, Copy)]
pub(super) struct FileRef {
    phys: PhysMem,
    pa: PhysAddr,
    len: u64,
}

impl FileRef {
    /// Checks that the file lies inside physical memory at a page boundary.
    pub(super) fn new(phys: &PhysMem, pa: PhysAddr, len: u64) -> Result<Self, SysError> {
        if pa & (PAGE_SIZE - 1) != 0 {
            return Err(SysError::einval("program file not page aligned"));
        }
        if pa.checked_add(len).is_none_or(|end| end > phys.size()) {
            return Err(SysError::efault("program file outside physical memory"));
        }
        Ok(Self { phys: *phys, pa, len })
    }

    /// Copies `[off, off + len)` of the file (reading it in first if its
    /// frames are filled lazily); `why` if that is past its end.
    fn read(&self, frames: &mut FrameAllocator, off: u64, len: u64, why: &'static str) -> Result<Vec<u8>, SysError> {
        if off.checked_add(len).is_none_or(|end| end > self.len) {
            return Err(noexec(why));
        }
        frames.fill(self.pa + off, len)?;
        let n = usize::try_from(len).map_err(|_| noexec(why))?;
        let mut buf = alloc::vec![0u8; n];
        if !self.phys.read(self.pa + off, &mut buf) {
            return Err(SysError::efault("program file outside physical memory"));
        }
        Ok(buf)
    }
}

/// A `PT_LOAD` segment, validated, with the load bias applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Segment {
    /// First byte in memory (biased `p_vaddr`).
    pub vaddr: u64,
    pub memsz: u64,
    /// File offset of the first byte.
    pub offset: u64,
    pub filesz: u64,
    pub perms: Perms,
}

impl Segment {
    /// The page-rounded span `[start, end)` the segment occupies.
    /// Validated by [`parse`] not to overflow.
    fn span(&self) -> (u64, u64) {
        let end = self.vaddr.checked_add(self.memsz).and_then(page_round_up).unwrap_or(u64::MAX);
        (page_round_down(self.vaddr), end)
    }
}

/// A validated executable, ready to map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Image {
    /// Entry point, biased.
    pub entry: u64,
    pub bias: u64,
    /// Address of the program headers in memory, 0 if not mapped.
    pub phdr: u64,
    pub phnum: u64,
    /// End of the highest segment.
    pub brk_start: u64,
    /// The `PT_LOAD` segments with a non-zero memory size, in file order.
    pub segments: Vec<Segment>,
}

fn header_error(e: &ParseError) -> SysError {
    noexec(match e {
        ParseError::BadMagic(_) => "not an ELF file",
        ParseError::UnsupportedElfClass(_) => "not a 64-bit ELF file",
        ParseError::UnsupportedElfEndianness(_) => "not a little-endian ELF file",
        ParseError::UnsupportedVersion(_) => "unknown ELF version",
        _ => "malformed ELF header",
    })
}

fn perms(p_flags: u32) -> Perms {
    Perms { read: p_flags & PF_R != 0, write: p_flags & PF_W != 0, exec: p_flags & PF_X != 0 }
}

/// An ELF file's headers, checked on their own: everything that does not
/// depend on where the file is loaded. Addresses are as linked (unbiased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Headers {
    pub e_type: u16,
    /// `e_entry`.
    entry: u64,
    /// `e_phoff`.
    phoff: u64,
    pub phnum: u64,
    /// `PT_PHDR`'s address.
    phdr_vaddr: Option<u64>,
    /// The `PT_INTERP` path, up to its first NUL.
    pub interp: Option<Vec<u8>>,
    /// The largest power-of-two `PT_LOAD` alignment, at least a page.
    max_align: u64,
    /// The `PT_LOAD` segments with a non-zero memory size, in file order;
    /// never empty.
    segments: Vec<Segment>,
}

/// Reads and checks the ELF header and program headers of `file`.
pub(super) fn parse_headers(file: &FileRef, frames: &mut FrameAllocator) -> Result<Headers, SysError> {
    let ehdr_bytes = file.read(frames, 0, EHDR_SIZE, "file too short for an ELF header")?;
    let ident = elf::file::parse_ident::<LittleEndian>(&ehdr_bytes).map_err(|e| header_error(&e))?;
    if ident.1 != Class::ELF64 {
        return Err(noexec("not a 64-bit ELF file"));
    }
    let ehdr = FileHeader::parse_tail(ident, &ehdr_bytes[EI_NIDENT..]).map_err(|e| header_error(&e))?;
    if ehdr.e_machine != EM_X86_64 {
        return Err(noexec("not an x86-64 program"));
    }
    if ehdr.e_type != ET_EXEC && ehdr.e_type != ET_DYN {
        return Err(noexec("not an executable or position-independent executable"));
    }
    if u64::from(ehdr.e_phentsize) != PHDR_SIZE {
        return Err(noexec("unexpected program header size"));
    }
    let phnum = u64::from(ehdr.e_phnum);
    let table_len = phnum * PHDR_SIZE;
    if phnum == 0 {
        return Err(noexec("no program headers"));
    }
    if table_len > MAX_PHDR_BYTES {
        return Err(noexec("too many program headers"));
    }
    let phdr_bytes = file.read(frames, ehdr.e_phoff, table_len, "program headers past end of file")?;
    let table = SegmentTable::new(LittleEndian, Class::ELF64, &phdr_bytes);

    let mut segments = Vec::new();
    let mut phdr_vaddr = None;
    let mut interp = None;
    let mut max_align = PAGE_SIZE;
    for i in 0..table.len() {
        let ph = table.get(i).map_err(|_| noexec("malformed program header"))?;
        match ph.p_type {
            // Linux uses the first and ignores the rest; two are refused
            // here as a malformed file rather than guessed at.
            PT_INTERP if interp.is_some() => return Err(noexec("more than one PT_INTERP")),
            PT_INTERP => interp = Some(interp_path(file, frames, &ph)?),
            PT_PHDR => phdr_vaddr = Some(ph.p_vaddr),
            PT_LOAD if ph.p_memsz > 0 => {
                segments.push(check_load(&ph, file.len)?);
                // Like Linux's maximum_alignment(): other alignments are ignored.
                if ph.p_align.is_power_of_two() {
                    max_align = max_align.max(ph.p_align);
                }
            }
            _ => {}
        }
    }
    if segments.is_empty() {
        return Err(noexec("no loadable segments"));
    }
    Ok(Headers {
        e_type: ehdr.e_type,
        entry: ehdr.e_entry,
        phoff: ehdr.e_phoff,
        phnum,
        phdr_vaddr,
        interp,
        max_align,
        segments,
    })
}

/// Reads the path `PT_INTERP` names, checked as Linux's `load_elf_binary`
/// does: its size counts a final NUL and is at most `PATH_MAX`.
fn interp_path(file: &FileRef, frames: &mut FrameAllocator, ph: &ProgramHeader) -> Result<Vec<u8>, SysError> {
    if ph.p_filesz < 2 {
        return Err(noexec("PT_INTERP path empty"));
    }
    if ph.p_filesz > PATH_MAX as u64 {
        return Err(noexec("PT_INTERP path longer than PATH_MAX"));
    }
    let mut path = file.read(frames, ph.p_offset, ph.p_filesz, "PT_INTERP path past end of file")?;
    if path.last() != Some(&0) {
        return Err(noexec("PT_INTERP path not NUL-terminated"));
    }
    // Linux opens it as a C string, which ends at the first NUL; an empty
    // one fails to open.
    let len = path.iter().position(|&b| b == 0).unwrap_or(path.len());
    if len == 0 {
        return Err(SysError::new(ENOENT, "PT_INTERP path empty"));
    }
    path.truncate(len);
    Ok(path)
}

impl Headers {
    /// The page-rounded range `[lowest, end)` the segments span, as linked.
    fn extent(&self) -> (u64, u64) {
        let spans = self.segments.iter().map(Segment::span);
        let lowest = spans.clone().map(|s| s.0).min().unwrap_or(0);
        (lowest, spans.map(|s| s.1).max().unwrap_or(0))
    }

    /// Places the program being executed: `ET_EXEC` at its link address,
    /// `ET_DYN` at [`ELF_ET_DYN_BASE`] aligned to its largest segment
    /// alignment.
    pub fn place_program(&self) -> Result<Image, SysError> {
        let bias = if self.e_type == ET_DYN {
            ELF_ET_DYN_BASE
                .saturating_sub(self.extent().0)
                .checked_next_multiple_of(self.max_align)
                .ok_or(noexec("segment alignment too large"))?
        } else {
            0
        };
        self.place(bias)
    }

    /// The image loaded with `bias` added to every address, checked.
    fn place(&self, bias: u64) -> Result<Image, SysError> {
        let segments = place(&self.segments, bias)?;
        let entry =
            self.entry.checked_add(bias).filter(|&e| e < USER_END).ok_or(noexec("entry point outside user space"))?;
        let phoff = self.phoff;
        let phdr = match self.phdr_vaddr {
            Some(v) => v.checked_add(bias).ok_or(noexec("program header address overflows"))?,
            // As Linux: the PT_LOAD whose file bytes hold the program headers.
            None => segments
                .iter()
                .find(|s| s.offset <= phoff && phoff < s.offset + s.filesz)
                .map_or(0, |s| s.vaddr + (phoff - s.offset)),
        };
        // `place` checked every end.
        let brk_start = segments.iter().map(|s| s.vaddr + s.memsz).max().unwrap_or(0);
        Ok(Image { entry, bias, phdr, phnum: self.phnum, brk_start, segments })
    }
}

/// A checked program interpreter (the dynamic linker), laid out from 0 so
/// that it can go wherever the address space has room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Interp {
    /// The headers with `link_base` subtracted from every address.
    headers: Headers,
    /// The lowest page of its segments as linked.
    link_base: u64,
    /// Bytes from its lowest segment page to the end of its highest.
    pub span: u64,
}

/// A bad interpreter is `ELIBBAD`, as in Linux.
fn libbad(e: SysError) -> SysError {
    if e.errno == ENOEXEC || e.errno == ENOENT {
        SysError::new(ELIBBAD, e.why)
    } else {
        e
    }
}

/// Reads and checks an interpreter: an `ET_DYN` file without an
/// interpreter of its own whose every placement in the mmap area
/// (`[MMAP_MIN_ADDR, MMAP_TOP)`) is valid.
///
/// Stricter than Linux, which also takes an `ET_EXEC` interpreter (at its
/// link address), ignores an interpreter's own `PT_INTERP`, and only
/// requires the entry point to land in user space: here it must lie inside
/// the interpreter's segments, so that no placement can move it out.
pub(super) fn parse_interp(file: &FileRef, frames: &mut FrameAllocator) -> Result<Interp, SysError> {
    let mut h = parse_headers(file, frames).map_err(libbad)?;
    if h.e_type != ET_DYN {
        return Err(SysError::new(ELIBBAD, "interpreter not position-independent (ET_DYN)"));
    }
    if h.interp.is_some() {
        return Err(SysError::new(ELIBBAD, "interpreter has a PT_INTERP of its own"));
    }
    let (link_base, end) = h.extent();
    let span = end - link_base;
    if !(link_base..end).contains(&h.entry) {
        return Err(SysError::new(ELIBBAD, "interpreter entry point outside its segments"));
    }
    if span > MMAP_TOP - MMAP_MIN_ADDR {
        return Err(SysError::enomem("interpreter larger than the mmap area"));
    }
    // Each segment's page-rounded start is at or above `link_base`.
    for s in &mut h.segments {
        s.vaddr -= link_base;
    }
    h.entry -= link_base;
    // Only the program's headers go in the auxiliary vector.
    h.phdr_vaddr = None;
    // The checks in `place` pass at every base in the mmap area if they pass
    // at the lowest: overlaps do not depend on the base, and the highest
    // base keeps the image below MMAP_TOP, itself below the stack.
    h.place(MMAP_MIN_ADDR).map_err(libbad)?;
    Ok(Interp { headers: h, link_base, span })
}

impl Interp {
    /// The interpreter loaded so that its lowest page is at `base`, which
    /// must be page aligned with `[base, base + span)` inside the mmap area.
    /// The image's `bias` is what was added to its link addresses (Linux's
    /// `AT_BASE`; it wraps for an interpreter linked above `base`).
    pub fn place(&self, base: u64) -> Result<Image, SysError> {
        if base < MMAP_MIN_ADDR || base.checked_add(self.span).is_none_or(|end| end > MMAP_TOP) {
            return Err(SysError::enomem("interpreter base outside the mmap area"));
        }
        let mut image = self.headers.place(base).map_err(libbad)?;
        image.bias = base.wrapping_sub(self.link_base);
        Ok(image)
    }
}

/// Checks a `PT_LOAD` header on its own, before any bias.
fn check_load(ph: &ProgramHeader, file_len: u64) -> Result<Segment, SysError> {
    if ph.p_filesz > ph.p_memsz {
        return Err(noexec("segment file size exceeds its memory size"));
    }
    if ph.p_offset.checked_add(ph.p_filesz).is_none_or(|end| end > file_len) {
        return Err(noexec("segment extends past end of file"));
    }
    if ph.p_vaddr % PAGE_SIZE != ph.p_offset % PAGE_SIZE {
        return Err(noexec("segment address and file offset differ modulo the page size"));
    }
    if ph.p_vaddr.checked_add(ph.p_memsz).and_then(page_round_up).is_none() {
        return Err(noexec("segment wraps around the address space"));
    }
    Ok(Segment {
        vaddr: ph.p_vaddr,
        memsz: ph.p_memsz,
        offset: ph.p_offset,
        filesz: ph.p_filesz,
        perms: perms(ph.p_flags),
    })
}

/// Applies `bias` to the segments and checks where they land: inside user
/// space, above `mmap_min_addr`, clear of the stack and of each other.
fn place(raw: &[Segment], bias: u64) -> Result<Vec<Segment>, SysError> {
    let outside = noexec("segment outside user space");
    let mut segments = Vec::with_capacity(raw.len());
    for s in raw {
        let vaddr = s.vaddr.checked_add(bias).ok_or(outside)?;
        let (start, end) = (page_round_down(vaddr), vaddr.checked_add(s.memsz).and_then(page_round_up));
        let end = end.filter(|&e| e <= USER_END).ok_or(outside)?;
        if start < MMAP_MIN_ADDR {
            return Err(noexec("segment below mmap_min_addr"));
        }
        if end > STACK_TOP - STACK_SIZE && start < STACK_TOP {
            return Err(noexec("segment overlaps the stack"));
        }
        segments.push(Segment { vaddr, ..*s });
    }
    let mut spans: Vec<(u64, u64)> = segments.iter().map(Segment::span).collect();
    spans.sort_unstable();
    // Segments sharing a page would need that page's bytes from both; linkers
    // never emit that, so it is refused rather than guessed at.
    if spans.windows(2).any(|w| w[0].1 > w[1].0) {
        return Err(noexec("segments overlap"));
    }
    Ok(segments)
}

/// Maps the segments of `image` into `mm` (replacing anything there).
///
/// Read-only segments whose pages lie wholly inside the file are mapped
/// from the file's frames; the others get private frames holding a copy
/// of their file bytes, with the rest (bss) zero-filled on demand.
pub(super) fn map_segments<A: AddressSpace>(
    mm: &mut MemoryManager<A>,
    frames: &mut FrameAllocator,
    file: &FileRef,
    image: &Image,
) -> Result<(), SysError> {
    for seg in &image.segments {
        let (start, end) = seg.span();
        let file_page = page_round_down(seg.offset);
        // Sharing maps whole file pages, so the segment must fill its last
        // page with file bytes (no bss to zero) and that page must not run
        // past the end of the file (whatever follows it in memory is not
        // the program's to see).
        let shared_end = page_round_up(seg.offset + seg.filesz).unwrap_or(u64::MAX);
        let share = !seg.perms.write && seg.filesz == seg.memsz && shared_end <= file.len;
        if share {
            mm.map(frames, start, end - start, seg.perms, Backing::Phys { base: file.pa + file_page }, true)?;
            // A fault costs tens of microseconds on KVM, a page-table entry
            // written before first use almost nothing, and sharing copies no
            // data: map the whole segment now.
            mm.populate(frames, start, end - start)?;
            continue;
        }
        mm.map(frames, start, end - start, seg.perms, Backing::Anon, true)?;
        if seg.filesz > 0 {
            mm.populate(frames, seg.vaddr, seg.filesz)?;
            frames.fill(file.pa + seg.offset, seg.filesz)?;
            copy_from_file(mm, file, seg)?;
        }
    }
    Ok(())
}

/// Copies the file bytes of `seg` into its populated private frames.
///
/// Goes through the page tables rather than [`MemoryManager::copy_out`]:
/// the segment may well not be writable (or even readable) by the program.
fn copy_from_file<A: AddressSpace>(mm: &mut MemoryManager<A>, file: &FileRef, seg: &Segment) -> Result<(), SysError> {
    let end = seg.vaddr + seg.filesz;
    let mut va = seg.vaddr;
    let mut off = seg.offset;
    while va < end {
        let chunk = (PAGE_SIZE - va % PAGE_SIZE).min(end - va);
        let (frame, _) = mm.space_mut().translate(va).ok_or(SysError::efault("segment page not populated"))?;
        if !file.phys.copy(frame + va % PAGE_SIZE, file.pa + off, chunk) {
            return Err(SysError::efault("segment frame outside physical memory"));
        }
        va += chunk;
        off += chunk;
    }
    Ok(())
}
