// SPDX-License-Identifier: GPL-2.0
// Range checks on what the peer sends (kmod/dtrbd_logic.h): every packet
// naming a sector range of our device is checked before any shift, so a
// sector near 2^64 cannot wrap into range.
#include <catch2/catch.hpp>

#include "dtrbd_logic.h"

namespace {
constexpr __u64 kDev = 64ull << 20;  // 64 MiB device
}

TEST_CASE("peer range: inside, at the end, past the end", "[peer-range]")
{
	CHECK(dtrbd_peer_range_ok(0, 4096, kDev, 512));
	CHECK(dtrbd_peer_range_ok((kDev >> 9) - 8, 4096, kDev, 512));
	CHECK_FALSE(dtrbd_peer_range_ok((kDev >> 9) - 7, 4096, kDev, 512));
	CHECK(dtrbd_peer_range_ok(kDev >> 9, 0, kDev, 512));
	CHECK_FALSE(dtrbd_peer_range_ok((kDev >> 9) + 1, 0, kDev, 512));
	CHECK_FALSE(dtrbd_peer_range_ok(0, kDev + 512, kDev, 512));
}

TEST_CASE("peer range: a sector that wraps when shifted is refused",
	  "[peer-range]")
{
	// (1 << 55) << 9 == 0 in 64 bits: the old check of P_OV_REQ and
	// P_CSUM_REQ computed (sector << 9) + len <= size and accepted it
	CHECK_FALSE(dtrbd_peer_range_ok(1ull << 55, 4096, kDev, 4096));
	CHECK_FALSE(dtrbd_peer_range_ok(~0ull, 512, kDev, 512));
	CHECK_FALSE(dtrbd_peer_range_ok((1ull << 55) + 8, 4096, kDev, 512));
	CHECK_FALSE(dtrbd_peer_range_ok(0, ~0ull, kDev, 512));
}

TEST_CASE("peer range: alignment of start and length", "[peer-range]")
{
	CHECK_FALSE(dtrbd_peer_range_ok(0, 511, kDev, 512));
	CHECK_FALSE(dtrbd_peer_range_ok(1, 4096, kDev, 4096));
	CHECK_FALSE(dtrbd_peer_range_ok(8, 512, kDev, 4096));
	CHECK(dtrbd_peer_range_ok(8, 4096, kDev, 4096));
	CHECK_FALSE(dtrbd_peer_range_ok(0, 512, kDev, 0));
	CHECK_FALSE(dtrbd_peer_range_ok(0, 512, kDev, 100));
}

TEST_CASE("peer data: size 0 only as a flush", "[peer-range]")
{
	CHECK(dtrbd_peer_data_size_ok(4096, 0, 1));
	CHECK(dtrbd_peer_data_size_ok(0, 1, 1));
	CHECK(dtrbd_peer_data_size_ok(0, 3, 1));
	CHECK_FALSE(dtrbd_peer_data_size_ok(0, 0, 1));
	CHECK_FALSE(dtrbd_peer_data_size_ok(0, 2, 1));
}
