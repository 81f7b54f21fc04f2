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

#include "common/crypto.h"
#include "common/log.h"
#include "conn/auth.h"

namespace dtrbd {

namespace {

constexpr auto kRetry = std::chrono::milliseconds(200);

// Wait for @events on @fd until @deadline: 1 ready, 0 timed out, -1 error.
int wait_fd(int fd, short events, std::chrono::steady_clock::time_point deadline)
{
	for (;;) {
		auto left = std::chrono::ceil<std::chrono::milliseconds>(
			deadline - std::chrono::steady_clock::now());
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
		if (std::chrono::steady_clock::now() + kRetry >= p.deadline)
			return timed_out(p, last);
		std::this_thread::sleep_for(kRetry);
	}
}

// The handshake after the TCP connection: one deadline for all of it.
struct Handshake {
	int fd;
	std::string peer;
	std::chrono::steady_clock::time_point deadline;
	long long timeout_ms;
};

Status send_all(const Handshake &h, const uint8_t *buf, size_t len, const char *what)
{
	while (len) {
		ssize_t n = send(h.fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n, len -= n;
			continue;
		}
		if (errno != EAGAIN && errno != EINTR)
			return Status::error(str("could not send the ", what, " to ", h.peer,
						 ": ", errno_text(errno)), errno);
		if (wait_fd(h.fd, POLLOUT, h.deadline) == 0)
			return Status::error(str("could not send the ", what, " to ", h.peer,
						 " within ", h.timeout_ms, " ms"), ETIMEDOUT);
	}
	return {};
}

Status recv_all(const Handshake &h, uint8_t *buf, size_t len, const char *what)
{
	while (len) {
		ssize_t n = recv(h.fd, buf, len, 0);
		if (n > 0) {
			buf += n, len -= n;
			continue;
		}
		if (n == 0)
			return Status::error(str(h.peer, " closed the connection before sending its ", what),
					     ECONNRESET);
		if (errno != EAGAIN && errno != EINTR)
			return Status::error(str("could not receive the ", what, " from ", h.peer,
						 ": ", errno_text(errno)), errno);
		if (wait_fd(h.fd, POLLIN, h.deadline) == 0)
			return Status::error(str(h.peer, " did not send its ", what, " within ",
						 h.timeout_ms, " ms of the connection"), ETIMEDOUT);
	}
	return {};
}

// One userspace packet of a fixed body size: header checked, body read.
Result<auth::Bytes> recv_packet(const Handshake &h, uint16_t type, size_t body_len, const char *what)
{
	auth::Bytes hdr(auth::kHdr), body(body_len);
	Status st = recv_all(h, hdr.data(), hdr.size(), what);
	if (st)
		st = auth::check_header(hdr, type, body_len, what);
	if (st)
		st = recv_all(h, body.data(), body.size(), what);
	if (!st)
		return st;
	return body;
}

struct HelloExchange {
	Hello peer;
	HelloPacket ours_raw, peer_raw;
};

Result<HelloExchange> exchange_hello(const Handshake &h, const LinkParams &p)
{
	HelloExchange x;
	x.ours_raw = encode_hello(p.ours);
	Status st = send_all(h, x.ours_raw.data(), x.ours_raw.size(), "hello");
	if (st)
		st = recv_all(h, x.peer_raw.data(), kHdrSize, "hello");
	if (st)
		st = check_hello_header(x.peer_raw.data());
	if (st)
		st = recv_all(h, x.peer_raw.data() + kHdrSize, kHelloSize, "hello");
	if (!st)
		return st;
	auto peer = decode_hello(x.peer_raw.data() + kHdrSize);
	if (!peer)
		return peer.status();
	x.peer = std::move(*peer);
	return x;
}

// Mutual challenge/response (conn/auth.h). True when the peer proved the
// secret, false when neither side has one.
Result<bool> authenticate(const Handshake &h, const LinkParams &p, bool listener,
			  const HelloExchange &x)
{
	auth::Challenge ours;
	ours.has_secret = p.secret.has_value();
	if (ours.has_secret) {
		Status st = crypto::random_bytes(ours.nonce);
		if (!st)
			return st;
	}
	auto out = auth::encode_challenge(ours);
	Status st = send_all(h, out.data(), out.size(), "authentication challenge");
	if (!st)
		return st;
	auto in = recv_packet(h, auth::P_AUTH_CHALLENGE, auth::kChallengeBody, "authentication challenge");
	if (!in)
		return in.status();
	auto theirs = auth::decode_challenge(*in);
	if (!theirs)
		return theirs.status();
	st = auth::check_challenges(ours, *theirs, h.peer);
	if (!st)
		return st;
	if (!ours.has_secret)
		return false;

	const auto me = listener ? auth::Role::Listener : auth::Role::Connector;
	const auto them = listener ? auth::Role::Connector : auth::Role::Listener;
	auth::Transcript t;
	t.listener_nonce = listener ? ours.nonce : theirs->nonce;
	t.connector_nonce = listener ? theirs->nonce : ours.nonce;
	const HelloPacket &lh = listener ? x.ours_raw : x.peer_raw;
	const HelloPacket &ch = listener ? x.peer_raw : x.ours_raw;
	t.listener_hello.assign(lh.begin(), lh.end());
	t.connector_hello.assign(ch.begin(), ch.end());
	const auto &secret = *p.secret;

	out = auth::encode_response(auth::proof(secret, me, t));
	st = send_all(h, out.data(), out.size(), "authentication response");
	if (!st)
		return st;
	in = recv_packet(h, auth::P_AUTH_RESPONSE, auth::kResponseBody, "authentication response");
	if (!in)
		return in.status();
	auto got = auth::decode_response(*in);
	if (!got)
		return got.status();
	bool good = auth::verify_proof(secret, them, t, *got);

	auth::Verdict v;
	v.accepted = good;
	if (good)
		v.mac = auth::accept_mac(secret, me, t);
	out = auth::encode_verdict(v);
	st = send_all(h, out.data(), out.size(), "authentication result");
	if (!good)
		return auth::wrong_secret(h.peer);	// our verdict told the peer
	if (!st)
		return st;
	in = recv_packet(h, auth::P_AUTH_RESULT, auth::kResultBody, "authentication result");
	if (!in)
		return in.status();
	auto verdict = auth::decode_verdict(*in);
	if (!verdict)
		return verdict.status();
	st = auth::check_verdict(secret, them, t, *verdict, h.peer);
	if (!st)
		return st;
	return true;
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

	Handshake h{link.fd.get(), p.peer.str(),
		    std::min(p.deadline, std::chrono::steady_clock::now() + p.handshake_timeout),
		    static_cast<long long>(p.handshake_timeout.count())};
	auto x = exchange_hello(h, p);
	if (!x)
		return x.status();
	// Authenticate before trusting anything else the peer said.
	auto authed = authenticate(h, p, link.listener, *x);
	if (!authed) {
		log::debug("authentication with ", p.peer.str(), " failed: ", authed.status().message());
		return authed.status();
	}
	link.authenticated = *authed;
	auto agreed = negotiate(p.ours, x->peer);
	if (!agreed)
		return agreed.status();
	link.peer = std::move(x->peer);
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
