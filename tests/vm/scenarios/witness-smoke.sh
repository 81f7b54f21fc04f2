#!/bin/bash
# description: dtrbd-witness on a third guest answers authenticated requests from h1 and h2 over the lab network, refuses a stale claim, and its state file survives a power pull
# timeout: 420
set -euo pipefail
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

TOP=$(cd "$LAB_ROOT/../.." && pwd)
W="$TOP/build/ctl/witness/dtrbd-witness"
[[ -x "$W" ]] || fail "build $W first (cmake --build build --target dtrbd-witness)"
WADDR=10.99.0.3:7790
SECRET=$(head -c 32 /dev/urandom | base64)

# Every guest gets the same secret, readable by root only (the witness
# and its clients refuse a secret file others can read).
lab_guest_setup "umask 077; echo '$SECRET' >/etc/dtrbd-secret"
lab_start 3 --mem 512

# The witness keeps its state on a real disk (ext4 on /dev/vda), so the
# power pull below loses its page cache: only what was fsynced survives.
# The lease is long so that the refusals below do not depend on TCG timing.
start_witness() {
	lab_exec h3 "mkdir -p /var/lib/dtrbd-witness && mount /dev/vda /var/lib/dtrbd-witness" ||
		fail "mount the witness's state disk"
	lab_bg h3 "echo \$\$ >/run/dtrbd-witness.pid; exec $W --listen $WADDR --secret-file /etc/dtrbd-secret --state-dir /var/lib/dtrbd-witness --lease-ms 60000"
	WBG=$LAB_BG_ID
	lab_bg_wait_line h3 "$WBG" "listening on" 30 || fail "dtrbd-witness did not start on h3"
}

ask() {	# ask HOST ARGS...: one client request as HOST; prints the JSON
	local h=$1
	shift
	lab_exec h1 "$W --status --connect $WADDR --secret-file /etc/dtrbd-secret --as $h $*"
}

lab_exec h3 "mkfs.ext4 -q -F /dev/vda" || fail "mkfs on h3"
start_witness

out=$(ask h1 vm1) || fail "h1 got no answer from the witness: $out"
[[ $(jq -r .reachable <<<"$out") == true ]] || fail "witness not reachable: $out"
[[ $(jq -c .resources.vm1 <<<"$out") == null ]] || fail "a new witness already has a record: $out"
log "h1 reached the witness over the lab network"

# A lone host cannot create a record; an in-sync report can.
if out=$(ask h2 --request claim vm1 vm1); then fail "a lone claim was granted: $out"; fi
[[ $(jq -r .request.message <<<"$out") == *"no record of vm1"* ]] || fail "wrong refusal: $out"
out=$(ask h1 --request uptodate vm1 --peer h2 vm1) || fail "uptodate refused: $out"
out=$(ask h1 --request claim vm1 vm1) || fail "claim refused: $out"
[[ $(jq -r .resources.vm1.holder <<<"$out") == h1 ]] || fail "h1 is not the holder: $out"
if out=$(ask h2 --request claim vm1 vm1); then fail "h2 took vm1 from a live holder: $out"; fi
[[ $(jq -r .request.message <<<"$out") == *"held by h1"* ]] || fail "wrong refusal: $out"
out=$(ask h1 --request outdate vm1 vm1) || fail "outdate refused: $out"
[[ $(jq -c .resources.vm1.current <<<"$out") == '["h1"]' ]] || fail "current is not {h1}: $out"
epoch=$(jq -r .resources.vm1.epoch <<<"$out")
log "h1 holds vm1 and went on alone at epoch $epoch"

# Power pull of the witness right after its answer.
lab_power_off h3 --now
lab_power_on h3
start_witness
dump=$(lab_exec h3 "$W --dump --state-dir /var/lib/dtrbd-witness") || fail "--dump failed"
[[ $(jq -r .resources.vm1.holder <<<"$dump") == h1 &&
   $(jq -r .resources.vm1.epoch <<<"$dump") == "$epoch" &&
   $(jq -c .resources.vm1.current <<<"$dump") == '["h1"]' ]] ||
	fail "the state did not survive the power pull: $dump"
log "the state file survived the power pull (epoch $epoch)"

# The stale host is still refused after the restart, with the reason.
if out=$(ask h2 --request claim vm1 vm1); then fail "stale h2 was granted vm1: $out"; fi
msg=$(jq -r .request.message <<<"$out")
[[ "$msg" == "h2's copy of vm1 is not current: h1 went on alone at epoch $epoch"* ]] ||
	fail "wrong refusal after restart: $msg"

# Another secret is ignored (no answer), and logged.
lab_exec h1 "umask 077; head -c 32 /dev/urandom | base64 >/tmp/other-secret"
if lab_exec h1 "$W --status --connect $WADDR --secret-file /tmp/other-secret --as h1 vm1" >/dev/null 2>&1; then
	fail "a client with another secret got an answer"
fi

# SIGTERM: clean exit; one log line per decision.
lab_exec h3 "kill -TERM \$(cat /run/dtrbd-witness.pid)" || fail "no dtrbd-witness to stop"
rc=0; lab_bg_wait h3 "$WBG" 30 || rc=$?
[[ "$rc" == 0 ]] || fail "dtrbd-witness exited $rc on SIGTERM"
wlog=$(lab_bg_log h3 "$WBG")
grep -q "claim vm1 from h2: refused: h2's copy of vm1 is not current" "$wlog" || fail "refusal not logged"
grep -q "signed with another secret" "$wlog" || fail "the wrong secret was not logged"
grep -q "exiting on" "$wlog" || fail "no exit line"
log "witness-smoke: ok"
