// SPDX-License-Identifier: GPL-2.0
// The arbiter: dtrbdd's decision logic for one resource, as a pure state
// machine. step(state, event, now) updates the state and returns the actions
// the daemon must carry out, one log line per decision, and `blocked`: why
// the daemon is refusing to act (null when it is not). No I/O happens here;
// the daemon feeds observations (kernel, membership, witness, libvirt,
// results of earlier actions, operator commands) and executes actions.
//
// The safety model (design-brief §6) and the rules are documented in
// Documentation/architecture.md, section "dtrbdd decisions".
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace dtrbd::arbiter {

// Monotonic time with an arbitrary origin (e.g. CLOCK_MONOTONIC in ms). All
// Time values given to one State must come from the same clock.
using Duration = std::chrono::milliseconds;
using Time = std::chrono::milliseconds;

// ---- observations --------------------------------------------------------

enum class Role { Unknown, Secondary, Primary };
enum class Conn { Standalone, Connecting, Connected, Disconnecting };
enum class Disk { Unknown, Diskless, Inconsistent, Outdated, UpToDate };
enum class Sync { None, Source, Target };

// A snapshot of the device on this host (GET_DEVICE / EVENT). Send one
// after every kernel event and after every completed kernel action.
struct KernelView {
	bool attached = false;		// /dev/dtrbdN exists with its disk
	Role role = Role::Unknown;
	Role peer_role = Role::Unknown;	// meaningful while connected
	Conn conn = Conn::Standalone;
	Disk disk = Disk::Unknown;
	Disk peer_disk = Disk::Unknown;	// meaningful while connected
	bool frozen = false;		// Primary lost its peer: writes wait
	Sync sync = Sync::None;
	uint64_t sync_total = 0, sync_done = 0;	// bytes, this run
	uint32_t open_count = 0;
	bool split_brain = false;	// the last connect found split brain
	bool io_failed = false;		// FAIL_IO done: writes fail until demoted
};

// What this host's arbiter tells the others about a resource; the daemon
// sends summary(state) in every heartbeat and hands the peer's copy back
// in PeerView::summary.
struct Summary {
	bool attached = false;
	Role role = Role::Unknown;
	Disk disk = Disk::Unknown;
	Conn conn = Conn::Standalone;
	bool frozen = false;
	bool domain_running = false;	// the domain runs on this host
	bool admin_up = true;		// not taken down by 'dtrbdctl down'
	bool eligible = false;		// could be Primary here now
	bool handing_over = false;	// shutting the domain down to move it
	// Where the resource should run, as last decided by an operator
	// (migrate, fail-back) or a failover with failback manual/never. The
	// highest seq wins (ties: the smaller host name); 0 = never set.
	uint64_t placement_seq = 0;
	std::string placement_host;
	std::string phase;		// for humans: "running", "frozen", ...
};

// Membership's view of one other host of this resource.
struct PeerView {
	std::string host;
	bool alive = false;		// heard on some link within deadtime
	bool ever_heard = false;	// heard since this daemon started
	Time last_heard{0};		// when last heard (valid if ever_heard)
	uint64_t boot_id = 0;		// changes when the peer's daemon restarts
	std::optional<Summary> summary;	// its last summary for this resource
	// When a heartbeat signed with another secret last arrived (it
	// authenticates nothing, so it only adds a hint to `blocked`: the
	// silent peer may be up with a different secret-file).
	std::optional<Time> other_secret_at;
};

// The witness's record for this resource, as last learned from it.
struct WitnessRecord {
	uint64_t epoch = 0;
	std::string holder;		// empty: none
	bool released = false;
	std::vector<std::string> current;	// hosts whose copy is current
};

struct WitnessView {
	bool reachable = false;
	// The witness answered about this resource (record may still be none:
	// it has none yet, so the first connected, in-sync report creates it).
	bool record_known = false;
	std::optional<WitnessRecord> record;
};

enum class DomainState { Unknown, Missing, ShutOff, Running, Paused,
			 ShuttingDown, Crashed };

struct VmView {
	DomainState state = DomainState::Unknown;
};

// The result of an action, reported exactly once per action id (a result
// that never comes is handled as a failure after Params::action_timeout).
// For witness requests ok = granted, message = the witness's refusal
// sentence or the transport error, record = the record after the request
// when the witness answered.
struct ActionDone {
	uint64_t id = 0;
	bool ok = false;
	std::string message;
	bool witness_answered = false;	// a refusal from the witness itself
	std::optional<WitnessRecord> record;
};

struct Command {
	// DiskAppeared: udev saw the resource's backing device appear
	// (dtrbdctl udev-attach): attach now rather than at the next retry.
	enum class Kind { Up, Down, FailBack, Migrate, DiskAppeared };
	Kind kind = Kind::Up;
	std::string host;		// Migrate: the target
};

// Deliver at least by Output::wake_at, and any time is fine.
struct Tick {};

using Event = std::variant<Tick, KernelView, PeerView, WitnessView, VmView,
			   ActionDone, Command>;

// ---- decisions -----------------------------------------------------------

enum class ActionKind {
	Attach,		// attach the backing disk (config's disk, meta)
	Connect,	// connect to peer, on-peer-loss=freeze, protocol C
	Disconnect,
	Promote,	// force is never set by the arbiter
	Demote,
	ResumeIo,	// frozen Primary goes on alone
	FailIo,		// frozen Primary fails the waiting writes with EIO
	DefineVm,	// define the domain from domain-xml
	StartVm,
	ShutdownVm,	// ACPI; the arbiter sends DestroyVm after `deadline`
	DestroyVm,
	WitnessClaim,
	WitnessOutdate,	// current := {this host}
	WitnessRelease,
	WitnessUptodate,// current += {peer}
};

struct Action {
	uint64_t id = 0;		// echo it in ActionDone
	ActionKind kind = ActionKind::Attach;
	std::string peer;		// WitnessUptodate, Connect: the peer host
	Time deadline{0};		// ShutdownVm: destroy after this time
	bool force = false;
};

struct Output {
	std::vector<Action> actions;
	std::vector<std::string> log;	// one line per decision, "vm1: ..."
	// Null, or one sentence: why the daemon is withholding an action
	// and what the operator can do.
	std::optional<std::string> blocked;
	// Null, or one sentence about a degraded but safe situation (e.g.
	// the witness is unreachable while both hosts are fine).
	std::optional<std::string> warning;
	// For a Command: null = accepted, else the refusal sentence.
	std::optional<std::string> refusal;
	// The arbiter needs a Tick no later than this (null: no timer).
	std::optional<Time> wake_at;
};

// ---- configuration -------------------------------------------------------

enum class Failback { Auto, Manual, Never };

struct ResourceSpec {
	std::string name;		// "vm1"
	uint32_t minor = 0;
	std::vector<std::string> hosts;	// every host of the resource (two today)
	std::string preferred;
	Failback failback = Failback::Auto;
	std::string domain;		// libvirt domain name
	bool witness_configured = true;
};

// Timing. The safety argument (architecture.md) needs
//   zombie_bound >= kernel_timeout + isolation_bound + destroy_allowance
//                   + heartbeat_interval
// check_params() says which inequality is broken.
struct Params {
	Duration heartbeat_interval{200};	// membership's send interval
	Duration deadtime{1000};		// membership's: silent -> dead
	Duration kernel_timeout{1000};	// replication link declared dead
	Duration isolation_bound{1000};	// frozen w/o witness -> destroy
	Duration destroy_allowance{500};	// destroy + FailIo + demote
	Duration zombie_bound{3000};	// survivor waits after last evidence
	Duration shutdown_timeout{60000};	// ACPI, then destroy
	Duration action_timeout{15000};	// a result never came: failed
	// Defining and starting a domain: libvirt returns once QEMU runs,
	// which takes seconds on a loaded host (15-20 s in the TCG lab), so
	// these get longer before a missing result counts as failed.
	Duration start_timeout{120000};
	Duration witness_retry{500};	// re-ask a refusing/unreachable witness
	Duration reconnect_min{500};	// backoff after a lost connection
	Duration reconnect_max{10000};
	Duration attach_retry{5000};
	Duration kernel_retry{2000};	// after a refused promote/demote
	// Both hosts alive but the replication link does not come up: the
	// desired host promotes alone (witness: claim, outdate) after this.
	Duration connect_grace{10000};
};

// Null when the parameters are safe, else the sentence saying why not.
std::optional<std::string> check_params(const Params &p);

// ---- state ---------------------------------------------------------------

// Everything the arbiter remembers. A plain value: copy it freely; a
// daemon restart is initial_state() again (nothing needs persisting).
struct Inflight {
	uint64_t id = 0;
	ActionKind kind = ActionKind::Attach;
	Time issued{0};
	uint64_t episode = 0;		// freeze episode it belongs to
};

struct State {
	ResourceSpec spec;
	Params params;
	std::string self;
	std::string peer;		// the other host (two-host resources)
	Time started{0};
	uint64_t next_id = 1;

	// Latest observations (nullopt: not seen since start).
	std::optional<KernelView> kernel;
	std::optional<PeerView> peer_view;
	std::optional<WitnessView> witness;
	std::optional<VmView> vm;

	bool admin_up = true;
	bool adopted = false;		// first kernel + vm views seen
	uint64_t placement_seq = 0;
	std::string placement_host;

	std::vector<Inflight> inflight;

	// Evidence that the peer was alive: max(last heartbeat, last time
	// the device was seen connected, daemon start).
	Time peer_evidence{0};

	// Freeze episode: counted up whenever `frozen` is first seen.
	uint64_t episode = 0;
	Time frozen_seen{0};
	bool claimed_in_episode = false;
	bool outdated_in_episode = false;
	bool giving_up = false;		// witness refused: destroy, fail, demote

	// Failover (disconnected promotion): claim, then outdate, then promote.
	bool failover_claimed = false;
	bool failover_outdated = false;
	uint64_t failover_epoch = 0;

	// Hand-over on this (Primary) side.
	bool handing_over = false;
	std::optional<Time> shutdown_deadline;

	// Backoffs.
	Duration reconnect_delay{0};
	Time next_connect{0};
	Time next_attach{0};
	Time next_witness{0};
	Time next_kernel{0};
	// When a destroy last succeeded: a start issued before it was cut
	// short by it (or will find the domain off), so it counts as down.
	Time destroyed_at{-1};
	bool was_connected = false;
	Time disconnected_since{0};
	bool peer_was_alive = false;

	// Last witness refusal, for `blocked`.
	std::string witness_refusal;
	std::string kernel_refusal;
	// Last failed connect's sentence (empty after a success): retries
	// that fail the same way are not logged again.
	std::string connect_failure;

	// What was last reported, so logs are written once per change.
	std::optional<std::string> last_blocked;
	std::optional<std::string> last_warning;
};

// spec.hosts must contain self; a resource with other than two hosts is
// reported through `blocked` (not supported yet).
State initial_state(const ResourceSpec &spec, const std::string &self,
		    const Params &params, Time now);

// The state machine: apply one event at time `now` (monotonic, never
// decreasing between calls on one State).
Output step(State &state, const Event &event, Time now);

// What to put in this host's heartbeat for this resource.
Summary summary(const State &state);

// For logs and dtrbdctl: "Primary", "UpToDate", ...
const char *to_string(Role r);
const char *to_string(Conn c);
const char *to_string(Disk d);
const char *to_string(DomainState s);
const char *to_string(ActionKind k);

} // namespace dtrbd::arbiter
