#!/bin/bash
# description: the Secondary's backing disk stalls (device-mapper suspend) while the Primary writes: every write completes within the bound, the Primary ends standalone and keeps writing, no hung task; the disk resumes, the pair reconnects and resyncs, identical afterwards
# timeout: 600
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

# A peer that answers pings but never completes a write must not hang the
# Primary's protocol C writes: after the request timeout the peer is declared
# dead and the writes complete locally (issue 6, defect 3).
#
# BOUND: the longest any write of the Primary may wait.  The request timeout
# of the module must be below it (with room for TCG); it is also the guests'
# hung-task timeout, so a write stuck longer prints its stack and fails.
BOUND=60
WINDOW=3

dt_start 2 --disk-mib 64 --hung-task "$BOUND"
# h2's disk behind dm-linear, so it can be suspended
lab_exec h2 'modprobe dm_mod && dmsetup create --noudevsync stall --table "0 $(blockdev --getsz /dev/vda) linear /dev/vda 0" && dmsetup mknodes stall && test -b /dev/mapper/stall' ||
	fail "device-mapper on h2"
dt h1 create-md --disk /dev/vda --force >/dev/null
dt h2 create-md --disk /dev/mapper/stall --force >/dev/null
dt h1 attach 0 --disk /dev/vda >/dev/null
dt h2 attach 0 --disk /dev/mapper/stall >/dev/null
dt_connect_pair h1 h2 0
dt h1 primary 0 --force >/dev/null
dt_wait_synced h1 h2 0 300

dt_writer_start h1 /dev/dtrbd0 --threads 4 --sizes 4k,16k,64k --region 16m \
	--fsync-every 8 --bound "$BOUND"
dt_wait h1 0 '.written_bytes > 1048576' 60 "writes flowing on h1"
dt_assert_writing h1 0 "$WINDOW" "connected"

# h2's own waiters on its suspended disk are expected to block: only h1's
# writes are under test, so h2's hung-task reports are switched off.
lab_exec h2 'echo 0 >/proc/sys/kernel/hung_task_timeout_secs'
lab_exec h2 'dmsetup suspend --noudevsync stall' || fail "suspending h2's disk"
t0=$EPOCHSECONDS
log "h2's disk suspended"
# The Primary gives up on the stalled peer within the bound ...
while [[ "$(dt_field h1 0 .connection)" == connected ]]; do
	((EPOCHSECONDS - t0 < BOUND)) ||
		fail "h1 still waits for its stalled peer after ${BOUND}s (writer: $(dt_writer_progress h1); status: $(dt h1 status 0 --json | jq -c '{connection, in_flight, written_bytes}'))"
	sleep 1
done
dt_wait h1 0 '.connection == "standalone"' 30 "h1 standalone"
log "h1 standalone $((EPOCHSECONDS - t0))s after the stall; writer: $(dt_writer_progress h1)"
# ... and goes on writing locally, nothing stuck past the bound.
for i in 1 2 3; do dt_assert_writing h1 0 "$WINDOW" "after the peer was declared dead, check $i"; done
assert_eq "$(dt_field h1 0 .role)" primary "h1's role"

# The disk comes back; h2 notices it lost the connection, reconnects and
# resyncs what h1 wrote meanwhile.
lab_exec h2 'dmsetup resume --noudevsync stall' || fail "resuming h2's disk"
lab_exec h2 "echo $BOUND >/proc/sys/kernel/hung_task_timeout_secs"
dt_wait h2 0 '.connection == "standalone"' 60 "h2 standalone after its disk resumed"
dt_connect_pair h1 h2 0
dt_wait_synced h1 h2 0 180
dt_assert_writing h1 0 "$WINDOW" "after the reconnect"
dt_writer_stop h1 $((BOUND + 30))
dt_wait_synced h1 h2 0 60
a=$(dt_data_hash h1 /dev/vda 0)
b=$(dt_data_hash h2 /dev/mapper/stall 0)
assert_eq "$b" "$a" "backing disks differ after the resync"
log "stalled Secondary: every write within ${BOUND}s, resynced and identical afterwards"
