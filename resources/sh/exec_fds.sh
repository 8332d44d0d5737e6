# exec: redirections of the shell itself (open, save, restore, close,
# read line by line from a kept fd) and, last, replacing the shell (the
# script's status is the new program's, 6).
. /sh/lib.sh

scratch
exec 3> "$T/log"
echo "first" >&3
echo "second" >&3
exec 3>&-
check "exec 3>" "first second" "$(tr '\n' ' ' < "$T/log" | sed 's/ $//')"
# Save stdout on fd 4, send stdout to a file, restore.
exec 4>&1
exec > "$T/out"
echo "into the file"
ls /sh/lib.sh
exec 1>&4 4>&-
echo "back on stdout"
check "exec > file" "into the file /sh/lib.sh" "$(tr '\n' ' ' < "$T/out" | sed 's/ $//')"
# Read a file through a kept fd, a line at a time, between other commands.
seq 1 5 > "$T/nums"
exec 5< "$T/nums"
read a <&5
echo "read $a"
read b <&5
read c <&5
echo "then $b $c"
cat <&5 | tr '\n' ' '; echo
exec 5<&-
# stderr of the whole shell to a file.
exec 6>&2 2> "$T/err"
ls /no/such/path
exec 2>&6 6>&-
check "exec 2>" 1 "$(grep -c 'No such file' "$T/err")"
# Children inherit the shell's fds.
exec 7> "$T/child"
sh -c 'echo child writes to 7 >&7'
exec 7>&-
check "inherited fd" "child writes to 7" "$(cat "$T/child")"
# Closed fds are not inherited.
exec 8> "$T/unused"
exec 8>&-
sh -c 'echo x >&8' 2> "$T/err8"; check "closed fd" 1 $?
rm -rf "$T"
# exec with a command replaces the shell: the same process goes on.
exec sh -c '[ "$$" = "$1" ] && echo "replaced, same pid"; exit 6' sh "$$"
echo not-reached
