# shellcheck shell=bash
# tests/vm/dtrbd.sh: dtrbd helpers for lab scenarios (sourced after lib.sh).
#
# Hosts see this machine's root, so the fresh build is used in place:
#   DT_TOP/kmod/dtrbd.ko and DT_TOP/build/ctl/dtrbdctl
# Host hI has address 10.99.0.I; device MINOR replicates on port 7700+MINOR.

DT_TOP=$(cd "$LAB_ROOT/../.." && pwd)
# DTRBD_KO / DTRBD_CTL override them (e.g. to benchmark a saved build);
# they are copied under build/ because guests do not see this machine's /tmp.
DT_KO="$DT_TOP/kmod/dtrbd.ko"
DT_CTL="$DT_TOP/build/ctl/dtrbdctl"
_dt_override() {	# _dt_override FILE NAME: echo a guest-visible copy
	local d="$DT_TOP/build/lab-override.$$"
	mkdir -p "$d" && cp -f "$1" "$d/$2" && echo "$d/$2"
}
if [[ -n "${DTRBD_KO:-}" ]]; then
	DT_KO=$(_dt_override "$DTRBD_KO" dtrbd.ko)
fi
if [[ -n "${DTRBD_CTL:-}" ]]; then
	DT_CTL=$(_dt_override "$DTRBD_CTL" dtrbdctl)
fi

dt_preflight() {
	[[ -f "$DT_KO" ]] || fail "no $DT_KO: build first (tools/check or make -C kmod)"
	[[ -x "$DT_CTL" ]] || fail "no $DT_CTL: build first (cmake --build build)"
}

# dt_start N [lab_start options]: boot N hosts with the module loaded.
dt_start() {
	dt_preflight
	lab_guest_setup "insmod $DT_KO"
	lab_start "$@"
}

# dt HOST ARGS...: run dtrbdctl on HOST.
dt() {
	local h=$1
	shift
	lab_exec "$h" "$DT_CTL" "$@"
}

dt_ip() { echo "10.99.0.${1#h}"; }

# dt_field HOST MINOR JQ-FILTER: one field of "status MINOR --json".
dt_field() {
	local out
	out=$(dt "$1" status "$2" --json) || return 1
	jq -r "$3" <<<"$out"
}

# dt_wait HOST MINOR JQ-CONDITION SECS [WHAT]: poll until the condition holds.
dt_wait() {
	local h=$1 m=$2 cond=$3 secs=$4 what=${5:-$3} end out
	end=$((EPOCHSECONDS + secs))
	while :; do
		out=$(dt "$h" status "$m" --json 2>/dev/null) &&
			[[ "$(jq -r "$cond" <<<"$out")" == true ]] && return 0
		((EPOCHSECONDS < end)) || {
			echo "status on $h: $out" >&2
			fail "timed out after ${secs}s waiting on $h for: $what"
		}
		sleep 0.5
	done
}

# dt_connect_pair HA HB MINOR [connect options]: connect both sides at once.
dt_connect_pair() {
	local a=$1 b=$2 m=$3 ia ib pa
	shift 3
	ia=$(dt_ip "$a")
	ib=$(dt_ip "$b")
	pa=$((7700 + m))
	lab_bg "$a" "$DT_CTL" connect "$m" --local "$ia:$pa" --peer "$ib:$pa" --timeout 60 "$@"
	local ja=$LAB_BG_ID
	lab_bg "$b" "$DT_CTL" connect "$m" --local "$ib:$pa" --peer "$ia:$pa" --timeout 60 "$@"
	local jb=$LAB_BG_ID
	local ra=0 rb=0
	lab_bg_wait "$a" "$ja" 90 || ra=$?
	lab_bg_wait "$b" "$jb" 90 || rb=$?
	log "connect on $a: $(cat "$(lab_bg_log "$a" "$ja")")"
	log "connect on $b: $(cat "$(lab_bg_log "$b" "$jb")")"
	((ra == 0 && rb == 0)) || fail "connect failed ($a rc $ra, $b rc $rb)"
}

# dt_setup_pair HA HB MINOR: fresh metadata, attach, connect, HA becomes the
# initial sync source (Primary) and the initial full sync completes.
dt_setup_pair() {
	local a=$1 b=$2 m=$3 h
	for h in "$a" "$b"; do
		dt "$h" create-md --disk /dev/vda --force >/dev/null || fail "create-md on $h"
		dt "$h" attach "$m" --disk /dev/vda || fail "attach on $h"
	done
	dt_connect_pair "$a" "$b" "$m"
	dt "$a" primary "$m" --force || fail "primary --force on $a"
	dt_wait_synced "$a" "$b" "$m" 300
}

# dt_wait_synced HA HB MINOR SECS: both UpToDate, no resync running.
dt_wait_synced() {
	local cond='.connection == "connected" and .disk == "uptodate" and .peer_disk == "uptodate" and .sync == null'
	dt_wait "$1" "$3" "$cond" "$4" "in sync"
	dt_wait "$2" "$3" "$cond" 30 "in sync"
}

# dt_data_hash HOST DEV MINOR: sha256 of the data area as seen on DEV,
# limited to the replicated size of MINOR.
dt_data_hash() {
	local h=$1 dev=$2 m=$3 size
	size=$(dt_field "$h" "$m" .size_bytes) || fail "no size on $h"
	# O_DIRECT: a buffered read of the backing disk may come from a page
	# cache that dtrbd's own I/O (which goes around it) left stale
	lab_exec "$h" "dd if=$dev iflag=direct,count_bytes count=$size bs=1M status=none | sha256sum | cut -d' ' -f1"
}

# dt_expect_fail HOST WANT ARGS...: dtrbdctl must fail, with one line on
# stderr that mentions WANT (an extended regex).
dt_expect_fail() {
	local h=$1 want=$2 err rc=0
	shift 2
	err=$(dt "$h" "$@" 2>&1 >/dev/null) || rc=$?
	((rc != 0)) || fail "dtrbdctl $* succeeded on $h but should have failed"
	((rc != 255 && rc != 124)) || fail "dtrbdctl $* on $h: lab error rc $rc: $err"
	[[ "$(wc -l <<<"$err")" == 1 ]] || fail "dtrbdctl $*: expected one line of error, got: $err"
	grep -Eq -- "$want" <<<"$err" || fail "dtrbdctl $*: error '$err' does not match /$want/"
	log "refused as expected: dtrbdctl $* -> $err"
}
