// SPDX-License-Identifier: GPL-2.0
// Witness datagrams (Documentation/protocol.md, "Witness datagrams"): one
// UDP request, one response, both HMAC-SHA256-authenticated with the
// witness key derived from the cluster's shared secret. Pure: bytes in,
// values out; decoders never read past their buffer.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cluster/heartbeat.h"	// Reject
#include "cluster/wire.h"
#include "witness/state.h"

namespace dtrbd::witness {

inline constexpr uint32_t kRequestMagic = 0x44545751;	// "DTWQ"
inline constexpr uint32_t kResponseMagic = 0x44545752;	// "DTWR"
inline constexpr uint8_t kWitnessVersion = 1;
inline constexpr size_t kMaxAsk = 4;		// resources per request/response
inline constexpr size_t kMaxReason = 255;
inline constexpr size_t kRequestHeader = 120;
inline constexpr size_t kResponseHeader = 56;
inline constexpr size_t kRecordSize = 236;
inline constexpr uint16_t kDefaultWitnessPort = 7790;

using Nonce = std::array<uint8_t, 16>;
using cluster::Reject;

enum class Op : uint8_t { Keepalive = 1, Claim = 2, Outdate = 3, Release = 4, Uptodate = 5 };
const char *to_string(Op op);

struct Request {
	Op op = Op::Keepalive;
	bool in_sync = false;		// host is connected to `peer`, both UpToDate
	std::string host;
	uint64_t boot_id = 0;		// the client daemon's, for logs
	uint64_t session = 0;		// from the witness; 0 = none yet
	uint64_t seq = 0;		// per session, increasing, != 0
	Nonce nonce{};			// fresh per request, echoed in the response
	std::string peer;		// Uptodate, or Claim with in_sync
	std::vector<std::string> resources;	// Keepalive: 0..4, others: 1
};

enum class Kind : uint8_t { Answer = 1, NewSession = 2 };

struct WireRecord {
	std::string name;
	std::optional<Record> record;	// none: the witness has no record
};

struct Response {
	Kind kind = Kind::Answer;
	bool granted = false;
	uint64_t session = 0;
	uint64_t seq = 0;		// echo
	Nonce nonce{};			// echo
	uint32_t lease_ms = 0;
	std::string reason;		// <= kMaxReason bytes (longer is cut)
	std::vector<WireRecord> records;	// <= kMaxAsk
};

std::vector<uint8_t> encode_request(const Request &r, const cluster::Keys &keys);
std::optional<Request> decode_request(std::span<const uint8_t> d, const cluster::Keys &keys, Reject *why);
std::vector<uint8_t> encode_response(const Response &r, const cluster::Keys &keys);
std::optional<Response> decode_response(std::span<const uint8_t> d, const cluster::Keys &keys, Reject *why);

} // namespace dtrbd::witness
