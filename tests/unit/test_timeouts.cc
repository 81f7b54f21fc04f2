// SPDX-License-Identifier: GPL-2.0
// The request timer's arithmetic (kmod/dtrbd_logic.h): which waiter has
// waited too long, and when to look next, on a wrapping tick counter.
#include <catch2/catch.hpp>

#include <climits>

#include "dtrbd_logic.h"

namespace {

dtrbd_tscan scan_at(unsigned long now, unsigned long idle)
{
	dtrbd_tscan s;
	dtrbd_tscan_init(&s, now, idle);
	return s;
}

} // namespace

TEST_CASE("request timeout is ko-count peer timeouts", "[timeouts]")
{
	CHECK(dtrbd_request_timeout_ms(DTRBD_KO_COUNT_DEFAULT, DTRBD_TIMEOUT_MS_DEFAULT) == 35000);
	// the largest values the policy admits do not overflow
	CHECK(dtrbd_request_timeout_ms(DTRBD_KO_COUNT_MAX, DTRBD_TIMEOUT_MS_MAX) == 60000000ull);
	CHECK(dtrbd_connecting_timeout_ms(5000) == 10000);
	// the handshake deadline never exceeds the request timeout, so a
	// write deferred while connecting waits no longer than one in flight
	for (unsigned ko = DTRBD_KO_COUNT_MIN; ko <= DTRBD_KO_COUNT_MAX; ko++)
		CHECK(dtrbd_connecting_timeout_ms(DTRBD_TIMEOUT_MS_MIN) <=
		      dtrbd_request_timeout_ms(ko, DTRBD_TIMEOUT_MS_MIN));
	// the scenario stalled-secondary allows every write 60 s
	CHECK(dtrbd_request_timeout_ms(DTRBD_KO_COUNT_DEFAULT, DTRBD_TIMEOUT_MS_DEFAULT) < 60000 / 3 * 2);
}

TEST_CASE("nothing waits: look again one limit from now", "[timeouts]")
{
	auto s = scan_at(1000, 350);
	CHECK(s.expired == DTRBD_TW_NONE);
	CHECK(s.next == 350);
}

TEST_CASE("a waiter below its limit sets the next look to its expiry", "[timeouts]")
{
	auto s = scan_at(1000, 350);
	dtrbd_tscan_add(&s, 900, 350, DTRBD_TW_WRITE);	// waited 100
	CHECK(s.expired == DTRBD_TW_NONE);
	CHECK(s.next == 250);
	dtrbd_tscan_add(&s, 700, 350, DTRBD_TW_READ);	// waited 300: earlier
	CHECK(s.next == 50);
	dtrbd_tscan_add(&s, 999, 350, DTRBD_TW_RESYNC);	// later: no change
	CHECK(s.next == 50);
	CHECK(s.expired == DTRBD_TW_NONE);
}

TEST_CASE("a waiter at or past its limit expires; the first one found counts", "[timeouts]")
{
	auto s = scan_at(1000, 350);
	dtrbd_tscan_add(&s, 651, 350, DTRBD_TW_WRITE);	// waited 349
	CHECK(s.expired == DTRBD_TW_NONE);
	CHECK(s.next == 1);
	dtrbd_tscan_add(&s, 650, 350, DTRBD_TW_READ);	// waited exactly 350
	CHECK(s.expired == DTRBD_TW_READ);
	CHECK(s.waited == 350);
	dtrbd_tscan_add(&s, 0, 350, DTRBD_TW_RESYNC);	// longer, but second
	CHECK(s.expired == DTRBD_TW_READ);
	CHECK(s.waited == 350);
}

TEST_CASE("the handshake has its own, shorter limit", "[timeouts]")
{
	auto s = scan_at(5000, 3500);
	dtrbd_tscan_add(&s, 3900, 1000, DTRBD_TW_CONNECTING);	// waited 1100
	dtrbd_tscan_add(&s, 4000, 3500, DTRBD_TW_WRITE);
	CHECK(s.expired == DTRBD_TW_CONNECTING);
	CHECK(s.waited == 1100);
}

TEST_CASE("the tick counter wraps", "[timeouts]")
{
	// started 10 ticks before the counter wrapped to 0, now at 20
	auto s = scan_at(20, 350);
	dtrbd_tscan_add(&s, ULONG_MAX - 9, 350, DTRBD_TW_WRITE);
	CHECK(s.expired == DTRBD_TW_NONE);
	CHECK(s.next == 320);
	s = scan_at(400, 350);
	dtrbd_tscan_add(&s, ULONG_MAX - 9, 350, DTRBD_TW_WRITE);	// waited 410
	CHECK(s.expired == DTRBD_TW_WRITE);
	CHECK(s.waited == 410);
}

TEST_CASE("a start stamped after now has not waited yet", "[timeouts]")
{
	auto s = scan_at(1000, 350);
	dtrbd_tscan_add(&s, 1005, 350, DTRBD_TW_WRITE);
	CHECK(s.expired == DTRBD_TW_NONE);
	CHECK(s.next == 350);
}
