# Here-documents: expansion, quoted delimiters, <<- tab stripping, feeding
# commands and loops, several in one command, large ones, here-docs inside
# functions and command substitutions.
. /sh/lib.sh

name=world
cat <<EOF2
hello $name
sum $((2 + 3)), cmd $(echo subst)
escaped \$name and \`backquotes\`
EOF2
cat <<'EOF2'
quoted: $name $(echo no) `echo no`
EOF2
cat <<"EOF2"
double-quoted delimiter: $name
EOF2
cat <<-EOF2
	tabs stripped
		all leading tabs
	$name
	EOF2
# Into a pipeline and a loop.
sort <<EOF2 | tr '\n' ' '
pear
apple
fig
EOF2
echo
n=0
while read a b; do n=$((n + 1)); echo "$n: $b $a"; done <<EOF2
1 one
2 two
3 three
EOF2
check "loop in this shell" 3 $n
# Two here-docs for two fds.
{ cat; cat <&3; } <<A 3<<B
from fd 0
A
from fd 3
B
# Large: more than a pipe buffer.
check "large here-doc" 100000 "$(wc -c <<EOF2
$(head -c 99999 /data/big.txt)
EOF2
)"
f() {
    cat <<EOF2
in a function: $1
EOF2
}
f arg
v=$(cat <<EOF2
captured
EOF2
)
check "here-doc in \$(...)" captured "$v"
