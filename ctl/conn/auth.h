// SPDX-License-Identifier: GPL-2.0
// Peer authentication in the userspace handshake: a mutual HMAC-SHA256
// challenge/response over the shared secret, run after the hellos and
// before the socket is handed to the kernel (which never sees these
// packets). Pure encode/decode/prove functions over byte buffers; the
// socket side is in establish.cc. Documentation/protocol.md has the layout.
//
// Exchange (both sides send each step, then read the peer's):
//   1. P_AUTH_CHALLENGE {flags, nonce}: flags say whether this side has a
//      secret; a side with one and a side without refuse each other here.
//   2. P_AUTH_RESPONSE {proof}: HMAC(secret, "dtrbd-auth-v1 proof" || role ||
//      transcript), where role is the sender's ('L' listener, 'C' connector)
//      and the transcript is both nonces and both hello packets, listener's
//      first. A replay fails (fresh nonces), a reflection fails (the role
//      differs; equal nonces are refused outright), a man in the middle who
//      changes either hello fails (the hellos are in the transcript).
//   3. P_AUTH_RESULT {status, mac}: whether the sender accepted the peer's
//      proof; an acceptance carries HMAC(secret, "dtrbd-auth-v1 accept" ||
//      role || transcript), so both sides learn the outcome and say why.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/crypto.h"
#include "common/status.h"
#include "dtrbd_protocol.h"

namespace dtrbd::auth {

// Userspace-only packet types, far from the kernel's enum dtrbd_packet_type.
inline constexpr uint16_t P_AUTH_CHALLENGE = 0x7f01;
inline constexpr uint16_t P_AUTH_RESPONSE = 0x7f02;
inline constexpr uint16_t P_AUTH_RESULT = 0x7f03;

inline constexpr uint32_t kFlagSecret = 1u << 0;	// the sender has a secret
inline constexpr size_t kNonceSize = 32;

inline constexpr size_t kHdr = sizeof(struct dtrbd_hdr);	// 16
inline constexpr size_t kChallengeBody = 8 + kNonceSize;	// flags, reserved, nonce
inline constexpr size_t kResponseBody = 32;			// proof
inline constexpr size_t kResultBody = 8 + 32;			// status, reserved, mac

using Nonce = std::array<uint8_t, kNonceSize>;
using Bytes = std::vector<uint8_t>;

enum class Role : uint8_t { Listener = 'L', Connector = 'C' };

struct Challenge {
	bool has_secret = false;
	Nonce nonce{};		// all zero when !has_secret
};

struct Verdict {
	bool accepted = false;
	crypto::Digest mac{};	// zero when !accepted
};

// Everything both proofs cover. The hellos are the packets as sent on the
// wire (header and body).
struct Transcript {
	Nonce listener_nonce{}, connector_nonce{};
	Bytes listener_hello, connector_hello;
};

Bytes encode_challenge(const Challenge &c);
Bytes encode_response(const crypto::Digest &proof);
Bytes encode_verdict(const Verdict &v);

// Check a received 16-byte header: magic, @type, reserved 0 and the body
// length @body_len. @what names the packet in the sentence.
Status check_header(std::span<const uint8_t> hdr, uint16_t type, size_t body_len,
		    const char *what);

// Decoders take exactly the packet body (after check_header); any other
// size, a nonzero reserved field or unknown flags are refused.
Result<Challenge> decode_challenge(std::span<const uint8_t> body);
Result<crypto::Digest> decode_response(std::span<const uint8_t> body);
Result<Verdict> decode_verdict(std::span<const uint8_t> body);

crypto::Digest proof(std::span<const uint8_t> secret, Role sender, const Transcript &t);
crypto::Digest accept_mac(std::span<const uint8_t> secret, Role sender, const Transcript &t);

// Step 1: the sentence when the two sides disagree about authentication
// (or the peer reflected our nonce); success when both have a secret or
// neither. @peer names the peer ("10.0.0.2:7789").
Status check_challenges(const Challenge &ours, const Challenge &theirs, const std::string &peer);

// Step 2: does @got prove that the peer (role @peer_role) knows @secret?
bool verify_proof(std::span<const uint8_t> secret, Role peer_role, const Transcript &t,
		  const crypto::Digest &got);

// Step 3: the peer's verdict on our proof: success, or the sentence.
Status check_verdict(std::span<const uint8_t> secret, Role peer_role, const Transcript &t,
		     const Verdict &v, const std::string &peer);

// The sentence when the peer's proof did not match.
Status wrong_secret(const std::string &peer);

} // namespace dtrbd::auth
