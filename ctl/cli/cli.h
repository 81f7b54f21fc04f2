// SPDX-License-Identifier: GPL-2.0
// dtrbdctl's command line: parsing, validation, help, dispatch, and the
// rule that every failure is one sentence on stderr prefixed "dtrbdctl: ".
#pragma once

#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <ostream>

#include "cli/cluster.h"
#include "config/config.h"
#include "netlink/kernel.h"

namespace dtrbd {

enum ExitCode {
	kExitOk = 0,
	kExitFailed = 1,	// the operation was refused or failed
	kExitUsage = 2,		// invalid command line
};

struct Env {
	std::ostream &out;
	std::ostream &err;
	// Opens the kernel interface; called only by commands that need it.
	std::function<Result<std::unique_ptr<Kernel>>()> open_kernel;
	// For "events": called once before streaming, then polled.
	std::function<void()> watch_signals = [] {};
	std::function<bool()> stop_requested = [] { return false; };
	// For commands that wait (verify): whether @err is a terminal (then
	// they redraw a one-line progress on it), and the clock they use.
	std::function<bool()> err_is_terminal = [] { return false; };
	std::function<std::chrono::steady_clock::time_point()> now = [] {
		return std::chrono::steady_clock::now();
	};
	// For the cluster verbs: one request to dtrbdd's control socket.
	AskDaemon ask_daemon = default_ask_daemon;
	// peer-exec's request; nullptr: std::cin.
	std::istream *in = nullptr;
	// For "leaving": one request to the other host's dtrbdd over the
	// peer control channel (peer/peer_client.h).
	std::function<Result<nlohmann::json>(const config::Config &cfg, const std::string &self,
					      const std::string &peer,
					      const nlohmann::json &request,
					      std::chrono::milliseconds timeout)>
		ask_peer = default_ask_peer;

	static Result<nlohmann::json> default_ask_daemon(const std::string &socket,
							 const nlohmann::json &request);
	static Result<nlohmann::json> default_ask_peer(const config::Config &cfg,
						       const std::string &self,
						       const std::string &peer,
						       const nlohmann::json &request,
						       std::chrono::milliseconds timeout);
};

int run_cli(int argc, const char *const argv[], Env &env);

} // namespace dtrbd
