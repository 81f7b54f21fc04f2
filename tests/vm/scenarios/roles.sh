#!/bin/bash
# description: Secondary refuses opens, a second Primary is refused while connected, promote/demote cycles, simultaneous promotion has one winner
# timeout: 600
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

dt_start 2
dt_setup_pair_fresh h1 h2 0

# a Secondary cannot be opened
if out=$(lab_exec h2 "dd if=/dev/dtrbd0 of=/dev/null bs=4k count=1 2>&1"); then
	fail "h2 (Secondary) could open /dev/dtrbd0"
fi
grep -q "Wrong medium type" <<<"$out" || fail "open on a Secondary failed with an unexpected error: $out"
log "Secondary refuses open: $out"

# no second Primary while connected
dt_expect_fail h2 "peer is Primary" primary 0
dt_expect_fail h2 "peer is Primary" primary 0 --force
assert_eq "$(dt_field h2 0 .role)" secondary "h2's role changed after a refused promotion"

# a Primary in use cannot be demoted
lab_bg h1 "exec 3</dev/dtrbd0; sleep 5"
sleep 1
dt_expect_fail h1 "open" secondary 0
lab_bg_wait h1 "$LAB_BG_ID" 30 || fail "holder on h1 failed"

# promote/demote cycles, each time the new Primary reads what the old wrote
for i in 1 2 3; do
	for pair in "h1 h2" "h2 h1"; do
		set -- $pair
		from=$1 to=$2
		lab_exec "$from" "printf 'cycle %s from %s\n' $i $from | dd of=/dev/dtrbd0 bs=4k conv=sync oflag=direct status=none"
		dt "$from" secondary 0
		dt "$to" primary 0
		got=$(lab_exec "$to" "dd if=/dev/dtrbd0 bs=4k count=1 iflag=direct status=none | tr -d '\0'")
		assert_eq "$got" "cycle $i from $from" "data written on $from not seen on $to"
		assert_eq "$(dt_field "$from" 0 .peer_role)" primary "$from does not see $to as Primary"
	done
done
log "3 promote/demote cycles each way, data follows the role"

# simultaneous promotion: exactly one side wins
dt h1 secondary 0
lab_bg h1 "$DT_CTL" primary 0; j1=$LAB_BG_ID
lab_bg h2 "$DT_CTL" primary 0; j2=$LAB_BG_ID
r1=0 r2=0
lab_bg_wait h1 "$j1" 60 || r1=$?
lab_bg_wait h2 "$j2" 60 || r2=$?
log "simultaneous promotion: h1 rc $r1 ($(cat "$(lab_bg_log h1 "$j1")")), h2 rc $r2 ($(cat "$(lab_bg_log h2 "$j2")"))"
primaries=0
for h in h1 h2; do
	[[ "$(dt_field $h 0 .role)" == primary ]] && primaries=$((primaries + 1))
done
assert_eq "$primaries" 1 "after a simultaneous promotion the number of Primaries"
(((r1 == 0) != (r2 == 0))) || fail "exactly one promotion must succeed (rc $r1 / $r2)"

# unloading the module: refused while a device is open, clean otherwise
winner=h1; [[ "$(dt_field h1 0 .role)" == primary ]] || winner=h2
lab_bg "$winner" "exec 3</dev/dtrbd0; sleep 5"
sleep 1
if lab_exec "$winner" "rmmod dtrbd" 2>/dev/null; then fail "rmmod succeeded with an open device"; fi
lab_bg_wait "$winner" "$LAB_BG_ID" 30 || true
lab_exec h1 "rmmod dtrbd" || fail "rmmod with an attached, connected device failed on h1"
lab_exec h1 "test ! -e /dev/dtrbd0" || fail "/dev/dtrbd0 still exists after rmmod"
log "rmmod refused while open, removes attached devices otherwise"
