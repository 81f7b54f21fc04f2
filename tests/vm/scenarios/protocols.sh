#!/bin/bash
# description: protocols A, B and C each carry 1 MiB writes and flushes without losing the connection, and replicate a fio crc32c verify workload of mixed sizes (4-128 KiB) correctly (verified on the other host after a role switch)
# timeout: 900
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

dt_start 2
dt_setup_pair_fresh h1 h2 0

primary=h1
secondary=h2
for proto in A B C; do
	dt h1 disconnect 0 >/dev/null
	dt h2 disconnect 0 >/dev/null
	dt_connect_pair h1 h2 0 --protocol "$proto"
	dt_wait_synced "$primary" "$secondary" 0 120
	assert_eq "$(dt_field "$primary" 0 .protocol)" "$proto" "protocol in status"
	# large writes that complete before the peer wrote them (A/B), then
	# flushes: the requests must outlive their master bios safely
	lab_exec "$primary" "fio --name=seq$proto --filename=/dev/dtrbd0 --direct=1 --rw=write --bs=1M --ioengine=libaio --iodepth=8 --size=64M --output-format=terse >/dev/null && fio --name=fs$proto --filename=/dev/dtrbd0 --direct=1 --rw=randwrite --bs=4k --ioengine=psync --fsync=1 --size=64M --number_ios=200 --output-format=terse >/dev/null" ||
		fail "protocol $proto: sequential and fsync writes on $primary"
	assert_eq "$(dt_field "$primary" 0 .connection)" connected "protocol $proto: connection after large writes and flushes"
	job="--name=p$proto --filename=/dev/dtrbd0 --direct=1 --ioengine=libaio --iodepth=16"
	job+=" --rw=randwrite --bsrange=4k-128k --size=32M --offset=$(( (RANDOM % 4) * 32 ))M"
	job+=" --verify=crc32c --randrepeat=1 --random_generator=tausworthe64 --verify_fatal=1"
	lab_exec "$primary" "fio $job --do_verify=0 >/lab/fio-$proto.log 2>&1" ||
		fail "protocol $proto: fio write on $primary: $(tail -n 3 "$(lab_host_dir "$primary")/fio-$proto.log")"
	dt_wait "$primary" 0 '.in_flight == 0' 30 "no writes in flight"
	dt "$primary" secondary 0 >/dev/null
	dt "$secondary" primary 0 >/dev/null
	lab_exec "$secondary" "fio $job --verify_only >/lab/fio-$proto-verify.log 2>&1" ||
		fail "protocol $proto: fio verify on $secondary: $(tail -n 3 "$(lab_host_dir "$secondary")/fio-$proto-verify.log")"
	log "protocol $proto: fio wrote on $primary and verified on $secondary"
	t=$primary
	primary=$secondary
	secondary=$t
done
a=$(dt_data_hash h1 /dev/vda 0)
b=$(dt_data_hash h2 /dev/vda 0)
assert_eq "$b" "$a" "backing disks differ"
