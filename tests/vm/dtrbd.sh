# shellcheck shell=bash
# tests/vm/dtrbd.sh: dtrbd helpers for lab scenarios (sourced after lib.sh).
#
# Hosts see this machine's root, so the fresh build is used in place:
#   DT_TOP/kmod/dtrbd.ko and DT_TOP/build/ctl/dtrbdctl
# Host I (hI, or the I-th of lab_start --names) has address 10.99.0.I
# (lab_ip); device MINOR replicates on port 7700+MINOR.

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

# _dt_debug_ko DIR: build dtrbd.ko against the debug kernel's build tree
# DIR/build, in build/kmod-debug/ of the source tree (a copy of kmod/'s
# sources, so kmod/ itself stays built for the Debian kernel); prints the
# module's path.  Incremental: the copy keeps the sources' times.
_dt_debug_ko() {
	local dk=$1 out="$DT_TOP/build/kmod-debug" rel
	rel=$(<"$dk/release")
	mkdir -p "$out"
	(
		flock 9
		# Sources only: kmod/'s objects are for another kernel.
		tar -C "$DT_TOP/kmod" -cf - --exclude='*.o' --exclude='*.ko' --exclude='*.mod' \
			--exclude='*.mod.c' --exclude='.*.cmd' --exclude='*.symvers' --exclude=modules.order \
			--exclude='.check.log' --exclude='.tmp_versions' . | tar -C "$out" -xf - &&
			make -s -C "$out" KDIR="$dk/build" KVER="$rel" modules >"$out.log" 2>&1
	) 9>"$out.lock" || {
		tail -n 20 "$out.log" >&2
		fail "building dtrbd.ko against the debug kernel ($dk/build) failed; log: $out.log"
	}
	echo "$out/dtrbd.ko"
}

dt_preflight() {
	local dk
	# On the debug kernel the module must be built for it (unless DTRBD_KO
	# names one).
	if [[ -z "${DTRBD_KO:-}" ]] && dk=$(_lab_debug_kernel_dir 2>/dev/null); then
		DT_KO=$(_dt_debug_ko "$dk") || fail "no dtrbd.ko for the debug kernel (see above)"
	fi
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

dt_ip() { lab_ip "$1"; }

# dt_field HOST MINOR JQ-FILTER: one field of "status MINOR --json".
dt_field() {
	local out
	out=$(dt "$1" status "$2" --json) || return 1
	jq -r "$3" <<<"$out"
}

# dt_wait HOST MINOR JQ-CONDITION SECS [WHAT]: poll until the condition holds
# (SECS times the time scale: 3 on the debug kernel).
dt_wait() {
	local h=$1 m=$2 cond=$3 secs=$4 what=${5:-$3} end out
	secs=$((secs * $(_lab_timeout_scale)))	# the debug kernel is slower
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

# dt_setup_pair HA HB MINOR [DISK]: fresh metadata on DISK (default
# /dev/vda), attach, connect, HA becomes the initial sync source (Primary)
# and the initial full sync completes.
dt_setup_pair() {
	local a=$1 b=$2 m=$3 disk=${4:-/dev/vda} h
	for h in "$a" "$b"; do
		dt "$h" create-md --disk "$disk" --force >/dev/null || fail "create-md on $h"
		dt "$h" attach "$m" --disk "$disk" || fail "attach on $h"
	done
	dt_connect_pair "$a" "$b" "$m"
	dt "$a" primary "$m" --force || fail "primary --force on $a"
	dt_wait_synced "$a" "$b" "$m" 300
}

# dt_setup_pair_zeroed HA HB MINOR [DISK]: as dt_setup_pair, for disks known
# to be all zeroes (the lab's fresh sparse files): both sides adopt one new
# generation with new-current-uuid --clear-bitmap instead of a full initial
# sync, as an operator does for two new, zeroed volumes. Both end
# Secondary, connected and UpToDate.
dt_setup_pair_zeroed() {
	local a=$1 b=$2 m=$3 disk=${4:-/dev/vda} h
	for h in "$a" "$b"; do
		lab_exec "$h" "dd if=$disk bs=1M count=8 iflag=direct status=none | tr -d '\\0' | head -c 1 | wc -c | grep -qx 0" ||
			fail "dt_setup_pair_zeroed: $disk on $h is not zeroed"
		dt "$h" create-md --disk "$disk" --force >/dev/null || fail "create-md on $h"
		dt "$h" attach "$m" --disk "$disk" || fail "attach on $h"
	done
	dt_connect_pair "$a" "$b" "$m"
	dt "$a" new-current-uuid "$m" --clear-bitmap >/dev/null || fail "new-current-uuid --clear-bitmap on $a"
	dt_wait_synced "$a" "$b" "$m" 60
}

# dt_setup_pair_fresh HA HB MINOR [DISK]: what dt_setup_pair ends with (HA
# Primary, HB Secondary, connected, UpToDate) for the lab's fresh, all-zero
# disks, without the full initial sync (15-20 s for a 256 MiB disk under
# TCG): dt_setup_pair_zeroed, then HA promoted. The scenarios that test the
# initial sync itself (replicate, csum-resync, kcore, setup-variants) use
# dt_setup_pair.
dt_setup_pair_fresh() {
	dt_setup_pair_zeroed "$@"
	dt "$1" primary "$3" >/dev/null || fail "primary on $1"
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

# --- a writer with a latency bound (tests/vm/tools/latwriter.py) ---------------
DT_LATWRITER="$DT_TOP/tests/vm/tools/latwriter.py"

# dt_writer_start HOST DEV [latwriter options]: start concurrent O_DIRECT
# writes on HOST in the background until dt_writer_stop; its progress log is
# /lab/writer.progress (dt_writer_progress).  Sets DT_WRITER_ID.
dt_writer_start() {
	local h=$1 dev=$2
	shift 2
	lab_exec "$h" "rm -f /lab/writer.stop /lab/writer.progress"
	lab_bg "$h" python3 "$DT_LATWRITER" "$dev" --progress /lab/writer.progress \
		--stop-file /lab/writer.stop --duration 3600 "$@"
	# shellcheck disable=SC2034 # read by scenarios
	DT_WRITER_ID=$LAB_BG_ID
	# python's start-up takes seconds under TCG (tens on the debug kernel):
	# the writer is running once it has completed a write, not before
	local end=$((EPOCHSECONDS + 60 * $(_lab_timeout_scale))) ops
	while :; do
		ops=$(_dt_writer_ops "$h")
		((${ops:-0} > 0)) && break
		((EPOCHSECONDS < end)) || fail "the writer on $h completed no write within $((60 * $(_lab_timeout_scale)))s of its start: $(dt_writer_progress "$h")"
		sleep 0.2
	done
}

# dt_writer_progress HOST: the writer's last progress line (on this machine).
dt_writer_progress() {
	local f
	f="$(lab_host_dir "$1")/writer.progress"
	[[ -f "$f" ]] || return 0
	grep -a ' ops=' "$f" | tail -n 1
}

# _dt_writer_ops HOST: completed operations in the last progress line.
_dt_writer_ops() {
	local l
	l=$(dt_writer_progress "$1")
	l=${l#* ops=}
	echo "${l%% *}"
}

# dt_assert_writing HOST MINOR SECS WHAT: over SECS seconds both the device's
# written_bytes and the writer's completed operations must grow, and no
# write may be stuck past the writer's bound.
dt_assert_writing() {
	local h=$1 m=$2 secs=$3 what=$4 w0 w1 o0 o1
	secs=$((secs * $(_lab_timeout_scale)))	# the debug kernel is slower
	w0=$(dt_field "$h" "$m" .written_bytes) || fail "$what: no status on $h"
	o0=$(_dt_writer_ops "$h")
	sleep "$secs"
	w1=$(dt_field "$h" "$m" .written_bytes) || fail "$what: no status on $h"
	o1=$(_dt_writer_ops "$h")
	if grep -aq '^STUCK' "$(lab_host_dir "$h")/writer.progress" 2>/dev/null; then
		fail "$what: $(grep -a '^STUCK' "$(lab_host_dir "$h")/writer.progress" | head -n 1) on $h"
	fi
	((w1 > w0)) || fail "$what: writes stopped on $h (written_bytes $w0 -> $w1 in ${secs}s; writer: $(dt_writer_progress "$h"))"
	((${o1:-0} > ${o0:-0})) || fail "$what: the writer on $h made no progress in ${secs}s ($(dt_writer_progress "$h"))"
}

# dt_writer_stop HOST SECS: stop the writer, wait up to SECS for it to end;
# fails unless every write completed without error within its bound.
dt_writer_stop() {
	local h=$1 secs=$2 rc=0 out
	lab_exec "$h" "touch /lab/writer.stop"
	lab_bg_wait "$h" "$DT_WRITER_ID" "$secs" || rc=$?
	out=$(tail -n 1 "$(lab_bg_log "$h" "$DT_WRITER_ID")")
	case $rc in
	0) log "writer on $h: $out" ;;
	1) fail "a write or fsync failed on $h: $out" ;;
	2) fail "a write or fsync on $h took longer than its bound: $out" ;;
	124) fail "the writer on $h did not end within ${secs}s of being stopped (a write hangs): $(dt_writer_progress "$h")" ;;
	*) fail "the writer on $h ended with rc $rc: $out" ;;
	esac
}
