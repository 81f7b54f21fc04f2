// SPDX-License-Identifier: GPL-2.0
// How device status and events are shown: human text and JSON (the schema
// is at the top of format.cc). Values this program does not
// know are shown as "unknown", missing ones as null (JSON) or "?" (text).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "netlink/kernel.h"

namespace dtrbd {

using WallTime = std::chrono::system_clock::time_point;

std::string role_name(std::optional<uint8_t> v);
std::string conn_name(std::optional<uint8_t> v);
std::string disk_name(std::optional<uint8_t> v);
std::string event_name(std::optional<uint8_t> v);
std::string sync_kind_name(std::optional<uint8_t> v);	// "bitmap", ...
std::string after_sb_name(uint8_t v);		// "discard-secondary", ...
std::vector<std::string> flag_names(uint32_t flags);	// "split-brain", ...
std::string protocol_name(uint8_t v);		// "A", "B", "C" or "unknown"
std::optional<uint8_t> parse_protocol(const std::string &s);	// a/b/c
// "disconnect", "discard-zero-changes", "discard-secondary"
std::optional<uint8_t> parse_after_sb(const std::string &s);
std::string on_peer_loss_name(std::optional<uint8_t> v);	// "continue", "freeze"
std::optional<uint8_t> parse_on_peer_loss(const std::string &s);

// A size with a binary unit: "800K", "50M", "1G", "2T" (also "50MiB",
// "50m"); a bare number is refused as ambiguous. Bytes, or nullopt.
std::optional<uint64_t> parse_size(const std::string &s);
// --resync-rate: "dynamic" (0) or a size per second ("50M", "50M/s",
// "50MiB/s") that is a whole number of KiB from 1 KiB to
// DTRBD_RESYNC_RATE_MAX KiB. KiB/s, or nullopt.
std::optional<uint32_t> parse_resync_rate(const std::string &s);

// Resync (or verify) progress in percent, 0-100, when one runs.
std::optional<double> sync_percent(const DeviceStatus &d);
std::string progress_bar(double percent);	// "[#####...............]"
std::string rate_text(uint64_t bytes_per_s);	// "50.0 MiB/s"
std::string duration_text(uint64_t seconds);	// "1h02m03s", "4m05s", "7s"

std::string bytes_text(uint64_t n);		// "1.5 GiB"
std::string hex64(uint64_t v);			// 16 lower-case hex digits
std::string timestamp(WallTime t);		// ISO 8601 UTC, milliseconds

nlohmann::json status_json(const DeviceStatus &d);
nlohmann::json event_json(const Event &ev, WallTime t);
std::string status_text(const DeviceStatus &d);	// a block, ends in '\n'
std::string event_text(const Event &ev, WallTime t);	// one line, no '\n'

} // namespace dtrbd
