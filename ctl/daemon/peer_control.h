// SPDX-License-Identifier: GPL-2.0
// dtrbdd's side of the peer control channel (peer/peerctl.h): a TCP
// listener on this host's address and control-port, on the event loop.
// Only a configured other host's address may connect; each connection gets
// a hello with a fresh nonce, must send one signed request within the
// request timeout, and gets one signed answer, which may come later (the
// handler runs a child process for the slow requests).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "common/fd.h"
#include "common/status.h"
#include "config/config.h"
#include "daemon/loop.h"

namespace dtrbd::daemon {

class PeerControl {
public:
	// Answers the request once; a client gone meanwhile is not an error.
	using Reply = std::function<void(const std::string &body)>;
	// @peer is the authenticated host name, @body the request's JSON text.
	using Handler = std::function<void(const std::string &peer, const std::string &body,
					   Reply reply)>;

	// Listens on @self's address (cfg.control_port). @cfg must outlive it.
	static Result<std::unique_ptr<PeerControl>> make(
		Loop &loop, const config::Config &cfg, std::string self, Handler handler,
		std::chrono::milliseconds request_timeout = std::chrono::seconds(10));
	~PeerControl();
	PeerControl(const PeerControl &) = delete;
	PeerControl &operator=(const PeerControl &) = delete;

	// Requests handed to the handler and not answered yet.
	size_t pending() const { return pending_; }
	uint16_t port() const { return port_; }	// the one bound (tests bind port 0)

	// Called with one line per refused connection (for the daemon's log).
	void set_log(std::function<void(const std::string &)> f) { log_ = std::move(f); }

private:
	struct Client {
		UniqueFd fd;
		Timer deadline;
		std::string in, out;
		std::string peer;		// the host its address belongs to
		std::string hello_nonce;
		bool asked = false;		// the request went to the handler
		bool closing = false;		// close once @out is flushed
		uint64_t id = 0;
	};

	PeerControl(Loop &loop, const config::Config &cfg, std::string self, Handler h,
		    std::chrono::milliseconds t)
		: loop_(loop), cfg_(cfg), self_(std::move(self)), handler_(std::move(h)),
		  timeout_(t) {}
	void on_accept();
	void on_client(int fd, uint32_t events);
	void on_request(Client &c, const std::string &line);
	void refuse(Client &c, const std::string &sentence);
	void drop(int fd);
	void flush(Client &c);

	Loop &loop_;
	const config::Config &cfg_;
	std::string self_;
	Handler handler_;
	std::chrono::milliseconds timeout_;
	UniqueFd listen_;
	uint16_t port_ = 0;
	std::map<int, Client> clients_;
	uint64_t next_id_ = 1;
	size_t pending_ = 0;
	std::function<void(const std::string &)> log_ = [](const std::string &) {};
};

} // namespace dtrbd::daemon
