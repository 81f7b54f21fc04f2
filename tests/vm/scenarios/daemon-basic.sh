#!/bin/bash
# description: dtrbdd on two hosts brings a resource up connected (on-peer-loss freeze, authenticated) with the preferred host Primary, heartbeats both ways, cluster --json shows it, a second daemon is refused, kill -9 + restart adopts without changing anything, and dtrbdctl reload re-executes the same process, which adopts the same way, while a bad file is refused (SIGHUP and dtrbdctl reload) and the old configuration kept
# timeout: 600
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
. "$(dirname "${BASH_SOURCE[0]}")/../dtrbd.sh"

DTRBDD="$(dirname "$DT_CTL")/dtrbdd"
[[ -x "$DTRBDD" ]] || fail "no $DTRBDD: build first (cmake --build build)"

dt_start 2
# A replicated pair, both UpToDate, then left alone: Secondary, StandAlone.
dt_setup_pair_fresh h1 h2 1
dt h1 secondary 1
dt h1 disconnect 1
dt h2 disconnect 1
log "minor 1 attached on h1 and h2, UpToDate, StandAlone, both Secondary"

secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
for h in h1 h2; do
	lab_exec "$h" "mkdir -p /etc/dtrbd && umask 077 && printf '%s\n' $secret >/etc/dtrbd/secret &&
cat >/etc/dtrbd/dtrbd.conf <<'CONF'
secret-file = \"/etc/dtrbd/secret\"

[hosts.h1]
address = \"10.99.0.1\"
[hosts.h2]
address = \"10.99.0.2\"

[resources.r1]
minor = 1
port = 7701
disk = \"/dev/vda\"
preferred = \"h1\"
failback = \"manual\"
CONF" || fail "writing the configuration on $h"
	lab_exec "$h" "$DT_CTL" check-config || fail "check-config on $h"
done

start_daemon() {	# start_daemon HOST: dtrbdd in the background, log in /lab
	lab_exec "$1" "setsid $DTRBDD >>/lab/dtrbdd.log 2>&1 </dev/null & echo \$! >/lab/dtrbdd.pid"
}

# cluster_field HOST JQ: one field of "dtrbdctl cluster --json" on HOST.
cluster_field() {
	local out
	out=$(lab_exec "$1" "$DT_CTL" cluster --json 2>/dev/null) || return 1
	jq -r "$2" <<<"$out"
}

wait_cluster() {	# wait_cluster HOST JQ-CONDITION SECS WHAT
	local end=$((EPOCHSECONDS + $3))
	until [[ "$(cluster_field "$1" "$2" 2>/dev/null)" == true ]]; do
		((EPOCHSECONDS < end)) || {
			lab_exec "$1" "$DT_CTL" cluster >&2 || true
			lab_exec "$1" "cat /lab/dtrbdd.log" >&2 || true
			fail "timed out after $3 s on $1 waiting for: $4"
		}
		sleep 1
	done
}

# No daemon yet: one sentence.
out=$(lab_exec h1 "$DT_CTL" cluster 2>&1) && fail "cluster without a daemon succeeded"
[[ "$out" == "dtrbdctl: dtrbdd is not running on this host (no /run/dtrbd/dtrbdd.sock); start it with 'systemctl start dtrbd' or 'dtrbdd'" ]] ||
	fail "cluster without a daemon said: $out"

t0=$EPOCHREALTIME
start_daemon h1
start_daemon h2
wait_cluster h1 '.resources[0] | .connection == "connected" and .primary == "h1" and .role == "primary"' 120 \
	"r1 connected with h1 Primary"
wait_cluster h2 '.resources[0] | .connection == "connected" and .primary == "h1" and .role == "secondary"' 60 \
	"h2 sees r1 connected, h1 Primary"
log "r1 connected with h1 Primary $(echo "$EPOCHREALTIME - $t0" | bc) s after the daemons started"
lab_exec h1 "$DT_CTL" cluster
json=$(lab_exec h1 "$DT_CTL" cluster --json)
for k in host hosts witness resources; do
	jq -e "has(\"$k\")" <<<"$json" >/dev/null || fail "cluster --json has no $k"
done
for k in name minor primary role disk peer_disk connection frozen sync vm blocked; do
	jq -e ".resources[0] | has(\"$k\")" <<<"$json" >/dev/null || fail "resources[0] has no $k"
done
assert_eq "$(jq -r .host <<<"$json")" h1 "cluster --json .host"
# dtrbdd connects with on-peer-loss freeze, always.
assert_eq "$(dt_field h1 1 .on_peer_loss)" freeze "h1 on_peer_loss under dtrbdd"
assert_eq "$(dt_field h2 1 .on_peer_loss)" freeze "h2 on_peer_loss under dtrbdd"
assert_eq "$(jq -r '.resources[0].frozen' <<<"$json")" false "cluster --json frozen"
# Heartbeats: each daemon hears the other on its one link.
wait_cluster h1 '.hosts[] | select(.name == "h2") | .alive and (.links[0].last_heard_ms | type == "number")' 30 \
	"h1 hears h2's heartbeats"
wait_cluster h2 '.hosts[] | select(.name == "h1") | .alive' 30 "h2 hears h1's heartbeats"
lab_exec h1 "grep -q 'dtrbdd: ready on h1: heartbeat on UDP port 7788' /lab/dtrbdd.log" ||
	fail "h1's daemon did not log that it is ready"
lab_exec h1 "grep -q 'dtrbdd: peer h2 is alive' /lab/dtrbdd.log" || fail "h1 did not log h2 alive"
# The event loop runs SCHED_RR (its worker threads do not) with memory locked.
lab_exec h1 "grep -q 'dtrbdd: event loop at real-time priority 10 (SCHED_RR), memory locked' /lab/dtrbdd.log" ||
	fail "h1's daemon did not say it runs at real-time priority: $(lab_exec h1 "grep -E 'real-time|mlockall' /lab/dtrbdd.log")"
out=$(lab_exec h1 'chrt -p $(cat /lab/dtrbdd.pid)')
[[ "$out" == *"policy: SCHED_RR|SCHED_RESET_ON_FORK"*"priority: 10"* ]] ||
	fail "dtrbdd's main thread is not SCHED_RR at 10: $out"
# Only the event loop: no other thread of dtrbdd runs real-time.
out=$(lab_exec h1 'for t in /proc/$(cat /lab/dtrbdd.pid)/task/*; do chrt -p ${t##*/}; done | grep -c "policy: SCHED_RR" || true')
assert_eq "$out" 1 "dtrbdd threads at SCHED_RR"
lab_exec h1 'grep -E "^VmLck:[[:space:]]+[1-9]" /proc/$(cat /lab/dtrbdd.pid)/status' >/dev/null ||
	fail "dtrbdd's memory is not locked: $(lab_exec h1 'grep VmLck /proc/$(cat /lab/dtrbdd.pid)/status')"

# A second daemon is refused with one sentence, and changes nothing.
out=$(lab_exec h1 "$DTRBDD" 2>&1) && fail "a second dtrbdd started"
[[ "$out" == *"another dtrbdd is already running on this host (pid "* ]] || fail "second dtrbdd said: $out"
log "second daemon refused: $out"

# Bad input: one sentence each, nothing changes.
out=$(lab_exec h1 "$DT_CTL" up nope 2>&1) && fail "up of an unknown resource succeeded"
assert_eq "$out" "dtrbdctl: unknown resource 'nope'; h1 has r1" "up nope"
out=$(lab_exec h1 "$DT_CTL" migrate r1 h9 2>&1) && fail "migrate to an unknown host succeeded"
assert_eq "$out" "dtrbdctl: not migrating r1: h9 is not one of its hosts (h1, h2)" "migrate r1 h9"

# kill -9 of the daemon: the device stays Primary and connected; a new
# daemon adopts it without touching it.
lab_exec h1 "dd if=/dev/urandom of=/dev/dtrbd1 bs=4k count=256 oflag=direct status=none" || fail "write"
written=$(dt_field h1 1 .written_bytes)
lab_exec h1 'kill -9 $(cat /lab/dtrbdd.pid)'
sleep 2
assert_eq "$(dt_field h1 1 .role)" primary "h1 role after kill -9"
assert_eq "$(dt_field h1 1 .connection)" connected "h1 connection after kill -9"
lab_exec h1 "dd if=/dev/urandom of=/dev/dtrbd1 bs=4k count=256 oflag=direct status=none" ||
	fail "write while the daemon is dead"
start_daemon h1
wait_cluster h1 '.resources[0] | .connection == "connected" and .primary == "h1"' 60 "adoption"
lab_exec h1 "grep -q 'r1: found /dev/dtrbd1 primary, connected' /lab/dtrbdd.log" ||
	fail "the restarted daemon did not log what it adopted"
sleep 3
assert_eq "$(dt_field h1 1 .role)" primary "h1 role after the restart"
assert_eq "$(dt_field h1 1 .connection)" connected "h1 connection after the restart"
after=$(dt_field h1 1 .written_bytes)
((after >= written + (1 << 20))) || fail "written_bytes went from $written to $after"
log "kill -9 and restart: r1 stayed Primary and connected, the new daemon adopted it"

# Reload (dtrbdctl reload, SIGHUP): a good file re-executes the same
# process, which adopts r1 untouched; a bad one is refused and kept out.
pid=$(lab_exec h1 'cat /lab/dtrbdd.pid')
readies=$(lab_exec h1 "grep -c 'dtrbdd: ready on h1' /lab/dtrbdd.log")
out=$(lab_exec h1 "$DT_CTL" reload) || fail "dtrbdctl reload on h1 failed: $out"
[[ "$out" == "dtrbdd on h1 reloads /etc/dtrbd/dtrbd.conf (2 hosts, 1 resource, no witness)" ]] || fail "reload said: $out"
end=$((EPOCHSECONDS + 60))
until (($(lab_exec h1 "grep -c 'dtrbdd: ready on h1' /lab/dtrbdd.log") > readies)); do
	((EPOCHSECONDS < end)) || fail "dtrbdd on h1 was not ready again 60 s after the reload: $(lab_exec h1 'tail -n 20 /lab/dtrbdd.log')"
	sleep 0.5
done
lab_exec h1 "kill -0 $pid" || fail "the reloaded dtrbdd is not process $pid"
lab_exec h1 "grep -q 'dtrbdd: reloading /etc/dtrbd/dtrbd.conf' /lab/dtrbdd.log" || fail "no reload line in h1's log"
assert_eq "$(lab_exec h1 "grep -c 'r1: found /dev/dtrbd1 primary, connected' /lab/dtrbdd.log")" 2 \
	"adoptions of r1 logged (the restart and the reload)"
assert_eq "$(dt_field h1 1 .role) $(dt_field h1 1 .connection)" "primary connected" "r1 on h1 after the reload"
lab_exec h1 "cp /etc/dtrbd/dtrbd.conf /lab/conf.good && echo 'bogus = 1' >>/etc/dtrbd/dtrbd.conf"
lab_exec h1 "kill -HUP $pid"
end=$((EPOCHSECONDS + 30))
until lab_exec h1 "grep -q 'dtrbdd: SIGHUP: not reloading: /etc/dtrbd/dtrbd.conf:' /lab/dtrbdd.log"; do
	((EPOCHSECONDS < end)) || fail "SIGHUP with a bad file: no refusal in the log: $(lab_exec h1 'tail -n 5 /lab/dtrbdd.log')"
	sleep 0.5
done
err=$(lab_exec h1 "$DT_CTL" reload 2>&1) && fail "reload of a bad file succeeded"
[[ "$err" == "dtrbdctl: not reloading: /etc/dtrbd/dtrbd.conf:"*"unknown key 'bogus'"*"keeps the configuration it has" ]] ||
	fail "reload of a bad file said: $err"
assert_eq "$(cluster_field h1 '.resources[0].role')" primary "r1 under the kept configuration"
lab_exec h1 "cp /lab/conf.good /etc/dtrbd/dtrbd.conf"
log "reload: same pid $pid, r1 adopted untouched; a bad file refused ($err)"

lab_exec h1 'kill -TERM $(cat /lab/dtrbdd.pid)'
lab_exec h2 'kill -TERM $(cat /lab/dtrbdd.pid)'
sleep 1
assert_eq "$(dt_field h1 1 .role)" primary "h1 role after SIGTERM"
lab_exec h1 "cat /lab/dtrbdd.log"
