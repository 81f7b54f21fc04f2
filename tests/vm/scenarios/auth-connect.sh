#!/bin/bash
# description: connect --secret-file: the same secret on both hosts connects; a different secret, or a secret on one side only, is refused on both sides with the sentence in dtrbdctl's output, and the devices stay standalone (nothing was handed to the module)
# timeout: 420
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

dt_start 2 --disk-mib 64
for h in h1 h2; do
	dt "$h" create-md --disk /dev/vda --force >/dev/null || fail "create-md on $h"
	dt "$h" attach 0 --disk /dev/vda || fail "attach on $h"
	# the same good secret on both hosts, and a different one
	lab_exec "$h" "mkdir -p /run/dtrbd-auth && umask 077 &&
		echo 'the-shared-lab-secret-0123456789' > /run/dtrbd-auth/good &&
		echo 'a-different-secret-for-$h-98765' > /run/dtrbd-auth/other" ||
		fail "writing the secrets on $h"
done

# both_refused H1_ARGS H2_ARGS WANT1 WANT2: connect on both hosts at once;
# both must fail, each saying its sentence, and both stay standalone.
both_refused() {
	local args1=$1 args2=$2 want1=$3 want2=$4 rc err h job want
	# shellcheck disable=SC2086
	lab_bg h1 "$DT_CTL" connect 0 --local 10.99.0.1:7700 --peer 10.99.0.2:7700 --timeout 30 $args1
	local j1=$LAB_BG_ID
	# shellcheck disable=SC2086
	lab_bg h2 "$DT_CTL" connect 0 --local 10.99.0.2:7700 --peer 10.99.0.1:7700 --timeout 30 $args2
	local j2=$LAB_BG_ID
	for h in h1 h2; do
		if [[ $h == h1 ]]; then job=$j1 want=$want1; else job=$j2 want=$want2; fi
		rc=0
		lab_bg_wait "$h" "$job" 60 || rc=$?
		err=$(cat "$(lab_bg_log "$h" "$job")")
		((rc != 0)) || fail "connect on $h succeeded, but it should have been refused: $err"
		grep -Fq -- "$want" <<<"$err" || fail "connect on $h: refused without saying '$want': $err"
		log "$h refused: $err"
	done
	for h in h1 h2; do
		c=$(dt_field "$h" 0 .connection)
		assert_eq "$c" standalone "$h's connection after a refused authentication"
	done
}

# 1. Different secrets: both sides refuse, each naming the other.
both_refused "--secret-file /run/dtrbd-auth/good" "--secret-file /run/dtrbd-auth/other" \
	"dtrbdctl: the peer 10.99.0.2:7700 failed to prove that it knows the shared secret" \
	"dtrbdctl: the peer 10.99.0.1:7700 failed to prove that it knows the shared secret"
log "1: different secrets refused on both sides, both standalone"

# 2. A secret on one side only.
both_refused "--secret-file /run/dtrbd-auth/good" "" \
	"connects without a shared secret but this side requires one" \
	"requires a shared secret but this side has none"
log "2: a secret on one side only refused on both sides, both standalone"

# 3. The same secret: connected.
dt_connect_pair h1 h2 0 --secret-file /run/dtrbd-auth/good
dt_wait h1 0 '.connection == "connected"' 30 "h1 connected with the shared secret"
dt_wait h2 0 '.connection == "connected"' 30 "h2 connected with the shared secret"
log "3: the same secret on both hosts connects"
