// SPDX-License-Identifier: GPL-2.0
// The witness client inside dtrbdd: non-blocking and pure apart from its
// Sender. The daemon polls the socket, passes every datagram to receive(),
// calls tick() at next_wakeup(), and gets results back as values.
//
// One request is in flight at a time, in submission order (an uptodate
// must never overtake an outdate sent before it); it is retransmitted
// every `retry` with the same seq and nonce (the witness answers a retry
// from its cache) until answered or `timeout`. Keep-alives are sent every
// `keepalive_interval` when nothing else is in flight, asking for the
// records of the resources given to set_resources() (round-robin, four per
// request); a submitted request replaces a keep-alive in flight.
// Responses are matched by seq and nonce: a replayed or late one is
// ignored. The witness is reachable while an authenticated answer came
// within half its lease.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "witness/protocol.h"

namespace dtrbd::witness {

class Sender {
public:
	virtual ~Sender() = default;
	virtual Status send(std::span<const uint8_t> datagram) = 0;	// never blocks
};

struct ClientConfig {
	std::string host;		// this host's name
	uint64_t boot_id = 0;		// this daemon's boot id (random, != 0)
	Clock::duration keepalive_interval = std::chrono::milliseconds(250);
	Clock::duration retry = std::chrono::milliseconds(100);
	Clock::duration timeout = std::chrono::milliseconds(2000);	// per request
	// Until the witness told its lease: reachable means answered within
	// half of this.
	Clock::duration assumed_lease = std::chrono::milliseconds(2000);
};

// The outcome of one submitted request, reported exactly once.
struct ClientResult {
	uint64_t id = 0;		// as given to submit()
	Op op = Op::Claim;
	std::string resource;
	bool granted = false;
	bool answered = false;		// false: the witness did not answer in time
	std::string message;		// refusal sentence, success note, or transport error
	std::optional<Record> record;	// after the request (when answered and known)
};

class WitnessClient {
public:
	WitnessClient(ClientConfig config, const cluster::Keys &keys, const Clock &clock, Sender &sender);

	void set_resources(std::vector<std::string> names);

	// Queues a request; its result comes from receive() or tick().
	// peer: for Uptodate (the peer now in sync), and for Claim with
	// in_sync (this host is connected to peer, both UpToDate: lets the
	// witness create its first record of the resource).
	void submit(uint64_t id, Op op, const std::string &resource,
		    const std::string &peer = "", bool in_sync = false);

	std::vector<ClientResult> receive(std::span<const uint8_t> datagram);
	std::vector<ClientResult> tick();
	Clock::time_point next_wakeup() const;

	bool reachable() const;
	std::optional<Clock::time_point> last_answer() const { return last_answer_; }
	Clock::duration lease() const { return lease_; }
	// The witness's record of a resource as last learned: absent key =
	// never learned; nullopt value = the witness has no record.
	const std::map<std::string, std::optional<Record>> &records() const { return records_; }
	// Bumped whenever records() changes, by any answer (keep-alives too:
	// they are how a resource the witness has no record of first becomes
	// known, and nothing else reports that).
	uint64_t records_version() const { return records_version_; }
	size_t pending() const { return queue_.size() + (inflight_ && !inflight_->keepalive ? 1 : 0); }

private:
	struct Pending {
		uint64_t id = 0;
		Request req;
		bool keepalive = false;
		Clock::time_point started{};
		Clock::time_point last_sent{};
		std::vector<uint8_t> bytes;
	};
	void start(Pending p);
	void transmit(Pending &p, bool renew);
	void maybe_start(std::vector<ClientResult> &out);

	ClientConfig config_;
	cluster::Keys keys_;
	const Clock &clock_;
	Sender &sender_;
	uint64_t session_ = 0;
	uint64_t seq_ = 0;
	std::deque<Pending> queue_;
	std::optional<Pending> inflight_;
	std::vector<std::string> resources_;
	size_t rr_ = 0;
	Clock::time_point next_keepalive_;
	std::optional<Clock::time_point> last_answer_;
	Clock::duration lease_;
	std::map<std::string, std::optional<Record>> records_;
	uint64_t records_version_ = 0;
};

} // namespace dtrbd::witness
