# Command substitution: $(...) and backquotes, nesting, trailing newlines,
# the status of the substituted command, large outputs, word splitting.
. /sh/lib.sh

check "simple" hello "$(echo hello)"
check "backquotes" hello "`echo hello`"
check "nested" "a b c" "$(echo a $(echo b $(echo c)))"
check "trailing newlines stripped" "x" "$(printf 'x\n\n\n')"
check "inner newlines kept" "$(printf 'a\nb')" "$(printf 'a\nb\n')"
check "in arithmetic" 15 "$(( $(echo 5) * $(echo 3) ))"
check "with a pipeline" 3 "$(printf '1\n2\n3\n' | wc -l)"
check "assignment status" 7 "$(v=$(exit 7); echo $?)"
check "external program" "3" "$(expr 1 + 2)"
# 200 KB of output: the shell must read until the writer closes the pipe.
check "large output" 200000 "$(head -c 200000 /data/big.txt | wc -c)"
check "large output in a variable" 300000 "$(v=$(cat /data/big.txt); echo ${#v})"
# Unquoted: split into words; quoted: one word.
set -- $(echo "one two   three")
check "split words" 3 $#
set -- "$(echo "one two   three")"
check "quoted one word" 1 $#
# The substitution runs in a subshell: its assignments and cd do not leak.
x=outer
y=$(x=inner; cd /tmp; echo "$x $(pwd)")
check "subshell view" "inner /tmp" "$y"
check "no leak" "outer /" "$x $(pwd)"
# stderr is not captured.
v=$(echo to-stderr >&2; echo to-stdout)
check "stdout only" to-stdout "$v"
v=$({ echo captured-stderr >&2; } 2>&1)
check "2>&1 captures stderr" captured-stderr "$v"
v=$(echo goes-to-stderr >&2 2>&1)
check ">&2 2>&1 order" "" "$v"
for w in $(seq 1 5); do printf '%s.' "$w"; done
echo
