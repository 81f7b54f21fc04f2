#!/bin/bash
# description: dtrbdd on p1/p2 with the witness, vm1 on p1. (a) p2's daemon restarts with a wrong secret: its replication connect is refused on both sides (logged), p1's heartbeats are ignored on p2 as signed with another secret, p2 does not promote although p1 is "silent" to it, and blocked says why and that heartbeats under another secret arrive; the right secret back: connected and in sync. (b)+(c) p1's power is pulled while the witness guest sends p2 forged heartbeats (real key id, wrong key), replays of recorded p1 heartbeats and re-signed ones with an old sequence number (tools/hbforge.py): none counts as p1 alive, p2 declares p1 dead and fails over; the daemon logs what it dropped, rate-limited
# timeout: 600
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../vm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../cluster.sh"

FORGE="python3 $LAB_ROOT/tools/hbforge.py"
# (grep -q on a process substitution: in a pipe, its early exit would be a
# SIGPIPE failure of tail under pipefail)
since() { grep -q -- "$3" < <(tail -n +"$2" "$(cl_log "$1")"); }
logpos() { echo $(($(wc -l <"$(cl_log "$1")") + 1)); }
res_field() { cl_field "$1" ".resources[] | select(.name == \"vm1\") | $2"; }

vm_start_cluster --disk-mib 128
cl_up vm1:1:p1
[[ ${CL_HOST[vm1]} == p1 ]] || fail "vm1 runs on ${CL_HOST[vm1]}, not on its preferred p1"
vm_wait_counter p1 vm1 5 120 >/dev/null
boots2=$(vm_boots p2 vm1)

# ---- (a) a wrong secret on p2 ---------------------------------------------
t_phase=$EPOCHREALTIME
cl_daemon_kill p2
# The kernel's link outlives the daemon: drop it so the daemon must connect.
dt p2 disconnect 1 || fail "disconnect on p2"
lab_exec p2 "umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >/etc/dtrbd/secret && echo >>/etc/dtrbd/secret" ||
	fail "writing a wrong secret on p2"
n1=$(logpos p1)
n2=$(logpos p2)
cl_daemon_start p2
end=$((EPOCHSECONDS + 60))
until since p1 "$n1" "vm1: connect to p2 failed (.*shared secret" &&
	since p2 "$n2" "vm1: connect to p1 failed (.*shared secret" &&
	since p2 "$n2" "ignored a heartbeat datagram on link 0: signed with another secret" &&
	[[ "$(res_field p2 '.blocked != null' 2>/dev/null)" == true ]]; do
	assert_eq "$(dt_field p2 1 .role)" secondary "p2's role with the wrong secret"
	((EPOCHSECONDS < end)) || {
		tail -n 15 "$(cl_log p1)" >&2
		tail -n 15 "$(cl_log p2)" >&2
		fail "(a): the refusals are not logged on both sides within 60 s"
	}
	sleep 0.5
done
# p1 is silent to p2 for longer than deadtime + witness lease: still no promotion.
end=$((EPOCHSECONDS + 6))
while ((EPOCHSECONDS < end)); do
	assert_eq "$(dt_field p2 1 .role)" secondary "p2's role with the wrong secret"
	sleep 0.5
done
blocked=$(res_field p2 .blocked)
log "(a) p2 with a wrong secret: blocked: $blocked"
grep -h "shared secret\|another secret" <(tail -n +"$n1" "$(cl_log p1)") <(tail -n +"$n2" "$(cl_log p2)") | head -n 6 >&2 || true
assert_eq "$(cl_field p2 '.hosts[] | select(.name == "p1") | .alive')" false "p1 alive as p2 (wrong secret) sees it"
assert_eq "$(res_field p2 '.connection')" standalone "p2's connection with the wrong secret"
assert_eq "$(res_field p1 '.role + " " + .connection + " " + (.frozen | tostring)')" "primary standalone false" "vm1 on p1 while p2 has the wrong secret"
assert_eq "$(vm_boots p2 vm1)" "$boots2" "vm1's boots on p2"
[[ "$blocked" == *"not promoting vm1"* ]] || fail "p2's blocked does not say it is not promoting: $blocked"
[[ "$blocked" == *"heartbeats signed with another secret arrive here"* ]] ||
	fail "p2's blocked does not point at the secret: $blocked"

# The right secret back: connected, resynced from p1, p2 current again.
cl_daemon_kill p2
secret=$(lab_exec p1 cat /etc/dtrbd/secret)
lab_exec p2 "umask 077 && printf '%s\n' $secret >/etc/dtrbd/secret" || fail "restoring the secret on p2"
n1=$(logpos p1)
cl_daemon_start p2
cl_res_wait p1 vm1 '.connection == "connected" and .peer_disk == "uptodate" and .sync == null' 90 \
	"vm1 connected and in sync with the right secret"
end=$((EPOCHSECONDS + 30))
until since p1 "$n1" "vm1: telling the witness that p2's copy is current again"; do
	((EPOCHSECONDS < end)) || fail "p1 did not tell the witness that p2 is current again"
	sleep 0.3
done
cl_wait p2 '.hosts[] | select(.name == "p1") | .alive' 30 "p2 hears p1 again"
echo "auth (a): wrong secret refused and healed in $(_lab_since "$t_phase")s"

# ---- (b) + (c) forged and replayed heartbeats while p1 is dead ------------
t_phase=$EPOCHREALTIME
# Record p1's heartbeats as p2 receives them (they echo p2's current boot
# id: real proofs of life, once).
lab_exec_timeout 60 p2 "$FORGE capture --port 7788 --src $(lab_ip p1) --count 20 --out /lab/hb.cap --timeout 30" ||
	fail "capturing p1's heartbeats on p2"
cp "$(lab_host_dir p2)/hb.cap" "$(lab_host_dir witness)/hb.cap"
sleep 1	# every recorded datagram is older than the newest p2 accepted
n2=$(logpos p2)
lab_bg witness "$FORGE send --to $(lab_ip p2):7788 --in /lab/hb.cap --mode all --secret /etc/dtrbd/secret --rate 30 --duration 40"
forger=$LAB_BG_ID
lab_power_off p1 --now
t0=$EPOCHREALTIME
last_p1=$(vm_last_counter p1 vm1)
t_dead=""
end=$((EPOCHSECONDS + 60))
until since p2 "$n2" "vm1: starting domain"; do
	[[ -n "$t_dead" ]] || ! since p2 "$n2" "peer p1 is dead" || t_dead=$(_lab_since "$t0")
	if [[ -n "$t_dead" ]]; then
		assert_eq "$(cl_field p2 '.hosts[] | select(.name == "p1") | .alive')" false "p1 alive on p2 after its power pull (forged heartbeats)"
	fi
	((EPOCHSECONDS < end)) || {
		tail -n 25 "$(cl_log p2)" >&2
		fail "p2 did not fail over within 60 s of p1's power pull under forged heartbeats (dead: ${t_dead:-never})"
	}
	sleep 0.3
done
log "p1 dead on p2 after ${t_dead}s, vm1 starting after $(_lab_since "$t0")s, under forged/replayed heartbeats"
vm_wait_boot p2 vm1 "$boots2" 120 "$t0"
((VM_LAST >= last_p1)) || fail "vm1 on p2 found $VM_LAST, but p1 acknowledged $last_p1"
# The forger still runs: p1 stays dead.
for _ in 1 2 3 4 5; do
	assert_eq "$(cl_field p2 '.hosts[] | select(.name == "p1") | .alive')" false "p1 alive on p2 (forged heartbeats)"
	sleep 0.5
done
lab_bg_wait witness "$forger" 60 || fail "the forger failed: $(cat "$(lab_bg_log witness "$forger")")"
sent=$(sed -n 's/^sent //p' "$(lab_bg_log witness "$forger")")
dropped=$(tail -n +"$n2" "$(cl_log p2)" | grep "ignored a heartbeat datagram" || true)
printf '%s\n' "$dropped" >&2
for why in "on link 0: bad HMAC" "claiming to be from p1: replayed or too old"; do
	grep -q "$why" <<<"$dropped" || fail "p2's log does not report datagrams dropped as '$why'"
done
nlines=$(grep -c . <<<"$dropped")
((sent >= 300)) || fail "the forger sent only $sent datagrams"
((nlines <= 14)) || fail "p2 logged $nlines lines for $sent dropped datagrams: not rate-limited"
assert_eq "$(res_field p2 '.role + " " + .vm.state')" "primary running" "vm1 on p2 after the failover"
log "(b)+(c): $sent forged/replayed datagrams, $nlines log lines on p2; vm1 on p2 found $VM_LAST (p1 printed $last_p1)"
echo "auth (b)+(c): p1 dead on p2 after ${t_dead}s with $sent hostile datagrams, vm1's first counter on p2 after ${VM_BOOT_SECS}s; phase $(_lab_since "$t_phase")s"
