//! The 9P client against the real gofer server, in process: the transport
//! hands each request frame from sentry physical memory to
//! `gofer::Server::handle` and scatters the reply back.

use std::path::PathBuf;
use std::sync::Mutex;

use super::*;
use crate::testutil::TestMem;
use crate::vfs::path::{FsContext, Location, MountTable};

struct InProcess {
    server: Mutex<gofer::Server>,
    phys: PhysMem,
    exchanges: std::sync::atomic::AtomicUsize,
}

impl P9Transport for InProcess {
    fn exchange(&self, request: &[(PhysAddr, u64)], reply: &[(PhysAddr, u64)]) -> Result<usize, i32> {
        self.exchanges.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut frame = Vec::new();
        for &(pa, len) in request {
            let mut part = vec![0u8; usize::try_from(len).expect("len")];
            assert!(self.phys.read(pa, &mut part));
            frame.extend_from_slice(&part);
        }
        let mut out = vec![0u8; 2 << 20];
        let n = self.server.lock().expect("server").handle(&frame, &mut out).map_err(|_| errno::EIO)?;
        let mut done = 0;
        for &(pa, len) in reply {
            let take = (n - done).min(usize::try_from(len).expect("len"));
            assert!(self.phys.write(pa, &out[done..done + take]));
            done += take;
        }
        assert_eq!(done, n, "reply larger than the reply segments");
        Ok(n)
    }
}

fn tree() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rf-9p-{}-{:?}", std::process::id(), std::thread::current().id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("etc")).expect("mkdir");
    std::fs::write(dir.join("etc/hostname"), b"inside\n").expect("write");
    std::os::unix::fs::symlink("/etc/hostname", dir.join("abs-link")).expect("symlink");
    std::os::unix::fs::symlink("../../../../etc", dir.join("up-link")).expect("symlink");
    dir
}

fn context(dir: &std::path::Path, mem: &mut TestMem, readonly: bool) -> FsContext {
    context_counted(dir, mem, readonly).0
}

/// The context and its transport (whose `exchanges` counts round trips).
fn context_counted(dir: &std::path::Path, mem: &mut TestMem, readonly: bool) -> (FsContext, Arc<InProcess>) {
    let server =
        gofer::Server::new(dir, gofer::GoferOptions { readonly, ..gofer::GoferOptions::default() }).expect("server");
    let t = Arc::new(InProcess { server: Mutex::new(server), phys: mem.phys(), exchanges: Default::default() });
    let root = mount(Arc::clone(&t) as Arc<dyn P9Transport>, &mut mem.frames, 99).expect("mount");
    let loc = Location::root(root);
    (
        FsContext {
            root: loc.clone(),
            cwd: loc,
            mounts: Arc::new(spin::Mutex::new(MountTable::default())),
            creds: None,
        },
        t,
    )
}

#[test]
fn deep_paths_walk_in_one_exchange() {
    let dir = tree();
    std::fs::create_dir_all(dir.join("a/b/c/d/e")).expect("mkdir");
    std::fs::write(dir.join("a/b/c/d/e/f"), b"deep\n").expect("write");
    std::os::unix::fs::symlink("b/c", dir.join("a/mid")).expect("symlink");
    let mut mem = TestMem::new(16);
    let (fs, t) = context_counted(&dir, &mut mem, false);
    let count = || t.exchanges.load(std::sync::atomic::Ordering::Relaxed);
    // Six components, nothing cached: one Twalk, then one Tgetattr.
    let before = count();
    let f = fs.resolve(&fs.root, b"/a/b/c/d/e/f", true).expect("deep walk");
    assert_eq!(f.node().stat().expect("stat").size, 5);
    assert_eq!(count() - before, 2, "Twalk + Tgetattr");
    assert_eq!(f.path(), b"/a/b/c/d/e/f");
    // Cached now: no exchange at all.
    let before = count();
    fs.resolve(&fs.root, b"/a/b/c/d/e/f", true).expect("cached");
    assert_eq!(count(), before);
    // A symlink in the middle stops the batch; the sentry resolves it.
    let via = fs.resolve(&fs.root, b"/a/mid/d/e/f", true).expect("through a symlink");
    assert!(Arc::ptr_eq(via.node(), f.node()));
    assert_eq!(via.path(), b"/a/b/c/d/e/f");
    // A missing component in the middle is ENOENT; a file is ENOTDIR.
    let e = fs.resolve(&fs.root, b"/a/b/nope/d/e", true).expect_err("missing");
    assert_eq!(e.errno, errno::ENOENT);
    let e = fs.resolve(&fs.root, b"/a/b/c/d/e/f/g/h", true).expect_err("file as directory");
    assert_eq!(e.errno, errno::ENOTDIR);
    // Directories walked through have no fid until used: a rename first
    // binds them, so they keep working under the new name.
    let c = fs.resolve(&fs.root, b"/a/b/c", true).expect("c").node().clone();
    let b = fs.resolve(&fs.root, b"/a/b", true).expect("b").node().clone();
    b.rename(b"c", fs.root.node(), b"moved").expect("rename");
    assert!(dir.join("moved/d/e/f").exists());
    assert_eq!(c.stat().expect("stat of the moved directory").file_type(), Some(FileType::Directory));
    let moved = fs.resolve(&fs.root, b"/moved/d/e/f", true).expect("moved walk");
    assert_eq!(read_all(moved.node()), b"deep\n");
    // The same for an unbound directory still in use when it is removed.
    let e_node = fs.resolve(&fs.root, b"/moved/d/e", true).expect("e").node().clone();
    let d = fs.resolve(&fs.root, b"/moved/d", true).expect("d").node().clone();
    std::fs::remove_file(dir.join("moved/d/e/f")).expect("rm");
    drop(moved);
    d.unlink(b"e", true).expect("rmdir");
    assert!(e_node.stat().is_ok(), "a removed directory keeps its fid");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unbound_directories_and_link_targets_cost_no_extra_exchange() {
    let dir = tree();
    std::fs::create_dir_all(dir.join("bin")).expect("mkdir");
    std::fs::write(dir.join("bin/busybox"), b"elf\n").expect("write");
    std::os::unix::fs::symlink("busybox", dir.join("bin/true")).expect("symlink");
    let mut mem = TestMem::new(16);
    let (fs, t) = context_counted(&dir, &mut mem, false);
    let count = || t.exchanges.load(std::sync::atomic::Ordering::Relaxed);
    // exec's walk: bin/true in one Twalk (bin left unbound), its target
    // (Treadlink), then busybox from the root through bin, in one Twalk
    // rather than one to bind bin and one for busybox; then the Tgetattr
    // that tells a regular file's kind (its qid does not).
    let before = count();
    let f = fs.resolve(&fs.root, b"/bin/true", true).expect("walk");
    assert_eq!(count() - before, 4, "Twalk, Treadlink, Twalk, Tgetattr");
    assert_eq!(f.path(), b"/bin/busybox");
    // Opening it from its bound fid: Twalk (clone) + Tlopen.
    assert_eq!(read_all(f.node()), b"elf\n");
    // The link's target is kept: resolving it again (exec's exe path) and
    // reading it cost nothing.
    let before = count();
    let link = fs.resolve(&fs.root, b"/bin/true", false).expect("link");
    assert_eq!(link.node().readlink().expect("readlink"), b"busybox");
    assert_eq!(fs.resolve(&fs.root, b"/bin/true", true).expect("again").path(), b"/bin/busybox");
    assert_eq!(count(), before);
    // An unbound directory that vanished is ENOENT, and one replaced by
    // another of the same name ESTALE, as when it was bound first.
    std::fs::create_dir_all(dir.join("x/y")).expect("mkdir");
    std::fs::write(dir.join("x/y/f"), b"").expect("write");
    let y = fs.resolve(&fs.root, b"/x/y/f", true).expect("walk").node().clone();
    drop(y);
    let x_y = fs.resolve(&fs.root, b"/x/y", true).expect("y").node().clone();
    std::fs::remove_dir_all(dir.join("x/y")).expect("rm");
    assert_eq!(x_y.lookup(b"g").err().map(|e| e.errno), Some(errno::ENOENT));
    std::fs::create_dir_all(dir.join("x/y")).expect("mkdir");
    assert_eq!(x_y.lookup(b"g").err().map(|e| e.errno), Some(errno::ESTALE));
    let _ = std::fs::remove_dir_all(&dir);
}

fn read_all(node: &InodeRef) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let n = node.read_at(0, &mut buf).expect("read");
    buf.truncate(n);
    buf
}

#[test]
fn reads_walks_and_confines_symlinks() {
    let dir = tree();
    let mut mem = TestMem::new(16);
    let fs = context(&dir, &mut mem, true);
    let f = fs.resolve(&fs.root, b"/etc/hostname", true).expect("walk");
    assert_eq!(read_all(f.node()), b"inside\n");
    assert_eq!(f.node().stat().expect("stat").size, 7);
    // Absolute and `..`-laden symlinks resolve inside the served tree.
    let via_abs = fs.resolve(&fs.root, b"/abs-link", true).expect("abs link");
    assert_eq!(read_all(via_abs.node()), b"inside\n");
    let via_up = fs.resolve(&fs.root, b"/up-link/hostname", true).expect("up link");
    assert_eq!(read_all(via_up.node()), b"inside\n");
    let dotdot = fs.resolve(&fs.root, b"/../../../etc/hostname", true).expect("dotdot");
    assert_eq!(read_all(dotdot.node()), b"inside\n");
    let mut names: Vec<Vec<u8>> = fs.root.node().readdir().expect("readdir").into_iter().map(|e| e.name).collect();
    names.sort();
    assert_eq!(names, vec![b"abs-link".to_vec(), b"etc".to_vec(), b"up-link".to_vec()]);
    // Read-only: changes are refused by the gofer.
    let e = fs.root.node().mkdir(b"new", 0o755).err().expect("EROFS");
    assert_eq!(e.errno, errno::EROFS);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn writable_tree_changes_land_inside_only() {
    let dir = tree();
    let mut mem = TestMem::new(16);
    let fs = context(&dir, &mut mem, false);
    let root = fs.root.node();
    let d = root.mkdir(b"d", 0o755).expect("mkdir");
    let f = d.create(b"f", FileType::Regular, 0o644, 0).expect("create");
    assert_eq!(f.write_at(0, b"hello 9p").expect("write"), 8);
    assert_eq!(read_all(&f), b"hello 9p");
    assert_eq!(std::fs::read(dir.join("d/f")).expect("host sees it"), b"hello 9p");
    d.symlink(b"l", b"f").expect("symlink");
    assert_eq!(d.lookup(b"l").expect("lookup").readlink().expect("readlink"), b"f");
    d.rename(b"f", root, b"g").expect("rename");
    assert!(dir.join("g").exists() && !dir.join("d/f").exists());
    root.lookup(b"g").expect("renamed").setattr(&SetAttr { size: Some(2), ..SetAttr::default() }).expect("truncate");
    assert_eq!(std::fs::read(dir.join("g")).expect("read"), b"he");
    d.unlink(b"l", false).expect("unlink");
    root.unlink(b"d", true).expect("rmdir");
    assert!(!dir.join("d").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn programs_are_found_on_path_and_read_on_demand() {
    let dir = tree();
    std::fs::create_dir_all(dir.join("usr/bin")).expect("mkdir");
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("usr/bin/prog"), &body).expect("write");
    std::fs::set_permissions(dir.join("usr/bin/prog"), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    std::fs::write(dir.join("usr/bin/data"), b"not executable").expect("write");
    let mut mem = TestMem::new(32);
    let fs = context(&dir, &mut mem, true);
    let env = [b"PATH=/nowhere:/usr/bin".to_vec()];
    let mut cache = crate::kernel::exec::ExecCache::default();
    let f = crate::kernel::exec::read_program(&fs, &mut mem.frames, &mut cache, b"prog", &env, true)
        .expect("found on PATH");
    let (pa, len) = (f.pa, f.len);
    assert_eq!(len, body.len() as u64);
    // A second exec of the same file comes from the cache.
    let again =
        crate::kernel::exec::read_program(&fs, &mut mem.frames, &mut cache, b"prog", &env, true).expect("again");
    assert_eq!(again, f);
    // Without PATH search a bare name is looked up in the working directory.
    let e = crate::kernel::exec::read_program(&fs, &mut mem.frames, &mut cache, b"prog", &env, false)
        .expect_err("no search");
    assert_eq!(e.errno, errno::ENOENT);
    // Nothing is read before it is needed; a page brings its window in.
    let mut got = vec![0u8; body.len()];
    assert!(mem.phys().read(pa, &mut got));
    assert!(got.iter().all(|&b| b == 0), "read before use");
    mem.frames.fill(pa + 40 * 4096 + 5, 1).expect("fill");
    let (lo, hi) =
        (40 - 40 % crate::mm::lazy::READ_AROUND, 40 - 40 % crate::mm::lazy::READ_AROUND + crate::mm::lazy::READ_AROUND);
    assert!(mem.frames.is_filled(pa + lo * 4096) && mem.frames.is_filled(pa + (hi - 1) * 4096));
    assert!(!mem.frames.is_filled(pa + (lo - 1) * 4096) && !mem.frames.is_filled(pa + hi * 4096));
    mem.frames.fill(pa, len).expect("fill all");
    assert!(mem.phys().read(pa, &mut got));
    assert_eq!(got, body);
    let e = crate::kernel::exec::read_program(&fs, &mut mem.frames, &mut cache, b"/usr/bin/data", &env, true)
        .expect_err("not executable");
    assert_eq!(e.errno, errno::EACCES);
    let e = crate::kernel::exec::read_program(&fs, &mut mem.frames, &mut cache, b"missing", &env, true)
        .expect_err("missing");
    assert_eq!(e.errno, errno::ENOENT);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn small_reads_through_readahead_match_the_file() {
    let dir = tree();
    let body: Vec<u8> = (0..2_500_000u32).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(dir.join("f"), &body).expect("write");
    let mut mem = TestMem::new(16);
    let fs = context(&dir, &mut mem, false);
    let f = fs.resolve(&fs.root, b"/f", true).expect("walk");
    let phys = mem.phys();
    let page = mem.frames.alloc_zeroed().expect("frame");
    // 3000-byte reads cross the 1 MiB read-ahead boundaries unaligned.
    let mut got = Vec::new();
    loop {
        let n = f.node().read_phys(&phys, got.len() as u64, &[(page, 1000), (page + 2000, 2000)]).expect("read");
        let mut chunk = vec![0u8; 3000];
        assert!(phys.read(page, &mut chunk[..1000]) && phys.read(page + 2000, &mut chunk[1000..]));
        got.extend_from_slice(&chunk[..n]);
        if n < 3000 {
            break;
        }
    }
    assert_eq!(got.len(), body.len());
    assert!(got == body, "read-ahead returned different bytes");
    // A write drops the read-ahead: the next read sees the new bytes.
    f.node().write_at(10, b"CHANGED").expect("write");
    assert_eq!(f.node().read_phys(&phys, 10, &[(page, 7)]).expect("read"), 7);
    let mut b = [0u8; 7];
    assert!(phys.read(page, &mut b));
    assert_eq!(&b, b"CHANGED");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A transport that donates files as the VMM does: each Rlopen of a
/// read-only open comes with a handle to the host file `path`, read by
/// `read_donated` without a 9P exchange.
struct Donating {
    inner: InProcess,
    path: PathBuf,
    files: Mutex<std::collections::HashMap<u64, std::fs::File>>,
    next: std::sync::atomic::AtomicU64,
}

impl P9Transport for Donating {
    fn exchange(&self, request: &[(PhysAddr, u64)], reply: &[(PhysAddr, u64)]) -> Result<usize, i32> {
        self.inner.exchange(request, reply)
    }

    fn exchange_donated(
        &self,
        request: &[(PhysAddr, u64)],
        reply: &[(PhysAddr, u64)],
    ) -> Result<(usize, Option<u64>), i32> {
        // The request first: the reply may land on top of it.
        let (mut t, mut r) = ([0u8; 15], [0u8; 5]);
        let whole = request.len() == 1 && request[0].1 >= 15 && self.inner.phys.read(request[0].0, &mut t);
        let n = self.inner.exchange(request, reply)?;
        assert!(self.inner.phys.read(reply[0].0, &mut r));
        let flags = u32::from_le_bytes([t[11], t[12], t[13], t[14]]);
        if !(whole && t[4] == p9::TLOPEN && r[4] == p9::RLOPEN && flags & 3 == p9::open_flags::RDONLY) {
            return Ok((n, None));
        }
        let h = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        self.files.lock().expect("files").insert(h, std::fs::File::open(&self.path).expect("open"));
        Ok((n, Some(h)))
    }

    fn read_donated(&self, handle: u64, off: u64, segs: &[(PhysAddr, u64)]) -> Result<usize, i32> {
        use std::os::unix::fs::FileExt;
        let files = self.files.lock().expect("files");
        let f = files.get(&handle).ok_or(errno::EBADF)?;
        let mut done = 0u64;
        for &(pa, len) in segs {
            let mut buf = vec![0u8; usize::try_from(len).expect("len")];
            let n = f.read_at(&mut buf, off + done).map_err(|_| errno::EIO)?;
            assert!(self.inner.phys.write(pa, &buf[..n]));
            done += n as u64;
            if (n as u64) < len {
                break;
            }
        }
        Ok(usize::try_from(done).expect("done"))
    }

    fn close_donated(&self, handle: u64) {
        assert!(self.files.lock().expect("files").remove(&handle).is_some(), "handle closed twice");
    }
}

#[test]
fn donated_files_are_read_without_exchanges_and_released() {
    let dir = tree();
    let body: Vec<u8> = (0..300_000u32).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(dir.join("f"), &body).expect("write");
    let mut mem = TestMem::new(16);
    let server = gofer::Server::new(&dir, gofer::GoferOptions::default()).expect("server");
    let inner = InProcess { server: Mutex::new(server), phys: mem.phys(), exchanges: Default::default() };
    let t = Arc::new(Donating { inner, path: dir.join("f"), files: Default::default(), next: Default::default() });
    let root = mount(Arc::clone(&t) as Arc<dyn P9Transport>, &mut mem.frames, 99).expect("mount");
    let f = root.lookup(b"f").expect("lookup");
    let count = || t.inner.exchanges.load(std::sync::atomic::Ordering::Relaxed);
    let phys = mem.phys();
    let big = mem.frames.alloc_contiguous(32).expect("frames");
    // The first read opens the file (Twalk + Tlopen); every read after,
    // large or small, goes to the donated file alone.
    let n = f.read_phys(&phys, 0, &[(big, 128 << 10)]).expect("read");
    assert_eq!(n, 128 << 10);
    let opened = count();
    let mut got = vec![0u8; n];
    assert!(phys.read(big, &mut got));
    assert!(got == body[..n], "large read");
    let mut off = n;
    loop {
        let n = f.read_phys(&phys, off as u64, &[(big, 1000), (big + 5000, 3000)]).expect("read");
        let mut chunk = vec![0u8; 4000];
        assert!(phys.read(big, &mut chunk[..1000]) && phys.read(big + 5000, &mut chunk[1000..]));
        assert!(chunk[..n] == body[off..off + n], "small read at {off}");
        off += n;
        if n < 4000 {
            break;
        }
    }
    assert_eq!(off, body.len());
    assert_eq!(count(), opened, "no Tread once the file is donated");
    assert_eq!(t.files.lock().expect("files").len(), 1);
    // A write fid gets no handle; dropping the node releases the one it has.
    f.write_at(0, b"x").expect("write");
    drop(f);
    drop(root);
    assert!(t.files.lock().expect("files").is_empty(), "the handle was released");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn readahead_window_grows_only_while_sequential() {
    let r = |start, len, window| Some(ReadAhead { fid: 3, start, len, window });
    assert_eq!(ReadAhead::next_window(None, 3, 0), READAHEAD_MIN);
    assert_eq!(ReadAhead::next_window(r(0, READAHEAD_MIN, READAHEAD_MIN), 3, READAHEAD_MIN), 2 * READAHEAD_MIN);
    assert_eq!(ReadAhead::next_window(r(0, 1 << 20, 1 << 20), 3, 1 << 20), READAHEAD as u64);
    // A jump, or another file: back to the smallest window.
    assert_eq!(ReadAhead::next_window(r(0, 1 << 20, 1 << 20), 3, 5 << 20), READAHEAD_MIN);
    assert_eq!(ReadAhead::next_window(r(0, 1 << 20, 1 << 20), 4, 1 << 20), READAHEAD_MIN);
}
