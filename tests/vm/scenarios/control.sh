#!/bin/bash
# description: the control path: a PRIMARY waiting for an unresponsive peer blocks neither status nor a command on another minor (parallel netlink ops); only CAP_SYS_ADMIN may join the events group; the last close of the device sends a closed event (one per last close, none while another opener remains); rmmod with an attached, connected device is clean; --meta naming the data disk is refused
# timeout: 600
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

dt_start 2 --disk-mib 64
dt_setup_pair_fresh h1 h2 0
dt h1 secondary 0 >/dev/null || fail "secondary on h1"

# --- commands run in parallel ------------------------------------------
# A promotion asks the peer first and waits for its answer (at most the
# peer timeout). With the peer's link cut, it waits; meanwhile status and a
# command on another minor must answer at once, not after the wait.
dt h1 disconnect 0 >/dev/null
dt h2 disconnect 0 >/dev/null
dt_connect_pair h1 h2 0 --peer-timeout-ms 20000
dt_wait_synced h1 h2 0 60
lab_link h2 down
lab_bg h1 "$DT_CTL" primary 0
job=$LAB_BG_ID
sleep 3
t0=$EPOCHREALTIME
out=$(lab_exec_timeout 10 h1 "$DT_CTL" status --json) ||
	fail "status on h1 did not answer while a PRIMARY waited for the peer (rc $?)"
lab_exec_timeout 10 h1 "$DT_CTL status 1 2>&1; true" | grep -q "not attached" ||
	fail "a command on another minor did not answer while a PRIMARY waited for the peer"
t1=$EPOCHREALTIME
rc=0
lab_bg_wait h1 "$job" 0 2>/dev/null || rc=$?
((rc == 124)) || fail "the PRIMARY no longer waited when status ran (rc $rc): the check proved nothing"
log "status and a command on minor 1 answered in $(bc <<<"$t1 - $t0")s while PRIMARY waited: $(jq -c '.[0].connection // .connection' <<<"$out" 2>/dev/null)"
rc=0
lab_bg_wait h1 "$job" 60 || rc=$?
log "the waiting PRIMARY ended (rc $rc): $(cat "$(lab_bg_log h1 "$job")")"
((rc != 0)) || fail "PRIMARY succeeded without an answer from the peer"
lab_link h2 up
dt_wait h1 0 '.connection == "standalone"' 60 "h1 gave up the connection"
dt_wait h2 0 '.connection == "standalone"' 60 "h2 gave up the connection"

# --- the events group is for administrators ------------------------------
join="python3 $DT_TOP/tests/vm/tools/genl.py join dtrbd events"
lab_exec h1 "$join" >/dev/null || fail "root could not join the dtrbd events group"
rc=0
err=$(lab_exec h1 "setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all $join 2>&1") || rc=$?
((rc == 1)) || fail "an unprivileged user joined the dtrbd events group (rc $rc: $err)"
log "unprivileged join refused: $err"
rc=0
err=$(lab_exec h1 "setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all timeout 10 $DT_CTL events 2>&1") || rc=$?
((rc != 0 && rc != 124)) || fail "dtrbdctl events ran for an unprivileged user (rc $rc)"
grep -q "CAP_SYS_ADMIN" <<<"$err" || fail "dtrbdctl events as a user: '$err' does not say what is needed"
log "dtrbdctl events as a user: $err"

# --- the last close is an event ------------------------------------------
# dtrbdd waits for it before a hand-over's demote. Two openers: the first
# close is not the last (no event), the second is.
dt_connect_pair h1 h2 0
dt_wait_synced h1 h2 0 60
dt h1 primary 0 >/dev/null || fail "primary on h1"
lab_bg h1 "timeout 120 $DT_CTL events --json"
ev=$LAB_BG_ID
# One opener, closed until the listener (slow to start under TCG) has seen
# its event; then two openers: only the second close is the last.
for i in $(seq 1 30); do
	lab_exec h1 "dd if=/dev/dtrbd0 of=/dev/null bs=4k count=1 iflag=direct status=none" || fail "reading /dev/dtrbd0 on h1"
	lab_bg_wait_line h1 "$ev" '"closed"' 2 2>/dev/null && break
done
lab_bg_wait_line h1 "$ev" '"closed"' 1 || fail "dtrbdctl events saw no closed event after 30 opens and closes"
n0=$(grep -c '"closed"' "$(lab_bg_log h1 "$ev")")
lab_exec h1 "exec 3</dev/dtrbd0; dd if=/dev/dtrbd0 of=/dev/null bs=4k count=1 iflag=direct status=none; sleep 2; exec 3<&-" ||
	fail "opening /dev/dtrbd0 twice on h1"
sleep 3
lab_exec h1 "pkill -f '$DT_CTL events' || true"
lab_bg_wait h1 "$ev" 30 || true
closes=$(jq -c 'select(.event == "closed" and .minor == 0)' <"$(lab_bg_log h1 "$ev")" | wc -l)
((closes == n0 + 1)) || fail "want one closed event for minor 0 for two openers closing, got $((closes - n0)): $(cat "$(lab_bg_log h1 "$ev")")"
log "the last of two closes sent one closed event: $(jq -c 'select(.event == "closed")' <"$(lab_bg_log h1 "$ev")" | tail -n 1)"

# --- rmmod with an attached, connected device ----------------------------
# The family goes first, so no command can find a device being removed;
# commands racing the unload either complete or find no family. The write
# closes the device just before: its closed event may still be queued.
lab_exec h1 "dd if=/dev/urandom of=/dev/dtrbd0 bs=64k count=64 oflag=direct status=none" ||
	fail "writing on h1 before rmmod"
lab_bg h1 "for i in \$(seq 200); do $DT_CTL status --json >/dev/null 2>&1; done"
loop=$LAB_BG_ID
lab_exec_timeout 120 h1 rmmod dtrbd || fail "rmmod dtrbd with an attached, connected device failed"
lab_bg_wait h1 "$loop" 120 || true
lab_exec h1 "! grep -q '^dtrbd ' /proc/modules" || fail "dtrbd still loaded after rmmod"
lab_dmesg h1 | grep -q "dtrbd: unloaded" || fail "no 'unloaded' line after rmmod"
dt_wait h2 0 '.connection == "standalone"' 60 "h2 saw the connection end"
log "rmmod with a connected Primary device: clean"

# --- --meta must not name the data disk ----------------------------------
# dtrbdctl refuses that itself; the kernel must too (any netlink user, and
# external metadata starts at sector 0, on top of the data)
lab_exec h1 "insmod $DT_KO" || fail "insmod again"
rc=0
err=$(lab_exec h1 "python3 $DT_TOP/tests/vm/tools/genl.py attach 0 /dev/vda /dev/vda 2>&1") || rc=$?
((rc == 1)) || fail "the kernel attached with the data disk as its metadata device (rc $rc: $err)"
grep -q "metadata device is the data disk" <<<"$err" || fail "attach refused without saying why: $err"
log "raw ATTACH with --meta = --disk: $err"
lab_exec h1 "! test -e /dev/dtrbd0" || fail "/dev/dtrbd0 exists after the refused attach"
