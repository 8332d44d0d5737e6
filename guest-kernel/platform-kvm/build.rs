//! Links the guest image as a freestanding static kernel at the address
//! `link.ld` gives (0xffffffff80200000), with no C runtime.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    for arg in ["-nostartfiles", "-nodefaultlibs", "-static", "-no-pie", "-Wl,--build-id=none"] {
        println!("cargo:rustc-link-arg-bins={arg}");
    }
    println!("cargo:rustc-link-arg-bins=-T{dir}/link.ld");
    println!("cargo:rerun-if-changed=link.ld");
}
