// SPDX-License-Identifier: GPL-2.0
// GracefulStop and the fake VM driver's contract (what the daemon's tests
// rely on), including the event descriptor.
#include <poll.h>

#include <catch2/catch.hpp>

#include "fake_vm.h"

using namespace dtrbd;
using namespace dtrbd::vm;
using namespace std::chrono_literals;
using Step = GracefulStop::Step;

namespace {

bool readable(int fd)
{
	struct pollfd p = {fd, POLLIN, 0};
	return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

const char *kXml = "<domain type='kvm'><name>vm1</name><devices><disk type='block'>"
		   "<source dev='/dev/dtrbd1'/></disk></devices></domain>";

} // namespace

TEST_CASE("GracefulStop: ACPI first, destroy only once the deadline passed")
{
	test::FakeVm vm;
	vm.add("vm1", DomainState::kRunning, {"/dev/dtrbd1"});
	GracefulStop stop("vm1", 30s);
	auto t0 = GracefulStop::Clock::time_point{} + 1000s;
	CHECK_FALSE(stop.deadline().has_value());

	auto s = stop.step(vm, t0);
	REQUIRE(s.ok());
	CHECK(*s == Step::kRequested);
	REQUIRE(stop.deadline().has_value());
	CHECK(*stop.deadline() == t0 + 30s);
	CHECK(vm.domains["vm1"].state == DomainState::kShuttingDown);

	s = stop.step(vm, t0 + 29s);
	REQUIRE(s.ok());
	CHECK(*s == Step::kWaiting);
	CHECK(vm.domains["vm1"].state == DomainState::kShuttingDown);

	s = stop.step(vm, t0 + 30s);
	REQUIRE(s.ok());
	CHECK(*s == Step::kDestroyed);
	CHECK(vm.domains["vm1"].state == DomainState::kShutOff);
	CHECK(vm.domains["vm1"].reason == "destroyed");
	CHECK(std::count(vm.calls.begin(), vm.calls.end(), "shutdown vm1") == 1);
	CHECK(std::count(vm.calls.begin(), vm.calls.end(), "destroy vm1") == 1);
}

TEST_CASE("GracefulStop: a guest that powers off in time is not destroyed")
{
	test::FakeVm vm;
	vm.add("vm1", DomainState::kRunning, {"/dev/dtrbd1"});
	GracefulStop stop("vm1", 10s);
	auto t0 = GracefulStop::Clock::now();
	REQUIRE(*stop.step(vm, t0) == Step::kRequested);
	vm.guest_powers_off("vm1");
	auto s = stop.step(vm, t0 + 1h);
	REQUIRE(s.ok());
	CHECK(*s == Step::kStopped);
	CHECK(std::count(vm.calls.begin(), vm.calls.end(), "destroy vm1") == 0);
	CHECK(vm.domains["vm1"].reason == "shutdown");
}

TEST_CASE("GracefulStop: an off, crashed or missing domain needs nothing")
{
	for (DomainState st : {DomainState::kShutOff, DomainState::kCrashed}) {
		test::FakeVm vm;
		vm.add("vm1", st, {});
		GracefulStop stop("vm1", 10s);
		CHECK(*stop.step(vm, GracefulStop::Clock::now()) == Step::kStopped);
		CHECK(std::count(vm.calls.begin(), vm.calls.end(), "shutdown vm1") == 0);
	}
	test::FakeVm vm;
	GracefulStop stop("gone", 10s);
	CHECK(*stop.step(vm, GracefulStop::Clock::now()) == Step::kStopped);
}

TEST_CASE("GracefulStop: failures are reported, not swallowed")
{
	test::FakeVm vm;
	vm.add("vm1", DomainState::kRunning, {});
	GracefulStop stop("vm1", 10s);
	vm.reachable = false;
	auto s = stop.step(vm, GracefulStop::Clock::now());
	REQUIRE_FALSE(s.ok());
	CHECK_THAT(s.status().message(), Catch::Contains("cannot connect to libvirt"));
	CHECK_FALSE(stop.deadline().has_value());	// nothing was requested
	vm.reachable = true;
	CHECK(*stop.step(vm, GracefulStop::Clock::now()) == Step::kRequested);
}

TEST_CASE("fake VM: define once, start/stop idempotent, events on the descriptor")
{
	test::FakeVm vm;
	vm.xml_files["/etc/dtrbd/vm1.xml"] = kXml;
	CHECK_FALSE(readable(vm.event_fd()));

	auto d = vm.ensure_defined("vm1", "/etc/dtrbd/vm1.xml", "/dev/dtrbd1");
	REQUIRE(d.ok());
	CHECK(*d);
	d = vm.ensure_defined("vm1", "/etc/dtrbd/vm1.xml", "/dev/dtrbd1");
	REQUIRE(d.ok());
	CHECK_FALSE(*d);
	d = vm.ensure_defined("vm1", "/etc/dtrbd/vm1.xml", "/dev/dtrbd2");
	REQUIRE_FALSE(d.ok());
	CHECK_THAT(d.status().message(), Catch::Contains("no <disk type='block'> on /dev/dtrbd2"));
	d = vm.ensure_defined("vm2", "/etc/dtrbd/vm2.xml", "/dev/dtrbd2");
	REQUIRE_FALSE(d.ok());
	CHECK(d.status().errnum() == ENOENT);

	REQUIRE(vm.start("vm1").ok());
	REQUIRE(vm.start("vm1").ok());
	CHECK(vm.state("vm1")->state == DomainState::kRunning);
	CHECK(vm.state("nope")->state == DomainState::kMissing);
	CHECK_FALSE(vm.start("nope").ok());
	REQUIRE(vm.destroy("vm1").ok());
	REQUIRE(vm.destroy("vm1").ok());

	CHECK(readable(vm.event_fd()));
	auto ev = vm.take_events();
	CHECK_FALSE(readable(vm.event_fd()));
	REQUIRE(ev.size() == 3);
	CHECK(ev[0].kind == EventKind::kDefined);
	CHECK(ev[1].kind == EventKind::kStarted);
	CHECK(ev[2].kind == EventKind::kStopped);
	CHECK(ev[2].detail == "destroyed");
}

TEST_CASE("fake VM: losing libvirtd posts lost, the next verb after it is back posts restored")
{
	test::FakeVm vm;
	REQUIRE(vm.connect().ok());
	vm.lose_connection();
	CHECK_FALSE(vm.connected());
	CHECK_FALSE(vm.list().ok());
	vm.restore();
	REQUIRE(vm.list().ok());
	auto ev = vm.take_events();
	REQUIRE(ev.size() == 2);
	CHECK(ev[0].kind == EventKind::kConnectionLost);
	CHECK(ev[1].kind == EventKind::kConnectionRestored);
}

TEST_CASE("DomainState: names and which states may still write")
{
	CHECK(to_string(DomainState::kShutOff) == "shut-off");
	CHECK(to_string(DomainState::kMissing) == "missing");
	CHECK(may_write(DomainState::kRunning));
	CHECK(may_write(DomainState::kPaused));
	CHECK(may_write(DomainState::kShuttingDown));
	CHECK(may_write(DomainState::kUnknown));
	CHECK_FALSE(may_write(DomainState::kShutOff));
	CHECK_FALSE(may_write(DomainState::kCrashed));
	CHECK_FALSE(may_write(DomainState::kMissing));
}
