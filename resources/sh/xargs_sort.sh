# xargs (each batch a fork+exec) and sort/uniq pipelines.
. /sh/lib.sh

seq 1 10 | xargs echo
seq 1 10 | xargs -n 3 echo batch
seq 1 5 | xargs -I{} echo "item {} done"
printf 'a b\nc\n' | xargs -n 1 | tr '\n' ' '; echo
check "xargs sum" 5050 "$(seq 1 100 | xargs -n 7 echo | tr ' ' '\n' | { s=0; while read n; do s=$((s + n)); done; echo $s; })"
# xargs passes the exit status through: 123 when a command fails.
seq 1 3 | xargs -n 1 sh -c 'exit $(($1 == 2))' sh; check "xargs 123" 123 $?
echo x | xargs false;  check "xargs false" 123 $?
echo | xargs echo empty; check "xargs empty input" 0 $?
find /data -type f -name '*.txt' | sort | xargs wc -l
find /data/dir -type f | sort | xargs -n 1 basename
# sort | uniq -c and friends.
printf 'b\na\nc\na\nb\na\n' | sort | uniq -c
printf 'b\na\nc\na\nb\na\n' | sort | uniq -c | sort -rn | head -n 1
printf 'b\na\nc\na\nb\na\n' | sort -u | tr '\n' ' '; echo
printf 'b\na\nc\na\nb\na\n' | sort | uniq -d | tr '\n' ' '; echo
seq 1 1000 | sort -r | head -n 3 | tr '\n' ' '; echo
seq 1 1000 | sort -rn | head -n 3 | tr '\n' ' '; echo
# A fixed permutation (x -> 7919x mod 20011), sorted back.
check "permutation sorted back" "$(seq 1 20000 | md5sum)" \
    "$(seq 1 20000 | awk '{ print ($1 * 7919) % 20011, $1 }' | sort -n | cut -d' ' -f2 | sort -n | md5sum)"
check "sort -n of /data/numbers.txt" "$(md5sum < /data/numbers.txt)" "$(sort -rn /data/numbers.txt | sort -n | md5sum)"
printf 'x 3\ny 1\nz 2\n' | sort -k2,2n | cut -d' ' -f1 | tr '\n' ' '; echo
# Word frequencies of a generated text.
i=0
while [ $i -lt 200 ]; do echo "w$((i * i % 7)) w$((i % 3))"; i=$((i + 1)); done |
    tr ' ' '\n' | sort | uniq -c | sort -k1,1nr -k2,2 | head -n 5
