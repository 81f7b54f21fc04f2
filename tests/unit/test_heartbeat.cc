// SPDX-License-Identifier: GPL-2.0
// Heartbeat wire format and anti-replay (ctl/cluster/heartbeat.h).
#include <catch2/catch.hpp>

#include <string>

#include "cluster/heartbeat.h"

using namespace dtrbd::cluster;

namespace {

Keys keys_for(const std::string &secret)
{
	return derive_keys(std::span<const uint8_t>(
		reinterpret_cast<const uint8_t *>(secret.data()), secret.size()));
}

Heartbeat sample(size_t n = 2)
{
	Heartbeat hb;
	hb.link = 1;
	hb.sender = "p1";
	hb.receiver = "p2";
	hb.boot_id = 0x1111222233334444ull;
	hb.seq = 7;
	hb.echo = 0xaaaabbbbccccddddull;
	for (size_t i = 0; i < n; i++) {
		ResourceSummary s;
		s.name = "vm" + std::to_string(i + 1);
		s.minor = static_cast<uint32_t>(i + 1);
		s.role = ResourceSummary::Role::Primary;
		s.disk = ResourceSummary::Disk::UpToDate;
		s.conn = ResourceSummary::Conn::Connected;
		s.attached = true;
		s.frozen = i % 2;
		s.domain_running = true;
		s.admin_up = i % 2 == 0;
		s.eligible = true;
		s.handing_over = i % 2;
		s.placement_seq = 42 + i;
		s.placement_host = "p1";
		s.phase = "running";
		hb.summaries.push_back(s);
	}
	return hb;
}

void remac(std::vector<uint8_t> &d, const Keys &k)
{
	auto m = dtrbd::cluster::mac(k.heartbeat, std::span<const uint8_t>(d).first(d.size() - 32));
	std::copy(m.begin(), m.end(), d.end() - 32);
}

} // namespace

TEST_CASE("heartbeat round trip", "[heartbeat]")
{
	Keys k = keys_for("s3cret");
	for (size_t n : {size_t{0}, size_t{1}, kMaxSummaries}) {
		Heartbeat hb = sample(n);
		hb.key_id = k.key_id;
		std::vector<uint8_t> d = encode_heartbeat(hb, k);
		REQUIRE(d.size() == kHeartbeatHeader + n * kSummaryEntry + kMacSize);
		REQUIRE(d.size() <= kMaxHeartbeat);
		Reject why = Reject::Malformed;
		auto got = decode_heartbeat(d, k, &why);
		REQUIRE(why == Reject::None);
		REQUIRE(got);
		CHECK(got->link == 1);
		CHECK(got->sender == "p1");
		CHECK(got->receiver == "p2");
		CHECK(got->boot_id == hb.boot_id);
		CHECK(got->seq == 7);
		CHECK(got->echo == hb.echo);
		REQUIRE(got->summaries == hb.summaries);
	}
}

TEST_CASE("heartbeat encoder refuses what it cannot encode", "[heartbeat]")
{
	Keys k = keys_for("s");
	Heartbeat hb = sample(kMaxSummaries + 1);
	CHECK(encode_heartbeat(hb, k).empty());
	hb = sample(1);
	hb.sender = std::string(32, 'a');	// one byte too long
	CHECK(encode_heartbeat(hb, k).empty());
	hb = sample(1);
	hb.summaries[0].name = "bad name";
	CHECK(encode_heartbeat(hb, k).empty());
	hb = sample(1);
	hb.seq = 0;
	CHECK(encode_heartbeat(hb, k).empty());
	// A long phase is truncated, not refused.
	hb = sample(1);
	hb.summaries[0].phase = "a very long phase text";
	auto d = encode_heartbeat(hb, k);
	Reject why;
	auto got = decode_heartbeat(d, k, &why);
	REQUIRE(got);
	CHECK(got->summaries[0].phase == "a very long pha");
}

TEST_CASE("heartbeat decoder rejects every malformed datagram", "[heartbeat]")
{
	Keys k = keys_for("s3cret");
	std::vector<uint8_t> good = encode_heartbeat(sample(2), k);
	Reject why = Reject::None;

	SECTION("every truncation") {
		for (size_t len = 0; len < good.size(); len++) {
			std::vector<uint8_t> d(good.begin(), good.begin() + len);
			REQUIRE_FALSE(decode_heartbeat(d, k, &why));
			REQUIRE(why != Reject::None);
		}
	}
	SECTION("trailing garbage") {
		auto d = good;
		d.push_back(0);
		REQUIRE_FALSE(decode_heartbeat(d, k, &why));
		CHECK(why == Reject::Malformed);
	}
	SECTION("bad magic") {
		auto d = good;
		d[0] ^= 1;
		REQUIRE_FALSE(decode_heartbeat(d, k, &why));
		CHECK(why == Reject::BadMagic);
	}
	SECTION("wrong version") {
		auto d = good;
		d[4] = 2;
		REQUIRE_FALSE(decode_heartbeat(d, k, &why));
		CHECK(why == Reject::BadVersion);
	}
	SECTION("every flipped bit after the version is caught by the MAC") {
		for (size_t i = 8; i < good.size(); i++) {
			auto d = good;
			d[i] ^= 0x10;
			REQUIRE_FALSE(decode_heartbeat(d, k, &why));
			REQUIRE((why == Reject::BadMac || why == Reject::OtherSecret));
		}
	}
	SECTION("count field lies") {
		auto d = good;
		d[6] = 3;
		REQUIRE_FALSE(decode_heartbeat(d, k, &why));
		CHECK(why == Reject::Truncated);
		d[6] = static_cast<uint8_t>(kMaxSummaries + 1);
		REQUIRE_FALSE(decode_heartbeat(d, k, &why));
		CHECK(why == Reject::Malformed);
	}
	SECTION("another secret") {
		Keys other = keys_for("other");
		REQUIRE_FALSE(decode_heartbeat(good, other, &why));
		CHECK(why == Reject::OtherSecret);
	}
	SECTION("forged: right key id, MAC made without the secret") {
		Keys forger = keys_for("guess");
		forger.key_id = k.key_id;
		Heartbeat hb = sample(2);
		auto d = encode_heartbeat(hb, forger);
		REQUIRE_FALSE(decode_heartbeat(d, k, &why));
		CHECK(why == Reject::BadMac);
	}
	SECTION("authenticated but bad fields") {
		// Field offsets from protocol.md; each change re-MACed so
		// only the field check can catch it.
		auto check = [&](size_t off, uint8_t v) {
			auto d = good;
			d[off] = v;
			remac(d, k);
			REQUIRE_FALSE(decode_heartbeat(d, k, &why));
			CHECK(why == Reject::Malformed);
		};
		check(7, 1);			// flags
		check(16, 0);			// empty sender
		check(16 + 5, 'x');		// garbage after the sender's NUL
		check(48 + 2, ' ');		// receiver "p2 " has a space
		check(104 + 36, 3);		// role
		check(104 + 37, 5);		// disk
		check(104 + 38, 4);		// conn
		check(104 + 39, 0x40);		// unknown summary flag
		check(104 + 80, 0x07);		// unprintable phase
		auto d = good;			// boot id 0
		std::fill(d.begin() + 80, d.begin() + 88, 0);
		remac(d, k);
		REQUIRE_FALSE(decode_heartbeat(d, k, &why));
		CHECK(why == Reject::Malformed);
	}
}

TEST_CASE("ReplayGuard: proof of life needs our boot echoed and a fresh seq", "[heartbeat]")
{
	const uint64_t us = 100, peer = 200;
	ReplayGuard g;
	Heartbeat hb = sample(0);
	hb.boot_id = peer;

	// The peer does not know us yet: no proof, but we learn its boot.
	hb.seq = 1;
	hb.echo = 0;
	CHECK(g.check(hb, us).reject == Reject::StaleEcho);
	CHECK(g.echo() == peer);
	CHECK(g.confirmed_boot() == 0);

	hb.seq = 2;
	hb.echo = us;
	auto v = g.check(hb, us);
	CHECK(v.reject == Reject::None);
	CHECK_FALSE(v.restarted);
	CHECK(g.confirmed_boot() == peer);

	SECTION("replay of the same seq") {
		CHECK(g.check(hb, us).reject == Reject::Replayed);
	}
	SECTION("reordering inside the window is accepted once") {
		hb.seq = 10;
		CHECK(g.check(hb, us).reject == Reject::None);
		hb.seq = 5;
		CHECK(g.check(hb, us).reject == Reject::None);
		CHECK(g.check(hb, us).reject == Reject::Replayed);
		hb.seq = 2;
		CHECK(g.check(hb, us).reject == Reject::Replayed);
	}
	SECTION("older than the window") {
		hb.seq = 200;
		CHECK(g.check(hb, us).reject == Reject::None);
		hb.seq = 100;
		CHECK(g.check(hb, us).reject == Reject::Replayed);
	}
	SECTION("a recording from before our start (old echo)") {
		hb.seq = 3;
		hb.echo = 99;
		CHECK(g.check(hb, us).reject == Reject::StaleEcho);
		CHECK(g.echo() == peer);	// still echoes the confirmed boot
	}
	SECTION("reflected: our own boot id as sender") {
		hb.boot_id = us;
		hb.seq = 3;
		CHECK(g.check(hb, us).reject == Reject::Reflected);
	}
	SECTION("peer restart supersedes the old boot for good") {
		Heartbeat nb = hb;
		nb.boot_id = 300;
		nb.seq = 1;
		nb.echo = 0;
		CHECK(g.check(nb, us).reject == Reject::StaleEcho);
		CHECK(g.echo() == peer);	// confirmed boot still echoed
		nb.seq = 2;
		nb.echo = us;
		v = g.check(nb, us);
		CHECK(v.reject == Reject::None);
		CHECK(v.restarted);
		CHECK(v.old_boot == peer);
		CHECK(g.confirmed_boot() == 300);
		// The old boot with a fresh-looking seq and the right echo
		// (e.g. a datagram delayed in the network): refused forever.
		hb.seq = 1000;
		CHECK(g.check(hb, us).reject == Reject::Superseded);
		hb.echo = 0;
		CHECK(g.check(hb, us).reject == Reject::Superseded);
		CHECK(g.echo() == 300);
	}
}
