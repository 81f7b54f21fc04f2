#!/bin/bash
# description: dtrbdd on p1/p2 with the witness and two heartbeat links (a second IP on eth0), vm1 on p1; 30 s of heavy load (CPU hogs on both host guests, fio random writes on p1's replicated device next to the running VM) while heartbeat link 1 is cut (blackhole routes): no peer death, no freeze, no promotion on p2, vm1 keeps writing; the cut link is only a warning, and it comes back up; prints the largest heartbeat gap p2 saw
# timeout: 600
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../vm.sh"
CL_HB2=10.99.1
. "$(dirname "${BASH_SOURCE[0]}")/../cluster.sh"

LOAD_SECS=${LOAD_SECS:-30}
since() { tail -n +"$2" "$(cl_log "$1")" | grep -- "$3" || true; }
logpos() { echo $(($(wc -l <"$(cl_log "$1")") + 1)); }

vm_start_cluster --disk-mib 128
cl_up vm1:1:p1
[[ ${CL_HOST[vm1]} == p1 ]] || fail "vm1 runs on ${CL_HOST[vm1]}, not on its preferred p1"
cl_wait p2 '[.hosts[] | select(.name == "p1") | .links[].last_heard_ms | . != null and . < 1000] | all' 30 \
	"p2 hears p1 on both heartbeat links"
c0=$(vm_wait_counter p1 vm1 5 120)
boots2=$(vm_boots p2 vm1)
n1=$(logpos p1)
n2=$(logpos p2)

# Load: CPU hogs on both (one vCPU each), fio next to the VM on p1's
# device (every write also crosses the replication link).
hogs='for i in 1 2 3; do timeout '$LOAD_SECS' sh -c "while :; do :; done" & done'
lab_bg p1 "$hogs
fio --name=load --filename=/dev/dtrbd1 --direct=1 --rw=randwrite --bs=4k --iodepth=8 --ioengine=libaio \
	--offset=32M --size=64M --time_based --runtime=$LOAD_SECS --output-format=terse >/lab/fio.out; rc=\$?; wait; exit \$rc"
load1=$LAB_BG_ID
lab_bg p2 "$hogs; wait"
load2=$LAB_BG_ID
t0=$EPOCHREALTIME
# Link 1 cut both ways for the whole load.
lab_exec p1 "ip route add blackhole $CL_HB2.2/32" || fail "cutting heartbeat link 1 on p1"
lab_exec p2 "ip route add blackhole $CL_HB2.1/32" || fail "cutting heartbeat link 1 on p2"
log "load: CPU hogs on p1 and p2, fio on p1's /dev/dtrbd1, heartbeat link 1 cut, for ${LOAD_SECS}s"
max_gap=0 samples=0
end=$((EPOCHSECONDS + LOAD_SECS))
while ((EPOCHSECONDS < end)); do
	out=$(cl_json p2) || out='{}'
	role=$(jq -r '.resources[] | select(.name == "vm1") | .role' <<<"$out" 2>/dev/null || echo "?")
	[[ $role == secondary ]] || fail "p2's role under load: $role"
	gap=$(jq -r '[.hosts[] | select(.name == "p1") | .links[0].last_heard_ms // 0] | .[0]' <<<"$out" 2>/dev/null || echo 0)
	[[ "$gap" =~ ^[0-9]+$ ]] && ((gap > max_gap)) && max_gap=$gap
	samples=$((samples + 1))
	sleep 0.5
done
lab_bg_wait p1 "$load1" 120 || fail "the load on p1 failed: $(tail -n 5 "$(lab_bg_log p1 "$load1")")"
lab_bg_wait p2 "$load2" 120 || true
c1=$(vm_last_counter p1 vm1)
fio_iops=$(awk -F';' '{print $49}' "$(lab_host_dir p1)/fio.out" 2>/dev/null || echo "?")
log "load over after $(_lab_since "$t0")s: vm1's counter $c0 -> $c1, fio $fio_iops write IOPS, largest link-0 gap seen on p2 ${max_gap} ms ($samples samples)"

for h in p1 p2; do
	n=$n1
	[[ $h == p2 ]] && n=$n2
	bad=$(since "$h" "$n" "is dead\|vm1: frozen\|vm1: promoting\|giving up\|starting domain\|demoting\|replication link to .* lost")
	[[ -z "$bad" ]] || fail "$h under load: $(head -n 3 <<<"$bad")"
	warn=$(since "$h" "$n" "warning: heartbeat link 1 to .* is silent")
	[[ -n "$warn" ]] || fail "$h did not warn about the cut heartbeat link 1"
	log "$h: $(head -n 1 <<<"$warn")"
done
assert_eq "$(dt_field p2 1 .role)" secondary "p2's role after the load"
assert_eq "$(cl_field p1 '.resources[] | select(.name == "vm1") | .role + " " + .connection + " " + (.frozen | tostring)')" \
	"primary connected false" "vm1 on p1 after the load"
assert_eq "$(vm_boots p2 vm1)" "$boots2" "vm1's boots on p2"
((c1 > c0)) || fail "vm1 wrote nothing under load ($c0 -> $c1)"

# Link 1 back: heard again, no more warning.
n2=$(logpos p2)
lab_exec p1 "ip route del blackhole $CL_HB2.2/32" || fail "healing link 1 on p1"
lab_exec p2 "ip route del blackhole $CL_HB2.1/32" || fail "healing link 1 on p2"
cl_wait p2 '[.hosts[] | select(.name == "p1") | .links[1].last_heard_ms | . != null and . < 1000] | all' 30 \
	"p2 hears p1 on heartbeat link 1 again"
[[ -n "$(since p2 "$n2" "heartbeat link 1 to p1 is up")" ]] || fail "p2 did not log link 1 up"
echo "no-false-failover: ${LOAD_SECS}s of load with one of two heartbeat links cut: no failover, no freeze; largest heartbeat gap ${max_gap} ms; vm1 $c0 -> $c1"
