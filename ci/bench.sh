#!/usr/bin/env bash
# The project's benchmark: ringfence against native Linux, in one invocation.
#
#  (a) getppid latency: resources/c/getppid_bench N (N getppid syscalls,
#      after a fixed warmup) natively and under `ringfence do`, RUNS runs
#      each, medians of ns/call and their ratio; plus VM exits per syscall
#      from `--stats`: (exits with 2N - exits with N) / N, expected ~0 since
#      getppid is served inside the guest.
#  (b) `busybox true` end to end: TRUE_RUNS runs natively and under
#      `ringfence do`, median wall time in ms and the ratio.
#  (c), (d) files through the gofer; (e) processes: fork+exec+wait, pipe
#      round trip, thread create+join, page fault (resources/c/proc_bench).
#  (f) the OCI runtime: `run` of /bin/true and create+start+wait+delete
#      against runc/crun when installed, and the idle sandbox's and gofer's
#      peak RSS (ci/bench_oci.sh, runnable alone).
#  (g) the ptrace platform: getppid, fork+exec+wait and a page fault under
#      --platform ptrace, against a raw PTRACE_SYSEMU round trip.
#
# Environment: BENCH_N (default 1000000), BENCH_RUNS (5), BENCH_TRUE_RUNS
# (20), RINGFENCE_BIN (default
# target/x86_64-unknown-linux-gnu/release/ringfence: build it first with
# `cargo build --release`). Noisy numbers never fail the script; a sandbox
# run that fails is shown as FAILED and makes the exit status 1.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

n=${BENCH_N:-1000000}
runs=${BENCH_RUNS:-5}
true_runs=${BENCH_TRUE_RUNS:-20}
rf=${RINGFENCE_BIN:-$root/target/x86_64-unknown-linux-gnu/release/ringfence}
per_run_limit=300 # seconds; a hung run is killed and counted as failed

if [[ ! -x $rf ]]; then
    echo "ci/bench.sh: $rf not found: run \`cargo build --release\` first (or set RINGFENCE_BIN)" >&2
    exit 1
fi
busybox=
for b in /usr/bin/busybox /bin/busybox; do
    [[ -x $b ]] && busybox=$b && break
done
if [[ -z $busybox ]]; then
    echo "ci/bench.sh: busybox not found: apt-get install busybox-static" >&2
    exit 1
fi

bash resources/build.sh >/dev/null
bench=${RINGFENCE_RESOURCES:-$root/target/resources}/getppid_bench

failures=0
limit=()
command -v timeout >/dev/null && limit=(timeout -k 5 "$per_run_limit")

# median: reads values, one per line, prints the median of the numbers among
# them (FAILED and empty lines are skipped), or "n/a".
median() {
    { grep -E '^[0-9]+([.][0-9]*)?$' || true; } | sort -g | awk '{ v[NR] = $1 }
        END {
            if (NR == 0) { print "n/a"; exit }
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%.3f\n", m
        }'
}

# ratio A B: A / B with 2 decimals, or n/a.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "n/a" || b == "n/a" || b + 0 == 0) print "n/a"; else printf "%.2fx\n", a / b }'
}

# ns_per_call CMD...: runs CMD, prints its ns_per_call value (or nothing).
ns_per_call() {
    local out
    if out=$("${limit[@]}" "$@" </dev/null 2>/dev/null) && grep -q '^ns_per_call=' <<<"$out"; then
        sed -n 's/^ns_per_call=//p' <<<"$out"
    else
        echo "ci/bench.sh: failed: $*" >&2
        return 1
    fi
}

# stats_field FIELD CMD...: runs CMD (a `ringfence do --stats`), prints FIELD.
stats_field() {
    local field=$1 err
    shift
    if err=$("${limit[@]}" "$@" </dev/null 2>&1 >/dev/null); then
        sed -n "s/.*ringfence-stats:.*[[:space:]]$field=\([0-9]*\).*/\1/p" <<<"$err" | tail -n 1
        return 0
    else
        echo "ci/bench.sh: failed: $*" >&2
        return 1
    fi
}

# wall_ms CMD...: runs CMD once, prints its wall time in ms.
wall_ms() {
    local t0 t1
    t0=$(date +%s%N)
    "${limit[@]}" "$@" </dev/null >/dev/null 2>&1 || return 1
    t1=$(date +%s%N)
    awk -v d="$((t1 - t0))" 'BEGIN { printf "%.3f\n", d / 1e6 }'
}

# collect COUNT CMD...: runs a measuring function COUNT times and prints one
# value per line, FAILED for a run that failed (counted by the caller).
collect() {
    local count=$1 i
    shift
    for ((i = 0; i < count; i++)); do
        "$@" || echo FAILED
    done
}

echo "ringfence benchmark: $(uname -r), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "getppid: N=$n, $runs runs each; busybox true: $true_runs runs each; medians"
echo

# (a) getppid
native_vals=$(collect "$runs" ns_per_call "$bench" "$n")
sandbox_vals=$(collect "$runs" ns_per_call "$rf" do -- "$bench" "$n")
failures=$((failures + $(grep -c FAILED <<<"$sandbox_vals$native_vals" || true)))
native_ns=$(median <<<"$native_vals")
sandbox_ns=$(median <<<"$sandbox_vals")

exits_n=$(stats_field exits "$rf" do --stats -- "$bench" "$n" || echo FAILED)
exits_2n=$(stats_field exits "$rf" do --stats -- "$bench" "$((2 * n))" || echo FAILED)
boot_us=$(stats_field boot_us "$rf" do --stats -- "$busybox" true || echo FAILED)
if [[ $exits_n =~ ^[0-9]+$ && $exits_2n =~ ^[0-9]+$ ]]; then
    exits_per_call=$(awk -v a="$exits_n" -v b="$exits_2n" -v n="$n" 'BEGIN { printf "%.4f", (b - a) / n }')
else
    exits_per_call=FAILED
    failures=$((failures + 1))
fi
[[ $boot_us =~ ^[0-9]+$ ]] || boot_us=n/a

# (b) busybox true end to end
native_true=$(collect "$true_runs" wall_ms "$busybox" true)
sandbox_true=$(collect "$true_runs" wall_ms "$rf" do -- "$busybox" true)
failures=$((failures + $(grep -c FAILED <<<"$sandbox_true$native_true" || true)))
native_ms=$(median <<<"$native_true")
sandbox_ms=$(median <<<"$sandbox_true")

# (c) files through the gofer: a 16 MiB read (9P data path) and a
# metadata walk (one Twalk and Tgetattr per entry), both from a --rootfs
# tree; native runs read the same tree.
files_dir=$(mktemp -d)
trap 'rm -rf "$files_dir"' EXIT
mkdir -p "$files_dir/bin" "$files_dir/data"
cp "$busybox" "$files_dir/bin/busybox"
head -c $((16 << 20)) /dev/urandom > "$files_dir/data/big"
for d in $(seq 1 20); do mkdir -p "$files_dir/data/tree/$d"; for f in $(seq 1 50); do : > "$files_dir/data/tree/$d/$f"; done; done
native_read=$(collect "$true_runs" wall_ms "$busybox" sha256sum "$files_dir/data/big")
sandbox_read=$(collect "$true_runs" wall_ms "$rf" do --rootfs "$files_dir" -- /bin/busybox sha256sum /data/big)
native_find=$(collect "$true_runs" wall_ms "$busybox" find "$files_dir/data/tree")
sandbox_find=$(collect "$true_runs" wall_ms "$rf" do --rootfs "$files_dir" -- /bin/busybox find /data/tree)
failures=$((failures + $(grep -c FAILED <<<"$native_read$sandbox_read$native_find$sandbox_find" || true)))
read_hostcalls=$(stats_field hostcalls "$rf" do --stats --rootfs "$files_dir" -- /bin/busybox sha256sum /data/big || echo n/a)
find_hostcalls=$(stats_field hostcalls "$rf" do --stats --rootfs "$files_dir" -- /bin/busybox find /data/tree || echo n/a)
# (d) the file benchmark of the files issue: stat, open+read+close of a
# small file, sequential reads of a 256 MiB file in 4 KiB and 1 MiB blocks
# (fs_bench times its own loop; same tree natively and through the gofer).
fsb=$root/target/resources/fs_bench
cp "$fsb" "$files_dir/fs_bench"
echo small > "$files_dir/data/small"
head -c $((256 << 20)) /dev/urandom > "$files_dir/data/seq"
fs_value() { "${limit[@]}" "$@" 2>/dev/null | sed -n 's/^\(ns_per_op\|mb_per_s\)=\([0-9.]*\).*/\2/p' | grep . || echo FAILED; }
fs_pair() { # fs_pair MODE FILE ARG -> "native sandbox" medians
    local nat sb
    nat=$(collect "$runs" fs_value "$fsb" "$1" "$files_dir$2" "$3")
    sb=$(collect "$runs" fs_value "$rf" do --rootfs "$files_dir" -- /fs_bench "$1" "$2" "$3")
    failures=$((failures + $(grep -c FAILED <<<"$nat$sb" || true)))
    echo "$(median <<<"$nat") $(median <<<"$sb")"
}
read -r stat_n stat_s <<<"$(fs_pair stat /data/small 100000)"
read -r orc_n orc_s <<<"$(fs_pair orc /data/small 20000)"
read -r seq4k_n seq4k_s <<<"$(fs_pair seq /data/seq 4096)"
read -r seq1m_n seq1m_s <<<"$(fs_pair seq /data/seq 1048576)"

# (e) processes (the processes issue): proc_bench times fork+exec+wait of
# busybox true, a one-byte pipe round trip between two processes, a thread
# create+join and a first-touch page fault inside the program; RUNS runs
# each side, medians of the per-run medians.
pb=$root/target/resources/proc_bench
pb_runs() { # pb_runs SIDE... -> one "name ns" line per benchmark and run
    local i
    for ((i = 0; i < runs; i++)); do
        "${limit[@]}" "$@" "$pb" 200 "$busybox" true </dev/null 2>/dev/null || echo FAILED
    done
}
pb_native=$(pb_runs)
pb_sandbox=$(pb_runs "$rf" do --)
failures=$((failures + $(grep -c FAILED <<<"$pb_native$pb_sandbox" || true)))
pb_median() { sed -n "s/^$1 \([0-9]*\)$/\1/p" | median; }

# (g) the ptrace platform (the ptrace issue): getppid and proc_bench under
# `ringfence --platform ptrace do`, against the floor of that platform, a
# raw PTRACE_SYSEMU round trip (resources/c/sysemu_bench: SYSEMU, waitpid,
# GETREGS, SETREGS per syscall), in the same run. PT_N getppid calls
# (default 20000: each costs a round trip of tens of microseconds here).
pt_n=${BENCH_PTRACE_N:-20000}
pt_raw=$(for ((i = 0; i < runs; i++)); do
    "${limit[@]}" "$root/target/resources/sysemu_bench" "$pt_n" | sed -n 's/^ns_per_roundtrip=//p' || echo FAILED
done)
pt_getppid=$(for ((i = 0; i < runs; i++)); do
    "${limit[@]}" "$rf" --platform ptrace do -- "$bench" "$pt_n" </dev/null 2>/dev/null | sed -n 's/^ns_per_call=//p' || echo FAILED
done)
pt_pb=$(pb_runs "$rf" --platform ptrace do --)
failures=$((failures + $(grep -c FAILED <<<"$pt_raw$pt_getppid$pt_pb" || true)))
pt_raw_ns=$(median <<<"$pt_raw")
pt_getppid_ns=$(median <<<"$pt_getppid")

native_read_ms=$(median <<<"$native_read")
sandbox_read_ms=$(median <<<"$sandbox_read")
native_find_ms=$(median <<<"$native_find")
sandbox_find_ms=$(median <<<"$sandbox_find")

row() { printf '%-34s %14s %14s %10s\n' "$@"; }
row "benchmark" "native" "ringfence" "ratio"
row "----------------------------------" "--------------" "--------------" "----------"
row "getppid (ns/call)" "$native_ns" "$sandbox_ns" "$(ratio "$sandbox_ns" "$native_ns")"
row "busybox true, end to end (ms)" "$native_ms" "$sandbox_ms" "$(ratio "$sandbox_ms" "$native_ms")"
row "sha256sum 16 MiB via 9P (ms)" "$native_read_ms" "$sandbox_read_ms" "$(ratio "$sandbox_read_ms" "$native_read_ms")"
row "find 1,020 entries via 9P (ms)" "$native_find_ms" "$sandbox_find_ms" "$(ratio "$sandbox_find_ms" "$native_find_ms")"
row "stat (ns/op)" "$stat_n" "$stat_s" "$(ratio "$stat_s" "$stat_n")"
row "open+read 4K+close (ns/op)" "$orc_n" "$orc_s" "$(ratio "$orc_s" "$orc_n")"
row "sequential read, 4 KiB (MB/s)" "$seq4k_n" "$seq4k_s" "$(ratio "$seq4k_s" "$seq4k_n")"
row "sequential read, 1 MiB (MB/s)" "$seq1m_n" "$seq1m_s" "$(ratio "$seq1m_s" "$seq1m_n")"
for b in fork_exec_wait pipe_roundtrip thread_create page_fault; do
    nat=$(pb_median "$b" <<<"$pb_native")
    sb=$(pb_median "$b" <<<"$pb_sandbox")
    row "$b (ns)" "$nat" "$sb" "$(ratio "$sb" "$nat")"
done
echo
row "ptrace platform" "native" "ptrace" "ratio"
row "getppid (ns/call)" "$native_ns" "$pt_getppid_ns" "$(ratio "$pt_getppid_ns" "$native_ns")"
row "raw PTRACE_SYSEMU round trip (ns)" "" "$pt_raw_ns" ""
row "getppid / raw round trip" "" "" "$(ratio "$pt_getppid_ns" "$pt_raw_ns")"
for b in fork_exec_wait page_fault; do
    nat=$(pb_median "$b" <<<"$pb_native")
    sb=$(pb_median "$b" <<<"$pt_pb")
    row "$b (ns)" "$nat" "$sb" "$(ratio "$sb" "$nat")"
done
echo
row "VM exits per getppid (--stats)" "" "$exits_per_call" ""
echo "  exits with N=$n: $exits_n, with 2N: $exits_2n"
row "sandbox boot (--stats boot_us)" "" "$boot_us" ""
row "hostcalls: sha256sum 16 MiB" "" "$read_hostcalls" ""
row "hostcalls: find 1,020 entries" "" "$find_hostcalls" ""

echo
bash "$root/ci/bench_oci.sh" || failures=$((failures + 1))

if ((failures > 0)); then
    echo
    echo "ci/bench.sh: $failures run(s) failed (shown as FAILED or missing from the medians)" >&2
    exit 1
fi
