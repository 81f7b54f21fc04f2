// SPDX-License-Identifier: GPL-2.0
#include "daemon/control.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fd.h"
#include "common/log.h"

namespace dtrbd::control {

using nlohmann::json;

std::string not_running(const std::string &path)
{
	return str("dtrbdd is not running on this host (no ", path,
		   "); start it with 'systemctl start dtrbd' or 'dtrbdd'");
}

json ok(std::string message)
{
	return {{"ok", true}, {"message", std::move(message)}};
}

json refused(std::string sentence)
{
	return {{"ok", false}, {"error", std::move(sentence)}};
}

using Clock = std::chrono::steady_clock;

Result<json> ask(const std::string &path, const json &request,
		 std::chrono::milliseconds timeout)
{
	auto deadline = Clock::now() + timeout;
	sockaddr_un sa{};
	sa.sun_family = AF_UNIX;
	if (path.size() >= sizeof(sa.sun_path))
		return Status::error(str("the control socket path ", path, " is too long"),
				     ENAMETOOLONG);
	std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
	UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	if (!fd.valid())
		return Status::error(str("could not create a unix socket: ",
					 errno_text(errno)), errno);
	if (connect(fd.get(), reinterpret_cast<sockaddr *>(&sa), sizeof(sa))) {
		int e = errno;
		if (e == ENOENT || e == ECONNREFUSED || e == ENOTDIR)
			return Status::error(not_running(path), e);
		if (e == EACCES || e == EPERM)
			return Status::error(str("permission denied on ", path,
						 "; the cluster verbs must run as root"), e);
		return Status::error(str("could not reach dtrbdd on ", path, ": ",
					 errno_text(e)), e);
	}
	std::string line = request.dump() + '\n';
	for (size_t off = 0; off < line.size();) {
		ssize_t n = send(fd.get(), line.data() + off, line.size() - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			break;	// it answered and closed already (a refusal): read it
		if (n < 0)
			return Status::error(str("could not send the request to dtrbdd on ",
						 path, ": ", errno_text(errno)), errno);
		off += static_cast<size_t>(n);
	}
	std::string in;
	char buf[4096];
	for (;;) {
		size_t nl = in.find('\n');
		if (nl != std::string::npos) {
			in.resize(nl);
			break;
		}
		if (in.size() > kMaxLine)
			return Status::error("dtrbdd sent a response longer than 1 MiB", EPROTO);
		int r = wait_fd(fd.get(), POLLIN, deadline);
		if (r == 0)
			return Status::error(str("dtrbdd did not answer within ",
						 timeout.count() / 1000.0,
						 " s; see its log (journalctl -u dtrbd)"),
					     ETIMEDOUT);
		ssize_t n = r < 0 ? -1 : recv(fd.get(), buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return Status::error(str("could not read the answer of dtrbdd: ",
						 errno_text(errno)), errno);
		if (n == 0)
			return Status::error("dtrbdd closed the control connection without "
					     "answering; see its log (journalctl -u dtrbd)",
					     ECONNRESET);
		in.append(buf, static_cast<size_t>(n));
	}
	json resp = json::parse(in, nullptr, false);
	if (resp.is_discarded() || !resp.is_object() || !resp.contains("ok") ||
	    !resp["ok"].is_boolean())
		return Status::error("dtrbdd sent an answer that is not a response object",
				     EPROTO);
	if (!resp["ok"].get<bool>()) {
		std::string e = resp.value("error", std::string("dtrbdd refused the request"));
		return Status::error(e, ECANCELED);
	}
	return resp;
}

} // namespace dtrbd::control
