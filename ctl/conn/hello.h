// SPDX-License-Identifier: GPL-2.0
// P_HELLO: the userspace handshake both sides send before the socket is
// handed to the kernel. Encoding, strict decoding and negotiation are pure
// functions over byte buffers.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "common/status.h"
#include "dtrbd_protocol.h"

namespace dtrbd {

struct Hello {
	uint32_t proto_min = DTRBD_PROTO_MIN;
	uint32_t proto_max = DTRBD_PROTO_MAX;
	uint64_t features = DTRBD_FEATURES_KNOWN;
	uint64_t size_bytes = 0;
	uint64_t device_uuid = 0;
	uint32_t minor = 0;
	std::string node_name;	// at most DTRBD_NODE_NAME_LEN - 1 bytes sent

	bool operator==(const Hello &) const = default;
};

constexpr size_t kHdrSize = sizeof(struct dtrbd_hdr);
constexpr size_t kHelloSize = sizeof(struct dtrbd_p_hello);
using HelloPacket = std::array<uint8_t, kHdrSize + kHelloSize>;

// Header {magic, P_HELLO, 0, sizeof(hello), seq 0} + body, big-endian.
HelloPacket encode_hello(const Hello &h);

// Check a received header: magic, type P_HELLO, reserved 0, length exactly
// sizeof(struct dtrbd_p_hello). @p holds kHdrSize bytes.
Status check_hello_header(const uint8_t *p);

// Decode a hello body of kHelloSize bytes; rejects malformed ones.
Result<Hello> decode_hello(const uint8_t *p);

struct Agreement {
	uint32_t version;	// highest version both speak
	uint64_t features;	// AND of both sides
};

// What both sides agree on, or the sentence why they cannot talk:
// version ranges that do not overlap, or different device sizes.
Result<Agreement> negotiate(const Hello &ours, const Hello &peer);

} // namespace dtrbd
