#!/bin/bash
# description: four fio jobs issue concurrent, overlapping O_DIRECT writes of mixed sizes (one logical block to 64 KiB, offsets unaligned to each other) into one 1 MiB region of a connected device, protocol C (3 rounds) and A (2 rounds): after each round both backing disks are identical and status says in sync
# timeout: 900
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

# Two in-flight writes to overlapping sectors may be applied in either order
# on each disk; unless dtrbd orders conflicting writes the same way on both
# sides, the disks end up different while nothing is marked out of sync
# (issue 6, defect 2).
ROUNDS_C=3
ROUNDS_A=2
RUNTIME=12 # seconds of writes per round
REGION=$((1024 * 1024))

dt_start 2 --disk-mib 64
dt_setup_pair_fresh h1 h2 0
lbs=$(lab_exec h1 blockdev --getss /dev/dtrbd0)
log "logical block size of /dev/dtrbd0: $lbs"

in_sync='.connection == "connected" and .disk == "uptodate" and .peer_disk == "uptodate" and .sync == null and .oos_bytes == 0 and .in_flight == 0'

# region_hash HOST OFFSET: sha256 of the region on HOST's backing disk.
region_hash() {
	lab_exec "$1" "dd if=/dev/vda iflag=direct,skip_bytes,count_bytes skip=$2 count=$REGION bs=64k status=none | sha256sum | cut -d' ' -f1"
}

# explain_diff OFFSET WHAT: copy both regions here, count the differing
# logical blocks, fail with that.
explain_diff() {
	local off=$1 what=$2 h n first
	for h in h1 h2; do
		lab_exec "$h" "dd if=/dev/vda iflag=direct,skip_bytes,count_bytes skip=$off count=$REGION bs=64k status=none of=/lab/region.bin"
	done
	# cmp exits 1 when the files differ, which is the point here
	n=$({ cmp -l "$(lab_host_dir h1)/region.bin" "$(lab_host_dir h2)/region.bin" || true; } |
		awk -v b="$lbs" '{ s[int(($1 - 1) / b)] = 1 } END { print length(s) }')
	first=$({ cmp "$(lab_host_dir h1)/region.bin" "$(lab_host_dir h2)/region.bin" || true; } |
		sed -n 's/.*byte \([0-9]*\).*/\1/p')
	log "h1 status: $(dt h1 status 0 --json | jq -c '{connection, disk, peer_disk, oos_bytes, in_flight, sync}')"
	log "h2 status: $(dt h2 status 0 --json | jq -c '{connection, disk, peer_disk, oos_bytes, in_flight, sync}')"
	fail "$what: the backing disks differ in $n logical block(s) of the region (first differing byte $((off + first - 1))) while status says in sync"
}

# round PROTO N OFFSET: one round of overlapping writes, then the check.
round() {
	local proto=$1 n=$2 off=$3 a b i
	local job="--filename=/dev/dtrbd0 --direct=1 --ioengine=libaio --iodepth=16 --numjobs=4"
	job+=" --rw=randwrite --bsrange=$lbs-64k --blockalign=$lbs --norandommap --randrepeat=0"
	job+=" --offset=$off --size=$REGION --refill_buffers --time_based --runtime=$RUNTIME"
	job+=" --group_reporting --output-format=json --output=/lab/fio-$proto$n.json"
	lab_exec_timeout $((RUNTIME + 120)) h1 "fio --name=ov$proto$n $job >/lab/fio-$proto$n.log 2>&1" ||
		fail "protocol $proto round $n: fio on h1 failed or hung: $(tail -n 3 "$(lab_host_dir h1)/fio-$proto$n.log")"
	local j
	j=$(lab_host_dir h1)/fio-$proto$n.json
	assert_eq "$(jq '.jobs[0].error' "$j")" 0 "protocol $proto round $n: fio error"
	log "protocol $proto round $n: $(jq '.jobs[0].write.total_ios' "$j") overlapping writes at offset $off"
	dt_wait h1 0 "$in_sync" 60 "protocol $proto round $n: in sync on h1 after the writes"
	dt_wait h2 0 "$in_sync" 30 "protocol $proto round $n: in sync on h2 after the writes"
	# Protocol A completes a write before the peer has it: give the peer a
	# moment to apply what is still on its way (equal hashes end the wait;
	# a real divergence never converges).
	for ((i = 0; i < 10; i++)); do
		a=$(region_hash h1 "$off")
		b=$(region_hash h2 "$off")
		[[ "$a" != "$b" ]] || break
		sleep 1
	done
	[[ "$a" == "$b" ]] || explain_diff "$off" "protocol $proto round $n"
	a=$(dt_data_hash h1 /dev/vda 0)
	b=$(dt_data_hash h2 /dev/vda 0)
	[[ "$a" == "$b" ]] || fail "protocol $proto round $n: the data areas differ outside the written region"
	dt_wait h1 0 "$in_sync" 10 "protocol $proto round $n: still in sync on h1"
	log "protocol $proto round $n: both disks identical"
}

region=0
for ((r = 1; r <= ROUNDS_C; r++)); do
	round C "$r" $((region++ * 4 * REGION))
done
dt h1 disconnect 0 >/dev/null
dt h2 disconnect 0 >/dev/null
dt_connect_pair h1 h2 0 --protocol A
dt_wait_synced h1 h2 0 120
assert_eq "$(dt_field h1 0 .protocol)" A "protocol after reconnecting with --protocol A"
for ((r = 1; r <= ROUNDS_A; r++)); do
	round A "$r" $((region++ * 4 * REGION))
done
log "overlapping writes: $ROUNDS_C rounds under protocol C and $ROUNDS_A under A, disks identical after each"
