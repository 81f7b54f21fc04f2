#!/bin/bash
# description: bad input to every command gives one clear sentence, no oops, state unchanged
# timeout: 400
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

dt_start 1
lab_exec h1 "modprobe loop && truncate -s 512K /tmp/small && truncate -s 64M /tmp/big && losetup /dev/loop0 /tmp/small && losetup /dev/loop1 /tmp/big" ||
	fail "loop devices"

dt_expect_fail h1 "(no such|does not exist|No such)" create-md --disk /nonexistent
dt_expect_fail h1 "too small" create-md --disk /dev/loop0
dt_expect_fail h1 "(no such|does not exist|No such)" attach 0 --disk /nonexistent
dt_expect_fail h1 "no dtrbd metadata" attach 0 --disk /dev/loop1
dt_expect_fail h1 "out of range" attach 256 --disk /dev/vda
dt_expect_fail h1 "out of range|invalid" attach -1 --disk /dev/vda
dt_expect_fail h1 "not attached|no such device" status 7
dt_expect_fail h1 "not attached|no such device" primary 7

dt h1 create-md --disk /dev/vda --force >/dev/null
dt h1 create-md --disk /dev/loop1 --force >/dev/null
dt_expect_fail h1 "already has dtrbd metadata" create-md --disk /dev/vda
dt h1 attach 0 --disk /dev/vda
before=$(dt h1 status 0 --json | jq -c 'del(.written_bytes, .sent_bytes, .received_bytes)')
dt_expect_fail h1 "attached already|exists" attach 0 --disk /dev/loop1
dt_expect_fail h1 "in use" attach 1 --disk /dev/vda
dt_expect_fail h1 "protocol" connect 0 --local 10.99.0.1:7700 --peer 10.99.0.2:7700 --protocol D
dt_expect_fail h1 "address|endpoint|IP|port" connect 0 --local 10.99.0.1 --peer 10.99.0.2:7700
dt_expect_fail h1 "could not connect|timed out|within" connect 0 --local 10.99.0.1:7700 --peer 10.99.0.2:7700 --timeout 3
dt_expect_fail h1 "Inconsistent" primary 0
dt_expect_fail h1 "requires an argument|minor|missing|MINOR" attach
dt_expect_fail h1 "unknown|unrecognised|unrecognized|invalid" frobnicate 0
after=$(dt h1 status 0 --json | jq -c 'del(.written_bytes, .sent_bytes, .received_bytes)')
assert_eq "$after" "$before" "device state changed by refused commands"

# the device still works after all that
dt h1 primary 0 --force
lab_exec h1 "dd if=/dev/urandom of=/dev/dtrbd0 bs=64k count=16 oflag=direct status=none" || fail "device unusable after bad input"
dt h1 secondary 0
dt h1 detach 0
lab_exec h1 "test ! -e /dev/dtrbd0" || fail "/dev/dtrbd0 still exists after detach"
dt_expect_fail h1 "not attached|no such device" detach 0
log "every bad input refused with one sentence; device unchanged and usable"
