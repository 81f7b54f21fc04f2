// SPDX-License-Identifier: GPL-2.0
// LibvirtDriver against libvirt's test driver (test:///default: in-process,
// no daemon). It emits lifecycle events through the event loop, so these
// tests also cover the event thread and the eventfd hand-off.
#include <libvirt/libvirt.h>
#include <poll.h>

#include <fstream>

#include <catch2/catch.hpp>

#include "tmpdir.h"
#include "vm/libvirt_driver.h"

using namespace dtrbd;
using namespace dtrbd::vm;

namespace {

std::string write_xml(const test::TmpDir &dir, const std::string &name, const std::string &dev)
{
	std::string path = dir.path() + "/" + name + ".xml";
	std::ofstream(path) << "<domain type='kvm'>\n  <name>" << name
			    << "</name>\n  <memory unit='MiB'>96</memory>\n"
			       "  <os><type arch='x86_64' machine='pc'>hvm</type>"
			       "<kernel>/boot/vmlinuz</kernel><cmdline>console=ttyS0</cmdline></os>\n"
			       "  <devices>\n    <disk type='block' device='disk'><source dev='"
			    << dev << "'/><target dev='vda' bus='virtio'/></disk>\n"
				      "    <serial type='file'><source path='/tmp/" << name
			    << ".log'/></serial>\n    <memballoon model='none'/>\n  </devices>\n</domain>\n";
	return path;
}

// Collects events until @want of kind @k about @dom arrived (or 5 s passed).
std::vector<VmEvent> wait_for(VmDriver &d, const std::string &dom, EventKind k,
			      std::vector<VmEvent> &seen)
{
	for (int i = 0; i < 50; i++) {
		for (const auto &e : seen)
			if (e.domain == dom && e.kind == k)
				return seen;
		struct pollfd p = {d.event_fd(), POLLIN, 0};
		if (::poll(&p, 1, 100) == 1)
			for (auto &e : d.take_events())
				seen.push_back(std::move(e));
	}
	return seen;
}

bool has(const std::vector<VmEvent> &ev, const std::string &dom, EventKind k,
	 const std::string &detail = "")
{
	for (const auto &e : ev)
		if (e.domain == dom && e.kind == k && (detail.empty() || e.detail == detail))
			return true;
	return false;
}

std::unique_ptr<LibvirtDriver> open_test()
{
	auto d = LibvirtDriver::create("test:///default");
	REQUIRE(d.ok());
	REQUIRE((*d)->connect().ok());
	return std::move(*d);
}

} // namespace

TEST_CASE("libvirt: define from XML when missing, then start, shut down, destroy")
{
	test::TmpDir dir;
	auto drv = open_test();
	const std::string name = "dtrbd-ut-life";
	std::string xml = write_xml(dir, name, "/dev/dtrbd1");

	CHECK(drv->state(name)->state == DomainState::kMissing);
	auto def = drv->ensure_defined(name, xml, "/dev/dtrbd1");
	REQUIRE(def.ok());
	CHECK(*def);
	def = drv->ensure_defined(name, xml, "/dev/dtrbd1");
	REQUIRE(def.ok());
	CHECK_FALSE(*def);	// already there: not redefined

	auto st = drv->state(name);
	REQUIRE(st.ok());
	CHECK(st->state == DomainState::kShutOff);
	CHECK(st->persistent);

	REQUIRE(drv->start(name).ok());
	CHECK(drv->state(name)->state == DomainState::kRunning);
	CHECK(drv->state(name)->reason == "booted");
	REQUIRE(drv->start(name).ok());		// idempotent

	auto all = drv->list();
	REQUIRE(all.ok());
	bool listed = false;
	for (const auto &i : *all)
		listed |= i.name == name && i.state == DomainState::kRunning;
	CHECK(listed);

	REQUIRE(drv->shutdown(name).ok());	// the test driver powers off at once
	st = drv->state(name);
	CHECK(st->state == DomainState::kShutOff);
	CHECK(st->reason == "shutdown");
	REQUIRE(drv->shutdown(name).ok());	// idempotent

	REQUIRE(drv->start(name).ok());
	REQUIRE(drv->destroy(name).ok());
	st = drv->state(name);
	CHECK(st->state == DomainState::kShutOff);
	CHECK(st->reason == "destroyed");
	REQUIRE(drv->destroy(name).ok());	// idempotent

	std::vector<VmEvent> seen;
	wait_for(*drv, name, EventKind::kDefined, seen);
	wait_for(*drv, name, EventKind::kStarted, seen);
	wait_for(*drv, name, EventKind::kStopped, seen);
	// All five arrive in order; wait until the destroy's is there too.
	for (int i = 0; i < 50 && !has(seen, name, EventKind::kStopped, "destroyed"); i++) {
		struct pollfd p = {drv->event_fd(), POLLIN, 0};
		if (::poll(&p, 1, 100) == 1)
			for (auto &e : drv->take_events())
				seen.push_back(std::move(e));
	}
	CHECK(has(seen, name, EventKind::kDefined, "added"));
	CHECK(has(seen, name, EventKind::kStarted, "booted"));
	CHECK(has(seen, name, EventKind::kStopped, "shutdown"));
	CHECK(has(seen, name, EventKind::kStopped, "destroyed"));
}

TEST_CASE("libvirt: an XML with the wrong name or disk is refused and nothing is defined")
{
	test::TmpDir dir;
	auto drv = open_test();
	std::string xml = write_xml(dir, "dtrbd-ut-bad", "/dev/vdb");

	auto def = drv->ensure_defined("dtrbd-ut-bad", xml, "/dev/dtrbd1");
	REQUIRE_FALSE(def.ok());
	CHECK_THAT(def.status().message(),
		   Catch::Contains("no <disk type='block'> on /dev/dtrbd1 (its block disks: /dev/vdb)"));
	def = drv->ensure_defined("dtrbd-ut-other", xml, "/dev/vdb");
	REQUIRE_FALSE(def.ok());
	CHECK_THAT(def.status().message(), Catch::Contains("defines the domain 'dtrbd-ut-bad', not 'dtrbd-ut-other'"));
	CHECK(drv->state("dtrbd-ut-bad")->state == DomainState::kMissing);
	CHECK(drv->state("dtrbd-ut-other")->state == DomainState::kMissing);

	def = drv->ensure_defined("dtrbd-ut-bad", dir.path() + "/nope.xml", "/dev/vdb");
	REQUIRE_FALSE(def.ok());
	CHECK_THAT(def.status().message(), Catch::Contains("nope.xml: no such file or directory"));
}

TEST_CASE("libvirt: an already defined domain whose disk bypasses replication is refused")
{
	test::TmpDir dir;
	auto drv = open_test();
	std::string xml = write_xml(dir, "dtrbd-ut-direct", "/dev/vdb");
	REQUIRE(*drv->ensure_defined("dtrbd-ut-direct", xml, "/dev/vdb"));
	auto def = drv->ensure_defined("dtrbd-ut-direct", xml, "/dev/dtrbd3");
	REQUIRE_FALSE(def.ok());
	CHECK_THAT(def.status().message(), Catch::Contains("the defined domain 'dtrbd-ut-direct' gives"));
	CHECK_THAT(def.status().message(), Catch::Contains("(virsh edit dtrbd-ut-direct)"));
}

TEST_CASE("libvirt: verbs on a missing domain name it; libvirt's own errors come through")
{
	auto drv = open_test();
	Status s = drv->start("dtrbd-ut-none");
	REQUIRE_FALSE(s.ok());
	CHECK_THAT(s.message(), Catch::StartsWith("no domain 'dtrbd-ut-none' is defined on test:///default"));
	CHECK_FALSE(drv->shutdown("dtrbd-ut-none").ok());
	CHECK_FALSE(drv->destroy("dtrbd-ut-none").ok());

	// The test driver's predefined domain "test" runs; suspend it through
	// libvirt directly and see start refuse a paused domain.
	virConnectPtr c = virConnectOpen("test:///default");
	REQUIRE(c);
	virDomainPtr d = virDomainLookupByName(c, "test");
	REQUIRE(d);
	REQUIRE(virDomainSuspend(d) == 0);
	CHECK(drv->state("test")->state == DomainState::kPaused);
	s = drv->start("test");
	REQUIRE_FALSE(s.ok());
	CHECK_THAT(s.message(), Catch::Contains("is paused, not shut off"));
	REQUIRE(drv->destroy("test").ok());
	CHECK(drv->state("test")->state == DomainState::kShutOff);
	virDomainFree(d);
	virConnectClose(c);
}

TEST_CASE("libvirt: a connection that cannot be made is a Status with libvirt's message")
{
	auto d = LibvirtDriver::create("qemu+unix:///system?socket=/nonexistent/dtrbd-no.sock");
	REQUIRE(d.ok());	// connecting is lazy
	Status s = (*d)->connect();
	REQUIRE_FALSE(s.ok());
	CHECK_THAT(s.message(), Catch::StartsWith("cannot connect to libvirt at qemu+unix:///system?socket=/nonexistent/dtrbd-no.sock: "));
	CHECK(s.message().size() > std::string("cannot connect to libvirt at qemu+unix:///system?socket=/nonexistent/dtrbd-no.sock: ").size());
	CHECK_FALSE((*d)->connected());
	auto st = (*d)->state("x");
	REQUIRE_FALSE(st.ok());
	CHECK_THAT(st.status().message(), Catch::StartsWith("cannot connect to libvirt"));
}
