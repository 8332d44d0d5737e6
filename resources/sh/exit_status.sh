# Exit statuses: of pipelines (with and without pipefail), of child shells
# that exit, are killed by a signal, or cannot run a command; 8-bit wrap.
. /sh/lib.sh

false | true;           check "false|true" 0 $?
true | false;           check "true|false" 1 $?
false | false | true;   check "false|false|true" 0 $?
(exit 3) | (exit 4);    check "(exit 3)|(exit 4)" 4 $?
set -o pipefail
false | true;           check "pipefail false|true" 1 $?
(exit 3) | true;        check "pipefail 3|true" 3 $?
(exit 3) | (exit 5) | true; check "pipefail rightmost failure" 5 $?
true | true;            check "pipefail true|true" 0 $?
set +o pipefail

sh -c 'exit 0';         check "exit 0" 0 $?
sh -c 'exit 42';        check "exit 42" 42 $?
sh -c 'exit 255';       check "exit 255" 255 $?
sh -c 'exit 300';       check "exit 300 wraps" 44 $?
sh -c 'kill -TERM $$';  check "killed by TERM" 143 $?
sh -c 'kill -KILL $$';  check "killed by KILL" 137 $?
sh -c 'kill -USR2 $$';  check "killed by USR2" 140 $?
# An explicit status of a signal death, as the shell reports it.
sh -c 'exit 143';       check "exit 143 looks the same" 143 $?

scratch
nosuch-command-rf 2>"$T/err"; check "not found" 127 $?
check "not found message" "nosuch-command-rf: not found" "$(sed 's/^.*: line [0-9]*: //' "$T/err")"
printf 'echo hi\n' > "$T/noexec"
"$T/noexec" 2>"$T/err"; check "not executable" 126 $?
check "not executable message" "$T/noexec: Permission denied" "$(sed 's/^.*: line [0-9]*: //' "$T/err")"
printf '#!/bin/sh\nexit 9\n' > "$T/x"
chmod +x "$T/x"
"$T/x";                 check "script exit 9" 9 $?
rm -rf "$T"

# A failing command inside $(...) sets $? of an assignment.
v=$(exit 6);            check "assignment status" 6 $?
v=$(true) ;             check "assignment status 0" 0 $?
# The whole script's status: the last command's.
false | (exit 3)
