//! A hostile client against the confinement: symlinks out of the tree
//! (absolute and relative), `..` chains at the root, symlinked directories,
//! names with `/`, and a file swapped for a symlink between walk and open.
//! Files next to the served root must stay unread and unchanged.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::{Client, TempDir};
use gofer::GoferOptions;
use p9::*;

const ENOENT: u32 = 2;
const ENOTDIR: u32 = 20;
const EINVAL: u32 = 22;
const ELOOP: u32 = 40;
const EEXIST: u32 = 17;
const ESTALE: u32 = 116;

/// base/outside/{secret,victim}.txt next to base/root, the served tree,
/// which holds symlinks pointing out of it.
struct Fixture {
    _base: TempDir,
    root: std::path::PathBuf,
    outside: std::path::PathBuf,
}

fn fixture() -> Fixture {
    let base = TempDir::new("escape");
    let root = base.path().join("root");
    let outside = base.path().join("outside");
    std::fs::create_dir_all(root.join("dir/deeper")).expect("mkdir");
    std::fs::create_dir_all(&outside).expect("mkdir");
    std::fs::write(outside.join("secret.txt"), b"top secret").expect("write");
    std::fs::write(outside.join("victim.txt"), b"unchanged").expect("write");
    std::fs::write(root.join("dir/file.txt"), b"inside").expect("write");
    let link = |target: &str, name: &str| std::os::unix::fs::symlink(target, root.join(name)).expect("symlink");
    link("/etc", "etc_link");
    link("/", "slash");
    link("../../..", "up_link");
    link("../outside", "out_link");
    link("../outside/secret.txt", "secret_link");
    link("../outside/victim.txt", "victim_link");
    link("dir", "dirlink");
    std::os::unix::fs::symlink("../../outside", root.join("dir/out2")).expect("symlink");
    // Old atimes (before the mtimes) so that any read would update them
    // even under relatime.
    for f in ["secret.txt", "victim.txt"] {
        let times = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec { tv_sec: 1000, tv_nsec: 0 },
            last_modification: rustix::fs::Timespec { tv_sec: 2000, tv_nsec: 0 },
        };
        rustix::fs::utimensat(rustix::fs::CWD, outside.join(f), &times, rustix::fs::AtFlags::empty()).expect("utimes");
    }
    Fixture { _base: base, root, outside }
}

/// Contents, mode, size and times of the files outside the tree.
fn snapshot(outside: &Path) -> Vec<(Vec<u8>, u32, i64, i64, i64)> {
    let mut v = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(outside).expect("readdir").map(|e| e.expect("entry").path()).collect();
    names.sort();
    for p in names {
        let m = std::fs::symlink_metadata(&p).expect("stat");
        // O_NOATIME: the snapshot itself must not touch the atimes it checks.
        let fd =
            rustix::fs::open(&p, rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NOATIME, rustix::fs::Mode::empty())
                .expect("open");
        let mut content = Vec::new();
        std::io::Read::read_to_end(&mut std::fs::File::from(fd), &mut content).expect("read");
        v.push((content, m.mode(), m.atime(), m.mtime(), m.ctime()));
    }
    v
}

#[test]
fn symlinks_are_returned_never_followed() {
    let f = fixture();
    let before = snapshot(&f.outside);
    let mut c = Client::start(&f.root, GoferOptions::default());
    c.attach(0);
    for (name, target) in [
        ("etc_link", &b"/etc"[..]),
        ("slash", b"/"),
        ("up_link", b"../../.."),
        ("out_link", b"../outside"),
        ("secret_link", b"../outside/secret.txt"),
    ] {
        let qids = c.walk(0, 1, &[name]).expect("walk to the link itself");
        assert_eq!(qids[0].ty, qid_type::SYMLINK, "{name}");
        assert_eq!(c.readlink(1).expect("readlink"), target);
        // Opening it is ELOOP, never the target.
        assert_eq!(c.lopen(1, open_flags::RDONLY), Err(ELOOP), "{name}");
        assert_eq!(c.lopen(1, open_flags::RDWR | open_flags::TRUNC), Err(ELOOP), "{name}");
        // getattr describes the link, not the target.
        let a = c.getattr(1).expect("getattr");
        assert_eq!(a.mode & 0o170_000, 0o120_000, "{name}");
        assert_eq!(a.size, u64::try_from(target.len()).expect("len"));
        c.clunk(1).expect("clunk");
    }
    // Walking through a symlink stops at it: a partial walk, nothing bound.
    for path in [
        &["etc_link", "passwd"][..],
        &["slash", "etc", "passwd"],
        &["up_link", "etc"],
        &["out_link", "secret.txt"],
        &["dirlink", "file.txt"],
        &["dir", "out2", "secret.txt"],
    ] {
        let qids = c.walk(0, 1, path).expect("partial walk");
        assert_eq!(qids.last().map(|q| q.ty), Some(qid_type::SYMLINK), "{path:?}");
        assert!(qids.len() < path.len(), "{path:?}");
        assert_eq!(c.getattr(1).map(drop), Err(9), "{path:?}: newfid must not be bound");
    }
    // From a fid on the symlink itself, the next component is ENOTDIR.
    c.walk(0, 2, &["out_link"]).expect("walk");
    assert_eq!(c.walk(2, 3, &["secret.txt"]), Err(ENOTDIR));
    assert_eq!(c.walk(2, 3, &[".."]), Err(ENOTDIR));
    // Creating under a symlink to a directory is refused.
    let r = c.call(Tlcreate { fid: 2, name: b"planted", flags: open_flags::RDWR, mode: 0o644, gid: 0 });
    assert_eq!(r.map(drop), Err(ENOTDIR));
    let r = c.call(Tmkdir { dfid: 2, name: b"planted", mode: 0o755, gid: 0 });
    assert_eq!(r.map(drop), Err(ENOTDIR));
    // Creating a name that is a symlink never writes through it.
    let r = c.call(Tlcreate { fid: 0, name: b"victim_link", flags: open_flags::RDWR, mode: 0o644, gid: 0 });
    assert_eq!(r.map(drop), Err(EEXIST));
    let r = c.call(Tmknod { dfid: 0, name: b"victim_link", mode: 0o600, major: 0, minor: 0, gid: 0 });
    assert_eq!(r.map(drop), Err(EEXIST));
    // setattr on a symlink changes the link (or nothing), never the target.
    c.walk(0, 4, &["victim_link"]).expect("walk");
    let size = Tsetattr { fid: 4, valid: setattr::SIZE, size: 0, ..Default::default() };
    assert_eq!(c.call(size).map(drop), Err(EINVAL));
    let mode = Tsetattr { fid: 4, valid: setattr::MODE, mode: 0o777, ..Default::default() };
    assert!(c.call(mode).is_err(), "Linux cannot chmod a symlink itself");
    let times = Tsetattr {
        fid: 4,
        valid: setattr::ATIME | setattr::ATIME_SET | setattr::MTIME | setattr::MTIME_SET,
        atime_sec: 5,
        mtime_sec: 6,
        ..Default::default()
    };
    c.call(times).expect("utimes on the link itself");
    if rustix::process::geteuid().is_root() {
        let own = Tsetattr { fid: 4, valid: setattr::UID | setattr::GID, uid: 777, gid: 777, ..Default::default() };
        c.call(own).expect("lchown");
        let m = std::fs::symlink_metadata(f.root.join("victim_link")).expect("lstat");
        assert_eq!((m.uid(), m.gid()), (777, 777));
    }
    assert_eq!(std::fs::symlink_metadata(f.root.join("victim_link")).expect("lstat").mtime(), 6);
    // A hard link to a symlink links the symlink.
    c.call(Tlink { dfid: 0, fid: 4, name: b"hard_to_link" }).expect("link");
    assert!(std::fs::symlink_metadata(f.root.join("hard_to_link")).expect("lstat").file_type().is_symlink());
    assert_eq!(snapshot(&f.outside), before, "nothing outside the tree was read or changed");
    c.finish().expect("clean end");
}

#[test]
fn dotdot_at_the_root_stays_at_the_root() {
    let f = fixture();
    let mut c = Client::start(&f.root, GoferOptions::default());
    let root = c.attach(0);
    let qids = c.walk(0, 1, &[".."; 16]).expect("walk");
    assert!(qids.iter().all(|q| *q == root));
    assert_eq!(c.getattr(1).expect("getattr").qid, root);
    // ".." then a name that exists only outside the tree.
    assert_eq!(c.walk(0, 2, &["..", "outside"]).map(|q| q.len()), Ok(1));
    assert_eq!(c.walk(1, 2, &["..", "..", "outside", "secret.txt"]).map(|q| q.len()), Ok(2));
    // Down and up again: "dir/deeper/../../.." is the root.
    let qids = c.walk(0, 3, &["dir", "deeper", "..", "..", "..", "dir"]).expect("walk");
    assert_eq!(qids[2], qids[0]);
    assert_eq!(qids[3], root);
    assert_eq!(qids[4], root);
    assert_eq!(qids[5], qids[0]);
    // Names that smuggle a path are refused before any lookup.
    for name in ["../outside", "dir/../../outside", "/etc", "..\u{2f}", ".", ""] {
        assert_eq!(c.walk(0, 4, &[name]), Err(EINVAL), "{name:?}");
    }
    for name in [&b"../outside/victim.txt"[..], b"/tmp/x", b"..", b"."] {
        let r = c.call(Tlcreate { fid: 1, name, flags: open_flags::RDWR, mode: 0o644, gid: 0 });
        assert_eq!(r.map(drop), Err(EINVAL));
        let r = c.call(Trenameat { olddirfid: 0, oldname: b"dir", newdirfid: 0, newname: name });
        assert_eq!(r.map(drop), Err(EINVAL));
        let r = c.call(Tunlinkat { dirfid: 0, name, flags: 0 });
        assert_eq!(r.map(drop), Err(EINVAL));
        let r = c.call(Tsymlink { fid: 0, name, symtgt: b"/", gid: 0 });
        assert_eq!(r.map(drop), Err(EINVAL));
        let r = c.call(Tlink { dfid: 0, fid: 1, name });
        assert_eq!(r.map(drop), Err(EINVAL));
    }
    // The root cannot be renamed or removed (it has no name here).
    assert_eq!(c.call(Trename { fid: 1, dfid: 0, name: b"x" }).map(drop), Err(16));
    assert_eq!(c.call(Tremove { fid: 1 }).map(drop), Err(16));
    assert!(f.root.exists());
    c.finish().expect("clean end");
}

#[test]
fn a_file_swapped_for_a_symlink_after_the_walk_is_not_opened() {
    let f = fixture();
    let before = snapshot(&f.outside);
    let mut c = Client::start(&f.root, GoferOptions::default());
    c.attach(0);
    c.walk(0, 1, &["dir", "file.txt"]).expect("walk");
    c.walk(0, 2, &["dir"]).expect("walk");
    // Replace dir/file.txt with the symlink to the secret, then open fid 1:
    // the reopen by name is O_NOFOLLOW.
    c.call(Trenameat { olddirfid: 0, oldname: b"secret_link", newdirfid: 2, newname: b"file.txt" }).expect("swap");
    assert_eq!(c.lopen(1, open_flags::RDWR | open_flags::TRUNC), Err(ELOOP));
    // Same with a regular file swapped in: the inode check refuses it.
    c.walk(0, 3, &["dir", "file.txt"]).expect("walk to the symlink now there");
    std::fs::write(f.root.join("other"), b"other").expect("write");
    c.call(Trenameat { olddirfid: 0, oldname: b"other", newdirfid: 2, newname: b"file.txt" }).expect("swap");
    assert_eq!(c.lopen(3, open_flags::RDONLY), Err(ELOOP), "fid 3 is a symlink");
    assert_eq!(c.lopen(1, open_flags::RDONLY), Err(ESTALE));
    // Setattr through the node's own fd still reaches the original inode
    // (now unlinked), never the name's new occupant.
    let size = Tsetattr { fid: 1, valid: setattr::SIZE, size: 0, ..Default::default() };
    assert!(c.call(size).is_err());
    assert_eq!(std::fs::read(f.root.join("dir/file.txt")).expect("read"), b"other");
    // Removing by a stale fid removes nothing.
    c.walk(0, 4, &["dir", "file.txt"]).expect("walk");
    std::fs::write(f.root.join("again"), b"again").expect("write");
    c.call(Trenameat { olddirfid: 0, oldname: b"again", newdirfid: 2, newname: b"file.txt" }).expect("swap");
    assert_eq!(c.call(Tremove { fid: 4 }).map(drop), Err(ESTALE));
    assert_eq!(std::fs::read(f.root.join("dir/file.txt")).expect("read"), b"again");
    assert_eq!(snapshot(&f.outside), before);
    c.finish().expect("clean end");
}

#[test]
fn no_write_lands_outside_the_tree() {
    let f = fixture();
    let before = snapshot(&f.outside);
    let mut c = Client::start(&f.root, GoferOptions::default());
    c.attach(0);
    // Every creating/modifying request aimed through the escape routes.
    for via in ["out_link", "up_link", "etc_link", "slash", "dirlink"] {
        c.walk(0, 1, &[via]).expect("walk");
        let r = c.call(Tmkdir { dfid: 1, name: b"x", mode: 0o755, gid: 0 }).map(drop);
        assert_eq!(r, Err(ENOTDIR), "{via}");
        let r = c.call(Tsymlink { fid: 1, name: b"x", symtgt: b"y", gid: 0 }).map(drop);
        assert_eq!(r, Err(ENOTDIR), "{via}");
        let r = c.call(Tunlinkat { dirfid: 1, name: b"victim.txt", flags: 0 }).map(drop);
        assert_eq!(r, Err(ENOTDIR), "{via}");
        let r = c.call(Trenameat { olddirfid: 1, oldname: b"victim.txt", newdirfid: 0, newname: b"stolen" });
        assert_eq!(r.map(drop), Err(ENOTDIR), "{via}");
        let r = c.call(Trenameat { olddirfid: 0, oldname: b"dir", newdirfid: 1, newname: b"moved" });
        assert_eq!(r.map(drop), Err(ENOTDIR), "{via}");
        c.clunk(1).expect("clunk");
    }
    // Renaming a symlink or writing its name is fine and stays inside.
    c.call(Trenameat { olddirfid: 0, oldname: b"victim_link", newdirfid: 0, newname: b"renamed_link" })
        .expect("rename the link itself");
    c.call(Tunlinkat { dirfid: 0, name: b"renamed_link", flags: 0 }).expect("unlink the link itself");
    assert_eq!(c.walk(0, 1, &["victim_link"]), Err(ENOENT));
    assert_eq!(snapshot(&f.outside), before, "nothing outside the tree was read or changed");
    assert!(f.outside.join("victim.txt").exists());
    c.finish().expect("clean end");
}
