// SPDX-License-Identifier: GPL-2.0
// Byte-level helpers shared by the heartbeat and witness datagrams: a
// writer that appends big-endian fields, a bounded reader that never reads
// past the end of its buffer (every get_* fails once the buffer is
// exhausted and stays failed), fixed-size NUL-padded name fields, and the
// keys derived from the cluster's shared secret.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/crypto.h"

namespace dtrbd::cluster {

// Host and resource names on the wire: 1..31 bytes of [A-Za-z0-9._-] in a
// 32-byte field padded with NUL.
inline constexpr size_t kNameField = 32;
inline constexpr size_t kMaxName = kNameField - 1;
bool valid_name(std::string_view name);

class Writer {
public:
	void u8(uint8_t v) { buf_.push_back(v); }
	void u16(uint16_t v) { be(v, 2); }
	void u32(uint32_t v) { be(v, 4); }
	void u64(uint64_t v) { be(v, 8); }
	void bytes(std::span<const uint8_t> b) { buf_.insert(buf_.end(), b.begin(), b.end()); }
	// A fixed-size field: s (truncated to size) padded with NUL.
	void fixed(std::string_view s, size_t size);
	std::vector<uint8_t> &buf() { return buf_; }
	size_t size() const { return buf_.size(); }

private:
	void be(uint64_t v, int n)
	{
		for (int i = n - 1; i >= 0; i--)
			buf_.push_back(static_cast<uint8_t>(v >> (8 * i)));
	}
	std::vector<uint8_t> buf_;
};

class Reader {
public:
	explicit Reader(std::span<const uint8_t> b) : b_(b) {}
	bool ok() const { return ok_; }
	size_t left() const { return ok_ ? b_.size() - pos_ : 0; }
	uint8_t u8() { return static_cast<uint8_t>(be(1)); }
	uint16_t u16() { return static_cast<uint16_t>(be(2)); }
	uint32_t u32() { return static_cast<uint32_t>(be(4)); }
	uint64_t u64() { return be(8); }
	// Copies n bytes into out (zeroes on failure).
	void bytes(std::span<uint8_t> out);
	// A fixed NUL-padded field: the text before the first NUL. Sets
	// *clean to false when a non-NUL byte follows the first NUL or the
	// field has no NUL at all.
	std::string fixed(size_t size, bool *clean);
	void skip(size_t n);

private:
	uint64_t be(size_t n);
	std::span<const uint8_t> b_;
	size_t pos_ = 0;
	bool ok_ = true;
};

// Keys derived from the shared secret, one per purpose, so that a MAC made
// for one kind of message can never be valid for another.
struct Keys {
	crypto::Digest heartbeat{};
	crypto::Digest witness{};
	uint64_t key_id = 0;	// public fingerprint: tells "other secret" from "forged"
};
Keys derive_keys(std::span<const uint8_t> secret);

// MAC over data, and a constant-time check of the trailing 32-byte MAC.
crypto::Digest mac(const crypto::Digest &key, std::span<const uint8_t> data);
bool mac_ok(const crypto::Digest &key, std::span<const uint8_t> datagram);

} // namespace dtrbd::cluster
