//! Dynamically linked programs from a real distribution: bash, coreutils and
//! python3 of a Debian 12 tree (resources/rootfs/debian.sh), run natively in
//! a chroot of the tree and in the sandbox with the tree as `--rootfs`,
//! stdout and exit status compared.
//!
//! The tree takes debootstrap, root and the network to build, so the tests do
//! not build it: `ci/test.sh` does, and without it every test here says so on
//! stderr and passes. `native_side_works` also checks every case's expected
//! output natively, which keeps the fixture honest.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use ringfence_tests::{assert_same, workspace_root, Outcome, Run};

/// The tree: `RINGFENCE_DEBIAN_ROOTFS`, else `<workspace>/target/rootfs/debian`
/// (debian.sh's default). `None`, after a message, if it is not built.
fn rootfs() -> Option<&'static Path> {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    let root = ROOT.get_or_init(|| {
        std::env::var_os("RINGFENCE_DEBIAN_ROOTFS")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace_root().join("target/rootfs/debian"))
    });
    if root.join(".built").is_file() {
        Some(root)
    } else {
        eprintln!(
            "SKIPPED: the Debian rootfs {} is not built; build it with \
             `resources/rootfs/debian.sh` (root, debootstrap and deb.debian.org needed)",
            root.display()
        );
        None
    }
}

/// One program to run in the tree, and what its native run must print.
struct Case {
    argv: &'static [&'static str],
    stdin: Option<&'static [u8]>,
    /// Checks the native run's stdout (the tree is passed for cases whose
    /// expected output depends on it).
    check: fn(&Path, &str),
}

const BASH_LOOP: Case = Case {
    argv: &["bash", "-c", "echo hi; for i in 1 2 3; do echo $i; done"],
    stdin: None,
    check: |_, out| assert_eq!(out, "hi\n1\n2\n3\n"),
};

/// Owner names come from /etc/passwd through glibc's NSS, which dlopens
/// libnss_files.
const LS_LONG: Case = Case {
    argv: &["ls", "-l", "/etc/debian_version", "/etc/apt"],
    stdin: None,
    check: |_, out| {
        assert!(out.contains(" root root ") && out.contains(" /etc/debian_version\n"), "{out}");
        assert!(out.contains("sources.list"), "{out}");
    },
};

const SORT_STDIN: Case = Case {
    argv: &["sort"],
    stdin: Some(b"pear\napple\nfig\nBanana\n10\n9\n"),
    check: |_, out| assert_eq!(out, "10\n9\nBanana\napple\nfig\npear\n"),
};

const SHA256SUM: Case = Case {
    argv: &["sha256sum", "/etc/debian_version"],
    stdin: None,
    check: |root, out| {
        let host = Command::new("sha256sum").arg(root.join("etc/debian_version")).output().expect("host sha256sum");
        let host = String::from_utf8_lossy(&host.stdout);
        let hash = host.split_whitespace().next().expect("a hash");
        assert_eq!(out, format!("{hash}  /etc/debian_version\n"));
    },
};

/// Python's standard library: json, and hashlib through OpenSSL's libcrypto.
const PYTHON_JSON: Case = Case {
    argv: &["python3", "-c", r#"import json, hashlib; print(json.dumps({"h": hashlib.sha256(b"abc").hexdigest()}))"#],
    stdin: None,
    check: |_, out| assert_eq!(out, "{\"h\": \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}\n"),
};

const OS_RELEASE: Case = Case {
    argv: &["cat", "/etc/os-release"],
    stdin: None,
    check: |_, out| assert!(out.contains("VERSION_CODENAME=bookworm\n"), "{out}"),
};

/// Three processes joined by pipes (fork, exec, pipe, wait).
const PIPELINE: Case = Case {
    argv: &["bash", "-c", "ls /usr/bin | sort | head -3"],
    stdin: None,
    check: |_, out| assert_eq!(out.lines().count(), 3, "{out}"),
};

const CASES: [&Case; 7] = [&BASH_LOOP, &LS_LONG, &SORT_STDIN, &SHA256SUM, &PYTHON_JSON, &OS_RELEASE, &PIPELINE];

/// The same environment on both sides: programs are found by the tree's
/// usual PATH, and the C locale fixes sort's order and ls's format.
fn with_env(run: Run, case: &Case) -> Run {
    let run = run
        .env_clear()
        .env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        .env("LC_ALL", "C")
        .env("HOME", "/root");
    match case.stdin {
        Some(input) => run.stdin(input),
        None => run,
    }
}

/// `chroot ROOT ARGV...` on the host.
fn native(root: &Path, case: &Case) -> Run {
    let mut args = vec![root.to_str().expect("utf-8 path")];
    args.extend_from_slice(case.argv);
    with_env(Run::native("chroot", &args), case)
}

/// `ringfence do --rootfs ROOT -- ARGV...`.
fn sandboxed(root: &Path, case: &Case) -> Run {
    let (prog, args) = case.argv.split_first().expect("a program");
    with_env(Run::sandbox_flags(&["--rootfs", root.to_str().expect("utf-8 path")], prog, args), case)
}

fn check_native(root: &Path, case: &Case) -> Outcome {
    let out = native(root, case).run();
    out.assert_code(0);
    (case.check)(root, &out.stdout_str());
    out
}

/// Compares the sandbox with the native run (which must also pass its check).
fn same(case: &Case) {
    let Some(root) = rootfs() else { return };
    let native = check_native(root, case);
    assert_same(&native, &sandboxed(root, case).run());
}

/// Not ignored: exercises the fixture, and the expected outputs the
/// sandbox comparisons rely on, until the sandbox runs them.
#[test]
fn native_side_works() {
    let Some(root) = rootfs() else { return };
    for case in CASES {
        check_native(root, case);
    }
}

#[test]
fn bash_loop() {
    same(&BASH_LOOP);
}

#[test]
fn ls_long() {
    same(&LS_LONG);
}

#[test]
fn sort_stdin() {
    same(&SORT_STDIN);
}

#[test]
fn sha256sum() {
    same(&SHA256SUM);
}

#[test]
fn python_json() {
    same(&PYTHON_JSON);
}

#[test]
fn os_release() {
    same(&OS_RELEASE);
}

#[test]
fn bash_pipeline() {
    same(&PIPELINE);
}
