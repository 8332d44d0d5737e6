//! The gofer mounted by the Linux kernel's own 9p client
//! (`mount -t 9p -o trans=fd`) on a socketpair, with ordinary file
//! operations through the mount. Needs root and the `9p` + `9pnet_fd`
//! modules; skipped with a message otherwise. Where the host has no 9p
//! modules (this project's CI machines), ci/hwkvm/k9p.sh runs the confined
//! `ringfence gofer` under the kernel client of the emulated machine's
//! Debian kernel instead.

mod common;

use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;

use common::TempDir;
use gofer::{GoferOptions, Server};
use rustix::mount::{MountFlags, UnmountFlags};

fn kernel_9p_available() -> Result<(), String> {
    if !rustix::process::geteuid().is_root() {
        return Err("not root".into());
    }
    let fs = std::fs::read_to_string("/proc/filesystems").map_err(|e| format!("/proc/filesystems: {e}"))?;
    if !fs.lines().any(|l| l.split_whitespace().last() == Some("9p")) {
        return Err("the kernel has no 9p filesystem (modprobe 9p 9pnet_fd)".into());
    }
    Ok(())
}

#[test]
fn linux_9p_client_mounts_the_gofer() {
    if let Err(why) = kernel_9p_available() {
        eprintln!("SKIPPED linux_9p_client_mounts_the_gofer: {why}");
        return;
    }
    let tree = TempDir::new("k9p-root");
    std::fs::write(tree.path().join("hello.txt"), b"hello from the host").expect("write");
    let mnt = TempDir::new("k9p-mnt");
    let (client, mut server_end) = UnixStream::pair().expect("socketpair");
    let mut server = Server::new(tree.path(), GoferOptions::default()).expect("server");
    let handle = std::thread::spawn(move || server.serve(&mut server_end));
    let fd = client.as_raw_fd();
    let data =
        CString::new(format!("trans=fd,rfdno={fd},wfdno={fd},version=9p2000.L,msize=1048576,cache=none,access=client"))
            .expect("options");
    rustix::mount::mount("ringfence-gofer", mnt.path(), "9p", MountFlags::empty(), data.as_c_str()).expect("mount 9p");
    let m = mnt.path();
    let result = std::panic::catch_unwind(|| {
        assert_eq!(std::fs::read(m.join("hello.txt")).expect("read"), b"hello from the host");
        std::fs::write(m.join("new.txt"), b"written by the kernel client").expect("write");
        std::fs::create_dir(m.join("d")).expect("mkdir");
        std::os::unix::fs::symlink("../hello.txt", m.join("d/ln")).expect("symlink");
        assert_eq!(std::fs::read_link(m.join("d/ln")).expect("readlink").to_str(), Some("../hello.txt"));
        std::fs::rename(m.join("new.txt"), m.join("d/renamed.txt")).expect("rename");
        let mut names: Vec<_> =
            std::fs::read_dir(m.join("d")).expect("readdir").map(|e| e.expect("entry").file_name()).collect();
        names.sort();
        assert_eq!(names, ["ln", "renamed.txt"]);
        let big = vec![0x5au8; 3 << 20];
        std::fs::write(m.join("big"), &big).expect("write big");
        assert_eq!(std::fs::read(m.join("big")).expect("read big"), big);
        std::fs::remove_file(m.join("big")).expect("unlink");
    });
    rustix::mount::unmount(mnt.path(), UnmountFlags::DETACH).expect("umount");
    drop(client);
    let served = handle.join().expect("server thread");
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
    served.expect("server ended cleanly");
    assert_eq!(std::fs::read(tree.path().join("d/renamed.txt")).expect("on host"), b"written by the kernel client");
    assert!(!tree.path().join("big").exists());
}
