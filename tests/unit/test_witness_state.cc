// SPDX-License-Identifier: GPL-2.0
// WitnessState: the rules of the third vote, persistence (ctl/witness/state.h).
#include <catch2/catch.hpp>

#include <fstream>
#include <random>
#include <sstream>

#include "tmpdir.h"
#include "witness/state.h"

using namespace dtrbd;
using namespace dtrbd::witness;
using namespace std::chrono_literals;

namespace {

constexpr auto kLease = 2000ms;

struct W {
	FakeClock clock;
	WitnessState s{kLease, clock.now()};
	W()
	{
		// Past the start-up lease unless a test says otherwise.
		clock.advance(kLease + 1ms);
	}
	Decision claim(const std::string &h, const std::string &sync = "") { return s.claim("vm1", h, sync, clock.now()); }
	Decision outdate(const std::string &h) { return s.outdate("vm1", h, clock.now()); }
	Decision release(const std::string &h) { return s.release("vm1", h, clock.now()); }
	Decision uptodate(const std::string &h, const std::string &p) { return s.uptodate("vm1", h, p, clock.now()); }
	const Record &rec() { return *s.record("vm1"); }
	// Both hosts keep talking to the witness.
	void alive(std::initializer_list<const char *> hosts, Clock::duration d)
	{
		for (auto t = 0ms; t < d; t += 250ms) {
			clock.advance(250ms);
			for (const char *h : hosts)
				s.heard(h, clock.now());
		}
	}
};

std::set<std::string> set(std::initializer_list<const char *> l)
{
	return std::set<std::string>(l.begin(), l.end());
}

} // namespace

TEST_CASE("witness: first contact only from a connected, in-sync pair", "[witness]")
{
	W w;
	SECTION("a lone host cannot create a record") {
		Decision d = w.claim("p2");
		CHECK_FALSE(d.granted);
		CHECK_FALSE(d.changed);
		CHECK(d.reason.find("no record of vm1") != std::string::npos);
		CHECK(w.s.record("vm1") == nullptr);
		CHECK_FALSE(w.outdate("p2").granted);
		CHECK_FALSE(w.release("p2").granted);
		CHECK(w.s.record("vm1") == nullptr);
	}
	SECTION("claim in sync creates {H, P} and grants") {
		Decision d = w.claim("p1", "p2");
		CHECK(d.granted);
		CHECK(d.changed);
		CHECK(w.rec().current == set({"p1", "p2"}));
		CHECK(w.rec().holder == "p1");
		CHECK(w.rec().epoch == 2);	// created (1), then granted (2)
	}
	SECTION("uptodate creates {H, P}, no holder") {
		Decision d = w.uptodate("p1", "p2");
		CHECK(d.granted);
		CHECK(w.rec().current == set({"p1", "p2"}));
		CHECK(w.rec().holder.empty());
		CHECK(w.rec().epoch == 1);
	}
	SECTION("naming oneself as the in-sync peer does not count") {
		CHECK_FALSE(w.claim("p1", "p1").granted);
		CHECK_FALSE(w.uptodate("p1", "p1").granted);
		CHECK(w.s.record("vm1") == nullptr);
	}
}

TEST_CASE("witness: claim rules", "[witness]")
{
	W w;
	REQUIRE(w.uptodate("p1", "p2").granted);
	REQUIRE(w.claim("p1").granted);
	uint64_t e = w.rec().epoch;

	SECTION("the holder claiming again changes nothing") {
		Decision d = w.claim("p1");
		CHECK(d.granted);
		CHECK_FALSE(d.changed);
		CHECK(w.rec().epoch == e);
	}
	SECTION("another host is refused while the holder is heard") {
		w.alive({"p1", "p2"}, 10s);
		Decision d = w.claim("p2");
		CHECK_FALSE(d.granted);
		CHECK(d.reason.find("held by p1") != std::string::npos);
		CHECK(w.rec().holder == "p1");
		CHECK(w.rec().epoch == e);
	}
	SECTION("after a clean release the other current host gets it, current unchanged") {
		REQUIRE(w.release("p1").granted);
		CHECK(w.rec().released);
		CHECK(w.rec().released_by == "p1");
		CHECK(w.rec().holder.empty());
		Decision d = w.claim("p2");
		CHECK(d.granted);
		CHECK(w.rec().holder == "p2");
		CHECK_FALSE(w.rec().released);
		CHECK(w.rec().current == set({"p1", "p2"}));
	}
	SECTION("release is idempotent for the host that released, refused for others") {
		REQUIRE(w.release("p1").granted);
		CHECK(w.release("p1").granted);
		CHECK_FALSE(w.release("p2").granted);
	}
	SECTION("only the holder may release") {
		CHECK_FALSE(w.release("p2").granted);
		CHECK(w.rec().holder == "p1");
	}
	SECTION("takeover from a silent holder narrows current to the claimer") {
		w.alive({"p2"}, kLease);	// p1 silent for the lease...
		CHECK_FALSE(w.claim("p2").granted);	// ...but not longer yet
		w.clock.advance(300ms);
		Decision d = w.claim("p2");
		CHECK(d.granted);
		CHECK(w.rec().holder == "p2");
		CHECK(w.rec().current == set({"p2"}));
		CHECK(d.reason.find("took over from p1") != std::string::npos);
		// p1 comes back: its copy is no longer current.
		d = w.claim("p1");
		CHECK_FALSE(d.granted);
		CHECK(d.reason.find("p1's copy of vm1 is not current") != std::string::npos);
		CHECK(d.reason.find("p2 took over") != std::string::npos);
		// And it cannot vouch for anyone or outdate.
		CHECK_FALSE(w.uptodate("p1", "p1x").granted);
		CHECK_FALSE(w.outdate("p1").granted);
		// Once resynced, p2 reports p1 current again.
		CHECK(w.uptodate("p2", "p1").granted);
		CHECK(w.rec().current == set({"p1", "p2"}));
	}
}

TEST_CASE("witness: partition with both hosts alive", "[witness]")
{
	W w;
	REQUIRE(w.uptodate("p1", "p2").granted);
	REQUIRE(w.claim("p1").granted);
	// The replication link is cut; both still reach the witness.
	w.alive({"p1", "p2"}, 1s);
	Decision d = w.outdate("p1");	// p1, frozen, goes on alone
	REQUIRE(d.granted);
	CHECK(w.rec().current == set({"p1"}));
	CHECK(w.rec().narrowed.find("p1 went on alone") != std::string::npos);
	w.alive({"p1", "p2"}, 30s);
	d = w.claim("p2");
	CHECK_FALSE(d.granted);
	CHECK(d.reason == "p2's copy of vm1 is not current: " + w.rec().narrowed +
				  "; connect p2 to p1 and let it resync first");
	// The other side outdating is refused: it does not hold vm1.
	d = w.outdate("p2");
	CHECK_FALSE(d.granted);
	CHECK(d.reason.find("p1 holds it") != std::string::npos);
	CHECK(w.rec().current == set({"p1"}));
}

TEST_CASE("witness: partition where the peer claims first", "[witness]")
{
	// Holder none (e.g. p1 promoted while connected and released), link cut.
	W w;
	REQUIRE(w.uptodate("p1", "p2").granted);
	REQUIRE(w.claim("p2").granted);	// p2 asks first
	w.alive({"p1", "p2"}, 1s);
	CHECK_FALSE(w.claim("p1").granted);	// p2 holds it and is heard
	CHECK_FALSE(w.outdate("p1").granted);	// so p1 cannot go on alone
	CHECK(w.rec().current == set({"p1", "p2"}));
}

TEST_CASE("witness: isolation: the survivor gets it after the lease", "[witness]")
{
	W w;
	REQUIRE(w.uptodate("p1", "p2").granted);
	REQUIRE(w.claim("p1").granted);
	w.alive({"p1", "p2"}, 5s);
	// p1 loses every link: only p2 is heard from now on.
	for (auto t = 0ms; t <= kLease; t += 250ms) {
		CHECK_FALSE(w.claim("p2").granted);
		w.alive({"p2"}, 250ms);
	}
	Decision d = w.claim("p2");
	REQUIRE(d.granted);
	CHECK(w.rec().current == set({"p2"}));
	CHECK(w.rec().holder == "p2");
	// p1, still frozen, cannot resume: it is not the holder any more.
	CHECK_FALSE(w.outdate("p1").granted);
	CHECK_FALSE(w.claim("p1").granted);
}

TEST_CASE("witness: a stale host after a total shutdown is refused", "[witness]")
{
	W w;
	REQUIRE(w.uptodate("p1", "p2").granted);
	REQUIRE(w.claim("p1").granted);
	REQUIRE(w.outdate("p1").granted);	// p1 went on alone
	uint64_t epoch = w.rec().epoch;
	// Everything shuts down; hours later only p2 boots.
	w.clock.advance(10h);
	Decision d = w.claim("p2");
	CHECK_FALSE(d.granted);
	CHECK(d.reason == "p2's copy of vm1 is not current: p1 went on alone at epoch " +
				  std::to_string(epoch) + " (outdating p2); connect p2 to p1 and let it resync first");
	CHECK(w.rec().holder == "p1");
	// p1 boots too and gets it back (it holds it and is current).
	CHECK(w.claim("p1").granted);
}

TEST_CASE("witness: after its own restart it waits a full lease", "[witness]")
{
	FakeClock clock;
	WitnessState::Records recs;
	Record r;
	r.epoch = 5;
	r.holder = "p1";
	r.current = {"p1", "p2"};
	recs["vm1"] = r;
	auto start = clock.now();
	WitnessState s(kLease, start, recs);
	clock.advance(100ms);
	Decision d = s.claim("vm1", "p2", "", clock.now());
	CHECK_FALSE(d.granted);
	CHECK(d.reason.find("the witness started only 100 ms ago") != std::string::npos);
	clock.advance(kLease - 100ms);
	CHECK_FALSE(s.claim("vm1", "p2", "", clock.now()).granted);	// exactly one lease
	clock.advance(1ms);
	d = s.claim("vm1", "p2", "", clock.now());
	CHECK(d.granted);
	CHECK(s.record("vm1")->current == set({"p2"}));

	// p1 heard once after the restart: it is alive, however young the witness.
	WitnessState s2(kLease, clock.now(), recs);
	s2.heard("p1", clock.now());
	clock.advance(kLease);
	CHECK_FALSE(s2.claim("vm1", "p2", "", clock.now()).granted);
}

TEST_CASE("witness: uptodate needs a current reporter", "[witness]")
{
	W w;
	REQUIRE(w.uptodate("p1", "p2").granted);
	REQUIRE(w.claim("p1").granted);
	REQUIRE(w.outdate("p1").granted);
	Decision d = w.uptodate("p2", "p2b");
	CHECK_FALSE(d.granted);
	CHECK(d.reason.find("p2 cannot vouch") != std::string::npos);
	CHECK(w.rec().current == set({"p1"}));
	uint64_t e = w.rec().epoch;
	CHECK(w.uptodate("p1", "p2").granted);
	CHECK(w.rec().epoch == e + 1);
	CHECK(w.uptodate("p1", "p2").granted);	// idempotent
	CHECK(w.rec().epoch == e + 1);
}

TEST_CASE("witness: randomized sequences keep the invariants", "[witness]")
{
	const std::vector<std::string> hosts = {"p1", "p2", "p3"};
	for (unsigned seed = 1; seed <= 200; seed++) {
		std::mt19937 rng(seed);
		FakeClock clock;
		WitnessState s(kLease, clock.now());
		std::set<std::string> alive(hosts.begin(), hosts.end());
		for (int step = 0; step < 300; step++) {
			INFO("seed " << seed << " step " << step);
			clock.advance(std::chrono::milliseconds(rng() % 900));
			for (const std::string &h : hosts)
				if (rng() % 10 == 0) {
					if (alive.count(h))
						alive.erase(h);
					else
						alive.insert(h);
				}
			for (const std::string &h : alive)
				s.heard(h, clock.now());
			const std::string &h = hosts[rng() % hosts.size()];
			const std::string &p = hosts[rng() % hosts.size()];
			std::optional<Record> before;
			if (const Record *r = s.record("vm1"))
				before = *r;
			Decision d;
			int op = rng() % 5;
			switch (op) {
			case 0: d = s.claim("vm1", h, rng() % 4 == 0 ? p : "", clock.now()); break;
			case 1: d = s.outdate("vm1", h, clock.now()); break;
			case 2: d = s.release("vm1", h, clock.now()); break;
			case 3: d = s.uptodate("vm1", h, p, clock.now()); break;
			case 4: d = s.claim("vm1", h, "", clock.now()); break;
			}
			const Record *after = s.record("vm1");
			// Every refusal has a reason; a refusal changes nothing.
			REQUIRE(!d.reason.empty());
			if (!d.granted) {
				REQUIRE_FALSE(d.changed);
				REQUIRE(bool(before) == bool(after));
				if (before)
					REQUIRE(*before == *after);
				continue;
			}
			REQUIRE(after);
			// At most one holder, and it is current.
			if (!after->holder.empty())
				REQUIRE(after->current.count(after->holder));
			REQUIRE((after->holder.empty() || !after->released));
			if (op == 0 || op == 4) {
				// Never granted to a host that was not current
				// (or, on first contact, not vouched in sync).
				if (before)
					REQUIRE(before->current.count(h));
				REQUIRE(after->holder == h);
				// Taken from another holder only once it was
				// silent past the lease (never from a live one).
				if (before && !before->holder.empty() && before->holder != h &&
				    !before->released)
					REQUIRE(s.silent_for(before->holder, clock.now()) > kLease);
			}
			// current grows only through uptodate from a current
			// member (or a first record from an in-sync pair).
			if (before) {
				for (const std::string &x : after->current)
					if (!before->current.count(x)) {
						REQUIRE(op == 3);
						REQUIRE(before->current.count(h));
						REQUIRE(x == p);
					}
				if (!(*before == *after))
					REQUIRE(after->epoch > before->epoch);
				else
					REQUIRE_FALSE(d.changed);
			} else {
				REQUIRE(after->current == std::set<std::string>({h, p}));
			}
		}
	}
}

TEST_CASE("witness: state file round trip and refusal of corrupt files", "[witness]")
{
	test::TmpDir dir;
	FileStore store(dir.path());
	auto empty = store.load();
	REQUIRE(empty);
	CHECK(empty->empty());	// a new witness

	WitnessState::Records recs;
	Record a;
	a.epoch = 7;
	a.holder = "p1";
	a.current = {"p1"};
	a.narrowed = "p1 went on alone at epoch 7 (outdating p2)";
	Record b;
	b.epoch = 3;
	b.released = true;
	b.released_by = "p2";
	b.current = {"p1", "p2"};
	recs["vm1"] = a;
	recs["vm2"] = b;
	REQUIRE(store.save(recs));
	auto back = store.load();
	REQUIRE(back);
	CHECK(*back == recs);
	CHECK_FALSE(std::filesystem::exists(dir.path() + "/state.json.tmp"));

	std::string text;
	{
		std::ifstream f(store.path());
		std::stringstream ss;
		ss << f.rdbuf();
		text = ss.str();
	}
	auto refused = [&](const std::string &t) {
		{
			std::ofstream f(store.path(), std::ios::trunc);
			f << t;
		}
		auto r = store.load();
		REQUIRE_FALSE(r);
		CHECK(r.status().message().find("refusing to start") != std::string::npos);
		CHECK(r.status().message().find(store.path()) != std::string::npos);
		return r.status().message();
	};
	CHECK(refused(text.substr(0, text.size() / 2)).find("not valid JSON") != std::string::npos);
	CHECK(refused("").find("not valid JSON") != std::string::npos);
	std::string t = text;
	t.replace(t.find("\"epoch\": 7"), 10, "\"epoch\": 8");
	CHECK(refused(t).find("checksum") != std::string::npos);
	t = text;
	t.replace(t.find("\"version\": 1"), 12, "\"version\": 2");
	CHECK(refused(t).find("version") != std::string::npos);
	CHECK(refused("{\"format\": \"something else\"}").find("not a dtrbd-witness state file") != std::string::npos);
	// A well-formed file whose contents the witness never writes.
	WitnessState::Records bad;
	Record c;
	c.epoch = 0;
	bad["vm1"] = c;
	refused(to_json(bad));
	// The good file again loads.
	{
		std::ofstream f(store.path(), std::ios::trunc);
		f << text;
	}
	CHECK(store.load());
}

TEST_CASE("witness: an unwritable state directory is reported", "[witness]")
{
	FileStore store("/nonexistent/dtrbd-witness");
	WitnessState::Records recs;
	Status st = store.save(recs);
	REQUIRE_FALSE(st);
	CHECK(st.message().find("/nonexistent/dtrbd-witness/state.json.tmp") != std::string::npos);
}
