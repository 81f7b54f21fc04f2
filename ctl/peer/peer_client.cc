// SPDX-License-Identifier: GPL-2.0
#include "peer/peer_client.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/fd.h"
#include "common/log.h"
#include "peer/peerctl.h"

namespace dtrbd::peerctl {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Line {
	int fd;
	std::string buf;
	const std::string &peer;

	Result<std::string> read(Clock::time_point deadline, const char *what)
	{
		char tmp[65536];
		for (;;) {
			size_t nl = buf.find('\n');
			if (nl != std::string::npos) {
				std::string l = buf.substr(0, nl);
				buf.erase(0, nl + 1);
				return l;
			}
			if (buf.size() > kMaxLine)
				return Status::error(str(peer, " sent a ", what, " longer than ",
							 kMaxLine >> 20, " MiB"), EPROTO);
			int r = wait_fd(fd, POLLIN, deadline);
			if (r == 0)
				return Status::error(str(peer, "'s dtrbdd sent no ", what, " in time"),
						     ETIMEDOUT);
			ssize_t n = r < 0 ? -1 : recv(fd, tmp, sizeof(tmp), 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return Status::error(str(peer, "'s dtrbdd closed the peer control "
							 "connection before its ", what,
							 "; see its log (journalctl -u dtrbd)"),
						     ECONNRESET);
			buf.append(tmp, static_cast<size_t>(n));
		}
	}
};

Status send_all(int fd, const std::string &s, Clock::time_point deadline, const std::string &peer)
{
	for (size_t off = 0; off < s.size();) {
		int r = wait_fd(fd, POLLOUT, deadline);
		if (r <= 0)
			return Status::error(str("could not send the request to ", peer, " in time"),
					     ETIMEDOUT);
		ssize_t n = send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return Status::error(str("could not send the request to ", peer, ": ",
						 errno_text(errno)), errno);
		off += static_cast<size_t>(n);
	}
	return {};
}

} // namespace

Result<json> response_object(const std::string &body, const std::string &peer)
{
	json resp = json::parse(body, nullptr, false);
	if (resp.is_discarded() || !resp.is_object() || !resp.contains("ok") ||
	    !resp["ok"].is_boolean())
		return Status::error(str(peer, " sent an answer that is not a response object"),
				     EPROTO);
	if (!resp["ok"].get<bool>())
		return Status::error(resp.value("error", str(peer, " refused the request")),
				     ECANCELED);
	return resp;
}

Result<json> ask_peer(const config::Config &cfg, const std::string &self, const std::string &peer,
		      const json &request, std::chrono::milliseconds timeout)
{
	const config::Host *h = cfg.find_host(peer);
	const config::Host *me = cfg.find_host(self);
	if (!h || !me)
		return Status::error(str("host ", h ? self : peer, " is not in ", cfg.path), ENOENT);
	if (cfg.secret.empty())
		return Status::error(str("the peer control channel needs the shared secret "
					 "(secret-file in ", cfg.path, ")"), EPERM);
	auto deadline = Clock::now() + timeout;
	Endpoint ep = h->address;
	ep.port = cfg.control_port;
	std::string where = str(peer, " (", ep.str(), ")");

	UniqueFd fd(socket(ep.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	if (!fd.valid())
		return Status::error(str("could not create a TCP socket: ", errno_text(errno)), errno);
	// From our own address, which the peer checks against the configuration.
	sockaddr_storage src = me->address.sockaddr(false);
	if (bind(fd.get(), reinterpret_cast<sockaddr *>(&src), me->address.sockaddr_len()))
		return Status::error(str("could not bind to ", me->address.ip(), " (", self,
					 "'s address in ", cfg.path, "): ", errno_text(errno)), errno);
	sockaddr_storage dst = ep.sockaddr();
	if (connect(fd.get(), reinterpret_cast<sockaddr *>(&dst), ep.sockaddr_len()) &&
	    errno != EINPROGRESS)
		return Status::error(str("could not connect to ", where, ": ", errno_text(errno)),
				     errno);
	int r = wait_fd(fd.get(), POLLOUT, deadline);
	int err = 0;
	socklen_t len = sizeof(err);
	if (r > 0 && getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len))
		err = errno;
	if (r <= 0 || err) {
		std::string why = r <= 0 ? std::string("no answer in time") : errno_text(err);
		return Status::error(str("could not reach dtrbdd on ", where, ": ", why,
					 "; is dtrbd.service running there?"),
				     err ? err : ETIMEDOUT);
	}
	int one = 1;
	(void)setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

	Line in{fd.get(), {}, where};
	auto hello_line = in.read(deadline, "hello");
	if (!hello_line)
		return hello_line.status();
	if (auto j = json::parse(*hello_line, nullptr, false);
	    j.is_object() && j.contains("refused") && j["refused"].is_string())
		return Status::error(str(where, " refused the connection: ",
					 j["refused"].get<std::string>()), EACCES);
	auto hello = decode_hello(*hello_line);
	if (!hello)
		return Status::error(str(where, ": ", hello.status().message()), EPROTO);
	if (hello->host != peer)
		return Status::error(str(where, " says it is host ", hello->host, ", not ", peer,
					 "; check the addresses in ", cfg.path), EPROTO);
	auto nonce = new_nonce();
	if (!nonce)
		return nonce.status();
	Request req{self, *nonce, request.dump(), {}};
	if (Status st = send_all(fd.get(), encode_request(cfg.secret, *hello, req) + '\n',
				 deadline, where);
	    !st)
		return st;
	auto resp_line = in.read(deadline, "answer");
	if (!resp_line)
		return resp_line.status();
	auto body = decode_response(cfg.secret, *hello, req, *resp_line, where);
	if (!body)
		return body.status();
	return response_object(*body, peer);
}

} // namespace dtrbd::peerctl
