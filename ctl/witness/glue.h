// SPDX-License-Identifier: GPL-2.0
// Conversions from the witness client's values to the arbiter's events.
#pragma once

#include "arbiter/arbiter.h"
#include "witness/client.h"

namespace dtrbd::witness {

inline arbiter::WitnessRecord to_arbiter(const Record &r)
{
	arbiter::WitnessRecord w;
	w.epoch = r.epoch;
	w.holder = r.holder;
	w.released = r.released;
	w.current.assign(r.current.begin(), r.current.end());
	return w;
}

// WitnessView for one resource; record absent when the witness has none
// or was never asked.
inline arbiter::WitnessView witness_view(const WitnessClient &c, const std::string &resource)
{
	arbiter::WitnessView v;
	v.reachable = c.reachable();
	auto it = c.records().find(resource);
	v.record_known = it != c.records().end();
	if (v.record_known && it->second)
		v.record = to_arbiter(*it->second);
	return v;
}

// ActionDone for a finished witness request (ok = granted).
inline arbiter::ActionDone action_done(const ClientResult &r)
{
	arbiter::ActionDone d;
	d.id = r.id;
	d.ok = r.granted;
	d.message = r.message;
	d.witness_answered = r.answered;
	if (r.record)
		d.record = to_arbiter(*r.record);
	return d;
}

inline Op witness_op(arbiter::ActionKind k)
{
	switch (k) {
	case arbiter::ActionKind::WitnessClaim: return Op::Claim;
	case arbiter::ActionKind::WitnessOutdate: return Op::Outdate;
	case arbiter::ActionKind::WitnessRelease: return Op::Release;
	case arbiter::ActionKind::WitnessUptodate: return Op::Uptodate;
	default: return Op::Keepalive;	// not a witness action
	}
}

} // namespace dtrbd::witness
