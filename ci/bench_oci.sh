#!/usr/bin/env bash
# Section (f) of ci/bench.sh, runnable alone: the OCI runtime's own costs.
#
#  * `run` of /bin/true on the busybox bundle (resources/bundle/busybox.sh),
#    and create + start + wait for exit + delete, OCI_RUNS runs each (default
#    20), median wall ms; for ringfence, and for runc and crun on the same
#    rootfs when they are installed ("not installed" otherwise).
#  * Peak RSS (VmHWM) of an idle container's sandbox and gofer processes
#    (`sleep 30`, measured 1 s after start).
#
# Environment: BENCH_OCI_RUNS (20), RINGFENCE_BIN (target/x86_64-unknown-linux-gnu/release/ringfence).
# Needs root (namespaces, cgroups) and /dev/kvm.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rf=${RINGFENCE_BIN:-$root/target/x86_64-unknown-linux-gnu/release/ringfence}
runs=${BENCH_OCI_RUNS:-20}
work=$(mktemp -d /tmp/ringfence-bench-oci.XXXXXX)
state=$work/state
trap 'for id in $(ls "$state" 2>/dev/null); do "$rf" --root "$state" delete -f "$id" >/dev/null 2>&1 || true; done; rm -rf "$work"' EXIT

RINGFENCE=$rf bash "$root/resources/bundle/busybox.sh" "$work/tpl" >/dev/null
rootfs=$(readlink -f "$work/tpl/rootfs")

median() {
    { grep -E '^[0-9]+([.][0-9]*)?$' || true; } | sort -g | awk '{ v[NR] = $1 }
        END {
            if (NR == 0) { print "n/a"; exit }
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%.2f\n", m
        }'
}
now_ns() { date +%s%N; }
ms_since() { awk -v d="$(($(now_ns) - $1))" 'BEGIN { printf "%.3f\n", d / 1e6 }'; }

# bundle DIR ARGS_JSON: a bundle for ringfence (its `spec`) running ARGS.
bundle() {
    mkdir -p "$1"
    ln -sfn "$rootfs" "$1/rootfs"
    python3 - "$1/config.json" "$2" "$work/tpl/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[3]))
c["process"]["args"] = json.loads(sys.argv[2])
json.dump(c, open(sys.argv[1], "w"))
PY
}

# runtime_bundle RUNTIME DIR ARGS_JSON: the runtime's own default spec.
runtime_bundle() {
    mkdir -p "$2"
    (cd "$2" && rm -f config.json && "$1" spec >/dev/null)
    # runc refuses a rootfs path that is a symlink: the real directory.
    python3 - "$2/config.json" "$3" "$rootfs" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["process"]["args"] = json.loads(sys.argv[2])
c["process"]["terminal"] = False
c["root"]["path"] = sys.argv[3]
json.dump(c, open(sys.argv[1], "w"))
PY
}

# time_run RT ROOT BUNDLE: one foreground run, ms.
time_run() {
    local t0
    t0=$(now_ns)
    "$1" --root "$2" run -b "$3" "r$RANDOM$RANDOM" </dev/null >/dev/null 2>&1 || { echo FAILED; return; }
    ms_since "$t0"
}

# time_lifecycle RT ROOT BUNDLE: create, start, wait until stopped, delete.
time_lifecycle() {
    local t0 id="l$RANDOM$RANDOM" s
    t0=$(now_ns)
    "$1" --root "$2" create -b "$3" "$id" </dev/null >/dev/null 2>&1 || { echo FAILED; return; }
    "$1" --root "$2" start "$id" >/dev/null 2>&1 || { echo FAILED; return; }
    while s=$("$1" --root "$2" state "$id" 2>/dev/null) && ! grep -q '"stopped"' <<<"$s"; do :; done
    "$1" --root "$2" delete "$id" >/dev/null 2>&1 || { echo FAILED; return; }
    ms_since "$t0"
}

measure() { # measure NAME RT ROOT BUNDLE
    local run_vals life_vals
    run_vals=$(for ((i = 0; i < runs; i++)); do time_run "$2" "$3" "$4"; done)
    life_vals=$(for ((i = 0; i < runs; i++)); do time_lifecycle "$2" "$3" "$4"; done)
    printf '%-12s %18s %28s %8s\n' "$1" "$(median <<<"$run_vals")" "$(median <<<"$life_vals")" \
        "$(grep -c FAILED <<<"$run_vals$life_vals" || true)"
}

echo "OCI runtime: $runs runs each, median ms (busybox bundle, /bin/true)"
printf '%-12s %18s %28s %8s\n' runtime "run /bin/true" "create+start+wait+delete" failed
bundle "$work/true" '["/bin/true"]'
measure ringfence "$rf" "$state" "$work/true"
for other in runc crun; do
    if command -v "$other" >/dev/null; then
        runtime_bundle "$other" "$work/$other" '["/bin/true"]'
        measure "$other" "$other" "$work/$other-state" "$work/$other"
    else
        printf '%-12s %18s\n' "$other" "not installed"
    fi
done

echo
bundle "$work/idle" '["/bin/sleep", "30"]'
# A failure is said, not hidden by set -e (a leftover ringfence/idle cgroup
# of an undeleted container made create fail silently). stderr goes to a
# file: the waiting sandbox process keeps it open.
if ! "$rf" --root "$state" create -b "$work/idle" idle </dev/null >/dev/null 2>"$work/idle.err"; then
    echo "idle container: create FAILED: $(cat "$work/idle.err")"
    exit 1
fi
"$rf" --root "$state" start idle
sleep 1
pid=$("$rf" --root "$state" state idle | sed -n 's/.*"pid": \([0-9]*\).*/\1/p')
gofer=$(ps -o pid= --ppid "$pid" | tr -d ' ' | head -n 1)
kb() { sed -n "s/^$2:[[:space:]]*\([0-9]*\) kB/\1/p" "/proc/$1/status"; }
sb_hwm=$(kb "$pid" VmHWM)
gf_hwm=$(kb "$gofer" VmHWM)
echo "idle container, peak RSS (VmHWM): sandbox ${sb_hwm} KiB (now $(kb "$pid" VmRSS)), gofer ${gf_hwm} KiB (now $(kb "$gofer" VmRSS)), total $(((sb_hwm + gf_hwm) / 1024)) MiB (target < 8 MiB)"
"$rf" --root "$state" delete -f idle
