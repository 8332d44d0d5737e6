//! File syscalls on the sandbox's own filesystems (tmpfs, /dev), compared
//! with the same program on the host: open/creat/read/write/lseek/pread/
//! pwrite, stat family, getdents64, mkdir/rmdir, unlink, rename, symlink/
//! readlink (and a symlink loop: ELOOP), link, chmod, access, truncate,
//! chdir/getcwd, `..` at the root.

use ringfence_tests::{busybox, compare_runs, resource, Run, TempDir};

#[test]
fn file_syscalls_match_linux() {
    let dir = TempDir::new("files");
    // An empty host directory the sandbox sees through its overlay (its
    // writes stay in the sandbox).
    let sandbox_dir = TempDir::new("files-sandbox");
    let files = resource("files");
    let native = Run::native(&files, &[dir.path()]);
    let sandboxed = Run::sandbox(&files, &[sandbox_dir.path()]);
    compare_runs(native, sandboxed);
}

#[test]
fn dev_nodes_behave() {
    // /dev/zero and /dev/urandom produce, /dev/null swallows, /dev/full is full.
    let zeros = Run::sandbox(busybox(), &["head", "-c", "8", "/dev/zero"]).run();
    zeros.assert_code(0);
    assert_eq!(zeros.stdout, vec![0u8; 8]);
    let random = Run::sandbox(busybox(), &["head", "-c", "4096", "/dev/urandom"]).run();
    random.assert_code(0);
    assert_eq!(random.stdout.len(), 4096);
    assert!(random.stdout.iter().any(|&b| b != 0), "urandom gave only zeroes");
    Run::sandbox(busybox(), &["sh", "-c", "echo gone > /dev/null"]).run().assert_code(0).assert_stdout("");
    let full = Run::sandbox(busybox(), &["sh", "-c", "echo x > /dev/full"]).run();
    assert!(full.stderr_str().contains("No space left on device"), "stderr: {}", full.stderr_str());
}

#[test]
fn listing_dev_shows_the_device_nodes() {
    let out = Run::sandbox(busybox(), &["ls", "/dev"]).run();
    out.assert_code(0)
        .assert_stdout("fd\nfull\nnull\nptmx\npts\nrandom\nshm\nstderr\nstdin\nstdout\ntty\nurandom\nzero\n");
}

#[test]
fn dev_tty_is_the_host_terminal_or_enxio() {
    // Without a terminal on stdio: ENXIO, as for a process with no controlling tty.
    let out = Run::sandbox(busybox(), &["sh", "-c", "echo x > /dev/tty"]).run();
    assert!(out.stderr_str().contains("No such device or address"), "stderr: {}", out.stderr_str());
    // Through a pseudo-terminal (script(1) from util-linux): the write reaches it.
    let cmd = format!(
        "{} do -- {} sh -c 'echo via-dev-tty > /dev/tty'",
        ringfence_tests::ringfence_bin().display(),
        busybox().display()
    );
    let out = Run::native("script", &["-qec", &cmd, "/dev/null"]).run();
    assert!(out.stdout_str().contains("via-dev-tty"), "stdout: {:?}", out.stdout_str());
}
