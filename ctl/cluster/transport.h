// SPDX-License-Identifier: GPL-2.0
// Transport: how Membership puts a heartbeat on a link. UdpTransport
// (udp.h) is the real one; the tests use a fake that records datagrams
// and delivers them under simulated time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "common/status.h"

namespace dtrbd::cluster {

class Transport {
public:
	virtual ~Transport() = default;
	// Sends one datagram on local link `link` to address:port. Must not
	// block; a failure is reported (and counted by the caller), never
	// retried here.
	virtual Status send(size_t link, const std::string &address,
			    uint16_t port, std::span<const uint8_t> datagram) = 0;
};

} // namespace dtrbd::cluster
