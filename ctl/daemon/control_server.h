// SPDX-License-Identifier: GPL-2.0
// dtrbdd's side of the control socket (protocol in daemon/control.h): a
// non-blocking listening unix socket on the event loop, one buffered
// connection per client, each request line answered through the handler.
// A client that is not uid 0 gets one refusal and is closed.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/fd.h"
#include "common/status.h"
#include "daemon/loop.h"

namespace dtrbd::daemon {

class ControlServer {
public:
	using Handler = std::function<nlohmann::json(const nlohmann::json &request)>;

	// Binds @path (a stale socket file left by a dead daemon is replaced;
	// the caller holds the lock that proves no other daemon runs), mode
	// 0600, and registers with @loop. @allowed_uid is 0 outside tests.
	static Result<std::unique_ptr<ControlServer>> make(Loop &loop, std::string path,
							   Handler handler,
							   uid_t allowed_uid = 0);
	~ControlServer();
	ControlServer(const ControlServer &) = delete;
	ControlServer &operator=(const ControlServer &) = delete;

	const std::string &path() const { return path_; }
	size_t clients() const { return clients_.size(); }

private:
	struct Client {
		UniqueFd fd;
		std::string in, out;
		bool closing = false;	// close once @out is flushed
	};

	ControlServer(Loop &loop, std::string path, Handler h, uid_t uid)
		: loop_(loop), path_(std::move(path)), handler_(std::move(h)), uid_(uid) {}
	void on_accept();
	void on_client(int fd, uint32_t events);
	void drop(int fd);
	void flush(Client &c);
	void answer(Client &c, const std::string &line);

	Loop &loop_;
	std::string path_;
	Handler handler_;
	uid_t uid_;
	UniqueFd listen_;
	std::map<int, Client> clients_;
};

// The sentence-per-field validation of a request line, then @handle: a
// line that is not a JSON object with a string "cmd" is refused here.
nlohmann::json dispatch_line(const std::string &line,
			     const ControlServer::Handler &handle);

} // namespace dtrbd::daemon
