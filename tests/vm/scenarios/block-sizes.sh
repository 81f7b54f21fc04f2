#!/bin/bash
# description: a 512-byte Primary and a 4Kn Secondary (loop device with 4096-byte sectors): the handshake exchanges block sizes, both devices adopt 4096-byte logical blocks, a 512-byte write is refused on the Primary instead of failing the Secondary's disk; an open 512-byte Primary refuses a 4Kn peer with a sentence
# timeout: 600
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

# Issue 6, defect 6. Before the exchange the Primary's queue kept 512-byte
# blocks, its 512-byte writes reached the 4Kn disk, failed there, and the
# Secondary went diskless.
lbs() { lab_exec "$1" "cat /sys/block/dtrbd0/queue/logical_block_size"; }

dt_start 2 --disk-mib 64
lab_exec h2 'modprobe loop && losetup --sector-size 4096 -f --show /dev/vda >/tmp/loopdev && test -b "$(cat /tmp/loopdev)"' ||
	fail "a 4Kn loop device on h2"
loop=$(lab_exec h2 'cat /tmp/loopdev')
assert_eq "$(lab_exec h2 "blockdev --getss $loop")" 4096 "the loop device's logical block size"
assert_eq "$(lab_exec h1 'blockdev --getss /dev/vda')" 512 "h1's disk's logical block size"
dt h1 create-md --disk /dev/vda --force >/dev/null
dt h2 create-md --disk "$loop" --force >/dev/null
dt h1 attach 0 --disk /dev/vda >/dev/null
dt h2 attach 0 --disk "$loop" >/dev/null
assert_eq "$(lbs h1)" 512 "h1's logical block size before connecting"
dt_connect_pair h1 h2 0
dt h1 primary 0 --force >/dev/null
dt_wait_synced h1 h2 0 300

# a 512-byte write: refused by h1's queue (EINVAL), never sent to h2
lab_exec_timeout 60 h1 'dd if=/dev/urandom of=/dev/dtrbd0 bs=512 count=1 seek=1 oflag=direct status=none' &&
	log "a 512-byte O_DIRECT write was accepted on h1"
lab_exec_timeout 60 h1 'dd if=/dev/urandom of=/tmp/pat bs=4k count=16 status=none && dd if=/tmp/pat of=/dev/dtrbd0 bs=4k seek=100 oflag=direct status=none' ||
	fail "a 4 KiB write on h1 failed"
sleep 2
assert_eq "$(dt_field h2 0 .disk)" uptodate "h2's disk after the writes"
assert_eq "$(dt_field h1 0 .peer_disk)" uptodate "h2's disk as h1 sees it"
assert_eq "$(dt_field h1 0 .connection)" connected "h1's connection"
lab_exec h2 "dmesg | grep -q 'backing disk failed'" && fail "h2's disk was declared failed"
assert_eq "$(lbs h1)" 4096 "h1's logical block size after the handshake"
assert_eq "$(lbs h2)" 4096 "h2's logical block size after the handshake"
log "both sides use 4096-byte blocks; h2's disk is healthy"

# An open 512-byte Primary cannot grow its block size under its users:
# the pair is refused, with a sentence.
dt h2 disconnect 0 >/dev/null
dt_wait h1 0 '.connection == "standalone"' 30 "h1 standalone"
dt h1 secondary 0 >/dev/null
dt h1 detach 0 >/dev/null
dt h1 attach 0 --disk /dev/vda >/dev/null
assert_eq "$(lbs h1)" 512 "h1's logical block size after a new attach"
dt h1 primary 0 --force >/dev/null
lab_bg h1 "exec 3</dev/dtrbd0; sleep 300"
holder=$LAB_BG_ID
dt_wait h1 0 '.open_count > 0' 30 "h1 open"
lab_bg h1 "$DT_CTL" connect 0 --local "$(dt_ip h1):7700" --peer "$(dt_ip h2):7700" --timeout 30
ja=$LAB_BG_ID
lab_bg h2 "$DT_CTL" connect 0 --local "$(dt_ip h2):7700" --peer "$(dt_ip h1):7700" --timeout 30
jb=$LAB_BG_ID
ra=0
lab_bg_wait h1 "$ja" 60 || ra=$?
lab_bg_wait h2 "$jb" 60 || true
err=$(cat "$(lab_bg_log h1 "$ja")")
((ra != 0)) || fail "connect on h1 succeeded while open with 512-byte blocks: $err"
grep -q "logical blocks" <<<"$err" || fail "the refusal does not say why: $err"
log "refused: $err"
assert_eq "$(lbs h1)" 512 "h1's logical block size after the refusal"
lab_exec h1 "pkill -f 'sleep 300' || true"
lab_bg_wait h1 "$holder" 30 || true
dt_wait h1 0 '.open_count == 0' 30 "h1 closed"
dt_wait h2 0 '.connection == "standalone"' 30 "h2 standalone"
dt_connect_pair h1 h2 0
dt_wait_synced h1 h2 0 300
assert_eq "$(lbs h1)" 4096 "h1's logical block size after connecting closed"
log "closed, the same pair connects and adopts 4096-byte blocks"
