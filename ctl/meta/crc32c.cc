// SPDX-License-Identifier: GPL-2.0
#include "meta/crc32c.h"

#include <array>

namespace dtrbd {

namespace {

constexpr std::array<uint32_t, 256> make_table()
{
	std::array<uint32_t, 256> t{};
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		t[i] = c;
	}
	return t;
}

constexpr auto kTable = make_table();

} // namespace

uint32_t crc32c_raw(uint32_t crc, const void *data, size_t len)
{
	const auto *p = static_cast<const uint8_t *>(data);
	while (len--)
		crc = kTable[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

} // namespace dtrbd
