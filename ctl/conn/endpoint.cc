// SPDX-License-Identifier: GPL-2.0
#include "conn/endpoint.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "common/log.h"

namespace dtrbd {

std::string Endpoint::ip() const
{
	char buf[INET6_ADDRSTRLEN] = {};
	inet_ntop(family, addr, buf, sizeof(buf));
	return buf;
}

std::string Endpoint::str() const
{
	return family == AF_INET6 ? dtrbd::str('[', ip(), "]:", port)
				  : dtrbd::str(ip(), ':', port);
}

sockaddr_storage Endpoint::sockaddr(bool with_port) const
{
	sockaddr_storage ss{};
	uint16_t p = htons(with_port ? port : 0);
	if (family == AF_INET6) {
		auto *s6 = reinterpret_cast<sockaddr_in6 *>(&ss);
		s6->sin6_family = AF_INET6;
		s6->sin6_port = p;
		memcpy(&s6->sin6_addr, addr, 16);
	} else {
		auto *s4 = reinterpret_cast<sockaddr_in *>(&ss);
		s4->sin_family = AF_INET;
		s4->sin_port = p;
		memcpy(&s4->sin_addr, addr, 4);
	}
	return ss;
}

socklen_t Endpoint::sockaddr_len() const
{
	return family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

bool Endpoint::same_ip(const sockaddr_storage &ss) const
{
	if (ss.ss_family != family)
		return false;
	if (family == AF_INET6)
		return !memcmp(&reinterpret_cast<const sockaddr_in6 *>(&ss)->sin6_addr,
			       addr, 16);
	return !memcmp(&reinterpret_cast<const sockaddr_in *>(&ss)->sin_addr,
		       addr, 4);
}

Result<Endpoint> parse_endpoint(std::string_view text, std::string_view what)
{
	auto bad = [&](std::string_view why) {
		return Status::error(str(what, " '", text, "' is not a valid address: ",
					 why, " (expected IP:PORT, e.g. 10.0.0.1:7789 or [fd00::1]:7789)"),
				     EINVAL);
	};
	Endpoint ep;
	std::string_view host, port;
	if (text.starts_with('[')) {
		size_t close = text.find("]:");
		if (close == std::string_view::npos)
			return bad("an IPv6 address needs the form [ADDRESS]:PORT");
		host = text.substr(1, close - 1);
		port = text.substr(close + 2);
		ep.family = AF_INET6;
	} else {
		size_t colon = text.rfind(':');
		if (colon == std::string_view::npos)
			return bad("the port is missing");
		host = text.substr(0, colon);
		port = text.substr(colon + 1);
		if (host.find(':') != std::string_view::npos)
			return bad("write an IPv6 address in brackets");
	}
	if (inet_pton(ep.family, std::string(host).c_str(), ep.addr) != 1)
		return bad(str("'", host, "' is not a numeric IP",
			       ep.family == AF_INET6 ? "v6" : "v4", " address"));
	unsigned v = 0;
	auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
	if (port.empty() || ec != std::errc() || end != port.data() + port.size() ||
	    v == 0 || v > 65535)
		return bad(str("the port '", port, "' is not a number from 1 to 65535"));
	ep.port = static_cast<uint16_t>(v);
	return ep;
}

} // namespace dtrbd
