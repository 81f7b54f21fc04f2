// SPDX-License-Identifier: GPL-2.0
// The witness server: turns one request datagram into at most one response
// datagram. Authentication, sessions, anti-replay and idempotent retries
// live here; the decisions in WitnessState; durability behind Store.
//
// Sessions: a host's first request (or one with a session the witness does
// not know, e.g. after either side restarted) gets only a NewSession answer
// carrying a fresh random session id; the host repeats its request in that
// session. Within a session seq must increase: the same seq and nonce again
// is a retry and gets the very same answer (from a cache); anything older is
// dropped. A recorded request is therefore useless once its session is
// gone, and a request changes nothing and refreshes no lease unless it is
// fresh in the current session.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "witness/protocol.h"
#include "witness/state.h"

namespace dtrbd::witness {

struct ServerCounters {
	uint64_t answered = 0, retries = 0, sessions = 0, stale = 0, save_errors = 0;
	std::map<Reject, uint64_t> rejected;
};

class Server {
public:
	// state: loaded from the Store (or empty); log: one line per decision.
	Server(WitnessState state, const cluster::Keys &keys, Store &store, const Clock &clock,
	       std::function<void(const std::string &)> log);

	// `from` is for logs only ("10.99.0.1:40123").
	std::optional<std::vector<uint8_t>> handle(std::span<const uint8_t> datagram,
						   const std::string &from);

	const WitnessState &state() const { return state_; }
	const ServerCounters &counters() const { return counters_; }

private:
	struct Session {
		uint64_t id = 0;
		uint64_t boot_id = 0;
		uint64_t last_seq = 0;
		Nonce last_nonce{};
		std::vector<uint8_t> last_reply;
	};
	Response answer(const Request &q);
	void reject(Reject why, const std::string &from);

	WitnessState state_;
	cluster::Keys keys_;
	Store &store_;
	const Clock &clock_;
	std::function<void(const std::string &)> log_;
	std::map<std::string, Session> sessions_;
	ServerCounters counters_;
	std::map<Reject, Clock::time_point> last_logged_;
};

} // namespace dtrbd::witness
