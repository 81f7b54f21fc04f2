#!/bin/bash
# description: pull the Secondary's power mid-write: the Primary finishes every write within 10 s, stays writable, reports disconnected; the peer comes back and resyncs
# timeout: 600
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

dt_start 2
dt_setup_pair h1 h2 0

# a steady stream of verified writes on the Primary; it must still run when
# the checks after the loss look at written_bytes (up to 10 s to standalone
# plus 2 s), also on a loaded machine where reaching "writes flowing" alone
# took 20 s: with a 25 s run fio had ended and the check saw no progress
lab_bg h1 "fio --name=s --filename=/dev/dtrbd0 --direct=1 --ioengine=libaio --iodepth=8 --rw=randwrite --bs=4k --size=32M --time_based --runtime=60 --verify=crc32c --do_verify=0 --output-format=terse"
job=$LAB_BG_ID
dt_wait h1 0 '.written_bytes > 1048576' 60 "writes flowing"
lab_power_off h2
t0=$EPOCHSECONDS
log "pulled h2's power"
dt_wait h1 0 '.connection == "standalone" and .in_flight == 0' 10 "standalone with nothing in flight within 10 s"
log "h1 standalone after $((EPOCHSECONDS - t0))s"
w0=$(dt_field h1 0 .written_bytes)
sleep 2
w1=$(dt_field h1 0 .written_bytes)
((w1 > w0)) || fail "writes stopped on h1 after the peer vanished ($w0 -> $w1)"
lab_bg_wait h1 "$job" 120 || fail "fio on h1 failed: $(tail -n 5 "$(lab_bg_log h1 "$job")")"
lab_exec_timeout 20 h1 "dd if=/dev/urandom of=/dev/dtrbd0 bs=1M count=4 oflag=direct status=none" || fail "a write after the loss failed"
log "h1 kept writing locally"

# the peer returns: it is behind, so it becomes the resync target
lab_power_on h2
dt h2 attach 0 --disk /dev/vda
assert_eq "$(dt_field h2 0 .role)" secondary "h2 after reboot"
dt_connect_pair h1 h2 0
dt_wait_synced h1 h2 0 300
a=$(dt_data_hash h1 /dev/vda 0)
b=$(dt_data_hash h2 /dev/vda 0)
assert_eq "$b" "$a" "backing disks differ after the resync"
log "h2 resynced from h1; data identical"
