// SPDX-License-Identifier: GPL-2.0
// The block size limits of a pair (kmod/dtrbd_logic.h, P_LIMITS): the
// stricter of each side's, refused when malformed, larger than the 4 KiB
// bitmap block, or when an open device would have to grow its block size.
#include <catch2/catch.hpp>

#include "dtrbd_logic.h"

namespace {

struct dtrbd_limits lim(__u32 lbs, __u32 pbs, __u32 max_bio)
{
	return {lbs, pbs, max_bio};
}

}  // namespace

TEST_CASE("limits: a 512-byte side adopts a 4Kn peer's blocks", "[limits]")
{
	auto cur = lim(512, 512, 1u << 20), peer = lim(4096, 4096, 1u << 20);
	struct dtrbd_limits out {};
	REQUIRE(dtrbd_limits_merge(&cur, &peer, 0, &out) == DTRBD_LIM_OK);
	CHECK(out.lbs == 4096);
	CHECK(out.pbs == 4096);
	CHECK(out.max_bio == 1u << 20);
	// the 4Kn side keeps its own
	REQUIRE(dtrbd_limits_merge(&peer, &cur, 0, &out) == DTRBD_LIM_OK);
	CHECK(out.lbs == 4096);
}

TEST_CASE("limits: an open device never grows its logical block size", "[limits]")
{
	auto cur = lim(512, 4096, 1u << 20), peer = lim(4096, 4096, 1u << 20);
	struct dtrbd_limits out {};
	CHECK(dtrbd_limits_merge(&cur, &peer, 1, &out) == DTRBD_LIM_IN_USE);
	// the same size, or a smaller one on the peer, is fine while open
	auto same = lim(512, 512, 1u << 20);
	CHECK(dtrbd_limits_merge(&cur, &same, 1, &out) == DTRBD_LIM_OK);
	CHECK(out.lbs == 512);
	CHECK(out.pbs == 4096);
	auto big = lim(4096, 4096, 1u << 20);
	CHECK(dtrbd_limits_merge(&big, &same, 1, &out) == DTRBD_LIM_OK);
	CHECK(out.lbs == 4096);
}

TEST_CASE("limits: the smaller largest bio, a multiple of the block size", "[limits]")
{
	auto cur = lim(512, 512, 1u << 20), peer = lim(512, 512, 128u << 10);
	struct dtrbd_limits out {};
	REQUIRE(dtrbd_limits_merge(&cur, &peer, 0, &out) == DTRBD_LIM_OK);
	CHECK(out.max_bio == 128u << 10);
	peer = lim(4096, 4096, 6144 * 2);	// 12 KiB: a multiple of 4096
	REQUIRE(dtrbd_limits_merge(&cur, &peer, 0, &out) == DTRBD_LIM_OK);
	CHECK(out.max_bio == 12288);
	CHECK(out.max_bio % out.lbs == 0);
}

TEST_CASE("limits: malformed or unsupported peer limits are refused", "[limits]")
{
	auto cur = lim(512, 512, 1u << 20);
	struct dtrbd_limits out {};
	const struct dtrbd_limits invalid[] = {
		lim(0, 512, 1u << 20),		// no block size
		lim(256, 512, 1u << 20),	// below 512
		lim(1536, 4096, 1u << 20),	// not a power of 2
		lim(4096, 512, 1u << 20),	// physical below logical
		lim(512, 3072, 1u << 20),	// physical not a power of 2
		lim(512, 512, 0),		// no bio at all
		lim(4096, 4096, 6144),		// bio not a multiple of the block
	};
	for (const auto &p : invalid) {
		CAPTURE(p.lbs, p.pbs, p.max_bio);
		CHECK(dtrbd_limits_merge(&cur, &p, 0, &out) == DTRBD_LIM_INVALID);
	}
	auto huge = lim(8192, 8192, 1u << 20);
	CHECK(dtrbd_limits_merge(&cur, &huge, 0, &out) == DTRBD_LIM_UNSUPPORTED);
	auto tiny = lim(512, 512, 2048);
	CHECK(dtrbd_limits_merge(&cur, &tiny, 0, &out) == DTRBD_LIM_UNSUPPORTED);
}
