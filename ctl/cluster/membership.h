// SPDX-License-Identifier: GPL-2.0
// Membership: which peers are alive, heard on which links. Pure logic over
// a Clock and a Transport: the daemon passes every received heartbeat
// datagram to receive(), calls tick() whenever next_wakeup() has come, and
// acts on the returned events. Rules (Documentation/architecture.md,
// "Membership"):
//   - a peer is alive iff some link heard an accepted heartbeat from it
//     within `deadtime`; a link is up iff it did;
//   - one link going silent while another is heard is LinkDown with
//     peer_alive = true: a warning, never a peer death;
//   - a new boot id of the peer (its daemon restarted) is PeerRestarted;
//     its old summaries are dropped.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "cluster/heartbeat.h"
#include "cluster/transport.h"
#include "common/clock.h"

namespace dtrbd::cluster {

struct PeerConfig {
	std::string name;
	// The peer's address on each link: addresses[i] is reached through
	// local link i (the i-th entry of this host's heartbeat list).
	std::vector<std::string> addresses;
};

struct MembershipConfig {
	std::string self;
	size_t links = 1;		// number of local links (sockets)
	std::vector<PeerConfig> peers;
	uint16_t port = kDefaultHeartbeatPort;
	Clock::duration interval = std::chrono::milliseconds(200);
	Clock::duration deadtime = std::chrono::milliseconds(1000);
	// Rejected datagrams are logged at most once per this period per kind.
	Clock::duration log_interval = std::chrono::seconds(10);
};

// Null when the configuration is usable, else the sentence saying why not.
std::optional<std::string> check_config(const MembershipConfig &c);

// ---- events ---------------------------------------------------------------

struct PeerAlive {		// first accepted heartbeat after being dead/unknown
	std::string peer;
	uint64_t boot_id = 0;
};
struct PeerDead {		// no link heard the peer within deadtime
	std::string peer;
};
struct PeerRestarted {		// the peer's daemon has a new boot id
	std::string peer;
	uint64_t old_boot = 0, new_boot = 0;
};
struct LinkUp {
	std::string peer;
	size_t link = 0;
};
struct LinkDown {		// peer_alive: another link still hears it (warning)
	std::string peer;
	size_t link = 0;
	bool peer_alive = false;
};
struct SummaryChanged {		// resources whose summary from peer changed
	std::string peer;
	std::vector<std::string> resources;
};
using Event = std::variant<PeerAlive, PeerDead, PeerRestarted, LinkUp,
			   LinkDown, SummaryChanged>;

// One line for logs: "peer p2 is dead: no heartbeat on any link for 1000 ms".
std::string describe(const Event &e, const MembershipConfig &c);

// ---- state ----------------------------------------------------------------

struct LinkState {
	bool ever_heard = false;
	bool up = false;
	Clock::time_point last_heard{};
};

struct PeerState {
	std::string name;
	bool alive = false;
	bool ever_heard = false;
	Clock::time_point last_heard{};	// valid if ever_heard
	uint64_t boot_id = 0;		// confirmed boot id (0: none yet)
	std::vector<LinkState> links;	// one per local link
	std::map<std::string, ResourceSummary> summaries;	// by resource name
	ReplayGuard guard;
};

struct Counters {
	uint64_t sent = 0, send_errors = 0, accepted = 0;
	std::map<Reject, uint64_t> rejected;	// includes StaleEcho
};

class Membership {
public:
	// boot_id: random and != 0, new on every daemon start.
	Membership(MembershipConfig config, const Keys &keys, uint64_t boot_id,
		   const Clock &clock, Transport &transport);

	// Summaries sent in every heartbeat from now on (more than
	// kMaxSummaries are spread over several datagrams per interval).
	void set_summaries(std::vector<ResourceSummary> summaries);

	// A datagram that arrived on local link `link`.
	std::vector<Event> receive(size_t link, std::span<const uint8_t> datagram);

	// Sends the heartbeats that are due and expires silent links and
	// peers. Call it at next_wakeup() (earlier calls are harmless).
	std::vector<Event> tick();
	Clock::time_point next_wakeup() const;

	const PeerState *peer(std::string_view name) const;
	const std::vector<PeerState> &peers() const { return peers_; }
	const Counters &counters() const { return counters_; }
	// When a datagram signed with another secret (another key id) last
	// arrived, on any link; nullopt: never.
	std::optional<Clock::time_point> last_other_secret() const { return other_secret_at_; }
	uint64_t boot_id() const { return boot_id_; }
	const MembershipConfig &config() const { return config_; }

	// Where log lines go (one per event and rate-limited rejections).
	void set_log(std::function<void(const std::string &)> log) { log_ = std::move(log); }

private:
	void send_all();
	void reject(Reject why, size_t link, const std::string &who);
	PeerState *find(std::string_view name);

	MembershipConfig config_;
	Keys keys_;
	uint64_t boot_id_;
	const Clock &clock_;
	Transport &transport_;
	std::vector<PeerState> peers_;
	std::vector<ResourceSummary> summaries_;
	uint64_t seq_ = 0;
	Clock::time_point next_send_;
	Counters counters_;
	std::optional<Clock::time_point> other_secret_at_;
	struct RateLimit {
		Clock::time_point last{};
		bool logged = false;
		uint64_t suppressed = 0;
	};
	std::map<Reject, RateLimit> ratelimit_;
	std::function<void(const std::string &)> log_;
};

} // namespace dtrbd::cluster
