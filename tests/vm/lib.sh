# shellcheck shell=bash
# tests/vm/lib.sh: the dtrbd VM test lab.  Sourced by tests/vm/scenarios/*.sh
# (and by tests/vm/run for its preflight checks).  See tests/vm/README.md.
#
# A lab is N QEMU/TCG guests ("hosts" h1..hN) booting the machine's Debian
# kernel with a tiny busybox initramfs that switch_roots into this machine's
# own root file system (virtio-9p, read-only, under a tmpfs overlay), so every
# binary installed here -- and the project's fresh build -- runs in the guests
# at the same path without copying.  Each host has:
#   * eth0 10.99.0.i/24 on a shared test network (QEMU dgram netdev on a
#     multicast group that is kept on this machine's loopback interface),
#   * a sparse raw disk (/dev/vda) in the run directory (survives power pulls),
#     and with lab_start --disks K, K-1 more (/dev/vdb, ...),
#   * /lab: a writable 9p share of <run dir>/hI/lab on this machine,
#   * a command agent (socat in the guest) reached over a private, restricted
#     QEMU user-mode NIC (lab0) whose only use is a host-forwarded TCP port.
#
# Public API (names are fixed; scenarios and other tools rely on them):
#   lab_start N [--mem MiB] [--disk-mib M] [--disks K] [--hung-task SECS] [--names A,B,..] [--mem-of HOST=MiB] [--rootfs]
#                                            boot h1..hN (or the names), wait for their agents
#   lab_wait_reboot HOST BOOT_ID SECS        wait until HOST runs a boot other than BOOT_ID
#   lab_boot_id HOST                         its /proc/sys/kernel/random/boot_id
#   lab_ip HOST                              the host's test-network address (10.99.0.I)
#   lab_exec HOST CMD...                     run a shell command, return stdout/rc
#   lab_exec_timeout SECS HOST CMD...        same with a time limit (rc 124)
#   lab_bg HOST CMD...                       start in background, sets LAB_BG_ID
#   lab_bg_wait HOST ID [SECS]               wait for a lab_bg command, return its rc
#   lab_bg_log HOST ID                       host path of its output file
#   lab_power_off HOST [--now]               kill -9 its QEMU (power pull)
#   lab_power_on HOST                        boot it again (same disk), wait for agent
#   lab_link HOST up|down                    QMP set_link on its eth0
#   lab_dmesg HOST                           the guest's dmesg
#   lab_stop                                 stop all guests + kernel health check
#   lab_host_dir HOST                        host path of the guest's /lab
#   lab_guest_setup CODE                     shell code every guest runs at each boot
#   lab_scan_kernel_log FILE...              the health check on given files
#   lab_expect_kernel ERE                    a dtrbd error line the scenario provokes
#   log MSG / fail MSG / assert_eq A B MSG   helpers
#
# Environment knobs: DTRBD_LAB_DIR (run directory), DTRBD_LAB_KEEP=1 (keep it on
# success), DTRBD_LAB_KVER (guest kernel), DTRBD_LAB_CACHE (initramfs cache),
# DTRBD_LAB_EXEC_TIMEOUT (default lab_exec limit, 600 s),
# DTRBD_LAB_BOOT_TIMEOUT (per-host boot limit, 180 s),
# LAB_QEMU (the command that launches a guest, default qemu-system-x86_64),
# DTRBD_LAB_HEALTH_IGNORE (ERE of kernel log lines to ignore in the health check),
# DTRBD_LAB_DEBUG_KERNEL (1 or a cache directory: boot the debug kernel that
# tests/vm/debug-kernel built, see _lab_debug_kernel_dir),
# DTRBD_LAB_TIMEOUT_SCALE (multiplies the boot and exec limits, default 1; 3
# on the debug kernel).

if [[ -n "${_LAB_LIB_LOADED:-}" ]]; then
	return 0
fi
_LAB_LIB_LOADED=1

LAB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_DIR=""
LAB_HOSTS=()
LAB_BG_ID=""
LAB_KVER=""
# The guest kernel image, and the directory whose lib/modules/$LAB_KVER holds
# its modules ("" for /lib/modules of this machine).
_LAB_KIMAGE=""
_LAB_MODROOT=""
LAB_GUEST_SETUP="${LAB_GUEST_SETUP:-}"

# Kernel log lines that fail a scenario.  "Kernel panic" is added to the
# brief's list because a panicking guest otherwise just looks powered off;
# "blocked for more than" is the hung-task report (guests set
# kernel.hung_task_timeout_secs low, see _LAB_HUNG_TASK_SECS); the rest are
# the reports of the debug kernel's checkers (kmemleak, DEBUG_OBJECTS,
# DEBUG_LIST, UBSAN).
_LAB_HEALTH_RE='BUG:|Oops|WARNING:|general protection|possible circular locking|INFO: task .* blocked|blocked for more than|detected stalls|self-detected stall|kthread starved|KASAN|Call Trace|Kernel panic|UBSAN:|ODEBUG:|list_(add|del) corruption|suspected memory leak|unreferenced object 0x'
# The module's own error lines: guests print kernel messages with their
# syslog level (console_msg_format=syslog; saved logs are "dmesg -r"), and a
# line at KERN_ERR or worse (<0>..<3>) that names dtrbd fails a scenario
# unless the scenario expects it ("# expect-kernel: ERE" header lines, or
# lab_expect_kernel ERE).
_LAB_KERR_RE='^<[0-3]>.*dtrbd'
_LAB_KERNEL_EXPECT=()
# kernel.hung_task_timeout_secs in every guest: a task stuck in D state this
# long prints its stack ("INFO: task ... blocked for more than N seconds"),
# which fails the scenario.  A scenario whose documented bound is longer
# raises it with lab_start --hung-task SECS.
_LAB_HUNG_TASK_SECS=10
# rcupdate.rcu_cpu_stall_timeout in every guest, and twice watchdog_thresh
# (the soft-lockup report), seconds; see _lab_boot.
_LAB_STALL_SECS=60

_LAB_MEM=1024
declare -A _LAB_MEM_OF=()	# per-host memory (--mem-of), MiB
declare -A _LAB_INDEX=()	# host name -> I (address 10.99.0.I, MAC ..:I)
_LAB_DISK_MIB=256
_LAB_DISKS=1	# backing disks per host (--disks): disk.img, disk2.img, ...
_LAB_ROOTFS=""	# lab_start --rootfs: the installed-system image (rootfs.sh)
_LAB_SEQ=0
_LAB_STARTED=0
_LAB_STOPPED=0
_LAB_LOCK_FD="${DTRBD_LAB_LOCK_FD:-}"
_LAB_GUEST_PORT=7000 # agent port inside the guest (on lab0 only)

# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------

# log MSG: one timestamped plain line on stdout (no fork: EPOCHREALTIME).
log() {
	local t=$EPOCHREALTIME
	local frac=${t#*[.,]}
	printf '%(%H:%M:%S)T.%s %s\n' "${t%[.,]*}" "${frac:0:3}" "$*"
}

# fail MSG: print, record the reason for tests/vm/run, exit 1 (the EXIT trap
# then stops the lab and keeps its directory).
fail() {
	log "FAIL: $*" >&2
	if [[ -n "${DTRBD_LAB_RESULT:-}" ]]; then
		printf '%s\n' "$*" >"$DTRBD_LAB_RESULT" 2>/dev/null || true
	fi
	exit 1
}

# assert_eq A B MSG: fail with MSG unless the strings A and B are equal.
assert_eq() {
	if [[ "$1" != "$2" ]]; then
		fail "${3:-assert_eq}: got '$1', expected '$2'"
	fi
}

_lab_die_setup() {
	echo "lab: $*" >&2
	return 1
}

# ----------------------------------------------------------------------------
# preflight: root, qemu, kernel, busybox, socat, cpio
# ----------------------------------------------------------------------------

# Pick the guest kernel: $DTRBD_LAB_KVER, else the newest /boot/vmlinuz-*
# that has its modules installed.  Never hard-coded: Debian bumps the ABI.
_lab_pick_kver() {
	if [[ -n "${DTRBD_LAB_KVER:-}" ]]; then
		echo "$DTRBD_LAB_KVER"
		return 0
	fi
	local f k best=""
	for f in /boot/vmlinuz-*; do
		[[ -e "$f" ]] || continue
		k=${f#/boot/vmlinuz-}
		[[ -f "/lib/modules/$k/modules.dep" ]] || continue
		best+="$k"$'\n'
	done
	[[ -n "$best" ]] || return 1
	printf '%s' "$best" | sort -V | tail -n 1
}

# _lab_debug_kernel_dir: the debug-kernel cache to boot, when asked for with
# DTRBD_LAB_DEBUG_KERNEL (1: the one tests/vm/debug-kernel --print-dir
# names; else a directory).  Returns 1 when not asked for, 2 (with a message)
# when asked for but missing or incomplete.
_lab_debug_kernel_dir() {
	local d=${DTRBD_LAB_DEBUG_KERNEL:-}
	[[ -n "$d" && "$d" != 0 ]] || return 1
	if [[ "$d" == 1 ]]; then
		d=$("$LAB_ROOT/debug-kernel" --print-dir) || {
			echo "lab: DTRBD_LAB_DEBUG_KERNEL=1 but there is no complete debug-kernel cache: build it with tests/vm/debug-kernel (or tools/check --build-debug-kernel)" >&2
			return 2
		}
	fi
	if [[ ! -f "$d/DONE" || ! -s "$d/release" || ! -f "$d/bzImage" ]]; then
		echo "lab: $d is not a complete debug-kernel cache (no DONE, release or bzImage): rebuild it with tests/vm/debug-kernel" >&2
		return 2
	fi
	echo "$d"
}

# _lab_timeout_scale: DTRBD_LAB_TIMEOUT_SCALE, default 3 on the debug
# kernel (it runs several times slower under TCG), else 1.
_lab_timeout_scale() {
	local s=${DTRBD_LAB_TIMEOUT_SCALE:-}
	if [[ -z "$s" ]]; then
		s=1
		[[ -z "${DTRBD_LAB_DEBUG_KERNEL:-}" || "${DTRBD_LAB_DEBUG_KERNEL}" == 0 ]] || s=3
	fi
	[[ "$s" =~ ^[1-9][0-9]*$ ]] || s=1
	echo "$s"
}

# lab_preflight: check everything a lab needs; print what is missing and how
# to install it.  Returns non-zero if anything is missing.
lab_preflight() {
	local ok=0 fix="run tests/vm/deps (it apt-get installs the lab's packages)"
	if [[ $EUID -ne 0 ]]; then
		echo "lab: must run as root (QEMU 9p shares the root file system, guests need root)" >&2
		ok=1
	fi
	if ! command -v qemu-system-x86_64 >/dev/null; then
		echo "lab: qemu-system-x86_64 not found: apt-get install qemu-system-x86 (or $fix)" >&2
		ok=1
	fi
	local kver drc=0
	_lab_debug_kernel_dir >/dev/null || drc=$?
	if ((drc == 2)); then
		ok=1
	elif ((drc == 0)); then
		:
	elif ! kver=$(_lab_pick_kver) || [[ ! -r "/boot/vmlinuz-$kver" ]]; then
		echo "lab: no guest kernel (/boot/vmlinuz-* with /lib/modules/*): apt-get install linux-image-amd64 (or $fix)" >&2
		ok=1
	fi
	if [[ ! -x /bin/busybox ]] || ldd /bin/busybox >/dev/null 2>&1; then
		echo "lab: a static /bin/busybox is needed for the initramfs: apt-get install busybox-static (or $fix)" >&2
		ok=1
	fi
	local c
	for c in socat cpio flock setsid timeout ss; do
		if ! command -v "$c" >/dev/null; then
			echo "lab: '$c' not found: $fix" >&2
			ok=1
		fi
	done
	return "$ok"
}

# ----------------------------------------------------------------------------
# initramfs (cached; rebuilt when its inputs change)
# ----------------------------------------------------------------------------

# Modules the initramfs loads, in dependency order, to reach the 9p root.
# virtio_blk and virtio_net are not needed for the root but loading them here
# (insmod from RAM) is much faster than modprobe over 9p later.
_LAB_INITRAMFS_MODULES=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev
	virtio_pci netfs fscache 9pnet 9pnet_virtio 9p overlay
	virtio_blk failover net_failover virtio_net)

# _lab_initramfs KVER: print the path of the initramfs for KVER, building it
# if needed.  The cache key hashes every input (busybox, the init script, the
# module files, this function's module list), so any change rebuilds it.
_lab_initramfs() {
	local kver=$1 modroot=${2:-}
	local cache=${DTRBD_LAB_CACHE:-/var/cache/dtrbd-lab}
	local init=$LAB_ROOT/guest/initramfs-init
	local m f files=() key
	for m in "${_LAB_INITRAMFS_MODULES[@]}"; do
		f=$(modinfo ${modroot:+-b "$modroot"} -k "$kver" -n "$m" 2>/dev/null) ||
			_lab_die_setup "module $m not found for kernel $kver${modroot:+ under $modroot}" || return 1
		# A module built into this kernel needs no loading.
		[[ "$f" == /* ]] || continue
		files+=("$m=$f")
	done
	key=$({
		echo "v1 $kver ${files[*]}"
		sha256sum /bin/busybox "$init" "${files[@]#*=}"
	} | sha256sum)
	local out="$cache/initramfs-$kver-${key:0:16}.cpio.gz"
	if [[ -s "$out" ]]; then
		echo "$out"
		return 0
	fi
	mkdir -p "$cache"
	local tmp
	tmp=$(mktemp -d "$cache/build.XXXXXX")
	(
		set -e
		cd "$tmp"
		mkdir -p bin dev proc sys modules
		cp /bin/busybox bin/busybox
		cp "$init" init
		chmod 0755 init
		# The kernel opens /dev/console for init's stdio before devtmpfs is
		# mounted: without this node, init's output would be lost.
		mknod -m 0600 dev/console c 5 1
		: >modules/order
		local e
		for e in "${files[@]}"; do
			m=${e%%=*}
			f=${e#*=}
			# busybox insmod cannot read compressed modules: store them plain.
			case "$f" in
			*.ko.xz) xz -dc "$f" >"modules/$m.ko" ;;
			*.ko.zst) zstd -qdc "$f" >"modules/$m.ko" ;;
			*.ko.gz) gzip -dc "$f" >"modules/$m.ko" ;;
			*) cp "$f" "modules/$m.ko" ;;
			esac
			echo "$m" >>modules/order
		done
		find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet | gzip -1 >"$tmp.img"
		mv "$tmp.img" "$out"
	) || {
		rm -rf "$tmp" "$tmp.img"
		_lab_die_setup "building the initramfs failed"
		return 1
	}
	rm -rf "$tmp"
	# Old builds for this kernel are stale now.
	find "$cache" -maxdepth 1 -name "initramfs-$kver-*.cpio.gz" ! -path "$out" -delete 2>/dev/null || true
	echo "$out"
}

# ----------------------------------------------------------------------------
# run directory, lock, exit handling
# ----------------------------------------------------------------------------

# Only one lab at a time on this machine: two TCG labs on 2 cores would make
# each other's timings meaningless.  tests/vm/run takes the lock itself and
# tells us so with DTRBD_LAB_LOCK_HELD=1.
_lab_lock() {
	[[ -z "${DTRBD_LAB_LOCK_HELD:-}" ]] || return 0
	exec {_LAB_LOCK_FD}>>/tmp/dtrbd-lab.lock
	if ! flock -n "$_LAB_LOCK_FD"; then
		log "another lab is running; waiting for /tmp/dtrbd-lab.lock"
		flock -w 3600 "$_LAB_LOCK_FD" || fail "could not get /tmp/dtrbd-lab.lock"
	fi
}

_lab_on_exit() {
	local rc=$?
	set +e
	trap - EXIT
	if [[ -n "$LAB_DIR" && -d "$LAB_DIR" ]]; then
		if ! lab_stop; then
			[[ $rc -ne 0 ]] || rc=1
		fi
		if [[ $rc -eq 0 && "${DTRBD_LAB_KEEP:-0}" != 1 ]]; then
			rm -rf "$LAB_DIR"
		else
			log "lab: run directory kept: $LAB_DIR"
		fi
	fi
	exit "$rc"
}

# ----------------------------------------------------------------------------
# host bookkeeping (state lives in files so subshells agree)
# ----------------------------------------------------------------------------

_lab_hdir() { printf '%s/%s' "$LAB_DIR" "$1"; }

# lab_host_dir HOST: host path of the guest's /lab share.
lab_host_dir() {
	_lab_check_host "$1" || return 1
	printf '%s/%s/lab\n' "$LAB_DIR" "$1"
}

# lab_ip HOST: the host's address on the test network.
lab_ip() {
	_lab_check_host "$1" || return 1
	printf '10.99.0.%s\n' "${_LAB_INDEX[$1]}"
}

_lab_check_host() {
	if [[ -z "$LAB_DIR" ]]; then
		echo "lab: no lab running (call lab_start first)" >&2
		return 1
	fi
	if [[ ! -d "$LAB_DIR/$1/lab" ]]; then
		echo "lab: unknown host '$1' (hosts: ${LAB_HOSTS[*]})" >&2
		return 1
	fi
}

# _lab_running HOST: is its QEMU process alive (and really ours)?
_lab_running() {
	local pf pid st
	pf="$(_lab_hdir "$1")/qemu.pid"
	[[ -s "$pf" ]] || return 1
	pid=$(<"$pf")
	[[ -r "/proc/$pid/stat" ]] || return 1
	st=$(<"/proc/$pid/stat") || return 1
	st=${st##*) }
	[[ "${st:0:1}" != Z ]] || return 1
	# Guard against pid reuse: the QEMU command line names its console log.
	grep -qaF -- "$(_lab_hdir "$1")/console.log" "/proc/$pid/cmdline" 2>/dev/null
}

# A TCP port on 127.0.0.1 that nothing listens on (QEMU's hostfwd binds it;
# a lost race makes QEMU exit and _lab_wait_ready relaunches with another).
_lab_free_port() {
	local p i
	for ((i = 0; i < 100; i++)); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		if [[ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ]]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

_lab_qemu_escape() { printf '%s' "${1//,/,,}"; }

# _lab_boot HOST: launch the host's QEMU (does not wait for it).
_lab_boot() {
	local h=$1 hd i port
	hd=$(_lab_hdir "$h")
	i=${_LAB_INDEX[$h]}
	port=$(_lab_free_port) || fail "no free TCP port for the agent of $h"
	echo "$port" >"$hd/agent.port"
	rm -f "$hd/lab/.agent/ready" "$hd/qmp.sock"
	# Scenario setup hook, re-read at every boot.
	if [[ -n "$LAB_GUEST_SETUP" ]]; then
		printf '%s\n' "$LAB_GUEST_SETUP" >"$hd/lab/.setup.sh"
	else
		rm -f "$hd/lab/.setup.sh"
	fi
	local boots=0
	[[ -s "$hd/boots" ]] && boots=$(<"$hd/boots")
	echo $((boots + 1)) >"$hd/boots"
	printf '\n===== lab: boot %d of %s at %(%F %T)T =====\n' $((boots + 1)) "$h" -1 >>"$hd/console.log"

	local mac
	mac=$(printf '%02x' "$i")
	# console_msg_format=syslog: every console line carries its level
	# ("<3>[ 1.2] ..."), so the health check can tell errors from warnings
	# even for a boot whose dmesg was never saved (power pull).
	# no_timer_check: on a busy machine TCG's timer interrupt can come too
	# late for the kernel's early IO-APIC timer test, which then panics
	# ("IO-APIC + timer doesn't work"); the emulated timer is fine.
	local append="console=ttyS0,115200 loglevel=5 panic=1 console_msg_format=syslog no_timer_check"
	append+=" sysctl.kernel.hung_task_timeout_secs=$_LAB_HUNG_TASK_SECS"
	# The RCU stall and soft-lockup detectors measure wall-clock time, and a
	# TCG guest's clock runs on while the host does not schedule its QEMU:
	# with two scenarios (five guests) on two cores, CI's guest booting in
	# 35 s instead of 8 printed three stack dumps at one instant, one at
	# KERN_INFO (as the RCU stall report dumps its starved grace-period
	# thread), under the default 21 s.  A CPU that really loops with
	# preemption or interrupts off does so for good and is still
	# reported, after 60 s.
	append+=" rcupdate.rcu_cpu_stall_timeout=$_LAB_STALL_SECS watchdog_thresh=$((_LAB_STALL_SECS / 2))"
	append+=" lab.host=$h lab.ip=10.99.0.$i/24"
	# The debug kernel's modules live in its cache: the initramfs binds them
	# at /lib/modules/$(uname -r) of the guest.
	[[ -z "$_LAB_MODROOT" ]] || append+=" lab.modroot=$_LAB_MODROOT"
	append+=" lab.nhosts=${#LAB_HOSTS[@]} lab.names=$(IFS=,; echo "${LAB_HOSTS[*]}")"
	append+=" lab.agentport=$_LAB_GUEST_PORT"
	if [[ -z "$_LAB_ROOTFS" ]]; then
		append+=" lab.init=$LAB_ROOT/guest/init.sh lab.agent=$LAB_ROOT/guest/agent.sh"
	else
		# The image's initramfs mounts the root by label; systemd names
		# the host; net.ifnames=0 keeps udev from renaming the NICs that
		# lab-guest renames by MAC.
		append+=" root=LABEL=dtrbd-root rw systemd.hostname=$h net.ifnames=0"
	fi
	# More disks (--disks): right after the first, so they are /dev/vdb, ...
	# The installed system's root overlay comes last.
	local disks=() d
	for ((d = 2; d <= _LAB_DISKS; d++)); do
		disks+=(-drive "file=$(_lab_qemu_escape "$hd/disk$d.img"),format=raw,if=virtio,cache=none")
	done
	local mode=(
		-no-reboot
		-fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap
		-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot
	)
	if [[ -n "$_LAB_ROOTFS" ]]; then
		# shellcheck disable=SC2054 # commas are QEMU option syntax
		mode=(-drive "file=$(_lab_qemu_escape "$hd/root.qcow2"),format=qcow2,if=virtio,cache=unsafe")
	fi
	# shellcheck disable=SC2054 # commas are QEMU option syntax
	local args=(
		-name "$h" -nodefaults -no-user-config -display none
		# A guest reboot or panic (panic=1) ends QEMU (-no-reboot, in mode
		# above; not for --rootfs): the lab then sees the host as powered
		# off instead of waiting on a half-dead guest.
		-accel tcg,thread=multi -cpu max -smp 1 -m "${_LAB_MEM_OF[$h]:-$_LAB_MEM}"
		-kernel "$_LAB_KIMAGE" -initrd "$_LAB_INITRD" -append "$append"
		# append=on: the console log keeps every boot of this host.
		-chardev "file,id=con0,path=$(_lab_qemu_escape "$hd/console.log"),append=on"
		-serial chardev:con0
		-qmp "unix:$(_lab_qemu_escape "$hd/qmp.sock"),server=on,wait=off"
		-drive "file=$(_lab_qemu_escape "$hd/disk.img"),format=raw,if=virtio,cache=none"
		"${disks[@]}"
		"${mode[@]}"
		-fsdev "local,id=lab,path=$(_lab_qemu_escape "$hd/lab"),security_model=none,multidevs=remap"
		-device virtio-9p-pci,fsdev=lab,mount_tag=lab
		# Test network: every guest joins one multicast group.  local.host=
		# 127.0.0.1 makes QEMU send and join on the loopback interface, so
		# the frames never leave this machine.
		-netdev "dgram,id=n0,remote.type=inet,remote.host=$_LAB_MCAST_GROUP,remote.port=$_LAB_MCAST_PORT,local.type=inet,local.host=127.0.0.1,local.port=$_LAB_MCAST_PORT"
		-device "virtio-net-pci,netdev=n0,mac=52:54:00:99:00:$mac"
		# Control link for the agent only: restrict=on cuts it off from
		# everything but the forwarded port.
		-netdev "user,id=c0,restrict=on,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:$port-10.0.2.15:$_LAB_GUEST_PORT"
		-device "virtio-net-pci,netdev=c0,mac=52:54:00:98:00:$mac"
	)
	# stdin from /dev/null; the lab lock fd is not inherited (a stray QEMU
	# must not hold the lock forever).
	local qemu=${LAB_QEMU:-qemu-system-x86_64} pid t
	if [[ -n "$_LAB_LOCK_FD" ]]; then
		"$qemu" "${args[@]}" </dev/null >>"$hd/qemu.log" 2>&1 {_LAB_LOCK_FD}>&- &
	else
		"$qemu" "${args[@]}" </dev/null >>"$hd/qemu.log" 2>&1 &
	fi
	pid=$!
	echo "$pid" >"$hd/qemu.pid"
	# Disowned: bash would otherwise print "Killed" for every power pull.
	disown "$pid"
	date +%s.%N >"$hd/boot.start"
	# Until the forked shell has exec'd QEMU, its command line is bash's
	# and _lab_running (which guards against pid reuse by the command
	# line) would call the host dead: on a loaded machine the exec can
	# come after the first check (CI saw "QEMU exited while booting" with
	# an empty qemu.log). Wait for the exec, or for the process to end.
	for ((t = 0; t < 300; t++)); do
		grep -qaF -- "$hd/console.log" "/proc/$pid/cmdline" 2>/dev/null && return 0
		[[ -r "/proc/$pid/stat" ]] || return 0
		sleep 0.1
	done
	echo "lab: $h: QEMU was not running 30 s after its launch" >&2
}

# _lab_wait_ready HOST DEADLINE(epoch s): wait until the agent answers.
_lab_wait_ready() {
	local h=$1 deadline=$2 hd retries=0
	hd=$(_lab_hdir "$h")
	while :; do
		if ! _lab_running "$h"; then
			if grep -q 'host forwarding' "$hd/qemu.log" 2>/dev/null && ((retries++ < 5)); then
				# Lost the race for the agent port: relaunch with another.
				: >"$hd/qemu.log"
				_lab_boot "$h"
				continue
			fi
			echo "--- $hd/qemu.log:" >&2
			tail -n 20 "$hd/qemu.log" >&2
			echo "--- $hd/console.log (tail):" >&2
			tail -n 30 "$hd/console.log" >&2
			fail "$h: QEMU exited while booting"
		fi
		if [[ -f "$hd/lab/.agent/ready" ]] && _lab_call "$h" 10 true >/dev/null 2>&1; then
			return 0
		fi
		if ((EPOCHSECONDS >= deadline)); then
			echo "--- $hd/console.log (tail):" >&2
			tail -n 30 "$hd/console.log" >&2
			fail "$h: agent did not answer within $(_lab_boot_timeout)s of boot"
		fi
		sleep 0.2
	done
}

# ----------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------

# lab_guest_setup CODE: shell code (bash) every guest runs as root at each
# boot, before its agent answers (output in /lab/setup.log).  Call before
# lab_start / lab_power_on.  E.g. lab_guest_setup 'modprobe drbd usermode_helper=/bin/true'
lab_guest_setup() { LAB_GUEST_SETUP=$1; }

# lab_start N [--mem MiB] [--disk-mib M] [--disks K] [--hung-task SECS] [--names A,B,..] [--mem-of HOST=MiB] [--rootfs]
#   --disks: K backing disks per host of M MiB each (/dev/vda, /dev/vdb, ...);
#   --rootfs: installed-system guests: each host boots the image that
#   rootfs_image (rootfs.sh) built -- its own kernel and initramfs, systemd
#   as PID 1, root on a copy-on-write overlay of the image that lives as
#   long as the run directory (root.qcow2, the last virtio disk) -- instead
#   of this machine's root over 9p.  "systemctl reboot" in the guest reboots
#   it (no -no-reboot); lab_wait_reboot waits for it.  The agent and /lab
#   are as in the other guests (guest/rootfs/dtrbd-lab.service);
#   --names: the hosts' names instead of h1..hN (host I still has address
#   10.99.0.I, so "--names p1,p2,witness" gives p1=.1, p2=.2, witness=.3);
#   --mem-of: memory of one host (repeatable), --mem the others'.
lab_start() {
	local n=${1:-} names="" mo
	[[ "$n" =~ ^[1-9][0-9]*$ && $n -le 50 ]] || fail "lab_start: need a host count (1..50), got '$n'"
	shift
	while (($#)); do
		case "$1" in
		--mem) _LAB_MEM=${2:?--mem needs MiB}; shift 2 ;;
		--disk-mib) _LAB_DISK_MIB=${2:?--disk-mib needs MiB}; shift 2 ;;
		--disks)
			[[ "${2:-}" =~ ^[1-9]$ ]] || fail "lab_start: --disks needs a count of 1..9"
			_LAB_DISKS=$2
			shift 2
			;;
		--hung-task)
			[[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || fail "lab_start: --hung-task needs seconds"
			_LAB_HUNG_TASK_SECS=$2
			shift 2
			;;
		--names) names=${2:?--names needs A,B,...}; shift 2 ;;
		--mem-of)
			mo=${2:?--mem-of needs HOST=MiB}
			[[ "$mo" =~ ^[a-z][a-z0-9-]*=[1-9][0-9]*$ ]] || fail "lab_start: --mem-of wants HOST=MiB, got '$mo'"
			_LAB_MEM_OF[${mo%%=*}]=${mo#*=}
			shift 2
			;;
		--rootfs)
			[[ -n "${ROOTFS_IMAGE:-}" && -s "$ROOTFS_IMAGE" ]] ||
				fail "lab_start --rootfs: no image; call rootfs_image (tests/vm/rootfs.sh) first"
			_LAB_ROOTFS=$ROOTFS_IMAGE
			shift
			;;
		*) fail "lab_start: unknown option '$1'" ;;
		esac
	done
	((_LAB_STARTED == 0)) || fail "lab_start: a lab is already running in this script"
	lab_preflight || fail "lab preflight failed (see above)"
	_lab_lock

	if [[ -n "${DTRBD_LAB_DIR:-}" ]]; then
		LAB_DIR=$DTRBD_LAB_DIR
		mkdir -p "$LAB_DIR"
	else
		LAB_DIR=$(mktemp -d /tmp/dtrbd-lab.XXXX)
	fi
	LAB_DIR=$(cd "$LAB_DIR" && pwd)
	# QEMU's -append and unix socket paths cannot take these.
	[[ "$LAB_DIR" != *[[:space:],]* ]] || fail "run directory path must not contain spaces or commas: $LAB_DIR"
	((${#LAB_DIR} < 80)) || fail "run directory path too long for unix sockets: $LAB_DIR"
	[[ "$LAB_ROOT" != *[[:space:]]* ]] || fail "the lab's path must not contain spaces: $LAB_ROOT"
	_LAB_STARTED=1
	_LAB_STOPPED=0
	trap _lab_on_exit EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	if [[ -n "${DTRBD_LAB_RESULT:-}" ]]; then
		echo "$LAB_DIR" >"$DTRBD_LAB_RESULT.dir" 2>/dev/null || true
	fi

	_lab_read_expect_headers
	local dk
	if [[ -n "$_LAB_ROOTFS" ]]; then
		# The installed system boots its own (Debian's) kernel, for which
		# its DKMS built the module: the debug kernel has no place there.
		if [[ -n "${DTRBD_LAB_DEBUG_KERNEL:-}" && "${DTRBD_LAB_DEBUG_KERNEL}" != 0 ]]; then
			fail "lab_start --rootfs: the installed-system guests boot the image's own kernel (the module is built for it by DKMS), so this scenario cannot run on the debug kernel; run it without DTRBD_LAB_DEBUG_KERNEL"
		fi
		LAB_KVER=$ROOTFS_KVER
		_LAB_KIMAGE=$ROOTFS_KERNEL
		_LAB_MODROOT=""
		cp "$ROOTFS_INITRD" "$LAB_DIR/initrd.img" || fail "cannot copy the image's initramfs into $LAB_DIR"
		cp "$ROOTFS_KERNEL" "$LAB_DIR/vmlinuz" || fail "cannot copy the image's kernel into $LAB_DIR"
		_LAB_KIMAGE=$LAB_DIR/vmlinuz
		_LAB_INITRD=$LAB_DIR/initrd.img
	elif dk=$(_lab_debug_kernel_dir); then
		LAB_KVER=$(<"$dk/release")
		_LAB_KIMAGE=$dk/bzImage
		_LAB_MODROOT=$dk/modules
		[[ -f "$_LAB_MODROOT/lib/modules/$LAB_KVER/modules.dep" ]] ||
			fail "the debug kernel's modules are missing: $_LAB_MODROOT/lib/modules/$LAB_KVER (rebuild with tests/vm/debug-kernel)"
		[[ "$_LAB_MODROOT" != *[[:space:],]* ]] || fail "debug-kernel path must not contain spaces or commas: $dk"
	else
		(($? == 1)) || fail "the debug kernel was asked for but is not there (see above)"
		LAB_KVER=$(_lab_pick_kver) || fail "no guest kernel found"
		_LAB_KIMAGE=/boot/vmlinuz-$LAB_KVER
		_LAB_MODROOT=""
	fi
	if [[ -z "$_LAB_ROOTFS" ]]; then
		_LAB_INITRD=$(_lab_initramfs "$LAB_KVER" "$_LAB_MODROOT") || fail "cannot build the initramfs"
		# A copy of our own: a lab from another tree (other inputs, same kernel)
		# replaces the cached image, and a later power-on must still find it.
		cp "$_LAB_INITRD" "$LAB_DIR/initrd.cpio.gz" || fail "cannot copy the initramfs into $LAB_DIR"
		_LAB_INITRD=$LAB_DIR/initrd.cpio.gz
	fi
	# Multicast group and port per run, so concurrent/stale labs never
	# share a network.  230.99.0.0/16 is an administratively scoped range.
	_LAB_MCAST_GROUP="230.99.$((($$ >> 8) & 255)).$(($$ & 255))"
	_LAB_MCAST_PORT=$((30000 + $$ % 20000))

	LAB_HOSTS=()
	local i h t0=$EPOCHREALTIME
	if [[ -n "$names" ]]; then
		IFS=, read -r -a LAB_HOSTS <<<"$names"
		((${#LAB_HOSTS[@]} == n)) || fail "lab_start: $n hosts but ${#LAB_HOSTS[@]} names ($names)"
	else
		for ((i = 1; i <= n; i++)); do LAB_HOSTS+=("h$i"); done
	fi
	_LAB_INDEX=()
	for ((i = 1; i <= n; i++)); do
		h=${LAB_HOSTS[i - 1]}
		# A name is a host name, a directory and a QEMU -name.
		[[ "$h" =~ ^[a-z][a-z0-9-]{0,30}$ ]] || fail "lab_start: bad host name '$h' (lower-case letters, digits, '-')"
		[[ -z "${_LAB_INDEX[$h]:-}" ]] || fail "lab_start: host name '$h' given twice"
		_LAB_INDEX[$h]=$i
	done
	for h in "${!_LAB_MEM_OF[@]}"; do
		[[ -n "${_LAB_INDEX[$h]:-}" ]] || fail "lab_start: --mem-of names '$h', which is not a host (${LAB_HOSTS[*]})"
	done
	{
		echo "kernel=$LAB_KVER image=$_LAB_KIMAGE modules=${_LAB_MODROOT:-/} initrd=$_LAB_INITRD"
		echo "hosts=${LAB_HOSTS[*]} mem=$_LAB_MEM disk_mib=$_LAB_DISK_MIB disks=$_LAB_DISKS hung_task_secs=$_LAB_HUNG_TASK_SECS"
		for h in "${!_LAB_MEM_OF[@]}"; do echo "mem.$h=${_LAB_MEM_OF[$h]}"; done
		echo "mcast=$_LAB_MCAST_GROUP:$_LAB_MCAST_PORT"
		[[ -z "$_LAB_ROOTFS" ]] || echo "rootfs=$_LAB_ROOTFS"
	} >"$LAB_DIR/lab.info"
	for h in "${LAB_HOSTS[@]}"; do
		mkdir -p "$LAB_DIR/$h/lab/.agent" "$LAB_DIR/$h/lab/bg"
		[[ -e "$LAB_DIR/$h/disk.img" ]] || truncate -s "${_LAB_DISK_MIB}M" "$LAB_DIR/$h/disk.img"
		for ((i = 2; i <= _LAB_DISKS; i++)); do
			[[ -e "$LAB_DIR/$h/disk$i.img" ]] || truncate -s "${_LAB_DISK_MIB}M" "$LAB_DIR/$h/disk$i.img"
		done
		if [[ -n "$_LAB_ROOTFS" && ! -e "$LAB_DIR/$h/root.qcow2" ]]; then
			qemu-img create -q -f qcow2 -F raw -b "$_LAB_ROOTFS" "$LAB_DIR/$h/root.qcow2" ||
				fail "cannot create the root overlay of $h on $_LAB_ROOTFS"
		fi
	done
	log "lab: starting ${n} host(s) in $LAB_DIR (kernel $LAB_KVER, ${_LAB_MEM} MiB, disk ${_LAB_DISK_MIB} MiB)"
	for h in "${LAB_HOSTS[@]}"; do _lab_boot "$h"; done
	local deadline=$((EPOCHSECONDS + $(_lab_boot_timeout)))
	for h in "${LAB_HOSTS[@]}"; do _lab_wait_ready "$h" "$deadline"; done
	if [[ -n "$_LAB_MODROOT" ]]; then
		for h in "${LAB_HOSTS[@]}"; do _lab_kmemleak_baseline "$h"; done
	fi
	log "lab: ${n} host(s) up in $(_lab_since "$t0")s"
}

# The per-host boot limit in seconds.
_lab_boot_timeout() { echo $((${DTRBD_LAB_BOOT_TIMEOUT:-180} * $(_lab_timeout_scale))); }

# Seconds (one decimal) since an EPOCHREALTIME value.
_lab_since() {
	local a=${1/[.,]/} b=${EPOCHREALTIME/[.,]/}
	local d=$(((b - a) / 100000))
	printf '%d.%d' $((d / 10)) $((d % 10))
}

# _lab_call HOST SECS CMD: the agent client behind lab_exec.
#   The command goes into the shared folder as ID.sh; one TCP line "ID SECS"
#   tells the guest to run it; the guest answers "rc N" when done and leaves
#   stdout/stderr in ID.out/ID.err.  bash's /dev/tcp means no helper process
#   on this side; a dead QEMU refuses the connection at once (fail fast).
_lab_call() {
	local h=$1 secs=$2 cmd=$3 hd port fd tag="" rc="" st=0
	_lab_check_host "$h" || return 255
	[[ "$secs" =~ ^[0-9]+$ ]] || { echo "lab: bad timeout '$secs'" >&2; return 255; }
	hd=$(_lab_hdir "$h")
	if ! _lab_running "$h"; then
		echo "lab: $h is powered off (lab_power_on $h to boot it)" >&2
		return 255
	fi
	port=$(<"$hd/agent.port")
	local id="c$BASHPID-$((++_LAB_SEQ))-$RANDOM"
	local a="$hd/lab/.agent/$id"
	printf '%s\n' "$cmd" >"$a.sh"
	if ! { exec {fd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
		rm -f "$a.sh"
		echo "lab: cannot connect to the agent of $h (powered off?)" >&2
		return 255
	fi
	# In a subshell: a write to a connection the peer already reset would
	# raise SIGPIPE, which must not kill the scenario.
	if ! (printf '%s %s\n' "$id" "$secs" >&"$fd") 2>/dev/null; then
		st=1
	elif ! read -r -t "$((secs + 15))" -u "$fd" tag rc; then
		st=$?
	fi
	exec {fd}>&-
	if [[ "$tag" != rc || ! "$rc" =~ ^[0-9]+$ ]]; then
		rm -f "$a.sh" "$a.out" "$a.err"
		if ((st > 128)); then
			echo "lab: no answer from $h within $((secs + 15))s (guest hung?)" >&2
			return 124
		fi
		if _lab_running "$h"; then
			echo "lab: the agent of $h closed the connection without an answer" >&2
		else
			echo "lab: $h powered off during the command" >&2
		fi
		return 255
	fi
	if [[ -s "$a.out" ]]; then cat "$a.out"; fi
	if [[ -s "$a.err" ]]; then cat "$a.err" >&2; fi
	rm -f "$a.sh" "$a.out" "$a.err"
	if [[ "$rc" == 124 ]]; then
		echo "lab: command on $h timed out after ${secs}s: $cmd" >&2
	fi
	return "$rc"
}

# lab_exec HOST CMD...: run CMD (joined by spaces, like ssh) with bash in the
# guest as root, cwd /, stdin /dev/null.  Prints its stdout, its stderr on
# stderr, returns its exit code (255: lab/transport error, 124: timeout).
lab_exec() {
	local h=${1:?lab_exec HOST CMD...}
	shift
	_lab_call "$h" "${DTRBD_LAB_EXEC_TIMEOUT:-$((600 * $(_lab_timeout_scale)))}" "$*"
}

# lab_exec_timeout SECS HOST CMD...: lab_exec limited to SECS seconds; on
# expiry the command's process group is killed in the guest and rc is 124.
lab_exec_timeout() {
	local secs=${1:?lab_exec_timeout SECS HOST CMD...} h=${2:?lab_exec_timeout SECS HOST CMD...}
	shift 2
	_lab_call "$h" "$secs" "$*"
}

# lab_bg HOST CMD...: start CMD in the guest in its own session and return at
# once.  Sets LAB_BG_ID; output (stdout+stderr) goes to /lab/bg/$LAB_BG_ID.log
# in the guest (lab_bg_log HOST ID on this machine), its pid to .pid and, when
# it ends, its exit code to .rc.
lab_bg() {
	local h=${1:?lab_bg HOST CMD...}
	shift
	_lab_check_host "$h" || return 255
	local id="bg$BASHPID-$((++_LAB_SEQ))"
	local b="/lab/bg/$id"
	printf '%s\n' "$*" >"$(_lab_hdir "$h")/lab/bg/$id.sh"
	_lab_call "$h" 30 "setsid bash -c 'cd /; bash $b.sh </dev/null >$b.log 2>&1; echo \$? >$b.rc.tmp; mv $b.rc.tmp $b.rc' </dev/null >/dev/null 2>&1 & echo \$! >$b.pid" || return
	# shellcheck disable=SC2034 # read by scenarios
	LAB_BG_ID=$id
}

# lab_bg_log HOST ID: path (on this machine) of a lab_bg command's output.
lab_bg_log() { printf '%s/bg/%s.log\n' "$(lab_host_dir "$1")" "$2"; }

# lab_bg_wait HOST ID [SECS]: wait (default 600 s) for a lab_bg command to
# end and return its exit code (255 if the host went down, 124 on timeout).
lab_bg_wait() {
	local h=$1 id=$2 secs=${3:-600} f
	f="$(lab_host_dir "$h")/bg/$id.rc" || return 255
	local end=$((EPOCHSECONDS + secs))
	while [[ ! -s "$f" ]]; do
		if ! _lab_running "$h"; then
			echo "lab: $h powered off; background command $id lost" >&2
			return 255
		fi
		if ((EPOCHSECONDS >= end)); then
			echo "lab: background command $id on $h still running after ${secs}s" >&2
			return 124
		fi
		sleep 0.2
	done
	return "$(<"$f")"
}

# lab_bg_wait_line HOST ID ERE [SECS]: wait (default 60 s) until a lab_bg
# command's output has a line matching ERE. Returns 1 (its output on
# stderr) if the command ended first or the time ran out.
lab_bg_wait_line() {
	local h=$1 id=$2 re=$3 secs=${4:-60} f end
	f=$(lab_bg_log "$h" "$id") || return 1
	end=$((EPOCHSECONDS + secs))
	until grep -qE -- "$re" "$f" 2>/dev/null; do
		if [[ -s "$(lab_host_dir "$h")/bg/$id.rc" ]] || ((EPOCHSECONDS >= end)) || ! _lab_running "$h"; then
			grep -qE -- "$re" "$f" 2>/dev/null && return 0
			echo "lab: no line matching /$re/ from background command $id on $h:" >&2
			cat "$f" >&2 2>/dev/null || true
			return 1
		fi
		sleep 0.2
	done
}

# lab_dmesg HOST: the guest's kernel log.
lab_dmesg() { lab_exec_timeout 30 "${1:?lab_dmesg HOST}" dmesg; }

# _lab_save_dmesg HOST TAG: keep the guest's dmesg in the run directory so the
# health check also sees messages below the console log level.
_lab_save_dmesg() {
	local h=$1 tag=$2 hd
	hd=$(_lab_hdir "$h")
	# -r: raw, with each line's level, for the health check's error rule.
	if lab_exec_timeout 15 "$h" dmesg -r >"$hd/dmesg.$tag.tmp" 2>/dev/null; then
		mv "$hd/dmesg.$tag.tmp" "$hd/dmesg.$tag.log"
	else
		rm -f "$hd/dmesg.$tag.tmp"
	fi
}

# _lab_kill HOST: SIGKILL its QEMU and wait until the process is gone.
_lab_kill() {
	local h=$1 pid i
	_lab_running "$h" || return 0
	pid=$(<"$(_lab_hdir "$h")/qemu.pid")
	kill -9 "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		_lab_running "$h" || break
		sleep 0.05
	done
}

# lab_power_off HOST [--now]: power pull (kill -9 of its QEMU).  Unguarded
# writes in the guest's page cache are lost; what reached the virtual disk
# (cache=none: written with O_DIRECT) stays.  By default the guest's dmesg is
# saved first (a short agent call); --now pulls without that delay.
lab_power_off() {
	local h=${1:?lab_power_off HOST [--now]} now=${2:-}
	_lab_check_host "$h" || fail "lab_power_off: bad host"
	if ! _lab_running "$h"; then
		log "lab: $h is already off"
		return 0
	fi
	if [[ "$now" != --now ]]; then
		_lab_save_dmesg "$h" "boot$(<"$(_lab_hdir "$h")/boots")"
	fi
	_lab_kill "$h"
	log "lab: $h powered off"
}

# lab_boot_id HOST: the guest's boot id (changes at every boot).
lab_boot_id() { lab_exec_timeout 30 "$1" cat /proc/sys/kernel/random/boot_id; }

# lab_wait_reboot HOST BOOT_ID SECS: wait until HOST's agent answers from a
# boot other than BOOT_ID (a reboot inside the guest, lab_start --rootfs:
# QEMU keeps running), at most SECS seconds.
lab_wait_reboot() {
	local h=$1 old=$2 secs=$3 id hd end
	hd=$(_lab_hdir "$h")
	end=$((EPOCHSECONDS + secs * $(_lab_timeout_scale)))
	while ((EPOCHSECONDS < end)); do
		_lab_running "$h" || fail "$h: QEMU ended while waiting for its reboot"
		if id=$(_lab_call "$h" 10 "cat /proc/sys/kernel/random/boot_id" 2>/dev/null) &&
			[[ -n "$id" && "$id" != "$old" ]]; then
			return 0
		fi
		sleep 1
	done
	echo "--- $hd/console.log (tail):" >&2
	tail -n 40 "$hd/console.log" >&2
	fail "$h: not back from its reboot within ${secs}s"
}


# lab_power_on HOST: boot a powered-off host again (same disk, same /lab).
lab_power_on() {
	local h=${1:?lab_power_on HOST} t0=$EPOCHREALTIME
	_lab_check_host "$h" || fail "lab_power_on: bad host"
	_lab_running "$h" && fail "lab_power_on: $h is already running"
	_lab_boot "$h"
	_lab_wait_ready "$h" $((EPOCHSECONDS + $(_lab_boot_timeout)))
	[[ -z "$_LAB_MODROOT" ]] || _lab_kmemleak_baseline "$h"
	log "lab: $h powered on ($(_lab_since "$t0")s)"
}

# _lab_qmp HOST JSON: run one QMP command; prints the reply line, returns 0
# when it is a "return".  A coprocess keeps the socket open until the reply
# arrived (closing early can drop the reply or even the command).
_lab_qmp() {
	local h=$1 cmd=$2 sock line ok=1 in out
	sock="$(_lab_hdir "$h")/qmp.sock"
	[[ -S "$sock" ]] || { echo "lab: no QMP socket for $h" >&2; return 1; }
	coproc _LAB_QMP { exec socat - "UNIX-CONNECT:$sock" 2>/dev/null; }
	in=${_LAB_QMP[0]}
	out=${_LAB_QMP[1]}
	local pid=$_LAB_QMP_PID
	if read -r -t 10 -u "$in" line && [[ "$line" == *QMP* ]]; then
		printf '{"execute":"qmp_capabilities"}\n' >&"$out"
		if read -r -t 10 -u "$in" line && [[ "$line" == *'"return"'* ]]; then
			printf '%s\n' "$cmd" >&"$out"
			# Skip asynchronous events until our reply.
			while read -r -t 10 -u "$in" line; do
				case "$line" in
				*'"return"'*) ok=0; printf '%s\n' "$line"; break ;;
				*'"error"'*) printf '%s\n' "$line" >&2; break ;;
				esac
			done
		fi
	fi
	exec {out}>&- {in}<&-
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	return "$ok"
}

# lab_link HOST up|down: plug/unplug the host's test NIC (eth0).  The guest
# sees carrier loss; frames in both directions are dropped while down.
lab_link() {
	local h=${1:?lab_link HOST up|down} state=${2:-} up
	case "$state" in
	up) up=true ;;
	down) up=false ;;
	*) fail "lab_link: state must be up or down, got '$state'" ;;
	esac
	_lab_check_host "$h" || fail "lab_link: bad host"
	_lab_running "$h" || fail "lab_link: $h is powered off"
	_lab_qmp "$h" "{\"execute\":\"set_link\",\"arguments\":{\"name\":\"n0\",\"up\":$up}}" >/dev/null ||
		fail "lab_link: QMP set_link failed for $h"
	log "lab: $h link $state"
}

# lab_expect_kernel ERE: the scenario provokes dtrbd error lines matching ERE
# on purpose (a failing disk, a refused handshake); the health check lets
# them pass.  The same as a "# expect-kernel: ERE" line in the scenario's
# header.  It only covers the module's error lines (_LAB_KERR_RE), never a
# warning, oops or hung task.
lab_expect_kernel() {
	local re=${1:?lab_expect_kernel ERE} rc=0
	# Reject a broken regex now rather than silently at the end.
	grep -qE -- "$re" </dev/null 2>/dev/null || rc=$?
	((rc != 2)) || fail "lab_expect_kernel: bad extended regex: $re"
	_LAB_KERNEL_EXPECT+=("$re")
}

# The scenario's "# expect-kernel: ERE" header lines ($0 is the scenario
# when run by tests/vm/run or directly with bash).
_lab_read_expect_headers() {
	local f=${DTRBD_LAB_SCENARIO_FILE:-$0} re
	[[ -f "$f" ]] || return 0
	while IFS= read -r re; do
		[[ -n "$re" ]] && lab_expect_kernel "$re"
	done < <(sed -n 's/^#[[:space:]]*expect-kernel:[[:space:]]*//p' "$f")
}

# _lab_report_context FILE LINE: the lines around the first report, so that
# a log that stays on the machine (CI keeps only the output) still shows
# what the report was: a matched "Call Trace" alone does not say whether it
# followed a warning, a stall or a hung task.
_lab_report_context() {
	local f=$1 n=$2 from
	[[ "$n" =~ ^[0-9]+$ ]] || return 0
	from=$((n > 12 ? n - 12 : 1))
	echo "    the first report in context (lines $from-$((n + 4))):"
	sed -n "${from},$((n + 4))p" "$f" | cut -c1-200 | sed 's/^/      | /'
}

# lab_scan_kernel_log FILE...: the kernel health check.  Prints every line
# matching _LAB_HEALTH_RE (minus DTRBD_LAB_HEALTH_IGNORE), and every dtrbd
# line at error level or worse (_LAB_KERR_RE) that no lab_expect_kernel
# regex covers, with its file and line number; returns 1 if there was any.
lab_scan_kernel_log() {
	local f hits kerr re first bad=0
	for f in "$@"; do
		[[ -f "$f" ]] || continue
		hits=$(grep -naE -- "$_LAB_HEALTH_RE" "$f" || true)
		if [[ -n "$hits" && -n "${DTRBD_LAB_HEALTH_IGNORE:-}" ]]; then
			hits=$(grep -vE -- "$DTRBD_LAB_HEALTH_IGNORE" <<<"$hits" || true)
		fi
		# the context is for these reports; a dtrbd error line speaks
		# for itself
		first=${hits%%:*}
		kerr=$(grep -naE -- "$_LAB_KERR_RE" "$f" || true)
		for re in "${_LAB_KERNEL_EXPECT[@]}"; do
			[[ -n "$kerr" ]] || break
			kerr=$(grep -vE -- "$re" <<<"$kerr" || true)
		done
		if [[ -n "$kerr" ]]; then
			kerr=$(sed 's/$/   [dtrbd error line not expected by the scenario]/' <<<"$kerr")
			if [[ -n "$hits" ]]; then
				hits=$(printf '%s\n%s\n' "$hits" "$kerr" | sort -t: -k1,1n -u)
			else
				hits=$kerr
			fi
		fi
		if [[ -n "$hits" ]]; then
			bad=1
			echo "lab: kernel trouble in $f:" >&2
			head -n 50 <<<"$hits" | sed 's/^/    /' >&2
			[[ -z "$first" ]] || _lab_report_context "$f" "$first" >&2
		fi
	done
	return "$bad"
}

# _lab_kmemleak HOST TAG: on a kernel with kmemleak (the debug kernel), scan
# for leaks now and keep the report as hI/kmemleak.TAG.log, which the health
# check reads ("unreferenced object ...").  Two scans a few seconds apart, as
# kmemleak's documentation advises, so an object in transit is not reported.
_lab_kmemleak() {
	local h=$1 tag=$2 hd
	hd=$(_lab_hdir "$h")
	lab_exec_timeout $((120 * $(_lab_timeout_scale))) "$h" \
		'f=/sys/kernel/debug/kmemleak; [ -e $f ] || exit 0; echo scan >$f && sleep 5 && echo scan >$f && cat $f' \
		>"$hd/kmemleak.$tag.tmp" 2>"$hd/kmemleak.$tag.err" || {
		echo "lab: the kmemleak scan of $h failed: $(head -n 3 "$hd/kmemleak.$tag.err")" >&2
		echo "kmemleak: scan failed on $h (lab: see $hd/kmemleak.$tag.err), suspected memory leak unknown" >>"$hd/kmemleak.$tag.tmp"
	}
	rm -f "$hd/kmemleak.$tag.err"
	if [[ -s "$hd/kmemleak.$tag.tmp" ]]; then
		mv "$hd/kmemleak.$tag.tmp" "$hd/kmemleak.$tag.log"
	else
		rm -f "$hd/kmemleak.$tag.tmp"
	fi
}

# _lab_kmemleak_baseline HOST: right after a boot, scan and forget what
# kmemleak suspects so far (the boot's own noise), so the report at the end
# holds only what leaked while the scenario ran.
_lab_kmemleak_baseline() {
	lab_exec_timeout $((120 * $(_lab_timeout_scale))) "$1" \
		'f=/sys/kernel/debug/kmemleak; [ -e $f ] || exit 0; echo scan >$f && echo clear >$f' ||
		echo "lab: could not clear kmemleak's boot-time suspects on $1" >&2
}

# lab_stop: save every running guest's dmesg, power all guests off, then run
# the kernel health check over all console logs and saved dmesgs.  Returns 1
# (and records the reason for tests/vm/run) if the check failed.  Runs from
# the EXIT trap automatically; calling it earlier is fine.
lab_stop() {
	[[ -n "$LAB_DIR" && -d "$LAB_DIR" ]] || return 0
	((_LAB_STOPPED == 0)) || return "${_LAB_HEALTH_RC:-0}"
	_LAB_STOPPED=1
	local h hd f files=()
	for h in "${LAB_HOSTS[@]}"; do
		if _lab_running "$h"; then
			[[ -z "$_LAB_MODROOT" ]] || _lab_kmemleak "$h" final
			_lab_save_dmesg "$h" final
		fi
	done
	for h in "${LAB_HOSTS[@]}"; do _lab_kill "$h"; done
	for h in "${LAB_HOSTS[@]}"; do
		hd=$(_lab_hdir "$h")
		files+=("$hd/console.log")
		for f in "$hd"/dmesg.*.log "$hd"/kmemleak.*.log; do [[ -f "$f" ]] && files+=("$f"); done
	done
	_LAB_HEALTH_RC=0
	if ! lab_scan_kernel_log "${files[@]}"; then
		_LAB_HEALTH_RC=1
		log "lab: FAIL: kernel warnings/errors in guest logs (see above)" >&2
		if [[ -n "${DTRBD_LAB_RESULT:-}" && ! -s "${DTRBD_LAB_RESULT}" ]]; then
			echo "kernel warnings/errors in guest logs" >"$DTRBD_LAB_RESULT" 2>/dev/null || true
		fi
	fi
	log "lab: stopped"
	return "$_LAB_HEALTH_RC"
}
