#!/bin/bash
# description: checksum-based resync: invalidate-remote on an identical pair sends no data; with three blocks corrupted on the peer, invalidate there sends exactly those three
# timeout: 600
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

dt_start 2
dt_setup_pair h1 h2 0
lab_exec h1 "dd if=/dev/urandom of=/dev/dtrbd0 bs=1M count=16 oflag=direct status=none" || fail "write on h1"
dt h1 disconnect 0 >/dev/null
dt h2 disconnect 0 >/dev/null
dt_connect_pair h1 h2 0 --csum-resync
dt_wait_synced h1 h2 0 60
size=$(dt_field h1 0 .size_bytes)

# a full resync of identical disks: checksums only
sent0=$(dt_field h1 0 .resync_sent_bytes)
same0=$(dt_field h1 0 .resync_same_bytes)
dt h1 invalidate-remote 0 >/dev/null
# every block is either sent or found equal
dt_wait h1 0 "(.resync_same_bytes + .resync_sent_bytes) >= $((same0 + sent0 + size))" 300 "the whole device compared"
dt_wait_synced h1 h2 0 60
sent=$(( $(dt_field h1 0 .resync_sent_bytes) - sent0 ))
same=$(( $(dt_field h1 0 .resync_same_bytes) - same0 ))
log "full checksum resync of identical disks: $sent bytes of data sent, $same bytes found equal"
assert_eq "$sent" 0 "data sent for identical disks"
assert_eq "$same" "$size" "bytes found equal"

# three blocks differ, in three different 256 KiB chunks
for b in 1000 20000 50000; do
	lab_exec h2 "dd if=/dev/urandom of=/dev/vda bs=4096 seek=$b count=1 oflag=direct conv=notrunc status=none" ||
		fail "corrupting block $b on h2"
done
sent0=$(dt_field h1 0 .resync_sent_bytes)
same0=$(dt_field h1 0 .resync_same_bytes)
# this time from the other side: h2 declares its own data bad
dt h2 invalidate 0 >/dev/null
dt_wait h1 0 "(.resync_same_bytes + .resync_sent_bytes) >= $((same0 + sent0 + size))" 300 "the whole device compared"
dt_wait_synced h1 h2 0 60
sent=$(( $(dt_field h1 0 .resync_sent_bytes) - sent0 ))
log "full checksum resync with 3 damaged blocks: $sent bytes of data sent"
assert_eq "$sent" $((3 * 4096)) "data sent for three differing blocks"
a=$(dt_data_hash h1 /dev/vda 0)
b=$(dt_data_hash h2 /dev/vda 0)
assert_eq "$b" "$a" "backing disks differ after the checksum resync"
