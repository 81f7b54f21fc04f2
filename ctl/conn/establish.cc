// SPDX-License-Identifier: GPL-2.0
#include "conn/establish.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "common/log.h"

namespace dtrbd {

namespace {

constexpr auto kRetry = std::chrono::milliseconds(200);

// Wait for @events on @fd until @deadline: 1 ready, 0 timed out, -1 error.
int wait_fd(int fd, short events, Clock::time_point deadline)
{
	for (;;) {
		auto left = std::chrono::ceil<std::chrono::milliseconds>(
			deadline - Clock::now());
		if (left.count() <= 0)
			return 0;
		pollfd p{fd, events, 0};
		int n = poll(&p, 1, static_cast<int>(
					std::min<int64_t>(left.count(), INT32_MAX)));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != 0)
			return n > 0 ? 1 : -1;
	}
}

UniqueFd tcp_socket(int family)
{
	return UniqueFd(socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
}

Status timed_out(const LinkParams &p, const std::string &last)
{
	return Status::error(str("could not connect to ", p.peer.str(), " within ",
				 p.timeout_s, " s (last error: ", last, ")"),
			     ETIMEDOUT);
}

std::string addr_text(const sockaddr_storage &ss)
{
	char buf[INET6_ADDRSTRLEN] = {};
	const void *a = ss.ss_family == AF_INET6
		? static_cast<const void *>(&reinterpret_cast<const sockaddr_in6 *>(&ss)->sin6_addr)
		: static_cast<const void *>(&reinterpret_cast<const sockaddr_in *>(&ss)->sin_addr);
	inet_ntop(ss.ss_family, a, buf, sizeof(buf));
	return buf;
}

// The lower side: listen on --local, accept the peer's connection.
Result<UniqueFd> accept_peer(const LinkParams &p)
{
	UniqueFd l = tcp_socket(p.local.family);
	sockaddr_storage addr = p.local.sockaddr();
	int one = 1;
	if (!l.valid() ||
	    setsockopt(l.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(l.get(), reinterpret_cast<sockaddr *>(&addr), p.local.sockaddr_len()) ||
	    listen(l.get(), 8))
		return Status::error(str("could not listen on ", p.local.str(), ": ",
					 errno_text(errno)), errno);
	log::debug("listening on ", p.local.str(), " for ", p.peer.ip());

	std::string last = str("nothing connected from ", p.peer.ip());
	for (;;) {
		int r = wait_fd(l.get(), POLLIN, p.deadline);
		if (r == 0)
			return timed_out(p, last);
		if (r < 0)
			return Status::error(str("could not wait for a connection on ",
						 p.local.str(), ": ", errno_text(errno)), errno);
		sockaddr_storage ss{};
		socklen_t len = sizeof(ss);
		UniqueFd c(accept4(l.get(), reinterpret_cast<sockaddr *>(&ss), &len,
				   SOCK_NONBLOCK | SOCK_CLOEXEC));
		if (!c.valid()) {
			if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
				continue;
			return Status::error(str("could not accept a connection on ",
						 p.local.str(), ": ", errno_text(errno)), errno);
		}
		if (p.peer.same_ip(ss))
			return c;
		last = str("refused a connection from ", addr_text(ss),
			   ", which is not the peer");
		log::debug(last);
	}
}

// The higher side: connect to --peer from the local IP until it answers.
Result<UniqueFd> connect_peer(const LinkParams &p)
{
	std::string last = "no attempt finished";
	for (;;) {
		UniqueFd s = tcp_socket(p.peer.family);
		sockaddr_storage src = p.local.sockaddr(false), dst = p.peer.sockaddr();
		if (!s.valid() ||
		    bind(s.get(), reinterpret_cast<sockaddr *>(&src), p.local.sockaddr_len()))
			return Status::error(str("could not use the local address ",
						 p.local.ip(), ": ", errno_text(errno)), errno);
		int err = 0;
		if (connect(s.get(), reinterpret_cast<sockaddr *>(&dst), p.peer.sockaddr_len()) == 0) {
			return s;
		} else if (errno != EINPROGRESS) {
			err = errno;
		} else if (wait_fd(s.get(), POLLOUT, p.deadline) <= 0) {
			err = ETIMEDOUT;
		} else {
			socklen_t len = sizeof(err);
			getsockopt(s.get(), SOL_SOCKET, SO_ERROR, &err, &len);
			if (err == 0)
				return s;
		}
		last = errno_text(err);
		log::debug("connect to ", p.peer.str(), ": ", last);
		if (Clock::now() + kRetry >= p.deadline)
			return timed_out(p, last);
		std::this_thread::sleep_for(kRetry);
	}
}

Status send_all(int fd, const uint8_t *buf, size_t len, const LinkParams &p)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n, len -= n;
			continue;
		}
		if (errno != EAGAIN && errno != EINTR)
			return Status::error(str("could not send the hello to ", p.peer.str(),
						 ": ", errno_text(errno)), errno);
		if (wait_fd(fd, POLLOUT, p.deadline) == 0)
			return Status::error(str("could not send the hello to ", p.peer.str(),
						 " within ", p.timeout_s, " s"), ETIMEDOUT);
	}
	return {};
}

Status recv_all(int fd, uint8_t *buf, size_t len, const LinkParams &p)
{
	while (len) {
		ssize_t n = recv(fd, buf, len, 0);
		if (n > 0) {
			buf += n, len -= n;
			continue;
		}
		if (n == 0)
			return Status::error(str(p.peer.str(),
						 " closed the connection during the hello"),
					     ECONNRESET);
		if (errno != EAGAIN && errno != EINTR)
			return Status::error(str("could not receive the hello from ", p.peer.str(),
						 ": ", errno_text(errno)), errno);
		if (wait_fd(fd, POLLIN, p.deadline) == 0)
			return Status::error(str(p.peer.str(), " did not send its hello within ",
						 p.timeout_s, " s"), ETIMEDOUT);
	}
	return {};
}

Result<Hello> exchange_hello(int fd, const LinkParams &p)
{
	HelloPacket out = encode_hello(p.ours), in;
	Status st = send_all(fd, out.data(), out.size(), p);
	if (st)
		st = recv_all(fd, in.data(), kHdrSize, p);
	if (st)
		st = check_hello_header(in.data());
	if (st)
		st = recv_all(fd, in.data() + kHdrSize, kHelloSize, p);
	if (!st)
		return st;
	return decode_hello(in.data() + kHdrSize);
}

} // namespace

Result<Link> establish(const LinkParams &p)
{
	if (p.local.family != p.peer.family)
		return Status::error("--local and --peer must both be IPv4 or both be IPv6",
				     EINVAL);
	if (p.local == p.peer)
		return Status::error(str("--local and --peer are the same endpoint (",
					 p.local.str(), ")"), EINVAL);
	Link link;
	link.listener = listens(p.local, p.peer);
	auto fd = link.listener ? accept_peer(p) : connect_peer(p);
	if (!fd)
		return fd.status();
	link.fd = std::move(*fd);
	log::debug("TCP connection to ", p.peer.str(), " established (",
		   link.listener ? "accepted" : "connected", ")");

	auto peer = exchange_hello(link.fd.get(), p);
	if (!peer)
		return peer.status();
	auto agreed = negotiate(p.ours, *peer);
	if (!agreed)
		return agreed.status();
	link.peer = std::move(*peer);
	link.agreed = *agreed;

	// The kernel takes over a blocking socket that sends small packets
	// (acks, pings) at once.
	int one = 1, fl = fcntl(link.fd.get(), F_GETFL);
	if (fl < 0 || fcntl(link.fd.get(), F_SETFL, fl & ~O_NONBLOCK) ||
	    setsockopt(link.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		return Status::error(str("could not set up the socket to ", p.peer.str(),
					 ": ", errno_text(errno)), errno);
	return link;
}

} // namespace dtrbd
