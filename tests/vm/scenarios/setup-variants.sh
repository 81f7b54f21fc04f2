#!/bin/bash
# description: external metadata (create-md/attach --meta on a separate device) and new-current-uuid --clear-bitmap on two zeroed disks: UpToDate at once with no initial sync, then replicating byte for byte
# timeout: 400
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

dt_start 2
# metadata on a small loop device of its own; all of /dev/vda is data
for h in h1 h2; do
	lab_exec "$h" "modprobe loop && truncate -s 4M /tmp/meta && losetup /dev/loop0 /tmp/meta" ||
		fail "metadata device on $h"
	dt "$h" create-md --disk /dev/vda --meta /dev/loop0 --force >/dev/null
	dt "$h" attach 0 --disk /dev/vda --meta /dev/loop0 >/dev/null
done
vda=$(lab_exec h1 "blockdev --getsize64 /dev/vda")
assert_eq "$(dt_field h1 0 .size_bytes)" "$vda" "external metadata: the whole disk is data"
assert_eq "$(dt_field h1 0 .meta_disk)" /dev/loop0 "metadata device in status"

# both disks are fresh sparse images, all zeros: no initial sync needed
dt_connect_pair h1 h2 0
dt h1 new-current-uuid 0 --clear-bitmap >/dev/null
dt_wait_synced h1 h2 0 30
assert_eq "$(dt_field h1 0 .resync_sent_bytes)" 0 "resync bytes after --clear-bitmap"
assert_eq "$(dt_field h2 0 .resync_received_bytes)" 0 "resync bytes received after --clear-bitmap"
dt h1 primary 0 >/dev/null || fail "promotion without --force after --clear-bitmap"

lab_exec h1 "dd if=/dev/urandom of=/dev/dtrbd0 bs=1M count=8 seek=100 oflag=direct status=none" || fail "write on h1"
lab_exec h1 "dd if=/dev/urandom of=/dev/dtrbd0 bs=4k count=1 seek=$((vda / 4096 - 1)) oflag=direct status=none" ||
	fail "write to the last block on h1"
dt_wait h1 0 '.in_flight == 0' 30 "writes settled"
a=$(dt_data_hash h1 /dev/vda 0)
b=$(dt_data_hash h2 /dev/vda 0)
assert_eq "$b" "$a" "backing disks differ"

# the metadata survives a detach and re-attach; attaching without --meta is refused
dt h1 secondary 0 >/dev/null
dt h1 detach 0 >/dev/null
dt_expect_fail h1 "no dtrbd metadata|external|metadata" attach 0 --disk /dev/vda
dt h1 attach 0 --disk /dev/vda --meta /dev/loop0 >/dev/null
assert_eq "$(dt_field h1 0 .disk)" uptodate "h1 after re-attach"
log "external metadata and --clear-bitmap work"
