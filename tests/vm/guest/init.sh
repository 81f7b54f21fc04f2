#!/bin/bash
# PID 1 of a lab guest, after the initramfs switch_root'ed into the host's
# root (9p, read-only) under a tmpfs overlay.  Started by
# tests/vm/guest/initramfs-init; its parameters come from the kernel command
# line (lab.host=, lab.ip=, lab.nhosts=, lab.names=, lab.agent=, lab.agentport=).
#
# It sets up the minimum a test host needs (pseudo file systems, hostname,
# network, the writable /lab share), runs the scenario's optional setup hook,
# starts the command agent and then stays alive forever reaping orphans.
#
# No `set -e`: PID 1 must never exit (the kernel would panic); each step
# reports its own failure on the console instead.  Keep console messages free
# of the words the lab's kernel health check looks for (lib.sh _LAB_HEALTH_RE).
set -u

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
umask 022
cd /

say() { echo "lab-init: $*" >/dev/console; }
try() { "$@" || say "step failed (rc $?): $*"; }

# shellcheck source=tests/vm/guest/netsetup.sh
. "${BASH_SOURCE[0]%/*}/netsetup.sh"
lab_cmdline

# --- pseudo file systems --------------------------------------------------------
# /proc /sys /dev, /run /tmp /dev/pts /dev/shm, cgroup2, debugfs, configfs and
# the /dev/fd links were all set up by the initramfs (busybox is much faster
# than the tools here under TCG).  Add anything further a scenario needs with
# lab_guest_setup (lib.sh), not here, unless every scenario needs it.
#
# Builtins only where possible: each exec of a dynamically linked tool costs
# tens of milliseconds under TCG.
# Hostname, /etc/hosts and the two NICs: shared with the installed-system
# guests (rootfs.sh), whose systemd unit runs the same code.
lab_net_setup
mkdir -p /var/log /lab

# --- writable share -----------------------------------------------------------
try mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none lab /lab
[ -d /lab/bg ] || mkdir -p /lab/.agent /lab/bg

# --- scenario hook --------------------------------------------------------------
# lib.sh copies $LAB_GUEST_SETUP (if any) to /lab/.setup.sh before each boot;
# it runs on every boot (also after lab_power_on), before the agent answers.
if [ -f /lab/.setup.sh ]; then
	bash /lab/.setup.sh >/lab/setup.log 2>&1 || say "setup hook failed (rc $?), see /lab/setup.log"
fi

# --- command agent ----------------------------------------------------------------
# socat forks one handler per TCP connection (lib.sh _lab_call is the client).
# The handler runs under static busybox sh: ~50 ms less per call than bash.
if [ -n "$AGENT" ]; then
	socat -lf /lab/.agent/socat.log TCP-LISTEN:"$AGENT_PORT",reuseaddr,fork,bind=10.0.2.15 \
		EXEC:"/bin/busybox sh $AGENT" </dev/null &
	# Tell the lab host the agent is about to listen (it then probes it).
	echo "$EPOCHREALTIME" >/lab/.agent/ready
else
	say "no lab.agent= given, no command agent"
fi
read -r up _ </proc/uptime
say "up: $HOST ${IP:-no-ip} (${up}s since boot)"

# --- reap forever -----------------------------------------------------------------
# As PID 1 we inherit every orphan; bash reaps any exited child in its SIGCHLD
# handler, and `wait` returns at once when it has no children of its own.
while :; do
	wait
	sleep 3600 &
	wait $!
done
