//! Finding, reading and loading a program from the container's tree:
//! PATH search, `#!` scripts, a cache of program files.

use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::error::SysError;
use crate::mm::frames::FrameAllocator;
use crate::mm::lazy::PageSource;
use crate::mm::MemoryManager;
use crate::platform::{AddressSpace, PhysAddr, PhysMem};
use crate::vfs::path::FsContext;
use crate::vfs::FileType;
use abi::layout::PAGE_SIZE;
use abi::linux::errno;

/// PATH when the environment has none (as execvp and runc use).
const DEFAULT_PATH: &[u8] = b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// Largest program file loaded.
const MAX_PROGRAM: u64 = 1 << 30;

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

/// A program file read into contiguous frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgramFile {
    pub pa: PhysAddr,
    pub len: u64,
}

/// Identity of a file's contents: device, inode, size and change time.
type FileKey = (u64, u64, u64, i64, i64);

/// Program files kept in memory after exec, so that running the same
/// program again (a shell script running busybox applets) reads nothing.
/// Each entry holds one reference on every frame of its file.
#[derive(Debug, Default)]
pub struct ExecCache {
    entries: Vec<(FileKey, ProgramFile)>,
}

/// Most bytes of program files the cache keeps.
const CACHE_BYTES: u64 = 64 << 20;

impl ExecCache {
    fn get(&mut self, key: FileKey) -> Option<ProgramFile> {
        let i = self.entries.iter().position(|(k, _)| *k == key)?;
        let e = self.entries.remove(i);
        self.entries.push(e);
        Some(e.1)
    }

    fn insert(&mut self, frames: &mut FrameAllocator, key: FileKey, f: ProgramFile) {
        self.entries.push((key, f));
        while self.entries.iter().map(|(_, f)| f.len).sum::<u64>() > CACHE_BYTES && self.entries.len() > 1 {
            let (_, old) = self.entries.remove(0);
            release(frames, old);
        }
    }
}

/// Drops the reference held on every frame of `f`.
pub fn release(frames: &mut FrameAllocator, f: ProgramFile) {
    let mut off = 0;
    while off < f.len {
        frames.put(f.pa + off);
        off += PAGE_SIZE;
    }
}

/// Resolves `name` in `fs` (searching PATH from `envp` for a bare name when
/// `search`) and reads the file into physically contiguous frames, which
/// then serve as its page cache: read-only segments are mapped from them
/// directly. The result stays in `cache`; the caller gets its own
/// reference on the frames, to [`release`] after loading.
pub fn read_program(
    fs: &FsContext,
    frames: &mut FrameAllocator,
    cache: &mut ExecCache,
    name: &[u8],
    envp: &[Vec<u8>],
    search: bool,
) -> Result<ProgramFile, SysError> {
    let mut last = SysError::new(errno::ENOENT, "no such file or directory");
    let mut found = None;
    let list = if search { candidates(name, envp) } else { alloc::vec![name.to_vec()] };
    for path in list {
        match fs.resolve(&fs.cwd, &path, true) {
            Ok(loc) => {
                let st = loc.node().stat()?;
                let allowed = match &fs.creds {
                    Some(c) => crate::vfs::perm::may_exec(c, &st).is_ok(),
                    None => st.file_type() == Some(FileType::Regular) && st.mode & 0o111 != 0,
                };
                if !allowed {
                    last = SysError::new(errno::EACCES, "not an executable regular file");
                    continue;
                }
                if fs.mounts.lock().is_noexec(st.dev) {
                    last = SysError::new(errno::EACCES, "on a noexec mount");
                    continue;
                }
                found = Some((loc, st));
                break;
            }
            Err(e) if e.errno == errno::ENOENT || e.errno == errno::ENOTDIR => {}
            Err(e) => last = e,
        }
    }
    let (loc, st) = found.ok_or(last)?;
    read_node(frames, cache, loc.node(), &st)
}

/// Reads the whole regular file `node` (with attributes `st`) into
/// contiguous frames, or finds it in `cache`; the caller gets its own
/// reference on the frames, to [`release`] when done.
pub fn read_node(
    frames: &mut FrameAllocator,
    cache: &mut ExecCache,
    node: &crate::vfs::InodeRef,
    st: &crate::vfs::Stat,
) -> Result<ProgramFile, SysError> {
    let size = st.size;
    if size == 0 || size > MAX_PROGRAM {
        return Err(SysError::new(errno::ENOEXEC, "empty or oversized program file"));
    }
    let key = (st.dev, st.ino, size, st.mtime.tv_sec, st.mtime.tv_nsec);
    if let Some(f) = cache.get(key) {
        get_all(frames, f);
        return Ok(f);
    }
    // Frames now, file bytes when first needed (mm::lazy): straight from
    // the gofer (or the donated host file) into the frames, a window at a
    // time, so an idle program keeps only the pages it touched.
    let source = Box::new(ProgramSource(alloc::sync::Arc::clone(node)));
    let pa = frames
        .alloc_lazy(size.div_ceil(PAGE_SIZE), size, source)
        .ok_or(SysError::enomem("no memory for the program file"))?;
    let f = ProgramFile { pa, len: size };
    get_all(frames, f);
    cache.insert(frames, key, f);
    Ok(f)
}

/// A program file's bytes, for [`FrameAllocator::alloc_lazy`].
struct ProgramSource(crate::vfs::InodeRef);

impl PageSource for ProgramSource {
    fn read(&self, phys: &PhysMem, off: u64, segs: &[(PhysAddr, u64)]) -> Result<usize, SysError> {
        self.0.read_phys(phys, off, segs)
    }
}

fn get_all(frames: &mut FrameAllocator, f: ProgramFile) {
    let mut off = 0;
    while off < f.len {
        frames.get(f.pa + off);
        off += PAGE_SIZE;
    }
}

/// Most levels of `#!` interpreters (Linux's BINPRM_MAX_RECURSION).
const MAX_SCRIPT_DEPTH: usize = 4;
/// Longest `#!` line Linux reads (BINPRM_BUF_SIZE).
const SCRIPT_LINE_MAX: usize = 256;

/// A program loaded into a fresh address space.
#[derive(Debug)]
pub struct Image<A: AddressSpace> {
    pub mm: MemoryManager<A>,
    pub entry: u64,
    pub sp: u64,
    /// The path the program was found at (for comm and AT_EXECFN).
    pub path: Vec<u8>,
    /// The final argument vector (after `#!` rewriting).
    pub argv: Vec<Vec<u8>>,
    /// Where the environment strings lie on the new stack.
    pub env: (u64, u64),
}

/// Parses a `#!` line: the interpreter and its optional single argument.
/// An interpreter path and its optional argument.
type Shebang = (Vec<u8>, Option<Vec<u8>>);

fn parse_shebang(head: &[u8]) -> Option<Result<Shebang, SysError>> {
    let rest = head.strip_prefix(b"#!")?;
    let Some(end) = rest.iter().position(|&b| b == b'\n') else {
        return Some(Err(SysError::new(errno::ENOEXEC, "#! line too long")));
    };
    let line = &rest[..end];
    let is_space = |b: &u8| *b == b' ' || *b == b'\t';
    let start = line.iter().position(|b| !is_space(b)).unwrap_or(line.len());
    let line = &line[start..];
    let iend = line.iter().position(is_space).unwrap_or(line.len());
    let interp = line[..iend].to_vec();
    if interp.is_empty() {
        return Some(Err(SysError::new(errno::ENOEXEC, "#! without an interpreter")));
    }
    let arg = line[iend..].trim_ascii();
    Some(Ok((interp, (!arg.is_empty()).then(|| arg.to_vec()))))
}

/// Finds `name`, follows `#!` interpreters, and loads the program into a
/// new address space from `platform`, with its initial stack.
#[allow(clippy::too_many_arguments)]
pub fn load_program<P: crate::platform::Platform>(
    k: &mut crate::kernel::Kernel<P>,
    fs: &FsContext,
    name: &[u8],
    mut argv: Vec<Vec<u8>>,
    envp: &[Vec<u8>],
    search: bool,
    boot_file: Option<ProgramFile>,
) -> Result<Image<P::AddressSpace>, SysError> {
    let mut path = name.to_vec();
    let mut search = search;
    let mut depth = 0;
    let (file, found_path) = loop {
        let f = match boot_file {
            Some(f) if depth == 0 => f,
            _ => read_program(fs, &mut k.frames, &mut k.exec_cache, &path, envp, search)?,
        };
        let mut head = [0u8; SCRIPT_LINE_MAX];
        let n = usize::try_from(f.len).unwrap_or(usize::MAX).min(SCRIPT_LINE_MAX);
        k.frames.fill(f.pa, n as u64)?;
        k.frames.phys().read(f.pa, &mut head[..n]);
        match parse_shebang(&head[..n]) {
            None => break (f, path),
            Some(r) => {
                if boot_file.is_none() || depth > 0 {
                    release(&mut k.frames, f);
                }
                let (interp, arg) = r?;
                depth += 1;
                if depth > MAX_SCRIPT_DEPTH {
                    return Err(SysError::new(errno::ELOOP, "too many levels of #! interpreters"));
                }
                // argv[0] is replaced by: interpreter, its argument, the script path.
                let mut new = alloc::vec![interp.clone()];
                new.extend(arg);
                let script = if search && !path.contains(&b'/') { resolved_name(fs, &path, envp) } else { path };
                new.push(script);
                new.extend(argv.into_iter().skip(1));
                argv = new;
                path = interp;
                search = false;
            }
        }
    };
    let owned = boot_file.is_none() || depth > 0;
    // A dynamically linked program starts in its interpreter (ld.so), read
    // from the container's tree like the program.
    let interp = match crate::loader::interpreter(&mut k.frames, file.pa, file.len) {
        Ok(Some(path)) => read_program(fs, &mut k.frames, &mut k.exec_cache, &path, envp, false).map(Some),
        Ok(None) => Ok(None),
        Err(e) => Err(e),
    };
    let r = interp.and_then(|i| {
        let r = load_image(k, file, i, &found_path, &argv, envp);
        if let Some(i) = i {
            release(&mut k.frames, i);
        }
        r
    });
    if owned {
        release(&mut k.frames, file);
    }
    let (mm, loaded) = r?;
    Ok(Image { mm, entry: loaded.entry, sp: loaded.stack_pointer, path: found_path, argv, env: loaded.env })
}

/// The PATH entry `name` is found at, for a script's argv (as execvp passes it).
fn resolved_name(fs: &FsContext, name: &[u8], envp: &[Vec<u8>]) -> Vec<u8> {
    for path in candidates(name, envp) {
        if fs.resolve(&fs.cwd, &path, true).is_ok() {
            return path;
        }
    }
    name.to_vec()
}

/// Loads the ELF in `file` into a fresh address space.
fn load_image<P: crate::platform::Platform>(
    k: &mut crate::kernel::Kernel<P>,
    file: ProgramFile,
    interp: Option<ProgramFile>,
    path: &[u8],
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
) -> Result<(MemoryManager<P::AddressSpace>, crate::loader::Loaded), SysError> {
    let space =
        k.platform.new_address_space(&mut k.frames).map_err(|_| SysError::enomem("no memory for an address space"))?;
    let mut mm = MemoryManager::new(space);
    let mut random = [0u8; 16];
    k.rng.fill(&mut random);
    let argv: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
    let envp: Vec<&[u8]> = envp.iter().map(Vec::as_slice).collect();
    let args = crate::loader::ExecArgs {
        execfn: path,
        argv: &argv,
        envp: &envp,
        random,
        uid: 0,
        gid: 0,
        hwcap: k.params.hwcap,
        hwcap2: 0,
    };
    let interp = interp.map(|i| (i.pa, i.len));
    match crate::loader::load_elf_with_interp(&mut mm, &mut k.frames, file.pa, file.len, interp, &args) {
        Ok(l) => Ok((mm, l)),
        Err(e) => {
            mm.destroy(&mut k.frames);
            Err(e)
        }
    }
}

/// The program file's absolute path with symlinks resolved, as
/// /proc/<pid>/exe shows it (the dynamic loader relies on it being
/// absolute). `search`: `path` was looked up in PATH, as for init.
pub fn exe_path(fs: &FsContext, path: &[u8], envp: &[Vec<u8>], search: bool) -> Vec<u8> {
    let name = if search && !path.contains(&b'/') { resolved_name(fs, path, envp) } else { path.to_vec() };
    fs.resolve(&fs.cwd, &name, true).map_or_else(
        |_| {
            let mut abs = fs.cwd.path();
            if !abs.ends_with(b"/") {
                abs.push(b'/');
            }
            abs.extend_from_slice(&name);
            abs
        },
        |l| l.path(),
    )
}

/// `execve`: replaces `t`'s program. On failure nothing has changed; on
/// success the other threads are gone, close-on-exec fds are closed, caught
/// signals are reset, and a vfork parent is released.
pub fn execve<P: crate::platform::Platform>(
    k: &mut crate::kernel::Kernel<P>,
    t: &mut crate::kernel::Task<P::AddressSpace>,
    path: &[u8],
    argv: Vec<Vec<u8>>,
    envp: &[Vec<u8>],
) -> Result<(), SysError> {
    use crate::kernel::shared::Shared;
    use alloc::sync::Arc;
    let fs = t.fs();
    let img = load_program(k, &fs, path, argv, envp, false, None)?;
    crate::kernel::exit::kill_other_threads(k, t);
    if t.tid != t.pid {
        // Exec from a thread other than the leader: the thread takes over
        // the leader's identity (its tid becomes the pid), as Linux's
        // de_thread does; the old leader is gone with the other threads.
        let old_tid = t.tid;
        t.tid = t.pid;
        t.exit_signal = abi::linux::signal::SIGCHLD;
        if let Some(p) = k.procs.get_mut(&t.pid) {
            for x in &mut p.threads {
                if *x == old_tid {
                    *x = t.pid;
                }
            }
        }
    }
    crate::kernel::timer::on_exec(k, t);
    t.mm.lock().space_mut().release_thread(t.thread_id);
    let old = core::mem::replace(&mut t.mm, Shared::new(img.mm));
    if Arc::strong_count(&old) == 1 {
        old.lock().destroy(&mut k.frames);
    }
    drop(old);
    k.release_unused_files(Some(&t.mm));
    if let Some(parent) = t.vfork_parent.take() {
        k.wake(crate::kernel::task::WaitKey::Vfork(parent));
    }
    if Arc::strong_count(&t.fds) > 1 {
        let copy = t.fds.lock().clone();
        t.fds = Shared::new(copy);
    }
    t.fds.lock().close_on_exec();
    t.creds.exec();
    let mut hand = t.sighand.lock().clone();
    hand.reset_for_exec();
    t.sighand = Shared::new(hand);
    t.regs = crate::arch::UserRegs::new_user(img.entry, img.sp);
    // A new address space: the platform holds no FPU state of the thread
    // there, so this one is loaded at its first switch.
    t.fp = crate::arch::FpState::new_user();
    t.altstack = (0, 0, abi::linux::signal::SS_DISABLE);
    t.clear_child_tid = 0;
    t.robust_list = (0, 0);
    t.set_comm_from_path(&img.path);
    if let Some(p) = k.procs.get_mut(&t.pid) {
        p.execed = true;
        p.cmdline = img.argv.iter().flat_map(|a| a.iter().copied().chain(core::iter::once(0))).collect();
        p.exe = exe_path(&fs, &img.path, envp, false);
        p.env = img.env;
    }
    Ok(())
}
