// SPDX-License-Identifier: GPL-2.0
// The VM worker (ctl/vm/vm_worker.h): verbs on threads of their own, one
// driver per lane, results through an eventfd; a destroy is not held up by
// a start that hangs.
#include <catch2/catch.hpp>

#include <poll.h>

#include <atomic>
#include <future>

#include "fake_vm.h"
#include "vm/vm_worker.h"

using namespace dtrbd;
using namespace std::chrono_literals;

namespace {

// A driver whose start() blocks until the test releases it (libvirt
// starting a domain under load), counting how far it got.
struct SlowStartVm : test::FakeVm {
	std::shared_future<void> release;
	std::atomic<int> *entered = nullptr;
	Status start(const std::string &name) override
	{
		if (entered)
			++*entered;
		release.wait();
		return FakeVm::start(name);
	}
};

std::vector<vm::VmResult> wait_results(vm::VmWorker &w, size_t n)
{
	std::vector<vm::VmResult> out;
	auto until = std::chrono::steady_clock::now() + 10s;
	while (out.size() < n && std::chrono::steady_clock::now() < until) {
		struct pollfd p = {w.result_fd(), POLLIN, 0};
		if (::poll(&p, 1, 100) > 0)
			for (auto &r : w.take_results())
				out.push_back(std::move(r));
	}
	return out;
}

vm::VmRequest req(uint64_t id, vm::VmOp op)
{
	vm::VmRequest r;
	r.id = id;
	r.resource = "vm1";
	r.op = op;
	r.domain = "vm1";
	r.host = "p1";
	return r;
}

} // namespace

TEST_CASE("vm worker: while one domain's start hangs, its destroy and another domain's start complete",
	  "[vm]")
{
	std::promise<void> go;
	std::shared_future<void> release = go.get_future().share();
	std::atomic<int> entered{0};
	std::vector<test::FakeVm *> drivers;
	bool slow = true;	// the first lane's driver hangs in start()
	auto w = vm::VmWorker::create([&]() -> Result<std::unique_ptr<vm::VmDriver>> {
		std::unique_ptr<test::FakeVm> d;
		if (slow) {
			auto s = std::make_unique<SlowStartVm>();
			s->release = release;
			s->entered = &entered;
			d = std::move(s);
			slow = false;
		} else {
			d = std::make_unique<test::FakeVm>();
		}
		d->add("vm1", vm::DomainState::kShutOff, {"/dev/dtrbd1"});
		d->add("vm2", vm::DomainState::kShutOff, {"/dev/dtrbd2"});
		drivers.push_back(d.get());
		return std::unique_ptr<vm::VmDriver>(std::move(d));
	});
	REQUIRE(w.ok());
	CHECK((*w)->lanes() == 0);	// made when first needed

	(*w)->submit(req(1, vm::VmOp::kStart));			// vm1: hangs
	for (int i = 0; i < 500 && entered == 0; i++)
		std::this_thread::sleep_for(10ms);
	REQUIRE(entered == 1);
	auto other = req(2, vm::VmOp::kStart);
	other.resource = other.domain = "vm2";
	(*w)->submit(other);
	(*w)->submit(req(3, vm::VmOp::kDestroy));		// vm1's destroy lane
	auto first = wait_results(**w, 2);
	REQUIRE(first.size() == 2);
	std::sort(first.begin(), first.end(), [](const auto &x, const auto &y) { return x.id < y.id; });
	CHECK(first[0].id == 2);
	CHECK(first[0].resource == "vm2");
	CHECK(first[0].status.ok());
	CHECK(first[1].id == 3);
	CHECK(first[1].op == vm::VmOp::kDestroy);
	CHECK(first[1].status.ok());
	CHECK((*w)->lanes() == 3);
	go.set_value();
	auto second = wait_results(**w, 1);
	REQUIRE(second.size() == 1);
	CHECK(second[0].id == 1);
	CHECK(second[0].resource == "vm1");
	CHECK(second[0].status.ok());
	// Each lane used its own driver (read before the worker, which owns
	// them, goes; every result was posted after its call).
	REQUIRE(drivers.size() == 3);
	CHECK(drivers[0]->calls == std::vector<std::string>{"start vm1"});
	CHECK(drivers[1]->calls == std::vector<std::string>{"start vm2"});
	CHECK(drivers[2]->calls == std::vector<std::string>{"destroy vm1"});
	w->reset();
}

TEST_CASE("vm worker: requests of one lane run in order; a failure is the driver's sentence", "[vm]")
{
	std::vector<test::FakeVm *> drivers;
	auto w = vm::VmWorker::create([&]() -> Result<std::unique_ptr<vm::VmDriver>> {
		auto d = std::make_unique<test::FakeVm>();
		d->add("vm1", vm::DomainState::kShutOff, {"/dev/dtrbd1"});
		drivers.push_back(d.get());
		return std::unique_ptr<vm::VmDriver>(std::move(d));
	});
	REQUIRE(w.ok());
	(*w)->submit(req(1, vm::VmOp::kStart));
	(*w)->submit(req(2, vm::VmOp::kShutdown));
	auto bad = req(3, vm::VmOp::kStart);
	bad.domain = "nosuch";
	(*w)->submit(bad);
	auto rs = wait_results(**w, 3);
	REQUIRE(rs.size() == 3);
	CHECK(rs[0].id == 1);
	CHECK(rs[1].id == 2);
	CHECK(rs[2].id == 3);
	CHECK(rs[0].status.ok());
	CHECK(rs[1].status.ok());
	REQUIRE_FALSE(rs[2].status.ok());
	CHECK(rs[2].status.message().find("nosuch") != std::string::npos);
	CHECK(drivers[0]->calls == std::vector<std::string>{"start vm1", "shutdown vm1", "start nosuch"});
	w->reset();
}

TEST_CASE("vm worker: define without domain-xml checks the domain exists, and says what to do", "[vm]")
{
	test::FakeVm d;
	auto r = req(1, vm::VmOp::kDefine);
	Status st = vm::perform(d, r);
	REQUIRE_FALSE(st.ok());
	CHECK(st.message() == "domain vm1 is not defined on p1 and vm1 has no domain-xml to define it from");
	d.add("vm1", vm::DomainState::kShutOff, {"/dev/dtrbd1"});
	CHECK(vm::perform(d, r).ok());
}

TEST_CASE("vm worker: a lane that cannot get a driver fails the request with the driver's reason", "[vm]")
{
	int n = 0;
	auto w = vm::VmWorker::create([&]() -> Result<std::unique_ptr<vm::VmDriver>> {
		if (n++ == 0)
			return Status::error("cannot create an eventfd for libvirt events: too many open files");
		auto d = std::make_unique<test::FakeVm>();
		d->add("vm1", vm::DomainState::kShutOff, {"/dev/dtrbd1"});
		return std::unique_ptr<vm::VmDriver>(std::move(d));
	});
	REQUIRE(w.ok());
	(*w)->submit(req(7, vm::VmOp::kStart));
	auto rs = wait_results(**w, 1);
	REQUIRE(rs.size() == 1);
	CHECK(rs[0].id == 7);
	CHECK(rs[0].status.message() ==
	      "cannot start domain vm1: cannot create an eventfd for libvirt events: too many open files");
	CHECK((*w)->lanes() == 0);
	// The next request tries again.
	(*w)->submit(req(8, vm::VmOp::kStart));
	rs = wait_results(**w, 1);
	REQUIRE(rs.size() == 1);
	CHECK(rs[0].status.ok());
}

TEST_CASE("vm worker: stopping drops queued requests and waits for the running one", "[vm]")
{
	std::promise<void> go;
	std::shared_future<void> release = go.get_future().share();
	std::atomic<int> entered{0};
	std::vector<SlowStartVm *> drivers;
	auto w = vm::VmWorker::create([&]() -> Result<std::unique_ptr<vm::VmDriver>> {
		auto d = std::make_unique<SlowStartVm>();
		d->release = release;
		d->entered = &entered;
		d->add("vm1", vm::DomainState::kShutOff, {"/dev/dtrbd1"});
		drivers.push_back(d.get());
		return std::unique_ptr<vm::VmDriver>(std::move(d));
	});
	REQUIRE(w.ok());
	(*w)->submit(req(1, vm::VmOp::kStart));
	(*w)->submit(req(2, vm::VmOp::kStart));
	for (int i = 0; i < 100 && entered == 0; i++)
		std::this_thread::sleep_for(10ms);
	REQUIRE(entered == 1);
	auto stopper = std::async(std::launch::async, [&] { w->reset(); });
	CHECK(stopper.wait_for(200ms) == std::future_status::timeout);	// waits for the start
	go.set_value();
	CHECK(stopper.wait_for(10s) == std::future_status::ready);
	CHECK(entered == 1);	// the queued second start never ran
}
