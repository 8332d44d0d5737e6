# trap ... EXIT: runs once when the script ends, sees the exit status, can
# be replaced or removed; subshells have their own. Ends with exit 7.
. /sh/lib.sh

scratch
trap 'echo "exit trap 1"' EXIT
trap 'echo "exit trap 2 (replaced), status $?"; rm -rf "$T"' EXIT
trap > "$T/traps"
check "trap lists it" 1 "$(grep -c "exit trap 2" "$T/traps")"
( trap 'echo "subshell exit trap, status $?"' EXIT; exit 3 )
check "subshell status" 3 $?
( trap 'echo "subshell trap on normal end"' EXIT; true )
# A trap set in a subshell does not touch the parent's.
( trap - EXIT; echo "subshell removed its copy" )
# A command substitution is a subshell too.
v=$(trap 'echo from-trap' EXIT; echo body)
check "trap output captured" "$(printf 'body\nfrom-trap')" "$v"
# A child shell's EXIT trap runs on exit and on falling off the end.
sh -c 'trap "echo child exit trap" EXIT; exit 2'; check "child status" 2 $?
sh -c 'trap "echo child trap at end" EXIT; echo child body'
# An EXIT trap may change the status with exit.
sh -c 'trap "exit 11" EXIT; exit 2'; check "trap overrides status" 11 $?
# ... but not by running a failing command.
sh -c 'trap "false" EXIT; exit 2'; check "trap keeps status" 2 $?
test -d "$T" && echo "scratch exists before exit"
exit 7
