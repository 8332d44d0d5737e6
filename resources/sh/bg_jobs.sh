# Several background jobs at once: plain wait, wait for chosen pids, $!,
# jobs writing to one file with >>, jobs in pipelines and subshells.
. /sh/lib.sh

scratch
for i in 1 2 3 4 5; do
    (seq 1 $((i * 1000)) | wc -l > "$T/job$i") &
done
wait;                        check "wait for all" 0 $?
cat "$T"/job1 "$T"/job2 "$T"/job3 "$T"/job4 "$T"/job5 | tr '\n' ' '; echo
# wait PID... returns the status of the last one named.
(exit 2) & a=$!
(exit 3) & b=$!
(exit 4) & c=$!
wait $a;                     check "wait a" 2 $?
wait $c $b;                  check "wait c b" 3 $?
[ "$a" != "$b" ] && [ "$b" != "$c" ]; check "distinct pids" 0 $?
# Writers appending lines at once: every line arrives whole.
for w in a b c d; do
    (for i in $(seq 1 200); do echo "$w$i" >> "$T/shared"; done) &
done
wait
check "appended lines" 800 "$(wc -l < "$T/shared")"
check "each writer" "200 200 200 200" "$(for w in a b c d; do grep -c "^$w[0-9]*\$" "$T/shared"; done | tr '\n' ' ' | sed 's/ $//')"
sort "$T/shared" | md5sum
# A background pipeline; $! is its last command.
seq 1 50 | grep 5 | wc -l > "$T/pipe" &
wait $!
check "background pipeline" 6 "$(cat "$T/pipe")"
# Many short jobs.
i=0
while [ $i -lt 30 ]; do true & i=$((i + 1)); done
wait;                        check "30 jobs" 0 $?
# Jobs that outlive a foreground command, reading and writing pipes.
mkfifo "$T/fifo"
(tr a-z A-Z < "$T/fifo" > "$T/upper") &
p=$!
echo "through a fifo" > "$T/fifo"
wait $p
cat "$T/upper"
rm -rf "$T"
