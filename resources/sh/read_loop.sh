# read: from pipes in while loops (the loop runs in a subshell), from
# redirected files (same shell), IFS splitting, -r, missing final newline.
. /sh/lib.sh

seq 1 10 | while read n; do
    [ $((n % 3)) -eq 0 ] && echo "multiple of 3: $n"
done
count=0
seq 1 10 | while read n; do count=$((count + 1)); done
check "pipeline loop runs in a subshell" 0 $count
total=$(seq 1 10 | { s=0; while read n; do s=$((s + n)); done; echo $s; })
check "sum inside the subshell" 55 "$total"
printf 'a b c d\n  lead and trail  \nsingle\n' | while read first second rest; do
    echo "first=[$first] second=[$second] rest=[$rest]"
done
printf 'x:y:z\n' | { IFS=: read a b c; echo "$c$b$a"; }
printf 'back\\slash\n' | { read v; echo "without -r: $v"; }
printf 'back\\slash\n' | { read -r v; echo "with -r: $v"; }
printf 'no newline at end' | { read v; echo "status $?: $v"; }
printf '' | { read v; echo "empty input status $?"; }
# A big stream read line by line.
seq 1 3000 | { n=0; while read l; do n=$((n + 1)); done; echo "lines $n"; }
# Reading the output of a command, two readers on one pipe in turn.
seq 1 6 | { read a; read b; echo "first two: $a $b"; cat | tr '\n' ' '; echo; }
# A producer slower than the consumer: read waits for each line.
{ for i in 1 2 3; do echo "tick $i"; sleep 0.02; done; } | while read l; do echo "got $l"; done
# Same shell with a redirected loop.
scratch
printf 'k1 v1\nk2 v2\n' > "$T/kv"
last=
while read k v; do last="$k=$v"; done < "$T/kv"
check "redirected loop keeps variables" "k2=v2" "$last"
rm -rf "$T"
