// SPDX-License-Identifier: GPL-2.0
// dtrbdd's core wiring with fakes: a simulated kernel, a fake hypervisor, a
// fake connector and witness, and a fake clock. The decisions are the
// arbiter's (tested on their own); these tests check that the core feeds it
// what happened and carries its actions out, in order, on the right
// device and domain — and that a restarted daemon adopts what runs.
#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <set>

#include "common/clock.h"
#include "config/config.h"
#include "daemon/core.h"
#include "fake_kernel.h"
#include "fake_vm.h"
#include "witness/glue.h"
#include "witness/state.h"

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

config::Config load(const std::string &text = kConfig)
{
	config::LoadOptions o;
	o.read_secret = false;
	auto l = config::parse(text, "/etc/dtrbd/dtrbd.conf", o);
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
		if (st && !primary_noop)
			devices.at(m).role = DTRBD_ROLE_PRIMARY;
		if (g_order)
			g_order->push_back(str("kernel primary ", m));
		return st;
	}
	// true: primary() succeeds but changes nothing (a broken kernel, for
	// the loop guard).
	bool primary_noop = false;
	Status secondary(uint32_t m) override
	{
		Status st = FakeKernel::secondary(m);
		if (st) {
			devices.at(m).role = DTRBD_ROLE_SECONDARY;
			devices.at(m).io_failed = 0;
		}
		if (g_order)
			g_order->push_back(str("kernel secondary ", m));
		return st;
	}
	Status resume_io(uint32_t m) override
	{
		Status st = FakeKernel::resume_io(m);
		if (st)
			devices.at(m).frozen = 0;
		if (g_order)
			g_order->push_back(str("kernel resume-io ", m));
		return st;
	}
	Status fail_io(uint32_t m) override
	{
		Status st = FakeKernel::fail_io(m);
		if (st) {
			devices.at(m).frozen = 0;
			devices.at(m).io_failed = 1;
		}
		if (g_order)
			g_order->push_back(str("kernel fail-io ", m));
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
	Status destroy(const std::string &name) override
	{
		if (g_order)
			g_order->push_back("vm destroy " + name);
		return FakeVm::destroy(name);
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

// The witness as the core sees it, answering with the real WitnessState
// (ctl/witness/state.h), so grants carry records exactly as the real
// witness's do. Requests are answered when the test says so.
struct FakeWitness : WitnessPort {
	struct Req {
		uint64_t id;
		arbiter::ActionKind kind;
		std::string resource, peer;
		bool in_sync;
	};
	const Clock &clock;
	witness::WitnessState state;
	std::string self;		// the host whose daemon asks
	bool reachable = true;
	// Misbehaviour for the loop-guard test: grant without a record.
	bool grant_without_record = false;
	std::vector<Req> asked;

	explicit FakeWitness(const Clock &c)
		: clock(c), state(std::chrono::milliseconds(2000), c.now() - std::chrono::hours(1))
	{
	}
	void submit(uint64_t id, arbiter::ActionKind k, const std::string &r,
		    const std::string &peer, bool in_sync) override
	{
		asked.push_back({id, k, r, peer, in_sync});
	}
	arbiter::WitnessView view(const std::string &res) const override
	{
		arbiter::WitnessView v;
		v.reachable = reachable;
		v.record_known = reachable;	// keep-alives ask about every resource
		if (const witness::Record *r = state.record(res))
			v.record = witness::to_arbiter(*r);
		return v;
	}
	std::string address() const override { return "10.99.0.3:7790"; }

	// The answer to one request, as WitnessLink would deliver it.
	arbiter::ActionDone answer(const Req &q)
	{
		arbiter::ActionDone d;
		d.id = q.id;
		if (!reachable) {
			d.message = "the witness 10.99.0.3:7790 did not answer";
			return d;
		}
		auto now = clock.now();
		state.heard(self, now);
		witness::Decision dec;
		switch (q.kind) {
		case arbiter::ActionKind::WitnessClaim:
			dec = state.claim(q.resource, self, q.in_sync ? q.peer : "", now);
			break;
		case arbiter::ActionKind::WitnessOutdate:
			dec = state.outdate(q.resource, self, now);
			break;
		case arbiter::ActionKind::WitnessRelease:
			dec = state.release(q.resource, self, now);
			break;
		default:
			dec = state.uptodate(q.resource, self, q.peer, now);
			break;
		}
		d.ok = dec.granted;
		d.witness_answered = true;
		d.message = dec.reason;
		if (dec.record && !grant_without_record)
			d.record = witness::to_arbiter(*dec.record);
		return d;
	}
};

struct Rig {
	config::Config cfg = load();
	SimKernel kernel;
	OrderedVm vm;
	FakeConnector conn;
	FakeClock clock;
	FakeWitness witness{clock};
	std::vector<std::string> log;
	std::unique_ptr<Core> core;
	std::vector<std::string> order;

	Rig() { g_order = &order; }
	~Rig() { g_order = nullptr; }

	// @exec: the VM verbs go there (as in dtrbdd) instead of running on
	// the fake hypervisor at once.
	void make(const std::string &self, vm::VmExecutor *exec = nullptr)
	{
		witness.self = self;
		CoreDeps deps{kernel, conn, &vm, &witness, clock,
			      [this](const std::string &l) { log.push_back(l); }, exec};
		core = std::make_unique<Core>(cfg, self, deps, params_of(cfg));
	}

	arbiter::Time now() const
	{
		return std::chrono::duration_cast<arbiter::Time>(clock.now().time_since_epoch());
	}

	// The peer as membership reports it.
	void peer(const std::string &name, bool alive, arbiter::Role role, bool domain_running,
		  uint64_t boot_id = 7)
	{
		HostView h;
		h.alive = alive;
		h.ever_heard = true;
		h.last_heard = now();
		h.boot_id = boot_id;
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

	// Answer every witness request asked so far, in order. A request
	// answered leads to at most a few more at the same instant; more than
	// kMaxAnswers at one instant is a decision loop: fail instead of
	// feeding it until memory runs out.
	static constexpr size_t kMaxAnswers = 1000;
	size_t answered = 0;
	void witness_answers()
	{
		size_t n = 0;
		for (; answered < witness.asked.size(); answered++) {
			if (++n > kMaxAnswers)
				FAIL("the witness was asked more than " << kMaxAnswers
				     << " times at one instant: a decision loop; last: "
				     << arbiter::to_string(witness.asked.back().kind));
			FakeWitness::Req q = witness.asked[answered];
			core->on_witness_done(q.resource, witness.answer(q));
		}
	}

	// Hosts (other than this one) whose keep-alives reach the witness.
	std::vector<std::string> heard_by_witness;

	// The witness's record of vm1 as a connected, in-sync pair with
	// @holder Primary creates it (first contact).
	void witness_record(const std::string &holder, const std::string &other)
	{
		auto d = witness.state.claim("vm1", holder, other, clock.now());
		REQUIRE(d.granted);
	}

	// Let simulated time pass in steps, delivering ticks when due.
	void run_for(std::chrono::milliseconds total, bool answer = true)
	{
		for (auto t = 0ms; t < total; t += 50ms) {
			clock.advance(50ms);
			for (const auto &h : heard_by_witness)
				witness.state.heard(h, clock.now());
			core->tick();
			if (answer)
				witness_answers();
		}
	}

	// p1 (Primary, running vm1) loses power, seen from a Secondary p2:
	// the kernel reports the connection lost, membership and the witness
	// stop hearing p1.
	void primary_p1_lost();

	// p2 runs vm1 (Primary, connected) and hands it back to p1, the
	// preferred host, which is back Secondary and UpToDate: p2 shuts vm1
	// down, the guest powers off, and the domain's stop is reported while
	// the device still counts QEMU's opener (so p2 cannot demote yet).
	void handover_domain_stopped();

	size_t count(const std::vector<std::string> &v, const std::string &s) const
	{
		return static_cast<size_t>(std::count(v.begin(), v.end(), s));
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

void Rig::primary_p1_lost()
{
	kernel.devices[1] = device(DTRBD_ROLE_SECONDARY, DTRBD_CONN_STANDALONE, DTRBD_ROLE_UNKNOWN);
	Event ev;
	ev.dev = kernel.devices[1];
	ev.event = DTRBD_EV_DISCONNECTED;
	core->on_kernel_event(ev);
	peer("p1", false, arbiter::Role::Primary, true);
	heard_by_witness.clear();
}

void Rig::handover_domain_stopped()
{
	kernel.devices[1] = device(DTRBD_ROLE_PRIMARY, DTRBD_CONN_CONNECTED, DTRBD_ROLE_SECONDARY);
	kernel.devices[1].open_count = 1;
	vm.add("vm1", vm::DomainState::kRunning, {"/dev/dtrbd1"});
	witness_record("p2", "p1");
	heard_by_witness = {"p1"};
	make("p2");
	core->start();
	peer("p1", true, arbiter::Role::Secondary, false);
	run_for(1s);
	REQUIRE(std::count(vm.calls.begin(), vm.calls.end(), "shutdown vm1") == 1);
	REQUIRE(kernel.commands().empty());
	vm.guest_powers_off("vm1");
	core->on_vm_events(vm.take_events());
	run_for(1s);	// the retry timer (kernel_retry, 2 s) is not due yet
	REQUIRE(kernel.commands().empty());
}

} // namespace

TEST_CASE("daemon core: a restarted daemon adopts a running Primary and its domain", "[daemon]")
{
	Rig rig;
	rig.kernel.devices[1] = device(DTRBD_ROLE_PRIMARY, DTRBD_CONN_CONNECTED, DTRBD_ROLE_SECONDARY);
	rig.vm.add("vm1", vm::DomainState::kRunning, {"/dev/dtrbd1"});
	rig.witness_record("p1", "p2");
	rig.heard_by_witness = {"p2"};
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
	rig.witness_record("p1", "p2");
	rig.heard_by_witness = {"p1"};
	rig.make("p2");
	rig.core->start();
	rig.peer("p1", true, arbiter::Role::Primary, true);
	rig.run_for(2s);
	REQUIRE(rig.kernel.commands().empty());

	// p1 loses power: the kernel reports the connection lost, membership
	// the peer dead.
	rig.primary_p1_lost();
	rig.run_for(15s);

	auto cmds = rig.kernel.commands();
	INFO("kernel: " << json(cmds).dump() << " vm: " << json(rig.vm.calls).dump());
	size_t promote = index_of(cmds, "primary 1");
	REQUIRE(promote < cmds.size());
	auto start = std::find(rig.vm.calls.begin(), rig.vm.calls.end(), "start vm1");
	REQUIRE(start != rig.vm.calls.end());
	CHECK(rig.vm.domains["vm1"].state == vm::DomainState::kRunning);
	// The witness was asked before the promotion: claim first, granted
	// only after p1 was silent to it for the lease, then outdate.
	REQUIRE(!rig.witness.asked.empty());
	CHECK(rig.witness.asked[0].kind == arbiter::ActionKind::WitnessClaim);
	const witness::Record *rec = rig.witness.state.record("vm1");
	REQUIRE(rec);
	CHECK(rec->holder == "p2");
	CHECK(rec->current == std::set<std::string>{"p2"});
	CHECK(rig.core->runaways() == 0);
	CHECK(rig.kernel.devices[1].role == DTRBD_ROLE_PRIMARY);
	// The domain starts only after the device was promoted here.
	CHECK(rig.order == std::vector<std::string>{"kernel primary 1", "vm start vm1"});

	json r = rig.core->cluster()["resources"][0];
	CHECK(r["primary"] == "p2");
	CHECK(r["vm"]["host"] == "p2");
	CHECK(rig.core->cluster()["hosts"][0]["alive"] == false);

	// The failover is recorded: why, and its times on the fake clock.
	INFO("resource: " << r.dump());
	CHECK(r["failovers"] == 1);
	REQUIRE(r["last_failover"].is_object());
	CHECK(r["last_failover"]["peer"] == "p1");
	CHECK(r["last_failover"]["reason"] ==
	      "p1 dead, witness granted epoch " + std::to_string(rec->epoch));
	CHECK(r["last_failover"]["ago_ms"].get<int64_t>() <= 15000);
	CHECK(r["last_failover"]["promoted_after_ms"].get<int64_t>() > 0);
	CHECK(r["last_failover"]["domain_started_after_ms"].get<int64_t>() >=
	      r["last_failover"]["promoted_after_ms"].get<int64_t>());
	REQUIRE(r["uptime"].is_object());
	CHECK(r["uptime"]["since_daemon_start"] == false);
	auto snap = rig.core->metrics_snapshot();
	REQUIRE(snap.resources.size() == 1);
	CHECK(snap.resources[0].failovers == 1);
	CHECK(metrics::render(snap).find("\ndtrbd_failovers_total{resource=\"vm1\"} 1\n") !=
	      std::string::npos);
}

TEST_CASE("daemon core: a witness with no record gets one from the connected, in-sync pair; the Primary then holds it",
	  "[daemon]")
{
	// The lab's first failover found the witness without a record of vm1
	// 2 minutes after the pair had connected: nothing created it, so every
	// claim was refused.
	Rig rig;
	rig.kernel.devices[1] = device(DTRBD_ROLE_PRIMARY, DTRBD_CONN_CONNECTED, DTRBD_ROLE_SECONDARY);
	rig.vm.add("vm1", vm::DomainState::kRunning, {"/dev/dtrbd1"});
	rig.heard_by_witness = {"p2"};
	rig.make("p1");
	rig.core->start();
	rig.peer("p2", true, arbiter::Role::Secondary, false);
	REQUIRE(rig.witness.state.record("vm1") == nullptr);
	rig.run_for(2s);
	const witness::Record *rec = rig.witness.state.record("vm1");
	REQUIRE(rec);
	CHECK(rec->current == std::set<std::string>{"p1", "p2"});
	CHECK(rec->holder == "p1");
	REQUIRE(rig.witness.asked.size() >= 2);
	CHECK(rig.witness.asked[0].kind == arbiter::ActionKind::WitnessUptodate);
	CHECK(rig.witness.asked[0].peer == "p2");
	CHECK(rig.core->runaways() == 0);
	CHECK(rig.kernel.commands().empty());
}

TEST_CASE("daemon core: a Secondary creates the missing witness record and can fail over later",
	  "[daemon]")
{
	Rig rig;
	rig.kernel.devices[1] = device(DTRBD_ROLE_SECONDARY, DTRBD_CONN_CONNECTED, DTRBD_ROLE_PRIMARY);
	rig.vm.add("vm1", vm::DomainState::kShutOff, {"/dev/dtrbd1"});
	rig.heard_by_witness = {"p1"};
	rig.make("p2");
	rig.core->start();
	rig.peer("p1", true, arbiter::Role::Primary, true);
	rig.run_for(1s);
	REQUIRE(rig.witness.state.record("vm1"));
	// p1's daemon claims, as the other test shows it does.
	REQUIRE(rig.witness.state.claim("vm1", "p1", "", rig.clock.now()).granted);
	rig.run_for(1s);
	REQUIRE(rig.kernel.commands().empty());

	rig.primary_p1_lost();
	rig.run_for(15s);
	CHECK(rig.kernel.devices[1].role == DTRBD_ROLE_PRIMARY);
	CHECK(rig.vm.domains["vm1"].state == vm::DomainState::kRunning);
	const witness::Record *rec = rig.witness.state.record("vm1");
	REQUIRE(rec);
	CHECK(rec->holder == "p2");
	CHECK(rig.core->runaways() == 0);
}

TEST_CASE("daemon core: without the witness the survivor does not promote and says why",
	  "[daemon]")
{
	Rig rig;
	rig.witness.reachable = false;
	rig.kernel.devices[1] = device(DTRBD_ROLE_SECONDARY, DTRBD_CONN_CONNECTED, DTRBD_ROLE_PRIMARY);
	rig.vm.add("vm1", vm::DomainState::kShutOff, {"/dev/dtrbd1"});
	rig.make("p2");
	rig.core->start();
	rig.peer("p1", true, arbiter::Role::Primary, true);
	rig.run_for(1s);
	rig.kernel.devices[1] = device(DTRBD_ROLE_SECONDARY, DTRBD_CONN_STANDALONE, DTRBD_ROLE_UNKNOWN);
	Event ev;
	ev.dev = rig.kernel.devices[1];
	rig.core->on_kernel_event(ev);
	rig.peer("p1", false, arbiter::Role::Primary, true);
	// The witness never answers: every request fails as unreachable.
	rig.run_for(10s);
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
					    "up, down, fail-back, migrate and disk-appeared"}});
	CHECK(rig.core->handle({{"cmd", "disk-appeared"}})["ok"] == false);
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

TEST_CASE("daemon core: a grant without a record is re-asked at the retry pace, not in a loop",
	  "[daemon]")
{
	// The defect: the fake witness of the first version of these tests
	// granted with no record; the arbiter, reading the holder from the
	// record, claimed again at the same instant, forever (the test grew
	// to 23 GB). Now such a grant is paced like a refusal, and the rig
	// fails instead of spinning.
	Rig rig;
	rig.witness.grant_without_record = true;
	rig.kernel.devices[1] = device(DTRBD_ROLE_SECONDARY, DTRBD_CONN_STANDALONE, DTRBD_ROLE_UNKNOWN);
	rig.vm.add("vm1", vm::DomainState::kShutOff, {"/dev/dtrbd1"});
	rig.witness_record("p1", "p2");
	rig.make("p2");
	rig.core->start();
	rig.peer("p1", false, arbiter::Role::Primary, true);
	rig.run_for(5s);
	size_t claims = 0;
	for (const auto &q : rig.witness.asked)
		claims += q.kind == arbiter::ActionKind::WitnessClaim;
	INFO("claims " << claims << ", asked " << rig.witness.asked.size());
	// witness-retry is 500 ms: about ten in 5 s, never hundreds.
	CHECK(claims >= 2);
	CHECK(rig.witness.asked.size() <= 5000 / 500 + 2);
	CHECK(rig.core->runaways() == 0);
}

TEST_CASE("daemon core: the loop guard holds a resource whose actions repeat at one instant",
	  "[daemon]")
{
	// A kernel that accepts "primary" and stays Secondary: the arbiter
	// asks again as soon as the result is in. The guard stops it at
	// kMaxActionsPerInstant and says so; time passing lets it go on.
	Rig rig;
	rig.kernel.primary_noop = true;
	rig.kernel.devices[1] = device(DTRBD_ROLE_SECONDARY, DTRBD_CONN_CONNECTED, DTRBD_ROLE_SECONDARY);
	rig.vm.add("vm1", vm::DomainState::kShutOff, {"/dev/dtrbd1"});
	rig.witness_record("p1", "p2");
	rig.heard_by_witness = {"p2"};
	rig.make("p1");
	rig.core->start();
	rig.peer("p2", true, arbiter::Role::Secondary, false);
	rig.run_for(100ms);
	size_t promotes = rig.count(rig.kernel.commands(), "primary 1");
	INFO("promotes " << promotes);
	REQUIRE(rig.core->runaways() >= 1);
	CHECK(promotes <= static_cast<size_t>(Core::kMaxActionsPerInstant) + 5);
	CHECK(std::any_of(rig.log.begin(), rig.log.end(), [](const std::string &l) {
		return l.find("vm1: more than 100 actions at one instant") == 0 &&
		       l.find("decision loop") != std::string::npos;
	}));
}

TEST_CASE("daemon core: every connection is handed to the kernel with on-peer-loss freeze",
	  "[daemon]")
{
	Rig rig;
	rig.kernel.devices[1] = device(DTRBD_ROLE_SECONDARY, DTRBD_CONN_STANDALONE, DTRBD_ROLE_UNKNOWN);
	rig.kernel.devices[1].on_peer_loss = DTRBD_OPL_CONTINUE;
	rig.vm.add("vm1", vm::DomainState::kShutOff, {"/dev/dtrbd1"});
	rig.make("p1");
	rig.core->start();
	// Adopting a device that runs with 'continue' switches it to freeze.
	CHECK(rig.count(rig.kernel.calls, "set-options 1 on-peer-loss 1") == 1);
	rig.peer("p2", true, arbiter::Role::Secondary, false);
	rig.run_for(1s);
	REQUIRE(!rig.conn.started.empty());
	int sv[2];
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	UniqueFd other(sv[1]);
	Handshaken h;
	h.fd.reset(sv[0]);
	h.peer_name = "p2";
	h.peer_addr = "10.99.0.2:7701";
	rig.core->on_connected("vm1", rig.conn.started.back().first, std::move(h));
	REQUIRE(rig.kernel.connect_req);
	REQUIRE(rig.kernel.connect_req->on_peer_loss);
	CHECK(*rig.kernel.connect_req->on_peer_loss == DTRBD_OPL_FREEZE);
	CHECK(rig.kernel.connect_req->protocol == DTRBD_PROT_C);
}

TEST_CASE("daemon core: a frozen Primary resumes only after the witness outdated its silent peer",
	  "[daemon]")
{
	Rig rig;
	rig.kernel.devices[1] = device(DTRBD_ROLE_PRIMARY, DTRBD_CONN_CONNECTED, DTRBD_ROLE_SECONDARY);
	rig.vm.add("vm1", vm::DomainState::kRunning, {"/dev/dtrbd1"});
	rig.witness_record("p1", "p2");
	rig.heard_by_witness = {"p2"};
	rig.make("p1");
	rig.core->start();
	rig.peer("p2", true, arbiter::Role::Secondary, false);
	rig.run_for(1s);
	REQUIRE(rig.kernel.commands().empty());

	// p2 loses power: the kernel freezes the Primary's writes.
	rig.kernel.devices[1] = device(DTRBD_ROLE_PRIMARY, DTRBD_CONN_STANDALONE, DTRBD_ROLE_UNKNOWN);
	rig.kernel.devices[1].frozen = 1;
	Event ev;
	ev.dev = rig.kernel.devices[1];
	rig.core->on_kernel_event(ev);
	CHECK(rig.core->cluster()["resources"][0]["frozen"] == true);
	rig.peer("p2", false, arbiter::Role::Secondary, false);
	rig.heard_by_witness.clear();
	rig.run_for(3s);

	INFO("order: " << json(rig.order).dump());
	CHECK(rig.order == std::vector<std::string>{"kernel resume-io 1"});
	// The witness recorded p2 as outdated before the resume.
	const witness::Record *rec = rig.witness.state.record("vm1");
	REQUIRE(rec);
	CHECK(rec->current == std::set<std::string>{"p1"});
	bool outdated = false;
	for (const auto &q : rig.witness.asked)
		outdated |= q.kind == arbiter::ActionKind::WitnessOutdate;
	CHECK(outdated);
	CHECK(rig.kernel.devices[1].frozen == 0);
	CHECK(rig.vm.domains["vm1"].state == vm::DomainState::kRunning);
	CHECK(rig.core->cluster()["resources"][0]["frozen"] == false);
}

TEST_CASE("daemon core: isolated (no peer, no witness) stays frozen, then fails the writes, destroys "
	  "and demotes", "[daemon]")
{
	Rig rig;
	rig.kernel.devices[1] = device(DTRBD_ROLE_PRIMARY, DTRBD_CONN_CONNECTED, DTRBD_ROLE_SECONDARY);
	rig.vm.add("vm1", vm::DomainState::kRunning, {"/dev/dtrbd1"});
	rig.witness_record("p1", "p2");
	rig.make("p1");
	rig.core->start();
	rig.peer("p2", true, arbiter::Role::Secondary, false);
	rig.run_for(1s);

	rig.witness.reachable = false;
	rig.core->on_witness_view();
	rig.kernel.devices[1] = device(DTRBD_ROLE_PRIMARY, DTRBD_CONN_STANDALONE, DTRBD_ROLE_UNKNOWN);
	rig.kernel.devices[1].frozen = 1;
	Event ev;
	ev.dev = rig.kernel.devices[1];
	rig.core->on_kernel_event(ev);
	rig.peer("p2", false, arbiter::Role::Secondary, false);
	rig.run_for(500ms);
	// Within the isolation bound: frozen, nothing destroyed, and why.
	CHECK(rig.order.empty());
	json r = rig.core->cluster()["resources"][0];
	CHECK(r["frozen"] == true);
	REQUIRE(r["blocked"].is_string());
	CHECK(r["blocked"].get<std::string>().find("frozen") != std::string::npos);

	rig.run_for(3s);
	INFO("order: " << json(rig.order).dump());
	// The writes first: a domain whose writes are frozen cannot be
	// destroyed (its QEMU waits for them in exit_aio).
	CHECK(rig.order == std::vector<std::string>{"kernel fail-io 1", "vm destroy vm1",
						    "kernel secondary 1"});
	CHECK(rig.count(rig.kernel.calls, "resume-io 1") == 0);
	CHECK(rig.kernel.devices[1].role == DTRBD_ROLE_SECONDARY);
}

TEST_CASE("daemon core: a resource without a domain is brought up and promoted, no VM verbs",
	  "[daemon]")
{
	// The defect: the core fed the arbiter a domain view only for
	// resources with a domain, so a device-only resource waited forever
	// for "the first view of r1's domain" (found by daemon-basic).
	Rig rig;
	std::string text = kConfig;
	text = text.substr(0, text.find("domain = \"vm1\""));
	rig.cfg = load(text);
	REQUIRE(rig.cfg.resources.at("vm1").domain.empty());
	rig.kernel.devices[1] = device(DTRBD_ROLE_SECONDARY, DTRBD_CONN_CONNECTED, DTRBD_ROLE_SECONDARY);
	rig.make("p1");
	rig.core->start();
	rig.peer("p2", true, arbiter::Role::Secondary, false);
	rig.run_for(2s);
	INFO("log: " << json(rig.log).dump());
	CHECK(rig.count(rig.kernel.commands(), "primary 1") == 1);
	CHECK(rig.kernel.devices[1].role == DTRBD_ROLE_PRIMARY);
	CHECK(rig.vm.calls.empty());
	CHECK(rig.core->cluster()["resources"][0]["vm"].is_null());
	CHECK(rig.core->cluster()["resources"][0]["blocked"].is_null());
}

TEST_CASE("daemon core: disk-appeared (udev) attaches at once; a second one changes nothing",
	  "[daemon]")
{
	Rig rig;
	// The backing disk is missing: every attach fails until it appears.
	auto attaches = [&] {
		return std::count_if(rig.kernel.calls.begin(), rig.kernel.calls.end(),
				     [](const std::string &c) { return c.starts_with("attach "); });
	};
	auto missing = [&] { rig.kernel.refuse = Status::error("/dev/vg0/vm1 does not exist", ENOENT); };
	missing();
	rig.make("p1");
	rig.core->start();
	rig.peer("p2", true, arbiter::Role::Secondary, false);
	rig.run_for(1s);
	REQUIRE(attaches() == 1);
	missing();
	rig.run_for(1s);
	CHECK(attaches() == 1);		// the next retry is seconds away

	// The disk appears (the attach now creates the device).
	rig.kernel.devices[1] = device(DTRBD_ROLE_SECONDARY, DTRBD_CONN_STANDALONE, DTRBD_ROLE_UNKNOWN);
	CHECK(rig.core->handle({{"cmd", "disk-appeared"}, {"resource", "vm1"}}) ==
	      json{{"ok", true}, {"message", "attaching vm1's backing disk on p1 now"}});
	rig.run_for(100ms);
	CHECK(attaches() == 2);
	CHECK(std::find(rig.log.begin(), rig.log.end(),
			"vm1: its backing disk appeared: attaching now") != rig.log.end());

	// udev's second trigger: attached already, nothing happens.
	rig.run_for(1s);
	CHECK(rig.core->handle({{"cmd", "disk-appeared"}, {"resource", "vm1"}}) ==
	      json{{"ok", true}, {"message", "vm1 is attached already on p1; nothing to do"}});
	rig.run_for(10s);
	CHECK(attaches() == 2);
}

TEST_CASE("daemon core: a hand-over demotes once the stopped domain's device is closed, with no event for the close",
	  "[daemon]")
{
	// The failback lab scenario: p2 shut vm1 down to hand it back to p1,
	// libvirt reported it stopped while the device still counted its
	// opener, and the module sends no event when an opener closes: p2
	// stayed "held open by 1 opener(s)" for ever and vm1 never moved.
	// A module without the closed event behaves so still.
	Rig rig;
	rig.handover_domain_stopped();
	json r = rig.core->cluster()["resources"][0];
	REQUIRE(r["blocked"].is_string());
	CHECK(r["blocked"].get<std::string>().find("held open by 1") != std::string::npos);

	// QEMU exits and closes it: no event.
	rig.kernel.devices[1].open_count = 0;
	rig.run_for(5s);
	INFO("kernel: " << json(rig.kernel.commands()).dump());
	CHECK(rig.count(rig.kernel.commands(), "secondary 1") == 1);
	CHECK(rig.kernel.devices[1].role == DTRBD_ROLE_SECONDARY);
	CHECK(rig.core->cluster()["resources"][0]["blocked"].is_null());
	CHECK(rig.core->runaways() == 0);
}

TEST_CASE("daemon core: the module's closed event lets a hand-over demote at once, not at the retry timer",
	  "[daemon]")
{
	Rig rig;
	rig.handover_domain_stopped();
	rig.kernel.devices[1].open_count = 0;
	Event ev;
	ev.dev = rig.kernel.devices[1];
	ev.event = DTRBD_EV_CLOSED;
	rig.core->on_kernel_event(ev);
	rig.run_for(100ms);
	INFO("kernel: " << json(rig.kernel.commands()).dump());
	CHECK(rig.count(rig.kernel.commands(), "secondary 1") == 1);
	CHECK(rig.kernel.devices[1].role == DTRBD_ROLE_SECONDARY);
}

namespace {

// The VM verbs as dtrbdd runs them: off the core's thread. Requests wait
// here until the test completes them, as a slow libvirt would.
struct HeldExecutor : vm::VmExecutor {
	std::vector<vm::VmRequest> submitted;
	size_t done = 0;	// submitted[0, done) were completed
	void submit(vm::VmRequest r) override { submitted.push_back(std::move(r)); }
	size_t count(vm::VmOp op) const
	{
		return static_cast<size_t>(std::count_if(submitted.begin(), submitted.end(),
							  [op](const auto &r) { return r.op == op; }));
	}
	// Completes request @i with what @vm does (or @forced when set).
	void complete(Core &core, vm::VmDriver &drv, size_t i, std::optional<Status> forced = {})
	{
		REQUIRE(i < submitted.size());
		vm::VmResult res;
		res.id = submitted[i].id;
		res.resource = submitted[i].resource;
		res.op = submitted[i].op;
		res.status = forced ? *forced : vm::perform(drv, submitted[i]);
		core.on_vm_done(res);
	}
};

bool logged(const std::vector<std::string> &log, const std::string &part)
{
	return std::any_of(log.begin(), log.end(),
			   [&](const std::string &l) { return l.find(part) != std::string::npos; });
}

} // namespace

TEST_CASE("daemon core: a start that takes long runs off the core: time goes on, one start, then it runs",
	  "[daemon]")
{
	// dtrbdd blocked in libvirt's start for 15-20 s in the lab: no
	// heartbeats, no witness keep-alives meanwhile. The verbs now go to an
	// executor; the core must go on deciding while one runs, must not
	// count a slow start as failed after the generic action timeout, and
	// must not start the domain twice.
	Rig rig;
	HeldExecutor exec;
	rig.kernel.devices[1] = device(DTRBD_ROLE_SECONDARY, DTRBD_CONN_CONNECTED, DTRBD_ROLE_PRIMARY);
	rig.vm.add("vm1", vm::DomainState::kShutOff, {"/dev/dtrbd1"});
	rig.witness_record("p1", "p2");
	rig.heard_by_witness = {"p1"};
	rig.make("p2", &exec);
	rig.core->start();
	rig.peer("p1", true, arbiter::Role::Primary, true);
	rig.run_for(2s);
	rig.primary_p1_lost();
	rig.run_for(10s);

	INFO("kernel: " << json(rig.kernel.commands()).dump() << " vm: " << json(rig.vm.calls).dump());
	REQUIRE(rig.kernel.devices[1].role == DTRBD_ROLE_PRIMARY);
	REQUIRE(exec.count(vm::VmOp::kStart) == 1);
	CHECK(exec.submitted.back().op == vm::VmOp::kStart);
	CHECK(exec.submitted.back().domain == "vm1");
	CHECK(rig.count(rig.vm.calls, "start vm1") == 0);	// nothing ran on the core
	// 30 s more (twice the generic action timeout): still the one start,
	// and the core went on answering.
	rig.run_for(30s);
	CHECK(exec.count(vm::VmOp::kStart) == 1);
	INFO("log: " << json(rig.log).dump());
	CHECK_FALSE(logged(rig.log, "no result for start-domain"));
	CHECK(rig.core->cluster()["resources"][0]["vm"]["state"] == "shut-off");
	CHECK(rig.core->summaries().size() == 1);

	exec.complete(*rig.core, rig.vm, exec.submitted.size() - 1);
	rig.run_for(2s);
	CHECK(rig.vm.domains["vm1"].state == vm::DomainState::kRunning);
	CHECK(rig.core->cluster()["resources"][0]["vm"]["state"] == "running");
	CHECK(exec.count(vm::VmOp::kStart) == 1);
	CHECK(rig.core->runaways() == 0);
}

TEST_CASE("daemon core: a start that never reports counts as failed after start-timeout, then is tried again",
	  "[daemon]")
{
	// Nothing else happens meanwhile (no heartbeat, no witness answer):
	// the timeout must fire on its own timer. It did not: the arbiter
	// armed the timers of the actions in flight before issuing new ones.
	Rig rig;
	HeldExecutor exec;
	rig.cfg.timing.start_timeout = std::chrono::milliseconds(20000);
	CHECK(params_of(rig.cfg).start_timeout == std::chrono::milliseconds(20000));
	rig.kernel.devices[1] = device(DTRBD_ROLE_PRIMARY, DTRBD_CONN_CONNECTED, DTRBD_ROLE_SECONDARY);
	rig.vm.add("vm1", vm::DomainState::kShutOff, {"/dev/dtrbd1"});
	rig.witness_record("p1", "p2");
	rig.heard_by_witness = {"p2"};
	rig.make("p1", &exec);
	rig.core->start();
	rig.peer("p2", true, arbiter::Role::Secondary, false);
	rig.run_for(2s);
	REQUIRE(exec.count(vm::VmOp::kStart) == 1);
	rig.run_for(15s);
	CHECK(exec.count(vm::VmOp::kStart) == 1);
	rig.run_for(10s);
	INFO("log: " << json(rig.log).dump());
	CHECK(logged(rig.log, "no result for start-domain"));
	CHECK(exec.count(vm::VmOp::kStart) == 2);
	// The lost start's late result is stale: nothing waits for it.
	exec.complete(*rig.core, rig.vm, 0);
	exec.complete(*rig.core, rig.vm, exec.submitted.size() - 1);
	rig.run_for(2s);
	CHECK(rig.vm.domains["vm1"].state == vm::DomainState::kRunning);
	CHECK(exec.count(vm::VmOp::kStart) == 2);
	CHECK(rig.core->runaways() == 0);
}

TEST_CASE("daemon core: isolated while its domain is still starting: the start is destroyed once, then the "
	  "device is demoted", "[daemon]")
{
	// With the verbs off the core's thread a start can still be running
	// when the host finds itself cut off. The domain reads as shut off
	// until libvirt's start returns, yet its QEMU may open the device any
	// moment: it must be destroyed, not left to come up on a host that
	// is giving the resource up.
	Rig rig;
	HeldExecutor exec;
	rig.kernel.devices[1] = device(DTRBD_ROLE_PRIMARY, DTRBD_CONN_CONNECTED, DTRBD_ROLE_SECONDARY);
	rig.vm.add("vm1", vm::DomainState::kShutOff, {"/dev/dtrbd1"});
	rig.witness_record("p1", "p2");
	rig.make("p1", &exec);
	rig.core->start();
	rig.peer("p2", true, arbiter::Role::Secondary, false);
	rig.run_for(1s);
	REQUIRE(exec.count(vm::VmOp::kStart) == 1);

	rig.witness.reachable = false;
	rig.core->on_witness_view();
	rig.kernel.devices[1] = device(DTRBD_ROLE_PRIMARY, DTRBD_CONN_STANDALONE, DTRBD_ROLE_UNKNOWN);
	rig.kernel.devices[1].frozen = 1;
	Event ev;
	ev.dev = rig.kernel.devices[1];
	rig.core->on_kernel_event(ev);
	rig.peer("p2", false, arbiter::Role::Secondary, false);
	rig.run_for(3s);
	INFO("order: " << json(rig.order).dump());
	REQUIRE(exec.count(vm::VmOp::kDestroy) == 1);
	CHECK(rig.order == std::vector<std::string>{"kernel fail-io 1"});
	// The destroy runs (on its own lane) while the start still hangs.
	exec.complete(*rig.core, rig.vm, exec.submitted.size() - 1);
	rig.run_for(3s);
	CHECK(exec.count(vm::VmOp::kDestroy) == 1);	// once, not once per decision
	CHECK(rig.order == std::vector<std::string>{"kernel fail-io 1", "vm destroy vm1",
						    "kernel secondary 1"});
	// The start, cut short, fails; nothing is started again.
	exec.complete(*rig.core, rig.vm, 0, Status::error("domain vm1 was destroyed while it started"));
	rig.run_for(3s);
	CHECK(exec.count(vm::VmOp::kStart) == 1);
	CHECK(rig.kernel.devices[1].role == DTRBD_ROLE_SECONDARY);
	CHECK(rig.core->runaways() == 0);
}

TEST_CASE("daemon core: while its domain starts, a connected Primary still creates the witness record",
	  "[daemon]")
{
	Rig rig;
	HeldExecutor exec;
	rig.kernel.devices[1] = device(DTRBD_ROLE_PRIMARY, DTRBD_CONN_CONNECTED, DTRBD_ROLE_SECONDARY);
	rig.vm.add("vm1", vm::DomainState::kShutOff, {"/dev/dtrbd1"});
	rig.heard_by_witness = {"p2"};
	rig.make("p1", &exec);
	rig.core->start();
	rig.peer("p2", true, arbiter::Role::Secondary, false);
	rig.run_for(5s);
	INFO("log: " << json(rig.log).dump());
	REQUIRE(exec.count(vm::VmOp::kStart) == 1);
	const witness::Record *rec = rig.witness.state.record("vm1");
	REQUIRE(rec);
	CHECK(rec->holder == "p1");
}

TEST_CASE("daemon core: host-leaving is recorded for cluster, decides nothing, and ends with the host's next boot",
	  "[daemon]")
{
	Rig rig;
	rig.kernel.devices[1] = device(DTRBD_ROLE_SECONDARY, DTRBD_CONN_CONNECTED, DTRBD_ROLE_PRIMARY);
	rig.vm.add("vm1", vm::DomainState::kShutOff, {"/dev/dtrbd1"});
	rig.witness_record("p1", "p2");
	rig.heard_by_witness = {"p1"};
	rig.make("p2");
	rig.core->start();
	rig.peer("p1", true, arbiter::Role::Primary, true);
	rig.run_for(1s);
	auto p1_of = [&] {
		json c = rig.core->cluster();
		for (const auto &h : c["hosts"])
			if (h["name"] == "p1")
				return h;
		FAIL("no p1 in cluster");
		return json();
	};
	CHECK(p1_of()["leaving"].is_null());
	size_t cmds = rig.kernel.commands().size(), vmcalls = rig.vm.calls.size();

	// Bad requests: one sentence, nothing recorded.
	CHECK(rig.core->on_peer_leaving("p7", {{"cmd", "host-leaving"}})["ok"] == false);
	CHECK(rig.core->on_peer_leaving("p2", {{"cmd", "host-leaving"}})["ok"] == false);
	CHECK(rig.core->on_peer_leaving("p1", {{"cmd", "host-leaving"}, {"resources", "vm1"}}) ==
	      json{{"ok", false}, {"error", "host-leaving: \"resources\" must be an array of names"}});
	CHECK(rig.core->on_peer_leaving("p1", {{"cmd", "host-leaving"}, {"resources", {1}}})["ok"] ==
	      false);
	CHECK(p1_of()["leaving"].is_null());

	// Unknown names are dropped, control characters replaced, the reason cut.
	std::string reason = "the VMs did not stop\n\x1b[2J" + std::string(300, 'x');
	json r = rig.core->on_peer_leaving(
		"p1", {{"cmd", "host-leaving"}, {"resources", {"vm1", "vm9", "vm1"}}, {"reason", reason}});
	CHECK(r == json{{"ok", true}, {"message", "p2 noted that p1 is going down with vm1"}});
	json l = p1_of()["leaving"];
	REQUIRE(l.is_object());
	CHECK(l["resources"] == json{"vm1"});
	std::string kept = l["reason"];
	CHECK(kept.size() == Core::kLeavingReasonMax);
	CHECK(kept.starts_with("the VMs did not stop??[2J"));
	CHECK(std::count_if(rig.log.begin(), rig.log.end(), [](const std::string &s) {
		      return s.starts_with("p1 says it is going down now with vm1 still Primary or running there (the VMs");
	      }) == 1);
	// It decides nothing by itself.
	rig.run_for(2s);
	CHECK(rig.kernel.commands().size() == cmds);
	CHECK(rig.vm.calls.size() == vmcalls);
	CHECK(p1_of()["leaving"]["ms_ago"] == 2000);

	// Heard from the same boot: still leaving; from another boot: back.
	rig.peer("p1", true, arbiter::Role::Primary, true);
	CHECK(p1_of()["leaving"].is_object());
	rig.peer("p1", true, arbiter::Role::Primary, true, 8);
	CHECK(p1_of()["leaving"].is_null());
	CHECK(std::count(rig.log.begin(), rig.log.end(),
			 "p1 is back (another boot) after it said it was going down") == 1);
}
