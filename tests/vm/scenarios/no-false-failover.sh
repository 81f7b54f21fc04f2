#!/bin/bash
# description: dtrbdd on p1/p2 with the witness and two heartbeat links (a second IP on eth0), vm1 on p1 and vm2 on p2; two minutes of heavy load on both hosts (three CPU hogs on each one-vCPU host guest, fio random writes on every replicated device next to its running VM, a full resync of vm2's device to p1 started by invalidate-remote) while heartbeat link 1 is cut (blackhole routes): no peer death, no freeze, no promotion, no VM restarted, both VMs keep writing, the resync finishes; the cut link is only a warning, and it comes back up; prints the largest heartbeat gap each host saw. Then daemon-restart: kill -9 of p1's dtrbdd while vm1 writes: vm1's counters keep increasing, its device stays Primary and connected; the restarted daemon adopts both resources and no domain is restarted (one boot each)
# also: daemon-restart
# timeout: 720
# alone: it loads its own host guests to the limit and checks that the heartbeat timing survives that; another lab beside it would load them further than the scenario claims
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../vm.sh"
CL_HB2=10.99.1
. "$(dirname "${BASH_SOURCE[0]}")/../cluster.sh"

LOAD_SECS=${LOAD_SECS:-120}
since() { tail -n +"$2" "$(cl_log "$1")" | grep -- "$3" || true; }
logpos() { echo $(($(wc -l <"$(cl_log "$1")") + 1)); }

vm_start_cluster --disk-mib 128 --disks 2
cl_up vm1:1:p1:auto:/dev/vda vm2:2:p2:auto:/dev/vdb
[[ ${CL_HOST[vm1]} == p1 ]] || fail "vm1 runs on ${CL_HOST[vm1]}, not on its preferred p1"
[[ ${CL_HOST[vm2]} == p2 ]] || fail "vm2 runs on ${CL_HOST[vm2]}, not on its preferred p2"
cl_wait p2 '[.hosts[] | select(.name == "p1") | .links[].last_heard_ms | . != null and . < 1000] | all' 30 \
	"p2 hears p1 on both heartbeat links"
cl_wait p1 '[.hosts[] | select(.name == "p2") | .links[].last_heard_ms | . != null and . < 1000] | all' 30 \
	"p1 hears p2 on both heartbeat links"
c0=$(vm_wait_counter p1 vm1 5 120)
d0=$(vm_wait_counter p2 vm2 5 120)
boots1=$(vm_boots p1 vm1)
boots2=$(vm_boots p2 vm2)
n1=$(logpos p1)
n2=$(logpos p2)

# Load: CPU hogs on both (one vCPU each), fio next to each VM on its
# Primary's device (every write also crosses the replication link).
hogs='for i in 1 2 3; do timeout '$LOAD_SECS' sh -c "while :; do :; done" & done'
_fio() {	# _fio MINOR: fio's command line on /dev/dtrbdMINOR
	echo "fio --name=load --filename=/dev/dtrbd$1 --direct=1 --rw=randwrite --bs=4k --iodepth=8 --ioengine=libaio \
	--offset=32M --size=64M --time_based --runtime=$LOAD_SECS --output-format=terse >/lab/fio.out; rc=\$?; wait; exit \$rc"
}
lab_bg p1 "$hogs
$(_fio 1)"
load1=$LAB_BG_ID
lab_bg p2 "$hogs
$(_fio 2)"
load2=$LAB_BG_ID
# and a full resync of vm2's device from p2 to p1 under all of it
dt p2 invalidate-remote 2 >/dev/null || fail "invalidate-remote 2 on p2"
t0=$EPOCHREALTIME
# Link 1 cut both ways for the whole load.
lab_exec p1 "ip route add blackhole $CL_HB2.2/32" || fail "cutting heartbeat link 1 on p1"
lab_exec p2 "ip route add blackhole $CL_HB2.1/32" || fail "cutting heartbeat link 1 on p2"
log "load: CPU hogs on p1 and p2, fio on /dev/dtrbd1 on p1 and /dev/dtrbd2 on p2, a full resync of vm2 to p1, heartbeat link 1 cut, for ${LOAD_SECS}s"
declare -A max_gap=([p1]=0 [p2]=0)
samples=0 resyncing=0
end=$((EPOCHSECONDS + LOAD_SECS))
while ((EPOCHSECONDS < end)); do
	for h in p1 p2; do
		o=p2
		[[ $h == p2 ]] && o=p1
		out=$(cl_json "$h") || out='{}'
		roles=$(jq -r '[.resources[] | .name + "=" + .role] | sort | join(" ")' <<<"$out" 2>/dev/null || echo "?")
		want="vm1=primary vm2=secondary"
		[[ $h == p2 ]] && want="vm1=secondary vm2=primary"
		[[ $roles == "$want" ]] || fail "$h's roles under load: $roles (want $want)"
		gap=$(jq -r "[.hosts[] | select(.name == \"$o\") | .links[0].last_heard_ms // 0] | .[0]" <<<"$out" 2>/dev/null || echo 0)
		[[ "$gap" =~ ^[0-9]+$ ]] && ((gap > max_gap[$h])) && max_gap[$h]=$gap
		[[ $h == p1 ]] && [[ $(jq -r '.resources[] | select(.name == "vm2") | .sync != null' <<<"$out" 2>/dev/null) == true ]] &&
			resyncing=$((resyncing + 1))
	done
	samples=$((samples + 1))
	sleep 0.5
done
for h in p1 p2; do
	id=$load1
	[[ $h == p2 ]] && id=$load2
	lab_bg_wait "$h" "$id" 120 || fail "the load on $h failed: $(tail -n 5 "$(lab_bg_log "$h" "$id")")"
done
c1=$(vm_last_counter p1 vm1)
d1=$(vm_last_counter p2 vm2)
iops() { awk -F';' '{print $49}' "$(lab_host_dir "$1")/fio.out" 2>/dev/null || echo "?"; }
log "load over after $(_lab_since "$t0")s: vm1's counter $c0 -> $c1, vm2's $d0 -> $d1, fio $(iops p1) / $(iops p2) write IOPS on p1 / p2, largest link-0 gap seen on p1 ${max_gap[p1]} ms, on p2 ${max_gap[p2]} ms ($samples samples, vm2 resyncing in $resyncing)"
((resyncing > 0)) || fail "no sample saw vm2's resync running: the load ran without one"
cl_res_wait p1 vm2 '.connection == "connected" and .disk == "uptodate" and .sync == null' 300 "vm2's resync to p1 finished"

for h in p1 p2; do
	n=$n1
	[[ $h == p2 ]] && n=$n2
	bad=$(since "$h" "$n" "is dead\|: frozen\|: promoting\|giving up\|starting domain\|demoting\|replication link to .* lost")
	[[ -z "$bad" ]] || fail "$h under load: $(head -n 3 <<<"$bad")"
	warn=$(since "$h" "$n" "warning: heartbeat link 1 to .* is silent")
	[[ -n "$warn" ]] || fail "$h did not warn about the cut heartbeat link 1"
	log "$h: $(head -n 1 <<<"$warn")"
done
assert_eq "$(dt_field p2 1 .role)" secondary "p2's role for vm1 after the load"
assert_eq "$(dt_field p1 2 .role)" secondary "p1's role for vm2 after the load"
assert_eq "$(cl_field p1 '.resources[] | select(.name == "vm1") | .role + " " + .connection + " " + (.frozen | tostring)')" \
	"primary connected false" "vm1 on p1 after the load"
assert_eq "$(cl_field p2 '.resources[] | select(.name == "vm2") | .role + " " + .connection + " " + (.frozen | tostring)')" \
	"primary connected false" "vm2 on p2 after the load"
assert_eq "$(vm_boots p1 vm1)" "$boots1" "vm1's boots on p1"
assert_eq "$(vm_boots p2 vm2)" "$boots2" "vm2's boots on p2"
assert_eq "$(vm_boots p2 vm1)$(vm_boots p1 vm2)" "00" "boots of vm1 on p2 and vm2 on p1"
((c1 > c0)) || fail "vm1 wrote nothing under load ($c0 -> $c1)"
((d1 > d0)) || fail "vm2 wrote nothing under load ($d0 -> $d1)"

# Link 1 back: heard again, no more warning.
n2=$(logpos p2)
lab_exec p1 "ip route del blackhole $CL_HB2.2/32" || fail "healing link 1 on p1"
lab_exec p2 "ip route del blackhole $CL_HB2.1/32" || fail "healing link 1 on p2"
cl_wait p2 '[.hosts[] | select(.name == "p1") | .links[1].last_heard_ms | . != null and . < 1000] | all' 30 \
	"p2 hears p1 on heartbeat link 1 again"
[[ -n "$(since p2 "$n2" "heartbeat link 1 to p1 is up")" ]] || fail "p2 did not log link 1 up"
# ---- daemon-restart: kill -9 p1's dtrbdd while vm1 writes -------------------
# (issue 7's daemon-restart scenario; here, it costs no lab boot of its own)
c=$(vm_last_counter p1 vm1)
cl_daemon_kill p1 KILL || fail "no dtrbdd to kill on p1"
log "dtrbdd on p1 killed at vm1's counter $c"
vm_wait_counter p1 vm1 $((c + 10)) 60 >/dev/null
assert_eq "$(dt_field p1 1 '.role + " " + .connection')" "primary connected" "vm1's device on p1 with its daemon dead"
assert_eq "$(dt_field p1 2 '.role + " " + .connection')" "secondary connected" "vm2's device on p1 with its daemon dead"
n1=$(logpos p1)
cl_daemon_start p1
cl_res_wait p1 vm1 '.primary == "p1" and .connection == "connected" and .vm.state == "running"' 60 "adoption of vm1 on p1"
cl_res_wait p1 vm2 '.primary == "p2" and .role == "secondary" and .connection == "connected"' 60 "adoption of vm2 on p1"
[[ -n "$(since p1 "$n1" 'vm1: found /dev/dtrbd1 primary, connected')" ]] || fail "the restarted daemon did not log what it adopted"
c=$(vm_last_counter p1 vm1)
vm_wait_counter p1 vm1 $((c + 10)) 60 >/dev/null
sleep 3
assert_eq "$(vm_boots p1 vm1)" "$boots1" "vm1's boots on p1 (a restart would add one)"
assert_eq "$(vm_boots p2 vm2)" "$boots2" "vm2's boots on p2"
assert_eq "$(vm_boots p2 vm1)$(vm_boots p1 vm2)" "00" "boots of vm1 on p2 and vm2 on p1 after the daemon restart"
assert_eq "$(vm_state p1 vm1)" running "vm1 on p1"
log "daemon-restart: vm1 kept writing on p1 ($(vm_last_counter p1 vm1)), one boot, adopted"

echo "no-false-failover: ${LOAD_SECS}s of load on both hosts (CPU hogs, fio on both devices, a full resync) with one of two heartbeat links cut: no failover, no freeze; largest heartbeat gap ${max_gap[p1]} ms on p1, ${max_gap[p2]} ms on p2; vm1 $c0 -> $c1, vm2 $d0 -> $d1"
