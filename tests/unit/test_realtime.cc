// SPDX-License-Identifier: GPL-2.0
// dtrbdd's event loop at real-time priority (daemon/realtime.h).
#include <sched.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

#include "daemon/realtime.h"

using namespace dtrbd;
using namespace dtrbd::daemon;

namespace {

struct Sched {
	int policy = -1;	// as sched_getscheduler reports it (with the reset flag)
	int prio = -1;
};

Sched sched_of_this_thread()
{
	Sched s;
	s.policy = sched_getscheduler(0);
	struct sched_param sp = {};
	if (sched_getparam(0, &sp) == 0)
		s.prio = sp.sched_priority;
	return s;
}

} // namespace

TEST_CASE("realtime: the event loop thread runs SCHED_RR, the threads it starts do not",
	  "[realtime]")
{
	// This needs CAP_SYS_NICE (tools/check runs as root); without it the
	// test fails and says so rather than passing on nothing.
	Status st;
	Sched loop, child;
	std::thread t([&] {
		st = enter_realtime(kRealtimePriority);
		if (!st)
			return;
		loop = sched_of_this_thread();
		std::thread c([&] { child = sched_of_this_thread(); });
		c.join();
	});
	t.join();
	INFO("enter_realtime: " << st.message() << " (uid " << getuid() << ")");
	REQUIRE(st.ok());
	CHECK(loop.policy == (SCHED_RR | SCHED_RESET_ON_FORK));
	CHECK(loop.prio == kRealtimePriority);
	// SCHED_RESET_ON_FORK: the VM worker lanes are ordinary tasks.
	CHECK(child.policy == SCHED_OTHER);
	CHECK(child.prio == 0);
	// and this thread (the test's main thread) was never touched
	CHECK(sched_of_this_thread().policy == SCHED_OTHER);
}

TEST_CASE("realtime: an impossible priority is refused with a sentence", "[realtime]")
{
	Status st;
	std::thread t([&] { st = enter_realtime(1000); });
	t.join();
	REQUIRE_FALSE(st.ok());
	CHECK(st.errnum() == EINVAL);
	CHECK_THAT(st.message(), Catch::Contains("real-time priority 1000") &&
					 Catch::Contains("SCHED_RR"));
}
