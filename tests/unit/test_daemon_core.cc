// SPDX-License-Identifier: GPL-2.0
// dtrbdd's core wiring with fakes: a simulated kernel, a fake hypervisor, a
// fake connector and witness, and a fake clock. The decisions are the
// arbiter's (tested on their own); these tests check that the core feeds it
// what happened and carries its actions out, in order, on the right
// device and domain — and that a restarted daemon adopts what runs.
#include <catch2/catch.hpp>

#include <algorithm>

#include "common/clock.h"
#include "config/config.h"
#include "daemon/core.h"
#include "fake_kernel.h"
#include "fake_vm.h"

using namespace dtrbd;
using namespace dtrbd::daemon;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

constexpr const char *kConfig = R"(
secret-file = "/etc/dtrbd/secret"
[witness]
address = "10.99.0.3:7790"
[hosts.p1]
address = "10.99.0.1"
[hosts.p2]
address = "10.99.0.2"
[resources.vm1]
minor = 1
port = 7701
disk = "/dev/vdb"
preferred = "p1"
failback = "auto"
domain = "vm1"
)";

config::Config load()
{
	config::LoadOptions o;
	o.read_secret = false;
	auto l = config::parse(kConfig, "/etc/dtrbd/dtrbd.conf", o);
	INFO((l.mistakes.empty() ? std::string() : l.mistakes[0].str()));
	REQUIRE(l.config);
	return *l.config;
}

// Kernel commands and hypervisor verbs in the order they happened.
std::vector<std::string> *g_order = nullptr;

// The fake kernel, plus the state changes the real module makes.
struct SimKernel : test::FakeKernel {
	Status primary(uint32_t m, bool f) override
	{
		Status st = FakeKernel::primary(m, f);
		if (st)
			devices.at(m).role = DTRBD_ROLE_PRIMARY;
		if (g_order)
			g_order->push_back(str("kernel primary ", m));
		return st;
	}
	Status secondary(uint32_t m) override
	{
		Status st = FakeKernel::secondary(m);
		if (st)
			devices.at(m).role = DTRBD_ROLE_SECONDARY;
		return st;
	}
	Status disconnect(uint32_t m) override
	{
		Status st = FakeKernel::disconnect(m);
		if (st)
			devices.at(m).conn = DTRBD_CONN_STANDALONE;
		return st;
	}
	// Only the commands that change something, in order.
	std::vector<std::string> commands() const
	{
		std::vector<std::string> out;
		for (const auto &c : calls)
			if (!c.starts_with("get "))
				out.push_back(c);
		return out;
	}
};

struct OrderedVm : test::FakeVm {
	Status start(const std::string &name) override
	{
		if (g_order)
			g_order->push_back("vm start " + name);
		return FakeVm::start(name);
	}
};

struct FakeConnector : Connector {
	std::vector<std::pair<uint64_t, std::string>> started;	// id, peer
	std::vector<std::string> cancelled;
	void start(uint64_t id, const config::Resource &, const std::string &peer) override
	{
		started.emplace_back(id, peer);
	}
	void cancel(const std::string &r) override { cancelled.push_back(r); }
};

struct FakeWitness : WitnessPort {
	struct Req {
		uint64_t id;
		arbiter::ActionKind kind;
		std::string resource, peer;
	};
	std::vector<Req> asked;
	arbiter::WitnessView v{true, std::nullopt};
	void submit(uint64_t id, arbiter::ActionKind k, const std::string &r,
		    const std::string &peer, bool) override
	{
		asked.push_back({id, k, r, peer});
	}
	arbiter::WitnessView view(const std::string &) const override { return v; }
	std::string address() const override { return "10.99.0.3:7790"; }
};

struct Rig {
	config::Config cfg = load();
	SimKernel kernel;
	OrderedVm vm;
	FakeConnector conn;
	FakeWitness witness;
	FakeClock clock;
	std::vector<std::string> log;
	std::unique_ptr<Core> core;
	std::vector<std::string> order;

	Rig() { g_order = &order; }
	~Rig() { g_order = nullptr; }

	void make(const std::string &self)
	{
		CoreDeps deps{kernel, conn, &vm, &witness, clock,
			      [this](const std::string &l) { log.push_back(l); }};
		core = std::make_unique<Core>(cfg, self, deps, arbiter::Params{});
	}

	arbiter::Time now() const
	{
		return std::chrono::duration_cast<arbiter::Time>(clock.now().time_since_epoch());
	}

	// The peer as membership reports it.
	void peer(const std::string &name, bool alive, arbiter::Role role, bool domain_running)
	{
		HostView h;
		h.alive = alive;
		h.ever_heard = true;
		h.last_heard = now();
		h.boot_id = 7;
		h.link_heard = {now()};
		arbiter::Summary s;
		s.attached = true;
		s.role = role;
		s.disk = arbiter::Disk::UpToDate;
		s.conn = alive ? arbiter::Conn::Connected : arbiter::Conn::Standalone;
		s.domain_running = domain_running;
		s.eligible = true;
		h.summaries["vm1"] = s;
		core->on_host(name, h);
	}

	// Grant every witness request asked so far (in order), once.
	size_t answered = 0;
	void witness_grants()
	{
		for (; answered < witness.asked.size(); answered++) {
			arbiter::ActionDone d;
			d.id = witness.asked[answered].id;
			d.ok = true;
			d.witness_answered = true;
			core->on_witness_done(witness.asked[answered].resource, d);
		}
	}

	// Let simulated time pass in steps, delivering ticks when due.
	void run_for(std::chrono::milliseconds total, bool grant = true)
	{
		for (auto t = 0ms; t < total; t += 50ms) {
			clock.advance(50ms);
			core->tick();
			if (grant)
				witness_grants();
		}
	}
};

DeviceStatus device(uint8_t role, uint8_t conn, uint8_t peer_role)
{
	DeviceStatus d;
	d.minor = 1;
	d.role = role;
	d.peer_role = peer_role;
	d.conn = conn;
	d.disk = DTRBD_DISK_UPTODATE;
	d.peer_disk = conn == DTRBD_CONN_CONNECTED ? DTRBD_DISK_UPTODATE : DTRBD_DISK_UNKNOWN;
	d.size_bytes = 64 << 20;
	d.sync = DTRBD_SYNC_NONE;
	return d;
}

size_t index_of(const std::vector<std::string> &v, const std::string &s)
{
	return static_cast<size_t>(std::find(v.begin(), v.end(), s) - v.begin());
}

} // namespace

TEST_CASE("daemon core: a restarted daemon adopts a running Primary and its domain", "[daemon]")
{
	Rig rig;
	rig.kernel.devices[1] = device(DTRBD_ROLE_PRIMARY, DTRBD_CONN_CONNECTED, DTRBD_ROLE_SECONDARY);
	rig.vm.add("vm1", vm::DomainState::kRunning, {"/dev/dtrbd1"});
	rig.make("p1");
	rig.core->start();
	rig.peer("p2", true, arbiter::Role::Secondary, false);
	rig.run_for(5s);
	// Nothing was stopped, restarted, demoted or reconnected.
	CHECK(rig.kernel.commands().empty());
	CHECK(std::count(rig.vm.calls.begin(), rig.vm.calls.end(), "start vm1") == 0);
	CHECK(std::count(rig.vm.calls.begin(), rig.vm.calls.end(), "destroy vm1") == 0);
	CHECK(std::count(rig.vm.calls.begin(), rig.vm.calls.end(), "shutdown vm1") == 0);
	CHECK(rig.conn.started.empty());

	json c = rig.core->cluster();
	CHECK(c["host"] == "p1");
	REQUIRE(c["resources"].size() == 1);
	const json &r = c["resources"][0];
	CHECK(r["name"] == "vm1");
	CHECK(r["minor"] == 1);
	CHECK(r["primary"] == "p1");
	CHECK(r["role"] == "primary");
	CHECK(r["disk"] == "uptodate");
	CHECK(r["connection"] == "connected");
	CHECK(r["frozen"] == false);
	CHECK(r["sync"].is_null());
	CHECK(r["vm"] == json{{"domain", "vm1"}, {"state", "running"}, {"host", "p1"}});
	CHECK(r["blocked"].is_null());
	CHECK(c["witness"] == json{{"address", "10.99.0.3:7790"}, {"reachable", true}});
	REQUIRE(c["hosts"].size() == 2);
	CHECK(c["hosts"][1]["name"] == "p2");
	CHECK(c["hosts"][1]["alive"] == true);
	CHECK(c["hosts"][1]["links"][0]["address"] == "10.99.0.2");
	CHECK(c["hosts"][1]["links"][0]["last_heard_ms"].is_number());
}

TEST_CASE("daemon core: the peer dies -> witness, promotion, then the domain starts", "[daemon]")
{
	Rig rig;
	rig.kernel.devices[1] = device(DTRBD_ROLE_SECONDARY, DTRBD_CONN_CONNECTED, DTRBD_ROLE_PRIMARY);
	rig.vm.add("vm1", vm::DomainState::kShutOff, {"/dev/dtrbd1"});
	rig.make("p2");
	rig.core->start();
	rig.peer("p1", true, arbiter::Role::Primary, true);
	rig.run_for(2s);
	REQUIRE(rig.kernel.commands().empty());

	// p1 loses power: the kernel reports the connection lost, membership
	// the peer dead.
	rig.kernel.devices[1] = device(DTRBD_ROLE_SECONDARY, DTRBD_CONN_STANDALONE, DTRBD_ROLE_UNKNOWN);
	Event ev;
	ev.dev = rig.kernel.devices[1];
	ev.event = DTRBD_EV_DISCONNECTED;
	rig.core->on_kernel_event(ev);
	rig.peer("p1", false, arbiter::Role::Primary, true);
	rig.run_for(15s);

	auto cmds = rig.kernel.commands();
	INFO("kernel: " << json(cmds).dump() << " vm: " << json(rig.vm.calls).dump());
	size_t promote = index_of(cmds, "primary 1");
	REQUIRE(promote < cmds.size());
	auto start = std::find(rig.vm.calls.begin(), rig.vm.calls.end(), "start vm1");
	REQUIRE(start != rig.vm.calls.end());
	CHECK(rig.vm.domains["vm1"].state == vm::DomainState::kRunning);
	// The witness was asked before the promotion: claim first.
	REQUIRE(!rig.witness.asked.empty());
	CHECK(rig.witness.asked[0].kind == arbiter::ActionKind::WitnessClaim);
	CHECK(rig.kernel.devices[1].role == DTRBD_ROLE_PRIMARY);
	// The domain starts only after the device was promoted here.
	CHECK(rig.order == std::vector<std::string>{"kernel primary 1", "vm start vm1"});

	json r = rig.core->cluster()["resources"][0];
	CHECK(r["primary"] == "p2");
	CHECK(r["vm"]["host"] == "p2");
	CHECK(rig.core->cluster()["hosts"][0]["alive"] == false);
}

TEST_CASE("daemon core: without the witness the survivor does not promote and says why",
	  "[daemon]")
{
	Rig rig;
	rig.witness.v.reachable = false;
	rig.kernel.devices[1] = device(DTRBD_ROLE_SECONDARY, DTRBD_CONN_CONNECTED, DTRBD_ROLE_PRIMARY);
	rig.vm.add("vm1", vm::DomainState::kShutOff, {"/dev/dtrbd1"});
	rig.make("p2");
	rig.core->start();
	rig.peer("p1", true, arbiter::Role::Primary, true);
	rig.run_for(1s, false);
	rig.kernel.devices[1] = device(DTRBD_ROLE_SECONDARY, DTRBD_CONN_STANDALONE, DTRBD_ROLE_UNKNOWN);
	Event ev;
	ev.dev = rig.kernel.devices[1];
	rig.core->on_kernel_event(ev);
	rig.peer("p1", false, arbiter::Role::Primary, true);
	// The witness never answers: every request fails as unreachable.
	for (int i = 0; i < 200; i++) {
		rig.clock.advance(50ms);
		rig.core->tick();
		for (; rig.answered < rig.witness.asked.size(); rig.answered++) {
			arbiter::ActionDone d;
			d.id = rig.witness.asked[rig.answered].id;
			d.message = "the witness 10.99.0.3:7790 did not answer";
			rig.core->on_witness_done("vm1", d);
		}
	}
	CHECK(index_of(rig.kernel.commands(), "primary 1") == rig.kernel.commands().size());
	CHECK(std::count(rig.vm.calls.begin(), rig.vm.calls.end(), "start vm1") == 0);
	json r = rig.core->cluster()["resources"][0];
	REQUIRE(r["blocked"].is_string());
	CHECK(r["blocked"].get<std::string>().find("witness") != std::string::npos);
}

TEST_CASE("daemon core: control requests, bad input is one sentence and changes nothing",
	  "[daemon]")
{
	Rig rig;
	rig.kernel.devices[1] = device(DTRBD_ROLE_PRIMARY, DTRBD_CONN_CONNECTED, DTRBD_ROLE_SECONDARY);
	rig.vm.add("vm1", vm::DomainState::kRunning, {"/dev/dtrbd1"});
	rig.make("p1");
	rig.core->start();
	rig.peer("p2", true, arbiter::Role::Secondary, false);
	rig.run_for(1s);
	size_t before = rig.kernel.commands().size();

	CHECK(rig.core->handle({{"cmd", "up"}, {"resource", "vm9"}}) ==
	      json{{"ok", false}, {"error", "unknown resource 'vm9'; p1 has vm1"}});
	CHECK(rig.core->handle({{"cmd", "migrate"}, {"resource", "vm1"}, {"host", "p7"}}) ==
	      json{{"ok", false},
		   {"error", "not migrating vm1: p7 is not one of its hosts (p1, p2)"}});
	CHECK(rig.core->handle({{"cmd", "reboot"}}) ==
	      json{{"ok", false}, {"error", "unknown request 'reboot'; dtrbdd knows cluster, "
					    "up, down, fail-back and migrate"}});
	CHECK(rig.core->handle({{"cmd", "fail-back"}})["ok"] == false);
	CHECK(rig.kernel.commands().size() == before);

	json c = rig.core->handle({{"cmd", "cluster"}});
	CHECK(c["ok"] == true);
	CHECK(c["cluster"] == rig.core->cluster());
	// The keys issue 7 lists, exactly.
	for (const char *k : {"host", "hosts", "witness", "resources"})
		CHECK(c["cluster"].contains(k));
	for (const char *k : {"name", "minor", "primary", "role", "disk", "peer_disk",
			      "connection", "frozen", "sync", "vm", "blocked"})
		CHECK(c["cluster"]["resources"][0].contains(k));
}
