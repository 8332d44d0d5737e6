# Pipelines: data through several processes, the status of a pipeline, a
# reader that stops early (the writer gets SIGPIPE), ! negation.
. /sh/lib.sh

check "seq|grep|wc" 19 "$(seq 1 100 | grep 7 | wc -l)"
seq 1 100 | grep 7 | tr '\n' ' '
echo
check "five cats" "a b c" "$(echo a b c | cat | cat | cat | cat | cat)"
check "tr|rev-ish" "OLLEH" "$(echo hello | tr a-z A-Z | sed 's/\(.\)\(.\)\(.\)\(.\)\(.\)/\5\4\3\2\1/')"

# A megabyte or so through a pipe, counted at the far end.
check "big pipe lines" 100000 "$(seq 1 100000 | cat | wc -l)"
check "big pipe sum" "$(seq 1 100000 | md5sum)" "$(seq 1 100000 | cat | cat | md5sum)"

# The reader exits after three lines; seq dies of SIGPIPE but the pipeline's
# status is the last command's.
check "head closes early" "1 2 3" "$(seq 1 1000000 | head -n 3 | tr '\n' ' ' | sed 's/ $//')"
yes | head -n 2
v=$(yes | head -n 1)
check "yes|head status" 0 $?
check "yes|head" y "$v"

# Status of a pipeline: the last command's.
true | false
check "true|false" 1 "$?"
false | true
check "false|true" 0 "$?"
! true | false
check "! pipeline" 0 "$?"
! echo x | grep -q x
check "! grep -q" 1 "$?"

# A while loop at the end of a pipeline sees every line.
seq 1 5 | while read n; do printf '<%s>' "$n"; done
echo
# Stages run concurrently: a stage can consume its input only as written.
printf 'b\na\nc\n' | sort | head -n 2
