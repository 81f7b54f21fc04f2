#!/bin/busybox sh
# shellcheck shell=sh
# One request of the lab's command agent, forked by socat (guest/init.sh) per
# TCP connection; stdin/stdout are the connection to lib.sh _lab_call on the
# lab host.  Runs under static busybox sh because it starts much faster than
# bash under TCG; the command itself runs under bash.
#
# Protocol, one line each way:
#   host -> guest: "ID SECS"   the command is in /lab/.agent/ID.sh (written by
#                              the host into the shared folder)
#   guest -> host: "rc N"      once it finished; its stdout/stderr are in
#                              /lab/.agent/ID.out and ID.err
# The command runs as root in /, stdin from /dev/null, for at most SECS
# seconds: coreutils timeout (absolute path: busybox may prefer its own applet,
# which lacks -k) kills its whole process group, rc is then 124.
d=/lab/.agent
IFS=' ' read -r id secs || exit 0
case "$id" in
'' | */* | .*) echo "rc 254"; exit 0 ;;
esac
case "$secs" in
'' | *[!0-9]*) secs=600 ;;
esac
cd / || exit 0
/usr/bin/timeout -k 5 "$secs" /bin/bash "$d/$id.sh" </dev/null >"$d/$id.out" 2>"$d/$id.err"
echo "rc $?"
