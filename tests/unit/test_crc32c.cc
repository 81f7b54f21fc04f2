// SPDX-License-Identifier: GPL-2.0
#include <catch2/catch.hpp>

#include <cstring>
#include <vector>

#include "meta/crc32c.h"

using dtrbd::crc32c_raw;

namespace {
uint32_t crc32c(const std::vector<uint8_t> &v)
{
	return ~crc32c_raw(0xFFFFFFFFu, v.data(), v.size());
}
} // namespace

TEST_CASE("crc32c check value", "[crc32c]")
{
	const char *s = "123456789";
	CHECK(~crc32c_raw(0xFFFFFFFFu, s, 9) == 0xE3069283u);
	// The superblock stores the raw register: the check value's complement.
	CHECK(crc32c_raw(0xFFFFFFFFu, s, 9) == (0xE3069283u ^ 0xFFFFFFFFu));
}

TEST_CASE("crc32c RFC 3720 (iSCSI) vectors", "[crc32c]")
{
	std::vector<uint8_t> zeros(32, 0x00), ones(32, 0xFF), inc(32), dec(32);
	for (int i = 0; i < 32; i++) {
		inc[i] = static_cast<uint8_t>(i);
		dec[i] = static_cast<uint8_t>(31 - i);
	}
	CHECK(crc32c(zeros) == 0x8A9136AAu);
	CHECK(crc32c(ones) == 0x62A8AB43u);
	CHECK(crc32c(inc) == 0x46DD794Eu);
	CHECK(crc32c(dec) == 0x113FDB5Cu);
}

TEST_CASE("crc32c is incremental and length-sensitive", "[crc32c]")
{
	const char *s = "The quick brown fox jumps over the lazy dog";
	size_t n = std::strlen(s);
	uint32_t whole = crc32c_raw(0xFFFFFFFFu, s, n);
	CHECK(crc32c_raw(crc32c_raw(0xFFFFFFFFu, s, 10), s + 10, n - 10) == whole);
	CHECK(crc32c_raw(0xFFFFFFFFu, s, n - 1) != whole);
	CHECK(crc32c_raw(0xFFFFFFFFu, s, 0) == 0xFFFFFFFFu);
}
