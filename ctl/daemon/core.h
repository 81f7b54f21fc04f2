// SPDX-License-Identifier: GPL-2.0
// The daemon core: one arbiter (arbiter/arbiter.h) per resource of this
// host, fed with what the kernel, the membership, the witness, libvirt and
// the operator report, and whose actions it carries out through
// interfaces. No descriptor and no thread lives here: daemon.cc owns the
// event loop and calls in; the unit tests drive the same core with a fake
// kernel, a fake VM driver, fake connector and witness, and a fake clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "arbiter/arbiter.h"
#include "common/clock.h"
#include "common/fd.h"
#include "config/config.h"
#include "daemon/failover_log.h"
#include "daemon/metrics.h"
#include "netlink/kernel.h"
#include "vm/vm_driver.h"
#include "vm/vm_worker.h"

namespace dtrbd::daemon {

// Makes replication connections without blocking the caller: start() begins
// an attempt (TCP, hello, authentication) and the result comes back later
// through the daemon (Core::on_connected / on_connect_failed). connmgr.h is
// the real one.
class Connector {
public:
	virtual ~Connector() = default;
	virtual void start(uint64_t action_id, const config::Resource &r,
			   const std::string &peer) = 0;
	// Forget an attempt in flight (its result is dropped).
	virtual void cancel(const std::string &resource) = 0;
};

// The witness as the core needs it: submit a request (the result comes
// back through Core::on_witness_done) and the latest view per resource.
class WitnessPort {
public:
	virtual ~WitnessPort() = default;
	virtual void submit(uint64_t action_id, arbiter::ActionKind kind,
			    const std::string &resource, const std::string &peer,
			    bool in_sync) = 0;
	virtual arbiter::WitnessView view(const std::string &resource) const = 0;
	virtual std::string address() const = 0;
};

// A TCP socket ready to be handed to the kernel: connected, hello and
// authentication done.
struct Handshaken {
	UniqueFd fd;
	bool tiebreak = false;		// this side listened
	uint32_t proto_version = 0;
	uint64_t features = 0;
	std::string peer_name;
	std::string peer_addr;		// "IP:PORT"
};

// What membership knows of one other host (for `cluster` and PeerView).
struct HostView {
	bool alive = false;
	bool ever_heard = false;
	arbiter::Time last_heard{0};
	uint64_t boot_id = 0;
	std::vector<std::optional<arbiter::Time>> link_heard;	// per heartbeat link
	// A heartbeat signed with another secret last arrived (from anyone:
	// such a datagram names no authenticated sender).
	std::optional<arbiter::Time> other_secret_at;
	// The host's last summary per resource.
	std::map<std::string, arbiter::Summary> summaries;
};

struct CoreDeps {
	Kernel &kernel;
	Connector &connector;
	vm::VmDriver *vm = nullptr;		// null: no domains managed
	WitnessPort *witness = nullptr;		// null: none configured
	const Clock &clock;
	// One line per decision (without a trailing newline).
	std::function<void(const std::string &)> log = [](const std::string &) {};
	// Where the VM verbs (define, start, shutdown, destroy) go so that
	// they do not block the caller; their results come back through
	// on_vm_done(). Null: they run on @vm synchronously (the unit tests'
	// default). Queries (state) always use @vm.
	vm::VmExecutor *vm_exec = nullptr;
};

class Core {
public:
	// @self must be a host of @cfg; only its resources are managed.
	Core(const config::Config &cfg, std::string self, CoreDeps deps,
	     arbiter::Params params);

	// Adopts what runs (devices, domains) and starts every arbiter. Call
	// once, after the kernel subscription is in place.
	void start();

	// ---- inputs ----
	void on_kernel_event(const Event &ev);
	void on_vm_events(const std::vector<vm::VmEvent> &evs);
	void on_host(const std::string &host, const HostView &v);
	void on_witness_done(const std::string &resource, const arbiter::ActionDone &d);
	void on_witness_view();			// reachability or records changed
	void on_connected(const std::string &resource, uint64_t action_id, Handshaken link);
	void on_vm_done(const vm::VmResult &res);
	void on_connect_failed(const std::string &resource, uint64_t action_id,
			       const std::string &why);
	void tick();				// at next_wakeup() (earlier is harmless)

	// A control socket request (daemon/control.h) -> its response.
	nlohmann::json handle(const nlohmann::json &request);
	// The peer control channel's "host-leaving" request from host @from
	// (authenticated by the channel): that host says it is going down
	// now, with the resources of @request["resources"] still Primary or
	// their domain still running there (@request["reason"] says why).
	// Recorded for `cluster` (hosts[].leaving) until that host is heard
	// again from another boot, and logged; it decides nothing: the
	// arbiter still waits for the host to be dead and for the witness.
	nlohmann::json on_peer_leaving(const std::string &from, const nlohmann::json &request);
	// The "cluster" object of `dtrbdctl cluster --json`.
	nlohmann::json cluster() const;

	// When tick() must run next (nullopt: nothing scheduled).
	std::optional<Clock::time_point> next_wakeup() const;
	// What this host's heartbeats carry, one per resource.
	struct Summary {
		std::string name;
		uint32_t minor = 0;
		arbiter::Summary summary;
	};
	std::vector<Summary> summaries() const;
	const std::string &self() const { return self_; }

	// A guard against decision loops: more than this many actions for one
	// resource at one instant of the clock is a bug (an action whose
	// result makes the arbiter ask for it again at once). The core then
	// logs it and holds that resource's actions for kRunawayHold, so a
	// loop is visible and bounded instead of spinning (the arbiter counts
	// the held actions as failed after its action timeout).
	static constexpr int kMaxActionsPerInstant = 100;
	static constexpr std::chrono::milliseconds kRunawayHold{1000};
	// The longest "reason" of a host-leaving kept (longer is cut).
	static constexpr size_t kLeavingReasonMax = 200;
	// How often the guard tripped since start (for tests and `cluster`).
	uint64_t runaways() const { return runaways_; }

	// What the metrics textfile shows (daemon/metrics.h); the caller
	// fills in what the core does not know (start time, up).
	metrics::Snapshot metrics_snapshot() const;

private:
	struct Res {
		const config::Resource *cfg = nullptr;
		arbiter::State state;
		std::optional<DeviceStatus> dev;
		std::optional<vm::DomainInfo> dom;
		std::optional<std::string> blocked, warning;
		std::optional<arbiter::Time> wake_at;
		std::string peer;
		// The runaway guard (kMaxActionsPerInstant).
		arbiter::Time burst_at{-1};
		int burst_n = 0;
		arbiter::Time hold_until{0};
		// Uptime and failovers here, for `cluster` and the metrics.
		FailoverLog history;
	};

	arbiter::Time now_ms() const;
	arbiter::Output feed(Res &r, const arbiter::Event &ev);
	void execute(Res &r, const arbiter::Action &a);
	void done(Res &r, uint64_t id, Status st);
	void refresh_kernel(Res &r);
	void refresh_vm(Res &r);
	arbiter::PeerView peer_view(const Res &r) const;
	Res *find(const std::string &name);
	Res *find_minor(uint32_t minor);
	nlohmann::json resource_json(const Res &r) const;
	nlohmann::json command(const std::string &resource, arbiter::Command c);

	const config::Config &cfg_;
	std::string self_;
	CoreDeps d_;
	arbiter::Params params_;
	std::map<std::string, Res> res_;
	std::map<std::string, HostView> hosts_;
	// What a host said with "host-leaving" (on_peer_leaving).
	struct Leaving {
		arbiter::Time at{0};
		uint64_t boot_id = 0;		// its boot then (0: never heard)
		std::vector<std::string> resources;
		std::string reason;
	};
	std::map<std::string, Leaving> leaving_;
	// Results of actions that completed synchronously, delivered after
	// the current step's actions are all issued.
	std::deque<std::pair<std::string, arbiter::ActionDone>> pending_;
	bool draining_ = false;
	uint64_t runaways_ = 0;
	void drain();
	bool runaway(Res &r, const arbiter::Action &a);
};

// The arbiter's timing from the configuration's [timing]; the zombie bound
// is derived so that check_params() holds (Documentation/dtrbdd.md,
// "Timing").
arbiter::Params params_of(const config::Config &c);

// Conversions (exposed for the tests).
arbiter::KernelView kernel_view(const std::optional<DeviceStatus> &d);
arbiter::VmView vm_view(const std::optional<vm::DomainInfo> &d);

} // namespace dtrbd::daemon
