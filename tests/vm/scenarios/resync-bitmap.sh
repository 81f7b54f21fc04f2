#!/bin/bash
# description: Secondary powered off, 32 MiB of scattered 4 KiB writes on the Primary, Secondary back: only the dirty blocks are resynced (<= 1.1x, from counters), data identical
# timeout: 600
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

dt_start 2
dt_setup_pair_fresh h1 h2 0
assert_eq "$(dt_field h1 0 .oos_bytes)" 0 "out-of-sync bytes after the set-up"

lab_power_off h2
dt_wait h1 0 '.connection == "standalone"' 15 "h1 notices h2 is gone"

# 8192 distinct random 4 KiB blocks (fio's random map never repeats one)
lab_exec h1 "fio --name=scatter --filename=/dev/dtrbd0 --direct=1 --ioengine=psync --rw=randwrite --bs=4k --number_ios=8192 --randrepeat=0 --output-format=terse >/dev/null" ||
	fail "scattered writes on h1"
oos=$(dt_field h1 0 .oos_bytes)
dirty=$((8192 * 4096))
log "h1: $oos bytes out of sync after $dirty bytes of scattered writes"
((oos >= dirty && oos <= dirty + 4 * 1048576)) ||
	fail "h1's bitmap says $oos bytes out of sync, expected about $dirty"

sent0=$(dt_field h1 0 .resync_sent_bytes)
lab_power_on h2
dt h2 attach 0 --disk /dev/vda >/dev/null
assert_eq "$(dt_field h2 0 .disk)" uptodate "h2's disk after the reboot"
# watch the events on h1 while it reconnects and resyncs
lab_bg h1 "exec $DT_CTL events --json"
events=$LAB_BG_ID
sleep 1
# a fixed resync rate of 2 MiB/s: 32 MiB take at least ~16 s (unthrottled,
# the lab resyncs them in about 8 s)
t0=$EPOCHREALTIME
dt_connect_pair h1 h2 0 --resync-rate 2M
dt_wait_synced h1 h2 0 300
t1=$EPOCHREALTIME
ms=$(( (${t1/[.,]/} - ${t0/[.,]/}) / 1000 ))
log "resync at a fixed 2 MiB/s took $ms ms"
((ms >= oos * 1000 / (2 * 1048576) * 8 / 10)) ||
	fail "the resync took $ms ms: faster than the fixed rate of 2 MiB/s allows"
lab_exec h1 "pkill -INT -f 'dtrbdctl events' || true"
lab_bg_wait h1 "$events" 20 || fail "dtrbdctl events did not end cleanly on SIGINT"
evlog=$(lab_bg_log h1 "$events")
for want in connected sync_started sync_finished; do
	jq -s -e --arg e "$want" 'any(.[]; .event == $e and .minor == 0)' "$evlog" >/dev/null ||
		fail "no $want event from dtrbdctl events --json: $(tr '\n' ' ' <"$evlog")"
done
log "events seen on h1: $(jq -r .event "$evlog" | tr '\n' ' ')"
sent=$(( $(dt_field h1 0 .resync_sent_bytes) - sent0 ))
log "resync sent $sent bytes for $oos bytes out of sync"
((sent >= oos)) || fail "resync sent $sent bytes, less than the $oos out of sync"
((sent * 10 <= oos * 11)) || fail "resync sent $sent bytes, more than 1.1 x $oos"
assert_eq "$(dt_field h1 0 .oos_bytes)" 0 "h1 out-of-sync bytes after the resync"
assert_eq "$(dt_field h2 0 .oos_bytes)" 0 "h2 out-of-sync bytes after the resync"

a=$(dt_data_hash h1 /dev/vda 0)
b=$(dt_data_hash h2 /dev/vda 0)
assert_eq "$b" "$a" "backing disks differ after the bitmap resync"
log "bitmap resync moved $sent bytes; data identical"
