#!/bin/bash
# description: dtrbdd on p1 and p2; vm1 on p1; the witness guest is powered off, then p1's power is pulled: p2 does not promote and cluster --json's blocked says why
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
