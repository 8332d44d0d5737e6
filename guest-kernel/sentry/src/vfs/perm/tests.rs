use super::*;
use crate::kernel::creds::DEFAULT_CAPS;
use alloc::sync::Arc;

fn user(uid: u32, gid: u32, groups: &[u32]) -> Credentials {
    let mut c = Credentials::root(0);
    c.ruid = uid;
    c.euid = uid;
    c.suid = uid;
    c.fsuid = uid;
    c.rgid = gid;
    c.egid = gid;
    c.sgid = gid;
    c.fsgid = gid;
    c.groups = Arc::from(groups);
    c
}

fn file(kind: FileType, perm: u32, uid: u32, gid: u32) -> Stat {
    Stat { mode: kind.mode_bits() | perm, uid, gid, ..Stat::default() }
}

fn errno_of(r: Result<(), SysError>) -> i32 {
    r.err().map_or(0, |e| e.errno)
}

#[test]
fn owner_group_other_classes() {
    let f = file(FileType::Regular, 0o640, 1000, 100);
    assert_eq!(errno_of(check(&user(1000, 1000, &[]), &f, MAY_READ | MAY_WRITE)), 0);
    assert_eq!(errno_of(check(&user(1001, 100, &[]), &f, MAY_READ)), 0);
    assert_eq!(errno_of(check(&user(1001, 100, &[]), &f, MAY_WRITE)), errno::EACCES);
    // A supplementary group counts; other has nothing.
    assert_eq!(errno_of(check(&user(1001, 5, &[100]), &f, MAY_READ)), 0);
    assert_eq!(errno_of(check(&user(1001, 5, &[]), &f, MAY_READ)), errno::EACCES);
    // The owner class applies even when it grants less than the others.
    let g = file(FileType::Regular, 0o077, 1000, 1000);
    assert_eq!(errno_of(check(&user(1000, 1000, &[]), &g, MAY_READ)), errno::EACCES);
}

#[test]
fn root_needs_capabilities() {
    let f = file(FileType::Regular, 0o600, 1000, 1000);
    assert_eq!(errno_of(check(&Credentials::root(0), &f, MAY_READ)), errno::EACCES);
    assert_eq!(errno_of(check(&Credentials::root(DEFAULT_CAPS), &f, MAY_READ | MAY_WRITE)), 0);
    // DAC_OVERRIDE executes only files with some x bit; directories always.
    assert_eq!(errno_of(check(&Credentials::root(DEFAULT_CAPS), &f, MAY_EXEC)), errno::EACCES);
    let x = file(FileType::Regular, 0o001, 1000, 1000);
    assert_eq!(errno_of(check(&Credentials::root(DEFAULT_CAPS), &x, MAY_EXEC)), 0);
    let d = file(FileType::Directory, 0o000, 1000, 1000);
    assert_eq!(errno_of(check(&Credentials::root(DEFAULT_CAPS), &d, MAY_EXEC | MAY_WRITE)), 0);
}

#[test]
fn read_search_reads_and_searches_only() {
    let mut c = user(1000, 1000, &[]);
    c.effective = 1 << CAP_DAC_READ_SEARCH;
    let f = file(FileType::Regular, 0o000, 0, 0);
    let d = file(FileType::Directory, 0o000, 0, 0);
    assert_eq!(errno_of(check(&c, &f, MAY_READ)), 0);
    assert_eq!(errno_of(check(&c, &f, MAY_WRITE)), errno::EACCES);
    assert_eq!(errno_of(check(&c, &d, MAY_READ | MAY_EXEC)), 0);
    assert_eq!(errno_of(check(&c, &d, MAY_WRITE)), errno::EACCES);
}

#[test]
fn sticky_directories() {
    let tmp = file(FileType::Directory, 0o1777, 0, 0);
    let theirs = file(FileType::Regular, 0o666, 1001, 1001);
    let mine = file(FileType::Regular, 0o600, 1000, 1000);
    let me = user(1000, 1000, &[]);
    assert!(sticky_forbids(&me, &tmp, &theirs));
    assert!(!sticky_forbids(&me, &tmp, &mine));
    let my_tmp = file(FileType::Directory, 0o1777, 1000, 1000);
    assert!(!sticky_forbids(&me, &my_tmp, &theirs));
    assert!(!sticky_forbids(&Credentials::root(DEFAULT_CAPS), &tmp, &theirs));
}

#[test]
fn new_files_take_fsuid_and_setgid_group() {
    let me = user(1000, 1000, &[]);
    let plain = file(FileType::Directory, 0o777, 0, 0);
    assert_eq!(new_owner(&me, &plain, FileType::Regular, 0o644), (1000, 1000, 0o644));
    let sgid = file(FileType::Directory, 0o2777, 0, 50);
    assert_eq!(new_owner(&me, &sgid, FileType::Regular, 0o644), (1000, 50, 0o644));
    assert_eq!(new_owner(&me, &sgid, FileType::Directory, 0o755), (1000, 50, 0o2755));
    assert_eq!(new_owner(&me, &sgid, FileType::Regular, 0o2755), (1000, 50, 0o755));
}

#[test]
fn chmod_and_chown_rules() {
    let me = user(1000, 1000, &[]);
    let mine = file(FileType::Regular, 0o644, 1000, 1000);
    let theirs = file(FileType::Regular, 0o644, 0, 0);
    assert_eq!(chmod(&me, &mine, 0o2755).map_err(|e| e.errno), Ok(0o2755));
    assert_eq!(chmod(&me, &theirs, 0o600).map_err(|e| e.errno), Err(errno::EPERM));
    let other_group = file(FileType::Regular, 0o644, 1000, 7);
    assert_eq!(chmod(&me, &other_group, 0o2755).map_err(|e| e.errno), Ok(0o755));
    assert_eq!(chown(&me, &mine, Some(1001), None).map_err(|e| e.errno), Err(errno::EPERM));
    assert_eq!(chown(&me, &mine, None, Some(7)).map_err(|e| e.errno), Err(errno::EPERM));
    assert!(chown(&user(1000, 1000, &[7]), &mine, None, Some(7)).is_ok());
    let suid = file(FileType::Regular, 0o6755, 1000, 1000);
    let a = chown(&Credentials::root(DEFAULT_CAPS), &suid, Some(5), Some(5)).expect("root may chown");
    assert_eq!(a.mode, Some(0o755));
}

#[test]
fn utimes_rules() {
    let me = user(1000, 1000, &[]);
    let writable = file(FileType::Regular, 0o666, 0, 0);
    let ro = file(FileType::Regular, 0o644, 0, 0);
    assert_eq!(errno_of(utimes(&me, &writable, false, true)), 0);
    assert_eq!(errno_of(utimes(&me, &ro, false, true)), errno::EACCES);
    assert_eq!(errno_of(utimes(&me, &writable, true, false)), errno::EPERM);
}

#[test]
fn access_uses_real_ids() {
    let mut c = Credentials::root(DEFAULT_CAPS);
    c.euid = 1000;
    c.fsuid = 1000;
    let a = access_creds(&c);
    assert_eq!((a.fsuid, a.effective), (0, DEFAULT_CAPS));
    let mut d = user(1000, 1000, &[]);
    d.euid = 0;
    d.fsuid = 0;
    d.effective = DEFAULT_CAPS;
    let b = access_creds(&d);
    assert_eq!((b.fsuid, b.effective), (1000, 0));
}

#[test]
fn open_access_bits() {
    use crate::vfs::file::flags::*;
    assert_eq!(open_access(O_RDONLY), MAY_READ);
    assert_eq!(open_access(O_WRONLY), MAY_WRITE);
    assert_eq!(open_access(O_RDWR), MAY_READ | MAY_WRITE);
    assert_eq!(open_access(O_RDONLY | O_TRUNC), MAY_READ | MAY_WRITE);
}
