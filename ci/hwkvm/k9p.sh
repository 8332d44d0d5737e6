#!/bin/busybox sh
# The gofer against a 9P client nobody here wrote (issue 4): inside the
# emulated machine, whose Debian kernel has the 9p modules this host lacks,
# `ringfence gofer` (confined, seccomp'd, as the runtime starts it) serves a
# tree that the Linux kernel's own 9p client mounts (trans=fd, 9P2000.L).
# The same file operations run on that mount and on a plain directory with
# the same starting tree; their outputs, and the trees they leave, must
# match. Prints "k9p: PASS" or "k9p: FAIL: why".
fail() { echo "k9p: FAIL: $*" >&2; exit 1; }


M=/lib/modules
if ! grep -qw 9p /proc/filesystems; then
    for m in netfs fscache 9pnet 9pnet_fd 9p; do
        grep -q "^$m " /proc/modules || insmod "$M/$m.ko" || fail "insmod $m.ko"
    done
fi

W=/tmp/k9p
umount "$W/mnt" 2> /dev/null
rm -rf "$W"
mkdir -p "$W/srv" "$W/nat" "$W/mnt"

# seed DIR: the starting tree.
seed() {
    mkdir -p "$1/etc" "$1/sub/deeper"
    echo "hello from the host" > "$1/hello.txt"
    printf 'b\na\nc\n' > "$1/etc/list"
    ln -s ../hello.txt "$1/sub/rel"
    echo deep > "$1/sub/deeper/file"
}

# ops DIR: file operations through DIR, printing what both runs must agree on.
ops() {
    cd "$1" || return 1
    cat hello.txt sub/rel sub/deeper/file
    sort etc/list
    readlink sub/rel
    echo written > new.txt && cat new.txt
    mkdir d && mv new.txt d/renamed && ls d
    ln -s ../hello.txt d/ln && readlink d/ln && cat d/ln
    ln d/renamed d/hard && stat -c '%h %s %A %F' d/hard d/ln
    dd if=/dev/zero bs=65536 count=16 2> /dev/null | tr '\0' Z > big
    sha256sum big | cut -d' ' -f1
    wc -c < big
    cp big big2 && cmp big big2 && echo copies-equal
    chmod 640 big && stat -c '%a %s' big
    truncate -s 1000 big2 && stat -c '%s' big2
    echo appended >> d/renamed && cat d/renamed
    touch -d '2001-02-03 04:05:06' d/renamed && stat -c '%Y' d/renamed
    find . | sort
    tar cf - d etc sub | tar tvf - | awk '{ print $1, $3, $NF }' | sort
    grep -r host . | sort
    rmdir d 2>&1
    mv d e && rm -r e big2
    mkdir -p x/y/z && rmdir x/y/z x/y x
    ls -a | sort
    cd /
}

seed "$W/srv"
seed "$W/nat"
# Output to a file, not $(...): the gofer inherits it and outlives k9p_mount.
/resources/k9p_mount "$W/mnt" /bin/ringfence gofer --fd 3 --root "$W/srv" > "$W/mount.out" 2>&1 ||
    fail "mount: $(cat "$W/mount.out")"
pid=$(sed -n 's/^mounted gofer_pid=//p' "$W/mount.out")
grep -q " $W/mnt 9p " /proc/mounts || fail "no 9p mount at $W/mnt"
ops "$W/mnt" > "$W/through-9p.txt" 2>&1
ops "$W/nat" > "$W/native.txt" 2>&1
umount "$W/mnt" || fail "umount"
# The kernel dropped its end of the socket: the gofer sees EOF and exits.
i=0
while kill -0 "$pid" 2> /dev/null && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
done
kill -0 "$pid" 2> /dev/null && fail "the gofer (pid $pid) still runs after the umount"

if ! cmp -s "$W/through-9p.txt" "$W/native.txt"; then
    diff "$W/native.txt" "$W/through-9p.txt" | head -n 20 >&2
    fail "outputs differ (native -, 9p +)"
fi
# The served tree on the host side is what the native run left.
tree() { (cd "$1" && find . | sort | while read -r f; do
    if [ -f "$f" ] && [ ! -L "$f" ]; then echo "$f $(stat -c '%a %s' "$f") $(sha256sum < "$f" | cut -c1-16)"; else echo "$f"; fi
done); }
[ "$(tree "$W/srv")" = "$(tree "$W/nat")" ] || fail "the served tree differs from the native one"
echo "k9p: $(wc -l < "$W/native.txt") lines of output equal"
echo "k9p: PASS"
