#!/bin/bash
# description: the idle Primary's backing disk fails (device-mapper error target), then the application writes to a cold extent: the failed activity-log update makes the device diskless and the write completes through the peer, no error for the application
# timeout: 600
# The failing disk on purpose (see io-error):
# expect-kernel: dtrbd: dtrbd0: local (read|write|flush) error
# expect-kernel: dtrbd: dtrbd0: the backing disk failed
# expect-kernel: dtrbd: dtrbd0: (metadata write|bitmap write|activity log update) failed
# expect-kernel: dtrbd: dtrbd0: could not (write the bitmap|record)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

# Found in io-error on a busy machine (git eb2f538): when the disk failed
# before the writer's first write, that write needed an activity-log update,
# the update failed with -5, and the application got EIO while the device
# stayed UpToDate and connected to an UpToDate peer.
dt_start 2 --disk-mib 64
lab_exec h1 'modprobe dm_mod && dmsetup create --noudevsync flaky --table "0 $(blockdev --getsz /dev/vda) linear /dev/vda 0" && dmsetup mknodes flaky && test -b /dev/mapper/flaky' ||
	fail "device-mapper on h1"
dt h1 create-md --disk /dev/mapper/flaky --force >/dev/null
dt h2 create-md --disk /dev/vda --force >/dev/null
dt h1 attach 0 --disk /dev/mapper/flaky >/dev/null
dt h2 attach 0 --disk /dev/vda >/dev/null
dt_connect_pair h1 h2 0
dt h1 primary 0 --force >/dev/null
dt_wait_synced h1 h2 0 300

lab_exec h1 'dmsetup suspend --noudevsync flaky && dmsetup reload flaky --table "0 $(blockdev --getsz /dev/vda) error" && dmsetup resume --noudevsync flaky' ||
	fail "switching h1's disk to the error target"
log "h1's disk fails from now on (idle)"
# 40 MiB in: an extent no write has touched since the attach
lab_exec h1 'dd if=/dev/urandom of=/tmp/pat bs=64k count=4 status=none'
lab_exec_timeout 60 h1 'dd if=/tmp/pat of=/dev/dtrbd0 bs=64k seek=640 oflag=direct conv=fsync status=none' ||
	fail "a write to a cold extent failed for the application after the disk failed (status: $(dt h1 status 0 --json | jq -c '{disk, connection, peer_disk}'))"
dt_wait h1 0 '.disk == "diskless"' 30 "h1 goes diskless"
assert_eq "$(dt_field h1 0 .connection)" connected "h1's connection"
lab_exec h1 'dd if=/dev/dtrbd0 of=/tmp/back bs=64k skip=640 count=4 iflag=direct status=none && cmp /tmp/pat /tmp/back' ||
	fail "reading the write back through the peer"
log "the write completed through h2 and reads back"
