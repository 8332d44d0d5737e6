#!/usr/bin/env bash
# Builds an OCI bundle around the busybox root filesystem:
#
#   resources/bundle/busybox.sh [DEST]    (default: target/bundle/busybox)
#
# DEST/rootfs is a symlink to the tree resources/rootfs/busybox.sh builds,
# and DEST/config.json is what `ringfence spec` writes with no terminal
# (the tests edit a copy of it per container). Needs target/x86_64-unknown-linux-gnu/release/ringfence built.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
dest=${1:-$root/target/bundle/busybox}
ringfence=${RINGFENCE:-$root/target/x86_64-unknown-linux-gnu/release/ringfence}

bash "$root/resources/rootfs/busybox.sh"
mkdir -p "$dest"
ln -sfn "$root/target/rootfs/busybox" "$dest/rootfs"
rm -f "$dest/config.json"
(cd "$dest" && "$ringfence" spec)
# As runc's, the spec runs `sh` on a terminal; the tests and the quick
# start pipe their input, so this bundle's process has none (the tests that
# want one set it back).
sed -i 's/"terminal": true/"terminal": false/' "$dest/config.json"
grep -q '"terminal": false' "$dest/config.json"

