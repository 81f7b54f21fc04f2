// SPDX-License-Identifier: GPL-2.0
// The daemons' peer control channel (Documentation/protocol.md, "Peer
// control channel"): what one host asks the other's dtrbdd to do for it
// (dtrbdctl provision's other half). TCP to the peer's address and
// control-port, one request per connection, newline-terminated JSON lines:
//
//   server: {"v":1,"host":SERVER,"nonce":HEX}                     (hello)
//   client: {"v":1,"host":CLIENT,"nonce":HEX,"body":TEXT,"mac":HEX}
//   server: {"body":TEXT,"mac":HEX}     or, unauthenticated, {"refused":SENTENCE}
//
// Both MACs are HMAC-SHA256 over the shared secret of a label, both host
// names, both nonces and the body, so a request cannot be replayed (the
// server's nonce is new for every connection), altered, or answered by
// anyone without the secret; a response is bound to its request. Nothing is
// encrypted: requests carry names, sizes and configuration text, no data.
// Pure encode/decode functions; the sockets are in peer_client.cc and
// daemon/peer_control.cc.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/crypto.h"
#include "common/status.h"

namespace dtrbd::peerctl {

inline constexpr int kVersion = 1;
// A line longer than this is refused (configuration and domain XML texts).
inline constexpr size_t kMaxLine = 4u << 20;
inline constexpr size_t kNonceSize = 32;

struct Hello {
	std::string host;		// the server's [hosts.NAME]
	std::string nonce;		// 64 hex digits
};

struct Request {
	std::string host;		// the client's [hosts.NAME]
	std::string nonce;		// 64 hex digits
	std::string body;		// a JSON object, as text
	std::string mac;		// as received (decode_request); 64 hex digits
};

std::string to_hex(std::span<const uint8_t> b);
// A fresh nonce as hex (getrandom), or the sentence.
Result<std::string> new_nonce();

std::string encode_hello(const Hello &h);
Result<Hello> decode_hello(std::string_view line);

std::string encode_request(std::span<const uint8_t> secret, const Hello &server,
			   const Request &req);
// Parses and checks the request's form; verify_request checks its MAC.
Result<Request> decode_request(std::string_view line);
bool verify_request(std::span<const uint8_t> secret, const Hello &server, const Request &req);

std::string encode_response(std::span<const uint8_t> secret, const Hello &server,
			    const Request &req, std::string_view body);
std::string encode_refusal(std::string_view sentence);
// The response body when its MAC is right. A refusal or a wrong MAC is a
// Status naming @peer.
Result<std::string> decode_response(std::span<const uint8_t> secret, const Hello &server,
				    const Request &req, std::string_view line,
				    const std::string &peer);

} // namespace dtrbd::peerctl
