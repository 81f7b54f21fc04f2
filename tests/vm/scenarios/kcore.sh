#!/bin/bash
# description: the kernel's core paths in one small lab, sized for the debug-kernel tier (KASAN, lockdep, kmemleak watch it): initial sync of 32 MiB, O_DIRECT writes mirrored byte for byte, disconnect and reconnect under writes (bitmap resync), a role switch, the Secondary's module unloaded (kmemleak scan), loaded again and resynced from the Primary, the Secondary's power pulled mid-write (the Primary finishes every write), detach and rmmod; no guest is rebooted (a debug-kernel boot costs minutes under TCG)
# timeout: 900
# tier: debug
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

# 640 MiB: KASAN's shadow and the debug kernel's boot grow with memory
dt_start 2 --disk-mib 48 --mem 640
BOUND=$((30 * $(_lab_timeout_scale)))
dt_setup_pair h1 h2 0
log "initial sync done; h1 Primary, h2 Secondary"

# 1. writes are mirrored byte for byte
lab_exec h1 "head -c 8M /dev/urandom >/tmp/data"
want=$(lab_exec h1 "sha256sum </tmp/data | cut -d' ' -f1")
lab_exec h1 "dd if=/tmp/data of=/dev/dtrbd0 bs=256k oflag=direct status=none" || fail "write on h1"
got=$(lab_exec h2 "dd if=/dev/vda bs=1M count=8 iflag=direct status=none | sha256sum | cut -d' ' -f1")
assert_eq "$got" "$want" "h2's backing disk differs from what h1 wrote"
log "8 MiB mirrored byte for byte"

# 2. the Secondary disconnects while the Primary writes; the writes go on,
# the reconnect resyncs what changed meanwhile (the bitmap)
dt_writer_start h1 /dev/dtrbd0 --threads 4 --sizes 4k,16k,64k --region 16m --bound $BOUND
dt_assert_writing h1 0 2 "writes before the disconnect"
dt h2 disconnect 0
dt_wait h1 0 '.connection == "standalone"' 30 "h1 standalone after h2's disconnect"
dt_assert_writing h1 0 2 "writes while disconnected"
dt h1 disconnect 0 || true
dt_connect_pair h1 h2 0
dt_assert_writing h1 0 2 "writes after the reconnect"
dt_writer_stop h1 $((60 * $(_lab_timeout_scale)))
dt_wait_synced h1 h2 0 120
assert_eq "$(dt_data_hash h2 /dev/vda 0)" "$(dt_data_hash h1 /dev/vda 0)" "backing disks differ after the bitmap resync"
log "disconnect under writes, reconnect, resync: identical"

# 3. role switch
dt h1 secondary 0
dt h2 primary 0
lab_exec h2 "dd if=/dev/urandom of=/dev/dtrbd0 bs=64k count=32 seek=100 oflag=direct status=none" || fail "write on h2"
dt h2 secondary 0
dt h1 primary 0
log "roles switched there and back"

# 4. the Secondary leaves: detach, rmmod (kmemleak scans its module's
# leftovers now, since its power is pulled later), insmod again; the Primary
# writes meanwhile and the return resyncs them (the amount is not checked
# here; resync-bitmap does that)
dt h2 disconnect 0
dt h2 detach 0
lab_exec h2 "rmmod dtrbd" || fail "rmmod dtrbd on h2"
[[ -z "$_LAB_MODROOT" ]] || _lab_kmemleak h2 rmmod
lab_exec h1 "dd if=/dev/urandom of=/dev/dtrbd0 bs=64k count=16 seek=40 oflag=direct status=none" || fail "write on h1 while h2 is away"
lab_exec h2 "insmod $DT_KO" || fail "insmod dtrbd on h2 again"
dt h2 attach 0 --disk /dev/vda
dt h1 disconnect 0 || true
dt_connect_pair h1 h2 0
dt_wait_synced h1 h2 0 120
assert_eq "$(dt_data_hash h2 /dev/vda 0)" "$(dt_data_hash h1 /dev/vda 0)" "backing disks differ after h2's return"
log "h2 unloaded and reloaded the module, returned and resynced; data identical"

# 5. pull the Secondary's power mid-write: every write completes on h1
dt_writer_start h1 /dev/dtrbd0 --threads 4 --sizes 4k,16k,64k --region 16m --bound $BOUND
dt_assert_writing h1 0 2 "writes before the power pull"
lab_power_off h2
dt_wait h1 0 '.connection == "standalone" and .in_flight == 0' 15 "standalone with nothing in flight after h2's power pull"
dt_assert_writing h1 0 2 "writes after the power pull"
dt_writer_stop h1 $((60 * $(_lab_timeout_scale)))
log "h1 kept writing after h2 lost power"

# 6. tear down and unload on h1: kmemleak (debug kernel) scans after this
dt h1 secondary 0
dt h1 detach 0
lab_exec h1 "rmmod dtrbd" || fail "rmmod dtrbd on h1"
log "detached and unloaded on h1"
