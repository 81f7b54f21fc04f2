# shellcheck shell=bash
# tests/vm/guest/netsetup.sh: lab_cmdline and lab_net_setup, sourced by guest/init.sh (the
# 9p-root guests' PID 1) and guest/rootfs/lab-guest (the installed-system
# guests' systemd unit).
#
# lab_cmdline: the lab.*= parameters of the kernel command line (lib.sh
# _lab_boot) into P[...], HOST, IP, NHOSTS, NAMES (array), AGENT, AGENT_PORT.
lab_cmdline() {
	local a k _args
	declare -gA P=()
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
}

# lab_net_setup: uses HOST, IP, NHOSTS, NAMES and say().
#
# Sets the hostname, writes /etc/hosts for every lab host and brings up the
# two NICs under fixed names.  Builtins where possible: each exec of a
# dynamically linked tool costs tens of milliseconds under TCG.
lab_net_setup() {
	local i n dev mac test_if="" ctl_if=""
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
}
