# for / while / until loops with break and continue, and case.
. /sh/lib.sh

for i in a b c; do printf '%s' "$i"; done; echo
for i in $(seq 1 10); do
    [ "$i" = 3 ] && continue
    [ "$i" = 7 ] && break
    printf '%s ' "$i"
done
echo
n=0 s=0
while [ $n -lt 100 ]; do n=$((n + 1)); s=$((s + n)); done
check "while sum" 5050 $s
n=10
until [ $n -eq 0 ]; do n=$((n - 3)); [ $n -lt 0 ] && n=0; done
check "until" 0 $n
out=
for i in 1 2 3; do
    for j in 1 2 3; do
        [ $j -eq 2 ] && continue 2
        [ $i -eq 3 ] && break 2
        out="$out$i$j "
    done
done
check "nested break/continue" "11 21 " "$out"
set -- x "y z" w
c=0
for a; do c=$((c + 1)); done
check "for over \$@" 3 $c
for a in "$@"; do echo "[$a]"; done
# A loop's status is its last command's; a loop that never ran gives 0.
for i in 1 2; do false; done; check "loop status" 1 $?
for i in; do false; done;      check "empty loop status" 0 $?
# Loops feeding and reading pipes.
for i in 3 1 2; do echo $i; done | sort | tr '\n' ' '; echo

classify() {
    case $1 in
        [0-9]|[0-9][0-9]) echo "$1: number" ;;
        *.txt|*.md) echo "$1: text" ;;
        a*|b*) echo "$1: a-or-b" ;;
        "") echo "empty" ;;
        \*) echo "star" ;;
        [!a-z]*) echo "$1: not lowercase" ;;
        *) echo "$1: other" ;;
    esac
}
for w in 7 42 123 notes.txt README.md apple banana "" "*" Zed zebra; do classify "$w"; done
case x in y) echo no ;; esac; check "case no match" 0 $?
case abc in a*) false ;; esac; check "case status" 1 $?
# ;; after the last pattern is optional; patterns may be variables.
p="h*"
case hello in $p) echo "matched $p"; esac
