#!/bin/bash
# description: cut the link, both sides Primary and writing, heal: split brain detected on both sides with the way out, no automatic merge; resolved with --discard-my-data, identical afterwards
# timeout: 600
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

dt_start 2
dt_setup_pair_fresh h1 h2 0
rs0=$(dt_field h1 0 .resync_sent_bytes)
dt h1 disconnect 0 >/dev/null
dt h2 disconnect 0 >/dev/null
dt_connect_pair h1 h2 0 --peer-timeout-ms 2000
dt_wait_synced h1 h2 0 60
# an idle Primary that reconnects has nothing to resync
assert_eq "$(dt_field h1 0 .resync_sent_bytes)" "$rs0" "resync bytes after a clean reconnect"

lab_link h1 down
dt_wait h1 0 '.connection == "standalone"' 15 "h1 notices the cut"
dt_wait h2 0 '.connection == "standalone"' 15 "h2 notices the cut"
dt h2 primary 0 >/dev/null || fail "h2 promotion after the cut"
lab_exec h1 "dd if=/dev/urandom of=/dev/dtrbd0 bs=4k count=256 seek=1000 oflag=direct status=none" || fail "write on h1"
lab_exec h2 "dd if=/dev/urandom of=/dev/dtrbd0 bs=4k count=256 seek=5000 oflag=direct status=none" || fail "write on h2"
lab_link h1 up

# both refuse, each with one sentence that says what happened and what to do
for h in h1 h2; do
	o=$([[ $h == h1 ]] && echo h2 || echo h1)
	lab_bg "$h" "$DT_CTL" connect 0 --local "$(dt_ip "$h"):7700" --peer "$(dt_ip "$o"):7700" --timeout 30
	eval "job_$h=\$LAB_BG_ID"
done
for h in h1 h2; do
	eval "job=\$job_$h"
	rc=0
	lab_bg_wait "$h" "$job" 60 || rc=$?
	err=$(cat "$(lab_bg_log "$h" "$job")")
	((rc != 0)) || fail "connect on $h succeeded despite the split brain: $err"
	grep -q "split brain" <<<"$err" || fail "connect on $h: no split-brain message: $err"
	grep -q -- "--discard-my-data" <<<"$err" || fail "connect on $h does not say how to resolve it: $err"
	log "$h refused: $err"
	assert_eq "$(dt_field "$h" 0 .connection)" standalone "$h after the refused connect"
	assert_eq "$(dt_field "$h" 0 .role)" primary "$h's role is untouched"
	flags=$(dt_field "$h" 0 '.flags | join(",")')
	[[ "$flags" == *split-brain* ]] || fail "$h does not report split-brain (flags: $flags)"
done
want=$(dt_data_hash h1 /dev/dtrbd0 0)

# h2's changes are thrown away: Secondary, then connect --discard-my-data
dt h2 secondary 0 >/dev/null
lab_bg h1 "$DT_CTL" connect 0 --local 10.99.0.1:7700 --peer 10.99.0.2:7700 --timeout 60
j1=$LAB_BG_ID
lab_bg h2 "$DT_CTL" connect 0 --local 10.99.0.2:7700 --peer 10.99.0.1:7700 --timeout 60 --discard-my-data
j2=$LAB_BG_ID
lab_bg_wait h1 "$j1" 90 || fail "connect on h1: $(cat "$(lab_bg_log h1 "$j1")")"
lab_bg_wait h2 "$j2" 90 || fail "connect --discard-my-data on h2: $(cat "$(lab_bg_log h2 "$j2")")"
dt_wait_synced h1 h2 0 300
a=$(dt_data_hash h1 /dev/vda 0)
b=$(dt_data_hash h2 /dev/vda 0)
assert_eq "$b" "$a" "backing disks differ after the resolution"
assert_eq "$a" "$want" "h1's data changed by the resolution"
log "split brain resolved: h2's changes discarded, both identical"
