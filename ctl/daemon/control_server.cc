// SPDX-License-Identifier: GPL-2.0
#include "daemon/control_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "daemon/control.h"

namespace dtrbd::daemon {

using nlohmann::json;

json dispatch_line(const std::string &line, const ControlServer::Handler &handle)
{
	json req = json::parse(line, nullptr, false);
	if (req.is_discarded() || !req.is_object())
		return control::refused("the request is not a JSON object");
	if (!req.contains("cmd") || !req["cmd"].is_string())
		return control::refused("the request has no \"cmd\" string");
	for (const char *k : {"resource", "host"})
		if (req.contains(k) && !req[k].is_string() && !req[k].is_null())
			return control::refused(str("\"", k, "\" must be a string"));
	try {
		return handle(req);
	} catch (const std::exception &e) {
		// Handlers do not throw by design; keep the daemon alive anyway.
		return control::refused(str("internal error: ", e.what()));
	}
}

Result<std::unique_ptr<ControlServer>> ControlServer::make(Loop &loop, std::string path,
							   Handler handler, uid_t uid)
{
	sockaddr_un sa{};
	sa.sun_family = AF_UNIX;
	if (path.size() >= sizeof(sa.sun_path))
		return Status::error(str("the control socket path ", path, " is too long"),
				     ENAMETOOLONG);
	std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
	std::unique_ptr<ControlServer> s(new ControlServer(loop, path, std::move(handler), uid));
	s->listen_.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	if (!s->listen_.valid())
		return Status::error(str("could not create the control socket: ",
					 errno_text(errno)), errno);
	struct stat st;
	if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path.c_str());
	mode_t old = umask(077);
	int rc = bind(s->listen_.get(), reinterpret_cast<sockaddr *>(&sa), sizeof(sa));
	int e = errno;
	umask(old);
	if (rc)
		return Status::error(str("could not bind the control socket ", path, ": ",
					 errno_text(e)), e);
	if (chmod(path.c_str(), 0600) || listen(s->listen_.get(), 16))
		return Status::error(str("could not listen on the control socket ", path,
					 ": ", errno_text(errno)), errno);
	ControlServer *self = s.get();
	Status ast = loop.add(s->listen_.get(), EPOLLIN, [self](uint32_t) { self->on_accept(); });
	if (!ast)
		return ast;
	return s;
}

ControlServer::~ControlServer()
{
	for (auto &[fd, c] : clients_)
		loop_.remove(fd);
	clients_.clear();
	if (listen_.valid()) {
		loop_.remove(listen_.get());
		unlink(path_.c_str());
	}
}

void ControlServer::on_accept()
{
	for (;;) {
		UniqueFd c(accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
		if (!c.valid())
			return;		// EAGAIN, or a client that vanished
		ucred cred{};
		socklen_t len = sizeof(cred);
		int fd = c.get();
		Client &cl = clients_[fd];
		cl.fd = std::move(c);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) || cred.uid != uid_) {
			cl.out = control::refused("only root may use the dtrbdd control socket")
					 .dump() + '\n';
			cl.closing = true;
		}
		Status st = loop_.add(fd, EPOLLIN | EPOLLOUT | EPOLLET,
				      [this, fd](uint32_t ev) { on_client(fd, ev); });
		if (!st) {
			log::debug(st.message());
			clients_.erase(fd);
			continue;
		}
		if (cl.closing)
			flush(cl);
	}
}

void ControlServer::drop(int fd)
{
	loop_.remove(fd);
	clients_.erase(fd);
}

void ControlServer::flush(Client &c)
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

void ControlServer::answer(Client &c, const std::string &line)
{
	c.out += dispatch_line(line, handler_).dump() + '\n';
}

void ControlServer::on_client(int fd, uint32_t events)
{
	auto it = clients_.find(fd);
	if (it == clients_.end())
		return;
	Client &c = it->second;
	if (!c.closing && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
		char buf[4096];
		for (;;) {
			ssize_t n = recv(fd, buf, sizeof(buf), 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				break;
			if (n <= 0) {
				// The client closed (or failed): answer what is complete.
				c.closing = true;
				break;
			}
			c.in.append(buf, static_cast<size_t>(n));
			if (c.in.size() > control::kMaxLine && c.in.find('\n') == std::string::npos) {
				c.out += control::refused("the request is longer than 1 MiB").dump() + '\n';
				c.in.clear();
				c.closing = true;
				break;
			}
		}
		for (size_t nl; (nl = c.in.find('\n')) != std::string::npos;) {
			std::string line = c.in.substr(0, nl);
			c.in.erase(0, nl + 1);
			if (!line.empty())
				answer(c, line);
		}
	}
	flush(c);	// may drop the client: @c is gone after this
}

} // namespace dtrbd::daemon
