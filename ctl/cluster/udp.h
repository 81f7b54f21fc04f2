// SPDX-License-Identifier: GPL-2.0
// UDP sockets for heartbeats and the witness: RAII, non-blocking, so the
// daemon polls fd() in its event loop. No logic here.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cluster/transport.h"
#include "common/fd.h"
#include "common/status.h"

namespace dtrbd::cluster {

// An IPv4 or IPv6 address and port.
struct SockAddr {
	sockaddr_storage ss{};
	socklen_t len = 0;
	std::string to_string() const;	// "10.99.0.1:7789", "[fe80::1]:7789"
};

// "10.99.0.1" or "fe80::1" with the given port.
Result<SockAddr> parse_address(const std::string &ip, uint16_t port);
// "10.99.0.3:7790" or "[fe80::1]:7790".
Result<SockAddr> parse_endpoint(const std::string &text);

class UdpSocket {
public:
	// Binds to local (port 0: any), non-blocking, close-on-exec. With
	// `peer`, the socket is connected: only datagrams from peer arrive.
	static Result<UdpSocket> open(const SockAddr &local,
				      const std::optional<SockAddr> &peer = std::nullopt);
	int fd() const { return fd_.get(); }
	Status send_to(const SockAddr &to, std::span<const uint8_t> data) const;
	Status send(std::span<const uint8_t> data) const;	// connected socket
	// One datagram, or nullopt when none is waiting (EAGAIN). Datagrams
	// longer than the buffer are reported truncated (size > buf size is
	// never returned; the caller's decoder rejects them).
	struct Datagram {
		std::vector<uint8_t> data;
		SockAddr from;
	};
	Result<std::optional<Datagram>> receive(size_t max = 2048) const;

private:
	explicit UdpSocket(UniqueFd fd) : fd_(std::move(fd)) {}
	UniqueFd fd_;
};

// One socket per local heartbeat link, all on the same port.
class UdpTransport final : public Transport {
public:
	static Result<UdpTransport> open(const std::vector<std::string> &local_ips,
					 uint16_t port);
	Status send(size_t link, const std::string &address, uint16_t port,
		    std::span<const uint8_t> datagram) override;
	size_t links() const { return sockets_.size(); }
	const UdpSocket &socket(size_t link) const { return sockets_[link]; }

private:
	std::vector<UdpSocket> sockets_;
};

} // namespace dtrbd::cluster
