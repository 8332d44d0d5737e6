//! Builds the guest image (package `ringfence-guest`, a freestanding
//! `no_std` kernel) with a nested cargo and hands its path to the crate as
//! `RINGFENCE_GUEST_IMAGE`, so the `ringfence` binary carries the image.

use std::env;
use std::path::{Path, PathBuf};
use std::process::{exit, Command};

/// Code generation the guest image needs (DESIGN.md, "Building the guest
/// image"), unit-separated as `CARGO_ENCODED_RUSTFLAGS` wants.
const GUEST_RUSTFLAGS: &str =
    "-C\x1fcode-model=kernel\x1f-C\x1frelocation-model=static\x1f-C\x1fforce-frame-pointers=yes";

/// The guest image's target: x86-64 code linked freestanding (the flags
/// above and platform-kvm's linker script make it a kernel).
const GUEST_TARGET: &str = "x86_64-unknown-linux-gnu";

/// Variables of the outer build that must not leak into the guest build.
const SCRUBBED_ENV: [&str; 5] =
    ["RUSTFLAGS", "RUSTC_WORKSPACE_WRAPPER", "RUSTC_WRAPPER", "CARGO_TARGET_DIR", "CARGO_BUILD_TARGET"];

fn fail(msg: &str) -> ! {
    eprintln!("runtime/build.rs: {msg}");
    exit(1)
}

fn var(name: &str) -> String {
    env::var(name).unwrap_or_else(|_| fail(&format!("{name} is not set")))
}

fn main() {
    let manifest_dir = PathBuf::from(var("CARGO_MANIFEST_DIR"));
    let root = manifest_dir.parent().unwrap_or_else(|| fail("runtime/ has no parent directory")).to_path_buf();
    let out_dir = PathBuf::from(var("OUT_DIR"));
    let target_dir = out_dir.join("guest-target");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());

    for p in ["guest-kernel/abi", "guest-kernel/sentry", "guest-kernel/platform-kvm", "Cargo.toml", "Cargo.lock"] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }

    let mut cmd = Command::new(&cargo);
    cmd.arg("build")
        .arg("--release")
        .args(["-p", "ringfence-guest"])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        // Explicit, whatever .cargo/config.toml's build.target says: the
        // image's path below does not depend on it, and the flags below
        // reach the image's crates only, not build scripts.
        .args(["--target", GUEST_TARGET]);
    if root.join("Cargo.lock").exists() {
        cmd.arg("--locked");
    }
    for v in SCRUBBED_ENV {
        cmd.env_remove(v);
    }
    cmd.env("CARGO_ENCODED_RUSTFLAGS", GUEST_RUSTFLAGS);

    let output = cmd.output().unwrap_or_else(|e| fail(&format!("cannot run {cargo}: {e}")));
    if !output.status.success() {
        fail(&format!(
            "building the guest image failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let image = target_dir.join(GUEST_TARGET).join("release").join("ringfence-guest");
    check_elf(&image);
    println!("cargo:rustc-env=RINGFENCE_GUEST_IMAGE={}", image.display());
    // Relative relocations packed (DT_RELR, glibc 2.36+): 20,000 RELA
    // entries (480 KiB) that the dynamic loader read at each of the three
    // executions per container (runtime, sandbox, gofer) shrink to a few
    // KiB, which cuts start-up time and resident pages.
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
}

fn check_elf(image: &Path) {
    let bytes = std::fs::read(image).unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", image.display())));
    if !bytes.starts_with(b"\x7fELF") {
        fail(&format!("{} is not an ELF file", image.display()));
    }
}
