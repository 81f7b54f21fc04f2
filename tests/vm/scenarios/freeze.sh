#!/bin/bash
# description: on-peer-loss freeze: a Primary writing with O_DIRECT loses its peer (power pull): no write completes for 20 s, status frozen, no daemon or dtrbdctl needed to hold it (the events listener killed); reads go on; resume-io completes them and writes go on alone; the peer returns and resyncs; second pull: fail-io ends the waiting writes with EIO, later writes fail until resume-io; third round: fail-io, then a demotion ends the failing state
# timeout: 1100
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

# Issue 7, "Kernel: freeze on peer loss". The freeze lives in the kernel:
# nothing in userspace runs while it holds (the hung-daemon case).
HOLD=20   # seconds the writes must stay frozen (longer than the guests'
          # 10 s hung-task timeout: no task may be reported blocked)

dt_start 2 --disk-mib 64
dt_setup_pair_fresh h1 h2 0

ops() { local l; l=$(dt_writer_progress h1); l=${l#* ops=}; echo "${l%% *}"; }
errors() { local l; l=$(dt_writer_progress h1); l=${l#* errors=}; echo "${l%% *}"; }

# --- round 1: freeze set while connected, power pull, resume-io ---------------
assert_eq "$(dt_field h1 0 .on_peer_loss)" continue "default policy"
dt h1 set-options 0 --on-peer-loss freeze
assert_eq "$(dt_field h1 0 .on_peer_loss)" freeze "policy after set-options"
assert_eq "$(dt_field h1 0 .frozen)" false "frozen while connected"

lab_bg h1 "$DT_CTL" events --json
events=$LAB_BG_ID
dt_writer_start h1 /dev/dtrbd0 --threads 4 --sizes 4k,16k,64k --region 16m \
	--fsync-every 8 --bound 600
dt_wait h1 0 '.written_bytes > 1048576' 60 "writes flowing on h1"
dt_assert_writing h1 0 2 "connected"

lab_power_off h2
t0=$EPOCHSECONDS
dt_wait h1 0 '.frozen == true and .connection == "standalone"' 30 "h1 frozen and standalone"
log "h1 frozen $((EPOCHSECONDS - t0))s after the pull"
grep -q '"event":"frozen"' "$(lab_bg_log h1 "$events")" ||
	fail "no frozen event: $(cat "$(lab_bg_log h1 "$events")")"
# the hung daemon: nobody listens or acts from here on
lab_exec h1 "pkill -9 -f 'dtrbdctl events' || true"
lab_bg_wait h1 "$events" 10 || true
sleep 2   # writes completing as the teardown ends would show here
o0=$(ops)
w0=$(dt_field h1 0 .written_bytes)
lab_exec_timeout 30 h1 "dd if=/dev/dtrbd0 of=/dev/null bs=64k count=64 iflag=direct status=none" ||
	fail "a read failed while frozen"
sleep "$HOLD"
o1=$(ops)
w1=$(dt_field h1 0 .written_bytes)
assert_eq "$o1" "$o0" "writes completed while frozen (writer ops)"
assert_eq "$w1" "$w0" "writes started while frozen (written_bytes)"
assert_eq "$(dt_field h1 0 .frozen)" true "still frozen after ${HOLD}s"
oldest=$(dt_writer_progress h1)
oldest=${oldest#* oldest=}
log "h1 held every write for ${HOLD}s (ops $o1, oldest waiting ${oldest}s)"
lab_exec h1 "pgrep -x dtrbdctl" && fail "a dtrbdctl process ran during the freeze"

dt h1 resume-io 0
assert_eq "$(dt_field h1 0 .frozen)" false "frozen after resume-io"
dt_assert_writing h1 0 3 "after resume-io"
dt_writer_stop h1 60
dt_expect_fail h1 "not frozen" resume-io 0
log "round 1: resume-io completed the held writes without an error"

# --- the peer returns: h1 went on alone, so h2 resyncs from it -------------
lab_power_on h2
dt h2 attach 0 --disk /dev/vda
dt_connect_pair h1 h2 0 --on-peer-loss freeze
dt_wait_synced h1 h2 0 300
assert_eq "$(dt_field h1 0 .on_peer_loss)" freeze "policy from connect"
a=$(dt_data_hash h1 /dev/vda 0)
b=$(dt_data_hash h2 /dev/vda 0)
assert_eq "$b" "$a" "backing disks differ after the resync"
log "h2 resynced from h1; data identical"

# --- round 2: power pull, fail-io --------------------------------------------
dt_writer_start h1 /dev/dtrbd0 --threads 4 --sizes 4k,64k --region 16m --bound 600
dt_wait h1 0 '.written_bytes > 2097152' 60 "writes flowing on h1 again"
lab_power_off h2
dt_wait h1 0 '.frozen == true and .connection == "standalone"' 30 "h1 frozen again"
sleep 3
o0=$(ops)
sleep 5
assert_eq "$(ops)" "$o0" "writes completed while frozen (round 2)"
dt h1 fail-io 0
assert_eq "$(dt_field h1 0 .frozen)" false "frozen after fail-io"
assert_eq "$(dt_field h1 0 .io_failed)" true "io_failed after fail-io"
lab_exec h1 "touch /lab/writer.stop"
rc=0
lab_bg_wait h1 "$DT_WRITER_ID" 60 || rc=$?
((rc == 1)) || fail "the writer should end with failed writes (rc 1) after fail-io, got rc $rc: $(tail -n 1 "$(lab_bg_log h1 "$DT_WRITER_ID")")"
(($(errors) > 0)) || fail "no write failed after fail-io"
log "fail-io: $(tail -n 1 "$(lab_bg_log h1 "$DT_WRITER_ID")")"
lab_exec_timeout 30 h1 "dd if=/dev/zero of=/dev/dtrbd0 bs=4k count=1 oflag=direct status=none" &&
	fail "a write after fail-io succeeded"
lab_exec_timeout 30 h1 "dd if=/dev/dtrbd0 of=/dev/null bs=4k count=1 iflag=direct status=none" ||
	fail "a read after fail-io failed"
dt h1 resume-io 0
lab_exec_timeout 30 h1 "dd if=/dev/zero of=/dev/dtrbd0 bs=4k count=1 oflag=direct status=none" ||
	fail "a write after resume-io failed"
assert_eq "$(dt_field h1 0 .io_failed)" false "io_failed after resume-io"
log "round 2: fail-io failed the waiting and new writes; resume-io ended it"

# --- round 3: fail-io, then a demotion ends the failing state -----------------
# The failing state answers a Primary's frozen writes; a Secondary promoted
# later must not inherit it (before the fix only resume-io or a reconnect
# cleared it). The peer disconnects this time: that freezes too.
lab_power_on h2
dt h2 attach 0 --disk /dev/vda
dt_connect_pair h1 h2 0 --on-peer-loss freeze
dt_wait_synced h1 h2 0 300
dt h2 disconnect 0
dt_wait h1 0 '.frozen == true and .connection == "standalone"' 30 "h1 frozen after the peer disconnected"
dt h1 fail-io 0
assert_eq "$(dt_field h1 0 .io_failed)" true "io_failed after fail-io (round 3)"
lab_exec_timeout 30 h1 "dd if=/dev/zero of=/dev/dtrbd0 bs=4k count=1 oflag=direct status=none" &&
	fail "a write after fail-io succeeded (round 3)"
dt h1 secondary 0
assert_eq "$(dt_field h1 0 .io_failed)" false "io_failed after the demotion"
dt h1 primary 0 --force
lab_exec_timeout 30 h1 "dd if=/dev/zero of=/dev/dtrbd0 bs=4k count=1 oflag=direct status=none" ||
	fail "a write after demotion and promotion failed: the failing state outlived the role"
log "round 3: the demotion ended the failing state; the next Primary writes"
