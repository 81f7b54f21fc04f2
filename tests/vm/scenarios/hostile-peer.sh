#!/bin/bash
# description: a peer that breaks the protocol after the handshake (tests/vm/tools/peer.py): P_UUID_SYNC to a Primary, P_STATE Primary without the promote handshake, writes that would pin more memory than the bound while the disk is stalled; each refused with a log line and a disconnect, generation unchanged, no oops (issue 6, defect 8); rmmod under a GET_DEVICE flood (defect 7)
# timeout: 300
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

PEER="$DT_TOP/tests/vm/tools/peer.py"
BOUND_MIB=16  # DTRBD_PEER_PAGES_MAX in kmod/dtrbd_int.h

dt_start 1 --disk-mib 64
# a device-mapper disk, so that the last case can stall it
lab_exec h1 'modprobe dm_mod && dmsetup create --noudevsync dt0 --table "0 $(blockdev --getsz /dev/vda) linear /dev/vda 0" && dmsetup mknodes dt0 && test -b /dev/mapper/dt0' ||
	fail "dm-linear over /dev/vda"
dt h1 create-md --disk /dev/mapper/dt0 --force >/dev/null
dt h1 attach 0 --disk /dev/mapper/dt0
dt h1 primary 0 --force >/dev/null

# Every case runs even when an earlier one failed; the scenario fails at
# the end with all of them.
FAILED=()
bad() { log "FAILED: $*"; FAILED+=("$*"); }

# refused CASE ERE: peer.py hostile CASE passes (disconnected, generation
# unchanged) and the kernel said why (ERE).
refused() {
	local c=$1 want=$2 out
	if ! out=$(lab_exec h1 "python3 $PEER hostile 0 $c" 2>&1); then
		bad "$c: $out"
		dt h1 disconnect 0 >/dev/null 2>&1 || true
		return 0
	fi
	lab_exec h1 "dmesg | grep -E -- '$want'" >/dev/null ||
		bad "$c: no kernel line matching /$want/"
	log "$out"
}

# 1. "adopt my generation, clear your bitmap" to a Primary
refused uuid-sync-primary 'adopt its data generation.*but we are Primary'
[[ "$(dt_field h1 0 '.role + " " + .disk')" == "primary uptodate" ]] || bad "not Primary, UpToDate after case 1"

# 2. the peer declares itself Primary without asking
dt h1 secondary 0 >/dev/null
refused state-primary 'says it is Primary without having asked'
dt h1 disconnect 0 >/dev/null 2>&1 || true

# 3. 48 MiB of 1 MiB writes while our disk is stalled (peer.py suspends
# it after the handshake): the receiver takes in at most the bound, then
# waits (the rest stays in the socket)
out=$(lab_exec h1 "python3 $PEER pin 0 48 dt0" 2>&1) || fail "pin: $out"
log "$out"
took=$(sed -n 's/.*took in \([0-9]*\) MiB.*/\1/p' <<<"$out")
[[ -n "$took" ]] || fail "pin: no result: $out"
((took <= BOUND_MIB)) || bad "the receiver took in $took MiB of writes it could not complete (bound $BOUND_MIB MiB)"
((took >= 1)) || bad "the receiver took in nothing: the case tested nothing"
dt_wait h1 0 '.connection == "standalone"' 30 "StandAlone after the pin case"

((${#FAILED[@]} == 0)) || fail "${#FAILED[@]} case(s) failed: ${FAILED[*]}"
log "every hostile packet refused with a reason, memory bounded, no oops"

# 4. rmmod with the device attached while a client floods GET_DEVICE
# (issue 6, defect 7: the family goes first, then the devices)
lab_bg h1 python3 "$PEER" flood 60
flood=$LAB_BG_ID
sleep 2
lab_exec_timeout 120 h1 rmmod dtrbd || fail "rmmod under a GET_DEVICE flood failed"
lab_bg_wait h1 "$flood" 70 || fail "the GET_DEVICE flood failed: $(cat "$(lab_bg_log h1 "$flood")")"
log "flood: $(cat "$(lab_bg_log h1 "$flood")")"
grep -q "the family is gone\|no dtrbd family" "$(lab_bg_log h1 "$flood")" ||
	fail "the flood did not see the family go: $(cat "$(lab_bg_log h1 "$flood")")"
lab_exec h1 "! grep -q '^dtrbd ' /proc/modules" || fail "dtrbd still loaded after rmmod"
lab_exec h1 "dmsetup remove --noudevsync dt0" || true
log "rmmod under a GET_DEVICE flood: clean"
