#!/bin/bash
# description: automatic split-brain recovery: with --after-sb discard-zero-changes on both sides, the side promoted during the cut that wrote nothing is resynced from the side that wrote; with different policies on the two sides nothing is decided automatically
# timeout: 600
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

dt_start 2
dt_setup_pair_fresh h1 h2 0
dt h1 disconnect 0 >/dev/null
dt h2 disconnect 0 >/dev/null
dt_connect_pair h1 h2 0 --peer-timeout-ms 2000 --after-sb discard-zero-changes
dt_wait_synced h1 h2 0 60

lab_link h1 down
dt_wait h1 0 '.connection == "standalone"' 15 "h1 notices the cut"
dt_wait h2 0 '.connection == "standalone"' 15 "h2 notices the cut"
# h2 is promoted (a new generation) but writes nothing; h1 writes
dt h2 primary 0 >/dev/null
dt h2 secondary 0 >/dev/null
lab_exec h1 "dd if=/dev/urandom of=/dev/dtrbd0 bs=4k count=512 seek=2000 oflag=direct status=none" || fail "write on h1"
lab_link h1 up

# different policies: no automatic decision
lab_bg h1 "$DT_CTL" connect 0 --local 10.99.0.1:7700 --peer 10.99.0.2:7700 --timeout 30 --after-sb discard-zero-changes
j1=$LAB_BG_ID
lab_bg h2 "$DT_CTL" connect 0 --local 10.99.0.2:7700 --peer 10.99.0.1:7700 --timeout 30 --after-sb discard-secondary
j2=$LAB_BG_ID
rc1=0
rc2=0
lab_bg_wait h1 "$j1" 60 || rc1=$?
lab_bg_wait h2 "$j2" 60 || rc2=$?
((rc1 != 0 && rc2 != 0)) || fail "mismatched policies resolved a split brain ($rc1, $rc2)"
grep -q "split brain" "$(lab_bg_log h1 "$j1")" || fail "h1: $(cat "$(lab_bg_log h1 "$j1")")"
log "mismatched policies: refused on both sides"

# the same policy on both: h2 changed nothing, so it is the target
want=$(dt_data_hash h1 /dev/dtrbd0 0)
dt_connect_pair h1 h2 0 --peer-timeout-ms 2000 --after-sb discard-zero-changes
dt_wait_synced h1 h2 0 120
a=$(dt_data_hash h1 /dev/vda 0)
b=$(dt_data_hash h2 /dev/vda 0)
assert_eq "$b" "$a" "backing disks differ after the automatic recovery"
assert_eq "$a" "$want" "h1's changes were kept"
log "discard-zero-changes resolved the split brain: h1's writes kept, h2 resynced"
