#!/bin/bash
# description: proves the lab itself: boot, exec, network, disk, /lab, power pull, link cut, kernel-warning detection
# timeout: 300
#
# Run it after any change to tests/vm/: every other scenario relies on what
# this one checks.
set -euo pipefail
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# The health check must trip on each kind of kernel trouble, and only on
# those.  Works on a copy of a real console log (never injects anything into
# a real kernel), kept outside the hI/ folders that lab_stop scans.
lab_selftest_warn_detection() {
	local d="$LAB_DIR/selftest" line out
	mkdir -p "$d"
	cp "$LAB_DIR/h1/console.log" "$d/clean.log"
	lab_scan_kernel_log "$d/clean.log" 2>/dev/null || fail "health check trips on a clean console log"
	local samples=(
		"[   12.345678] WARNING: CPU: 0 PID: 42 at drivers/block/dtrbd/x.c:1 selftest+0x0/0x10 [dtrbd]"
		"[   12.345678] BUG: kernel NULL pointer dereference, address: 0000000000000008"
		"[   12.345678] Oops: 0000 [#1] PREEMPT SMP NOPTI"
		"[   12.345678] general protection fault, probably for non-canonical address 0xdead000000000100"
		"[   12.345678] WARNING: possible circular locking dependency detected"
		"[   12.345678] INFO: task kworker/0:1:17 blocked for more than 120 seconds."
		"[   12.345678] BUG: KASAN: use-after-free in dtrbd_selftest+0x10/0x20"
		"[   12.345678] Call Trace:"
		"[   12.345678] Kernel panic - not syncing: selftest"
		"<3>[   12.345678] INFO: task kworker/u2:1:17 blocked for more than 10 seconds."
		"[   12.345678] kmemleak: 2 new suspected memory leaks (see /sys/kernel/debug/kmemleak)"
		"[   12.345678] ODEBUG: free active (active state 0) object: 00000000a1b2c3d4 object type: timer_list"
		"[   12.345678] list_add corruption. prev->next should be next (ffff888003c8e3a8)"
		"[   12.345678] UBSAN: shift-out-of-bounds in drivers/block/dtrbd/x.c:1:2"
		"<3>[   12.345678] dtrbd: dtrbd0: selftest error line"
		"<0>[   12.345678] dtrbd: dtrbd0: selftest emergency line"
		"<3>[   12.345678] Buffer I/O error on dev dtrbd0, logical block 0, lost async page write"
		"<3>[   12.345678] rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:"
		"<3>[   12.345678] rcu: INFO: rcu_preempt self-detected stall on CPU"
		"<3>[   12.345678] rcu: rcu_preempt kthread starved for 5002 jiffies! g1 f0x0 RCU_GP_WAIT_FQS(5)"
		"<0>[   12.345678] watchdog: BUG: soft lockup - CPU#0 stuck for 61s! [kworker/0:1:17]"
	)
	for line in "${samples[@]}"; do
		cp "$d/clean.log" "$d/bad.log"
		printf '%s\n' "$line" >>"$d/bad.log"
		if out=$(lab_scan_kernel_log "$d/bad.log" 2>&1); then
			fail "health check missed: $line"
		fi
		[[ "$out" == *"${line#*] }"* ]] || fail "health check did not print the offending line: $line"
	done
	# A report shows the lines before it: a "Call Trace" says more with the
	# line that announced it.
	cp "$d/clean.log" "$d/bad.log"
	printf '%s\n' "<3>[   12.345678] rcu: selftest-announce kthread stack dump:" \
		"<6>[   12.345678] task:rcu_preempt state:I stack:0" "<6>[   12.345678] Call Trace:" >>"$d/bad.log"
	out=$(lab_scan_kernel_log "$d/bad.log" 2>&1) && fail "health check missed a bare Call Trace"
	[[ "$out" == *"in context"*"| <3>[   12.345678] rcu: selftest-announce"* ]] ||
		fail "health check did not show the lines before the report: $out"
	# The ignore knob filters known noise (and nothing else).
	cp "$d/clean.log" "$d/bad.log"
	printf '%s\n' "${samples[0]}" "${samples[2]}" >>"$d/bad.log"
	DTRBD_LAB_HEALTH_IGNORE='selftest\+0x0' lab_scan_kernel_log "$d/bad.log" 2>/dev/null &&
		fail "DTRBD_LAB_HEALTH_IGNORE hid more than it should"
	printf '%s\n' "${samples[0]}" >"$d/bad.log"
	DTRBD_LAB_HEALTH_IGNORE='selftest\+0x0' lab_scan_kernel_log "$d/bad.log" ||
		fail "DTRBD_LAB_HEALTH_IGNORE did not filter"
	# dtrbd lines below error level pass; an error line passes only when
	# the scenario expects it, and an expectation covers nothing else.
	cp "$d/clean.log" "$d/bad.log"
	printf '%s\n' "<4>[   12.345678] dtrbd: dtrbd0: selftest warning line" \
		"<6>[   12.345678] dtrbd: dtrbd0: selftest info line" \
		"<11>[   12.345678] dtrbd: a user-space line at error level" >>"$d/bad.log"
	lab_scan_kernel_log "$d/bad.log" 2>/dev/null || fail "health check trips on dtrbd lines below error level"
	# the debug kernel's checkers announce themselves at boot: not reports
	cp "$d/clean.log" "$d/bad.log"
	printf '%s\n' "[    0.912345] kmemleak: Kernel memory leak detector initialized (mem pool available: 15788)" \
		"[    0.912346] kmemleak: Automatic memory scanning thread started" >>"$d/bad.log"
	lab_scan_kernel_log "$d/bad.log" 2>/dev/null || fail "health check trips on kmemleak's start-up lines"
	printf '%s\n' "<3>[   12.345678] dtrbd: dtrbd0: selftest expected error" >>"$d/bad.log"
	lab_scan_kernel_log "$d/bad.log" 2>/dev/null && fail "health check missed an unexpected dtrbd error line"
	local saved=("${_LAB_KERNEL_EXPECT[@]}")
	lab_expect_kernel 'selftest expected error'
	lab_scan_kernel_log "$d/bad.log" 2>/dev/null || fail "lab_expect_kernel did not let an expected line pass"
	printf '%s\n' "<3>[   12.345678] dtrbd: dtrbd0: selftest other error" >>"$d/bad.log"
	out=$(lab_scan_kernel_log "$d/bad.log" 2>&1) && fail "lab_expect_kernel let another error line pass"
	[[ "$out" == *"selftest other error"* && "$out" != *"selftest expected error"* ]] ||
		fail "health check printed the wrong lines: $out"
	cp "$d/clean.log" "$d/bad.log"
	printf '%s\n' "<3>[   12.345678] WARNING: CPU: 0 PID: 1 at x.c:1 selftest expected error" >>"$d/bad.log"
	lab_scan_kernel_log "$d/bad.log" 2>/dev/null && fail "lab_expect_kernel hid a kernel warning"
	_LAB_KERNEL_EXPECT=("${saved[@]}")
	log "warning detection: ${#samples[@]} kinds of kernel trouble detected, expected dtrbd errors filtered"
}

# What the detection relies on in a real guest: levels on the console and in
# the saved logs, and a short hung-task timeout.
lab_selftest_guest_logging() {
	local f=$LAB_DIR/h1/console.log i
	# A line at level 4 through /dev/kmsg (facility user: <12>) must reach
	# the console with its level.
	lab_exec h1 "echo '<4>lab-selftest: console level probe' >/dev/kmsg"
	for ((i = 0; i < 20; i++)); do
		grep -qaE '^<12>\[ *[0-9]+\.[0-9]+\] lab-selftest: console level probe' "$f" && break
		sleep 0.5
	done
	((i < 20)) || fail "the console log has no syslog levels (console_msg_format=syslog not in effect)"
	# The saved logs (dmesg -r) carry levels too (on the first line of a
	# record; a multi-line record's further lines have none).
	local raw
	raw=$(lab_exec h1 'dmesg -r')
	grep -E '^<[0-9]+>\[ *[0-9.]+\] lab-selftest: console level probe' >/dev/null <<<"$raw" ||
		fail "dmesg -r in the guest does not show the probe with a level"
	assert_eq "$(lab_exec h1 cat /proc/sys/kernel/hung_task_timeout_secs)" "$_LAB_HUNG_TASK_SECS" \
		"kernel.hung_task_timeout_secs in the guest"
	assert_eq "$(lab_exec h1 cat /sys/module/rcupdate/parameters/rcu_cpu_stall_timeout)" "$_LAB_STALL_SECS" \
		"rcupdate.rcu_cpu_stall_timeout in the guest"
	assert_eq "$(lab_exec h1 cat /proc/sys/kernel/watchdog_thresh)" "$((_LAB_STALL_SECS / 2))" \
		"kernel.watchdog_thresh in the guest"
}

lab_start 2

# --- exec: stdout, stderr, exit code, environment --------------------------------
errf="$LAB_DIR/selftest-stderr"
set +e
out=$(lab_exec h1 'echo out1; echo err1 >&2; echo "cwd=$PWD id=$(id -u)"; exit 7' 2>"$errf")
rc=$?
set -e
assert_eq "$rc" 7 "lab_exec exit code"
assert_eq "$out" $'out1\ncwd=/ id=0' "lab_exec stdout"
assert_eq "$(<"$errf")" "err1" "lab_exec stderr"
assert_eq "$(lab_exec h2 hostname)" h2 "hostname"
# Arguments are joined like ssh does; quoting inside the command works.
assert_eq "$(lab_exec h1 echo "'a  b'" '$((6*7))')" "a  b 42" "argument joining"
# switch_root, not chroot: PID 1 is our init and the kernel's usermode helper
# (request_module -> /sbin/modprobe) works, e.g. for the ext4 mount below.
lab_exec h1 'grep -q "guest/init.sh" /proc/1/cmdline' || fail "PID 1 is not the lab init"
lab_exec h1 'modprobe dm_mod && test -e /dev/mapper/control' || fail "modprobe in the guest"

# Exec overhead (the number in README.md).
t0=$EPOCHREALTIME
for _ in 1 2 3 4 5 6 7 8 9 10; do lab_exec h1 true; done
log "exec overhead: $(_lab_since "$t0")s for 10 calls"

# Timeout: killed in the guest, rc 124, in about the requested time.
t0=$EPOCHREALTIME
set +e
lab_exec_timeout 2 h1 'sleep 30' 2>/dev/null
rc=$?
set -e
assert_eq "$rc" 124 "lab_exec_timeout rc"
log "lab_exec_timeout 2 returned after $(_lab_since "$t0")s"

# Background commands.
lab_bg h1 'sleep 1; echo bg-done; exit 3'
bgid=$LAB_BG_ID
set +e
lab_bg_wait h1 "$bgid" 60
rc=$?
set -e
assert_eq "$rc" 3 "lab_bg exit code"
grep -qx bg-done "$(lab_bg_log h1 "$bgid")" || fail "lab_bg output missing"
# PID 1 reaps orphans (the background command was one).
assert_eq "$(lab_exec h1 "ps -eo stat= | grep -c '^Z' || true")" 0 "zombies in the guest"

# --- network ------------------------------------------------------------------------
lab_exec h1 ping -c 3 -W 2 10.99.0.2 >/dev/null || fail "h1 cannot ping h2"
lab_exec h2 ping -c 1 -W 2 h1 >/dev/null || fail "h2 cannot ping h1 by name"

# --- disk ---------------------------------------------------------------------------
# A known pattern written with O_DIRECT and read back the same way.
lab_exec h1 'dd if=/dev/urandom of=/tmp/pat bs=1M count=4 status=none &&
	dd if=/tmp/pat of=/dev/vda bs=1M seek=16 oflag=direct conv=fsync status=none &&
	echo 3 >/proc/sys/vm/drop_caches &&
	dd if=/dev/vda of=/tmp/back bs=1M skip=16 count=4 iflag=direct status=none &&
	cmp /tmp/pat /tmp/back' || fail "disk pattern read back differs"
assert_eq "$(lab_exec h1 blockdev --getsize64 /dev/vda)" $((256 * 1024 * 1024)) "disk size"

# --- /lab, disk and power pull ----------------------------------------------------------
lab_exec h2 'echo before-pull >/lab/marker'
assert_eq "$(<"$(lab_host_dir h2)/marker")" before-pull "/lab file visible on the lab host"
# ext4 on h2's disk (mount needs request_module), synced, then power pulled
# with the file system still mounted.
lab_exec h2 'mkfs.ext4 -q -F /dev/vda && mkdir -p /mnt/d && mount /dev/vda /mnt/d &&
	echo on-disk >/mnt/d/file && sync' || fail "ext4 on /dev/vda"
lab_power_off h2 --now
t0=$EPOCHREALTIME
set +e
lab_exec h2 true 2>"$errf"
rc=$?
set -e
assert_eq "$rc" 255 "lab_exec on a powered-off host"
grep -q 'powered off' "$errf" || fail "no clear message for a powered-off host: $(<"$errf")"
log "lab_exec on a powered-off host failed in $(_lab_since "$t0")s: $(<"$errf")"
# A launch whose exec comes late (a loaded machine): the forked shell
# runs a while before it becomes QEMU, and the lab must not call the host
# dead meanwhile (CI once failed a boot that way). A function runs in that
# forked shell, so its command line is this script's until the exec.
slow_qemu() { sleep 2; exec qemu-system-x86_64 "$@"; }
LAB_QEMU=slow_qemu lab_power_on h2
assert_eq "$(lab_exec h2 cat /lab/marker)" before-pull "/lab after power cycle"
assert_eq "$(lab_exec h2 'mkdir -p /mnt/d && mount /dev/vda /mnt/d && cat /mnt/d/file')" on-disk \
	"disk content after power pull"
lab_exec h2 umount /mnt/d
lab_exec h1 ping -c 1 -W 2 10.99.0.2 >/dev/null || fail "h1 cannot ping h2 after its reboot"

# --- link cut -------------------------------------------------------------------------------
lab_link h1 down
if lab_exec h1 ping -c 2 -W 1 10.99.0.2 >/dev/null 2>&1; then
	fail "ping still works with h1's link down"
fi
lab_link h1 up
ok=0
for _ in 1 2 3 4 5 6 7 8 9 10; do
	if lab_exec h1 ping -c 1 -W 1 10.99.0.2 >/dev/null 2>&1; then
		ok=1
		break
	fi
done
((ok)) || fail "ping does not work again after link up"

# --- health check -------------------------------------------------------------------------
lab_selftest_warn_detection
lab_selftest_guest_logging
lab_dmesg h1 | grep -q 'Linux version' || fail "lab_dmesg"

log "lab selftest OK"
