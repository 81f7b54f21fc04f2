#!/bin/bash
# description: dtrbdd on p1 and p2 with dtrbd-witness on the witness guest; one service VM, vm1, on p1 (its preferred host; the other runs none: one disk per host guest); the power of vm1's host is pulled: the other host detects it, promotes with the witness's grant and starts vm1, whose first counter there is >= the last it printed before the pull; prints the timeline pull -> detection -> promotion -> domain running -> first counter
# timeout: 600
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../vm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../cluster.sh"

vm_start_cluster --disk-mib 128
cl_up vm1:1:p1
# A runs vm1 (p1, its preferred host; dtrbdd may have placed it on p2), B survives.
A=${CL_HOST[vm1]}
B=p2
[[ $A == p2 ]] && B=p1
vm_wait_counter "$A" vm1 5 120 >/dev/null
boots=$(vm_boots "$B" vm1)
p2log=$(cl_log "$B")

# Pull $A's power; watch $B's daemon log (only lines after the pull: heartbeats may flap under TCG before) and vm1's serial from here.
n0=$(($(wc -l <"$p2log") + 1))
t0=$EPOCHREALTIME
lab_power_off "$A" --now
last_p1=$(vm_last_counter "$A" vm1)
log "$A's power pulled; vm1's last counter on $A: $last_p1"
t_dead="" t_prom="" t_start=""
end=$((EPOCHSECONDS + 120))
while [[ -z "$t_start" ]]; do
	[[ -n "$t_dead" ]] || ! grep -q "dtrbdd: peer $A is dead" < <(tail -n +"$n0" "$p2log") || t_dead=$(_lab_since "$t0")
	[[ -n "$t_prom" ]] || ! grep -q 'dtrbdd: vm1: promoting' < <(tail -n +"$n0" "$p2log") || t_prom=$(_lab_since "$t0")
	[[ -n "$t_start" ]] || ! grep -q 'dtrbdd: vm1: starting domain' < <(tail -n +"$n0" "$p2log") || t_start=$(_lab_since "$t0")
	((EPOCHSECONDS < end)) || {
		cl_json "$B" >&2 || true
		tail -n 40 "$p2log" >&2
		fail "$B did not start vm1 within 120 s of the pull (dead ${t_dead:-never}, promoted ${t_prom:-never})"
	}
	sleep 0.1
done
vm_wait_state "$B" vm1 running 60
t_run=$(_lab_since "$t0")
vm_wait_boot "$B" vm1 "$boots" 120 "$t0"
log "vm1 on $B: last=$VM_LAST first=$VM_FIRST ($A printed $last_p1)"
((VM_LAST >= last_p1)) || fail "vm1 on $B found $VM_LAST on its disk, but $A acknowledged $last_p1"
((VM_FIRST > last_p1)) || fail "vm1's first counter on $B $VM_FIRST is not after $A's last $last_p1"
cl_res_wait "$B" vm1 ".primary == \"$B\" and .role == \"primary\" and .vm.state == \"running\" and .vm.host == \"$B\"" 30 \
	"cluster --json on $B shows vm1 Primary and running on $B"
tail -n +"$n0" "$p2log" | grep -v "heartbeat link" | head -n 12 >&2
echo "failover timeline: pull -> detection ${t_dead}s -> promotion ${t_prom}s -> domain start ${t_start}s -> domain running ${t_run}s -> first counter ${VM_BOOT_SECS}s (last on $A $last_p1, first on $B $VM_FIRST)"
vm_wait_counter "$B" vm1 $((VM_FIRST + 3)) 60 >/dev/null
