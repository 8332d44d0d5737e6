# Subshells ( ... ): their own variables, cwd and traps, exit codes, nesting.
. /sh/lib.sh

(exit 7);                       check "(exit 7)" 7 $?
( (exit 3) );                   check "nested (exit 3)" 3 $?
( (exit 3); echo after-inner ); check "status of last command" 0 $?
(false);                        check "(false)" 1 $?
(exit 7) || echo "or-branch after 7"
(exit 0) && echo "and-branch after 0"
v=1
(v=2; echo "inside v=$v")
check "variable not leaked" 1 "$v"
(cd /data/dir && pwd)
check "cwd not leaked" / "$(pwd)"
(set -e; false; echo not-reached); check "set -e in subshell" 1 $?
echo "after set -e subshell"
(trap 'echo subshell exit trap' EXIT; echo in-subshell)
( exit 1 ); ( exit 2 ); ( exit 3 ) ; check "last one" 3 $?
# Deep nesting, each level its own process.
check "deep nesting" 5 "$( ( ( ( ( echo 5 ) ) ) ) )"
( ( ( ( exit 9 ) ) ) );         check "deep exit" 9 $?
# A subshell's output through a pipe.
(echo a; echo b; echo c) | wc -l
# A subshell killed by a signal.
(sh -c 'kill -TERM $$'); check "signal in subshell" 143 $?
# Braces run in the same shell.
{ v=3; }
check "braces share variables" 3 "$v"
(exit 4)
