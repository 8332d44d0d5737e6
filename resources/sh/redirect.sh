# Redirections: > >> < 2> 2>&1 >&2 in both orders, <> , fd 3+, noclobber,
# redirections on compound commands, and reading what was written.
. /sh/lib.sh

scratch
cd "$T"
echo one > f
echo two >> f
echo three >> f
check "> and >>" "one two three" "$(tr '\n' ' ' < f | sed 's/ $//')"
echo replaced > f
check "> truncates" replaced "$(cat f)"
check "< input" 1 "$(wc -l < f)"
# stderr to a file, and merged with stdout (order matters).
{ echo out; echo err >&2; } > o 2> e
check "2> file" "out|err" "$(cat o)|$(cat e)"
{ echo out; echo err >&2; } > both 2>&1
check ">f 2>&1" 2 "$(wc -l < both)"
{ echo out; echo err >&2; } 2>&1 > only-out | sed 's/^/piped: /'
check "2>&1 >f" out "$(cat only-out)"
# >&2 from the script goes to its stderr (compared with the sandbox's).
echo "to stderr" >&2
# Higher fds.
{ echo on-3 >&3; echo on-4 >&4; } 3> three 4> four
check "fd 3 and 4" "on-3 on-4" "$(cat three) $(cat four)"
{ read a <&5; read b <&5; echo "$a+$b"; } 5< f
printf 'x\ny\n' > two-lines
{ read a <&5; read b <&5; echo "$a+$b"; } 5< two-lines
# <> opens read-write without truncating.
echo abcdef > rw
echo XY 1<> rw
check "<> overwrites in place" "XY" "$(head -n 1 rw)"
check "<> keeps the rest" 2 "$(wc -l < rw)"
# noclobber.
set -C
echo no 2> clob-err > f; check "noclobber refuses" 1 $?
check "noclobber kept" replaced "$(cat f)"
echo yes >| f;          check ">| overrides" 0 $?
set +C
# Redirections on compound commands.
for i in 1 2 3; do echo "$i"; done > loop-out
check "loop redirect" 3 "$(wc -l < loop-out)"
if true; then echo in-if; fi > if-out
check "if redirect" in-if "$(cat if-out)"
while read l; do echo "[$l]"; done < two-lines
# A failing redirection fails the command, not the shell.
cat < does-not-exist 2> err; check "missing input" 1 $?
echo x > no-such-dir/f 2> err; check "bad output path" 1 $?
# Closing stdout: the write fails.
(echo closed >&-) 2> err; check "write to closed fd" 1 $?
cd /
rm -rf "$T"
