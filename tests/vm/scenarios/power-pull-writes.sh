#!/bin/bash
# description: the Secondary's power is pulled 3 times (at different moments) under mixed-size O_DIRECT writes with fsyncs at queue depths 1, 4 and 16: every write and fsync completes within the bound and without error, the Primary keeps writing; each time the Secondary comes back, resyncs and both disks are identical
# timeout: 900
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

# A vanished peer must end every waiting write within a bound, whatever the
# queue depth, the request size or an fsync in the way (issue 6: in
# peer-loss the Primary went standalone but fio never finished).
BOUND=30            # seconds: the longest any write or fsync may take
RUNTIME=20          # seconds of writes per round
PULL_AFTER=(3 7 12) # seconds into each round's writes: h2's power is pulled

dt_start 2 --disk-mib 64
dt_setup_pair_fresh h1 h2 0

fio_job() {	# fio_job ROUND: three jobs, one per queue depth, each its own 12 MiB
	local r=$1
	printf '%s ' fio --filename=/dev/dtrbd0 --direct=1 --ioengine=libaio --rw=randwrite \
		--bssplit=4k/50:16k/25:64k/20:128k/5 --fsync=8 --size=12M \
		--randrepeat=0 --refill_buffers --time_based --runtime="$RUNTIME" \
		--output-format=json --output="/lab/fio-$r.json" \
		--name=qd1 --iodepth=1 --offset=0 \
		--name=qd4 --iodepth=4 --offset=16M \
		--name=qd16 --iodepth=16 --offset=32M
}

for ((r = 1; r <= ${#PULL_AFTER[@]}; r++)); do
	w0=$(dt_field h1 0 .written_bytes)
	lab_bg h1 "$(fio_job "$r") >/lab/fio-$r.log 2>&1"
	job=$LAB_BG_ID
	dt_wait h1 0 ".written_bytes > $w0 + 1048576" 60 "round $r: writes flowing"
	sleep "${PULL_AFTER[r - 1]}"
	lab_power_off h2
	t0=$EPOCHSECONDS
	dt_wait h1 0 '.connection == "standalone"' "$BOUND" "round $r: h1 standalone after the power pull"
	log "round $r: h1 standalone $((EPOCHSECONDS - t0))s after the pull"
	rc=0
	lab_bg_wait h1 "$job" $((RUNTIME + BOUND + 30)) || rc=$?
	((rc != 124)) || fail "round $r: fio on h1 still running $((RUNTIME + BOUND + 30))s after it started (a write hangs): $(dt h1 status 0 --json | jq -c '{connection, in_flight}')"
	((rc == 0)) || fail "round $r: fio on h1 failed (rc $rc): $(tail -n 5 "$(lab_host_dir h1)/fio-$r.log")"
	j="$(lab_host_dir h1)/fio-$r.json"
	jq -e '.jobs | length == 3' "$j" >/dev/null || fail "round $r: no fio results"
	errs=$(jq '[.jobs[].error] | add' "$j")
	assert_eq "$errs" 0 "round $r: fio errors"
	# Per-request bounds. fio 3.33 (Debian 12) misreports the latency of an
	# fsync queued behind libaio writes at depth > 1: 67 s in a job that ran
	# 21 s, 18317 s in a 3 s job on a plain file. So the fsync latency is
	# bounded per request only in the depth-1 job, where fio measures it
	# right. In the deeper jobs fsync() blocks the fio thread uninterruptibly
	# in the flush, so one stuck for longer than the guests' hung-task
	# timeout (10 s, set by the lab; a report fails the scenario) is still
	# caught, and so is a job that overran its runtime (checked below).
	for q in '.jobs[].write' '.jobs[] | select(.jobname == "qd1") | .sync'; do
		max=$(jq "[$q.lat_ns.max] | max / 1e9" "$j")
		awk -v m="$max" -v b="$BOUND" 'BEGIN { exit !(m < b) }' ||
			fail "round $r: a request took ${max}s (bound ${BOUND}s; fio: $q)"
		log "round $r: longest $q ${max}s"
	done
	el=$(jq '[.jobs[].elapsed] | max' "$j")
	((el <= RUNTIME + BOUND)) ||
		fail "round $r: fio ran ${el}s for a ${RUNTIME}s time-based run: a write or fsync waited longer than ${BOUND}s"
	log "round $r: $(jq '[.jobs[].write.total_ios] | add' "$j") writes, $(jq '[.jobs[].sync.total_ios] | add' "$j") fsyncs, all completed"
	lab_exec_timeout 30 h1 "dd if=/dev/urandom of=/dev/dtrbd0 bs=64k count=16 seek=900 oflag=direct,sync status=none" ||
		fail "round $r: a write after the pull failed"

	lab_power_on h2
	dt h2 attach 0 --disk /dev/vda >/dev/null
	dt_connect_pair h1 h2 0
	dt_wait_synced h1 h2 0 300
	a=$(dt_data_hash h1 /dev/vda 0)
	b=$(dt_data_hash h2 /dev/vda 0)
	assert_eq "$b" "$a" "round $r: backing disks differ after the resync"
	log "round $r: h2 back, resynced, identical"
done
log "power pulls under load: every write within ${BOUND}s, identical after each resync"
