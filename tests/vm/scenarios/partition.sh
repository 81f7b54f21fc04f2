#!/bin/bash
# description: dtrbdd on p1/p2 with the witness, vm1 on p1; two phases in one lab boot. partition: blackhole routes cut p1<->p2 only (replication and heartbeat), both still reach the witness: p1 freezes, the witness outdates p2, p1 resumes and vm1's counters go on; p2 stays Secondary with blocked saying why; healed: p2 resyncs from p1, no split brain. isolation: p1's NIC is unplugged (no peer, no witness): p1 freezes, gives up (fails the frozen writes, destroys vm1, demotes); p2 gets the grant after the lease, promotes and starts vm1, whose first counter is >= p1's last; p1's counter never passes what p2 found; healed: p1 comes back Secondary and resyncs. Roles of both hosts are sampled throughout: never two writable Primaries
# timeout: 720
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../vm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../cluster.sh"

# ROLE[h]: "role frozen io_failed" of dtrbd1 on h at the last sample.
declare -A ROLE=()
SAMPLES=0
# sample_roles: one status of each host; fails on two writable Primaries
# (a frozen or io-failed Primary completes no write: not writable).
sample_roles() {
	local h out
	for h in p1 p2; do
		out=$(dt "$h" status 1 --json 2>/dev/null) || out='{}'
		ROLE[$h]=$(jq -r '"\(.role // "?") \(.frozen // false) \(.io_failed // false)"' <<<"$out")
	done
	SAMPLES=$((SAMPLES + 1))
	if [[ ${ROLE[p1]} == "primary false false" && ${ROLE[p2]} == "primary false false" ]]; then
		cl_json p1 >&2 || true
		cl_json p2 >&2 || true
		fail "two writable Primaries: p1 '${ROLE[p1]}', p2 '${ROLE[p2]}'"
	fi
}

# since HOST LINE PATTERN: does HOST's dtrbdd log have PATTERN after LINE?
# (grep -q on a process substitution: in a pipe, its early exit would be a
# SIGPIPE failure of tail under pipefail)
since() { grep -q -- "$3" < <(tail -n +"$2" "$(cl_log "$1")"); }
logpos() { echo $(($(wc -l <"$(cl_log "$1")") + 1)); }

vm_start_cluster --disk-mib 128
cl_up vm1:1:p1
[[ ${CL_HOST[vm1]} == p1 ]] || fail "vm1 runs on ${CL_HOST[vm1]}, not on its preferred p1"
vm_wait_counter p1 vm1 5 120 >/dev/null
boots2=$(vm_boots p2 vm1)
ip1=$(lab_ip p1)
ip2=$(lab_ip p2)

# ---- partition: p1 <-> p2 cut, both reach the witness ---------------------
t_phase=$EPOCHREALTIME
n1=$(logpos p1)
n2=$(logpos p2)
c_cut=$(vm_last_counter p1 vm1)
lab_exec p1 "ip route add blackhole $ip2/32" || fail "blackhole route on p1"
lab_exec p2 "ip route add blackhole $ip1/32" || fail "blackhole route on p2"
t0=$EPOCHREALTIME
log "partition: p1 <-> p2 cut (blackhole routes), vm1's counter $c_cut"
t_resume=""
end=$((EPOCHSECONDS + 60))
until [[ -n "$t_resume" ]] && since p2 "$n2" "vm1: blocked: not promoting"; do
	sample_roles
	[[ ${ROLE[p2]} == secondary* ]] || fail "p2 is '${ROLE[p2]}' during the partition"
	[[ -n "$t_resume" ]] || ! since p1 "$n1" "vm1: resuming I/O alone" || t_resume=$(_lab_since "$t0")
	((EPOCHSECONDS < end)) || {
		tail -n 20 "$(cl_log p1)" >&2
		tail -n 20 "$(cl_log p2)" >&2
		fail "partition: p1 resumed: ${t_resume:-no}; p2 blocked: $(since p2 "$n2" 'vm1: blocked' && echo yes || echo no) within 60 s"
	}
	sleep 0.3
done
log "partition: p1 resumed I/O alone ${t_resume}s after the cut"
# The witness lease (2 s) passes several times while p1 keeps talking to
# the witness: p2 must never get the grant. Meanwhile vm1 writes on p1.
c_resume=$(vm_last_counter p1 vm1)
end=$((EPOCHSECONDS + 8))
while ((EPOCHSECONDS < end)); do
	sample_roles
	[[ ${ROLE[p2]} == secondary* ]] || fail "p2 is '${ROLE[p2]}' during the partition"
	[[ ${ROLE[p1]} == "primary false false" ]] || log "p1: ${ROLE[p1]}"
	sleep 0.3
done
c_part=$(vm_wait_counter p1 vm1 $((c_resume + 3)) 60)
blocked=$(cl_field p2 '.resources[] | select(.name == "vm1") | .blocked')
log "partition: vm1's counter on p1 $c_cut -> $c_part; blocked on p2: $blocked"
[[ "$blocked" == *"not promoting vm1"*witness* ]] || fail "p2's blocked does not say that the witness refused: $blocked"
assert_eq "$(cl_field p2 '.hosts[] | select(.name == "p1") | .alive')" false "p1 alive as p2 sees it"
assert_eq "$(cl_field p2 '.witness.reachable')" true "witness reachable from p2"
since p2 "$n2" "vm1: the witness refused the claim" || fail "p2's log does not show the witness's refusal"
assert_eq "$(vm_boots p2 vm1)" "$boots2" "vm1's boots on p2 during the partition"
tail -n +"$n2" "$(cl_log p2)" | grep "vm1:" | head -n 8 >&2 || true

# Heal: reconnect, p2 resyncs from p1, the witness counts p2 current again.
lab_exec p1 "ip route del blackhole $ip2/32" || fail "removing the route on p1"
lab_exec p2 "ip route del blackhole $ip1/32" || fail "removing the route on p2"
t0=$EPOCHREALTIME
end=$((EPOCHSECONDS + 90))
until [[ "$(cl_field p1 '.resources[] | select(.name == "vm1") | .connection == "connected" and .peer_disk == "uptodate" and .sync == null')" == true ]]; do
	sample_roles
	[[ ${ROLE[p2]} == secondary* ]] || fail "p2 is '${ROLE[p2]}' while healing"
	((EPOCHSECONDS < end)) || {
		cl_json p1 >&2
		cl_json p2 >&2
		fail "partition healed, but vm1 is not connected and in sync within 90 s"
	}
	sleep 0.5
done
assert_eq "$(cl_field p1 '.resources[] | select(.name == "vm1") | .role + " " + .disk + " " + (.blocked // "null")')" \
	"primary uptodate null" "vm1 on p1 after healing"
assert_eq "$(cl_field p2 '.resources[] | select(.name == "vm1") | .role + " " + .disk + " " + (.blocked // "null")')" \
	"secondary uptodate null" "vm1 on p2 after healing"
c_heal=$(vm_wait_counter p1 vm1 $((c_part + 2)) 60)
log "partition healed: in sync $(_lab_since "$t0")s after; vm1 on p1 $c_part -> $c_heal, never restarted (boots on p2: $(vm_boots p2 vm1))"
echo "partition: resume after ${t_resume}s, healed in $(_lab_since "$t0")s, phase $(_lab_since "$t_phase")s"

# ---- isolation: p1 cut from everything -------------------------------------
t_phase=$EPOCHREALTIME
n1=$(logpos p1)
n2=$(logpos p2)
last_before=$(vm_last_counter p1 vm1)
lab_link p1 down
t0=$EPOCHREALTIME
t_giveup="" t_demote="" t_prom="" p1_at_prom="" c1_at_prom="" t_first=""
end=$((EPOCHSECONDS + 120))
until [[ -n "$t_prom" && -n "$t_demote" && -n "$t_first" ]]; do
	sample_roles
	[[ -n "$t_giveup" ]] || ! since p1 "$n1" "vm1: giving up" || t_giveup=$(_lab_since "$t0")
	[[ -n "$t_demote" || ${ROLE[p1]} != secondary* ]] || t_demote=$(_lab_since "$t0")
	[[ -n "$t_first" || $(vm_boots p2 vm1) == "$boots2" ]] || ! grep -q '^counter=' < <(_vm_log p2 vm1) ||
		t_first=$(_lab_since "$t0")
	if [[ -z "$t_prom" && ${ROLE[p2]} == primary* ]]; then
		t_prom=$(_lab_since "$t0")
		p1_at_prom=${ROLE[p1]}
		c1_at_prom=$(vm_last_counter p1 vm1)
		[[ $p1_at_prom != "primary false false" ]] || fail "p2 promoted while p1 is a writable Primary"
	fi
	((EPOCHSECONDS < end)) || {
		tail -n 20 "$(cl_log p1)" >&2
		tail -n 20 "$(cl_log p2)" >&2
		fail "isolation: p1 gave up: ${t_giveup:-no}, demoted: ${t_demote:-no}; p2 promoted: ${t_prom:-no}, first counter: ${t_first:-no} within 120 s"
	}
	sleep 0.2
done
log "isolation: p1 gave up after ${t_giveup:-?}s, demoted after ${t_demote}s; p2 promoted after ${t_prom}s (p1 then: $p1_at_prom, its counter $c1_at_prom)"
vm_wait_boot p2 vm1 "$boots2" 120
c1_end=$(vm_last_counter p1 vm1)
log "isolation: vm1 on p2 found $VM_LAST, first counter $VM_FIRST after ${t_first}s; p1 printed $last_before before the cut, $c1_end in all"
((VM_LAST >= c1_end)) || fail "vm1 on p2 found $VM_LAST on its disk, but p1 acknowledged $c1_end"
((VM_FIRST > c1_end)) || fail "vm1's first counter on p2 $VM_FIRST is not after p1's last $c1_end"
assert_eq "$(vm_state p1 vm1)" "shut off" "vm1 on the isolated p1"
since p1 "$n1" "vm1: destroying domain vm1" || fail "p1's log does not show vm1 destroyed"
since p2 "$n2" "vm1: promoting" || fail "p2's log does not show the promotion"

# Heal: p1 comes back as Secondary and resyncs from p2.
lab_link p1 up
t0=$EPOCHREALTIME
end=$((EPOCHSECONDS + 90))
until [[ "$(cl_field p2 '.resources[] | select(.name == "vm1") | .connection == "connected" and .peer_disk == "uptodate" and .sync == null')" == true ]]; do
	sample_roles
	[[ ${ROLE[p1]} == secondary* ]] || fail "p1 is '${ROLE[p1]}' after the isolation"
	((EPOCHSECONDS < end)) || {
		cl_json p1 >&2
		cl_json p2 >&2
		tail -n 15 "$(cl_log p1)" >&2
		fail "isolation healed, but vm1 is not connected and in sync within 90 s"
	}
	sleep 0.5
done
# vm1 now runs on p2 and its preferred host p1 is back: with failback =
# "manual" (cl_config's default) both hosts say it waits for a fail-back.
assert_eq "$(cl_field p1 '.resources[] | select(.name == "vm1") | .role + " " + .disk + " " + ((.blocked // "") | contains("manual fail-back") | tostring)')" \
	"secondary uptodate true" "vm1 on p1 after the isolation healed (blocked: waits for a manual fail-back)"
assert_eq "$(cl_field p2 '.resources[] | select(.name == "vm1") | .role + " " + .vm.state + " " + ((.blocked // "") | contains("manual fail-back") | tostring)')" \
	"primary running true" "vm1 on p2 after the isolation healed (blocked: waits for a manual fail-back)"
c2=$(vm_wait_counter p2 vm1 $((VM_FIRST + 3)) 60)
assert_eq "$(vm_last_counter p1 vm1)" "$c1_end" "p1's last counter (nothing written on p1 after the cut)"
log "isolation healed: in sync $(_lab_since "$t0")s after; vm1 on p2 at $c2; $SAMPLES role samples, never two writable Primaries"
echo "isolation: p1 gave up ${t_giveup}s, demoted ${t_demote}s, p2 promoted ${t_prom}s, first counter on p2 ${t_first}s; phase $(_lab_since "$t_phase")s"
