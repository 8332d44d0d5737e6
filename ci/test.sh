#!/usr/bin/env bash
# The test command: style checks, release build, C test programs, then every
# test of the workspace (unit tests and the integration tests of tests/,
# which run programs natively and under `ringfence do`; they need /dev/kvm,
# and tests/tests/debian.rs a Debian rootfs, built here first),
# the integration tests again on the ptrace platform (RINGFENCE_PLATFORM=ptrace),
# then the hardware-KVM cases under emulation (ci/hwkvm/run.sh).
#
# Usage: bash ci/test.sh [extra `cargo test` arguments, e.g. a test name]
# Environment: HWKVM=0 skips ci/hwkvm; PTRACE=0 skips the ptrace run.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo build --release"
cargo build --release --workspace --exclude ringfence-guest

step "resources/build.sh"
bash resources/build.sh

# The Debian rootfs of tests/tests/debian.rs (debootstrap from deb.debian.org,
# one to two minutes; RINGFENCE_DEBIAN_CACHE=FILE.tar.gz reuses a tarball). A
# failed build does not stop CI: it depends on the network, and the tests that
# need the tree skip without it (they report so on stderr, which cargo hides
# for passing tests, hence the warning repeated after the summary). Once the
# sandbox runs dynamic programs and those tests are no longer ignored, a
# failure here should fail CI instead of hiding them.
step "resources/rootfs/debian.sh"
debian_warning=
if ! bash resources/rootfs/debian.sh; then
    debian_warning="WARNING: resources/rootfs/debian.sh failed, so tests/tests/debian.rs skipped its tests (unless an older tree was left in target/rootfs/debian)"
    echo "ci/test.sh: $debian_warning; continuing" >&2
fi

if [[ ! -e /dev/kvm ]]; then
    echo "ci/test.sh: /dev/kvm is missing; the integration tests need it" >&2
fi

step "cargo test --release"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
RINGFENCE_BIN=${RINGFENCE_BIN:-$root/target/x86_64-unknown-linux-gnu/release/ringfence} \
    cargo test --release --workspace --no-fail-fast "$@" 2>&1 | tee "$log" || status=$?

# One summary over all test binaries (cargo prints one line per binary); a
# binary that died without its result line is listed too.
step "summary"
awk '
    function flush() { if (name != "") printf "  %-28s no result (crashed or aborted)\n", name; name = "" }
    /^ +Running / { flush(); name = $NF; sub(/^\(.*\//, "", name); sub(/-[0-9a-f]+\)$/, "", name); next }
    /^ +Doc-tests / { flush(); name = "doc-tests " $NF; next }
    /^test .* FAILED$/ { failed_names = failed_names "    " $2 "\n" }
    /^test result:/ {
        for (i = 1; i <= NF; i++) {
            if ($(i) ~ /^passed;?$/) { p += $(i - 1); bp = $(i - 1) }
            if ($(i) ~ /^failed;?$/) { f += $(i - 1); bf = $(i - 1) }
            if ($(i) ~ /^ignored;?$/) s += $(i - 1)
        }
        printf "  %-28s %s passed, %s failed\n", name, bp, bf
        name = ""
    }
    END {
        flush()
        if (failed_names != "") printf "  failed tests:\n%s", failed_names
        printf "%d passed, %d failed, %d skipped\n", p, f, s
    }' "$log"
[[ -z $debian_warning ]] || echo "$debian_warning" >&2

# The same integration tests on the ptrace platform (the sentry in a host
# process, programs in PTRACE_SYSEMU stubs): about 1.5 minutes here.
# PTRACE=0 skips.
if [[ ${PTRACE:-1} != 0 ]]; then
    step "cargo test --release -p ringfence-tests on the ptrace platform"
    pt_start=$SECONDS
    pt_status=0
    RINGFENCE_PLATFORM=ptrace RINGFENCE_BIN=${RINGFENCE_BIN:-$root/target/x86_64-unknown-linux-gnu/release/ringfence} \
        cargo test --release -p ringfence-tests --no-fail-fast "$@" 2>&1 | tee "$log" || pt_status=$?
    grep -E '^test .* FAILED$' "$log" || true
    echo "ptrace platform: $( ((pt_status == 0)) && echo PASS || echo FAIL) in $((SECONDS - pt_start)) s"
    ((pt_status == 0)) || status=1
fi

# Hardware KVM (AMD SVM) under QEMU TCG: a static ringfence runs the cases of
# ci/hwkvm/cases.txt against a real kvm_amd (about a minute; HWKVM=0 skips).
if [[ ${HWKVM:-1} != 0 ]]; then
    step "ci/hwkvm/run.sh (hardware KVM, AMD SVM emulated by QEMU TCG)"
    hw_start=$SECONDS
    hw_status=0
    bash ci/hwkvm/run.sh || hw_status=$?
    echo "hardware KVM (AMD SVM): $( ((hw_status == 0)) && echo PASS || echo FAIL) in $((SECONDS - hw_start)) s"
    ((hw_status == 0)) || status=1
fi
exit "$status"
