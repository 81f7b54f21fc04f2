// SPDX-License-Identifier: GPL-2.0
#include "cluster/udp.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>

#include "common/log.h"

namespace dtrbd::cluster {

std::string SockAddr::to_string() const
{
	char buf[INET6_ADDRSTRLEN] = "?";
	if (ss.ss_family == AF_INET) {
		auto *a = reinterpret_cast<const sockaddr_in *>(&ss);
		inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf));
		return str(buf, ":", ntohs(a->sin_port));
	}
	if (ss.ss_family == AF_INET6) {
		auto *a = reinterpret_cast<const sockaddr_in6 *>(&ss);
		inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof(buf));
		return str("[", buf, "]:", ntohs(a->sin6_port));
	}
	return "?";
}

Result<SockAddr> parse_address(const std::string &ip, uint16_t port)
{
	SockAddr a;
	auto *v4 = reinterpret_cast<sockaddr_in *>(&a.ss);
	auto *v6 = reinterpret_cast<sockaddr_in6 *>(&a.ss);
	if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons(port);
		a.len = sizeof(*v4);
		return a;
	}
	if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons(port);
		a.len = sizeof(*v6);
		return a;
	}
	return Status::error(str("'", ip, "' is not an IPv4 or IPv6 address"));
}

Result<SockAddr> parse_endpoint(const std::string &text)
{
	std::string host, port;
	if (!text.empty() && text[0] == '[') {
		size_t close = text.find(']');
		if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
			return Status::error(str("'", text, "' is not [IPv6]:PORT"));
		host = text.substr(1, close - 1);
		port = text.substr(close + 2);
	} else {
		size_t colon = text.rfind(':');
		if (colon == std::string::npos)
			return Status::error(str("'", text, "' has no port: write IP:PORT, e.g. 10.99.0.3:7790"));
		host = text.substr(0, colon);
		port = text.substr(colon + 1);
	}
	if (port.empty() || port.size() > 5 ||
	    port.find_first_not_of("0123456789") != std::string::npos ||
	    std::stoul(port) == 0 || std::stoul(port) > 65535)
		return Status::error(str("'", port, "' in '", text, "' is not a port from 1 to 65535"));
	return parse_address(host, static_cast<uint16_t>(std::stoul(port)));
}

Result<UdpSocket> UdpSocket::open(const SockAddr &local, const std::optional<SockAddr> &peer)
{
	UniqueFd fd(::socket(local.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	if (!fd.valid())
		return Status::error(str("cannot create a UDP socket: ", errno_text(errno)), errno);
	int one = 1;
	(void)setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (::bind(fd.get(), reinterpret_cast<const sockaddr *>(&local.ss), local.len) < 0) {
		int e = errno;
		return Status::error(str("cannot bind UDP to ", local.to_string(), ": ", errno_text(e),
					 e == EADDRNOTAVAIL ? " (is that address configured on this host?)" : ""), e);
	}
	if (peer && ::connect(fd.get(), reinterpret_cast<const sockaddr *>(&peer->ss), peer->len) < 0) {
		int e = errno;
		return Status::error(str("cannot connect UDP to ", peer->to_string(), ": ", errno_text(e)), e);
	}
	return UdpSocket(std::move(fd));
}

Status UdpSocket::send_to(const SockAddr &to, std::span<const uint8_t> data) const
{
	ssize_t n = ::sendto(fd_.get(), data.data(), data.size(), MSG_DONTWAIT,
			     reinterpret_cast<const sockaddr *>(&to.ss), to.len);
	if (n < 0)
		return Status::error(str("cannot send to ", to.to_string(), ": ", errno_text(errno)), errno);
	return {};
}

Status UdpSocket::send(std::span<const uint8_t> data) const
{
	ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_DONTWAIT);
	if (n < 0)
		return Status::error(str("cannot send: ", errno_text(errno)), errno);
	return {};
}

Result<std::optional<UdpSocket::Datagram>> UdpSocket::receive(size_t max) const
{
	Datagram d;
	d.data.resize(max);
	d.from.len = sizeof(d.from.ss);
	ssize_t n = ::recvfrom(fd_.get(), d.data.data(), d.data.size(), MSG_DONTWAIT | MSG_TRUNC,
			       reinterpret_cast<sockaddr *>(&d.from.ss), &d.from.len);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return std::optional<Datagram>{};
		// ECONNREFUSED on a connected socket: the peer's port is
		// closed (ICMP); report it, the caller keeps polling.
		return Status::error(str("cannot receive: ", errno_text(errno)), errno);
	}
	// MSG_TRUNC returns the real length: an oversized datagram comes
	// back empty, which every decoder rejects as truncated.
	d.data.resize(static_cast<size_t>(n) > max ? 0 : static_cast<size_t>(n));
	return std::optional<Datagram>(std::move(d));
}

Result<UdpTransport> UdpTransport::open(const std::vector<std::string> &local_ips, uint16_t port)
{
	UdpTransport t;
	for (const std::string &ip : local_ips) {
		Result<SockAddr> a = parse_address(ip, port);
		if (!a)
			return a.status();
		Result<UdpSocket> s = UdpSocket::open(*a);
		if (!s)
			return s.status();
		t.sockets_.push_back(std::move(*s));
	}
	return t;
}

Status UdpTransport::send(size_t link, const std::string &address, uint16_t port,
			  std::span<const uint8_t> datagram)
{
	if (link >= sockets_.size())
		return Status::error(str("no heartbeat link ", link));
	Result<SockAddr> to = parse_address(address, port);
	if (!to)
		return to.status();
	return sockets_[link].send_to(*to, datagram);
}

} // namespace dtrbd::cluster
