// SPDX-License-Identifier: GPL-2.0
// TCP endpoints ("IP:PORT", "[IPv6]:PORT") and the tie-break that decides
// which of two hosts listens.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace dtrbd {

struct Endpoint {
	int family = AF_INET;		// AF_INET or AF_INET6
	uint8_t addr[16] = {};		// network order; 4 bytes used for IPv4
	uint16_t port = 0;		// host order

	std::string ip() const;		// "10.0.0.1", "fe80::1"
	std::string str() const;	// "10.0.0.1:7789", "[fe80::1]:7789"
	// sockaddr for bind/connect; @with_port false gives port 0.
	sockaddr_storage sockaddr(bool with_port = true) const;
	socklen_t sockaddr_len() const;
	bool same_ip(const sockaddr_storage &ss) const;

	// Numeric order: family, then address bytes, then port.
	auto operator<=>(const Endpoint &o) const = default;
};

// Parse "IP:PORT" / "[IPv6]:PORT" with PORT 1..65535. @what names the
// option in the error ("--peer '10.0.0.1' is not IP:PORT ...").
Result<Endpoint> parse_endpoint(std::string_view text, std::string_view what);

// True on the side that listens: the numerically lower endpoint. For two
// distinct endpoints exactly one of listens(a, b) and listens(b, a) holds.
inline bool listens(const Endpoint &local, const Endpoint &peer)
{
	return local < peer;
}

} // namespace dtrbd
