// SPDX-License-Identifier: GPL-2.0
// The daemon's ends of the heartbeat (ctl/cluster/) and of the witness
// (ctl/witness/): their UDP sockets on the event loop, their timers, and
// the translation of what they report into the core's inputs.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "cluster/membership.h"
#include "cluster/udp.h"
#include "config/config.h"
#include "daemon/core.h"
#include "daemon/loop.h"
#include "witness/client.h"

namespace dtrbd::daemon {

// Heartbeats on every link of this host to every other host.
class Heartbeats {
public:
	static Result<std::unique_ptr<Heartbeats>> make(Loop &loop, const config::Config &cfg,
							const std::string &self,
							const cluster::Keys &keys, uint64_t boot_id,
							const Clock &clock, Core &core,
							std::function<void(const std::string &)> log);
	~Heartbeats();
	// After the core changed: what the next heartbeats carry, and the timer.
	void update();

private:
	Heartbeats(Loop &loop, Core &core, const Clock &clock) : loop_(loop), core_(core), clock_(clock) {}
	void handle(const std::vector<cluster::Event> &evs);
	void report(const std::string &peer);

	Loop &loop_;
	Core &core_;
	const Clock &clock_;
	std::optional<cluster::UdpTransport> udp_;
	std::unique_ptr<cluster::Membership> m_;
	std::optional<Timer> timer_;
	std::function<void(const std::string &)> log_;
};

// The witness client as the core's WitnessPort.
class WitnessLink final : public WitnessPort, public witness::Sender {
public:
	static Result<std::unique_ptr<WitnessLink>> make(Loop &loop, const config::Config &cfg,
							 const std::string &self,
							 const cluster::Keys &keys, uint64_t boot_id,
							 const Clock &clock);
	~WitnessLink() override;
	// Set once the core exists (the core needs the port first).
	void attach(Core *core) { core_ = core; }
	// Where "witness ... is reachable/unreachable" lines go.
	void set_log(std::function<void(const std::string &)> log) { log_ = std::move(log); }

	void submit(uint64_t action_id, arbiter::ActionKind kind, const std::string &resource,
		    const std::string &peer, bool in_sync) override;
	arbiter::WitnessView view(const std::string &resource) const override;
	std::string address() const override { return address_; }
	Status send(std::span<const uint8_t> datagram) override;

	void update();	// re-arm the timer

private:
	WitnessLink(Loop &loop, const Clock &clock) : loop_(loop), clock_(clock) {}
	void deliver(const std::vector<witness::ClientResult> &rs);

	Loop &loop_;
	const Clock &clock_;
	Core *core_ = nullptr;
	std::string address_;
	std::optional<cluster::UdpSocket> sock_;
	std::unique_ptr<witness::WitnessClient> client_;
	std::optional<Timer> timer_;
	bool reachable_ = false;
	uint64_t records_seen_ = 0;	// client_->records_version() last delivered
	std::function<void(const std::string &)> log_ = [](const std::string &) {};
};

} // namespace dtrbd::daemon
