//! `ringfence gofer` as the runtime starts it (the real binary, a
//! socketpair, fd 3): it serves 9P, and the process is confined to the
//! served tree (mount namespace, capabilities, seccomp) and killed with its
//! owner.

use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use p9::{open_flags, Rmessage, Tattach, Tclunk, Tlopen, Tmessage, Tread, Tversion, Twalk, Twrite, NOFID};
use ringfence::gofer::{Gofer, GoferSpec, Launch};

const EROFS: u32 = 30;

struct Tree(PathBuf);

impl Tree {
    fn new(what: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("rf-gofer-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("dir")).expect("mkdir");
        std::fs::write(dir.join("dir/file.txt"), b"served by a confined gofer").expect("write");
        Self(dir)
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start(root: &Path, readonly: bool) -> (Gofer, Client) {
    let spec = GoferSpec {
        launch: Launch::Exec { exe: env!("CARGO_BIN_EXE_ringfence").into(), global_args: Vec::new() },
        root: root.to_path_buf(),
        readonly,
        trees: Vec::new(),
    };
    let (gofer, sock) = Gofer::start(&spec).expect("start the gofer");
    let mut c = Client { sock, tag: 0, buf: Vec::new() };
    match c.call(Tversion { msize: 1 << 20, version: p9::VERSION_9P2000L }) {
        Ok(Rmessage::Version(_)) => {}
        other => panic!("version: {other:?}"),
    }
    (gofer, c)
}

struct Client {
    sock: UnixStream,
    tag: u16,
    buf: Vec<u8>,
}

impl Client {
    fn call<'m>(&mut self, msg: impl Into<Tmessage<'m>>) -> Result<Rmessage<'_>, u32> {
        self.tag += 1;
        let mut frame = Vec::new();
        msg.into().encode_to_vec(self.tag, &mut frame).expect("encode");
        self.sock.write_all(&frame).expect("send");
        let mut size = [0u8; 4];
        self.sock.read_exact(&mut size).expect("reply size (did the gofer die?)");
        self.buf = vec![0u8; usize::try_from(u32::from_le_bytes(size)).expect("len")];
        self.buf[..4].copy_from_slice(&size);
        self.sock.read_exact(&mut self.buf[4..]).expect("reply");
        let (tag, reply) = p9::decode_r(&self.buf).expect("frame");
        assert_eq!(tag, self.tag);
        match reply.expect("body") {
            Rmessage::Lerror(e) => Err(e.ecode),
            r => Ok(r),
        }
    }

    /// Attaches fid 0, walks fid 1 to dir/file.txt and opens it.
    fn open_file(&mut self, flags: u32) -> Result<(), u32> {
        self.call(Tattach { fid: 0, afid: NOFID, uname: b"root", aname: b"", n_uname: 0 })?;
        self.call(Twalk { fid: 0, newfid: 1, wnames: vec![b"dir", b"file.txt"] })?;
        self.call(Tlopen { fid: 1, flags }).map(drop)
    }
}

fn status_field(pid: u32, field: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let line = status.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("{field} in {status}"));
    line[field.len()..].trim().to_owned()
}

#[test]
fn confined_gofer_serves_attach_walk_read() {
    let tree = Tree::new("serve");
    let (_gofer, mut c) = start(&tree.0, false);
    c.open_file(open_flags::RDWR).expect("attach/walk/open");
    match c.call(Tread { fid: 1, offset: 0, count: 4096 }) {
        Ok(Rmessage::Read(r)) => assert_eq!(r.data, b"served by a confined gofer"),
        other => panic!("read: {other:?}"),
    }
    match c.call(Twrite { fid: 1, offset: 0, data: b"SERVED" }) {
        Ok(Rmessage::Write(r)) => assert_eq!(r.count, 6),
        other => panic!("write: {other:?}"),
    }
    c.call(Tclunk { fid: 1 }).expect("clunk");
    // '..' at the root stays at the root.
    match c.call(Twalk { fid: 0, newfid: 2, wnames: vec![b"..", b"..", b"dir"] }) {
        Ok(Rmessage::Walk(r)) => assert_eq!(r.wqids.len(), 3),
        other => panic!("walk: {other:?}"),
    }
    assert_eq!(std::fs::read(tree.0.join("dir/file.txt")).expect("read back"), b"SERVED by a confined gofer");
}

#[test]
fn gofer_sees_only_the_served_tree() {
    let tree = Tree::new("view");
    let (gofer, mut c) = start(&tree.0, false);
    c.open_file(open_flags::RDONLY).expect("serving");
    let pid = gofer.pid();
    // Its root is the served directory itself...
    let root = std::fs::metadata(format!("/proc/{pid}/root")).expect("stat its root");
    let dir = std::fs::metadata(&tree.0).expect("stat the tree");
    assert_eq!((root.dev(), root.ino()), (dir.dev(), dir.ino()), "the gofer's / is not {}", tree.0.display());
    assert!(Path::new(&format!("/proc/{pid}/root/dir/file.txt")).exists());
    assert!(!Path::new(&format!("/proc/{pid}/root/etc")).exists(), "the host's /etc is visible to the gofer");
    // ...and its mount table holds that one mount, nodev, nosuid and noexec.
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).expect("mountinfo");
    let mounts: Vec<&str> = mountinfo.lines().collect();
    assert_eq!(mounts.len(), 1, "{mountinfo}");
    let fields: Vec<&str> = mounts[0].split_whitespace().collect();
    assert_eq!(fields[4], "/", "{mountinfo}");
    for flag in ["rw", "nodev", "nosuid", "noexec"] {
        assert!(fields[5].split(',').any(|f| f == flag), "{flag} missing: {mountinfo}");
    }
    // CHOWN, DAC_OVERRIDE, FOWNER and FSETID, in every set; nothing to gain.
    for set in ["CapEff:", "CapPrm:", "CapBnd:"] {
        assert_eq!(status_field(pid, set), "000000000000001b", "{set}");
    }
    assert_eq!(status_field(pid, "CapAmb:"), "0000000000000000");
    assert_eq!(status_field(pid, "NoNewPrivs:"), "1");
    assert_eq!(status_field(pid, "Seccomp:"), "2", "no seccomp filter");
}

#[test]
fn readonly_gofer_has_a_readonly_mount() {
    let tree = Tree::new("ro");
    let (gofer, mut c) = start(&tree.0, true);
    assert_eq!(c.open_file(open_flags::RDWR), Err(EROFS));
    c.call(Tlopen { fid: 1, flags: open_flags::RDONLY }).expect("open read-only");
    match c.call(Tread { fid: 1, offset: 0, count: 6 }) {
        Ok(Rmessage::Read(r)) => assert_eq!(r.data, b"served"),
        other => panic!("read: {other:?}"),
    }
    let mountinfo = std::fs::read_to_string(format!("/proc/{}/mountinfo", gofer.pid())).expect("mountinfo");
    let opts = mountinfo.split_whitespace().nth(5).unwrap_or_default();
    assert!(opts.split(',').any(|f| f == "ro"), "{mountinfo}");
}

#[test]
fn dropping_the_handle_kills_and_reaps_the_gofer() {
    let tree = Tree::new("drop");
    let (gofer, c) = start(&tree.0, false);
    let pid = gofer.pid();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    drop(gofer);
    // Reaped, not a zombie: the pid is gone (pids are not reused this fast).
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "gofer {pid} still exists after drop");
    drop(c);
}

#[test]
fn missing_root_fails_at_startup() {
    let spec = GoferSpec {
        launch: Launch::Exec { exe: env!("CARGO_BIN_EXE_ringfence").into(), global_args: Vec::new() },
        root: "/nonexistent-rf-gofer-root".into(),
        readonly: true,
        trees: Vec::new(),
    };
    let err = Gofer::start(&spec).expect_err("a gofer without a root");
    assert!(err.to_string().contains("exited during start-up"), "{err}");
}

#[test]
fn extra_trees_are_attached_by_name_each_confined() {
    let root = Tree::new("trees-root");
    let rw = Tree::new("trees-rw");
    let ro = Tree::new("trees-ro");
    let tree = |name: &str, t: &Tree, readonly| gofer::TreeSpec { name: name.into(), source: t.0.clone(), readonly };
    let spec = GoferSpec {
        launch: Launch::Exec { exe: env!("CARGO_BIN_EXE_ringfence").into(), global_args: Vec::new() },
        root: root.0.clone(),
        readonly: true,
        trees: vec![tree("m1", &rw, false), tree("m2", &ro, true)],
    };
    let (gofer, sock) = Gofer::start(&spec).expect("start the gofer");
    let mut c = Client { sock, tag: 0, buf: Vec::new() };
    assert!(matches!(c.call(Tversion { msize: 1 << 20, version: p9::VERSION_9P2000L }), Ok(Rmessage::Version(_))));
    let attach = |fid, aname| Tattach { fid, afid: NOFID, uname: b"root", aname, n_uname: 0 };
    assert_eq!(c.call(attach(0, b"nope")).map(drop), Err(2), "unknown aname: ENOENT");
    c.call(attach(0, b"")).expect("root");
    c.call(attach(1, b"m1")).expect("rw tree");
    c.call(attach(2, b"m2")).expect("ro tree");
    // The read-only root does not make the rw tree read-only, and the other
    // way round: each tree's own mount decides.
    c.call(Twalk { fid: 0, newfid: 10, wnames: vec![b"dir", b"file.txt"] }).expect("walk root");
    assert_eq!(c.call(Tlopen { fid: 10, flags: open_flags::RDWR }).map(drop), Err(EROFS));
    c.call(Twalk { fid: 2, newfid: 11, wnames: vec![b"dir", b"file.txt"] }).expect("walk ro");
    assert_eq!(c.call(Tlopen { fid: 11, flags: open_flags::RDWR }).map(drop), Err(EROFS));
    // `..` at a tree's top stays there.
    c.call(Twalk { fid: 1, newfid: 12, wnames: vec![b"..", b"..", b"dir", b"file.txt"] }).expect("walk rw");
    c.call(Tlopen { fid: 12, flags: open_flags::RDWR }).expect("open rw");
    match c.call(Twrite { fid: 12, offset: 0, data: b"WRITTEN" }) {
        Ok(Rmessage::Write(r)) => assert_eq!(r.count, 7),
        other => panic!("write: {other:?}"),
    }
    assert_eq!(std::fs::read(rw.0.join("dir/file.txt")).expect("read back"), b"WRITTENby a confined gofer");
    // The trees are reachable by descriptor only: the gofer's mount table
    // still holds just its root.
    let mountinfo = std::fs::read_to_string(format!("/proc/{}/mountinfo", gofer.pid())).expect("mountinfo");
    assert_eq!(mountinfo.lines().count(), 1, "{mountinfo}");
}
