//! Finding and reading a program in the container's tree.

use alloc::vec::Vec;

use crate::error::SysError;
use crate::mm::frames::FrameAllocator;
use crate::platform::PhysAddr;
use crate::vfs::path::FsContext;
use crate::vfs::FileType;
use abi::layout::PAGE_SIZE;
use abi::linux::errno;

/// PATH when the environment has none (as execvp and runc use).
const DEFAULT_PATH: &[u8] = b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Largest program file loaded.
const MAX_PROGRAM: u64 = 1 << 30;
/// Bytes asked for per read.
const CHUNK: u64 = 1 << 20;

/// The candidates for `name`: itself if it has a '/', else each PATH entry.
fn candidates(name: &[u8], envp: &[Vec<u8>]) -> Vec<Vec<u8>> {
    if name.contains(&b'/') {
        return alloc::vec![name.to_vec()];
    }
    let path = envp.iter().find_map(|e| e.strip_prefix(b"PATH")?.strip_prefix(b"=")).unwrap_or(DEFAULT_PATH);
    path.split(|&b| b == b':')
        .map(|dir| {
            let dir = if dir.is_empty() { &b"."[..] } else { dir };
            let mut p = dir.to_vec();
            p.push(b'/');
            p.extend_from_slice(name);
            p
        })
        .collect()
}

/// Resolves `name` in `fs` (searching PATH from `envp` for a bare name) and
/// reads the file into physically contiguous frames, which then serve as
/// its page cache: read-only segments are mapped from them directly.
pub fn read_program(
    fs: &FsContext,
    frames: &mut FrameAllocator,
    name: &[u8],
    envp: &[Vec<u8>],
) -> Result<(PhysAddr, u64), SysError> {
    let mut last = SysError::new(errno::ENOENT, "no such file or directory");
    let mut found = None;
    for path in candidates(name, envp) {
        match fs.resolve(&fs.cwd, &path, true) {
            Ok(loc) => {
                let st = loc.node().stat()?;
                if st.file_type() != Some(FileType::Regular) || st.mode & 0o111 == 0 {
                    last = SysError::new(errno::EACCES, "not an executable regular file");
                    continue;
                }
                found = Some((loc, st.size));
                break;
            }
            Err(e) if e.errno == errno::ENOENT || e.errno == errno::ENOTDIR => {}
            Err(e) => last = e,
        }
    }
    let (loc, size) = found.ok_or(last)?;
    if size == 0 || size > MAX_PROGRAM {
        return Err(SysError::new(errno::ENOEXEC, "empty or oversized program file"));
    }
    let pa =
        frames.alloc_contiguous(size.div_ceil(PAGE_SIZE)).ok_or(SysError::enomem("no memory for the program file"))?;
    // Straight from the gofer into the frames: no copy, and no sentry
    // touch of the pages (each first touch is a shadow-paging fault).
    let phys = *frames.phys();
    let mut off = 0u64;
    while off < size {
        let want = (size - off).min(CHUNK);
        let n = loc.node().read_phys(&phys, off, &[(pa + off, want)])?;
        if n == 0 {
            return Err(SysError::new(errno::EIO, "program file shorter than its size"));
        }
        off += n as u64;
    }
    Ok((pa, size))
}
