#!/bin/bash
# description: a CONNECT that races the previous connection's teardown (fault_teardown_delay_ms widens the window): the new connection keeps its own resources, no oops (issue 6, defect 4)
# timeout: 300
# expect-kernel: peer answered unknown verify request
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

# The teardown of a connection used to go StandAlone, drop state_mutex and
# only then free the receive page: a CONNECT in between installed its own
# page, which the old teardown then freed, and the new receiver wrote
# through a NULL page. tools/peer.py is the peer (a loopback socket handed
# to the module); each round it connects inside the previous teardown's
# window, then makes the receiver use its page.
PEER="$DT_TOP/tests/vm/tools/peer.py"
ROUNDS=3

dt_start 1 --disk-mib 64
dt h1 create-md --disk /dev/vda --force >/dev/null
dt h1 attach 0 --disk /dev/vda
dt h1 primary 0 --force >/dev/null
dt h1 secondary 0 >/dev/null
lab_exec h1 "echo 1500 > /sys/module/dtrbd/parameters/fault_teardown_delay_ms" ||
	fail "cannot set fault_teardown_delay_ms"
out=$(lab_exec h1 "python3 $PEER connect-race 0 $ROUNDS" 2>&1) ||
	fail "connect-race: $out"
log "$out"
lab_exec h1 "echo 0 > /sys/module/dtrbd/parameters/fault_teardown_delay_ms"
dt_wait h1 0 '.connection == "standalone" and .disk == "uptodate"' 30 "StandAlone, UpToDate after the races"
# the device still connects and disconnects normally
out=$(lab_exec h1 "python3 $PEER connect-race 0 1" 2>&1) || fail "a connection after the races: $out"
dt h1 detach 0
log "$ROUNDS connects raced their predecessors' teardowns: no oops, device intact"
