# Functions: arguments, return statuses, local variables, recursion, output
# captured and piped, functions in pipelines and subshells.
. /sh/lib.sh

greet() { echo "hello, $1 ($# args)"; }
greet world
greet "two words" extra
status() { return "$1"; }
status 0; check "return 0" 0 $?
status 5; check "return 5" 5 $?
status 255; check "return 255" 255 $?
noreturn() { false; }
noreturn; check "implicit status" 1 $?

fact() {
    if [ "$1" -le 1 ]; then echo 1; else echo $(( $1 * $(fact $(($1 - 1))) )); fi
}
check "recursion via \$(...)" 3628800 "$(fact 10)"
fib() {
    local n=$1 a b
    [ "$n" -lt 2 ] && { r=$n; return; }
    fib $((n - 1)); a=$r
    fib $((n - 2)); b=$r
    r=$((a + b))
}
fib 15
check "recursion with local" 610 "$r"

x=global
scope() { local x=local; inner; }
inner() { echo "inner sees $x"; }
scope
check "local restored" global "$x"
setter() { y=set-by-function; }
setter
check "global assignment" set-by-function "$y"

args() { for a in "$@"; do printf '<%s>' "$a"; done; echo; shift 2; echo "after shift: $*"; }
args one "two three" "" four

# A function in a pipeline runs in a child; its assignments stay there.
z=before
setz() { z=after; echo piped; }
setz | cat
check "function in pipeline" before "$z"
upper() { tr a-z A-Z; }
echo lower | upper
seq 1 3 | { while read n; do echo "n$n"; done; } | upper
# Redirections on a function call and in its definition.
scratch
to_file() { echo one; echo two; }
to_file > "$T/f"
check "redirected call" 2 "$(wc -l < "$T/f")"
logged() { echo "to the log"; } >> "$T/log"
logged; logged
check "redirection in definition" 2 "$(wc -l < "$T/log")"
unset -f greet
greet 2>"$T/err"
check "unset -f" 127 $?
rm -rf "$T"
