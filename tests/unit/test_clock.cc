// SPDX-License-Identifier: GPL-2.0
#include <catch2/catch.hpp>

#include "common/clock.h"

using namespace std::chrono_literals;

TEST_CASE("FakeClock moves only when told", "[clock]")
{
	dtrbd::FakeClock c;
	const dtrbd::Clock &clk = c;
	auto t0 = clk.now();
	REQUIRE(clk.now() == t0);
	c.advance(250ms);
	REQUIRE(clk.now() - t0 == std::chrono::milliseconds(250));
	c.set(t0);
	REQUIRE(clk.now() == t0);
	REQUIRE(t0 - 1h >= dtrbd::Clock::time_point{});
}

TEST_CASE("SteadyClock is monotonic", "[clock]")
{
	dtrbd::SteadyClock c;
	auto a = c.now();
	auto b = c.now();
	REQUIRE(b >= a);
}
