#!/bin/bash
# description: pull the Primary's power mid-stream of acknowledged O_DIRECT|O_DSYNC records, 3 times with different timing (DTRBD_CRASH_ROUNDS for more): the promoted Secondary has every acknowledged record; the old Primary resyncs as target (activity-log extents only) and both are identical
# timeout: 900
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

REC="$DT_TOP/tests/vm/tools/recwriter.py"
ROUNDS=${DTRBD_CRASH_ROUNDS:-3}

dt_start 2
dt_setup_pair_fresh h1 h2 0
# short peer timeout: the survivor notices within 2 s
rs0=$(dt_field h1 0 .resync_sent_bytes)
dt h1 disconnect 0 >/dev/null
dt h2 disconnect 0 >/dev/null
dt_connect_pair h1 h2 0 --peer-timeout-ms 2000
dt_wait_synced h1 h2 0 60
# an idle Primary that reconnects has nothing to resync
assert_eq "$(dt_field h1 0 .resync_sent_bytes)" "$rs0" "resync bytes after a clean reconnect"
size=$(dt_field h1 0 .size_bytes)

primary=h1
secondary=h2
for round in $(seq 1 "$ROUNDS"); do
	first=$(( (round * 7919) % (size / 4096 - 4096) ))
	acked="$(lab_host_dir "$primary")/acked.$round"
	: >"$acked"
	lab_bg "$primary" "python3 $REC write /dev/dtrbd0 $first /lab/acked.$round --seed $round"
	# the writer's first acknowledged record (python's start under TCG
	# took longer than round 3's 1.1 s once), then different timing every
	# round: 1.0 .. 3.5 s more of writing
	end=$((EPOCHSECONDS + 60))
	until [[ -s "$acked" ]]; do
		((EPOCHSECONDS < end)) || fail "round $round: the writer acknowledged nothing within 60 s"
		sleep 0.1
	done
	sleep "$((1 + round % 3)).$(( (round * 37) % 10 ))"
	n=$(wc -l <"$acked")
	lab_power_off "$primary"
	log "round $round: pulled $primary's power after $n acknowledged records (at block $first)"
	((n > 0)) || fail "round $round: no record was acknowledged before the power pull"

	dt_wait "$secondary" 0 '.connection == "standalone"' 15 "$secondary notices"
	dt "$secondary" primary 0 >/dev/null || fail "round $round: promoting $secondary without --force"
	cp "$acked" "$(lab_host_dir "$secondary")/acked.$round"
	checked=$(lab_exec "$secondary" "python3 $REC check /dev/dtrbd0 $first /lab/acked.$round") ||
		fail "round $round: acknowledged data lost: $checked"
	log "round $round: all $checked acknowledged records intact on $secondary"
	# the new Primary keeps writing while the old one is down
	lab_exec "$secondary" "dd if=/dev/urandom of=/dev/dtrbd0 bs=4k count=64 seek=$((first + 100000 % (size / 4096 - first - 64))) oflag=direct status=none" ||
		fail "round $round: write on the new Primary"

	lab_power_on "$primary"
	dt "$primary" attach 0 --disk /dev/vda >/dev/null
	assert_eq "$(dt_field "$primary" 0 .role)" secondary "round $round: $primary after the crash"
	flags=$(dt_field "$primary" 0 '.flags | join(",")')
	[[ "$flags" == *crashed-primary* ]] || fail "round $round: $primary does not report crashed-primary (flags: $flags)"
	sent0=$(dt_field "$secondary" 0 .resync_sent_bytes)
	dt_connect_pair "$primary" "$secondary" 0 --peer-timeout-ms 2000
	dt_wait_synced "$secondary" "$primary" 0 300
	sent=$(( $(dt_field "$secondary" 0 .resync_sent_bytes) - sent0 ))
	log "round $round: $primary resynced as target, $sent bytes"
	# activity-log extents (4 MiB each; a record stream touches a few) plus the new writes
	((sent <= 32 * 1048576)) || fail "round $round: resync moved $sent bytes: more than the hot extents"
	a=$(dt_data_hash h1 /dev/vda 0)
	b=$(dt_data_hash h2 /dev/vda 0)
	assert_eq "$b" "$a" "round $round: backing disks differ after the resync"
	t=$primary
	primary=$secondary
	secondary=$t
done
log "$ROUNDS rounds: no acknowledged record lost, old Primary resynced each time"
