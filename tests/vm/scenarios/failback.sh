#!/bin/bash
# description: dtrbdd on p1 and p2 with the witness; VMs on both hosts (three disks per host guest): vm1 (failback auto) and vm2 (failback manual) on p1, vm3 on p2, which must run on untouched throughout; p1's power is pulled: p2 takes both over (counters continue); p1 is powered on again and its daemon started: p1 resyncs only what changed (printed, far below the disk size), vm1 moves back to p1 by itself with its counters continuing, vm2 stays on p2 and cluster --json says it waits for a manual fail-back until 'dtrbdctl fail-back vm2' moves it; at the end vm1 and vm2 run on p1, vm3 still on p2 (never restarted, its counter advancing, resynced to p1), all in sync; never two writable Primaries at any sampled moment; prints the failover and failback timelines
# also: failover
# timeout: 900
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../vm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../cluster.sh"

t_begin=$EPOCHREALTIME
vm_start_cluster --disk-mib 128 --disks 3
cl_up vm1:1:p1:auto:/dev/vda vm2:2:p1:manual:/dev/vdb vm3:3:p2:auto:/dev/vdc
vm_wait_counter p1 vm1 5 120 >/dev/null
vm_wait_counter p1 vm2 5 120 >/dev/null
vm_wait_counter p2 vm3 5 120 >/dev/null
# vm3 stays on p2 from now to the end: same boot, Primary there, writing.
b3=$(vm_boots p2 vm3)
# _vm3_untouched WHEN: vm3 still runs its first boot on p2, as Primary there,
# and its counter has moved since the last call.
c3=$(vm_last_counter p2 vm3)
_vm3_untouched() {
	assert_eq "$(vm_boots p2 vm3)" "$b3" "vm3's boots on p2 $1"
	assert_eq "$(cl_field p2 '.resources[] | select(.name == "vm3") | "\(.primary) \(.role) \(.vm.host) \(.vm.state)"')" \
		"p2 primary p2 running" "vm3 on p2 $1"
	local c
	c=$(vm_wait_counter p2 vm3 $((c3 + 1)) 60)
	log "vm3 on p2 $1: same boot, counter $c3 -> $c"
	c3=$c
}
cl_assert_one_primary "before the pull"

# _seen LOG FROM ERE: the line matches in LOG from line FROM on.
_seen() { tail -n +"$2" "$1" | grep -qE -- "$3"; }
# _mark VAR LOG FROM ERE T0: set VAR (once) to the seconds since T0 when the
# line first shows up.
_mark() {
	[[ -z "${!1}" ]] || return 0
	_seen "$2" "$3" "$4" || return 0
	printf -v "$1" '%s' "$(_lab_since "$5")"
}

# ---- failover: pull p1's power -------------------------------------------------
b1=$(vm_boots p2 vm1)
b2=$(vm_boots p2 vm2)
p2log=$(cl_log p2)
n0=$(($(wc -l <"$p2log") + 1))
t0=$EPOCHREALTIME
lab_power_off p1 --now
last1=$(vm_last_counter p1 vm1)
last2=$(vm_last_counter p1 vm2)
log "p1's power pulled; last counters on p1: vm1 $last1, vm2 $last2"
fo_dead="" fo_start1="" fo_start2=""
end=$((EPOCHSECONDS + 120))
until [[ -n "$fo_start1" && -n "$fo_start2" ]]; do
	cl_assert_one_primary "failover"
	_mark fo_dead "$p2log" "$n0" 'dtrbdd: peer p1 is dead' "$t0"
	_mark fo_start1 "$p2log" "$n0" 'dtrbdd: vm1: starting domain' "$t0"
	_mark fo_start2 "$p2log" "$n0" 'dtrbdd: vm2: starting domain' "$t0"
	((EPOCHSECONDS < end)) || {
		cl_json p2 >&2 || true
		tail -n 40 "$p2log" >&2
		fail "p2 did not start both domains within 120 s of the pull (dead ${fo_dead:-never}, vm1 ${fo_start1:-never}, vm2 ${fo_start2:-never})"
	}
	sleep 0.2
done
vm_wait_boot p2 vm1 "$b1" 120 "$t0"
fo_first1=$VM_BOOT_SECS
log "vm1 on p2: last=$VM_LAST first=$VM_FIRST (p1 printed $last1)"
((VM_LAST >= last1 && VM_FIRST > last1)) || fail "vm1 on p2 found $VM_LAST, first $VM_FIRST, but p1 acknowledged $last1"
first1=$VM_FIRST
vm_wait_boot p2 vm2 "$b2" 120 "$t0"
fo_first2=$VM_BOOT_SECS
log "vm2 on p2: last=$VM_LAST first=$VM_FIRST (p1 printed $last2)"
((VM_LAST >= last2 && VM_FIRST > last2)) || fail "vm2 on p2 found $VM_LAST, first $VM_FIRST, but p1 acknowledged $last2"
first2=$VM_FIRST
for r in vm1 vm2; do
	cl_res_wait p2 "$r" '.primary == "p2" and .role == "primary" and .vm.host == "p2"' 30 "$r Primary and running on p2"
done
cl_assert_one_primary "after the failover"
_vm3_untouched "after the failover"
echo "failover timeline (two VMs): pull -> detection ${fo_dead}s -> domain start vm1 ${fo_start1}s, vm2 ${fo_start2}s -> first counter vm1 ${fo_first1}s, vm2 ${fo_first2}s"
# p2 writes alone for a while: that is what p1 will have to resync.
vm_wait_counter p2 vm1 $((first1 + 5)) 60 >/dev/null
vm_wait_counter p2 vm2 $((first2 + 5)) 60 >/dev/null

# ---- p1 returns ------------------------------------------------------------------
lab_power_on p1
vm_libvirt_wait p1 300
cl_restore p1
p1log=$(cl_log p1)
m0=$(($(wc -l <"$p1log") + 1))
n1=$(($(wc -l <"$p2log") + 1))
pb1=$(vm_boots p1 vm1)
pb2=$(vm_boots p1 vm2)
# What p2 wrote while p1 was off, as p2's bitmap has it: that, and only that,
# is what p1 must catch up on (by resync, or by p2's next write of a block).
size=$(dt_field p2 1 .size_bytes)
for r in 1 2 3; do
	o=$(dt_field p2 $r .oos_bytes)
	[[ "$o" =~ ^[0-9]+$ ]] || fail "no oos_bytes for vm$r on p2 ($o)"
	((o > 0)) || fail "p2 wrote to vm$r while p1 was off, but its bitmap marks nothing out of sync"
	((o * 8 <= size)) || fail "p2 marks $o of $size bytes of vm$r out of sync: not only what changed"
	p2oos[r]=$o
done
log "out of sync on p2 before p1's daemon starts: vm1 ${p2oos[1]}, vm2 ${p2oos[2]}, vm3 ${p2oos[3]} bytes"
t1=$EPOCHREALTIME
cl_daemon_start p1
fb_conn="" fb_synced="" fb_shut="" fb_demote="" fb_prom="" fb_start=""
tot1=0 tot2=0
end=$((EPOCHSECONDS + 240))
until [[ -n "$fb_start" ]]; do
	cl_assert_one_primary "failback of vm1"
	_mark fb_conn "$p1log" "$m0" 'dtrbdd: vm1: connected to p2' "$t1"
	_mark fb_shut "$p2log" "$n1" 'dtrbdd: vm1: handing over to p1: shutting down' "$t1"
	_mark fb_demote "$p2log" "$n1" 'dtrbdd: vm1: handing over to p1: demoting' "$t1"
	_mark fb_prom "$p1log" "$m0" 'dtrbdd: vm1: promoting' "$t1"
	_mark fb_start "$p1log" "$m0" 'dtrbdd: vm1: starting domain' "$t1"
	if j=$(cl_json p1); then
		# The largest resync each resource had to do (bytes).
		s1=$(jq -r '.resources[] | select(.name == "vm1") | .sync.total_bytes // 0' <<<"$j")
		s2=$(jq -r '.resources[] | select(.name == "vm2") | .sync.total_bytes // 0' <<<"$j")
		((s1 <= tot1)) || tot1=$s1
		((s2 <= tot2)) || tot2=$s2
		[[ -n "$fb_synced" ]] || [[ $(jq -r '.resources[] | select(.name == "vm1") |
			.connection == "connected" and .disk == "uptodate" and .sync == null' <<<"$j") != true ]] ||
			fb_synced=$(_lab_since "$t1")
	fi
	((EPOCHSECONDS < end)) || {
		cl_json p1 >&2 || true
		cl_json p2 >&2 || true
		tail -n 30 "$p1log" >&2
		tail -n 30 "$p2log" >&2
		fail "vm1 did not move back to p1 within 240 s of p1's daemon start (connected ${fb_conn:-never}, in sync ${fb_synced:-never}, shutdown on p2 ${fb_shut:-never}, demoted ${fb_demote:-never}, promoted on p1 ${fb_prom:-never})"
	}
	sleep 0.2
done
vm_wait_boot p1 vm1 "$pb1" 120 "$t1"
fb_first=$VM_BOOT_SECS
# p2 demoted before p1 promoted: p2's last counter of vm1 is final now.
l1=$(vm_last_counter p2 vm1)
log "vm1 back on p1: last=$VM_LAST first=$VM_FIRST (p2 printed $l1)"
((VM_LAST >= l1 && VM_FIRST > l1)) || fail "vm1 on p1 found $VM_LAST, first $VM_FIRST, but p2 acknowledged $l1"

# What p1 had to resync: far less than the disk.
for r in 1 2 3; do
	cl_res_wait p1 vm$r '.connection == "connected" and .disk == "uptodate" and .peer_disk == "uptodate" and .sync == null' 120 \
		"vm$r in sync on p1"
done
size=$(dt_field p1 1 .size_bytes)
rs1=$(dt_field p1 1 .resync_received_bytes)
rs2=$(dt_field p1 2 .resync_received_bytes)
rs3=$(dt_field p1 3 .resync_received_bytes)
oos1=$(dt_field p1 1 .oos_bytes)
oos2=$(dt_field p1 2 .oos_bytes)
oos3=$(dt_field p1 3 .oos_bytes)
log "resync on p1: vm1 received $rs1 bytes (largest sync total seen $tot1), vm2 received $rs2 bytes (largest $tot2), vm3 received $rs3 bytes, of $size bytes each; out of sync now $oos1, $oos2, $oos3"
for v in "$rs1" "$rs2" "$rs3"; do
	[[ "$v" =~ ^[0-9]+$ ]] || fail "no resync_received_bytes on p1 ($rs1, $rs2, $rs3)"
	((v * 8 <= size)) || fail "p1 resynced $v of $size bytes: not only what changed"
done
[[ "$oos1$oos2$oos3" == 000 ]] || fail "p1 still has out-of-sync bytes: vm1 $oos1, vm2 $oos2, vm3 $oos3"
_vm3_untouched "after p1's return and resync"

# ---- vm2 (manual) stays on p2 until fail-back ------------------------------------
for h in p2 p1; do
	cl_res_wait "$h" vm2 '.blocked != null and (.blocked | contains("manual fail-back"))' 30 \
		"$h's cluster --json says vm2 waits for a manual fail-back"
done
log "vm2 on p2: $(cl_field p2 '.resources[] | select(.name == "vm2") | .blocked')"
assert_eq "$(cl_field p2 '.resources[] | select(.name == "vm2") | "\(.primary) \(.vm.host)"')" "p2 p2" "vm2 after p1's return"
assert_eq "$(vm_boots p1 vm2)" "$pb2" "vm2's boots on p1 before the fail-back"
cl_assert_one_primary "vm2 waiting for fail-back"
n2=$(($(wc -l <"$p2log") + 1))
m2=$(($(wc -l <"$p1log") + 1))
t2=$EPOCHREALTIME
out=$(dt p2 fail-back vm2) || fail "dtrbdctl fail-back vm2 on p2 was refused"
log "fail-back vm2: $out"
mb_shut="" mb_start=""
end=$((EPOCHSECONDS + 180))
until [[ -n "$mb_start" ]]; do
	cl_assert_one_primary "fail-back of vm2"
	_mark mb_shut "$p2log" "$n2" 'dtrbdd: vm2: handing over to p1: shutting down' "$t2"
	_mark mb_start "$p1log" "$m2" 'dtrbdd: vm2: starting domain' "$t2"
	((EPOCHSECONDS < end)) || {
		cl_json p2 >&2 || true
		tail -n 30 "$p2log" >&2
		fail "vm2 did not move to p1 within 180 s of 'dtrbdctl fail-back vm2' (shutdown on p2 ${mb_shut:-never})"
	}
	sleep 0.2
done
vm_wait_boot p1 vm2 "$pb2" 120 "$t2"
mb_first=$VM_BOOT_SECS
l2=$(vm_last_counter p2 vm2)
log "vm2 on p1: last=$VM_LAST first=$VM_FIRST (p2 printed $l2)"
((VM_LAST >= l2 && VM_FIRST > l2)) || fail "vm2 on p1 found $VM_LAST, first $VM_FIRST, but p2 acknowledged $l2"

# ---- the end: both on p1, p2 Secondary, in sync -----------------------------------
for r in vm1 vm2; do
	cl_res_wait p1 "$r" '.primary == "p1" and .role == "primary" and .vm.host == "p1" and .vm.state == "running" and
		.connection == "connected" and .disk == "uptodate" and .peer_disk == "uptodate" and .sync == null and
		.blocked == null' 60 "$r running on p1, in sync, nothing blocked"
	cl_res_wait p2 "$r" '.role == "secondary" and .disk == "uptodate" and .blocked == null' 30 "$r Secondary on p2"
done
cl_res_wait p2 vm3 '.connection == "connected" and .peer_disk == "uptodate" and .sync == null and .blocked == null' 30 "vm3 on p2 in sync with p1"
cl_res_wait p1 vm3 '.role == "secondary" and .disk == "uptodate"' 30 "vm3 Secondary on p1"
_vm3_untouched "at the end"
assert_eq "$(vm_boots p1 vm3)" 0 "vm3's boots on p1"
cl_assert_one_primary "at the end"
assert_eq "$(vm_state p2 vm1)" "shut off" "vm1 on p2"
assert_eq "$(vm_state p2 vm2)" "shut off" "vm2 on p2"
c1=$(vm_last_counter p1 vm1)
vm_wait_counter p1 vm1 $((c1 + 2)) 60 >/dev/null
tail -n +"$m0" "$p1log" | grep -v "heartbeat link" | grep -E 'vm1|vm2' | head -n 20 >&2
echo "failback timeline (vm1, auto; from p1's daemon start): connected ${fb_conn:-?}s -> in sync ${fb_synced:-?}s -> shutdown on p2 ${fb_shut:-?}s -> demoted on p2 ${fb_demote:-?}s -> promoted on p1 ${fb_prom}s -> domain start ${fb_start}s -> first counter ${fb_first}s; resync vm1 $rs1 B, vm2 $rs2 B of $size B"
echo "fail-back timeline (vm2, manual; from 'dtrbdctl fail-back'): shutdown on p2 ${mb_shut:-?}s -> domain start on p1 ${mb_start}s -> first counter ${mb_first}s"
log "failback: done in $(_lab_since "$t_begin") s"
