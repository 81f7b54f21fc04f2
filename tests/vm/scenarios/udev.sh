#!/bin/bash
# description: udev links from the module's resource name and attach on a backing disk's appearance: a real systemd-udevd in the guest creates /dev/dtrbd/by-res/NAME and /dev/dtrbd/by-minor/N for an attached device, a second trigger keeps them, a device attached without a name gets only by-minor, a refused name creates nothing, detach removes the links; dtrbd.conf names a disk that device-mapper then activates: udev attaches it (named, Secondary), further triggers change nothing, a disk not in the configuration is ignored
# timeout: 600
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

dt_start 1 --disk-mib 32

# The worktree's rules, not the host's installed ones (the guest's root is
# the host's under a tmpfs overlay: this write vanishes at power-off).
lab_exec h1 "mkdir -p /etc/udev/rules.d && cp $DT_TOP/udev/60-dtrbd.rules /etc/udev/rules.d/60-dtrbd.rules" ||
	fail "installing the rules in the guest"
# setsid: out of lab_exec's session, which ends with the command.
lab_exec h1 "setsid -f /lib/systemd/systemd-udevd --debug </dev/null >/tmp/udevd.log 2>&1" ||
	fail "systemd-udevd did not start"
lab_exec_timeout 30 h1 "udevadm control --ping --timeout=20" || fail "systemd-udevd does not answer"
lab_exec_timeout 60 h1 "udevadm trigger --action=add && udevadm settle --timeout=50" ||
	fail "initial udevadm trigger/settle"

settle() { lab_exec_timeout 60 h1 "udevadm settle --timeout=50" || fail "udevadm settle"; }
link_of() { lab_exec h1 "readlink -f $1 2>/dev/null || true"; }

lab_exec h1 "udevadm control --ping --timeout=5" || fail "systemd-udevd died after the first trigger"
dt h1 create-md --disk /dev/vda --force >/dev/null || fail "create-md"
dt h1 attach 3 --disk /dev/vda --name web.data-1 >/dev/null || fail "attach --name"
settle
lab_exec h1 "cat /sys/block/dtrbd3/dtrbd/name" | grep -qx 'web.data-1' ||
	fail "/sys/block/dtrbd3/dtrbd/name does not hold the name"
[[ $(link_of /dev/dtrbd/by-res/web.data-1) == /dev/dtrbd3 ]] || {
	lab_exec h1 "pgrep -a udevd; udevadm info /dev/dtrbd3; grep -v 'Reading rules' /tmp/udevd.log | tail -60" >&2 || true
	fail "no /dev/dtrbd/by-res/web.data-1 -> /dev/dtrbd3 ($(lab_exec h1 'ls -lR /dev/dtrbd 2>&1'))"
}
[[ $(link_of /dev/dtrbd/by-minor/3) == /dev/dtrbd3 ]] || fail "no /dev/dtrbd/by-minor/3 -> /dev/dtrbd3"
out=$(dt h1 status 3 --json) || fail "status --json"
[[ $(jq -r '.name' <<<"$out") == web.data-1 ]] || fail "status --json does not report the name: $out"
dt h1 status 3 | grep -q '^dtrbd3 (web.data-1): ' || fail "status text does not show the name"
log "attach --name: $(lab_exec h1 'ls -l /dev/dtrbd/by-res /dev/dtrbd/by-minor' | tr '\n' ' ')"

# A second (and a third) trigger: a change event carries no name of its
# own; the link must survive it.
links() { lab_exec h1 "find /dev/dtrbd -printf '%p %y %l\\n' | sort"; }
before=$(links)
lab_exec_timeout 60 h1 "udevadm trigger --action=change /sys/block/dtrbd3 && udevadm settle --timeout=50" ||
	fail "second trigger"
lab_exec_timeout 60 h1 "udevadm trigger && udevadm settle --timeout=50" || fail "third trigger"
after=$(links)
[[ $before == "$after" ]] || fail "a second trigger changed /dev/dtrbd: before: $before after: $after"

# Refused names: one sentence, nothing attached. dtrbdctl checks first, so
# ask the module directly too (genl.py sends what it is given).
err=$(dt h1 attach 4 --disk /dev/vda --name '../x' 2>&1) && fail "dtrbdctl attached with the name ../x"
grep -q -- "--name must be 1 to 31 characters" <<<"$err" || fail "refusal without a sentence: $err"
rc=0
err=$(lab_exec h1 "python3 $DT_TOP/tests/vm/tools/genl.py attach-name 4 /dev/vda '../x' 2>&1") || rc=$?
((rc == 1)) || fail "the module attached with the name ../x (rc $rc: $err)"
grep -q "the resource name must be" <<<"$err" || fail "the module refused without saying why: $err"
rc=0
err=$(lab_exec h1 "python3 $DT_TOP/tests/vm/tools/genl.py attach-name 4 /dev/vda $(printf 'n%.0s' {1..32}) 2>&1") || rc=$?
((rc == 1)) || fail "the module attached with a 32-byte name (rc $rc: $err)"
lab_exec h1 "! test -e /dev/dtrbd4" || fail "/dev/dtrbd4 exists after refused attaches"
log "refused names: $err"

# Detach removes both links.
dt h1 detach 3 >/dev/null || fail "detach"
settle
lab_exec h1 "! test -e /dev/dtrbd/by-res/web.data-1 && ! test -e /dev/dtrbd/by-minor/3" ||
	fail "links left after detach: $(lab_exec h1 'ls -lR /dev/dtrbd 2>&1')"

# Without a name: only by-minor, and status reports no name.
dt h1 attach 5 --disk /dev/vda >/dev/null || fail "attach without a name"
settle
[[ $(link_of /dev/dtrbd/by-minor/5) == /dev/dtrbd5 ]] || fail "no by-minor/5 link"
lab_exec h1 "test -z \"\$(ls -A /dev/dtrbd/by-res 2>/dev/null)\"" ||
	fail "a by-res link for a device without a name: $(lab_exec h1 'ls -l /dev/dtrbd/by-res')"
[[ $(dt h1 status 5 --json | jq -r '.name') == null ]] || fail "a name reported for a device without one"
dt h1 detach 5 >/dev/null || fail "detach 5"

# --- A backing disk that appears is attached (61-dtrbd-backing.rules) ---
# dtrbd.conf names the disk by a path that exists only once device-mapper
# activates it (as an LV does at boot); no dtrbdd runs here, so
# udev-attach attaches it itself.
lab_exec h1 "sed 's|@DTRBDCTL@|$DT_CTL|' $DT_TOP/udev/61-dtrbd-backing.rules.in >/etc/udev/rules.d/61-dtrbd-backing.rules &&
	udevadm control --reload && modprobe dm_mod" || fail "installing the backing-disk rule"
lab_exec h1 "mkdir -p /etc/dtrbd && umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' >/etc/dtrbd/secret &&
	cat >/etc/dtrbd/dtrbd.conf <<CONF
secret-file = \"/etc/dtrbd/secret\"
[hosts.h1]
address = \"10.99.0.1\"
[hosts.h2]
address = \"10.99.0.2\"
[resources.lv1]
minor = 7
port = 7707
disk = { h1 = \"/dev/mapper/lab-lv1\", h2 = \"/dev/vg0/lv1\" }
CONF
	$DT_CTL check-config" || fail "writing dtrbd.conf"
sectors=$(lab_exec h1 "blockdev --getsz /dev/vda") || fail "size of /dev/vda"
lab_exec_timeout 60 h1 "dmsetup create lab-lv1 --table '0 $sectors linear /dev/vda 0' && udevadm settle --timeout=50" ||
	fail "dmsetup create lab-lv1"
end=$((EPOCHSECONDS + 30))
until lab_exec h1 "test -e /sys/block/dtrbd7"; do
	((EPOCHSECONDS < end)) || {
		lab_exec h1 "udevadm info /dev/mapper/lab-lv1; grep -E 'udev-attach|dtrbd' /tmp/udevd.log | tail -30" >&2 || true
		fail "the backing disk appeared but /dev/dtrbd7 was not attached within 30 s"
	}
	sleep 0.5
done
settle
out=$(dt h1 status 7 --json) || fail "status 7"
[[ $(jq -r '.name' <<<"$out") == lv1 ]] || fail "attached without the resource's name: $out"
dm=$(lab_exec h1 "readlink -f /dev/mapper/lab-lv1")
[[ $(jq -r '.disk_path' <<<"$out") == "$dm" ]] || fail "attached over $(jq -r '.disk_path' <<<"$out"), not $dm"
[[ $(jq -r '.role' <<<"$out") == secondary ]] || fail "udev attached it as $(jq -r '.role' <<<"$out")"
[[ $(link_of /dev/dtrbd/by-res/lv1) == /dev/dtrbd7 ]] || fail "no /dev/dtrbd/by-res/lv1 link"
log "the backing disk appeared ($dm): attached as dtrbd7 (lv1) by udev"
# More triggers of the backing disk: nothing changes, nothing fails.
before=$(dt h1 status --json | jq -c '[.[] | {minor, name, disk_path, role}]')
lab_exec_timeout 60 h1 "udevadm trigger --action=change $dm && udevadm trigger --action=add $dm && udevadm settle --timeout=50" ||
	fail "triggering the backing disk again"
after=$(dt h1 status --json | jq -c '[.[] | {minor, name, disk_path, role}]')
[[ $before == "$after" ]] || fail "a second trigger changed the devices: before $before after $after"
lab_exec h1 "grep -q 'dtrbd7 (lv1) is attached already over $dm; nothing to do' /tmp/udevd.log" || {
	lab_exec h1 "grep -E 'udev-attach|dtrbdctl' /tmp/udevd.log | tail -20" >&2 || true
	fail "udevd's log does not show udev-attach leaving dtrbd7 as it was"
}
# A disk that is not in dtrbd.conf is ignored.
lab_exec_timeout 60 h1 "dmsetup create lab-other --table '0 32768 zero' && udevadm settle --timeout=50" ||
	fail "dmsetup create lab-other"
after=$(dt h1 status --json | jq -c '[.[] | {minor, name, disk_path, role}]')
[[ $before == "$after" ]] || fail "a disk not in dtrbd.conf changed the devices: $after"
dt h1 detach 7 >/dev/null || fail "detach 7"
lab_exec h1 "dmsetup remove lab-other && dmsetup remove lab-lv1" || fail "cleaning up"

log "udev OK"
