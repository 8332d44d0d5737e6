# set -e: which failures end the shell (and with which status) and which
# do not: conditions, && || lists, !, pipelines, subshells, functions.
# Ends with a failing command under set -e: status 4.
. /sh/lib.sh

run() { sh -c "$1"; echo "status $?"; }
run 'set -e; false; echo not-reached'
run 'set -e; true; echo reached'
run 'set -e; if false; then :; fi; echo "if condition: survived"'
run 'set -e; while false; do :; done; echo "while condition: survived"'
run 'set -e; false && true; echo "&& list: survived"'
run 'set -e; false || true; echo "|| list: survived"'
run 'set -e; true && false; echo not-reached'
run 'set -e; ! true; echo "negated: survived"'
run 'set -e; false | true; echo "pipeline ending true: survived"'
run 'set -e; true | false; echo not-reached'
run 'set -e; (exit 3); echo not-reached'
run 'set -e; (false; echo not-reached-inside); echo not-reached'
run 'set -e; f() { false; echo "in f after false"; }; f || echo "f failed"; echo "f in || list: survived"'
run 'set -e; f() { return 2; }; f; echo not-reached'
run 'set -e; v=$(false); echo not-reached'
run 'set -e; echo $(false) "substitution in an argument: survived"'
run 'set -e; set +e; false; echo "set +e: survived"'
run 'set -e; trap "echo exit trap \$?" EXIT; false'
set -e
echo "script under set -e"
false || echo "|| keeps going"
( exit 4 )
echo not-reached
