# shellcheck shell=bash
# tests/vm/bench.sh: helpers for tools/bench (sourced after lib.sh and
# dtrbd.sh).  They use these globals of tools/bench: RUNTIME, RAMP, NET_SECS,
# FIO_SIZE, FIO_DIR (per target: TAG.json = fio's own output, TAG.summary.json
# = the numbers the bench reports).  Every helper fails the run (lib.sh fail)
# rather than return a number it could not measure.

DRBDSETUP=/usr/lib/drbd/drbdsetup-84
DRBD_PORT=7789
# DRBD's resync controller: a fixed rate (c-plan-ahead 0) at its maximum,
# 4 GiB/s, so the initial sync runs as fast as the lab allows.  DRBD 8.4's
# default is the dynamic controller capped at 100 MiB/s (c-max-rate), which
# would not slow a 256 MiB sync in this lab much either; everything else
# (al-extents 1237, max-buffers, flushes, protocol C) stays at its default.
DRBD_DISK_OPTS="--c-plan-ahead=0 --resync-rate=4194304"

# Metrics of one target, in table order: name, unit, better (lower/higher).
BENCH_METRICS=(
	"qd1_p50_us us lower"
	"qd1_p99_us us lower"
	"qd32_iops IOPS higher"
	"seq_mbps MB/s higher"
	"fsync_iops IOPS higher"
	"fsync_write_p50_us us lower"
	"fsync_sync_p50_us us lower"
)

declare -A BENCH_INFO=()   # versions and set-up facts (strings)
declare -A BENCH_TIMING=() # seconds spent in syncs and reconnects

# ----------------------------------------------------------------------------
# versions
# ----------------------------------------------------------------------------

bench_versions() {
	BENCH_INFO[guest_kernel]=$(lab_exec h1 uname -r) || fail "uname -r on h1"
	BENCH_INFO[fio]=$(lab_exec h1 fio --version) || fail "fio --version on h1"
	BENCH_INFO[qemu]=$(qemu-system-x86_64 --version | head -n 1)
	BENCH_INFO[host_kernel]=$(uname -r)
	BENCH_INFO[dtrbdctl]=$("$DT_CTL" --version 2>&1 | head -n 1) || BENCH_INFO[dtrbdctl]=unknown
	BENCH_INFO[dtrbd_ko]=${DTRBD_KO:-$DT_KO}
	BENCH_INFO[dtrbd_ko_sha256]=$(sha256sum "$DT_KO" | cut -d' ' -f1)
	BENCH_INFO[dtrbd_ctl]=${DTRBD_CTL:-$DT_CTL}
	BENCH_INFO[git]=$(git -C "$DT_TOP" describe --always --dirty 2>/dev/null || echo unknown)
	BENCH_INFO[host_cpus]=$(nproc)
	BENCH_INFO[date]=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	log "guest kernel ${BENCH_INFO[guest_kernel]}, ${BENCH_INFO[fio]}, ${BENCH_INFO[qemu]}"
}

# ----------------------------------------------------------------------------
# network: TCP round trip (python3 ping-pong of 1 byte), ICMP ping, iperf3
# ----------------------------------------------------------------------------

_bench_rtt_py='
import json, socket, sys, time
mode, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "server":
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((ip, port))
    s.listen(1)
    c, _ = s.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        b = c.recv(1)
        if not b:
            break
        c.sendall(b)
    sys.exit(0)
n, warm = int(sys.argv[4]), 20
deadline = time.time() + 60
while True:
    try:
        c = socket.create_connection((ip, port), timeout=5)
        break
    except OSError:
        if time.time() > deadline:
            raise
        time.sleep(0.2)
c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
t = []
for i in range(warm + n):
    a = time.perf_counter_ns()
    c.sendall(b"x")
    if c.recv(1) != b"x":
        sys.exit("bad echo")
    if i >= warm:
        t.append(time.perf_counter_ns() - a)
c.close()
t.sort()
pick = lambda q: t[min(len(t) - 1, int(q * len(t)))] / 1000
print(json.dumps({"n": n, "p50_us": pick(0.50), "p99_us": pick(0.99),
                  "min_us": t[0] / 1000, "mean_us": sum(t) / len(t) / 1000}))
'

bench_net() {
	local ip2 n=300 out
	ip2=$(dt_ip h2)
	((QUICK)) && n=100
	log "== network h1 -> h2: TCP 1-byte ping-pong ($n round trips), ping, iperf3 (${NET_SECS}s)"
	printf '%s\n' "$_bench_rtt_py" >"$(lab_host_dir h1)/rtt.py"
	printf '%s\n' "$_bench_rtt_py" >"$(lab_host_dir h2)/rtt.py"
	lab_bg h2 "python3 /lab/rtt.py server $ip2 7790" || fail "cannot start the RTT server on h2"
	local srv=$LAB_BG_ID
	out=$(lab_exec_timeout 180 h1 "python3 /lab/rtt.py client $ip2 7790 $n") ||
		fail "TCP round-trip measurement h1 -> h2 failed"
	lab_bg_wait h2 "$srv" 30 || fail "the RTT server on h2 failed: $(cat "$(lab_bg_log h2 "$srv")")"
	jq -e '.p50_us > 0' <<<"$out" >/dev/null || fail "TCP round trip: no result ($out)"
	printf '%s\n' "$out" >"$FIO_DIR/net_rtt.json"

	# ICMP for comparison: no user space on the answering side.
	out=$(lab_exec_timeout 60 h1 "ping -q -c 20 -i 0.2 $ip2") || fail "ping h1 -> h2 failed"
	out=$(sed -n 's|.*= \([0-9.]*\)/\([0-9.]*\)/\([0-9.]*\)/.*|{"min_ms":\1,"avg_ms":\2,"max_ms":\3}|p' <<<"$out")
	[[ -n "$out" ]] || fail "ping h1 -> h2: cannot read its summary"
	printf '%s\n' "$out" >"$FIO_DIR/net_ping.json"

	lab_bg h2 "iperf3 -s -1 -B $ip2 -p 5201" || fail "cannot start iperf3 -s on h2"
	srv=$LAB_BG_ID
	lab_exec_timeout 120 h1 "for i in \$(seq 50); do
		iperf3 -c $ip2 -p 5201 -t $NET_SECS -J >/lab/iperf3.json 2>/dev/null && exit 0
		sleep 0.3; done; exit 1" || fail "iperf3 h1 -> h2 failed"
	lab_bg_wait h2 "$srv" 30 || fail "iperf3 server on h2 failed"
	jq -e '{tcp_mbit_s: (.end.sum_received.bits_per_second / 1e6),
		retransmits: .end.sum_sent.retransmits} | select(.tcp_mbit_s > 0)' \
		"$(lab_host_dir h1)/iperf3.json" >"$FIO_DIR/net_tput.json" ||
		fail "iperf3 h1 -> h2: no throughput in its output"
	log "TCP RTT p50 $(jq .p50_us "$FIO_DIR/net_rtt.json") us, ping avg $(jq .avg_ms "$FIO_DIR/net_ping.json") ms," \
		"iperf3 $(jq '.tcp_mbit_s | round' "$FIO_DIR/net_tput.json") Mbit/s"
}

# ----------------------------------------------------------------------------
# fio
# ----------------------------------------------------------------------------

# bench_fio HOST DEV TAG all|qd1 [HOOK]: run the jobs one after another,
# each in its own fio process (so the state of the device can be read
# between jobs); keep fio's JSON of all jobs as FIO_DIR/TAG.json and the
# reported numbers as FIO_DIR/TAG.summary.json.  With HOOK, "HOOK TAG JOB
# before" and "HOOK TAG JOB after" run around each job.
BENCH_JOBS=(
	"qd1 --rw=randwrite --bs=4k --ioengine=libaio --iodepth=1"
	"qd32 --rw=randwrite --bs=4k --ioengine=libaio --iodepth=32"
	"seq --rw=write --bs=1M --ioengine=libaio --iodepth=8"
	"fsync --rw=randwrite --bs=4k --ioengine=psync --fsync=1"
)
bench_fio() {
	local h=$1 dev=$2 tag=$3 set=$4 hook=${5:-} njobs=1 j name args outs=()
	local common="--filename=$dev --direct=1 --size=$FIO_SIZE --time_based"
	common+=" --runtime=$RUNTIME --ramp_time=$RAMP --output-format=json"
	[[ $set == all ]] && njobs=${#BENCH_JOBS[@]}
	log "fio on $h $dev ($tag): $njobs job(s) of ${RAMP}+${RUNTIME}s"
	for ((j = 0; j < njobs; j++)); do
		name=${BENCH_JOBS[j]%% *}
		args="$common --output=/lab/fio-$tag-$name.json --name=$name ${BENCH_JOBS[j]#* }"
		rm -f "$(lab_host_dir "$h")/fio-$tag-$name.json"
		[[ -n "$hook" ]] && "$hook" "$tag" "$name" before
		lab_exec_timeout $((RUNTIME + RAMP + 120)) "$h" "fio $args" >/dev/null ||
			fail "fio on $h $dev ($tag, job $name) failed"
		[[ -n "$hook" ]] && "$hook" "$tag" "$name" after
		# fio may put warnings before the JSON document.
		sed -n '/^{/,$p' "$(lab_host_dir "$h")/fio-$tag-$name.json" >"$FIO_DIR/$tag-$name.json"
		outs+=("$FIO_DIR/$tag-$name.json")
	done
	# One document with every job, like a single fio run would write.
	jq -s '.[0] + {jobs: [.[].jobs[]]}' "${outs[@]}" >"$FIO_DIR/$tag.json" 2>/dev/null ||
		fail "fio on $h $dev ($tag): unreadable JSON output"
	rm -f "${outs[@]}"
	jq -e '
		def job($n): first(.jobs[] | select(.jobname == $n));
		def pct($j; $q): ($j.write.clat_ns.percentile[$q] // 0) / 1000;
		{errors: ([.jobs[].error] | add), written_bytes: ([.jobs[].write.io_bytes] | add),
		 qd1_p50_us: pct(job("qd1"); "50.000000"), qd1_p99_us: pct(job("qd1"); "99.000000"),
		 qd1_iops: job("qd1").write.iops}
		+ if any(.jobs[]; .jobname == "qd32") then
		{qd32_iops: job("qd32").write.iops, qd32_p50_us: pct(job("qd32"); "50.000000"),
		 seq_mbps: (job("seq").write.bw_bytes / 1e6),
		 fsync_iops: job("fsync").write.iops,
		 fsync_write_p50_us: pct(job("fsync"); "50.000000"),
		 fsync_sync_p50_us: ((job("fsync").sync.lat_ns.percentile["50.000000"] // 0) / 1000)}
		else {} end' "$FIO_DIR/$tag.json" >"$FIO_DIR/$tag.summary.json" 2>/dev/null ||
		fail "fio on $h $dev ($tag): unreadable JSON output"
	jq -e '.errors == 0 and ([to_entries[] | select(.key != "errors") | .value > 0] | all)' \
		"$FIO_DIR/$tag.summary.json" >/dev/null ||
		fail "fio on $h $dev ($tag): an error or a zero result: $(jq -c . "$FIO_DIR/$tag.summary.json")"
	log "  $tag: $(jq -c 'del(.errors) | map_values(. * 10 | round / 10)' "$FIO_DIR/$tag.summary.json")"
}

# bench_add TAG JSON-OBJECT: merge facts into TAG's summary.
bench_add() {
	local f=$FIO_DIR/$1.summary.json
	jq --argjson add "$2" '. + $add' "$f" >"$f.tmp" && mv "$f.tmp" "$f"
}

# ----------------------------------------------------------------------------
# dtrbd
# ----------------------------------------------------------------------------

# bench_dtrbd_check HOST C|B|A|standalone: fail unless /dev/dtrbd0 on HOST
# is Primary, UpToDate, and connected with that protocol and an UpToDate
# peer with no resync (or StandAlone).
bench_dtrbd_check() {
	local h=$1 p=$2 st cond
	st=$(dt "$h" status 0 --json) || fail "dtrbdctl status 0 on $h"
	if [[ $p == standalone ]]; then
		cond='.role == "primary" and .disk == "uptodate" and .connection == "standalone"'
	else
		cond='.role == "primary" and .disk == "uptodate" and .connection == "connected"
			and .protocol == $p and .peer_disk == "uptodate" and .sync == null'
	fi
	jq -e --arg p "$p" "$cond" <<<"$st" >/dev/null ||
		fail "dtrbd0 on $h is not in the state to measure ($p): $(jq -c '{role, connection, protocol, disk, peer_disk, sync}' <<<"$st")"
}

# bench_dt_disconnect HOST: dtrbdctl disconnect 0; a refusal is fine only when
# the device is StandAlone already (the peer's disconnect can get there first).
bench_dt_disconnect() {
	local h=$1 err
	if ! err=$(dt "$h" disconnect 0 2>&1); then
		[[ "$(dt_field "$h" 0 .connection)" == standalone ]] ||
			fail "dtrbdctl disconnect 0 on $h: $err"
		log "disconnect on $h: already StandAlone ($err)"
	fi
	dt_wait "$h" 0 '.connection == "standalone"' 30 "$h StandAlone"
}

# bench_dtrbd_reconnect PROTOCOL: h1 Secondary, disconnect both, connect with
# PROTOCOL, h1 Primary again.  A Secondary keeps its data generation when it
# disconnects, so both sides still hold the same generation and the connect
# needs no resync; if one starts anyway, it is waited for (and timed).
bench_dtrbd_reconnect() {
	local p=$1 t0=$EPOCHSECONDS
	dt h1 secondary 0 || fail "dtrbdctl secondary 0 on h1"
	bench_dt_disconnect h1
	bench_dt_disconnect h2
	dt_connect_pair h1 h2 0 --protocol "$p"
	dt h1 primary 0 || fail "dtrbdctl primary 0 on h1"
	dt_wait_synced h1 h2 0 300
	BENCH_TIMING[dtrbd_reconnect_${p}_s]=$((EPOCHSECONDS - t0))
	log "protocol $p connected and in sync after $((EPOCHSECONDS - t0))s"
}

# bench_dtrbd_reattach NAME PROTOCOL [attach options]: h1 Secondary,
# disconnect both, detach h1 and attach it again with the given options (the
# metadata stays: same data generation, no resync needed), connect with
# PROTOCOL, h1 Primary again, wait for "in sync" (timed as NAME).
bench_dtrbd_reattach() {
	local name=$1 p=$2 t0=$EPOCHSECONDS
	shift 2
	dt h1 secondary 0 || fail "dtrbdctl secondary 0 on h1"
	bench_dt_disconnect h1
	bench_dt_disconnect h2
	dt h1 detach 0 || fail "dtrbdctl detach 0 on h1"
	dt h1 attach 0 --disk /dev/vda "$@" || fail "dtrbdctl attach 0 --disk /dev/vda $* on h1"
	dt_connect_pair h1 h2 0 --protocol "$p"
	dt h1 primary 0 || fail "dtrbdctl primary 0 on h1"
	dt_wait_synced h1 h2 0 300
	BENCH_TIMING[dtrbd_reattach_${name}_s]=$((EPOCHSECONDS - t0))
	log "h1 reattached ($*), protocol $p connected and in sync after $((EPOCHSECONDS - t0))s"
}

# bench_dtrbd_al_hook TAG JOB before|after (a bench_fio hook): the activity
# log transaction counter (al_writes) and the application bytes written
# (written_bytes) of /dev/dtrbd0 on h1 around each fio job, into
# FIO_DIR/TAG.al.json; after the job also the AL transactions per 1000
# writes (writes = bytes written / the job's block size, ramp-up included,
# as the counters are).
bench_dtrbd_al_hook() {
	local tag=$1 job=$2 when=$3 st f=$FIO_DIR/$1.al.json bs=4096
	[[ $job == seq ]] && bs=1048576
	st=$(dt h1 status 0 --json) || fail "dtrbdctl status 0 on h1"
	jq -e '(.al_writes | type) == "number" and (.written_bytes | type) == "number"' <<<"$st" >/dev/null ||
		fail "dtrbdctl status 0 --json on h1 reports no al_writes or written_bytes: $(jq -c '{al_writes, written_bytes}' <<<"$st")"
	[[ -s "$f" ]] || echo '{}' >"$f"
	if ! jq --arg j "$job" --arg w "$when" --argjson st "$st" --argjson bs "$bs" '
		.[$j] += {("al_writes_" + $w): $st.al_writes, ("written_bytes_" + $w): $st.written_bytes}
		| if $w == "after" then
			.[$j] |= (. + {al_extents_used_after: $st.al_extents_used, block_size: $bs,
				writes: ((.written_bytes_after - .written_bytes_before) / $bs),
				al_writes: (.al_writes_after - .al_writes_before)}
			  | . + {al_writes_per_1000_writes:
				(if .writes > 0 then 1000 * .al_writes / .writes else null end)})
		  else . end' "$f" >"$f.tmp"; then
		fail "cannot record the AL counters of $tag"
	fi
	mv "$f.tmp" "$f"
	if [[ $when == after ]]; then
		log "  $tag $job: $(jq -r --arg j "$job" '.[$j] | "\(.al_writes) AL transactions for \(.writes) writes, \(.al_extents_used_after) extents hot"' "$f")"
	fi
}

# bench_dtrbd_measure C|B|A|standalone [TAG [AL_EXTENTS]]: the four jobs on
# /dev/dtrbd0 of h1, with the state checked before and after, and (when
# connected) proof that what fio wrote was sent to the peer.  TAG defaults
# to dtrbd_PROTOCOL; AL_EXTENTS is the --al-extents h1 was attached with
# (default: none given, the module's default); with it, no more than that
# many extents may be hot after each job.
bench_dtrbd_measure() {
	local p=$1 tag=${2:-dtrbd_$1} al=${3:-} before after written
	bench_dtrbd_check h1 "$p"
	before=$(dt_field h1 0 '.sent_bytes // 0') || fail "status on h1"
	rm -f "$FIO_DIR/$tag.al.json"
	bench_fio h1 /dev/dtrbd0 "$tag" all bench_dtrbd_al_hook
	dt_wait h1 0 '(.in_flight // 0) == 0' 60 "no writes in flight"
	bench_dtrbd_check h1 "$p"
	after=$(dt_field h1 0 '.sent_bytes // 0') || fail "status on h1"
	written=$(jq .written_bytes "$FIO_DIR/$tag.summary.json")
	if [[ $p != standalone ]] && ((after - before < written)); then
		fail "dtrbd protocol $p: $((after - before)) bytes sent to the peer for $written written: not replicated"
	fi
	if [[ -n "$al" ]]; then
		jq -e --argjson n "$al" '[.[].al_extents_used_after <= $n] | all' "$FIO_DIR/$tag.al.json" >/dev/null ||
			fail "$tag: more than $al activity log extents hot: --al-extents $al did not take effect"
	fi
	bench_add "$tag" "$(jq -c --argjson n "${al:-null}" '{al_extents_option: $n, activity_log: .,
		al_writes: ([.[].al_writes] | add), al_counted_writes: ([.[].writes] | add)}' "$FIO_DIR/$tag.al.json")"
	bench_add "$tag" "{\"sent_bytes\": $((after - before))}"
}

# ----------------------------------------------------------------------------
# DRBD 8.4
# ----------------------------------------------------------------------------

# bench_drbd_proc HOST: /proc/drbd's minor-0 line pair as one line.
bench_drbd_proc() {
	lab_exec "$1" "sed -n '/^ *0:/{N;s/\n/ /;p}' /proc/drbd"
}

# bench_drbd_field LINE KEY: value of KEY:value in a /proc/drbd line.
bench_drbd_field() { sed -n "s/.*[[:space:]]$2:\([^[:space:]]*\).*/\1/p" <<<" $1"; }

bench_drbd_up() {
	local h i other line t0
	for h in h1 h2; do
		lab_exec "$h" "modprobe drbd usermode_helper=/bin/true" || fail "modprobe drbd on $h"
		# Metadata versions other than v08 belong to DRBD 9.
		lab_exec "$h" "drbdmeta --force /dev/drbd0 v08 /dev/vda internal create-md </dev/null" >/dev/null ||
			fail "drbdmeta create-md (v08, internal) on $h"
	done
	BENCH_INFO[drbd]=$(lab_exec h1 "head -n 1 /proc/drbd") || fail "no /proc/drbd on h1"
	BENCH_INFO[drbd_disk_options]=$DRBD_DISK_OPTS
	log "${BENCH_INFO[drbd]}; disk options: $DRBD_DISK_OPTS"
	for h in h1 h2; do
		i=${h#h}
		other=$((3 - i))
		lab_exec "$h" "$DRBDSETUP new-resource r0 && $DRBDSETUP new-minor r0 0 0 &&
			$DRBDSETUP attach 0 /dev/vda /dev/vda internal $DRBD_DISK_OPTS" ||
			fail "drbdsetup-84 new-resource/new-minor/attach on $h"
		lab_exec "$h" "$DRBDSETUP connect r0 ipv4:$(dt_ip "$h"):$DRBD_PORT ipv4:10.99.0.$other:$DRBD_PORT --protocol=C" ||
			fail "drbdsetup-84 connect on $h"
	done
	t0=$EPOCHSECONDS
	while :; do
		line=$(bench_drbd_proc h1) || fail "reading /proc/drbd on h1"
		[[ "$line" == *cs:SyncSource* || "$line" == *cs:Connected* ]] && break
		((EPOCHSECONDS - t0 < 60)) || fail "DRBD did not connect within 60s: $line"
		sleep 0.5
	done
	lab_exec h1 "$DRBDSETUP primary 0 --force" || fail "drbdsetup-84 primary 0 --force on h1"
	t0=$EPOCHSECONDS
	local last=0
	while :; do
		line=$(bench_drbd_proc h1) || fail "reading /proc/drbd on h1"
		[[ "$line" == *cs:Connected*ds:UpToDate/UpToDate* ]] && break
		((EPOCHSECONDS - t0 < 300)) || fail "DRBD initial sync not done after 300s: $line"
		if ((EPOCHSECONDS - last >= 10)); then
			log "DRBD: $(bench_drbd_field "$line" cs) oos:$(bench_drbd_field "$line" oos) KiB"
			last=$EPOCHSECONDS
		fi
		sleep 1
	done
	BENCH_TIMING[drbd_initial_sync_s]=$((EPOCHSECONDS - t0))
	log "DRBD initial sync (256 MiB disks) took ${BENCH_TIMING[drbd_initial_sync_s]}s: $line"
}

# bench_drbd_check LINE: Primary/Secondary, UpToDate/UpToDate, Connected, C.
bench_drbd_check() {
	[[ "$1" =~ cs:Connected\ ro:Primary/Secondary\ ds:UpToDate/UpToDate\ C\  ]] ||
		fail "DRBD minor 0 on h1 is not in the state to measure: $1"
}

bench_drbd_measure() {
	local line before after written al0 al1
	line=$(bench_drbd_proc h1) || fail "reading /proc/drbd on h1"
	bench_drbd_check "$line"
	before=$(bench_drbd_field "$line" ns)
	al0=$(bench_drbd_field "$line" al)
	bench_fio h1 /dev/drbd0 drbd84_C all
	line=$(bench_drbd_proc h1) || fail "reading /proc/drbd on h1"
	bench_drbd_check "$line"
	after=$(bench_drbd_field "$line" ns)
	al1=$(bench_drbd_field "$line" al)
	written=$(jq .written_bytes "$FIO_DIR/drbd84_C.summary.json")
	# ns: KiB sent to the peer.
	if (((after - before) * 1024 < written)); then
		fail "DRBD: $(((after - before) * 1024)) bytes sent to the peer for $written written: not replicated"
	fi
	bench_add drbd84_C "{\"sent_bytes\": $(((after - before) * 1024)), \"al_updates\": $((al1 - al0)),
		\"write_ordering\": \"$(bench_drbd_field "$line" wo)\"}"
}

bench_drbd_down() {
	local h
	for h in h1 h2; do
		lab_exec "$h" "$DRBDSETUP down r0" || fail "drbdsetup-84 down r0 on $h"
	done
}

# ----------------------------------------------------------------------------
# results
# ----------------------------------------------------------------------------

# bench_write_json FILE: every number of the run in one document.
bench_write_json() {
	local out=$1 k info='{}' timing='{}' targets='{}' t f metrics
	for k in "${!BENCH_INFO[@]}"; do
		info=$(jq --arg k "$k" --arg v "${BENCH_INFO[$k]}" '. + {($k): $v}' <<<"$info")
	done
	for k in "${!BENCH_TIMING[@]}"; do
		timing=$(jq --arg k "$k" --argjson v "${BENCH_TIMING[$k]}" '. + {($k): $v}' <<<"$timing")
	done
	timing=$(jq --argjson v "${BENCH_DTRBD_SYNC_S:-null}" '. + {dtrbd_initial_sync_s: $v}' <<<"$timing")
	for t in raw raw_h2 dtrbd_C dtrbd_C_al7 dtrbd_B dtrbd_A dtrbd_standalone drbd84_C; do
		f=$FIO_DIR/$t.summary.json
		[[ -s "$f" ]] || fail "no results for target $t"
		targets=$(jq --arg t "$t" --slurpfile v "$f" '. + {($t): $v[0]}' <<<"$targets")
	done
	metrics=$(printf '%s\n' "${BENCH_METRICS[@]}" | jq -R 'split(" ") | {name: .[0], unit: .[1], better: .[2]}' | jq -s .)
	jq -n --argjson info "$info" --argjson timing "$timing" --argjson targets "$targets" \
		--argjson metrics "$metrics" \
		--slurpfile rtt "$FIO_DIR/net_rtt.json" --slurpfile ping "$FIO_DIR/net_ping.json" \
		--slurpfile tput "$FIO_DIR/net_tput.json" \
		--argjson runtime "$RUNTIME" --argjson ramp "$RAMP" --arg size "$FIO_SIZE" '
		def ratios($a; $b): reduce $metrics[] as $m ({}; . + {($m.name): ($a[$m.name] / $b[$m.name])});
		def meets($r): [$metrics[] | select(if .better == "lower" then $r[.name] > 1 else $r[.name] < 1 end) | .name];
		($targets.raw.qd1_p50_us) as $local
		| ($rtt[0].p50_us + $targets.raw_h2.qd1_p50_us) as $remote
		| ([$local, $remote] | max) as $bound
		| {
			note: "measured under QEMU TCG (software CPU emulation): absolute numbers are meaningless; compare the ratios within one run",
			info: $info,
			settings: {runtime_s: $runtime, ramp_s: $ramp, region: $size,
				jobs: {qd1: "4k randwrite libaio iodepth=1", qd32: "4k randwrite libaio iodepth=32",
					seq: "1M write libaio iodepth=8", fsync: "4k randwrite psync fsync=1"},
				common: "--direct=1 --time_based, first \($size) of the device, on h1"},
			metrics: $metrics,
			network: {tcp_rtt: $rtt[0], icmp_ping: $ping[0], iperf3: $tput[0]},
			targets: $targets,
			timing_s: $timing,
			ratios: (reduce ("dtrbd_C", "dtrbd_C_al7", "dtrbd_B", "dtrbd_A", "dtrbd_standalone") as $t ({};
				. + {($t): {vs_raw: ratios($targets[$t]; $targets.raw),
					vs_drbd84_C: ratios($targets[$t]; $targets.drbd84_C)}})
				| .dtrbd_C_al7.vs_dtrbd_C = ratios($targets.dtrbd_C_al7; $targets.dtrbd_C)),
			activity_log: {
				note: "al_writes: activity log transactions (one 4 KiB FUA metadata write each) on h1 during each fio job, ramp-up included; writes: the job'"'"'s writes in that time (written_bytes / block size); dtrbd_C etc. use the default --al-extents (257), dtrbd_C_al7 --al-extents 7; the jobs cover the first \($size) of the device (4 MiB extents)",
				per_1000_writes: (reduce ("dtrbd_C", "dtrbd_C_al7", "dtrbd_B", "dtrbd_A", "dtrbd_standalone") as $t ({};
					. + {($t): ($targets[$t].activity_log | map_values(.al_writes_per_1000_writes))})),
				al7_vs_default_C: {
					qd1_p50_us: {default: $targets.dtrbd_C.qd1_p50_us, al7: $targets.dtrbd_C_al7.qd1_p50_us,
						ratio: ($targets.dtrbd_C_al7.qd1_p50_us / $targets.dtrbd_C.qd1_p50_us)},
					qd1_p99_us: {default: $targets.dtrbd_C.qd1_p99_us, al7: $targets.dtrbd_C_al7.qd1_p99_us,
						ratio: ($targets.dtrbd_C_al7.qd1_p99_us / $targets.dtrbd_C.qd1_p99_us)}}
			},
			goals: {
				dtrbd_C_vs_drbd84_C_missed: meets(ratios($targets.dtrbd_C; $targets.drbd84_C)),
				qd1_bound: {raw_local_p50_us: $local, tcp_rtt_p50_us: $rtt[0].p50_us,
					raw_peer_p50_us: $targets.raw_h2.qd1_p50_us, bound_us: $bound,
					dtrbd_C_p50_us: $targets.dtrbd_C.qd1_p50_us,
					ratio: ($targets.dtrbd_C.qd1_p50_us / $bound), limit: 1.25,
					met: ($targets.dtrbd_C.qd1_p50_us / $bound <= 1.25)}
			}
		}' >"$out.tmp" || fail "cannot assemble the JSON results"
	mv "$out.tmp" "$out"
}

# bench_table FILE: the human table from the JSON results.
bench_table() {
	local f=$1
	jq -r '
		"dtrbd bench, \(.info.date), git \(.info.git); guest kernel \(.info.guest_kernel), \(.info.fio), \(.info.drbd)",
		"MEASURED UNDER QEMU TCG (software CPU emulation, 2 guests on \(.info.host_cpus) host cores): absolute numbers are",
		"meaningless; only the ratios within this run count.  \(.settings.runtime_s)s per job after \(.settings.ramp_s)s ramp-up, O_DIRECT, first \(.settings.region) of each device.",
		"Network h1->h2: TCP 1-byte round trip p50 \(.network.tcp_rtt.p50_us | round) us (p99 \(.network.tcp_rtt.p99_us | round)), ping avg \(.network.icmp_ping.avg_ms) ms, iperf3 single stream \(.network.iperf3.tcp_mbit_s | round) Mbit/s",
		""' "$f"
	{
		printf 'target\tQD1 p50\tQD1 p99\tQD32\t1M seq\tfsync\tfsync wr\tfsync\n'
		printf '\tus\tus\tIOPS\tMB/s\tIOPS\tp50 us\tp50 us\n'
		jq -r '
			def row($name; $kind; $o; $m): ([$name, $kind] + [$m[] | $o[.]]) | @tsv;
			. as $r | [.metrics[].name] as $m
			| row("raw /dev/vda"; "v"; .targets.raw; $m),
			  row("DRBD 8.4 C"; "v"; .targets.drbd84_C; $m),
			  (["dtrbd_C", "dtrbd C"], ["dtrbd_C_al7", "dtrbd C al=7"], ["dtrbd_B", "dtrbd B"],
			   ["dtrbd_A", "dtrbd A"], ["dtrbd_standalone", "dtrbd StandAlone"]
			   | . as [$t, $name]
			   | row($name; "v"; $r.targets[$t]; $m),
			     row("  / raw"; "r"; $r.ratios[$t].vs_raw; $m),
			     row("  / DRBD 8.4 C"; "r"; $r.ratios[$t].vs_drbd84_C; $m),
			     (if $t == "dtrbd_C_al7" then row("  / dtrbd C"; "r"; $r.ratios[$t].vs_dtrbd_C; $m) else empty end))' "$f"
	} | awk -F'\t' '
		NR <= 2 { printf "%-18s", $1; for (i = 2; i <= NF; i++) printf "%10s", $i; printf "\n"; next }
		{
			printf "%-18s", $1
			for (i = 3; i <= NF; i++) {
				if ($2 == "r") printf "%9.2fx", $i
				else if (i == 6) printf "%10.1f", $i
				else printf "%10.0f", $i
			}
			printf "\n"
		}'
	jq -r '
		"",
		"Ratios: latency columns (us) better below 1.00x, IOPS and MB/s better above 1.00x.",
		"dtrbd C vs DRBD 8.4 C: " + (if (.goals.dtrbd_C_vs_drbd84_C_missed | length) == 0
			then "at least as good on every job"
			else "MISSED on " + (.goals.dtrbd_C_vs_drbd84_C_missed | join(", ")) end),
		(.goals.qd1_bound | "QD1 bound max(raw local \(.raw_local_p50_us | round), RTT \(.tcp_rtt_p50_us | round) + raw peer \(.raw_peer_p50_us | round)) = \(.bound_us | round) us; dtrbd C QD1 p50 \(.dtrbd_C_p50_us | round) us = \(.ratio * 1000 | round / 1000)x the bound (goal <= 1.25x): \(if .met then "met" else "MISSED" end)"),
		"Initial full sync of the 256 MiB disks: dtrbd \(.timing_s.dtrbd_initial_sync_s)s, DRBD 8.4 \(.timing_s.drbd_initial_sync_s)s (\(.info.drbd_disk_options))",
		"",
		"Activity log: AL transactions per 1000 writes (AL transactions/writes), ramp-up included, on h1:",
		(" " * 20 + (["qd1", "qd32", "1M seq", "fsync"] | map(" " * (22 - length) + .) | join(""))),
		(. as $r | (["dtrbd_C", "dtrbd C"], ["dtrbd_C_al7", "dtrbd C al=7"], ["dtrbd_B", "dtrbd B"],
			["dtrbd_A", "dtrbd A"], ["dtrbd_standalone", "dtrbd StandAlone"])
		 | . as [$t, $name] | $r.targets[$t].activity_log as $a
		 | "  \($name | . + " " * (18 - length))" + ([("qd1", "qd32", "seq", "fsync") | $a[.]
			| "\(.al_writes_per_1000_writes // 0 | . * 10 | round / 10) (\(.al_writes)/\(.writes | round))"
			| " " * ([22 - length, 1] | max) + .] | join(""))),
		(.activity_log.al7_vs_default_C | "AL cost, dtrbd C al=7 vs dtrbd C (default AL): QD1 p50 \(.qd1_p50_us.al7 | round) vs \(.qd1_p50_us.default | round) us (\(.qd1_p50_us.ratio * 100 | round / 100)x), QD1 p99 \(.qd1_p99_us.al7 | round) vs \(.qd1_p99_us.default | round) us (\(.qd1_p99_us.ratio * 100 | round / 100)x)")' "$f"
}
