#!/bin/bash
# description: dtrbdd on p1 and p2 with the witness; vm1 runs on p1; kill -9 of p1's dtrbdd mid-workload: vm1's counters keep increasing, the device stays Primary and connected; the restarted daemon adopts it and the domain is not restarted (one boot)
# timeout: 480
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../vm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../cluster.sh"

vm_start_cluster --disk-mib 128
cl_up vm1:1:p1
c=$(vm_wait_counter p1 vm1 5 120)
boots=$(vm_boots p1 vm1)
cl_daemon_kill p1 KILL || fail "no dtrbdd to kill on p1"
log "dtrbdd on p1 killed at counter $c"
vm_wait_counter p1 vm1 $((c + 10)) 60 >/dev/null
assert_eq "$(dt_field p1 1 .role)" primary "p1's role with its daemon dead"
assert_eq "$(dt_field p1 1 .connection)" connected "p1's connection with its daemon dead"
cl_daemon_start p1
cl_res_wait p1 vm1 '.primary == "p1" and .connection == "connected" and .vm.state == "running"' 60 "adoption on p1"
grep -q 'vm1: found /dev/dtrbd1 primary, connected' "$(cl_log p1)" || fail "the restarted daemon did not log what it adopted"
c=$(vm_last_counter p1 vm1)
vm_wait_counter p1 vm1 $((c + 10)) 60 >/dev/null
sleep 3
assert_eq "$(vm_boots p1 vm1)" "$boots" "vm1's boots on p1 (a restart would add one)"
assert_eq "$(vm_boots p2 vm1)" 0 "vm1's boots on p2"
assert_eq "$(vm_state p1 vm1)" running "vm1 on p1"
log "daemon-restart: vm1 kept writing on p1 ($(vm_last_counter p1 vm1)), one boot, adopted"
