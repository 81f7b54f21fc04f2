// SPDX-License-Identifier: GPL-2.0
// The client side of the peer control channel (peer/peerctl.h): one
// request to another host's dtrbdd, blocking, with a deadline.
#pragma once

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "config/config.h"

namespace dtrbd::peerctl {

// Sends @request (an object with "cmd") from host @self to @peer's dtrbdd
// (its address, cfg.control_port) and returns the response object when it
// says "ok": true. A response with "ok": false gives its "error" sentence;
// no answer within @timeout, a refusal or a bad signature give a sentence
// naming the peer.
Result<nlohmann::json> ask_peer(const config::Config &cfg, const std::string &self,
				const std::string &peer, const nlohmann::json &request,
				std::chrono::milliseconds timeout);

// The response object of a peer-exec body: {"ok":...} with "error" when
// not ok. Shared by ask_peer and its tests.
Result<nlohmann::json> response_object(const std::string &body, const std::string &peer);

} // namespace dtrbd::peerctl
