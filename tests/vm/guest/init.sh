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

declare -A P=()
read -r -a _args </proc/cmdline
for a in "${_args[@]}"; do
	case "$a" in
	lab.*=*) k=${a%%=*}; P[${k#lab.}]=${a#*=} ;;
	esac
done
HOST=${P[host]:-guest}
IP=${P[ip]:-}
NHOSTS=${P[nhosts]:-0}
IFS=, read -r -a NAMES <<<"${P[names]:-}"
AGENT=${P[agent]:-}
AGENT_PORT=${P[agentport]:-7000}

# --- pseudo file systems --------------------------------------------------------
# /proc /sys /dev, /run /tmp /dev/pts /dev/shm, cgroup2, debugfs, configfs and
# the /dev/fd links were all set up by the initramfs (busybox is much faster
# than the tools here under TCG).  Add anything further a scenario needs with
# lab_guest_setup (lib.sh), not here, unless every scenario needs it.
#
# Builtins only where possible: each exec of a dynamically linked tool costs
# tens of milliseconds under TCG.
echo "$HOST" >/proc/sys/kernel/hostname
echo "$HOST" >/etc/hostname
{
	echo "127.0.0.1 localhost"
	echo "::1 localhost ip6-localhost ip6-loopback"
	# Host I is 10.99.0.I, named as lab_start --names says (h1..hN by default).
	for ((i = 1; i <= NHOSTS; i++)); do
		n=${NAMES[i - 1]:-h$i}
		if [[ "$n" == "h$i" ]]; then echo "10.99.0.$i $n"; else echo "10.99.0.$i $n h$i"; fi
	done
} >/etc/hosts
mkdir -p /var/log /lab

# --- network ------------------------------------------------------------------
# Two virtio NICs (drivers loaded by the initramfs), told apart by the MACs
# lib.sh assigns:
#   52:54:00:99:00:NN  the test network (multicast hub)      -> eth0
#   52:54:00:98:00:NN  private control link to the lab host  -> lab0
# The control link only carries the command agent (QEMU user-mode network,
# restrict=on, no gateway); scenarios should ignore it.
test_if="" ctl_if=""
for dev in /sys/class/net/*; do
	mac=""
	read -r mac <"$dev/address" 2>/dev/null || true
	case "$mac" in
	52:54:00:99:*) test_if=${dev##*/} ;;
	52:54:00:98:*) ctl_if=${dev##*/} ;;
	esac
done
{
	# Rename in an order that cannot collide (eth0 may be the control NIC).
	[ -z "$ctl_if" ] || [ "$ctl_if" = lab0 ] || echo "link set $ctl_if name lab0"
	[ -z "$test_if" ] || [ "$test_if" = eth0 ] || echo "link set $test_if name eth0"
	echo "link set lo up"
	if [ -n "$IP" ]; then
		echo "addr add $IP dev eth0"
		echo "link set eth0 up"
	fi
	echo "addr add 10.0.2.15/24 dev lab0"
	echo "link set lab0 up"
} | ip -batch - || say "network setup failed (rc $?)"

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
