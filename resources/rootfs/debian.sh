#!/usr/bin/env bash
# Builds a Debian 12 (bookworm) root filesystem for the dynamic-program tests
# (tests/tests/debian.rs): bash, coreutils and python3 (minimal, plus its
# standard library) with their shared libraries and ld.so, as a real
# distribution ships them. About 115 MB.
#
#   resources/rootfs/debian.sh [DEST]    (default: target/rootfs/debian)
#
# Needs root, debootstrap (apt-get install debootstrap) and deb.debian.org;
# takes one to two minutes. Idempotent: skipped while DEST/.built is newer
# than this script. The tree is built in a temporary directory beside DEST
# and renamed into place at the end, so an interrupted build never leaves a
# partial tree that looks done.
#
# Environment: RINGFENCE_DEBIAN_CACHE=PATH.tar[.gz|.xz|.zst]: if the tarball
# exists (and was made by this version of the script), it is unpacked
# instead of running debootstrap; after a debootstrap build it is (re)written.
# DEBIAN_MIRROR overrides the mirror.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
script=$here/$(basename "${BASH_SOURCE[0]}")
dest=${1:-$root/target/rootfs/debian}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${RINGFENCE_DEBIAN_CACHE:-}

die() { echo "debian.sh: $*" >&2; exit 1; }
built() { [[ -f $dest/.built && $dest/.built -nt $script ]]; }

built && exit 0

((EUID == 0)) || die "must run as root (debootstrap and chroot need it)"
dest=$(realpath -m "$dest")
parent=$(dirname "$dest")
mkdir -p "$parent"

# One build at a time per DEST; a second caller waits and then finds it done.
exec 9>"$parent/.$(basename "$dest").lock"
flock 9
built && exit 0

# Identifies this recipe in a cache tarball: a tarball from another version
# of the script is not used (comments aside).
recipe=$(grep -v '^[[:space:]]*#' "$script" | sha256sum | cut -d' ' -f1)

start=$SECONDS
tmp=$(mktemp -d "$parent/.$(basename "$dest").tmp.XXXXXX")
chmod 755 "$tmp"
# debootstrap mounts /proc and /sys inside the tree while it works: unmount
# whatever an interrupted run left there before deleting, and never cross
# into another file system.
cleanup() {
    local m
    for m in $(awk -v t="$tmp" 'index($2, t "/") == 1 { print $2 }' /proc/mounts | sort -r); do
        umount -l "$m" 2>/dev/null || true
    done
    rm -rf --one-file-system "$tmp"
    rm -f "$tmp.log"
}
trap cleanup EXIT

if [[ -n $cache && -f $cache ]] && tar -xOf "$cache" ./.recipe 2>/dev/null | grep -qx "$recipe"; then
    echo "debian.sh: unpacking $cache into $dest"
    tar -xpf "$cache" --numeric-owner -C "$tmp"
    from_cache=1
else
    [[ -n $cache && -f $cache ]] && echo "debian.sh: $cache is from another version of this script; rebuilding"
    command -v debootstrap >/dev/null ||
        die "debootstrap not found (apt-get install debootstrap)"
    echo "debian.sh: debootstrap bookworm from $mirror into $dest (one to two minutes)"
    log=$tmp.log
    # python3-minimal lacks much of the standard library (json, for one):
    # libpython3-stdlib adds it without the rest of the python3 package.
    if ! debootstrap --variant=minbase --include=python3-minimal,libpython3-stdlib bookworm "$tmp" "$mirror" >"$log" 2>&1; then
        tail -n 30 "$log" >&2
        die "debootstrap failed (log above; is $mirror reachable?)"
    fi
    rm -f "$log"

    # Smaller, and the same wherever it is built: no package caches or
    # lists, documentation, translations or the build host's resolv.conf.
    rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/cache/apt/*.bin \
        "$tmp"/var/lib/apt/lists/* "$tmp"/var/log/* \
        "$tmp"/usr/share/{doc,man,info,locale,lintian,linda}/*
    rm -f "$tmp/etc/resolv.conf"
    # Keep them out if packages are installed into the tree later.
    cat >"$tmp/etc/dpkg/dpkg.cfg.d/01-ringfence-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
    echo ringfence-debian >"$tmp/etc/hostname"
    echo "$recipe" >"$tmp/.recipe"
    from_cache=0
fi

touch "$tmp/.built"
# Replace an older tree: move it aside, move the new one in, then delete.
if [[ -e $dest ]]; then
    old=$(mktemp -d "$parent/.$(basename "$dest").old.XXXXXX")
    mv -T "$dest" "$old/tree"
    mv -T "$tmp" "$dest"
    rm -rf --one-file-system "$old"
else
    mv -T "$tmp" "$dest"
fi

if [[ -n $cache && $from_cache == 0 ]]; then
    mkdir -p "$(dirname "$cache")"
    # Same name ending as the cache, so that tar -a picks its compression.
    part=$(dirname "$cache")/.tmp.$$.$(basename "$cache")
    tar -caf "$part" --numeric-owner --exclude=./.built -C "$dest" . && mv -f "$part" "$cache" ||
        { rm -f "$part"; echo "debian.sh: could not write the cache $cache (continuing)" >&2; }
fi

echo "debian.sh: $dest ready in $((SECONDS - start)) s ($(du -sh --one-file-system "$dest" | cut -f1))"
