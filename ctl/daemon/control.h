// SPDX-License-Identifier: GPL-2.0
// The control socket of dtrbdd: a unix stream socket (default
// /run/dtrbd/dtrbdd.sock, mode 0600, and only uid 0 is served) carrying
// newline-delimited JSON, one request object per line, answered by one
// response object per line, in order:
//
//   {"cmd": "cluster"}
//   {"cmd": "up", "resource": "vm1"}          resource optional: all
//   {"cmd": "down", "resource": "vm1"}        resource optional: all
//   {"cmd": "fail-back", "resource": "vm1"}
//   {"cmd": "migrate", "resource": "vm1", "host": "p2"}
//
//   {"ok": true, "message": "..."}            what was done (a sentence)
//   {"ok": true, "cluster": {...}}            for "cluster"
//   {"ok": false, "error": "..."}             one sentence, nothing changed
//
// Documentation/dtrbdd.md describes the protocol; this header holds the
// parts both dtrbdd and dtrbdctl use.
#pragma once

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace dtrbd::control {

inline constexpr const char *kRunDir = "/run/dtrbd";
inline constexpr const char *kDefaultSocket = "/run/dtrbd/dtrbdd.sock";
// A request or response line longer than this is refused.
inline constexpr size_t kMaxLine = 1 << 20;

// The sentence dtrbdctl prints when no daemon answers on @path.
std::string not_running(const std::string &path);

// Builders for the three response shapes.
nlohmann::json ok(std::string message);
nlohmann::json refused(std::string sentence);

// Sends one request to the daemon on @path and returns its response
// object. A missing socket or one nobody listens on gives not_running();
// a response with "ok": false gives its "error" sentence as the Status.
Result<nlohmann::json> ask(const std::string &path, const nlohmann::json &request,
			   std::chrono::milliseconds timeout);

} // namespace dtrbd::control
