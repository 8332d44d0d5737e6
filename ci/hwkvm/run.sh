#!/usr/bin/env bash
# Runs ringfence on hardware KVM (AMD SVM) without hardware virtualization:
# QEMU TCG emulates an AMD CPU with SVM(+NPT), a Debian 12 kernel boots in it
# and loads kvm + kvm_amd, and the cases of ci/hwkvm/cases.txt run there
# against the real /dev/kvm, with a static `ringfence`. Adapted from
# shared/hwkvm (RECIPE.md has the measurements and the pitfalls).
#
#   bash ci/hwkvm/run.sh                          # build, boot, run every case
#   MODES=npt,shadow bash ci/hwkvm/run.sh         # kvm_amd npt=1 then npt=0 in one boot
#   CPU=EPYC bash ci/hwkvm/run.sh                 # QEMU CPU model (AMD with svm)
#   APPEND_EXTRA="kvm_amd.avic=0" ...             # more kernel/kvm options
#   NO_BUILD=1 bash ci/hwkvm/run.sh               # reuse the built binaries, only repack + boot
#
# Environment: MODES (default npt,shadow), CPU (max), MACHINE (q35), MEM
# (512M), TIMEOUT (qemu wall clock limit, 240 s), W (work directory,
# default target/hwkvm; the kernel package is kept there), RINGFENCE_STATIC
# (a static ringfence to use instead of building one), CASES (the cases
# file). Installs what it needs with apt-get when run as root.
# Exit status 0 iff the serial log says "HWKVM RESULT: PASS".
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
W=${W:-$root/target/hwkvm}
MODES=${MODES:-npt,shadow}
CPU=${CPU:-max} # TCG 'max' = AuthenticAMD with svm, npt, vgif; TCG has no VMX
MACHINE=${MACHINE:-q35}
MEM=${MEM:-512M}
TIMEOUT=${TIMEOUT:-240}
CASES=${CASES:-$here/cases.txt}
APPEND_EXTRA=${APPEND_EXTRA:-}
target=x86_64-unknown-linux-gnu

step() { printf '\n==> hwkvm: %s\n' "$*"; }
now() { date +%s.%N; }
since() { awk "BEGIN { printf \"%.1f\", $(now) - $1 }"; }
t_start=$(now)
mkdir -p "$W"

# 1. Host packages (the host needs no /dev/kvm).
need=()
for p in qemu-system-x86 busybox-static cpio xz-utils gzip; do
    dpkg -s "$p" > /dev/null 2>&1 || need+=("$p")
done
if [[ ${#need[@]} -gt 0 ]]; then
    step "apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${need[@]}" > /dev/null
fi

# 2. The guest kernel and its kvm modules, extracted from Debian's package
#    (not installed). The uncompressed vmlinux boots through QEMU's PVH entry,
#    ~3 s faster under TCG than the bzImage.
kdir=$W/kernel
if [[ ! -f $kdir/vmlinux || ! -f $kdir/modules/kvm-amd.ko || ! -f $kdir/modules/9p.ko || ! -f $kdir/version ]]; then
    step "fetch the Debian kernel package"
    kernel_package() {
        apt-cache depends linux-image-amd64 2> /dev/null |
            sed -n 's/.*Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1
    }
    kpkg=$(kernel_package)
    [[ -n $kpkg ]] || { apt-get update -qq && kpkg=$(kernel_package); }
    [[ -n $kpkg ]] || { echo "hwkvm: cannot find the package linux-image-amd64 depends on" >&2; exit 1; }
    rm -rf "$kdir" && mkdir -p "$kdir/pkg"
    # As root, apt-get download warns that it runs unsandboxed; harmless.
    (cd "$kdir" && apt-get -q download "$kpkg" && dpkg-deb -x ./"$kpkg"_*.deb pkg && rm -f ./*.deb)
    kver=$(ls "$kdir/pkg/lib/modules" | head -n 1)
    # kvm-amd needs kvm and ccp, kvm needs irqbypass; the kernel's 9p client
    # (for ci/hwkvm/k9p.sh: this host's kernel has none) is 9p, 9pnet_fd and
    # their dependencies netfs, fscache and 9pnet. Keep only those.
    K=$kdir/pkg/lib/modules/$kver/kernel
    mkdir -p "$kdir/modules"
    cp "$K/virt/lib/irqbypass.ko" "$K/arch/x86/kvm/kvm.ko" "$K/arch/x86/kvm/kvm-amd.ko" \
        "$K/drivers/crypto/ccp/ccp.ko" "$K/fs/netfs/netfs.ko" "$K/fs/fscache/fscache.ko" \
        "$K/net/9p/9pnet.ko" "$K/net/9p/9pnet_fd.ko" "$K/fs/9p/9p.ko" "$kdir/modules/"
    off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$kdir/pkg/boot/vmlinuz-$kver" | head -n 1 | cut -d: -f1)
    tail -c +$((off + 1)) "$kdir/pkg/boot/vmlinuz-$kver" | xz -dc 2> /dev/null > "$kdir/vmlinux.tmp" || true
    [[ $(head -c 4 "$kdir/vmlinux.tmp" | od -An -c | tr -d ' ') == 177ELF ]] ||
        { echo "hwkvm: extracting vmlinux from vmlinuz-$kver failed" >&2; exit 1; }
    mv "$kdir/vmlinux.tmp" "$kdir/vmlinux"
    rm -rf "$kdir/pkg"
    echo "$kver" > "$kdir/version"
fi
kver=$(cat "$kdir/version")

# 3. A static ringfence (the emulated machine has no Rust libraries: the
#    normal build is static, .cargo/config.toml) and the static C test
#    programs.
if [[ -n ${RINGFENCE_STATIC:-} ]]; then
    bin=$RINGFENCE_STATIC
else
    bin=$root/target/$target/release/ringfence
    if [[ -z ${NO_BUILD:-} ]]; then
        step "cargo build --release -p ringfence"
        (cd "$root" && cargo build --release -p ringfence)
    fi
fi
if [[ ! -x $bin ]] || readelf -l "$bin" | grep -q INTERP; then
    echo "hwkvm: $bin is missing or not a static executable (it needs no loader)" >&2
    exit 1
fi
[[ -n ${NO_BUILD:-} ]] || bash "$root/resources/build.sh"

# 4. The initramfs: busybox, the kvm modules, ringfence, the test programs
#    and the cases.
step "initramfs"
rootfs=$W/rootfs
rm -rf "$rootfs"
mkdir -p "$rootfs"/{bin,proc,sys,dev,tmp,lib/modules,resources,hwkvm}
cp /bin/busybox "$rootfs/bin/busybox"
cp "$bin" "$rootfs/bin/ringfence"
install -m 755 "$here/init" "$rootfs/init"
install -m 755 "$here/cases.sh" "$rootfs/hwkvm/cases.sh"
install -m 755 "$here/k9p.sh" "$rootfs/hwkvm/k9p.sh"
cp "$CASES" "$rootfs/hwkvm/cases.txt"
find "$root/target/resources" -maxdepth 1 -type f -perm -u+x -exec cp {} "$rootfs/resources/" \;
cp "$kdir"/modules/*.ko "$rootfs/lib/modules/"
(cd "$rootfs" && find . | cpio -o -H newc --quiet | gzip -1 > "$W/initramfs.gz")

# 5. Boot under TCG and run the cases; the serial console is the log.
#    A boot that times out without any result line (the emulated machine
#    stalled: seen about one run in three this session, at varying cases,
#    with QEMU nearly idle) is retried once; a FAIL result never is.
boot() {
    step "boot kernel $kver under QEMU TCG (-cpu $CPU), modes $MODES"
    t0=$(now)
    set +e
    timeout "$TIMEOUT" qemu-system-x86_64 \
        -accel tcg -machine "$MACHINE" -cpu "$CPU" -smp 1 -m "$MEM" \
        -nodefaults -no-user-config -display none -serial stdio -no-reboot \
        -kernel "$kdir/vmlinux" -initrd "$W/initramfs.gz" \
        -append "console=ttyS0 panic=-1 quiet hwkvm.modes=$MODES $APPEND_EXTRA" < /dev/null 2>&1 | tee "$log"
    qemu_status=${PIPESTATUS[0]}
    set -e
    echo "=== hwkvm: qemu ran $(since "$t0") s (status $qemu_status), whole script $(since "$t_start") s"
}
log=$W/serial.log
boot
if ! grep -q '^HWKVM RESULT' "$log" && [[ $qemu_status == 124 ]]; then
    echo "hwkvm: the emulated machine stalled (no result in ${TIMEOUT} s); the cases it ran are above; booting once more" >&2
    cp "$log" "$W/serial-stalled.log"
    boot
fi
if grep -q '^HWKVM RESULT: PASS' "$log"; then
    exit 0
fi
grep -q '^HWKVM RESULT' "$log" || echo "hwkvm: no HWKVM RESULT line (qemu status $qemu_status; 124 = timeout)" >&2
exit 1
