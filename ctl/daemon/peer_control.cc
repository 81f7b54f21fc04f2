// SPDX-License-Identifier: GPL-2.0
#include "daemon/peer_control.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include "common/log.h"
#include "peer/peerctl.h"

namespace dtrbd::daemon {

Result<std::unique_ptr<PeerControl>> PeerControl::make(Loop &loop, const config::Config &cfg,
						       std::string self, Handler handler,
						       std::chrono::milliseconds timeout)
{
	const config::Host *me = cfg.find_host(self);
	if (!me)
		return Status::error(str("host ", self, " is not in ", cfg.path), ENOENT);
	std::unique_ptr<PeerControl> s(new PeerControl(loop, cfg, std::move(self),
						       std::move(handler), timeout));
	Endpoint ep = me->address;
	ep.port = cfg.control_port;
	s->listen_.reset(socket(ep.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	if (!s->listen_.valid())
		return Status::error(str("could not create the peer control socket: ",
					 errno_text(errno)), errno);
	int one = 1;
	(void)setsockopt(s->listen_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sockaddr_storage sa = ep.sockaddr();
	if (bind(s->listen_.get(), reinterpret_cast<sockaddr *>(&sa), ep.sockaddr_len()) ||
	    listen(s->listen_.get(), 8))
		return Status::error(str("could not listen for the peer control channel on ",
					 ep.str(), " (control-port in ", cfg.path, "): ",
					 errno_text(errno)), errno);
	sockaddr_storage bound{};
	socklen_t len = sizeof(bound);
	if (getsockname(s->listen_.get(), reinterpret_cast<sockaddr *>(&bound), &len) == 0)
		s->port_ = ntohs(bound.ss_family == AF_INET6
					 ? reinterpret_cast<sockaddr_in6 *>(&bound)->sin6_port
					 : reinterpret_cast<sockaddr_in *>(&bound)->sin_port);
	PeerControl *self_ptr = s.get();
	if (Status st = loop.add(s->listen_.get(), EPOLLIN,
				 [self_ptr](uint32_t) { self_ptr->on_accept(); });
	    !st)
		return st;
	return s;
}

PeerControl::~PeerControl()
{
	for (auto &[fd, c] : clients_) {
		loop_.remove(fd);
		loop_.remove(c.deadline.fd());
	}
	clients_.clear();
	if (listen_.valid())
		loop_.remove(listen_.get());
}

void PeerControl::on_accept()
{
	for (;;) {
		sockaddr_storage from{};
		socklen_t len = sizeof(from);
		UniqueFd c(accept4(listen_.get(), reinterpret_cast<sockaddr *>(&from), &len,
				   SOCK_NONBLOCK | SOCK_CLOEXEC));
		if (!c.valid())
			return;		// EAGAIN, or a client that vanished
		auto t = Timer::make();
		if (!t || !t->arm(timeout_)) {
			log::debug("peer control: no timer for a connection");
			continue;
		}
		int fd = c.get();
		Client &cl = clients_[fd];
		cl.fd = std::move(c);
		cl.deadline = std::move(*t);
		cl.id = next_id_++;
		int one = 1;
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		for (const auto &[name, h] : cfg_.hosts)
			if (name != self_ && h.address.same_ip(from))
				cl.peer = name;
		Status st = loop_.add(fd, EPOLLIN | EPOLLOUT | EPOLLET,
				      [this, fd](uint32_t ev) { on_client(fd, ev); });
		if (st)
			st = loop_.add(cl.deadline.fd(), EPOLLIN, [this, fd](uint32_t) {
				auto it = clients_.find(fd);
				if (it == clients_.end())
					return;
				it->second.deadline.consume();
				if (!it->second.asked)
					refuse(it->second, "no request arrived in time");
			});
		if (!st) {
			log::debug(st.message());
			loop_.remove(fd);
			clients_.erase(fd);
			continue;
		}
		if (cl.peer.empty()) {
			refuse(cl, "this address is not one of the hosts of the cluster "
				   "configuration");
			continue;
		}
		auto nonce = peerctl::new_nonce();
		if (!nonce) {
			refuse(cl, nonce.status().message());
			continue;
		}
		cl.hello_nonce = *nonce;
		cl.out = peerctl::encode_hello({self_, *nonce}) + '\n';
		flush(cl);
	}
}

void PeerControl::refuse(Client &c, const std::string &sentence)
{
	log_(str("peer control: refused a connection", c.peer.empty() ? "" : " from ", c.peer,
		 ": ", sentence));
	c.in.clear();
	c.out += peerctl::encode_refusal(sentence) + '\n';
	c.closing = true;
	flush(c);	// may drop @c
}

void PeerControl::drop(int fd)
{
	auto it = clients_.find(fd);
	if (it == clients_.end())
		return;
	loop_.remove(fd);
	loop_.remove(it->second.deadline.fd());
	clients_.erase(it);
}

void PeerControl::flush(Client &c)
{
	while (!c.out.empty()) {
		ssize_t n = send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno == EAGAIN)
				return;		// EPOLLOUT (edge) calls us again
			c.closing = true;
			c.out.clear();
			break;
		}
		c.out.erase(0, static_cast<size_t>(n));
	}
	if (c.closing)
		drop(c.fd.get());
}

void PeerControl::on_request(Client &c, const std::string &line)
{
	auto req = peerctl::decode_request(line);
	if (!req)
		return refuse(c, req.status().message());
	if (req->host != c.peer)
		return refuse(c, str("the request says it comes from ", req->host,
				     " but was sent from the address of ", c.peer));
	peerctl::Hello hello{self_, c.hello_nonce};
	if (!peerctl::verify_request(cfg_.secret, hello, *req))
		return refuse(c, "the request is not signed with this cluster's secret");
	c.asked = true;
	(void)c.deadline.disarm();
	pending_++;
	int fd = c.fd.get();
	uint64_t id = c.id;
	handler_(c.peer, req->body, [this, fd, id, hello, r = *req](const std::string &body) {
		pending_--;
		auto it = clients_.find(fd);
		if (it == clients_.end() || it->second.id != id)
			return;		// the client went away meanwhile
		Client &cl = it->second;
		cl.out += peerctl::encode_response(cfg_.secret, hello, r, body) + '\n';
		cl.closing = true;
		flush(cl);
	});
}

void PeerControl::on_client(int fd, uint32_t events)
{
	auto it = clients_.find(fd);
	if (it == clients_.end())
		return;
	Client &c = it->second;
	if (!c.closing && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		char buf[65536];
		for (;;) {
			ssize_t n = recv(fd, buf, sizeof(buf), 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				break;
			if (n <= 0) {
				// Gone. A request being handled is answered into the void.
				drop(fd);
				return;
			}
			if (c.asked)
				continue;	// nothing more is expected: ignore it
			c.in.append(buf, static_cast<size_t>(n));
			if (c.in.size() > peerctl::kMaxLine && c.in.find('\n') == std::string::npos)
				return refuse(c, "the request is too long");
		}
		size_t nl = c.asked ? std::string::npos : c.in.find('\n');
		if (nl != std::string::npos) {
			std::string line = c.in.substr(0, nl);
			c.in.clear();
			on_request(c, line);	// may drop @c
			it = clients_.find(fd);
			if (it == clients_.end())
				return;
		}
	}
	flush(it->second);	// may drop the client
}

} // namespace dtrbd::daemon
