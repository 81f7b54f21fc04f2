// SPDX-License-Identifier: GPL-2.0
#include "daemon/failover_log.h"

#include "common/log.h"

namespace dtrbd::daemon {

using nlohmann::json;
namespace ab = arbiter;

std::string FailoverLog::Failover::reason() const
{
	return peer_ever_heard ? str(peer, " dead, witness granted epoch ", epoch)
			       : str(peer, " not seen since this daemon started, witness granted epoch ",
				     epoch);
}

void FailoverLog::observe(const ab::State &s, const ab::Event &ev, const ab::Output &out,
			  ab::Time now)
{
	const bool primary = s.kernel && s.kernel->role == ab::Role::Primary;
	const bool connected = s.kernel && s.kernel->conn == ab::Conn::Connected;
	const bool peer_alive = s.peer_view && s.peer_view->alive;
	const bool ever_heard = s.peer_view && s.peer_view->ever_heard;

	if (s.kernel) {
		if (primary && !primary_since_) {
			primary_since_ = now;
			// Primary in the first view: it was before this daemon.
			primary_adopted_ = !seen_kernel_;
		} else if (!primary) {
			primary_since_.reset();
			primary_adopted_ = false;
			// Demoted before its domain started: that start, if it
			// comes later, belongs to no failover.
			awaiting_start_ = false;
			start_id_ = 0;
		}
		seen_kernel_ = true;
	}

	if (const auto *d = std::get_if<ab::ActionDone>(&ev)) {
		if (promote_id_ && d->id == promote_id_) {
			promote_id_ = 0;
			if (d->ok && pending_) {
				last_ = std::move(*pending_);
				pending_.reset();
				last_->promoted = now;
				total_++;
				awaiting_start_ = !s.spec.domain.empty();
			}
		} else if (start_id_ && d->id == start_id_) {
			start_id_ = 0;
			if (d->ok && last_ && awaiting_start_) {
				last_->domain_started = now;
				awaiting_start_ = false;
			}
		}
	}

	// The peer came back (or the link did) before the promotion was
	// issued: no failover after all.
	if (pending_ && !promote_id_ && (connected || peer_alive))
		pending_.reset();

	bool claims = false;
	for (const auto &a : out.actions)
		claims |= a.kind == ab::ActionKind::WitnessClaim;
	// Dead to membership while this host is a disconnected Secondary; a
	// peer never heard counts once the arbiter claims in its stead.
	if (!pending_ && s.kernel && !primary && !connected && !peer_alive &&
	    (ever_heard || claims)) {
		Failover f;
		f.peer = s.peer;
		f.peer_ever_heard = ever_heard;
		f.declared_dead = now;
		pending_ = std::move(f);
	}

	for (const auto &a : out.actions) {
		if (a.kind == ab::ActionKind::Promote && pending_ && !primary && !connected) {
			promote_id_ = a.id;
			pending_->epoch = s.failover_epoch;
		} else if (a.kind == ab::ActionKind::StartVm && primary &&
			   (awaiting_start_ || promote_id_)) {
			// The start may be issued before the promotion's result
			// is delivered: the core refreshes the device first.
			start_id_ = a.id;
		}
	}
}

void FailoverLog::to_json(json &r, ab::Time now) const
{
	r["uptime"] = primary_since_
		? json{{"primary_for_ms", (now - *primary_since_).count()},
		       {"since_daemon_start", primary_adopted_}}
		: json(nullptr);
	r["failovers"] = total_;
	if (!last_) {
		r["last_failover"] = nullptr;
		return;
	}
	const Failover &f = *last_;
	r["last_failover"] = {
		{"ago_ms", (now - f.declared_dead).count()},
		{"peer", f.peer},
		{"reason", f.reason()},
		{"epoch", f.epoch},
		{"promoted_after_ms", (f.promoted - f.declared_dead).count()},
		{"domain_started_after_ms", f.domain_started
			? json((*f.domain_started - f.declared_dead).count()) : json(nullptr)},
	};
}

} // namespace dtrbd::daemon
