#!/bin/bash
# description: corrupt one 4 KiB block of the Secondary's backing disk behind its back: verify reports exactly one differing block, verify --repair resyncs it, a second verify finds none
# timeout: 600
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

dt_start 2
dt_setup_pair_fresh h1 h2 0
lab_exec h1 "dd if=/dev/urandom of=/dev/dtrbd0 bs=1M count=16 oflag=direct status=none" || fail "write on h1"
dt_wait h1 0 '.in_flight == 0' 30 "writes settled"

out=$(dt h1 verify 0 --json) || fail "verify on an intact pair failed"
assert_eq "$(jq -r .blocks_differing <<<"$out")" 0 "differing blocks before the corruption"
checked=$(jq -r .blocks_checked <<<"$out")
assert_eq "$checked" "$(( $(dt_field h1 0 .size_bytes) / 4096 ))" "blocks checked"

# flip one block on h2's disk, below dtrbd (not O_EXCL: dtrbd holds it)
blk=12345
lab_exec h2 "dd if=/dev/urandom of=/dev/vda bs=4096 seek=$blk count=1 oflag=direct conv=notrunc status=none" ||
	fail "corrupting h2's disk"
out=$(dt h1 verify 0 --json) || fail "verify failed"
log "verify: $out"
assert_eq "$(jq -r .blocks_differing <<<"$out")" 1 "differing blocks after corrupting one"
assert_eq "$(dt_field h1 0 .oos_bytes)" 4096 "out-of-sync bytes after verify"

out=$(dt h1 verify 0 --repair --json) || fail "verify --repair failed"
log "verify --repair: $out"
assert_eq "$(jq -r .blocks_differing <<<"$out")" 1 "verify --repair found the block"
assert_eq "$(jq -r .repaired <<<"$out")" true "verify --repair repaired"
dt_wait_synced h1 h2 0 60
out=$(dt h1 verify 0 --json) || fail "verify after the repair failed"
assert_eq "$(jq -r .blocks_differing <<<"$out")" 0 "differing blocks after the repair"
a=$(dt_data_hash h1 /dev/vda 0)
b=$(dt_data_hash h2 /dev/vda 0)
assert_eq "$b" "$a" "backing disks differ after the repair"
log "verify found the one corrupted block and the repair fixed it"
