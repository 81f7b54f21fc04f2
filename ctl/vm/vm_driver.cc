// SPDX-License-Identifier: GPL-2.0
#include "vm/vm_driver.h"

namespace dtrbd::vm {

std::string_view to_string(DomainState s)
{
	switch (s) {
	case DomainState::kMissing: return "missing";
	case DomainState::kRunning: return "running";
	case DomainState::kPaused: return "paused";
	case DomainState::kShuttingDown: return "shutting-down";
	case DomainState::kShutOff: return "shut-off";
	case DomainState::kCrashed: return "crashed";
	case DomainState::kPmSuspended: return "pm-suspended";
	case DomainState::kUnknown: break;
	}
	return "unknown";
}

bool may_write(DomainState s)
{
	return s != DomainState::kMissing && s != DomainState::kShutOff &&
	       s != DomainState::kCrashed;
}

std::string_view to_string(EventKind k)
{
	switch (k) {
	case EventKind::kDefined: return "defined";
	case EventKind::kUndefined: return "undefined";
	case EventKind::kStarted: return "started";
	case EventKind::kSuspended: return "suspended";
	case EventKind::kResumed: return "resumed";
	case EventKind::kStopped: return "stopped";
	case EventKind::kShutdown: return "shutdown";
	case EventKind::kPmSuspended: return "pm-suspended";
	case EventKind::kCrashed: return "crashed";
	case EventKind::kConnectionLost: return "connection-lost";
	case EventKind::kConnectionRestored: return "connection-restored";
	}
	return "unknown";
}

std::string_view to_string(GracefulStop::Step s)
{
	switch (s) {
	case GracefulStop::Step::kRequested: return "requested";
	case GracefulStop::Step::kWaiting: return "waiting";
	case GracefulStop::Step::kStopped: return "stopped";
	case GracefulStop::Step::kDestroyed: return "destroyed";
	}
	return "unknown";
}

Result<GracefulStop::Step> GracefulStop::step(VmDriver &driver, Clock::time_point now)
{
	auto info = driver.state(domain_);
	if (!info)
		return info.status();
	if (!may_write(info->state))
		return Step::kStopped;
	if (!deadline_) {
		if (Status s = driver.shutdown(domain_); !s)
			return s;
		deadline_ = now + timeout_;
		return Step::kRequested;
	}
	if (now < *deadline_)
		return Step::kWaiting;
	if (Status s = driver.destroy(domain_); !s)
		return s;
	return Step::kDestroyed;
}

} // namespace dtrbd::vm
