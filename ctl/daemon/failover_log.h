// SPDX-License-Identifier: GPL-2.0
// What `dtrbdctl cluster` and the metrics say about a resource's history on
// this host: since when it has been Primary here, and its last failover
// (when, why, how long it took). The core hands every arbiter step to
// observe(); nothing here acts or reads a clock of its own, so the unit
// tests drive it with the simulated time the core uses.
//
// A failover, as counted here: this host was Secondary and not connected,
// its peer was not alive (dead to membership, or never heard since this
// daemon started), and the arbiter's promotion here succeeded. A planned
// hand-over (connected promotion) or a promotion while the peer is alive
// (connect-grace) is not one.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "arbiter/arbiter.h"

namespace dtrbd::daemon {

class FailoverLog {
public:
	struct Failover {
		std::string peer;
		bool peer_ever_heard = false;	// false: not seen since this daemon started
		uint64_t epoch = 0;		// the witness's grant
		arbiter::Time declared_dead{0};	// this host first saw the peer dead (or claimed)
		arbiter::Time promoted{0};
		std::optional<arbiter::Time> domain_started;	// unset: not (yet) started
		// "p1 dead, witness granted epoch 3"
		std::string reason() const;
	};

	// One arbiter step: @s is the state after it, @ev what was fed, @out
	// what the arbiter decided, @now the time given to step().
	void observe(const arbiter::State &s, const arbiter::Event &ev,
		     const arbiter::Output &out, arbiter::Time now);

	// Since when the device is Primary here (unset: it is not). When the
	// daemon found it Primary already at start, this is the first time it
	// saw it, and primary_adopted() says so.
	std::optional<arbiter::Time> primary_since() const { return primary_since_; }
	bool primary_adopted() const { return primary_adopted_; }
	const std::optional<Failover> &last() const { return last_; }
	uint64_t total() const { return total_; }

	// The "uptime", "last_failover" and "failovers" keys of a resource in
	// `dtrbdctl cluster --json` (times relative to @now, in ms).
	void to_json(nlohmann::json &resource, arbiter::Time now) const;

private:
	bool seen_kernel_ = false;
	std::optional<arbiter::Time> primary_since_;
	bool primary_adopted_ = false;
	// A failover under way: the peer is dead, this host not yet Primary.
	std::optional<Failover> pending_;
	uint64_t promote_id_ = 0;	// the arbiter's Promote for pending_
	uint64_t start_id_ = 0;		// its StartVm after the promotion
	bool awaiting_start_ = false;	// last_ promoted, domain not started
	std::optional<Failover> last_;
	uint64_t total_ = 0;
};

} // namespace dtrbd::daemon
