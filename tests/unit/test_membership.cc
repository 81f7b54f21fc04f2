// SPDX-License-Identifier: GPL-2.0
// Membership under simulated time with a fake network (ctl/cluster/membership.h).
#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <random>
#include <string>

#include "cluster/membership.h"

using namespace dtrbd;
using namespace dtrbd::cluster;
using namespace std::chrono_literals;

namespace {

Keys test_keys()
{
	std::string s = "cluster secret";
	return derive_keys(std::span<const uint8_t>(reinterpret_cast<const uint8_t *>(s.data()), s.size()));
}

// Every datagram sent is queued with a delivery time; links can be cut.
struct Net {
	struct Packet {
		Clock::time_point at;
		std::string to_host;
		size_t link;
		std::vector<uint8_t> data;
	};
	FakeClock &clock;
	std::map<std::string, std::string> host_of;	// address -> host
	std::map<size_t, bool> link_up;
	Clock::duration delay = 1ms;
	std::deque<Packet> queue;
	std::vector<Packet> sent_log;
	explicit Net(FakeClock &c) : clock(c) {}
};

struct NetTransport final : Transport {
	Net &net;
	explicit NetTransport(Net &n) : net(n) {}
	Status send(size_t link, const std::string &address, uint16_t, std::span<const uint8_t> d) override
	{
		Net::Packet p{net.clock.now() + net.delay, net.host_of.at(address), link, {d.begin(), d.end()}};
		net.sent_log.push_back(p);
		if (net.link_up.count(link) && !net.link_up[link])
			return {};	// lost on the wire
		net.queue.push_back(std::move(p));
		return {};
	}
};

struct Node {
	std::string name;
	NetTransport transport;
	Membership m;
	std::vector<Event> events;
	Node(const std::string &n, const std::string &peer, Net &net, const Clock &clock, uint64_t boot,
	     Clock::duration deadtime = 1000ms)
		: name(n), transport(net),
		  m(config(n, peer, deadtime), test_keys(), boot, clock, transport) {}
	static MembershipConfig config(const std::string &self, const std::string &peer, Clock::duration dt)
	{
		MembershipConfig c;
		c.self = self;
		c.links = 2;
		c.peers = {{peer, {"10.0.0." + peer.substr(1), "10.1.0." + peer.substr(1)}}};
		c.deadtime = dt;
		return c;
	}
	template <typename T> int count() const
	{
		int n = 0;
		for (const Event &e : events)
			n += std::holds_alternative<T>(e);
		return n;
	}
};

// Runs both nodes until `until`, in 1 ms steps, delivering datagrams.
struct Sim {
	FakeClock clock;
	Net net{clock};
	std::map<std::string, Node *> nodes;
	void add(Node &n) { nodes[n.name] = &n; }
	void run(Clock::duration d)
	{
		auto end = clock.now() + d;
		while (clock.now() < end) {
			clock.advance(1ms);
			while (!net.queue.empty() && net.queue.front().at <= clock.now()) {
				Net::Packet p = std::move(net.queue.front());
				net.queue.pop_front();
				auto it = nodes.find(p.to_host);
				if (it == nodes.end())
					continue;	// host is off
				auto ev = it->second->m.receive(p.link, p.data);
				it->second->events.insert(it->second->events.end(), ev.begin(), ev.end());
			}
			for (auto &[name, n] : nodes) {
				if (clock.now() >= n->m.next_wakeup()) {
					auto ev = n->m.tick();
					n->events.insert(n->events.end(), ev.begin(), ev.end());
				}
			}
		}
	}
};

struct Pair {
	Sim sim;
	Node p1{"p1", "p2", sim.net, sim.clock, 0x1001};
	Node p2{"p2", "p1", sim.net, sim.clock, 0x2002};
	Pair()
	{
		sim.net.host_of = {{"10.0.0.1", "p1"}, {"10.1.0.1", "p1"}, {"10.0.0.2", "p2"}, {"10.1.0.2", "p2"}};
		sim.add(p1);
		sim.add(p2);
	}
};

} // namespace

TEST_CASE("membership: two hosts find each other within two intervals", "[membership]")
{
	Pair t;
	t.sim.run(450ms);
	for (Node *n : {&t.p1, &t.p2}) {
		INFO(n->name);
		REQUIRE(n->count<PeerAlive>() == 1);
		REQUIRE(n->count<LinkUp>() == 2);
		REQUIRE(n->count<PeerDead>() == 0);
	}
	const PeerState *p = t.p1.m.peer("p2");
	REQUIRE(p);
	CHECK(p->alive);
	CHECK(p->boot_id == 0x2002);
	CHECK(t.p1.m.counters().accepted > 0);
	CHECK(t.p1.m.counters().rejected.count(Reject::BadMac) == 0);
}

TEST_CASE("membership: summaries reach the peer and changes are reported", "[membership]")
{
	Pair t;
	ResourceSummary s;
	s.name = "vm1";
	s.minor = 1;
	s.role = ResourceSummary::Role::Primary;
	s.phase = "running";
	t.p1.m.set_summaries({s});
	t.sim.run(500ms);
	REQUIRE(t.p2.count<SummaryChanged>() == 1);
	CHECK(t.p2.m.peer("p1")->summaries.at("vm1") == s);
	s.frozen = true;
	t.p1.m.set_summaries({s});
	t.sim.run(300ms);
	CHECK(t.p2.count<SummaryChanged>() == 2);
	CHECK(t.p2.m.peer("p1")->summaries.at("vm1").frozen);
}

TEST_CASE("membership: more summaries than fit one datagram are spread", "[membership]")
{
	Pair t;
	std::vector<ResourceSummary> v;
	for (int i = 0; i < 30; i++) {
		ResourceSummary s;
		s.name = "r" + std::to_string(i);
		s.minor = i;
		v.push_back(s);
	}
	t.p1.m.set_summaries(v);
	t.sim.run(500ms);
	CHECK(t.p2.m.peer("p1")->summaries.size() == 30);
}

TEST_CASE("membership: one link down is a warning, never a death", "[membership]")
{
	Pair t;
	t.sim.run(500ms);
	t.sim.net.link_up[1] = false;
	t.sim.run(5s);
	for (Node *n : {&t.p1, &t.p2}) {
		INFO(n->name);
		REQUIRE(n->count<PeerDead>() == 0);
		REQUIRE(n->count<LinkDown>() == 1);
		for (const Event &e : n->events)
			if (auto *d = std::get_if<LinkDown>(&e)) {
				CHECK(d->link == 1);
				CHECK(d->peer_alive);
			}
	}
	t.sim.net.link_up[1] = true;
	t.sim.run(500ms);
	CHECK(t.p1.count<LinkUp>() == 3);
	CHECK(t.p1.m.peer("p2")->links[1].up);
}

TEST_CASE("membership: all links silent past deadtime is death, not before", "[membership]")
{
	Pair t;
	t.sim.run(500ms);
	t.sim.nodes.erase("p2");	// p2 loses power: sends and hears nothing
	auto last = t.p1.m.peer("p2")->last_heard;
	t.sim.run(999ms - (t.sim.clock.now() - last));
	CHECK(t.p1.count<PeerDead>() == 0);
	CHECK(t.p1.m.peer("p2")->alive);
	t.sim.run(5ms);
	REQUIRE(t.p1.count<PeerDead>() == 1);
	CHECK_FALSE(t.p1.m.peer("p2")->alive);
	CHECK(t.p1.count<LinkDown>() == 2);
	// The order: links first, then the death.
	CHECK(std::holds_alternative<PeerDead>(t.p1.events.back()));
	// Detected within deadtime + one tick of the last heartbeat.
	CHECK(t.sim.clock.now() - last <= 1005ms);
}

TEST_CASE("membership: jitter below deadtime never kills", "[membership]")
{
	Pair t;
	std::mt19937 rng(7);
	t.sim.run(500ms);
	// Delays up to 700 ms and 50 % loss on each link: with 200 ms
	// heartbeats on two links some datagram always lands within 1 s.
	for (int i = 0; i < 300; i++) {
		t.sim.net.delay = std::chrono::milliseconds(rng() % 700);
		t.sim.net.link_up[0] = rng() % 2;
		t.sim.net.link_up[1] = rng() % 2 || !t.sim.net.link_up[0];
		t.sim.run(100ms);
	}
	CHECK(t.p1.count<PeerDead>() == 0);
	CHECK(t.p2.count<PeerDead>() == 0);
}

TEST_CASE("membership: a restarted peer daemon is detected", "[membership]")
{
	Pair t;
	ResourceSummary s;
	s.name = "vm1";
	t.p2.m.set_summaries({s});
	t.sim.run(500ms);
	REQUIRE(t.p1.m.peer("p2")->summaries.count("vm1"));

	// p2's daemon is replaced by a new one (new boot id) within deadtime.
	t.sim.nodes.erase("p2");
	Node p2b{"p2", "p1", t.sim.net, t.sim.clock, 0x3003};
	t.sim.add(p2b);
	t.sim.run(600ms);
	REQUIRE(t.p1.count<PeerRestarted>() == 1);
	CHECK(t.p1.count<PeerDead>() == 0);
	for (const Event &e : t.p1.events)
		if (auto *r = std::get_if<PeerRestarted>(&e)) {
			CHECK(r->old_boot == 0x2002);
			CHECK(r->new_boot == 0x3003);
		}
	CHECK(t.p1.m.peer("p2")->boot_id == 0x3003);
	CHECK(t.p1.m.peer("p2")->summaries.empty());	// old boot's summaries dropped
	CHECK(p2b.count<PeerAlive>() == 1);

	// The old daemon's datagrams, delayed or replayed, change nothing
	// (only datagrams already delivered once: a queued one is news).
	std::vector<Net::Packet> sent = t.sim.net.sent_log;
	t.sim.run(5ms);
	uint64_t acc = t.p1.m.counters().accepted;
	for (const Net::Packet &p : sent)
		if (p.to_host == "p1")
			(void)t.p1.m.receive(p.link, p.data);
	CHECK(t.p1.m.counters().rejected.at(Reject::Superseded) > 0);
	CHECK(t.p1.m.counters().rejected.at(Reject::Replayed) > 0);
	CHECK(t.p1.m.counters().accepted == acc);
	CHECK(t.p1.m.peer("p2")->boot_id == 0x3003);
}

TEST_CASE("membership: forged, replayed and reflected datagrams change nothing", "[membership]")
{
	Pair t;
	std::vector<std::string> log;
	t.p1.m.set_log([&](const std::string &l) { log.push_back(l); });
	t.sim.run(500ms);
	t.sim.nodes.erase("p2");
	t.sim.run(2s);
	REQUIRE_FALSE(t.p1.m.peer("p2")->alive);
	std::vector<Net::Packet> to_p1, from_p1;
	for (const Net::Packet &p : t.sim.net.sent_log)
		(p.to_host == "p1" ? to_p1 : from_p1).push_back(p);
	REQUIRE(!to_p1.empty());
	size_t events = t.p1.events.size();
	size_t lines = log.size();

	// Replays of everything p2 ever sent.
	for (const Net::Packet &p : to_p1)
		CHECK(t.p1.m.receive(p.link, p.data).empty());
	// Forgery: a valid-looking datagram without the secret.
	Heartbeat hb;
	hb.sender = "p2";
	hb.receiver = "p1";
	hb.boot_id = 0x2002;
	hb.seq = 1000000;
	hb.echo = 0x1001;
	std::string guess = "guess";
	Keys forged = derive_keys(std::span<const uint8_t>(reinterpret_cast<const uint8_t *>(guess.data()), guess.size()));
	forged.key_id = test_keys().key_id;
	CHECK(t.p1.m.receive(0, encode_heartbeat(hb, forged)).empty());
	// Reflection: p1's own datagrams sent back to it.
	for (const Net::Packet &p : from_p1)
		CHECK(t.p1.m.receive(p.link, p.data).empty());
	// Truncated.
	auto cut = to_p1.back().data;
	cut.resize(cut.size() - 1);
	CHECK(t.p1.m.receive(0, cut).empty());
	// Sent on link 0, delivered on link 1.
	hb.seq = 1000001;
	CHECK(t.p1.m.receive(1, encode_heartbeat(hb, test_keys())).empty());

	CHECK_FALSE(t.p1.m.peer("p2")->alive);
	CHECK(t.p1.events.size() == events);
	const Counters &c = t.p1.m.counters();
	CHECK(c.rejected.at(Reject::Replayed) > 0);
	CHECK(c.rejected.at(Reject::BadMac) == 1);
	CHECK(c.rejected.at(Reject::Reflected) == from_p1.size());
	CHECK(c.rejected.at(Reject::Truncated) == 1);
	CHECK(c.rejected.at(Reject::WrongLink) == 1);
	// Logged, but rate-limited: one line per kind, not one per datagram.
	CHECK(log.size() - lines <= 5);
	CHECK(log.size() - lines >= 4);
}

TEST_CASE("membership: a datagram under another secret is recorded as a hint and changes nothing", "[membership]")
{
	Pair t;
	t.sim.run(500ms);
	t.sim.nodes.erase("p2");
	t.sim.run(2s);
	REQUIRE_FALSE(t.p1.m.peer("p2")->alive);
	CHECK_FALSE(t.p1.m.last_other_secret());
	Heartbeat hb;
	hb.sender = "p2";
	hb.receiver = "p1";
	hb.boot_id = 0x2002;
	hb.seq = 1000000;
	hb.echo = 0x1001;
	std::string other = "another cluster secret";
	Keys k = derive_keys(std::span<const uint8_t>(reinterpret_cast<const uint8_t *>(other.data()), other.size()));
	size_t events = t.p1.events.size();
	CHECK(t.p1.m.receive(0, encode_heartbeat(hb, k)).empty());
	REQUIRE(t.p1.m.last_other_secret());
	CHECK(*t.p1.m.last_other_secret() == t.sim.clock.now());
	CHECK(t.p1.m.counters().rejected.at(Reject::OtherSecret) == 1);
	CHECK_FALSE(t.p1.m.peer("p2")->alive);
	CHECK(t.p1.events.size() == events);
}

TEST_CASE("membership: configuration is checked", "[membership]")
{
	MembershipConfig c = Node::config("p1", "p2", 1000ms);
	CHECK_FALSE(check_config(c));
	c.deadtime = 300ms;
	CHECK(check_config(c)->find("twice the heartbeat interval") != std::string::npos);
	c = Node::config("p1", "p2", 1000ms);
	c.peers[0].addresses.pop_back();
	CHECK(check_config(c)->find("same number") != std::string::npos);
	c = Node::config("p1", "p1", 1000ms);
	CHECK(check_config(c)->find("its own peer") != std::string::npos);
}

#include "cluster/glue.h"

TEST_CASE("glue: arbiter summaries survive the wire", "[membership]")
{
	arbiter::Summary a;
	a.attached = true;
	a.role = arbiter::Role::Secondary;
	a.disk = arbiter::Disk::Outdated;
	a.conn = arbiter::Conn::Connecting;
	a.frozen = true;
	a.domain_running = false;
	a.admin_up = false;
	a.eligible = true;
	a.handing_over = true;
	a.placement_seq = 9;
	a.placement_host = "p2";
	a.phase = "frozen";
	Heartbeat hb;
	hb.sender = "p1";
	hb.receiver = "p2";
	hb.boot_id = 1;
	hb.seq = 1;
	hb.summaries = {from_arbiter("vm1", 1, a)};
	Reject why;
	auto got = decode_heartbeat(encode_heartbeat(hb, test_keys()), test_keys(), &why);
	REQUIRE(got);
	arbiter::Summary b = to_arbiter(got->summaries.at(0));
	CHECK(b.attached == a.attached);
	CHECK(b.role == a.role);
	CHECK(b.disk == a.disk);
	CHECK(b.conn == a.conn);
	CHECK(b.frozen == a.frozen);
	CHECK(b.domain_running == a.domain_running);
	CHECK(b.admin_up == a.admin_up);
	CHECK(b.eligible == a.eligible);
	CHECK(b.handing_over == a.handing_over);
	CHECK(b.placement_seq == a.placement_seq);
	CHECK(b.placement_host == a.placement_host);
	CHECK(b.phase == a.phase);
}
