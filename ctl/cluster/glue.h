// SPDX-License-Identifier: GPL-2.0
// Conversions between the heartbeat's ResourceSummary and the arbiter's
// Summary/PeerView, so dtrbdd's wiring is one call each way. Header-only.
#pragma once

#include <chrono>

#include "arbiter/arbiter.h"
#include "cluster/membership.h"

namespace dtrbd::cluster {

inline ResourceSummary from_arbiter(const std::string &name, uint32_t minor,
				    const arbiter::Summary &s)
{
	ResourceSummary r;
	r.name = name;
	r.minor = minor;
	r.role = static_cast<ResourceSummary::Role>(s.role);
	r.disk = static_cast<ResourceSummary::Disk>(s.disk);
	r.conn = static_cast<ResourceSummary::Conn>(s.conn);
	r.attached = s.attached;
	r.frozen = s.frozen;
	r.domain_running = s.domain_running;
	r.admin_up = s.admin_up;
	r.eligible = s.eligible;
	r.handing_over = s.handing_over;
	r.placement_seq = s.placement_seq;
	r.placement_host = s.placement_host;
	r.phase = s.phase.substr(0, 15);
	return r;
}

inline arbiter::Summary to_arbiter(const ResourceSummary &r)
{
	arbiter::Summary s;
	s.attached = r.attached;
	s.role = static_cast<arbiter::Role>(r.role);
	s.disk = static_cast<arbiter::Disk>(r.disk);
	s.conn = static_cast<arbiter::Conn>(r.conn);
	s.frozen = r.frozen;
	s.domain_running = r.domain_running;
	s.admin_up = r.admin_up;
	s.eligible = r.eligible;
	s.handing_over = r.handing_over;
	s.placement_seq = r.placement_seq;
	s.placement_host = r.placement_host;
	s.phase = r.phase;
	return s;
}

// The arbiter's Time: milliseconds of the same monotonic clock.
inline arbiter::Time to_arbiter_time(Clock::time_point t)
{
	return std::chrono::duration_cast<arbiter::Time>(t.time_since_epoch());
}

// PeerView of `peer` for resource `resource` (summary absent when the
// peer has not reported it since its daemon started).
inline arbiter::PeerView peer_view(const PeerState &p, const std::string &resource)
{
	arbiter::PeerView v;
	v.host = p.name;
	v.alive = p.alive;
	v.ever_heard = p.ever_heard;
	v.last_heard = to_arbiter_time(p.last_heard);
	v.boot_id = p.boot_id;
	auto it = p.summaries.find(resource);
	if (it != p.summaries.end())
		v.summary = to_arbiter(it->second);
	return v;
}

// The wire values equal the arbiter's enumerators' order.
static_assert(static_cast<int>(arbiter::Role::Primary) == static_cast<int>(ResourceSummary::Role::Primary));
static_assert(static_cast<int>(arbiter::Disk::UpToDate) == static_cast<int>(ResourceSummary::Disk::UpToDate));
static_assert(static_cast<int>(arbiter::Conn::Disconnecting) == static_cast<int>(ResourceSummary::Conn::Disconnecting));

} // namespace dtrbd::cluster
