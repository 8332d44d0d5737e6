# kill of background jobs, then wait $! and its status (128 + signal);
# stopped jobs, jobs already finished, pids already reaped, and a
# background shell whose trap handles the signal.
. /sh/lib.sh

sleep 30 &
kill $!
wait $!;                      check "TERM" 143 $?
sleep 30 &
kill -9 $!
wait $!;                      check "KILL" 137 $?
sleep 30 &
kill -USR1 $!
wait $!;                      check "USR1" 138 $?
sleep 30 &
kill -s HUP $!
wait $!;                      check "HUP via -s" 129 $?
sleep 30 &
kill -15 $!
wait $!;                      check "numeric signal" 143 $?
# A background job's own exit status, whether or not it already finished.
(exit 5) &
p=$!
sleep 0.1
wait $p;                      check "finished job" 5 $?
# Stopped jobs: SIGKILL ends one at once; SIGTERM waits for SIGCONT.
sleep 30 &
p=$!
kill -STOP $p
kill -KILL $p
wait $p;                      check "killed while stopped" 137 $?
sleep 30 &
p=$!
kill -STOP $p
kill -TERM $p
kill -CONT $p
wait $p;                      check "TERM delivered on CONT" 143 $?
# kill -0 probes; it fails once the job is reaped.
scratch
sleep 30 &
p=$!
kill -0 $p;                   check "kill -0 live" 0 $?
kill $p
wait $p
kill -0 $p 2>"$T/err";        check "kill -0 reaped" 1 $?
# A background shell with a trap: it says when the trap is set, then the
# signal runs the trap, whose exit gives the status.
sh -c 'trap "echo bg got TERM; exit 3" TERM; : > "$1/ready"; while :; do sleep 0.01; done' sh "$T" &
p=$!
while [ ! -e "$T/ready" ]; do sleep 0.01; done
kill $p
wait $p;                      check "trapped in background" 3 $?
rm -rf "$T"
