// SPDX-License-Identifier: GPL-2.0
// How device status and events are shown: human text and JSON
// (Documentation/dtrbdctl.md has the schema). Values this program does not
// know are shown as "unknown", missing ones as null (JSON) or "?" (text).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "netlink/kernel.h"

namespace dtrbd {

using WallTime = std::chrono::system_clock::time_point;

std::string role_name(std::optional<uint8_t> v);
std::string conn_name(std::optional<uint8_t> v);
std::string disk_name(std::optional<uint8_t> v);
std::string event_name(std::optional<uint8_t> v);
std::string protocol_name(uint8_t v);		// "A", "B", "C" or "unknown"
std::optional<uint8_t> parse_protocol(const std::string &s);	// a/b/c

std::string bytes_text(uint64_t n);		// "1.5 GiB"
std::string hex64(uint64_t v);			// 16 lower-case hex digits
std::string timestamp(WallTime t);		// ISO 8601 UTC, milliseconds

nlohmann::json status_json(const DeviceStatus &d);
nlohmann::json event_json(const Event &ev, WallTime t);
std::string status_text(const DeviceStatus &d);	// a block, ends in '\n'
std::string event_text(const Event &ev, WallTime t);	// one line, no '\n'

} // namespace dtrbd
