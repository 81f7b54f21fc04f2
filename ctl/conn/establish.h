// SPDX-License-Identifier: GPL-2.0
// Making the one TCP connection of a dtrbd device and exchanging hellos.
//
// Both hosts run the same command with --local/--peer swapped. The side
// whose local endpoint is numerically lower listens on it and accepts only
// a connection from the peer's IP; the other side connects to the peer
// from its local IP, retrying every 200 ms. Both give up at the deadline.
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include "common/fd.h"
#include "common/status.h"
#include "conn/endpoint.h"
#include "conn/hello.h"

namespace dtrbd {


struct LinkParams {
	Endpoint local, peer;
	std::chrono::steady_clock::time_point deadline;
	unsigned timeout_s = 30;	// only to word errors
	Hello ours;
	// With a secret, the peer must prove it knows the same one (conn/auth.h)
	// before establish() returns; a side with and a side without refuse
	// each other. Without, the peer must not have one either.
	std::optional<std::vector<uint8_t>> secret;
	// From the TCP connection on, hello and authentication must finish
	// within this (and before @deadline), so a silent peer cannot hang us.
	std::chrono::milliseconds handshake_timeout{10000};
};

struct Link {
	UniqueFd fd;		// blocking, TCP_NODELAY, hello exchanged
	bool listener = false;	// this side listened: it holds the tie-break
	Hello peer;
	Agreement agreed{};
	bool authenticated = false;	// the peer proved it knows the secret
};

Result<Link> establish(const LinkParams &p);

} // namespace dtrbd
