// SPDX-License-Identifier: GPL-2.0
// Witness datagrams, server and client under simulated time
// (ctl/witness/protocol.h, server.h, client.h).
#include <catch2/catch.hpp>

#include <deque>

#include "witness/client.h"
#include "witness/server.h"

using namespace dtrbd;
using namespace dtrbd::witness;
using namespace std::chrono_literals;

namespace {

cluster::Keys keys_of(const std::string &s)
{
	return cluster::derive_keys(std::span<const uint8_t>(reinterpret_cast<const uint8_t *>(s.data()), s.size()));
}
const cluster::Keys K = keys_of("the cluster secret");

struct MemStore final : Store {
	bool fail = false;
	int saves = 0;
	WitnessState::Records saved;
	Status save(const WitnessState::Records &r) override
	{
		if (fail)
			return Status::error("disk full");
		saves++;
		saved = r;
		return {};
	}
};

// Client -> witness datagrams queue here; delivered by pump().
struct Wire final : Sender {
	std::deque<std::vector<uint8_t>> q;
	std::vector<std::vector<uint8_t>> all;
	bool up = true;
	Status send(std::span<const uint8_t> d) override
	{
		all.emplace_back(d.begin(), d.end());
		if (up)
			q.emplace_back(d.begin(), d.end());
		return {};
	}
};

struct Setup {
	FakeClock clock;
	MemStore store;
	std::vector<std::string> log;
	std::unique_ptr<Server> server;
	Wire w1, w2;
	WitnessClient c1, c2;
	std::vector<ClientResult> results;
	std::vector<std::vector<uint8_t>> replies;	// everything the witness sent
	Setup()
		: c1(cfg("p1", 0x11), K, clock, w1), c2(cfg("p2", 0x22), K, clock, w2)
	{
		restart_witness();
		clock.advance(3s);	// past the witness's start-up lease
	}
	static ClientConfig cfg(const std::string &h, uint64_t boot)
	{
		ClientConfig c;
		c.host = h;
		c.boot_id = boot;
		return c;
	}
	void restart_witness()
	{
		server = std::make_unique<Server>(WitnessState(2000ms, clock.now(), store.saved), K, store, clock,
						  [this](const std::string &l) { log.push_back(l); });
	}
	void pump_one(Wire &w, WitnessClient &c)
	{
		while (!w.q.empty()) {
			auto d = std::move(w.q.front());
			w.q.pop_front();
			auto r = server->handle(d, "test");
			if (r && w.up) {
				replies.push_back(*r);
				auto res = c.receive(*r);
				results.insert(results.end(), res.begin(), res.end());
			}
		}
	}
	void run(Clock::duration d)
	{
		auto end = clock.now() + d;
		do {
			for (auto *c : {&c1, &c2}) {
				auto res = c->tick();
				results.insert(results.end(), res.begin(), res.end());
			}
			pump_one(w1, c1);
			pump_one(w2, c2);
			clock.advance(10ms);
		} while (clock.now() < end);
	}
	ClientResult result(uint64_t id)
	{
		for (const ClientResult &r : results)
			if (r.id == id)
				return r;
		FAIL("no result for request " << id);
		return {};
	}
};

} // namespace

TEST_CASE("witness wire: request and response round trip", "[witness]")
{
	Request q;
	q.op = Op::Claim;
	q.in_sync = true;
	q.host = "p1";
	q.boot_id = 9;
	q.session = 77;
	q.seq = 5;
	q.nonce = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	q.peer = "p2";
	q.resources = {"vm1"};
	auto d = encode_request(q, K);
	REQUIRE(d.size() == kRequestHeader + 32 + 32);
	Reject why;
	auto got = decode_request(d, K, &why);
	REQUIRE(got);
	CHECK(got->op == Op::Claim);
	CHECK(got->in_sync);
	CHECK(got->host == "p1");
	CHECK(got->session == 77);
	CHECK(got->seq == 5);
	CHECK(got->nonce == q.nonce);
	CHECK(got->peer == "p2");
	CHECK(got->resources == q.resources);

	Response p;
	p.granted = true;
	p.session = 77;
	p.seq = 5;
	p.nonce = q.nonce;
	p.lease_ms = 2000;
	p.reason = "p1 holds vm1 (epoch 3)";
	Record r;
	r.epoch = 3;
	r.holder = "p1";
	r.current = {"p1", "p2"};
	Record r2;
	r2.epoch = 9;
	r2.released = true;
	r2.released_by = "p2";
	r2.current = {"a", "b", "c", "d"};
	p.records = {{"vm1", r}, {"vm2", std::nullopt}, {"vm3", r2}};
	auto e = encode_response(p, K);
	auto gp = decode_response(e, K, &why);
	REQUIRE(gp);
	CHECK(gp->granted);
	CHECK(gp->reason == p.reason);
	CHECK(gp->lease_ms == 2000);
	REQUIRE(gp->records.size() == 3);
	CHECK(gp->records[0].record == r);
	CHECK_FALSE(gp->records[1].record);
	CHECK(gp->records[2].record == r2);

	// Every truncation and every flipped bit is refused.
	for (auto *buf : {&d, &e}) {
		bool is_req = buf == &d;
		for (size_t len = 0; len < buf->size(); len++) {
			std::vector<uint8_t> t(buf->begin(), buf->begin() + len);
			{ bool ok = is_req ? bool(decode_request(t, K, &why)) : bool(decode_response(t, K, &why)); CHECK_FALSE(ok); }
		}
		for (size_t i = 0; i < buf->size(); i++) {
			auto t = *buf;
			t[i] ^= 0x04;
			{ bool ok = is_req ? bool(decode_request(t, K, &why)) : bool(decode_response(t, K, &why)); CHECK_FALSE(ok); }
		}
	}
	// Another secret; a request is no response and vice versa.
	CHECK_FALSE(decode_request(d, keys_of("other"), &why));
	CHECK(why == Reject::OtherSecret);
	CHECK_FALSE(decode_response(d, K, &why));
	CHECK_FALSE(decode_request(e, K, &why));
}

TEST_CASE("witness: client and server agree, sessions, keep-alives, reachability", "[witness]")
{
	Setup t;
	t.c1.set_resources({"vm1", "vm2"});
	CHECK_FALSE(t.c1.reachable());
	t.run(100ms);
	CHECK(t.c1.reachable());
	CHECK(t.c1.lease() == 2000ms);
	CHECK(t.server->counters().sessions == 2);	// one per host
	REQUIRE(t.c1.records().count("vm1"));
	CHECK_FALSE(t.c1.records().at("vm1"));	// the witness has none yet

	t.c1.submit(1, Op::Uptodate, "vm1", "p2");
	t.c1.submit(2, Op::Claim, "vm1");
	t.run(100ms);
	CHECK(t.result(1).granted);
	ClientResult r = t.result(2);
	CHECK(r.granted);
	CHECK(r.answered);
	REQUIRE(r.record);
	CHECK(r.record->holder == "p1");
	CHECK(t.store.saves == 2);	// persisted before each answer
	CHECK(t.store.saved.at("vm1").holder == "p1");

	// p2 is refused while p1 keeps its lease with keep-alives.
	t.c2.submit(3, Op::Claim, "vm1");
	t.run(5s);
	r = t.result(3);
	CHECK_FALSE(r.granted);
	CHECK(r.answered);
	CHECK(r.message.find("held by p1") != std::string::npos);
	CHECK(t.c1.records().at("vm1")->holder == "p1");

	// The witness goes away: unreachable after half a lease.
	// (keep-alives every 250 ms: the last answer came at most 250 ms
	// before the cut).
	t.w1.up = false;
	t.run(740ms);
	CHECK(t.c1.reachable());
	t.run(300ms);
	CHECK_FALSE(t.c1.reachable());
	t.c1.submit(4, Op::Release, "vm1");
	t.run(2500ms);
	r = t.result(4);
	CHECK_FALSE(r.answered);
	CHECK(r.message.find("did not answer") != std::string::npos);
	// p1 is silent now: p2 takes over after the lease.
	t.c2.submit(5, Op::Claim, "vm1");
	t.run(100ms);
	CHECK(t.result(5).granted);
	CHECK(t.store.saved.at("vm1").current == std::set<std::string>{"p2"});
}

TEST_CASE("witness: replayed requests and responses are useless", "[witness]")
{
	Setup t;
	t.c1.submit(1, Op::Uptodate, "vm1", "p2");
	t.c1.submit(2, Op::Claim, "vm1");
	t.c1.submit(3, Op::Release, "vm1");
	t.run(100ms);
	REQUIRE(t.result(3).granted);
	WitnessState::Records after = t.store.saved;
	int saves = t.store.saves;
	auto answered = t.server->counters().answered;

	// Replaying every request p1 ever sent, in order, changes nothing
	// (the release is not undone by a replayed claim).
	for (const auto &d : t.w1.all)
		(void)t.server->handle(d, "attacker");
	CHECK(t.store.saves == saves);
	CHECK(t.server->state().records() == after);
	CHECK(t.server->counters().answered == answered);

	// A replayed response answers nothing the client is waiting for.
	t.c1.submit(4, Op::Claim, "vm1");
	t.w1.up = false;
	t.run(50ms);
	for (const auto &r : t.replies)
		CHECK(t.c1.receive(r).empty());
	t.w1.up = true;
	t.run(300ms);
	CHECK(t.result(4).granted);
}

TEST_CASE("witness: a retry gets the same answer, not a second decision", "[witness]")
{
	Setup t;
	t.c1.submit(1, Op::Uptodate, "vm1", "p2");
	t.run(100ms);
	// Send a claim, lose the answer, let the client retransmit.
	t.c1.submit(2, Op::Claim, "vm1");
	REQUIRE(t.w1.q.size() == 1);
	auto first = t.w1.q.front();
	t.w1.q.clear();
	auto a = t.server->handle(first, "test");
	auto b = t.server->handle(first, "test");	// the retransmission
	REQUIRE(a);
	REQUIRE(b);
	CHECK(*a == *b);
	CHECK(t.server->counters().retries == 1);
	auto res = t.c1.receive(*b);
	REQUIRE(res.size() == 1);
	CHECK(res[0].granted);
	// Its third copy after newer requests is dropped.
	t.c1.submit(3, Op::Release, "vm1");
	t.run(100ms);
	CHECK_FALSE(t.server->handle(first, "test"));
}

TEST_CASE("witness: nothing is answered that was not saved", "[witness]")
{
	Setup t;
	t.c1.submit(1, Op::Uptodate, "vm1", "p2");
	t.c1.submit(2, Op::Claim, "vm1");
	t.run(100ms);
	REQUIRE(t.result(2).granted);
	auto before = t.server->state().records();
	t.store.fail = true;
	t.c1.submit(3, Op::Outdate, "vm1");
	t.run(100ms);
	ClientResult r = t.result(3);
	CHECK_FALSE(r.granted);
	CHECK(r.message.find("could not save its state (disk full)") != std::string::npos);
	CHECK(t.server->state().records() == before);
	t.store.fail = false;
	t.c1.submit(4, Op::Outdate, "vm1");
	t.run(100ms);
	CHECK(t.result(4).granted);
	CHECK(t.store.saved.at("vm1").current == std::set<std::string>{"p1"});
}

TEST_CASE("witness: restart keeps the records, new sessions, a lease of patience", "[witness]")
{
	Setup t;
	t.c1.set_resources({"vm1"});
	t.c1.submit(1, Op::Uptodate, "vm1", "p2");
	t.c1.submit(2, Op::Claim, "vm1");
	t.run(100ms);
	REQUIRE(t.result(2).granted);
	auto old = t.w1.all;

	// Power pull of the witness and of p1 at once; the witness returns.
	t.w1.up = false;
	t.restart_witness();
	CHECK(t.server->state().records() == t.store.saved);
	// A request recorded before the restart is in an unknown session:
	// it gets a NewSession answer at most, and changes nothing.
	for (const auto &d : old)
		(void)t.server->handle(d, "attacker");
	CHECK(t.server->state().records() == t.store.saved);

	t.c2.submit(3, Op::Claim, "vm1");
	t.run(1s);
	ClientResult r = t.result(3);
	CHECK_FALSE(r.granted);
	CHECK(r.message.find("the witness started only") != std::string::npos);
	t.run(1500ms);
	t.c2.submit(4, Op::Claim, "vm1");
	t.run(100ms);
	CHECK(t.result(4).granted);
}

TEST_CASE("witness: keep-alive answers that change what the client knows bump records_version", "[witness]")
{
	// dtrbdd tells its arbiters about the witness's records when this
	// changes. Before, only request results and reachability changes did,
	// so "the witness has no record of vm2" learned from a keep-alive
	// never reached the arbiter, and a healthy pair never created the
	// record (the failback lab scenario: p2 could not fail vm2 over).
	Setup t;
	t.c1.set_resources({"vm1"});
	t.c2.set_resources({"vm1"});
	CHECK(t.c1.records_version() == 0);
	t.run(100ms);
	REQUIRE(t.c1.records().count("vm1"));
	uint64_t v = t.c1.records_version();
	CHECK(v == 1);			// learned: no record yet
	t.run(2s);			// the same answers again and again
	CHECK(t.c1.records_version() == v);
	// p2 creates the record: p1 learns it from its next keep-alive.
	t.c2.submit(1, Op::Uptodate, "vm1", "p1");
	t.run(1s);
	REQUIRE(t.result(1).granted);
	REQUIRE(t.c1.records().at("vm1"));
	CHECK(t.c1.records_version() == v + 1);
}
