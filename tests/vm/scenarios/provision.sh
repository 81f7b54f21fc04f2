#!/bin/bash
# description: dtrbdctl provision from an empty LVM volume group on each host (a real systemd-udevd running in both): vm1 provisioned from p1 (preferred p1) and vm2 from p2 (preferred p2), each with its domain XML on /dev/dtrbd/by-res/NAME; the other host's half goes through the peer control channel; both hosts end with the same dtrbd.conf, tagged volumes of one size, no initial sync (nothing resynced, nothing out of sync), the domains running on their preferred hosts; bad input (existing name, bad size, unknown volume group, too large) is refused with nothing created; a third resource is provisioned and deprovisioned, which gives the configuration back byte for byte and removes its volumes on both; then p1's power is pulled and vm1 fails over to p2 with its counter continuing
# also: failover
# timeout: 900
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../vm.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../cluster.sh"

vm_start_cluster --disk-mib 320
for h in p1 p2; do
	# udev for /dev/dtrbd/by-res (the worktree's rules) and for LVM's
	# device nodes, as on a booted host.
	lab_exec "$h" "mkdir -p /etc/udev/rules.d && cp $DT_TOP/udev/60-dtrbd.rules /etc/udev/rules.d/" ||
		fail "installing the udev rules on $h"
	lab_exec "$h" "setsid -f /lib/systemd/systemd-udevd </dev/null >/tmp/udevd.log 2>&1" ||
		fail "systemd-udevd did not start on $h"
	lab_exec_timeout 60 "$h" "udevadm control --ping --timeout=20 && udevadm trigger --action=add && udevadm settle --timeout=50" ||
		fail "systemd-udevd does not answer on $h"
	lab_exec_timeout 120 "$h" "export LVM_SUPPRESS_FD_WARNINGS=1; pvcreate -q /dev/vda && vgcreate -q vg0 /dev/vda" ||
		fail "creating the volume group vg0 on $h"
	mkdir -p "$(lab_host_dir "$h")/vm"
done
cl_config
cl_witness_start
cl_daemon_start p1
cl_daemon_start p2
for h in p1 p2; do cl_wait "$h" '.host != null' 60 "dtrbdd answering on $h"; done

conf_sum() { lab_exec "$1" "sha256sum </etc/dtrbd/dtrbd.conf" | cut -d' ' -f1; }
lvs_of() { lab_exec "$1" "LVM_SUPPRESS_FD_WARNINGS=1 lvs --noheadings -o lv_name,lv_size,lv_tags --units b vg0" | tr -s ' ' | sort; }
same_conf() {
	local a b
	a=$(conf_sum p1) b=$(conf_sum p2)
	[[ -n "$a" && "$a" == "$b" ]] || fail "$1: dtrbd.conf differs between p1 ($a) and p2 ($b)"
}

# ---- provision vm1 from p1, vm2 from p2 ---------------------------------------
xml() { vm_xml "$1" "/dev/dtrbd/by-res/$1" >"$(lab_host_dir "$2")/vm/$1.xml"; }
xml vm1 p1
t0=$EPOCHREALTIME
out=$(lab_exec_timeout 300 p1 "$DT_CTL" provision vm1 --size 64M --vg vg0 --domain-xml /lab/vm/vm1.xml 2>&1) ||
	{ echo "$out" >&2; tail -n 30 "$(cl_log p2)" >&2; fail "provision vm1 on p1 failed"; }
log "provision vm1 ($(_lab_since "$t0") s): $(tail -n 1 <<<"$out")"
grep -q "^provisioned 'vm1': /dev/dtrbd0 (port 7700) on p1 and p2" <<<"$out" || fail "provision vm1 said: $out"
xml vm2 p2
out=$(lab_exec_timeout 300 p2 "$DT_CTL" provision vm2 --size 48M --vg vg0 --preferred p2 --domain-xml /lab/vm/vm2.xml --json 2>&1) ||
	{ echo "$out" >&2; fail "provision vm2 on p2 failed"; }
[[ $(jq -r '.ok' <<<"$out") == true && $(jq -r '.minor' <<<"$out") == 1 ]] || fail "provision vm2 --json: $out"
log "provision vm2 --json: $(jq -c '[.steps[] | "\(.step)@\(.host)"]' <<<"$out")"
same_conf "after two provisions"
for h in p1 p2; do
	lab_exec "$h" "grep -q '^\[resources.vm1\]' /etc/dtrbd/dtrbd.conf && grep -q '^\[resources.vm2\]' /etc/dtrbd/dtrbd.conf && $DT_CTL check-config >/dev/null" ||
		fail "dtrbd.conf on $h lacks the resources or does not check"
	lab_exec "$h" "grep -q '<source dev=.\/dev\/dtrbd\/by-res\/vm1.' /etc/dtrbd/domains/vm1.xml" ||
		fail "no /etc/dtrbd/domains/vm1.xml naming /dev/dtrbd/by-res/vm1 on $h"
done
l1=$(lvs_of p1) l2=$(lvs_of p2)
[[ "$l1" == "$l2" ]] || fail "the volumes differ: p1: $l1 / p2: $l2"
grep -q "vm1 .*dtrbd-provisioned" <<<"$l1" && grep -q "vm2 .*dtrbd-provisioned" <<<"$l1" ||
	fail "the volumes are not tagged: $l1"
log "volumes on both hosts: $(tr '\n' ';' <<<"$l1")"

cl_res_wait p1 vm1 '.connection == "connected" and .disk == "uptodate" and .peer_disk == "uptodate" and
	.primary == "p1" and .vm.state == "running" and .vm.host == "p1"' 240 "vm1 up, in sync, running on p1"
cl_res_wait p2 vm2 '.connection == "connected" and .disk == "uptodate" and .peer_disk == "uptodate" and
	.primary == "p2" and .vm.state == "running" and .vm.host == "p2"' 240 "vm2 up, in sync, running on p2"
lab_exec p1 "readlink -f /dev/dtrbd/by-res/vm1" | grep -qx /dev/dtrbd0 || fail "no /dev/dtrbd/by-res/vm1 on p1"
# No initial sync: nothing was ever resynced, nothing is out of sync.
for h in p1 p2; do
	for m in 0 1; do
		s=$(dt "$h" status "$m" --json) || fail "status $m on $h"
		[[ $(jq -r '"\(.rs_sent_bytes // 0) \(.rs_received_bytes // 0) \(.oos_bytes // 0)"' <<<"$s") == "0 0 0" ]] ||
			fail "dtrbd$m on $h resynced or is out of sync after provision: $s"
	done
done
vm_wait_counter p1 vm1 5 180 >/dev/null
vm_wait_counter p2 vm2 5 180 >/dev/null
cl_assert_one_primary "after provisioning"
log "vm1 runs on p1, vm2 on p2, no resync"

# ---- refusals: one sentence each, nothing created --------------------------------
before_c=$(conf_sum p1) before_l1=$(lvs_of p1) before_l2=$(lvs_of p2)
refuse() {
	local want=$1 out
	shift
	out=$(lab_exec_timeout 120 p1 "$DT_CTL" provision "$@" 2>&1) && fail "provision $* succeeded"
	grep -qF -- "$want" <<<"$out" || fail "provision $*: expected '$want', got: $out"
	[[ $(conf_sum p1) == "$before_c" && $(conf_sum p2) == "$before_c" ]] || fail "provision $* changed dtrbd.conf"
	[[ $(lvs_of p1) == "$before_l1" && $(lvs_of p2) == "$before_l2" ]] || fail "provision $* left volumes"
	log "refused: provision $*: $(tail -n 1 <<<"$out")"
}
refuse "a resource 'vm1' is in" vm1 --size 16M --vg vg0
refuse "invalid size '12Q'" vm9 --size 12Q --vg vg0
refuse "volume group vg7" vm9 --size 16M --vg vg7
refuse "bytes free" vm9 --size 1G --vg vg0

# ---- provision and deprovision vm3: back to the file it was ----------------------
out=$(lab_exec_timeout 300 p1 "$DT_CTL" provision vm3 --size 16M --vg vg0 --preferred p2 2>&1) ||
	{ echo "$out" >&2; fail "provision vm3 failed"; }
cl_res_wait p2 vm3 '.connection == "connected" and .primary == "p2"' 240 "vm3 up on p2"
for h in p1 p2; do lab_exec "$h" "$DT_CTL" down vm3 >/dev/null || fail "down vm3 on $h"; done
cl_res_wait p2 vm3 '.role != "primary"' 60 "vm3 demoted"
out=$(lab_exec_timeout 300 p1 "$DT_CTL" deprovision vm3 2>&1) || { echo "$out" >&2; fail "deprovision vm3 failed"; }
log "deprovision vm3: $(tr '\n' ' ' <<<"$out")"
grep -q "released on both; the volumes vg0/vm3 are removed" <<<"$out" || fail "deprovision vm3 said: $out"
[[ $(conf_sum p1) == "$before_c" && $(conf_sum p2) == "$before_c" ]] || fail "deprovision vm3 did not give dtrbd.conf back byte for byte"
[[ $(lvs_of p1) == "$before_l1" && $(lvs_of p2) == "$before_l2" ]] || fail "deprovision vm3 left volumes: $(lvs_of p1)"
for h in p1 p2; do
	lab_exec "$h" "test ! -e /sys/block/dtrbd2" || fail "/dev/dtrbd2 still exists on $h after deprovision"
done

# ---- the provisioned VM fails over like any other --------------------------------
b1=$(vm_boots p2 vm1)
t0=$EPOCHREALTIME
lab_power_off p1 --now
last1=$(vm_last_counter p1 vm1)
log "p1's power pulled; vm1's last counter on p1: $last1"
vm_wait_boot p2 vm1 "$b1" 180 "$t0"
((VM_LAST >= last1 && VM_FIRST > last1)) || fail "vm1 on p2 found $VM_LAST, first $VM_FIRST, but p1 acknowledged $last1"
cl_res_wait p2 vm1 '.primary == "p2" and .role == "primary" and .vm.host == "p2"' 60 "vm1 Primary and running on p2"
echo "failover of provisioned vm1: pull -> first counter on p2 ${VM_BOOT_SECS}s (found $VM_LAST, p1 had $last1)"
log "provision: done"
