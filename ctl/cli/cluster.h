// SPDX-License-Identifier: GPL-2.0
// The cluster verbs of dtrbdctl (up, down, fail-back, migrate, cluster):
// they ask the running dtrbdd over its control socket (daemon/control.h)
// and print its answer.
#pragma once

#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace dtrbd {

// Sends one request to the daemon on a socket path and returns its
// response (the Status is the daemon's refusal or "not running").
using AskDaemon = std::function<Result<nlohmann::json>(const std::string &socket,
						       const nlohmann::json &request)>;

// up/down/fail-back/migrate: print the daemon's sentence.
Status cmd_cluster_verb(const AskDaemon &ask, const std::string &socket,
			const nlohmann::json &request, std::ostream &out);
// cluster [--json]: the daemon's view, as text or as its JSON object.
Status cmd_cluster(const AskDaemon &ask, const std::string &socket, bool json,
		   std::ostream &out);

// The text form of a "cluster" object; missing fields print as "?".
std::string cluster_text(const nlohmann::json &c);

} // namespace dtrbd
