#!/bin/bash
# description: the Primary's backing disk starts failing (device-mapper error target) mid-stream: the device goes diskless and keeps reading and writing through the peer; no acknowledged write is lost
# timeout: 600
# The failing disk on purpose: its I/O errors and what the module could no
# longer write to it (the health check lets these dtrbd error lines pass).
# expect-kernel: dtrbd: dtrbd0: local (read|write|flush) error
# expect-kernel: dtrbd: dtrbd0: the backing disk failed
# expect-kernel: dtrbd: dtrbd0: (metadata write|bitmap write|activity log update) failed
# expect-kernel: dtrbd: dtrbd0: could not (write the bitmap|record)
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

REC="$DT_TOP/tests/vm/tools/recwriter.py"

dt_start 2
# h1's disk goes through a device-mapper table we can switch to "error"
lab_exec h1 'modprobe dm_mod && dmsetup create --noudevsync flaky --table "0 $(blockdev --getsz /dev/vda) linear /dev/vda 0" && dmsetup mknodes flaky && test -b /dev/mapper/flaky' ||
	fail "device-mapper on h1"
dt h1 create-md --disk /dev/mapper/flaky --force >/dev/null
dt h2 create-md --disk /dev/vda --force >/dev/null
dt h1 attach 0 --disk /dev/mapper/flaky >/dev/null
dt h2 attach 0 --disk /dev/vda >/dev/null
dt_connect_pair h1 h2 0
dt h1 primary 0 --force >/dev/null
dt_wait_synced h1 h2 0 300

acked="$(lab_host_dir h1)/acked"
: >"$acked"
lab_bg h1 "python3 $REC write /dev/dtrbd0 1000 /lab/acked --seed 7"
writer=$LAB_BG_ID
# Fail the disk mid-stream: only once the writer is really writing (on a
# busy machine python takes seconds to start).
for ((i = 0; i < 120; i++)); do
	(($(wc -l <"$acked") >= 20)) && break
	sleep 0.5
done
(($(wc -l <"$acked") >= 20)) || fail "the writer on h1 did not start writing: $(tail -n 3 "$(lab_bg_log h1 "$writer")")"
lab_exec h1 'dmsetup suspend --noudevsync flaky && dmsetup reload flaky --table "0 $(blockdev --getsz /dev/vda) error" && dmsetup resume --noudevsync flaky' ||
	fail "switching h1's disk to the error target"
n0=$(wc -l <"$acked")
log "h1's disk fails from now on ($n0 records acknowledged so far)"
dt_wait h1 0 '.disk == "diskless"' 30 "h1 goes diskless"
sleep 3
n1=$(wc -l <"$acked")
((n1 > n0)) || fail "no write was acknowledged after the disk failed ($n0 -> $n1)"
lab_exec h1 "pkill -f 'recwriter.py write' || true"
lab_bg_wait h1 "$writer" 30 || true
log "h1 kept writing through h2: $n0 -> $n1 acknowledged records"
assert_eq "$(dt_field h1 0 .role)" primary "h1's role"
assert_eq "$(dt_field h1 0 .connection)" connected "h1's connection"

# reads on h1 come from h2 now: every acknowledged record, intact
checked=$(lab_exec h1 "python3 $REC check /dev/dtrbd0 1000 /lab/acked") ||
	fail "reading through the peer on h1: $checked"
log "h1 read all $checked acknowledged records back through h2"
lab_exec h1 "dd if=/dev/urandom of=/dev/dtrbd0 bs=64k count=32 seek=3000 oflag=direct status=none" ||
	fail "a new write on the diskless Primary failed"

# and they are on h2's disk: switch over and check there
dt h1 secondary 0 >/dev/null
dt h2 primary 0 >/dev/null
cp "$acked" "$(lab_host_dir h2)/acked"
checked=$(lab_exec h2 "python3 $REC check /dev/dtrbd0 1000 /lab/acked") ||
	fail "acknowledged data missing on h2: $checked"
log "all $checked acknowledged records are on h2's disk"
lab_exec h1 "dmesg | grep -q 'backing disk failed'" || fail "h1 did not log the disk failure"
