// SPDX-License-Identifier: GPL-2.0
// Clock: the one seam through which dtrbdd's logic reads time. Everything
// that decides on time (heartbeat deadtime, witness leases, retry timers)
// takes a `const Clock &`, so the unit tests drive it with a FakeClock and
// simulated time instead of sleeping.
//
// Only the monotonic clock is used: wall-clock time jumps (NTP, an operator's
// `date`) must never declare a peer dead or a lease expired.
#pragma once

#include <chrono>

namespace dtrbd {

struct Clock {
	using time_point = std::chrono::steady_clock::time_point;
	using duration = std::chrono::steady_clock::duration;

	virtual ~Clock() = default;
	virtual time_point now() const = 0;
};

// The real clock: CLOCK_MONOTONIC through std::chrono::steady_clock.
class SteadyClock final : public Clock {
public:
	time_point now() const override { return std::chrono::steady_clock::now(); }
};

// A manual clock for tests: time moves only when the test says so. It
// starts an hour after the epoch so `now() - some_duration` never goes
// below the epoch in a test.
class FakeClock final : public Clock {
public:
	FakeClock() : now_(time_point{} + std::chrono::hours(1)) {}
	explicit FakeClock(time_point start) : now_(start) {}

	time_point now() const override { return now_; }
	void advance(duration d) { now_ += d; }
	void set(time_point t) { now_ = t; }

private:
	time_point now_;
};

} // namespace dtrbd
