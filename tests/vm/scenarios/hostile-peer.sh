#!/bin/bash
# description: a peer that breaks the protocol after the handshake (tests/vm/tools/peer.py): P_UUID_SYNC to a Primary, P_STATE Primary without the promote handshake, P_DATA from a peer that is not Primary, each refused with a log line and a disconnect, generation unchanged; a Primary peer flooding writes while the disk is stalled pins at most 16 MiB; rmmod with the device attached under a GET_DEVICE flood unloads within a few tries; no oops (issue 6, defect 8)
# timeout: 300
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

PEER="$DT_TOP/tests/vm/tools/peer.py"

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

# 3. an application write from a peer that never became Primary: refused,
# and not written (the first 4 KiB of the disk are unchanged)
lab_expect_kernel 'peer sent application data but it is not Primary'
before=$(lab_exec h1 "dd if=/dev/mapper/dt0 bs=4k count=1 iflag=direct status=none | sha256sum")
refused data-secondary 'peer sent application data but it is not Primary'
after=$(lab_exec h1 "dd if=/dev/mapper/dt0 bs=4k count=1 iflag=direct status=none | sha256sum")
[[ "$before" == "$after" ]] || bad "data-secondary: the refused write reached the disk"
dt h1 disconnect 0 >/dev/null 2>&1 || true

# 4. a Primary peer floods writes while our disk is stalled: the pages its
# writes may pin are bounded (DTRBD_PEER_PAGES_MAX, 16 MiB), the rest waits
# in TCP; after the disk resumes the device is still sane
if out=$(lab_exec h1 "python3 $PEER pin 0 64 dt0" 2>&1); then
	took=$(sed -nE 's/.*the module took in ([0-9]+) MiB.*/\1/p' <<<"$out")
	if [[ -z "$took" ]]; then
		bad "pin: no count in: $out"
	elif ((took > 17)); then
		bad "pin: the module took in $took MiB from a peer while its disk was stalled (bound 16 MiB)"
	elif ((took < 1)); then
		bad "pin: the module took in nothing: the case tested nothing ($out)"
	else
		log "$out (bound 16 MiB)"
	fi
else
	bad "pin: $out"
fi
dt_wait h1 0 '.connection == "standalone"' 30 "standalone after the pin case"
[[ "$(dt_field h1 0 '.role + " " + .disk')" == "secondary uptodate" ]] ||
	bad "not Secondary, UpToDate after case 4: $(dt_field h1 0 '.role + " " + .disk')"

((${#FAILED[@]} == 0)) || fail "${#FAILED[@]} case(s) failed: ${FAILED[*]}"
log "every hostile packet refused with a reason, no oops"

# 5. rmmod with the device attached while GET_DEVICE dumps come as fast as
# they go ("peer.py flood"): a dump in progress holds a reference on the
# module, so one rmmod may be refused as "in use" (rmmod does not wait); a
# few tries must unload it, the flood must see the family go, no oops
lab_bg h1 python3 "$PEER" flood 60
flood=$LAB_BG_ID
# python starts slowly under TCG: an rmmod before its first request proves
# nothing (CI once unloaded the module first: "no dtrbd family")
lab_bg_wait_line h1 "$flood" '^flooding' 60 || fail "peer.py flood did not start"
sleep 0.5
unloaded=0
for try in $(seq 1 50); do
	if lab_exec h1 "rmmod dtrbd" 2>/dev/null; then
		unloaded=$try
		break
	fi
	sleep 0.2
done
((unloaded > 0)) || fail "rmmod dtrbd with a device attached under a GET_DEVICE flood: refused 50 times"
lab_bg_wait h1 "$flood" 90 || fail "peer.py flood: $(cat "$(lab_bg_log h1 "$flood")")"
log "rmmod under a GET_DEVICE flood: unloaded at try $unloaded; flood: $(tail -n 1 "$(lab_bg_log h1 "$flood")")"
lab_exec h1 "! lsmod | grep -q '^dtrbd '" || fail "dtrbd still loaded after rmmod"
