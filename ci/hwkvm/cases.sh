#!/bin/busybox sh
# Runs each case of a cases file (format: see ci/hwkvm/cases.txt) and
# prints one line per case:
#   CASE <mode>:<name> PASS|FAIL (exit N[, want W], T s[, details])
# Usage (inside the emulated machine): cases.sh MODE CASES_FILE
mode=$1
file=$2
per_case_timeout=20 # seconds; a case takes ~0.5 s
uptime_cs() { awk '{ printf "%d", $1 * 100 }' /proc/uptime; }

while IFS='|' read -r name want_exit want_out cmd; do
    case $name in '' | '#'*) continue ;; esac
    t0=$(uptime_cs)
    timeout -s KILL "$per_case_timeout" sh -c "$cmd" < /dev/null > /tmp/case.out 2> /tmp/case.err
    rc=$?
    t1=$(uptime_cs)
    secs=$(awk "BEGIN { printf \"%.2f\", ($t1 - $t0) / 100 }")
    # The stdout shown: from the expected text on, else the first line.
    first=$(awk -v w="$want_out" 'w == "" || (i = index($0, w)) { print substr($0, w == "" ? 1 : i, 60); exit }' /tmp/case.out)
    why=""
    [ "$rc" = "$want_exit" ] || why="want exit $want_exit"
    if [ -n "$want_out" ] && ! grep -qF -- "$want_out" /tmp/case.out; then
        why="${why:+$why; }stdout lacks '$want_out'"
    fi
    if [ -z "$why" ]; then
        echo "CASE $mode:$name PASS (exit $rc, ${secs} s${first:+, stdout: $first})"
    else
        echo "CASE $mode:$name FAIL (exit $rc, ${secs} s, $why${first:+, stdout: $first})"
        echo "  command: $cmd"
        sed 's/^/  stderr: /' /tmp/case.err | tail -n 15
    fi
done < "$file"
