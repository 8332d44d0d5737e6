# Sourced by the scripts of resources/sh (installed at /sh in the busybox test
# rootfs). Not a test itself.
#
# check WHAT EXPECTED ACTUAL: prints "ok WHAT", or "FAIL WHAT: ..." with both
# values. The native test fails on any FAIL line; the sandbox comparison
# shows the values that differ.
check() {
    if [ "$2" = "$3" ]; then
        echo "ok $1"
    else
        echo "FAIL $1: expected [$2], got [$3]"
    fi
}

# scratch: a fresh directory under /tmp in $T (the sandbox's /tmp is a
# tmpfs; natively it is the tree's /tmp, shared by concurrent scripts), for
# the caller to remove.
scratch() {
    T=$(mktemp -d /tmp/rf-sh.XXXXXX) || exit 90
}
