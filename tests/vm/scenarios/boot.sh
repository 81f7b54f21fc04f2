#!/bin/bash
# description: installed systems: p1, p2 and the witness boot a real Debian 12 root file system (mmdebstrap, cached) with systemd as PID 1 and dtrbd's own .deb packages installed by apt (DKMS builds the module for the image's kernel); the operator only creates a volume group, writes the cluster part of dtrbd.conf and the witness's listen address, and starts the services; vm1 and vm2 are provisioned with dtrbdctl provision; then both hosts are rebooted and everything comes back by itself (module at boot, udev links, dtrbd.service attaches, connects and starts each VM on its preferred host); systemctl reboot of p1 (vm1's Primary) hands vm1 over cleanly (ACPI shutdown, no crashed-primary activity-log resync after the reboot, vm2 untouched) and vm1 returns to p1; systemctl stop dtrbd leaves VMs and devices running and a start adopts them; a power pull of p1 fails vm1 over and p1's next boot recovers by itself
# timeout: 1800
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../vm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../cluster.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../rootfs.sh"

# The installed programs, not the build tree's.
DT_CTL=/usr/sbin/dtrbdctl
DTRBDD=/usr/sbin/dtrbdd

rootfs_debs
rootfs_image "$ROOTFS_DEBS" || fail "cannot build the installed-system image"
log "image $ROOTFS_IMAGE (kernel $ROOTFS_KVER)"
# The service VMs' kernel and initramfs (vm.sh), under the same path on both
# hosts: /lab/svc is each host's own share.
vm_image
svc_kernel=$VM_KERNEL svc_initrd=$VM_INITRD
VM_KERNEL=/lab/svc/vmlinuz VM_INITRD=/lab/svc/initrd

lab_start 3 --names p1,p2,witness --rootfs --mem 512 --mem-of p1=2048 --mem-of p2=2048 --disk-mib 320
for h in p1 p2; do
	mkdir -p "$(lab_host_dir "$h")/svc" "$(lab_host_dir "$h")/vm"
	cp "$svc_kernel" "$(lab_host_dir "$h")/svc/vmlinuz"
	cp "$svc_initrd" "$(lab_host_dir "$h")/svc/initrd"
done

# ---- what the installation did by itself ---------------------------------------
for h in p1 p2 witness; do
	[[ $(lab_exec "$h" "readlink /proc/1/exe") == */systemd ]] || fail "$h: PID 1 is not systemd"
	st=$(lab_exec_timeout 200 "$h" "systemctl is-system-running --wait" || true)
	if [[ "$st" != running ]]; then
		lab_exec "$h" "systemctl --failed --no-pager; journalctl -b --no-pager -p warning | tail -n 40" >&2 || true
		fail "$h: the system is '$st' after boot, not 'running'"
	fi
done
for h in p1 p2; do
	lab_exec "$h" "dpkg-query -W -f='\${Status}\n' dtrbd-dkms dtrbd-utils | grep -c 'install ok installed'" | grep -qx 2 ||
		fail "$h: dtrbd-dkms and dtrbd-utils are not installed"
	lab_exec "$h" "modinfo -n dtrbd" | grep -q "/updates/dkms/dtrbd.ko" || fail "$h: dtrbd.ko is not DKMS's"
	lab_exec "$h" "test -d /sys/module/dtrbd" || fail "$h: the module was not loaded at boot (modules-load.d)"
	lab_exec "$h" "systemctl is-enabled dtrbd.service dtrbd-shutdown.service" >/dev/null ||
		fail "$h: the package did not enable dtrbd.service and dtrbd-shutdown.service"
	# No configuration yet: the unit is skipped by its condition, not failed.
	[[ $(lab_exec "$h" "systemctl show -P ConditionResult dtrbd.service") == no ]] ||
		fail "$h: dtrbd.service was not skipped for want of /etc/dtrbd/dtrbd.conf"
	lab_exec "$h" "test -c /dev/kvm" || fail "$h: no /dev/kvm (kvm_amd)"
done
log "installed: systemd PID 1 on all three, dtrbd.ko built by DKMS and loaded at boot, units enabled"

# ---- the operator's part: a volume group, the cluster, the witness --------------
for h in p1 p2; do
	lab_exec_timeout 120 "$h" "export LVM_SUPPRESS_FD_WARNINGS=1; pvcreate -q /dev/vda && vgcreate -q vg0 /dev/vda" ||
		fail "creating the volume group vg0 on $h"
done
cl_config
lab_exec witness "echo DTRBD_WITNESS_LISTEN=$CL_WADDR >/etc/default/dtrbd-witness && systemctl restart dtrbd-witness" ||
	fail "starting dtrbd-witness.service"
for h in p1 p2; do
	lab_exec_timeout 120 "$h" "systemctl start dtrbd" || {
		lab_exec "$h" "journalctl -b -u dtrbd --no-pager | tail -n 30" >&2 || true
		fail "systemctl start dtrbd on $h"
	}
done
lab_exec witness "systemctl is-active dtrbd-witness" >/dev/null || fail "dtrbd-witness.service is not active"
for h in p1 p2; do cl_wait "$h" '.witness.reachable == true' 60 "dtrbdd on $h reaching the witness"; done

# ---- provision two VMs --------------------------------------------------------------
xml() { vm_xml "$1" "/dev/dtrbd/by-res/$1" >"$(lab_host_dir "$2")/vm/$1.xml"; }
xml vm1 p1
out=$(lab_exec_timeout 300 p1 "$DT_CTL" provision vm1 --size 64M --vg vg0 --domain-xml /lab/vm/vm1.xml 2>&1) ||
	{ echo "$out" >&2; fail "provision vm1 on p1 failed"; }
log "provision vm1: $(tail -n 1 <<<"$out")"
xml vm2 p2
out=$(lab_exec_timeout 300 p2 "$DT_CTL" provision vm2 --size 48M --vg vg0 --preferred p2 --domain-xml /lab/vm/vm2.xml 2>&1) ||
	{ echo "$out" >&2; fail "provision vm2 on p2 failed"; }
log "provision vm2: $(tail -n 1 <<<"$out")"

# in_place: both resources connected and in sync, each VM running on its
# preferred host and writing.
in_place() {
	cl_res_wait p1 vm1 '.connection == "connected" and .disk == "uptodate" and .peer_disk == "uptodate" and
		.primary == "p1" and .vm.state == "running" and .vm.host == "p1"' "$1" "vm1 in sync, running on p1 ($2)"
	cl_res_wait p2 vm2 '.connection == "connected" and .disk == "uptodate" and .peer_disk == "uptodate" and
		.primary == "p2" and .vm.state == "running" and .vm.host == "p2"' "$1" "vm2 in sync, running on p2 ($2)"
	cl_assert_one_primary "$2"
}
in_place 300 "after provisioning"
vm_wait_counter p1 vm1 3 240 >/dev/null
vm_wait_counter p2 vm2 3 240 >/dev/null
log "vm1 runs on p1, vm2 on p2"

# crashed_primary HOST: how often this boot's kernel log says a device
# came up from a crashed Primary (the activity log replayed).
crashed_primary() { lab_exec "$1" "dmesg | grep -c 'crashed as Primary' || true"; }

# booted_clean HOST WHAT: after a boot, everything came back by itself.
booted_clean() {
	local h=$1 what=$2 st
	st=$(lab_exec_timeout 240 "$h" "systemctl is-system-running --wait" || true)
	[[ "$st" == running ]] || {
		lab_exec "$h" "systemctl --failed --no-pager; journalctl -b -u dtrbd --no-pager | tail -n 30" >&2 || true
		fail "$h is '$st' after $what, not 'running'"
	}
	lab_exec "$h" "test -d /sys/module/dtrbd" || fail "$h: no module after $what"
	lab_exec "$h" "systemctl is-active dtrbd.service" >/dev/null || fail "$h: dtrbd.service is not active after $what"
}

# ---- both hosts rebooted: everything comes back by itself -------------------------
b1=$(vm_boots p1 vm1) b2=$(vm_boots p2 vm2)
last1=$(vm_last_counter p1 vm1) last2=$(vm_last_counter p2 vm2)
id1=$(lab_boot_id p1) id2=$(lab_boot_id p2)
t0=$EPOCHREALTIME
lab_exec p1 "systemctl reboot" || true
lab_exec p2 "systemctl reboot" || true
lab_wait_reboot p1 "$id1" 400
lab_wait_reboot p2 "$id2" 400
log "both hosts rebooted ($(_lab_since "$t0") s)"
for h in p1 p2; do
	booted_clean "$h" "the reboot"
	lab_exec "$h" "journalctl -b -1 -u dtrbd-shutdown --no-pager" | grep -q "no resource is Primary" ||
		fail "$h: dtrbd-shutdown did not take the resources down at the reboot: $(lab_exec "$h" "journalctl -b -1 -u dtrbd-shutdown --no-pager | tail -n 5")"
done
in_place 400 "after both hosts rebooted"
for h in p1 p2; do
	for n in vm1 vm2; do
		[[ $(lab_exec "$h" "readlink -f /dev/dtrbd/by-res/$n") == /dev/dtrbd? ]] ||
			fail "$h: no /dev/dtrbd/by-res/$n after the reboot"
	done
	lab_exec "$h" "test -b /dev/dtrbd/by-minor/0 && test -b /dev/dtrbd/by-minor/1" || fail "$h: no /dev/dtrbd/by-minor links"
	[[ $(crashed_primary "$h") == 0 ]] || fail "$h: a device came up as a crashed Primary after a clean reboot"
done
vm_wait_boot p1 vm1 "$b1" 300 "$t0"
((VM_LAST >= last1)) || fail "vm1 found $VM_LAST after the reboot, but had written $last1"
vm_wait_boot p2 vm2 "$b2" 300 "$t0"
((VM_LAST >= last2)) || fail "vm2 found $VM_LAST after the reboot, but had written $last2"
log "after the reboot of both: module, links, dtrbd.service, both VMs on their preferred hosts (reboot -> vm2's first counter ${VM_BOOT_SECS}s), no crashed Primary"

# ---- dtrbdctl leaving: the peer control channel end to end ---------------------------
# What dtrbd-shutdown runs when the VMs do not stop in time: p2 shows that
# p1 said it was going down with vm1 (p1 is its Primary), until p1 is heard
# from another boot (its reboot below).
out=$(lab_exec p1 "$DT_CTL leaving --reason 'lab: leaving check'") || fail "dtrbdctl leaving on p1: $out"
[[ "$out" == "p2 noted that p1 is going down with vm1" ]] || fail "dtrbdctl leaving on p1 said: $out"
cl_wait p2 '(.hosts[] | select(.name == "p1") | .leaving) as $l |
	$l.resources == ["vm1"] and $l.reason == "lab: leaving check"' 10 "p2 showing that p1 said it was leaving"
grep -q "p1 says it is going down now with vm1 still Primary or running there (lab: leaving check)" \
	<(lab_exec p2 "journalctl -b -u dtrbd --no-pager") || fail "p2's dtrbdd did not log p1's host-leaving"
log "dtrbdctl leaving on p1: $out; p2 shows it"

# ---- systemctl reboot of p1, vm1's Primary ------------------------------------------
b1=$(vm_boots p2 vm1) b2=$(vm_boots p2 vm2) bp1=$(vm_boots p1 vm1)
last1=$(vm_last_counter p1 vm1)
id1=$(lab_boot_id p1)
t0=$EPOCHREALTIME
lab_exec p1 "systemctl reboot" || true
# vm1 is handed over to p2 while p1 reboots, its counter continuing.
vm_wait_boot p2 vm1 "$b1" 300 "$t0"
((VM_LAST >= last1 && VM_FIRST > last1)) || fail "vm1 on p2 found $VM_LAST, first $VM_FIRST, but p1 had written $last1"
log "p1 rebooting: vm1 handed over to p2 (reboot -> first counter on p2 ${VM_BOOT_SECS}s, found $VM_LAST of $last1)"
lab_wait_reboot p1 "$id1" 400
booted_clean p1 "its reboot"
lab_exec p1 "journalctl -b -1 -u dtrbd-shutdown --no-pager" | grep -q "no resource is Primary" ||
	fail "p1: dtrbd-shutdown did not report a clean hand-over"
[[ $(crashed_primary p1) == 0 ]] || fail "p1 came back from systemctl reboot as a crashed Primary (activity-log resync)"
# failback = "auto": vm1 returns to p1 once p1 has resynced.
vm_wait_boot p1 vm1 "$bp1" 400 "$t0"
in_place 300 "after p1's reboot"
[[ $(vm_boots p2 vm2) == "$b2" ]] || fail "vm2 was restarted while p1 rebooted"
cl_wait p2 '(.hosts[] | select(.name == "p1") | .leaving) == null' 30 "p2 forgetting p1's leaving once p1 is back"
log "p1 back, no crashed Primary, vm1 back on p1 (reboot -> vm1 back on p1 ${VM_BOOT_SECS}s), vm2 untouched on p2"

# ---- systemctl stop dtrbd leaves everything running ----------------------------------
lab_exec p2 "systemctl stop dtrbd" || fail "systemctl stop dtrbd on p2"
c=$(vm_last_counter p2 vm2)
vm_wait_counter p2 vm2 $((c + 3)) 60 >/dev/null
[[ $(vm_state p2 vm2) == running ]] || fail "vm2 stopped with dtrbd.service"
lab_exec p2 "$DT_CTL status 1 --json" | jq -e '.role == "primary"' >/dev/null || fail "dtrbd1 on p2 is no longer Primary with dtrbd.service stopped"
lab_exec_timeout 120 p2 "systemctl start dtrbd" || fail "systemctl start dtrbd on p2"
in_place 120 "after dtrbd.service restarted on p2"
[[ $(vm_boots p2 vm2) == "$b2" ]] || fail "vm2 was restarted by the stop and start of dtrbd.service"
log "systemctl stop dtrbd: vm2 and its device kept running; start adopted them"

# ---- a power pull: failover, and the next boot recovers by itself -----------------------
b1=$(vm_boots p2 vm1) bp1=$(vm_boots p1 vm1)
t0=$EPOCHREALTIME
lab_power_off p1 --now
last1=$(vm_last_counter p1 vm1)
vm_wait_boot p2 vm1 "$b1" 240 "$t0"
((VM_LAST >= last1 && VM_FIRST > last1)) || fail "vm1 on p2 found $VM_LAST, first $VM_FIRST, but p1 acknowledged $last1"
log "p1's power pulled: vm1 on p2 (pull -> first counter ${VM_BOOT_SECS}s)"
t0=$EPOCHREALTIME
lab_power_on p1
booted_clean p1 "the power pull"
[[ $(crashed_primary p1) -ge 1 ]] || fail "p1 did not report its crashed Primary after the power pull"
vm_wait_boot p1 vm1 "$bp1" 400 "$t0"
in_place 300 "after p1's power came back"
log "p1 powered on: recovered by itself (crashed Primary, resync), vm1 back on p1 (power on -> vm1 back ${VM_BOOT_SECS}s)"
log "boot: done"
