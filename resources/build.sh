#!/usr/bin/env bash
# Builds the C test programs of resources/c into target/resources/.
#
# Idempotent and fast: a program is rebuilt only when its source, common.h or
# this script is newer than the binary, and each binary is written to a
# temporary name first and renamed, so concurrent runs never see half a file.
# Environment: CC (default gcc), RINGFENCE_RESOURCES (output directory).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
out=${RINGFENCE_RESOURCES:-$root/target/resources}
cc=${CC:-gcc}
cflags=(-O2 -g0 -Wall -Wextra -Werror -fno-strict-aliasing)

mkdir -p "$out"

# build NAME FLAGS...: compiles resources/c/NAME.c into $out/NAME.
build() {
    local name=$1
    shift
    local src=$here/c/$name.c dst=$out/$name
    if [[ -x $dst && $dst -nt $src && $dst -nt $here/c/common.h && $dst -nt $here/build.sh ]]; then
        return 0
    fi
    local tmp
    tmp=$(mktemp "$out/.$name.XXXXXX")
    if ! "$cc" "${cflags[@]}" "$@" -o "$tmp" "$src"; then
        rm -f "$tmp"
        echo "resources/build.sh: failed to build $name" >&2
        return 1
    fi
    chmod 755 "$tmp"
    mv -f "$tmp" "$dst"
    echo "built $dst"
}

for name in exit_code segv spin isolation getppid_bench sysemu_bench legacy_gates files fs_bench signals procs creds memory shared_files procfs unix_sockets io_events fpu_switch pty k9p_mount top_page perms cacheinfo; do
    build "$name" -static
done
for name in threads thread_wave proc_bench timers preempt; do
    build "$name" -static -pthread
done
build hello_pie -static-pie -fPIE
