#!/bin/bash
# description: dtrbdd on p1 and p2; vm1 on p1; the witness guest is powered off, then p1's power is pulled: p2 does not promote and cluster --json's blocked says why; the witness comes back without its state (its guest lost it with the power): p2 still does not promote, since nothing proves its copy current
# timeout: 480
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../vm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../cluster.sh"

vm_start_cluster --disk-mib 128
cl_up vm1:1:p1
vm_wait_counter p1 vm1 5 120 >/dev/null
lab_power_off witness --now
cl_wait p2 '.witness.reachable == false' 30 "p2 sees the witness unreachable"
lab_power_off p1 --now
cl_wait p2 '.hosts[] | select(.name == "p1") | .alive == false' 30 "p2 sees p1 dead"
cl_res_wait p2 vm1 '.blocked != null' 30 "vm1 blocked on p2"
sleep 15
blocked=$(cl_field p2 '.resources[] | select(.name == "vm1") | .blocked')
log "blocked on p2: $blocked"
[[ "$blocked" == *witness* ]] || fail "blocked does not name the witness: $blocked"
assert_eq "$(dt_field p2 1 .role)" secondary "p2's role without the witness"
assert_eq "$(vm_boots p2 vm1)" 0 "vm1's boots on p2"

# The witness returns, but its state died with its power (the lab's guests
# keep / in RAM): it has no record of vm1, so it cannot vouch for p2's copy
# and p2 must still not promote.
secret=$(lab_exec p2 cat /etc/dtrbd/secret)
lab_power_on witness
lab_exec witness "mkdir -p /etc/dtrbd && umask 077 && printf '%s\n' $secret >/etc/dtrbd/secret" ||
	fail "restoring the secret on the witness"
cl_witness_start
cl_wait p2 '.witness.reachable == true' 30 "p2 reaches the witness again"
sleep 10
blocked=$(cl_field p2 '.resources[] | select(.name == "vm1") | .blocked')
log "blocked on p2 with the witness back: $blocked"
[[ "$blocked" == *"no record"* ]] || fail "blocked does not say that the witness has no record of vm1: $blocked"
assert_eq "$(dt_field p2 1 .role)" secondary "p2's role with a witness that has no record"
assert_eq "$(vm_boots p2 vm1)" 0 "vm1's boots on p2"
log "no-witness: p2 stayed Secondary without the witness and with a witness that cannot vouch for it"
