#!/bin/bash
# description: initial sync, 64 MiB O_DIRECT random write mirrored byte for byte, role switch, ext4 + fsck on the other side
# timeout: 600
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

dt_start 2
dt_setup_pair h1 h2 0
log "initial sync done; h1 Primary, h2 Secondary"

lab_exec h1 "head -c 64M /dev/urandom >/tmp/data"
want=$(lab_exec h1 "sha256sum </tmp/data | cut -d' ' -f1")
lab_exec h1 "dd if=/tmp/data of=/dev/dtrbd0 bs=1M oflag=direct status=none" || fail "write on h1"
written=$(dt_field h1 0 .written_bytes)
sent=$(dt_field h1 0 .sent_bytes)
log "h1 written_bytes=$written sent_bytes=$sent"
((written >= 64 << 20)) || fail "written_bytes $written < 64 MiB"

# the secondary's backing disk holds the same bytes at the same offsets
got=$(lab_exec h2 "dd if=/dev/vda bs=1M count=64 iflag=direct status=none | sha256sum | cut -d' ' -f1")
assert_eq "$got" "$want" "h2's backing disk differs from what h1 wrote"
log "h2's backing disk is identical (sha256 $want)"

# switch roles and read through the device on the other host
dt h1 secondary 0
dt h2 primary 0
got=$(lab_exec h2 "dd if=/dev/dtrbd0 bs=1M count=64 iflag=direct status=none | sha256sum | cut -d' ' -f1")
assert_eq "$got" "$want" "h2 reads different data through /dev/dtrbd0"
log "after the role switch h2 reads the same 64 MiB through /dev/dtrbd0"

# a file system made on one side is clean on the other
lab_exec h2 "mkfs.ext4 -q -F /dev/dtrbd0 && mkdir -p /mnt/d && mount /dev/dtrbd0 /mnt/d &&
	head -c 16M /dev/urandom >/mnt/d/file && cd /mnt/d && sha256sum file >sum && cd / && umount /mnt/d" ||
	fail "mkfs/mount on h2"
dt h2 secondary 0
dt h1 primary 0
lab_exec h1 "fsck.ext4 -n -f /dev/dtrbd0" || fail "fsck -n on h1 found problems"
lab_exec h1 "mkdir -p /mnt/d && mount -o ro /dev/dtrbd0 /mnt/d && cd /mnt/d && sha256sum -c sum && cd / && umount /mnt/d" ||
	fail "file made on h2 is not intact on h1"
log "ext4 made on h2 is clean and intact on h1"
dt_wait_synced h1 h2 0 30
