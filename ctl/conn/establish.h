// SPDX-License-Identifier: GPL-2.0
// Making the one TCP connection of a dtrbd device and exchanging hellos.
//
// Both hosts run the same command with --local/--peer swapped. The side
// whose local endpoint is numerically lower listens on it and accepts only
// a connection from the peer's IP; the other side connects to the peer
// from its local IP, retrying every 200 ms. Both give up at the deadline.
#pragma once

#include <chrono>

#include "common/fd.h"
#include "common/status.h"
#include "conn/endpoint.h"
#include "conn/hello.h"

namespace dtrbd {

using Clock = std::chrono::steady_clock;

struct LinkParams {
	Endpoint local, peer;
	Clock::time_point deadline;
	unsigned timeout_s = 30;	// only to word errors
	Hello ours;
};

struct Link {
	UniqueFd fd;		// blocking, TCP_NODELAY, hello exchanged
	bool listener = false;	// this side listened: it holds the tie-break
	Hello peer;
	Agreement agreed{};
};

Result<Link> establish(const LinkParams &p);

} // namespace dtrbd
