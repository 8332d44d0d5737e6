#!/usr/bin/env bash
# Builds a small busybox root filesystem for the file tests.
#
#   resources/rootfs/busybox.sh [DEST]    (default: target/rootfs/busybox)
#
# The tree holds the static busybox with its applets as symlinks, /etc with
# passwd and group (so ls -l prints the same names natively and in the
# sandbox), the mount points /dev /proc /tmp, and /data: files of several
# sizes, nested directories, relative and absolute symlinks, a hard link, and
# symlinks that point outside the tree (which must resolve inside it).
# /sh holds the shell scripts of resources/sh, and /dev/null is a real
# device node for native chroot runs (ash opens it for every background
# job; the sandbox mounts its own /dev over the directory).
# Idempotent: rebuilt only when this script or a file of resources/sh
# changed (a checksum of them is kept in .built).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
dest=${1:-$root/target/rootfs/busybox}
busybox=${BUSYBOX:-/usr/bin/busybox}
scripts=$here/../sh

stamp=$(cat "${BASH_SOURCE[0]}" "$scripts"/* | sha256sum)
if [[ -f $dest/.built && $(cat "$dest/.built") == "$stamp" ]]; then
    exit 0
fi
[[ -x $busybox ]] || { echo "busybox.sh: $busybox not found (apt-get install busybox-static)" >&2; exit 1; }

rm -rf "$dest"
mkdir -p "$dest"/{bin,etc,dev,proc,tmp,root,sh,data/dir/sub/deeper,data/empty}
chmod 1777 "$dest/tmp"
cp "$busybox" "$dest/bin/busybox"
for applet in $("$busybox" --list); do
    [[ $applet == busybox ]] || ln -sf busybox "$dest/bin/$applet"
done
ln -s bin "$dest/sbin"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$dest/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$dest/etc/group"
printf 'ringfence-test-rootfs\n' > "$dest/etc/hostname"
printf 'NAME="ringfence busybox test rootfs"\nID=ringfence\n' > "$dest/etc/os-release"
cp "$scripts"/*.sh "$dest/sh/"
mknod -m 666 "$dest/dev/null" c 1 3 ||
    echo "busybox.sh: cannot create dev/null (not root?): background jobs of sh fail in a chroot of the tree" >&2

d=$dest/data
printf 'hello\nworld\n' > "$d/hello.txt"
seq 1 20000 > "$d/numbers.txt"
head -c 300000 /dev/zero | tr '\0' 'x' > "$d/big.txt"
printf 'needle in dir\n' > "$d/dir/a.txt"
printf 'another needle\nhay\n' > "$d/dir/sub/b.txt"
printf 'deep\n' > "$d/dir/sub/deeper/c.txt"
printf '#!/bin/sh\necho script\n' > "$d/dir/run.sh"
chmod 755 "$d/dir/run.sh"
chmod 600 "$d/dir/sub/b.txt"
ln -s hello.txt "$d/rel-link"
ln -s /data/dir/a.txt "$d/abs-link"
ln -s ../../../../etc/os-release "$d/up-link"
ln -s /etc "$d/etc-link"
ln -s dangling-target "$d/dangling"
ln "$d/hello.txt" "$d/hard.txt"
# Fixed times so that native and sandboxed listings agree.
find "$dest" -exec touch -h -d '2024-01-02 03:04:05' {} +
printf '%s\n' "$stamp" > "$dest/.built"
