// SPDX-License-Identifier: GPL-2.0
// The connect-time resync decision (kmod/dtrbd_logic.h), branch by branch,
// and the property both sides rely on: each computes the decision alone,
// so decide(a, b, t) must be the mirror of decide(b, a, !t).
//
#include <catch2/catch.hpp>

#include <sstream>
#include <string>
#include <vector>

#include "dtrbd_logic.h"

namespace {

using Dec = enum dtrbd_sync_decision;

const char *name(Dec d)
{
	switch (d) {
	case DTRBD_DEC_NONE: return "NONE";
	case DTRBD_DEC_SOURCE: return "SOURCE";
	case DTRBD_DEC_TARGET: return "TARGET";
	case DTRBD_DEC_SOURCE_FULL: return "SOURCE_FULL";
	case DTRBD_DEC_TARGET_FULL: return "TARGET_FULL";
	case DTRBD_DEC_BOTH_INCONSISTENT: return "BOTH_INCONSISTENT";
	case DTRBD_DEC_SPLIT_BRAIN: return "SPLIT_BRAIN";
	case DTRBD_DEC_UNRELATED: return "UNRELATED";
	}
	return "?";
}

// One side's view, built field by field.
struct Gen {
	dtrbd_gen g{};

	Gen()
	{
		g.disk = DTRBD_DISK_UPTODATE;
		g.role = DTRBD_ROLE_SECONDARY;
		g.after_sb = DTRBD_SB_DISCONNECT;
	}
	Gen &disk(int d) { g.disk = static_cast<__u8>(d); return *this; }
	Gen &role(int r) { g.role = static_cast<__u8>(r); return *this; }
	Gen &cur(__u64 u) { g.current_uuid = u; return *this; }
	Gen &bm(__u64 u) { g.bitmap_uuid = u; return *this; }
	Gen &hist(__u64 h0, __u64 h1 = 0)
	{
		g.history_uuid[0] = h0;
		g.history_uuid[1] = h1;
		return *this;
	}
	Gen &crashed(bool v = true) { g.crashed_primary = v; return *this; }
	Gen &discard(bool v = true) { g.discard_my_data = v; return *this; }
	Gen &full(bool v = true) { g.full_sync = v; return *this; }
	Gen &sb(int policy) { g.after_sb = static_cast<__u8>(policy); return *this; }
	Gen &oos(__u64 n) { g.oos_blocks = n; return *this; }
	operator const dtrbd_gen &() const { return g; }
};

std::string describe(const dtrbd_gen &g)
{
	std::ostringstream o;
	o << "{disk=" << int(g.disk) << " role=" << int(g.role)
	  << " crashed=" << int(g.crashed_primary)
	  << " discard=" << int(g.discard_my_data)
	  << " full_sync=" << int(g.full_sync)
	  << " after_sb=" << int(g.after_sb) << " cur=" << g.current_uuid
	  << " bm=" << g.bitmap_uuid << " hist=" << g.history_uuid[0] << ","
	  << g.history_uuid[1] << " oos=" << g.oos_blocks << "}";
	return o.str();
}

Dec decide(const dtrbd_gen &me, const dtrbd_gen &peer, bool tiebreak)
{
	return dtrbd_decide_sync(&me, &peer, tiebreak);
}

bool symmetric(const dtrbd_gen &a, const dtrbd_gen &b, bool t)
{
	return decide(a, b, t) == dtrbd_dec_mirror(decide(b, a, !t));
}

// Decide on both sides (a holds the tiebreak bit when @t), check that
// they agree, and return a's decision.
Dec both(const dtrbd_gen &a, const dtrbd_gen &b, bool t = true)
{
	Dec mine = decide(a, b, t);
	Dec theirs = decide(b, a, !t);
	INFO("a = " << describe(a));
	INFO("b = " << describe(b));
	INFO("a decides " << name(mine) << ", b decides " << name(theirs));
	CHECK(mine == dtrbd_dec_mirror(theirs));
	return mine;
}

#define CHECK_DEC(expr, want)                                                  \
	do {                                                                   \
		Dec got_ = (expr);                                             \
		INFO("got " << name(got_) << ", want " << name(want));         \
		CHECK(got_ == (want));                                         \
	} while (0)

} // namespace

TEST_CASE("decision helpers: mirror, source, target, full", "[decide]")
{
	CHECK(dtrbd_dec_mirror(DTRBD_DEC_SOURCE) == DTRBD_DEC_TARGET);
	CHECK(dtrbd_dec_mirror(DTRBD_DEC_TARGET) == DTRBD_DEC_SOURCE);
	CHECK(dtrbd_dec_mirror(DTRBD_DEC_SOURCE_FULL) == DTRBD_DEC_TARGET_FULL);
	CHECK(dtrbd_dec_mirror(DTRBD_DEC_TARGET_FULL) == DTRBD_DEC_SOURCE_FULL);
	for (Dec d : {DTRBD_DEC_NONE, DTRBD_DEC_BOTH_INCONSISTENT,
		      DTRBD_DEC_SPLIT_BRAIN, DTRBD_DEC_UNRELATED}) {
		CHECK(dtrbd_dec_mirror(d) == d);
		CHECK_FALSE(dtrbd_dec_is_source(d));
		CHECK_FALSE(dtrbd_dec_is_target(d));
		CHECK_FALSE(dtrbd_dec_is_full(d));
	}
	CHECK(dtrbd_dec_is_source(DTRBD_DEC_SOURCE));
	CHECK(dtrbd_dec_is_source(DTRBD_DEC_SOURCE_FULL));
	CHECK(dtrbd_dec_is_target(DTRBD_DEC_TARGET));
	CHECK(dtrbd_dec_is_target(DTRBD_DEC_TARGET_FULL));
	CHECK(dtrbd_dec_is_full(DTRBD_DEC_SOURCE_FULL));
	CHECK(dtrbd_dec_is_full(DTRBD_DEC_TARGET_FULL));
	CHECK_FALSE(dtrbd_dec_is_full(DTRBD_DEC_SOURCE));
	CHECK_FALSE(dtrbd_dec_is_full(DTRBD_DEC_TARGET));

	CHECK(dtrbd_gen_consistent(&Gen().disk(DTRBD_DISK_UPTODATE).g));
	CHECK(dtrbd_gen_consistent(&Gen().disk(DTRBD_DISK_OUTDATED).g));
	CHECK_FALSE(dtrbd_gen_consistent(&Gen().disk(DTRBD_DISK_INCONSISTENT).g));
	CHECK_FALSE(dtrbd_gen_consistent(&Gen().disk(DTRBD_DISK_DISKLESS).g));
	CHECK_FALSE(dtrbd_gen_consistent(&Gen().disk(DTRBD_DISK_UNKNOWN).g));
}

TEST_CASE("both inconsistent: nothing to sync from, wait", "[decide]")
{
	auto a = Gen().disk(DTRBD_DISK_INCONSISTENT).cur(1);
	auto b = Gen().disk(DTRBD_DISK_INCONSISTENT).cur(1);
	CHECK_DEC(both(a, b), DTRBD_DEC_BOTH_INCONSISTENT);
	// whatever the ids and flags say
	a.cur(7).bm(1).crashed().discard();
	b.cur(1).bm(7).full();
	CHECK_DEC(both(a, b), DTRBD_DEC_BOTH_INCONSISTENT);
	CHECK_DEC(both(a, b, false), DTRBD_DEC_BOTH_INCONSISTENT);
	// fresh metadata on both sides
	CHECK_DEC(both(Gen().disk(DTRBD_DISK_INCONSISTENT),
		       Gen().disk(DTRBD_DISK_INCONSISTENT)),
		  DTRBD_DEC_BOTH_INCONSISTENT);
}

TEST_CASE("one inconsistent: an interrupted bitmap resync continues from the bitmaps",
	  "[decide]")
{
	// the target still has generation 5, which the source moved on from
	auto target = Gen().disk(DTRBD_DISK_INCONSISTENT).cur(5);
	auto source = Gen().cur(9).bm(5);
	CHECK_DEC(both(target, source), DTRBD_DEC_TARGET);
	CHECK_DEC(both(source, target), DTRBD_DEC_SOURCE);
	CHECK_DEC(both(source, target, false), DTRBD_DEC_SOURCE);
	// the consistent side may be Outdated: it still has the data to send
	source.disk(DTRBD_DISK_OUTDATED);
	CHECK_DEC(both(source, target), DTRBD_DEC_SOURCE);
}

TEST_CASE("one inconsistent: full resync otherwise", "[decide]")
{
	auto source = Gen().cur(9).bm(5);

	SECTION("the inconsistent side's bitmap is not trustworthy (full_sync)") {
		auto target = Gen().disk(DTRBD_DISK_INCONSISTENT).cur(5).full();
		CHECK_DEC(both(target, source), DTRBD_DEC_TARGET_FULL);
		CHECK_DEC(both(source, target), DTRBD_DEC_SOURCE_FULL);
	}
	SECTION("the peer's bitmap id is not our current id") {
		auto target = Gen().disk(DTRBD_DISK_INCONSISTENT).cur(4);
		CHECK_DEC(both(target, source), DTRBD_DEC_TARGET_FULL);
		CHECK_DEC(both(source, target), DTRBD_DEC_SOURCE_FULL);
	}
	SECTION("the peer keeps no bitmap id") {
		source.bm(0);
		auto target = Gen().disk(DTRBD_DISK_INCONSISTENT).cur(5);
		CHECK_DEC(both(target, source), DTRBD_DEC_TARGET_FULL);
	}
	SECTION("same current id as the peer: an interrupted full resync restarts") {
		auto target = Gen().disk(DTRBD_DISK_INCONSISTENT).cur(9).full();
		CHECK_DEC(both(target, source), DTRBD_DEC_TARGET_FULL);
		target.full(false);
		CHECK_DEC(both(target, source), DTRBD_DEC_TARGET_FULL);
	}
	SECTION("fresh metadata (current id 0) never matches a zero bitmap id") {
		auto fresh = Gen().disk(DTRBD_DISK_INCONSISTENT);
		CHECK_DEC(both(fresh, Gen().cur(3)), DTRBD_DEC_TARGET_FULL);
		CHECK_DEC(both(Gen().cur(3), fresh), DTRBD_DEC_SOURCE_FULL);
	}
	SECTION("the uuids of the consistent side do not matter otherwise") {
		auto target = Gen().disk(DTRBD_DISK_INCONSISTENT).cur(1).bm(2).hist(3, 4);
		CHECK_DEC(both(target, Gen().cur(2).hist(1)), DTRBD_DEC_TARGET_FULL);
		// split-brain flags are irrelevant with an inconsistent side
		CHECK_DEC(both(target.discard(), Gen().cur(2).discard()),
			  DTRBD_DEC_TARGET_FULL);
	}
}

TEST_CASE("Outdated vs UpToDate: the Outdated side is target", "[decide]")
{
	SECTION("bitmap resync when the UpToDate side moved on from its generation") {
		auto outdated = Gen().disk(DTRBD_DISK_OUTDATED).cur(5);
		auto uptodate = Gen().cur(9).bm(5);
		CHECK_DEC(both(outdated, uptodate), DTRBD_DEC_TARGET);
		CHECK_DEC(both(uptodate, outdated), DTRBD_DEC_SOURCE);
	}
	SECTION("full resync otherwise, even where the ids say otherwise") {
		auto outdated = Gen().disk(DTRBD_DISK_OUTDATED).cur(5);
		auto uptodate = Gen().cur(9).bm(4);
		CHECK_DEC(both(outdated, uptodate), DTRBD_DEC_TARGET_FULL);
		// the ids would make the Outdated side the source: ignored
		outdated.bm(9);
		CHECK_DEC(both(outdated, uptodate), DTRBD_DEC_TARGET_FULL);
		CHECK_DEC(both(uptodate, outdated, false), DTRBD_DEC_SOURCE_FULL);
		// and a split brain by the ids is not one here
		auto o2 = Gen().disk(DTRBD_DISK_OUTDATED).cur(6).bm(4);
		CHECK_DEC(both(o2, uptodate), DTRBD_DEC_TARGET_FULL);
	}
	SECTION("same generation: nothing to do") {
		auto outdated = Gen().disk(DTRBD_DISK_OUTDATED).cur(5);
		CHECK_DEC(both(outdated, Gen().cur(5)), DTRBD_DEC_NONE);
	}
	SECTION("both Outdated: the ids decide") {
		auto a = Gen().disk(DTRBD_DISK_OUTDATED).cur(5);
		auto b = Gen().disk(DTRBD_DISK_OUTDATED).cur(9).bm(5);
		CHECK_DEC(both(a, b), DTRBD_DEC_TARGET);
		CHECK_DEC(both(a, Gen().disk(DTRBD_DISK_OUTDATED).cur(5)),
			  DTRBD_DEC_NONE);
	}
}

TEST_CASE("equal current ids", "[decide]")
{
	SECTION("nothing to do") {
		CHECK_DEC(both(Gen().cur(5), Gen().cur(5)), DTRBD_DEC_NONE);
		CHECK_DEC(both(Gen().cur(5).bm(2), Gen().cur(5).bm(3)),
			  DTRBD_DEC_NONE);
		CHECK_DEC(both(Gen().cur(5).discard(), Gen().cur(5)),
			  DTRBD_DEC_NONE);
	}
	SECTION("a side that crashed as Primary sends its hot extents") {
		auto crashed = Gen().cur(5).crashed();
		auto other = Gen().cur(5);
		CHECK_DEC(both(crashed, other), DTRBD_DEC_SOURCE);
		CHECK_DEC(both(crashed, other, false), DTRBD_DEC_SOURCE);
		CHECK_DEC(both(other, crashed), DTRBD_DEC_TARGET);
		CHECK_DEC(both(other, crashed, false), DTRBD_DEC_TARGET);
		CHECK_DEC(dtrbd_decide_uuids(&crashed.g, &other.g, 0),
			  DTRBD_DEC_SOURCE);
	}
	SECTION("both crashed as Primary: the tiebreak decides, bitmap resync") {
		auto a = Gen().cur(5).crashed();
		auto b = Gen().cur(5).crashed();
		CHECK_DEC(both(a, b, true), DTRBD_DEC_SOURCE);
		CHECK_DEC(both(a, b, false), DTRBD_DEC_TARGET);
	}
}

TEST_CASE("one side moved on from the other's generation", "[decide]")
{
	auto ahead = Gen().cur(9).bm(5);
	auto behind = Gen().cur(5);
	CHECK_DEC(both(ahead, behind), DTRBD_DEC_SOURCE);
	CHECK_DEC(both(ahead, behind, false), DTRBD_DEC_SOURCE);
	CHECK_DEC(both(behind, ahead), DTRBD_DEC_TARGET);
	// the side behind may itself have moved on before (older bitmap id)
	behind.bm(3);
	CHECK_DEC(both(ahead, behind), DTRBD_DEC_SOURCE);
	// crashed-primary only matters for equal current ids
	behind.bm(0).crashed();
	CHECK_DEC(both(ahead, behind), DTRBD_DEC_SOURCE);
	// a zero bitmap id is no generation
	CHECK_DEC(both(Gen().cur(9), Gen().cur(0)), DTRBD_DEC_UNRELATED);
}

TEST_CASE("split brain: both moved on from the same generation", "[decide]")
{
	auto a = Gen().cur(8).bm(5);
	auto b = Gen().cur(9).bm(5);
	CHECK_DEC(both(a, b), DTRBD_DEC_SPLIT_BRAIN);
	CHECK_DEC(both(a, b, false), DTRBD_DEC_SPLIT_BRAIN);
	CHECK_DEC(dtrbd_decide_uuids(&a.g, &b.g, 1), DTRBD_DEC_SPLIT_BRAIN);
	// roles, crash flags and changes do not resolve it under "disconnect"
	a.role(DTRBD_ROLE_PRIMARY).crashed().oos(0);
	b.oos(10);
	CHECK_DEC(both(a, b), DTRBD_DEC_SPLIT_BRAIN);
	// Outdated on both sides does not resolve it either
	a.disk(DTRBD_DISK_OUTDATED);
	b.disk(DTRBD_DISK_OUTDATED);
	CHECK_DEC(both(a, b), DTRBD_DEC_SPLIT_BRAIN);
}

TEST_CASE("split brain: moved on from points that share history", "[decide]")
{
	// a moved on from 5; b moved on from 6, and 5 is in b's history
	CHECK_DEC(both(Gen().cur(8).bm(5), Gen().cur(9).bm(6).hist(5)),
		  DTRBD_DEC_SPLIT_BRAIN);
	CHECK_DEC(both(Gen().cur(8).bm(5), Gen().cur(9).bm(6).hist(4, 5)),
		  DTRBD_DEC_SPLIT_BRAIN);
	CHECK_DEC(both(Gen().cur(9).bm(6).hist(5), Gen().cur(8).bm(5)),
		  DTRBD_DEC_SPLIT_BRAIN);
}

TEST_CASE("the peer's generation is in our history: full resync", "[decide]")
{
	// we moved on twice; the bitmap from 5 was dropped after a resync
	auto ahead = Gen().cur(9).bm(7).hist(5);
	auto behind = Gen().cur(5);
	CHECK_DEC(both(ahead, behind), DTRBD_DEC_SOURCE_FULL);
	CHECK_DEC(both(behind, ahead), DTRBD_DEC_TARGET_FULL);
	ahead.hist(3, 5);
	CHECK_DEC(both(ahead, behind), DTRBD_DEC_SOURCE_FULL);
	CHECK_DEC(both(behind, ahead, false), DTRBD_DEC_TARGET_FULL);
	// no bitmap id at all
	CHECK_DEC(both(Gen().cur(9).hist(5), behind), DTRBD_DEC_SOURCE_FULL);
	// a zero current id never matches an empty history slot
	CHECK_DEC(both(Gen().cur(9).hist(0, 0), Gen().cur(0)),
		  DTRBD_DEC_UNRELATED);
}

TEST_CASE("no common history: unrelated data", "[decide]")
{
	CHECK_DEC(both(Gen().cur(1), Gen().cur(2)), DTRBD_DEC_UNRELATED);
	CHECK_DEC(both(Gen().cur(1).bm(3).hist(4, 5), Gen().cur(2).bm(6).hist(7, 8)),
		  DTRBD_DEC_UNRELATED);
	CHECK_DEC(dtrbd_decide_uuids(&Gen().cur(1).g, &Gen().cur(2).g, 0),
		  DTRBD_DEC_UNRELATED);
	// no automatic policy applies to unrelated data
	CHECK_DEC(both(Gen().cur(1).sb(DTRBD_SB_DISCARD_ZERO_CHANGES),
		       Gen().cur(2).sb(DTRBD_SB_DISCARD_ZERO_CHANGES).oos(3)),
		  DTRBD_DEC_UNRELATED);
	CHECK_DEC(both(Gen().cur(1).sb(DTRBD_SB_DISCARD_SECONDARY).role(DTRBD_ROLE_PRIMARY),
		       Gen().cur(2).sb(DTRBD_SB_DISCARD_SECONDARY)),
		  DTRBD_DEC_UNRELATED);
}

TEST_CASE("unrelated data with --discard-my-data: full resync", "[decide]")
{
	auto loser = Gen().cur(1).discard();
	auto winner = Gen().cur(2);
	CHECK_DEC(both(loser, winner), DTRBD_DEC_TARGET_FULL);
	CHECK_DEC(both(winner, loser), DTRBD_DEC_SOURCE_FULL);
	CHECK_DEC(both(winner, loser, false), DTRBD_DEC_SOURCE_FULL);
	// both want to lose: still unrelated
	CHECK_DEC(both(loser, Gen().cur(2).discard()), DTRBD_DEC_UNRELATED);
}

TEST_CASE("split brain resolved by --discard-my-data", "[decide]")
{
	auto a = Gen().cur(8).bm(5);
	auto b = Gen().cur(9).bm(5);

	SECTION("on one side: that side is target of a bitmap resync") {
		a.discard();
		CHECK_DEC(both(a, b), DTRBD_DEC_TARGET);
		CHECK_DEC(both(a, b, false), DTRBD_DEC_TARGET);
		CHECK_DEC(both(b, a), DTRBD_DEC_SOURCE);
		CHECK_DEC(dtrbd_resolve_split_brain(&a.g, &b.g, 1), DTRBD_DEC_TARGET);
	}
	SECTION("it wins over an automatic policy and a policy mismatch") {
		a.discard().sb(DTRBD_SB_DISCARD_ZERO_CHANGES).oos(5);
		b.sb(DTRBD_SB_DISCARD_ZERO_CHANGES).oos(0);
		CHECK_DEC(both(a, b), DTRBD_DEC_TARGET);
		b.sb(DTRBD_SB_DISCARD_SECONDARY);
		CHECK_DEC(both(a, b), DTRBD_DEC_TARGET);
	}
	SECTION("on both sides: stays split brain") {
		a.discard();
		b.discard();
		CHECK_DEC(both(a, b), DTRBD_DEC_SPLIT_BRAIN);
		CHECK_DEC(both(a, b, false), DTRBD_DEC_SPLIT_BRAIN);
		// even with a policy both run that would resolve it
		a.sb(DTRBD_SB_DISCARD_ZERO_CHANGES).oos(0);
		b.sb(DTRBD_SB_DISCARD_ZERO_CHANGES).oos(4);
		CHECK_DEC(both(a, b), DTRBD_DEC_SPLIT_BRAIN);
	}
	SECTION("with history-shared split brain") {
		auto c = Gen().cur(8).bm(5).discard();
		auto d = Gen().cur(9).bm(6).hist(5);
		CHECK_DEC(both(c, d), DTRBD_DEC_TARGET);
	}
}

TEST_CASE("split brain policy discard-zero-changes", "[decide]")
{
	auto a = Gen().cur(8).bm(5).sb(DTRBD_SB_DISCARD_ZERO_CHANGES);
	auto b = Gen().cur(9).bm(5).sb(DTRBD_SB_DISCARD_ZERO_CHANGES);

	SECTION("the side without changes is target") {
		a.oos(0);
		b.oos(12);
		CHECK_DEC(both(a, b), DTRBD_DEC_TARGET);
		CHECK_DEC(both(a, b, false), DTRBD_DEC_TARGET);
		CHECK_DEC(both(b, a), DTRBD_DEC_SOURCE);
		// whatever the roles
		a.role(DTRBD_ROLE_PRIMARY);
		CHECK_DEC(both(a, b), DTRBD_DEC_TARGET);
	}
	SECTION("both changed: stays split brain") {
		a.oos(1);
		b.oos(12);
		CHECK_DEC(both(a, b), DTRBD_DEC_SPLIT_BRAIN);
		CHECK_DEC(both(a, b, false), DTRBD_DEC_SPLIT_BRAIN);
	}
	SECTION("neither changed: the tiebreak decides") {
		a.oos(0);
		b.oos(0);
		CHECK_DEC(both(a, b, true), DTRBD_DEC_SOURCE);
		CHECK_DEC(both(a, b, false), DTRBD_DEC_TARGET);
	}
}

TEST_CASE("split brain policy discard-secondary", "[decide]")
{
	auto a = Gen().cur(8).bm(5).sb(DTRBD_SB_DISCARD_SECONDARY);
	auto b = Gen().cur(9).bm(5).sb(DTRBD_SB_DISCARD_SECONDARY);

	SECTION("the Secondary is target, the Primary source") {
		a.role(DTRBD_ROLE_PRIMARY);
		CHECK_DEC(both(a, b), DTRBD_DEC_SOURCE);
		CHECK_DEC(both(a, b, false), DTRBD_DEC_SOURCE);
		CHECK_DEC(both(b, a), DTRBD_DEC_TARGET);
		// regardless of the amount of changes
		a.oos(0);
		b.oos(100);
		CHECK_DEC(both(b, a), DTRBD_DEC_TARGET);
	}
	SECTION("both Secondary: stays split brain") {
		CHECK_DEC(both(a, b), DTRBD_DEC_SPLIT_BRAIN);
		CHECK_DEC(both(a, b, false), DTRBD_DEC_SPLIT_BRAIN);
	}
	SECTION("both Primary (never connected, but the logic must not pick one)") {
		a.role(DTRBD_ROLE_PRIMARY);
		b.role(DTRBD_ROLE_PRIMARY);
		CHECK_DEC(both(a, b), DTRBD_DEC_SPLIT_BRAIN);
	}
}

TEST_CASE("split brain policies that differ: stays split brain", "[decide]")
{
	auto a = Gen().cur(8).bm(5).sb(DTRBD_SB_DISCARD_ZERO_CHANGES).oos(0);
	auto b = Gen().cur(9).bm(5).sb(DTRBD_SB_DISCARD_SECONDARY).oos(7)
			 .role(DTRBD_ROLE_PRIMARY);
	// either policy alone would have made a the target
	CHECK_DEC(both(a, b), DTRBD_DEC_SPLIT_BRAIN);
	CHECK_DEC(both(a, b, false), DTRBD_DEC_SPLIT_BRAIN);
	b.sb(DTRBD_SB_DISCONNECT);
	CHECK_DEC(both(a, b), DTRBD_DEC_SPLIT_BRAIN);
	// and one the default: nothing automatic
	a.sb(DTRBD_SB_DISCONNECT);
	CHECK_DEC(both(a, b), DTRBD_DEC_SPLIT_BRAIN);
}

namespace {

bool in_history(__u64 u, const dtrbd_gen &g)
{
	return u && (u == g.history_uuid[0] || u == g.history_uuid[1]);
}

// Id graphs with a cycle (each side descends from the other). They cannot
// arise from random 64-bit ids; the logic calls them split brain.
bool cyclic_ids(const dtrbd_gen &a, const dtrbd_gen &b)
{
	bool cross_bitmap = a.bitmap_uuid && a.bitmap_uuid == b.current_uuid &&
			    b.bitmap_uuid && b.bitmap_uuid == a.current_uuid;
	bool cross_history = in_history(a.current_uuid, b) &&
			     in_history(b.current_uuid, a);
	return cross_bitmap || cross_history;
}

struct Asym {
	dtrbd_gen a, b;
	bool t;
};

struct SweepResult {
	unsigned long long pairs = 0;
	unsigned long long cyclic = 0;	// asymmetric, cyclic ids
	unsigned long long other = 0;	// asymmetric, anything else
	std::vector<Asym> first_cyclic, first_other;
};

void sweep(const std::vector<dtrbd_gen> &sides, SweepResult &r)
{
	for (const auto &a : sides) {
		for (const auto &b : sides) {
			for (bool t : {false, true}) {
				r.pairs++;
				if (symmetric(a, b, t))
					continue;
				bool cyc = cyclic_ids(a, b);
				auto &count = cyc ? r.cyclic : r.other;
				auto &first = cyc ? r.first_cyclic : r.first_other;
				count++;
				if (first.size() < 5)
					first.push_back({a, b, t});
			}
		}
	}
}

std::string show(const std::vector<Asym> &v)
{
	std::ostringstream o;
	for (const auto &x : v)
		o << "  a=" << describe(x.a) << "\n  b=" << describe(x.b)
		  << " t=" << x.t << ": a decides " << name(decide(x.a, x.b, x.t))
		  << ", b decides " << name(decide(x.b, x.a, !x.t)) << "\n";
	return o.str();
}

// Every combination of ids 0..3 (current, bitmap, both history slots),
// disk Inconsistent/Outdated/UpToDate, crashed_primary and full_sync.
std::vector<dtrbd_gen> id_sides()
{
	std::vector<dtrbd_gen> v;
	for (int ids = 0; ids < 256; ids++)
		for (int disk : {DTRBD_DISK_INCONSISTENT, DTRBD_DISK_OUTDATED,
				 DTRBD_DISK_UPTODATE})
			for (int crashed = 0; crashed < 2; crashed++)
				for (int full = 0; full < 2; full++)
					v.push_back(Gen().cur(ids & 3).bm((ids >> 2) & 3)
						    .hist((ids >> 4) & 3, ids >> 6)
						    .disk(disk).crashed(crashed).full(full));
	return v;
}

// The split-brain inputs: ids around a common generation 1, every policy,
// role, --discard-my-data and zero/non-zero changes.
std::vector<dtrbd_gen> sb_sides()
{
	std::vector<dtrbd_gen> v;
	for (int cur : {1, 2, 3})
		for (int bm : {0, 1, 2, 3})
			for (int h : {0, 1})
				for (int disk : {DTRBD_DISK_OUTDATED, DTRBD_DISK_UPTODATE})
					for (int discard = 0; discard < 2; discard++)
						for (int sb : {DTRBD_SB_DISCONNECT,
							       DTRBD_SB_DISCARD_ZERO_CHANGES,
							       DTRBD_SB_DISCARD_SECONDARY})
							for (int role : {DTRBD_ROLE_SECONDARY,
									 DTRBD_ROLE_PRIMARY})
								for (int oos : {0, 3})
									v.push_back(Gen().cur(cur).bm(bm).hist(h)
										    .disk(disk).discard(discard)
										    .sb(sb).role(role).oos(oos));
	return v;
}

} // namespace

TEST_CASE("symmetry: both sides reach mirrored decisions (all small inputs)",
	  "[decide]")
{
	SweepResult r;
	sweep(id_sides(), r);
	sweep(sb_sides(), r);
	INFO(r.pairs << " input pairs; asymmetric: " << r.cyclic
		     << " with cyclic ids, "
		     << r.other << " others, first ones:\n" << show(r.first_other));
	CHECK(r.pairs > 1000000);
	CHECK(r.other == 0);
}

TEST_CASE("symmetry including cyclic id graphs", "[decide]")
{
	SweepResult r;
	sweep(id_sides(), r);
	INFO(r.cyclic << " asymmetric pairs with cyclic ids, first ones:\n"
		      << show(r.first_cyclic));
	CHECK(r.cyclic + r.other == 0);
}

TEST_CASE("ids that point at each other are a split brain on both sides",
	  "[decide]")
{
	// Each side's bitmap id is the other's current id: damaged metadata,
	// never random ids. Neither side may claim to be the source.
	auto a = Gen().cur(1).bm(2);
	auto b = Gen().cur(2).bm(1);
	CHECK_DEC(decide(a, b, true), DTRBD_DEC_SPLIT_BRAIN);
	CHECK_DEC(decide(b, a, false), DTRBD_DEC_SPLIT_BRAIN);
	// the same with each side's current id in the other's history
	auto c = Gen().cur(1).hist(2);
	auto d = Gen().cur(2).hist(1);
	CHECK_DEC(decide(c, d, true), DTRBD_DEC_SPLIT_BRAIN);
	CHECK_DEC(decide(d, c, false), DTRBD_DEC_SPLIT_BRAIN);
}

TEST_CASE("an interrupted full resync stays full on both sides", "[decide]")
{
	// A Primary, B Secondary, same generation 5; "invalidate" on B starts
	// a full resync (B sets FULL_SYNC, which P_STATE carries); the link
	// drops, A's teardown starts generation 9 with bitmap id 5. On
	// reconnect both must agree on a full resync (no bitmap exchange).
	auto a = Gen().role(DTRBD_ROLE_PRIMARY).cur(9).bm(5);
	auto b = Gen().disk(DTRBD_DISK_INCONSISTENT).cur(5).full();
	CHECK_DEC(decide(a, b, true), DTRBD_DEC_SOURCE_FULL);
	CHECK_DEC(decide(b, a, false), DTRBD_DEC_TARGET_FULL);
	// without the flag the bitmap continues
	auto b2 = Gen().disk(DTRBD_DISK_INCONSISTENT).cur(5);
	CHECK_DEC(decide(a, b2, true), DTRBD_DEC_SOURCE);
	CHECK_DEC(decide(b2, a, false), DTRBD_DEC_TARGET);
}

TEST_CASE("a side whose disk failed is never resynced to or from", "[decide]")
{
	auto a = Gen().disk(DTRBD_DISK_DISKLESS).role(DTRBD_ROLE_PRIMARY).cur(3).bm(1);
	auto b = Gen().cur(1);
	CHECK_DEC(decide(a, b, true), DTRBD_DEC_NONE);
	CHECK_DEC(decide(b, a, false), DTRBD_DEC_NONE);
	auto c = Gen().disk(DTRBD_DISK_INCONSISTENT);
	CHECK_DEC(decide(a, c, false), DTRBD_DEC_NONE);
	CHECK_DEC(decide(c, a, true), DTRBD_DEC_NONE);
}
