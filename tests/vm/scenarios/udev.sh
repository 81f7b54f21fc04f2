#!/bin/bash
# description: udev links from the module's resource name: a real systemd-udevd in the guest creates /dev/dtrbd/by-res/NAME and /dev/dtrbd/by-minor/N for an attached device, a second trigger keeps them, a device attached without a name gets only by-minor, a refused name creates nothing, detach removes the links
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

log "udev OK"
