// SPDX-License-Identifier: GPL-2.0
#include "cluster/wire.h"

#include <algorithm>
#include <cstring>

namespace dtrbd::cluster {

bool valid_name(std::string_view name)
{
	if (name.empty() || name.size() > kMaxName)
		return false;
	return std::all_of(name.begin(), name.end(), [](char c) {
		return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
	});
}

void Writer::fixed(std::string_view s, size_t size)
{
	size_t n = std::min(s.size(), size);
	buf_.insert(buf_.end(), s.begin(), s.begin() + n);
	buf_.insert(buf_.end(), size - n, 0);
}

uint64_t Reader::be(size_t n)
{
	if (!ok_ || b_.size() - pos_ < n) {
		ok_ = false;
		return 0;
	}
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = (v << 8) | b_[pos_ + i];
	pos_ += n;
	return v;
}

void Reader::bytes(std::span<uint8_t> out)
{
	if (!ok_ || b_.size() - pos_ < out.size()) {
		ok_ = false;
		std::fill(out.begin(), out.end(), 0);
		return;
	}
	std::memcpy(out.data(), b_.data() + pos_, out.size());
	pos_ += out.size();
}

void Reader::skip(size_t n)
{
	if (!ok_ || b_.size() - pos_ < n) {
		ok_ = false;
		return;
	}
	pos_ += n;
}

std::string Reader::fixed(size_t size, bool *clean)
{
	if (!ok_ || b_.size() - pos_ < size) {
		ok_ = false;
		*clean = false;
		return {};
	}
	const uint8_t *p = b_.data() + pos_;
	pos_ += size;
	size_t len = 0;
	while (len < size && p[len] != 0)
		len++;
	if (len == size)
		*clean = false;
	for (size_t i = len; i < size; i++)
		if (p[i] != 0)
			*clean = false;
	return std::string(reinterpret_cast<const char *>(p), len);
}

static crypto::Digest derive(std::span<const uint8_t> secret, std::string_view label)
{
	return crypto::hmac_sha256(secret, std::span<const uint8_t>(
		reinterpret_cast<const uint8_t *>(label.data()), label.size()));
}

Keys derive_keys(std::span<const uint8_t> secret)
{
	Keys k;
	k.heartbeat = derive(secret, "dtrbd heartbeat key v1");
	k.witness = derive(secret, "dtrbd witness key v1");
	crypto::Digest id = derive(secret, "dtrbd key id v1");
	for (int i = 0; i < 8; i++)
		k.key_id = (k.key_id << 8) | id[i];
	return k;
}

crypto::Digest mac(const crypto::Digest &key, std::span<const uint8_t> data)
{
	return crypto::hmac_sha256(key, data);
}

bool mac_ok(const crypto::Digest &key, std::span<const uint8_t> datagram)
{
	if (datagram.size() < 32)
		return false;
	crypto::Digest want = mac(key, datagram.first(datagram.size() - 32));
	crypto::Digest got;
	std::memcpy(got.data(), datagram.data() + datagram.size() - 32, 32);
	return crypto::digest_equal(want, got);
}

} // namespace dtrbd::cluster
