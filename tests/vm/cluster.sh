# shellcheck shell=bash
# tests/vm/cluster.sh: dtrbdd lab helpers (sourced after lib.sh, dtrbd.sh and
# vm.sh). The layout is vm_start_cluster's: p1 (10.99.0.1), p2 (10.99.0.2),
# witness (10.99.0.3); the configuration is issue 7's example.
#
# API:
#   cl_config RES...                 write /etc/dtrbd/dtrbd.conf + secret on p1, p2
#                                    (RES: name:minor:preferred[:failback[:disk]];
#                                    failback default manual, disk /dev/vda;
#                                    port 7700+minor; domain = name)
#   cl_restore HOST                  after lab_power_on HOST: its secret (from the
#                                    other host) and /etc/dtrbd/dtrbd.conf again
#   cl_witness_start                 dtrbd-witness on the witness guest (CL_WITNESS_BG)
#   cl_daemon_start HOST             dtrbdd in the background; log /lab/dtrbdd.log
#   cl_daemon_kill HOST [SIG]        signal (default KILL) the daemon of HOST
#   cl_json HOST                     dtrbdctl cluster --json on HOST
#   cl_field HOST JQ                 one field of it
#   cl_wait HOST JQ-CONDITION SECS WHAT   poll until true (fails with the log)
#   cl_res_wait HOST RES JQ-COND SECS WHAT  the same on .resources[] of RES
#   cl_log HOST                      path (here) of HOST's dtrbdd log
#   cl_up RES...                     metadata, initial sync, domains defined on
#                                    both hosts, daemons started, each RES
#                                    connected, in sync, its domain running on
#                                    its Primary, which must be its preferred
#                                    host (CL_HOST[RES]: that host)
#   cl_writable                      "MINOR:HOST" per writable Primary (not
#                                    frozen, not failing) on the running p1, p2
#   cl_assert_one_primary WHAT       fail when a minor has two writable Primaries
# Knobs: CL_PING_INTERVAL ("250ms"), CL_PING_TIMEOUT ("1s"): fast failover.
#   CL_HB2 (unset): a second heartbeat link, e.g. "10.99.1": cl_config gives
#   p1/p2 the address CL_HB2.I as a second IP on eth0 and lists it in
#   hosts.X.heartbeat after the replication address.

DTRBDD="$(dirname "$DT_CTL")/dtrbdd"
DT_WITNESS="$DT_TOP/build/ctl/witness/dtrbd-witness"
CL_PING_INTERVAL=${CL_PING_INTERVAL:-250ms}
CL_PING_TIMEOUT=${CL_PING_TIMEOUT:-1s}
CL_WADDR=10.99.0.3:7790
CL_HB2=${CL_HB2:-}
CL_WITNESS_BG=""
declare -A CL_HOST=()

cl_log() { printf '%s/dtrbdd.log\n' "$(lab_host_dir "$1")"; }

# _cl_hb HOST: the heartbeat key of HOST's [hosts] table (CL_HB2 only).
_cl_hb() {
	[[ -n "$CL_HB2" ]] || return 0
	local ip
	ip=$(lab_ip "$1")
	printf 'heartbeat = ["%s", "%s.%s"]\n' "$ip" "$CL_HB2" "${ip##*.}"
}

cl_config() {
	local secret r name minor pref conf h ip
	secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
	conf="secret-file = \"/etc/dtrbd/secret\"

[witness]
address = \"$CL_WADDR\"

[timing]
ping-interval = \"$CL_PING_INTERVAL\"
ping-timeout = \"$CL_PING_TIMEOUT\"

[hosts.p1]
address = \"$(lab_ip p1)\"
$(_cl_hb p1)
[hosts.p2]
address = \"$(lab_ip p2)\"
$(_cl_hb p2)
"
	local fb disk
	for r in "$@"; do
		IFS=: read -r name minor pref fb disk <<<"$r"
		conf+="
[resources.$name]
minor = $minor
port = $((7700 + minor))
disk = \"${disk:-/dev/vda}\"
preferred = \"$pref\"
failback = \"${fb:-manual}\"
domain = \"$name\"
domain-xml = \"/lab/vm/$name.xml\"
"
	done
	for h in p1 p2 witness; do
		lab_exec "$h" "mkdir -p /etc/dtrbd && umask 077 && printf '%s\n' $secret >/etc/dtrbd/secret" ||
			fail "writing the secret on $h"
		[[ $h == witness ]] && continue
		if [[ -n "$CL_HB2" ]]; then
			ip=$(lab_ip "$h")
			lab_exec "$h" "ip addr replace $CL_HB2.${ip##*.}/24 dev eth0" || fail "second heartbeat address on $h"
		fi
		printf '%s' "$conf" >"$(lab_host_dir "$h")/dtrbd.conf"
		lab_exec "$h" "cp /lab/dtrbd.conf /etc/dtrbd/dtrbd.conf && $DT_CTL check-config" ||
			fail "check-config on $h"
	done
}

cl_restore() {
	local h=$1 other=p1 secret
	[[ $h == p1 ]] && other=p2
	secret=$(lab_exec "$other" cat /etc/dtrbd/secret) || fail "reading the secret on $other"
	lab_exec "$h" "mkdir -p /etc/dtrbd && umask 077 && printf '%s\n' $secret >/etc/dtrbd/secret &&
		cp /lab/dtrbd.conf /etc/dtrbd/dtrbd.conf && $DT_CTL check-config" ||
		fail "restoring dtrbd.conf and the secret on $h"
}

cl_writable() {
	local h out
	for h in p1 p2; do
		_lab_running "$h" || continue
		out=$(lab_exec_timeout 20 "$h" "$DT_CTL" status --json 2>/dev/null) || continue
		jq -r --arg h "$h" '.[] | select(.role == "primary" and .frozen != true and
			.io_failed != true) | "\(.minor):\($h)"' <<<"$out"
	done
}

cl_assert_one_primary() {
	local w dup
	w=$(cl_writable)
	dup=$(cut -d: -f1 <<<"$w" | sort | uniq -d)
	[[ -z "$dup" ]] || fail "$1: two writable Primaries for minor $dup: $(tr '\n' ' ' <<<"$w")"
}

cl_witness_start() {
	[[ -x "$DT_WITNESS" ]] || fail "no $DT_WITNESS: build first"
	lab_bg witness "mkdir -p /var/lib/dtrbd-witness; exec $DT_WITNESS --listen $CL_WADDR --secret-file /etc/dtrbd/secret --state-dir /var/lib/dtrbd-witness"
	CL_WITNESS_BG=$LAB_BG_ID
	lab_bg_wait_line witness "$CL_WITNESS_BG" "listening on" 30 ||
		fail "dtrbd-witness did not start on the witness guest"
}

cl_daemon_start() {
	[[ -x "$DTRBDD" ]] || fail "no $DTRBDD: build first"
	lab_exec "$1" "setsid $DTRBDD >>/lab/dtrbdd.log 2>&1 </dev/null & echo \$! >/lab/dtrbdd.pid" ||
		fail "starting dtrbdd on $1"
}

cl_daemon_kill() { lab_exec "$1" "kill -${2:-KILL} \$(cat /lab/dtrbdd.pid)"; }

cl_json() { lab_exec "$1" "$DT_CTL" cluster --json 2>/dev/null; }

cl_field() {
	local out
	out=$(cl_json "$1") || return 1
	jq -r "$2" <<<"$out"
}

cl_wait() {
	local h=$1 cond=$2 secs=$3 what=$4 end
	end=$((EPOCHSECONDS + secs))
	until [[ "$(cl_field "$h" "$cond" 2>/dev/null)" == true ]]; do
		((EPOCHSECONDS < end)) || {
			cl_json "$h" >&2 || true
			tail -n 30 "$(cl_log "$h")" >&2 || true
			fail "timed out after ${secs}s on $h waiting for: $what"
		}
		sleep 0.5
	done
}

cl_res_wait() { cl_wait "$1" "(.resources[] | select(.name == \"$2\")) | $3" "$4" "$5"; }

# cl_up RES...: RES is name:minor:preferred[:failback[:disk]] (cl_config).
cl_up() {
	local r name minor pref fb disk other h
	for r in "$@"; do
		IFS=: read -r name minor pref fb disk <<<"$r"
		other=p2
		[[ $pref == p2 ]] && other=p1
		# Fresh, zeroed disks: no initial sync (saves ~50 s per 128 MiB
		# under TCG; the replicate and kcore scenarios cover the sync).
		dt_setup_pair_zeroed "$pref" "$other" "$minor" "${disk:-/dev/vda}"
		dt "$pref" disconnect "$minor"
		dt "$other" disconnect "$minor"
		for h in p1 p2; do vm_define "$h" "$name" "/dev/dtrbd$minor"; done
	done
	cl_config "$@"
	cl_witness_start
	cl_daemon_start p1
	cl_daemon_start p2
	for r in "$@"; do
		IFS=: read -r name minor pref fb disk <<<"$r"
		cl_res_wait "$pref" "$name" ".connection == \"connected\" and .disk == \"uptodate\" and
			.peer_disk == \"uptodate\" and .primary != null and .vm.state == \"running\" and
			.vm.host == .primary" 240 "$name connected, in sync, running on its Primary"
		# Placement: the preferred host, with a little time to get there.
		cl_res_wait "$pref" "$name" ".primary == \"$pref\" and .vm.host == \"$pref\"" 30 \
			"$name placed on its preferred host $pref (a daemon defect if not)"
		CL_HOST[$name]=$pref
	done
	log "cluster up: $*"
}
