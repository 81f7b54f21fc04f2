#!/bin/bash
# description: lab p1/p2/witness; a nested KVM service VM (libvirt in the host guests) writes counters to the replicated device on p1; destroyed there, roles switched, started on p2: it finds every counter p1 acknowledged; a Secondary refuses to run it; ACPI shutdown stops it cleanly
# timeout: 900
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../vm.sh"

vm_start_cluster --disk-mib 128
# issue 7's addresses: p1=10.99.0.1, p2=10.99.0.2, witness=10.99.0.3
assert_eq "$(lab_ip witness)" 10.99.0.3 "witness address"
lab_exec p1 "ping -c 1 -W 5 witness >/dev/null && ping -c 1 -W 5 p2 >/dev/null" ||
	fail "p1 cannot reach witness or p2 by name"
assert_eq "$(lab_exec witness 'hostname; lsmod | grep -c ^dtrbd || true; pgrep -c libvirtd || true' | tr '\n' ' ')" \
	"witness 0 0 " "witness: a plain guest"
dt_setup_pair_fresh p1 p2 0
for h in p1 p2; do vm_define "$h" vm1 /dev/dtrbd0; done
assert_eq "$(vm_state p1 vm1)" "shut off" "vm1 on p1 after define"

# p2 is Secondary: its device refuses the open, so libvirt cannot start vm1
# there (the device itself keeps a second copy from writing).
if err=$(vm_start p2 vm1 2>&1); then
	fail "vm1 started on p2 while p2 is Secondary"
fi
log "refused on the Secondary as expected: $(tail -n 1 <<<"$err")"
assert_eq "$(vm_state p2 vm1)" "shut off" "vm1 on p2 after the refused start"

# p1: boot, counters increase
vm_start p1 vm1 || fail "virsh start vm1 on p1 failed"
vm_wait_started p1 vm1 180
log "vm1 on p1: boot to first counter ${VM_BOOT_SECS}s (last=$VM_LAST first=$VM_FIRST)"
assert_eq "$VM_LAST" 0 "counter found on a fresh device"
((VM_FIRST == 1)) || fail "first counter on p1 is $VM_FIRST, not 1"
t0=$EPOCHREALTIME
c=$(vm_wait_counter p1 vm1 $((VM_FIRST + 10)) 60)
log "vm1 on p1: counter $c, $((c - VM_FIRST)) writes in $(_lab_since "$t0")s"
assert_eq "$(vm_state p1 vm1)" running "vm1 on p1"

# libvirtd restarts under the running domain: LibvirtDriver (in
# dtrbd-vmprobe, polling its event descriptor as dtrbdd does) reports the
# lost connection, reconnects and finds vm1 still running; vm1's counters
# never stop.
[[ -x "$VM_PROBE" ]] || fail "no $VM_PROBE: build first (cmake --build build)"
lab_bg p1 "$VM_PROBE" qemu:///system vm1 90
probe=$LAB_BG_ID
plog=$(lab_bg_log p1 "$probe")
for ((i = 0; i < 100; i++)); do
	grep -q '^state vm1 running$' "$plog" 2>/dev/null && break
	sleep 0.2
done
grep -q '^state vm1 running$' "$plog" || fail "dtrbd-vmprobe did not see vm1 running: $(cat "$plog")"
c=$(vm_last_counter p1 vm1)
t0=$EPOCHREALTIME
vm_libvirtd_restart p1
for ((i = 0; i < 300; i++)); do
	[[ $(grep -c '^state vm1 running$' "$plog") -ge 2 ]] && break
	sleep 0.2
done
log "dtrbd-vmprobe across the libvirtd restart: $(tr '\n' ';' <"$plog")"
grep -q '^event connection-lost - ' "$plog" || fail "LibvirtDriver did not report the lost connection"
grep -q '^event connection-restored ' "$plog" || fail "LibvirtDriver did not reconnect after the libvirtd restart"
[[ $(grep -c '^state vm1 running$' "$plog") -ge 2 ]] || fail "after reconnecting, vm1 is not running"
log "libvirtd restarted; LibvirtDriver reconnected in $(_lab_since "$t0")s"
vm_wait_counter p1 vm1 $((c + 5)) 60 >/dev/null
lab_exec p1 "kill -- -\$(cat /lab/bg/$probe.pid)" || true

# destroy (a power pull of the service VM), switch roles
vm_destroy p1 vm1 || fail "virsh destroy vm1 on p1 failed"
assert_eq "$(vm_state p1 vm1)" "shut off" "vm1 on p1 after destroy"
c1=$(vm_last_counter p1 vm1)
log "vm1 destroyed on p1; its last acknowledged counter: $c1"
dt p1 secondary 0 || fail "secondary on p1 (is vm1 still holding /dev/dtrbd0?)"
dt p2 primary 0 || fail "primary on p2"

# p2: the boot finds at least every counter p1 acknowledged
vm_start p2 vm1 || fail "virsh start vm1 on p2 failed"
vm_wait_started p2 vm1 180
log "vm1 on p2: boot to first counter ${VM_BOOT_SECS}s (last=$VM_LAST first=$VM_FIRST)"
((VM_LAST >= c1)) || fail "vm1 on p2 found counter $VM_LAST on its disk, but p1 acknowledged $c1"
((VM_LAST <= c1 + 1)) || fail "vm1 on p2 found counter $VM_LAST, more than one past p1's last $c1"
((VM_FIRST == VM_LAST + 1)) || fail "vm1 on p2 went on with $VM_FIRST after last=$VM_LAST"
vm_wait_counter p2 vm1 $((VM_FIRST + 5)) 60 >/dev/null

# ACPI shutdown: the service VM stops after its write in progress
vm_shutdown p2 vm1 || fail "virsh shutdown vm1 on p2 failed"
t0=$EPOCHREALTIME
vm_wait_state p2 vm1 "shut off" 60
log "vm1 on p2: ACPI shutdown took $(_lab_since "$t0")s"
tr -d '\r' <"$(vm_serial p2 vm1)" | grep -q '^stopped counter=' ||
	fail "vm1 on p2 did not stop its counter on the power button"
c2=$(vm_last_counter p2 vm1)
dt p2 secondary 0 || fail "secondary on p2 after the shutdown"
dt_wait_synced p1 p2 0 60
log "vm1: counters p1 1..$c1, p2 $VM_FIRST..$c2; devices in sync"
