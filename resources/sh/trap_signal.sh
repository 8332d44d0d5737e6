# trap on signals sent with kill: handlers run after the sending command,
# ignored signals, reset to default, traps in child shells, a trap while a
# foreground child runs. Ends by killing itself with SIGTERM (status 143).
. /sh/lib.sh

trap 'echo "got USR1"' USR1
kill -USR1 $$
echo "after USR1"
kill -USR1 $$; kill -USR1 $$
echo "after two more"
count=0
trap 'count=$((count + 1))' USR2
for i in 1 2 3 4 5; do kill -USR2 $$; done
check "handler ran per signal" 5 $count
trap '' USR1
kill -USR1 $$
echo "USR1 ignored"
# An ignored signal stays ignored in a child (the disposition survives exec).
sh -c 'kill -USR1 $$; echo "child survived ignored USR1"'
trap - USR1
sh -c 'kill -USR1 $$; echo not-reached'; check "child died of USR1" 138 $?
# A trap in a child shell: handled there, exit status from the handler.
sh -c 'trap "echo child got TERM; exit 5" TERM; kill -TERM $$; echo not-reached'
check "child handler exit" 5 $?
sh -c 'trap "echo child got HUP" HUP; kill -HUP $$; echo child continues'
check "child continues" 0 $?
# A trapped signal that arrives while waiting for a foreground child: the
# child finishes first, then the handler runs.
trap 'echo "got USR2 during child"' USR2
sh -c 'kill -USR2 $PPID; echo child done'
echo "after child"
# Traps are listed (by the shell itself: a pipeline's subshell has none).
scratch
trap > "$T/traps"
cat "$T/traps"
rm -rf "$T"
# EXIT trap plus death by an untrapped signal: no EXIT trap in busybox ash.
trap - USR2
kill -TERM $$
echo not-reached
