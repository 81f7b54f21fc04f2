// SPDX-License-Identifier: GPL-2.0
// What dtrbdd asks of a hypervisor, independent of how it is asked: define a
// domain from its XML when it is missing, start, shut down (ACPI), destroy,
// read its state, list domains, and learn about lifecycle changes through a
// file descriptor the daemon's event loop polls. The libvirt implementation
// is libvirt_driver.h; the unit tests use tests/unit/fake_vm.h.
//
// Conventions every implementation keeps:
// - Every failure is a Status whose message is one sentence naming the
//   domain and carrying the hypervisor's own message.
// - The verbs are idempotent where the caller's intent is a state: start()
//   of a running domain, shutdown() or destroy() of a shut-off one succeed
//   without doing anything. A missing domain is an error for all of them.
// - Nothing blocks for longer than one request to the hypervisor; shutdown()
//   only asks the guest to power off. "Shutdown with timeout" is the
//   caller's state machine driving GracefulStop (below) with its own clock.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace dtrbd::vm {

enum class DomainState {
	kMissing,	// no domain of that name is defined
	kRunning,	// running (or blocked on a resource)
	kPaused,	// suspended by the hypervisor or an operator
	kShuttingDown,	// ACPI shutdown in progress
	kShutOff,	// defined, not running
	kCrashed,	// the guest crashed (it is not running)
	kPmSuspended,	// suspended by the guest's power management
	kUnknown,	// the hypervisor reports no (or a newer) state
};

// "running", "shut-off", ... (stable: used in logs and --json output).
std::string_view to_string(DomainState s);

// True for the states in which the domain may still write to its disk:
// everything except missing, shut off and crashed.
bool may_write(DomainState s);

struct DomainInfo {
	std::string name;
	DomainState state = DomainState::kUnknown;
	std::string reason;	// e.g. "booted", "destroyed", "shutdown"; may be empty
	bool persistent = false;	// defined (survives shutdown), not transient
};

enum class EventKind {
	kDefined,
	kUndefined,
	kStarted,
	kSuspended,
	kResumed,
	kStopped,	// detail: "shutdown", "destroyed", "crashed", "failed", ...
	kShutdown,	// the guest began or finished an ACPI shutdown
	kPmSuspended,
	kCrashed,
	// Not about one domain (domain is empty):
	kConnectionLost,	// the hypervisor connection closed; detail says why
	kConnectionRestored,	// reconnected: states may have changed meanwhile
};

std::string_view to_string(EventKind k);

struct VmEvent {
	EventKind kind = EventKind::kStarted;
	std::string domain;
	std::string detail;	// lower-case word(s), may be empty
};

class VmDriver {
public:
	virtual ~VmDriver() = default;

	// Connect now if not connected (the other verbs do it by themselves).
	// After a kConnectionLost event the daemon calls this (or any verb) on
	// a timer until it succeeds; success then posts kConnectionRestored.
	virtual Status connect() = 0;
	virtual bool connected() const = 0;

	// Make sure domain @name is defined. If it is missing, define it from
	// the XML file @xml_path, whose <name> must be @name and which must
	// have a <disk type='block'> whose source is @device (the replicated
	// device). If it is already defined, only check that its disks include
	// @device: a domain that writes to the backing disk directly would
	// bypass replication. Returns true when it defined the domain now.
	virtual Result<bool> ensure_defined(const std::string &name,
					    const std::string &xml_path,
					    const std::string &device) = 0;

	virtual Status start(const std::string &name) = 0;
	// Asks the guest to power off (ACPI) and returns at once.
	virtual Status shutdown(const std::string &name) = 0;
	// Pulls the plug: the domain is off when this returns.
	virtual Status destroy(const std::string &name) = 0;
	// kMissing (not an error) when no such domain is defined.
	virtual Result<DomainInfo> state(const std::string &name) = 0;
	virtual Result<std::vector<DomainInfo>> list() = 0;

	// Readable (POLLIN) while events are queued; take_events() empties the
	// queue and resets it. The descriptor lives as long as the driver.
	virtual int event_fd() const = 0;
	virtual std::vector<VmEvent> take_events() = 0;
};

// Shutdown with a timeout for a caller that owns the clock and the loop:
//   GracefulStop stop("vm1", 30s);
//   stop.step(driver, now)   -> kRequested (ACPI shutdown sent) ...
//   stop.step(driver, later) -> kWaiting while running and before the
//                               deadline; kDestroyed once it passed (and
//                               destroy() succeeded); kStopped when the
//                               guest powered off by itself.
// Call step() again on every event about the domain and on a timer (at the
// latest at deadline()). Nothing in it blocks.
class GracefulStop {
public:
	enum class Step { kRequested, kWaiting, kStopped, kDestroyed };
	using Clock = std::chrono::steady_clock;

	GracefulStop(std::string domain, Clock::duration timeout)
		: domain_(std::move(domain)), timeout_(timeout) {}

	Result<Step> step(VmDriver &driver, Clock::time_point now);
	// When the caller must call step() at the latest (unset before the
	// first step).
	std::optional<Clock::time_point> deadline() const { return deadline_; }
	const std::string &domain() const { return domain_; }

private:
	std::string domain_;
	Clock::duration timeout_;
	std::optional<Clock::time_point> deadline_;
};

std::string_view to_string(GracefulStop::Step s);

} // namespace dtrbd::vm
