#!/bin/bash
# description: fio crc32c-verified random writes of mixed sizes on the Primary, verified on the other host after a role switch
# timeout: 600
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

dt_start 2
dt_setup_pair h1 h2 0

# one line: the guest agent runs the command as a script
job="--name=v --filename=/dev/dtrbd0 --direct=1 --ioengine=libaio --iodepth=16"
job+=" --rw=randwrite --bsrange=4k-128k --size=48M --verify=crc32c --randrepeat=1"
job+=" --random_generator=tausworthe64 --verify_fatal=1 --output-format=terse"
lab_exec h1 "fio $job --do_verify=0 >/lab/fio-write.log 2>&1" ||
	fail "fio write phase failed on h1: $(grep -v '^3;' "$(lab_host_dir h1)/fio-write.log" | tail -n 3)"
log "fio wrote 48 MiB of verified blocks on h1"
dt_wait h1 0 '.in_flight == 0' 30 "no writes in flight"

dt h1 secondary 0
dt h2 primary 0
lab_exec h2 "fio $job --verify_only >/lab/fio-verify.log 2>&1" ||
	fail "fio verify failed on h2: $(grep -v '^3;' "$(lab_host_dir h2)/fio-verify.log" | tail -n 3)"
log "fio verified every block on h2"
