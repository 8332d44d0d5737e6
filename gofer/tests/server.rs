//! The gofer served on a socketpair, driven by the `p9` codec as a client.

mod common;

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::{Client, TempDir};
use gofer::GoferOptions;
use p9::*;

const EBADF: u32 = 9;
const EEXIST: u32 = 17;
const ENOTDIR: u32 = 20;
const EINVAL: u32 = 22;
const EPERM: u32 = 1;
const ENOENT: u32 = 2;
const EROFS: u32 = 30;
const ENOTEMPTY: u32 = 39;
const EOPNOTSUPP: u32 = 95;

fn tree() -> TempDir {
    let t = TempDir::new("srv");
    let root = t.path();
    std::fs::create_dir_all(root.join("dir/sub")).expect("mkdir");
    std::fs::write(root.join("dir/file.txt"), b"hello, gofer").expect("write");
    std::os::unix::fs::symlink("dir/file.txt", root.join("link")).expect("symlink");
    t
}

fn rw() -> GoferOptions {
    GoferOptions::default()
}

#[test]
fn attach_walk_getattr_read() {
    let t = tree();
    let mut c = Client::start(t.path(), rw());
    let root = c.attach(0);
    assert_eq!(root.ty, qid_type::DIR);
    let qids = c.walk(0, 1, &["dir", "file.txt"]).expect("walk");
    assert_eq!(qids.len(), 2);
    assert_eq!(qids[0].ty, qid_type::DIR);
    assert_eq!(qids[1].ty, qid_type::FILE);
    let meta = std::fs::metadata(t.path().join("dir/file.txt")).expect("stat");
    assert_eq!(qids[1].path, meta.ino());
    let a = c.getattr(1).expect("getattr");
    assert_eq!(a.size, 12);
    assert_eq!(a.mode, meta.mode());
    assert_eq!(a.mtime_sec, u64::try_from(meta.mtime()).expect("mtime"));
    assert_eq!(a.valid & getattr::BASIC, getattr::BASIC);
    assert_eq!(a.qid, qids[1]);
    c.lopen(1, open_flags::RDONLY).expect("lopen");
    assert_eq!(c.read(1, 0, 4096).expect("read"), b"hello, gofer");
    assert_eq!(c.read(1, 7, 3).expect("read"), b"gof");
    assert_eq!(c.read(1, 100, 10).expect("read at EOF"), b"");
    // Writing a fid opened read-only, opening twice, walking from a file.
    assert_eq!(c.write(1, 0, b"x"), Err(EBADF));
    assert_eq!(c.lopen(1, open_flags::RDONLY), Err(EINVAL));
    assert_eq!(c.walk(1, 2, &["x"]), Err(ENOTDIR));
    // nwname 0 clones; a used newfid is refused; a clunked fid is gone.
    assert_eq!(c.walk(0, 3, &[]).expect("clone"), vec![]);
    assert_eq!(c.getattr(3).expect("getattr").qid, root);
    assert_eq!(c.walk(0, 1, &["dir"]), Err(EBADF));
    c.clunk(3).expect("clunk");
    assert_eq!(c.getattr(3), Err(EBADF));
    assert_eq!(c.clunk(3), Err(EBADF));
    c.finish().expect("clean end");
}

#[test]
fn partial_walk_binds_nothing() {
    let t = tree();
    let mut c = Client::start(t.path(), rw());
    c.attach(0);
    assert_eq!(c.walk(0, 1, &["nope"]), Err(ENOENT));
    let qids = c.walk(0, 1, &["dir", "nope", "x"]).expect("partial");
    assert_eq!(qids.len(), 1);
    assert_eq!(c.getattr(1), Err(EBADF));
    // Sixteen names are fine, seventeen are a malformed request.
    let names =
        ["dir", "..", "dir", "..", "dir", "..", "dir", "..", "dir", "..", "dir", "..", "dir", "..", "dir", "sub"];
    assert_eq!(c.walk(0, 1, &names).expect("16").len(), 16);
    // The encoder refuses 17 names, so build the frame by hand.
    let mut body = vec![0, 0, 0, 0, 2, 0, 0, 0, 17, 0];
    for _ in 0..17 {
        body.extend_from_slice(&[2, 0, b'.', b'.']);
    }
    let mut frame = u32::try_from(body.len() + 7).expect("len").to_le_bytes().to_vec();
    frame.extend_from_slice(&[TWALK, 9, 0]);
    frame.extend_from_slice(&body);
    let reply = c.raw(&frame).expect("reply");
    assert_eq!(decode_r(&reply), Ok((9, Ok(Rlerror { ecode: EINVAL }.into()))));
    assert_eq!(c.getattr(2), Err(EBADF));
    c.finish().expect("clean end");
}

#[test]
fn lcreate_write_mkdir_setattr() {
    let t = tree();
    let mut c = Client::start(t.path(), rw());
    c.attach(0);
    c.walk(0, 1, &["dir"]).expect("walk");
    let r = c.call(Tlcreate { fid: 1, name: b"new.txt", flags: open_flags::RDWR, mode: 0o640, gid: 4321 });
    let Ok(Rmessage::Lcreate(r)) = r else { panic!("lcreate: {r:?}") };
    assert_eq!(r.qid.ty, qid_type::FILE);
    assert_eq!(c.write(1, 0, b"written through 9P").expect("write"), 18);
    assert_eq!(c.write(1, 8, b"THROUGH").expect("write"), 7);
    assert_eq!(c.read(1, 0, 100).expect("read back"), b"written THROUGH 9P");
    let path = t.path().join("dir/new.txt");
    assert_eq!(std::fs::read(&path).expect("read"), b"written THROUGH 9P");
    let meta = std::fs::metadata(&path).expect("stat");
    assert_eq!(meta.mode() & 0o7777, 0o640, "mode exactly as asked, whatever the umask");
    if rustix::process::geteuid().is_root() {
        assert_eq!((meta.uid(), meta.gid()), (0, 4321));
    }
    // Creating an existing name fails (always O_EXCL).
    c.walk(0, 2, &["dir"]).expect("walk");
    let r = c.call(Tlcreate { fid: 2, name: b"new.txt", flags: 0, mode: 0o600, gid: 0 }).map(drop);
    assert_eq!(r, Err(EEXIST));

    // mkdir with an odd mode; setattr mode, owner, size, times.
    let r = c.call(Tmkdir { dfid: 0, name: b"made", mode: 0o711, gid: 0 });
    let Ok(Rmessage::Mkdir(m)) = r else { panic!("mkdir: {r:?}") };
    assert_eq!(m.qid.ty, qid_type::DIR);
    assert_eq!(std::fs::metadata(t.path().join("made")).expect("stat").mode() & 0o7777, 0o711);
    c.walk(0, 3, &["dir", "file.txt"]).expect("walk");
    let set = Tsetattr {
        fid: 3,
        valid: setattr::MODE
            | setattr::SIZE
            | setattr::ATIME
            | setattr::ATIME_SET
            | setattr::MTIME
            | setattr::MTIME_SET,
        mode: 0o604,
        uid: 0,
        gid: 0,
        size: 5,
        atime_sec: 1_000_000,
        atime_nsec: 5,
        mtime_sec: 2_000_000,
        mtime_nsec: 7,
    };
    c.call(set).expect("setattr");
    let meta = std::fs::metadata(t.path().join("dir/file.txt")).expect("stat");
    assert_eq!(meta.mode() & 0o7777, 0o604);
    assert_eq!(meta.len(), 5);
    assert_eq!((meta.atime(), meta.atime_nsec()), (1_000_000, 5));
    assert_eq!((meta.mtime(), meta.mtime_nsec()), (2_000_000, 7));
    if rustix::process::geteuid().is_root() {
        let set = Tsetattr { fid: 3, valid: setattr::UID | setattr::GID, uid: 1234, gid: 5678, ..Default::default() };
        c.call(set).expect("chown");
        let meta = std::fs::metadata(t.path().join("dir/file.txt")).expect("stat");
        assert_eq!((meta.uid(), meta.gid()), (1234, 5678));
    }
    // Truncating a directory.
    let set = Tsetattr { fid: 0, valid: setattr::SIZE, ..Default::default() };
    assert_eq!(c.call(set).map(drop), Err(21));
    // lopen with TRUNC.
    c.lopen(3, open_flags::WRONLY | open_flags::TRUNC).expect("lopen trunc");
    assert_eq!(std::fs::metadata(t.path().join("dir/file.txt")).expect("stat").len(), 0);
    c.call(Tfsync { fid: 3, datasync: 0 }).expect("fsync");
    c.call(Tfsync { fid: 3, datasync: 1 }).expect("fdatasync");
    c.finish().expect("clean end");
}

#[test]
fn readdir_1000_entries_in_batches() {
    let t = TempDir::new("readdir");
    let mut want = BTreeSet::new();
    for i in 0..1000 {
        let name = format!("entry-{i:04}-{}", "x".repeat(i % 40));
        std::fs::write(t.path().join(&name), b"").expect("create");
        want.insert(name.into_bytes());
    }
    std::fs::create_dir(t.path().join("a-dir")).expect("mkdir");
    want.insert(b"a-dir".to_vec());
    let mut c = Client::start(t.path(), rw());
    c.attach(0);
    c.walk(0, 1, &[]).expect("clone");
    c.lopen(1, open_flags::RDONLY | open_flags::DIRECTORY).expect("open dir");
    for count in [512u32, 4096, 1 << 20] {
        let (entries, calls) = c.readdir_all(1, count);
        let names: BTreeSet<Vec<u8>> =
            entries.iter().map(|e| e.0.clone()).filter(|n| n != b"." && n != b"..").collect();
        assert_eq!(names, want, "count {count}");
        assert_eq!(entries.len(), 1001 + 2, "each entry once, with . and ..");
        if count == 1 << 20 {
            assert_eq!(calls, 2, "one batch plus the empty end");
        } else {
            assert!(calls > 2);
        }
        let dir = entries.iter().find(|e| e.0 == b"a-dir").expect("a-dir");
        assert_eq!((dir.1.ty, dir.2), (qid_type::DIR, 4));
        let file = entries.iter().find(|e| e.0 == b"entry-0001-x").expect("file");
        assert_eq!(file.1.path, std::fs::metadata(t.path().join("entry-0001-x")).expect("stat").ino());
        assert_eq!(file.2, 8);
    }
    // Too small for one entry; not open; not a directory.
    assert_eq!(c.call(Treaddir { fid: 1, offset: 0, count: 10 }).map(drop), Err(EINVAL));
    assert_eq!(c.call(Treaddir { fid: 0, offset: 0, count: 4096 }).map(drop), Err(EBADF));
    c.finish().expect("clean end");
}

#[test]
fn symlink_readlink_rename_unlink_remove_link_mknod() {
    let t = tree();
    let mut c = Client::start(t.path(), rw());
    c.attach(0);
    let r = c.call(Tsymlink { fid: 0, name: b"abs", symtgt: b"/etc/passwd", gid: 0 });
    let Ok(Rmessage::Symlink(s)) = r else { panic!("symlink: {r:?}") };
    assert_eq!(s.qid.ty, qid_type::SYMLINK);
    assert_eq!(std::fs::read_link(t.path().join("abs")).expect("readlink").to_str(), Some("/etc/passwd"));
    c.walk(0, 1, &["abs"]).expect("walk to symlink");
    assert_eq!(c.readlink(1).expect("readlink"), b"/etc/passwd");
    c.walk(0, 2, &["link"]).expect("walk");
    assert_eq!(c.readlink(2).expect("readlink"), b"dir/file.txt");
    assert_eq!(c.readlink(0), Err(EINVAL));

    // Trename moves the fid's file; the fid follows it.
    c.walk(0, 3, &["dir", "file.txt"]).expect("walk");
    c.call(Trename { fid: 3, dfid: 0, name: b"moved.txt" }).expect("rename");
    assert!(t.path().join("moved.txt").exists() && !t.path().join("dir/file.txt").exists());
    c.lopen(3, open_flags::RDONLY).expect("open after rename");
    assert_eq!(c.read(3, 0, 100).expect("read"), b"hello, gofer");
    // Trenameat, then a fid walked before the rename still opens.
    c.walk(0, 4, &["moved.txt"]).expect("walk");
    c.walk(0, 5, &["dir"]).expect("walk");
    c.call(Trenameat { olddirfid: 0, oldname: b"moved.txt", newdirfid: 5, newname: b"back.txt" }).expect("renameat");
    assert!(t.path().join("dir/back.txt").exists());
    c.lopen(4, open_flags::RDONLY).expect("open after renameat");
    // Hard link, then unlink both names.
    c.call(Tlink { dfid: 0, fid: 4, name: b"hard" }).expect("link");
    assert_eq!(std::fs::metadata(t.path().join("hard")).expect("stat").nlink(), 2);
    assert_eq!(c.call(Tlink { dfid: 0, fid: 5, name: b"dirlink" }).map(drop), Err(EPERM));
    c.call(Tunlinkat { dirfid: 0, name: b"hard", flags: 0 }).expect("unlink");
    assert!(!t.path().join("hard").exists());
    assert_eq!(c.call(Tunlinkat { dirfid: 0, name: b"dir", flags: AT_REMOVEDIR }).map(drop), Err(ENOTEMPTY));
    c.call(Tunlinkat { dirfid: 5, name: b"sub", flags: AT_REMOVEDIR }).expect("rmdir");
    assert!(!t.path().join("dir/sub").exists());
    assert_eq!(c.call(Tunlinkat { dirfid: 5, name: b"x", flags: 0x100 }).map(drop), Err(EINVAL));
    // Tremove clunks the fid.
    c.walk(0, 6, &["dir", "back.txt"]).expect("walk");
    c.call(Tremove { fid: 6 }).expect("remove");
    assert!(!t.path().join("dir/back.txt").exists());
    assert_eq!(c.getattr(6), Err(EBADF));
    // mknod: regular files and fifos only.
    c.call(Tmknod { dfid: 0, name: b"fifo", mode: 0o010_644, major: 0, minor: 0, gid: 0 }).expect("mkfifo");
    assert!(std::fs::symlink_metadata(t.path().join("fifo")).expect("stat").file_type().is_fifo_like());
    c.call(Tmknod { dfid: 0, name: b"plain", mode: 0o600, major: 0, minor: 0, gid: 0 }).expect("mknod reg");
    let chr = Tmknod { dfid: 0, name: b"null", mode: 0o020_666, major: 1, minor: 3, gid: 0 };
    assert_eq!(c.call(chr).map(drop), Err(EPERM));
    // The fifo is never opened by the gofer.
    c.walk(0, 7, &["fifo"]).expect("walk");
    assert_eq!(c.lopen(7, open_flags::RDONLY), Err(EPERM));
    c.finish().expect("clean end");
}

trait FifoLike {
    fn is_fifo_like(&self) -> bool;
}

impl FifoLike for std::fs::FileType {
    fn is_fifo_like(&self) -> bool {
        std::os::unix::fs::FileTypeExt::is_fifo(self)
    }
}

#[test]
fn read_only_refuses_every_change() {
    let t = tree();
    let before = std::fs::read(t.path().join("dir/file.txt")).expect("read");
    let mut c = Client::start(t.path(), GoferOptions { readonly: true, ..GoferOptions::default() });
    c.attach(0);
    c.walk(0, 1, &["dir", "file.txt"]).expect("walk");
    c.walk(0, 2, &["dir"]).expect("walk");
    for flags in [open_flags::WRONLY, open_flags::RDWR, open_flags::RDONLY | open_flags::TRUNC] {
        assert_eq!(c.lopen(1, flags), Err(EROFS));
    }
    let refused: Vec<Tmessage<'_>> = vec![
        Tlcreate { fid: 2, name: b"n", flags: 0, mode: 0o644, gid: 0 }.into(),
        Tmkdir { dfid: 0, name: b"n", mode: 0o755, gid: 0 }.into(),
        Tsymlink { fid: 0, name: b"n", symtgt: b"x", gid: 0 }.into(),
        Tmknod { dfid: 0, name: b"n", mode: 0o600, major: 0, minor: 0, gid: 0 }.into(),
        Tlink { dfid: 0, fid: 1, name: b"n" }.into(),
        Trename { fid: 1, dfid: 0, name: b"n" }.into(),
        Trenameat { olddirfid: 2, oldname: b"file.txt", newdirfid: 0, newname: b"n" }.into(),
        Tunlinkat { dirfid: 2, name: b"file.txt", flags: 0 }.into(),
        Tsetattr { fid: 1, valid: setattr::SIZE, ..Default::default() }.into(),
        Tsetattr { fid: 1, valid: setattr::MODE, mode: 0o777, ..Default::default() }.into(),
    ];
    for m in refused {
        let name = m.name();
        assert_eq!(c.call(m).map(drop), Err(EROFS), "{name}");
    }
    // Reads still work; remove refuses but clunks.
    c.lopen(1, open_flags::RDONLY).expect("read-only open");
    assert_eq!(c.read(1, 0, 100).expect("read"), before);
    assert_eq!(c.write(1, 0, b"x"), Err(EROFS));
    assert_eq!(c.call(Tremove { fid: 1 }).map(drop), Err(EROFS));
    assert_eq!(c.getattr(1), Err(EBADF));
    assert_eq!(std::fs::read(t.path().join("dir/file.txt")).expect("read"), before);
    assert!(!t.path().join("n").exists());
    c.finish().expect("clean end");
}

#[test]
fn locks_statfs_xattr_flush_auth() {
    let t = tree();
    let mut c = Client::start(t.path(), rw());
    c.attach(0);
    c.walk(0, 1, &["dir", "file.txt"]).expect("walk");
    c.walk(0, 2, &["dir", "file.txt"]).expect("walk");
    c.lopen(1, open_flags::RDWR).expect("open");
    c.lopen(2, open_flags::RDWR).expect("open");
    let lock = |fid, ty| Tlock { fid, ty, flags: 0, start: 0, length: 10, proc_id: 1, client_id: b"t" };
    let Ok(Rmessage::Lock(r)) = c.call(lock(1, lock::TYPE_WRLCK)) else { panic!("lock") };
    assert_eq!(r.status, lock::SUCCESS);
    let Ok(Rmessage::Lock(r)) = c.call(lock(2, lock::TYPE_RDLCK)) else { panic!("lock") };
    assert_eq!(r.status, lock::BLOCKED);
    let get = Tgetlock { fid: 2, ty: lock::TYPE_RDLCK, start: 0, length: 0, proc_id: 2, client_id: b"u" };
    let Ok(Rmessage::Getlock(r)) = c.call(get.clone()) else { panic!("getlock") };
    assert_eq!((r.ty, r.start, r.length), (lock::TYPE_WRLCK, 0, 10));
    let Ok(Rmessage::Lock(r)) = c.call(lock(1, lock::TYPE_UNLCK)) else { panic!("unlock") };
    assert_eq!(r.status, lock::SUCCESS);
    let Ok(Rmessage::Getlock(r)) = c.call(get) else { panic!("getlock") };
    assert_eq!(r.ty, lock::TYPE_UNLCK);
    assert_eq!(c.call(Tlock { ty: 9, ..lock(1, 0) }).map(drop), Err(EINVAL));

    let Ok(Rmessage::Statfs(s)) = c.call(Tstatfs { fid: 0 }) else { panic!("statfs") };
    let vfs = rustix::fs::statvfs(t.path()).expect("statvfs");
    assert_eq!((s.blocks, s.files), (vfs.f_blocks, vfs.f_files));
    assert!(s.namelen >= 255);

    assert_eq!(c.call(Txattrwalk { fid: 1, newfid: 9, name: b"user.x" }).map(drop), Err(EOPNOTSUPP));
    assert_eq!(c.call(Txattrcreate { fid: 1, name: b"user.x", attr_size: 1, flags: 0 }).map(drop), Err(EOPNOTSUPP));
    assert!(matches!(c.call(Tflush { oldtag: 1 }), Ok(Rmessage::Flush(_))));
    assert_eq!(c.call(Tauth { afid: 5, uname: b"", aname: b"", n_uname: 0 }).map(drop), Err(EOPNOTSUPP));
    assert_eq!(c.call(Tattach { fid: 8, afid: 5, uname: b"", aname: b"", n_uname: 0 }).map(drop), Err(EINVAL));
    c.finish().expect("clean end");
}

#[test]
fn version_negotiation_resets_fids() {
    let t = tree();
    let mut c = Client::start(t.path(), rw());
    c.attach(0);
    let Ok(Rmessage::Version(r)) = c.call(Tversion { msize: 1 << 30, version: b"9P2000" }) else { panic!() };
    assert_eq!((r.msize, r.version), (gofer::DEFAULT_MAX_MSIZE, VERSION_UNKNOWN));
    let Ok(Rmessage::Version(r)) = c.call(Tversion { msize: 100, version: b"9P2000.L" }) else { panic!() };
    assert_eq!((r.msize, r.version), (gofer::MIN_MSIZE, VERSION_9P2000L));
    assert_eq!(c.getattr(0), Err(EBADF), "Tversion clunks every fid");
    // Reads are bounded by msize.
    c.attach(0);
    std::fs::write(t.path().join("big"), vec![7u8; 10_000]).expect("write");
    c.walk(0, 1, &["big"]).expect("walk");
    c.lopen(1, open_flags::RDONLY).expect("open");
    assert_eq!(c.read(1, 0, 10_000).expect("read").len(), 4096 - 24);
    c.finish().expect("clean end");
}

#[test]
fn malformed_requests_get_rlerror_and_the_connection_survives() {
    let t = tree();
    let mut c = Client::start(t.path(), rw());
    c.attach(0);
    // A Tclunk with one byte of body: Rlerror(EINVAL) under tag 0x4242.
    let reply = c.raw(&[8, 0, 0, 0, TCLUNK, 0x42, 0x42, 0]).expect("reply");
    assert_eq!(decode_r(&reply), Ok((0x4242, Ok(Rlerror { ecode: EINVAL }.into()))));
    // An unknown type, and an R message sent as a request.
    let reply = c.raw(&[7, 0, 0, 0, 200, 1, 0]).expect("reply");
    assert_eq!(decode_r(&reply), Ok((1, Ok(Rlerror { ecode: EOPNOTSUPP }.into()))));
    let reply = c.raw(&[7, 0, 0, 0, RCLUNK, 2, 0]).expect("reply");
    assert_eq!(decode_r(&reply), Ok((2, Ok(Rlerror { ecode: EOPNOTSUPP }.into()))));
    // Names with NUL, '/', '.' and '..' where not walking.
    let reply = c.raw(&[22, 0, 0, 0, TWALK, 3, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 3, 0, b'a', 0, b'b']);
    assert_eq!(decode_r(&reply.expect("reply")), Ok((3, Ok(Rlerror { ecode: EINVAL }.into()))));
    assert_eq!(c.walk(0, 1, &["dir/file.txt"]), Err(EINVAL));
    assert_eq!(c.walk(0, 1, &["."]), Err(EINVAL));
    assert_eq!(c.walk(0, 1, &[""]), Err(EINVAL));
    assert_eq!(c.call(Tmkdir { dfid: 0, name: b"..", mode: 0o755, gid: 0 }).map(drop), Err(EINVAL));
    // Still serving.
    assert_eq!(c.walk(0, 1, &["dir"]).expect("walk").len(), 1);
    // A frame with an impossible size ends the connection.
    c.sock.write_all_bytes(&[3, 0, 0, 0]);
    assert!(matches!(c.finish(), Err(gofer::GoferError::Frame(_))));
}

#[test]
fn oversized_frame_closes_connection() {
    let t = tree();
    let mut c = Client::start(t.path(), rw());
    c.sock.write_all_bytes(&(common::MSIZE + 1).to_le_bytes());
    assert!(matches!(c.finish(), Err(gofer::GoferError::Frame(FrameError::TooLarge { .. }))));
}

trait WriteAll {
    fn write_all_bytes(&mut self, b: &[u8]);
}

impl WriteAll for std::os::unix::net::UnixStream {
    fn write_all_bytes(&mut self, b: &[u8]) {
        std::io::Write::write_all(self, b).expect("write");
    }
}

#[test]
fn permissions_of_the_tree_are_untouched_by_reads() {
    let t = tree();
    let p = t.path().join("dir/file.txt");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400)).expect("chmod");
    let mut c = Client::start(t.path(), rw());
    c.attach(0);
    c.walk(0, 1, &["dir", "file.txt"]).expect("walk");
    c.getattr(1).expect("getattr");
    c.lopen(1, open_flags::RDONLY).expect("open");
    assert_eq!(std::fs::metadata(&p).expect("stat").mode() & 0o7777, 0o400);
    c.finish().expect("clean end");
}

#[test]
fn fids_per_connection_are_capped() {
    let dir = TempDir::new("fidcap");
    let mut c = Client::start(dir.path(), GoferOptions { readonly: true, ..GoferOptions::default() });
    c.attach(0);
    let cap = u32::try_from(gofer::MAX_FIDS).expect("fits");
    for fid in 1..cap {
        c.walk(0, fid, &[]).expect("clone walk within the cap");
    }
    assert_eq!(c.walk(0, cap, &[]), Err(libc::EMFILE as u32));
    // Freeing one makes room again.
    c.clunk(1).expect("clunk");
    c.walk(0, cap, &[]).expect("room after a clunk");
}

#[test]
fn multi_name_walk_stops_at_a_symlink_and_confines_dotdot() {
    let t = tree();
    std::fs::create_dir_all(t.path().join("dir/sub/a/b/c")).expect("mkdir");
    std::os::unix::fs::symlink("sub", t.path().join("dir/rel")).expect("symlink");
    std::os::unix::fs::symlink("/etc", t.path().join("dir/sub/esc")).expect("symlink");
    let mut c = Client::start(t.path(), rw());
    let root = c.attach(0);
    // Plain names: one qid each, the new fid bound to the last.
    let qids = c.walk(0, 1, &["dir", "sub", "a", "b", "c"]).expect("deep walk");
    assert_eq!(qids.len(), 5);
    assert!(qids.iter().all(|q| q.ty == qid_type::DIR));
    let meta = std::fs::metadata(t.path().join("dir/sub/a/b/c")).expect("stat");
    assert_eq!(c.getattr(1).expect("getattr").qid.path, meta.ino());
    // A symlink in the middle: the qids up to and including the symlink,
    // nothing bound, and the link is never followed on the host (the host
    // has /etc/passwd; "sub/a" exists behind "rel").
    let qids = c.walk(0, 2, &["dir", "rel", "a", "b"]).expect("partial at symlink");
    assert_eq!(qids.iter().map(|q| q.ty).collect::<Vec<_>>(), [qid_type::DIR, qid_type::SYMLINK]);
    assert_eq!(c.getattr(2), Err(EBADF));
    let qids = c.walk(0, 2, &["dir", "sub", "esc", "passwd"]).expect("partial at absolute symlink");
    assert_eq!(qids.len(), 3);
    assert_eq!(qids[2].ty, qid_type::SYMLINK);
    assert_eq!(c.getattr(2), Err(EBADF));
    // A symlink as the last name is walked to, not through.
    let qids = c.walk(0, 2, &["dir", "sub", "esc"]).expect("walk to symlink");
    assert_eq!(qids[2].ty, qid_type::SYMLINK);
    assert_eq!(c.readlink(2).expect("readlink"), b"/etc");
    // ".." goes back the way the walk came and stops at the served root.
    let qids = c.walk(0, 3, &["dir", "sub", "..", "file.txt"]).expect("walk with ..");
    assert_eq!(qids.len(), 4);
    assert_eq!(qids[2], qids[0]);
    assert_eq!(qids[3].ty, qid_type::FILE);
    let qids = c.walk(0, 4, &["dir", "..", "..", "..", "dir"]).expect("walk above the root");
    assert_eq!(qids[1], root);
    assert_eq!(qids[2], root);
    assert_eq!(qids[3], root);
    // A missing name in the middle: the qids before it, nothing bound.
    let qids = c.walk(0, 5, &["dir", "sub", "nope", "a"]).expect("partial");
    assert_eq!(qids.len(), 2);
    assert_eq!(c.getattr(5), Err(EBADF));
    c.finish().expect("clean end");
}

#[test]
fn large_reads_are_spliced_byte_exact() {
    let t = tree();
    let body: Vec<u8> = (0..3_000_001u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13).to_le_bytes()[0]).collect();
    std::fs::write(t.path().join("big"), &body).expect("write");
    let mut c = Client::start(t.path(), rw());
    c.attach(0);
    c.walk(0, 1, &["big"]).expect("walk");
    c.lopen(1, open_flags::RDONLY).expect("lopen");
    // Page-aligned and unaligned offsets, counts above the msize, the tail.
    let max = usize::try_from(common::MSIZE - IOHDRSZ).expect("max");
    for (off, count) in
        [(0usize, 1usize << 20), (4095, 1 << 20), (12_345, 70_000), (2_999_000, 1 << 20), (3_000_001, 10)]
    {
        let got = c.read(1, off as u64, u32::try_from(count).expect("count")).expect("read");
        let end = (off + count.min(max)).min(body.len());
        assert!(got == body[off..end], "read at {off} of {count}: {} bytes", got.len());
    }
    // A directory fid falls back to the ordinary path and its error.
    c.walk(0, 2, &["dir"]).expect("walk");
    c.lopen(2, open_flags::RDONLY).expect("lopen dir");
    assert!(c.read(2, 0, 4096).is_err());
    c.finish().expect("clean end");
}
