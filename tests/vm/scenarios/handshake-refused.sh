#!/bin/bash
# description: the Primary writes all along while the Secondary disconnects, reconnects, and two handshakes are refused (both Primary, then split brain): the Primary's writes keep completing (written_bytes and the writer's own log move), none waits longer than the bound, no hung task; resolved with --discard-my-data, identical afterwards
# timeout: 600
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

# A refused or racing handshake must never stall the Primary's writes: they
# go on locally (issue 6, defect 1: a write deferred during the handshake
# hung every later write until a connect succeeded).
BOUND=20  # seconds: the longest any write or fsync of the Primary may take
WINDOW=3  # seconds per "are the writes still moving" check

dt_start 2 --disk-mib 64
dt_setup_pair_fresh h1 h2 0

dt_writer_start h1 /dev/dtrbd0 --threads 4 --sizes 4k,16k,64k --region 16m \
	--fsync-every 8 --bound "$BOUND"
dt_wait h1 0 '.written_bytes > 1048576' 60 "writes flowing on h1"
dt_assert_writing h1 0 "$WINDOW" "connected"

# connect_refused HOST WANT: both sides connect; both must be refused, HOST's
# message matching WANT; h1 keeps writing all the while.
connect_refused() {
	local want=$1 h o job rc err
	for h in h1 h2; do
		o=$([[ $h == h1 ]] && echo h2 || echo h1)
		lab_bg "$h" "$DT_CTL" connect 0 --local "$(dt_ip "$h"):7700" --peer "$(dt_ip "$o"):7700" --timeout 30
		eval "job_$h=\$LAB_BG_ID"
	done
	# writes may pause while the handshake decides, but not for long
	dt_assert_writing h1 0 $((3 * WINDOW)) "during the refused handshake ($want)"
	for h in h1 h2; do
		eval "job=\$job_$h"
		rc=0
		lab_bg_wait "$h" "$job" 60 || rc=$?
		err=$(cat "$(lab_bg_log "$h" "$job")")
		((rc != 0)) || fail "connect on $h succeeded, but it should have been refused ($want): $err"
		grep -Eq -- "$want" <<<"$err" || fail "connect on $h: refused without saying /$want/: $err"
		log "$h refused: $err"
	done
	dt_wait h1 0 '.connection == "standalone"' 30 "h1 standalone after the refusal"
	dt_wait h2 0 '.connection == "standalone"' 30 "h2 standalone after the refusal"
	local i
	for i in 1 2 3; do
		dt_assert_writing h1 0 "$WINDOW" "after the refused handshake ($want), check $i"
	done
}

# 1. The Secondary disconnects cleanly, then reconnects and resyncs.
dt h2 disconnect 0 >/dev/null
dt_wait h1 0 '.connection == "standalone"' 30 "h1 notices the disconnect"
for i in 1 2 3; do dt_assert_writing h1 0 "$WINDOW" "after the peer's disconnect, check $i"; done
dt_connect_pair h1 h2 0
dt_assert_writing h1 0 "$WINDOW" "after the reconnect"
dt_wait_synced h1 h2 0 180
dt_assert_writing h1 0 "$WINDOW" "after the resync"
log "1: disconnect and reconnect while writing: writes kept moving"

# 2. Both Primary (h2 promoted while disconnected, nothing written yet):
# refused, as both Primary or, since the promotion started a new data
# generation on h2, as split brain.
dt h2 disconnect 0 >/dev/null
dt_wait h1 0 '.connection == "standalone"' 30 "h1 notices the second disconnect"
dt h2 primary 0 --force >/dev/null || fail "h2 promotion while disconnected"
connect_refused 'Primary|split brain'
log "2: both Primary refused: writes on h1 kept moving"

# 3. h2 writes, then Secondary again: its data changed too, split brain.
lab_exec h2 "dd if=/dev/urandom of=/dev/dtrbd0 bs=64k count=16 seek=400 oflag=direct status=none" ||
	fail "write on h2"
dt h2 secondary 0 >/dev/null
connect_refused 'split brain'
log "3: split brain refused: writes on h1 kept moving"

# Resolution: h2 throws its changes away and resyncs, h1 still writing.
lab_bg h1 "$DT_CTL" connect 0 --local 10.99.0.1:7700 --peer 10.99.0.2:7700 --timeout 60
j1=$LAB_BG_ID
lab_bg h2 "$DT_CTL" connect 0 --local 10.99.0.2:7700 --peer 10.99.0.1:7700 --timeout 60 --discard-my-data
j2=$LAB_BG_ID
lab_bg_wait h1 "$j1" 90 || fail "connect on h1: $(cat "$(lab_bg_log h1 "$j1")")"
lab_bg_wait h2 "$j2" 90 || fail "connect --discard-my-data on h2: $(cat "$(lab_bg_log h2 "$j2")")"
dt_assert_writing h1 0 "$WINDOW" "after the resolution"
dt_wait_synced h1 h2 0 180
dt_writer_stop h1 $((BOUND + 30))
dt_wait_synced h1 h2 0 60
a=$(dt_data_hash h1 /dev/vda 0)
b=$(dt_data_hash h2 /dev/vda 0)
assert_eq "$b" "$a" "backing disks differ after the resolution"
log "refused handshakes never stalled the Primary; identical after the resolution"
