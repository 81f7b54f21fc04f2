// SPDX-License-Identifier: GPL-2.0
// cmd_connect end to end over real loopback TCP: two "hosts" (127.0.0.1
// and 127.0.0.2, same port) each run the command against their own fake
// kernel, exactly as two hosts run it with --local/--peer swapped.
#include <catch2/catch.hpp>

#include <arpa/inet.h>

#include <future>
#include <sstream>

#include "cli/commands.h"
#include "dtrbd_protocol.h"
#include "fake_kernel.h"

using namespace dtrbd;
using dtrbd::test::FakeKernel;

namespace {

// A TCP port that is free on 127.0.0.1 right now.
uint16_t free_port()
{
	UniqueFd s(socket(AF_INET, SOCK_STREAM, 0));
	sockaddr_in a{};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(a);
	REQUIRE(bind(s.get(), reinterpret_cast<sockaddr *>(&a), sizeof(a)) == 0);
	REQUIRE(getsockname(s.get(), reinterpret_cast<sockaddr *>(&a), &len) == 0);
	return ntohs(a.sin_port);
}

ConnectOptions options(const char *local, const char *peer, uint16_t port,
		       const char *name)
{
	ConnectOptions o;
	o.minor = 0;
	o.local = *parse_endpoint(str(local, ':', port), "--local");
	o.peer = *parse_endpoint(str(peer, ':', port), "--peer");
	o.protocol = DTRBD_PROT_C;
	o.timeout_s = 5;
	o.ping_ms = 1000;
	o.peer_timeout_ms = 5000;
	o.node_name = name;
	return o;
}

struct Side {
	FakeKernel k;
	std::ostringstream out;
	ConnectOptions o;
	Status st;
};

// Run both sides' connect at once; each finishes on its own thread.
void run_pair(Side &a, Side &b)
{
	auto fa = std::async(std::launch::async,
			     [&] { return cmd_connect(a.k, a.o, a.out); });
	auto fb = std::async(std::launch::async,
			     [&] { return cmd_connect(b.k, b.o, b.out); });
	a.st = fa.get();
	b.st = fb.get();
}

struct Pair {
	Side a, b;
	explicit Pair(uint64_t size_a = 1 << 30, uint64_t size_b = 1 << 30)
	{
		uint16_t port = free_port();
		a.o = options("127.0.0.1", "127.0.0.2", port, "alpha");
		b.o = options("127.0.0.2", "127.0.0.1", port, "beta");
		a.k.add_device(0, size_a);
		b.k.add_device(0, size_b);
	}
};

} // namespace

TEST_CASE("connect: both sides hand a connected, blocking TCP socket to the kernel",
	  "[connect]")
{
	Pair p;
	run_pair(p.a, p.b);
	INFO(p.a.st.message() << " / " << p.b.st.message());
	REQUIRE(p.a.st.ok());
	REQUIRE(p.b.st.ok());
	for (Side *s : {&p.a, &p.b}) {
		REQUIRE(s->k.connect_req);
		CHECK(s->k.subscribed_before_connect);
		CHECK(s->k.handed_is_stream);
		CHECK(s->k.handed_nodelay);
		CHECK(s->k.handed_blocking);
		CHECK(s->k.handed_connected);
		CHECK(s->k.connect_req->protocol == DTRBD_PROT_C);
		CHECK(s->k.connect_req->proto_version == DTRBD_PROTO_MAX);
		CHECK(s->k.connect_req->features == DTRBD_FEATURES_KNOWN);
		CHECK(s->k.connect_req->ping_ms == 1000);
		CHECK(s->k.connect_req->timeout_ms == 5000);
	}
	// exactly one side holds the tie-break: the lower endpoint, which listened
	CHECK(p.a.k.connect_req->tiebreak);
	CHECK_FALSE(p.b.k.connect_req->tiebreak);
	CHECK(p.a.k.connect_req->peer_name == "beta");
	CHECK(p.b.k.connect_req->peer_name == "alpha");
	CHECK(p.a.k.connect_req->peer_addr == p.a.o.peer.str());
	CHECK(p.a.out.str() == str("dtrbd0: connected to beta (", p.a.o.peer.str(),
				   "), protocol C\n"));

	// The two handed sockets are the two ends of one connection.
	const char ping[] = "x";
	char got = 0;
	REQUIRE(send(p.a.k.handed.get(), ping, 1, 0) == 1);
	REQUIRE(recv(p.b.k.handed.get(), &got, 1, 0) == 1);
	CHECK(got == 'x');
}

TEST_CASE("connect: different device sizes are refused before the handover", "[connect]")
{
	Pair p(1 << 30, 2u << 30);
	run_pair(p.a, p.b);
	REQUIRE_FALSE(p.a.st.ok());
	REQUIRE_FALSE(p.b.st.ok());
	CHECK_THAT(p.a.st.message(), Catch::Contains("size"));
	CHECK_THAT(p.b.st.message(), Catch::Contains("size"));
	CHECK_FALSE(p.a.k.connect_req);
	CHECK_FALSE(p.b.k.connect_req);
}

TEST_CASE("connect: the kernel's reason is the error when it drops the connection",
	  "[connect]")
{
	Pair p;
	p.a.k.on_connect = FakeKernel::OnConnect::kReportDisconnected;
	p.a.k.disconnect_reason = "split brain: both sides changed the data";
	run_pair(p.a, p.b);
	REQUIRE_FALSE(p.a.st.ok());
	CHECK(p.a.st.message() == "split brain: both sides changed the data");
	CHECK(p.b.st.ok());
}

TEST_CASE("connect: a kernel that never reports the connection up is disconnected again",
	  "[connect]")
{
	Pair p;
	p.a.o.timeout_s = 1;
	p.b.o.timeout_s = 1;
	p.a.k.on_connect = FakeKernel::OnConnect::kSilent;
	run_pair(p.a, p.b);
	REQUIRE_FALSE(p.a.st.ok());
	CHECK(p.a.st.errnum() == ETIMEDOUT);
	CHECK_THAT(p.a.st.message(),
		   Catch::StartsWith("dtrbd0 did not reach the connected state within 1 s"));
	CHECK_THAT(p.a.st.message(), Catch::EndsWith("; disconnected it again"));
	CHECK(p.a.k.calls.back() == "disconnect 0");
}

TEST_CASE("connect: nobody at the peer address times out with the last error",
	  "[connect]")
{
	Side s;
	uint16_t port = free_port();
	// 127.0.0.2 > 127.0.0.1: this side connects, and nothing listens
	s.o = options("127.0.0.2", "127.0.0.1", port, "beta");
	s.o.timeout_s = 1;
	s.k.add_device(0, 1 << 30);
	Status st = cmd_connect(s.k, s.o, s.out);
	REQUIRE_FALSE(st.ok());
	CHECK(st.errnum() == ETIMEDOUT);
	CHECK_THAT(st.message(), Catch::StartsWith(str("could not connect to 127.0.0.1:", port,
							" within 1 s (last error: ")));
	CHECK_FALSE(s.k.connect_req);
}

TEST_CASE("connect: refused for a device that is not attached or already connected",
	  "[connect]")
{
	Side s;
	s.o = options("127.0.0.1", "127.0.0.2", free_port(), "alpha");
	Status st = cmd_connect(s.k, s.o, s.out);
	CHECK(st.message() == "dtrbd0 is not attached; run dtrbdctl attach 0 --disk PATH first");

	s.k.add_device(0, 1 << 30);
	s.k.devices[0].conn = DTRBD_CONN_CONNECTED;
	s.k.devices[0].peer_addr = "127.0.0.2:7789";
	st = cmd_connect(s.k, s.o, s.out);
	CHECK(st.errnum() == EISCONN);
	CHECK(st.message() ==
	      "dtrbd0 is already connected (peer 127.0.0.2:7789); run dtrbdctl disconnect 0 first");
	CHECK_FALSE(s.k.connect_req);
}

TEST_CASE("connect: split-brain and resync options reach the kernel only when given",
	  "[connect]")
{
	Pair p;
	p.a.o.discard_my_data = true;
	p.a.o.csum_resync = true;
	p.a.o.after_sb = DTRBD_SB_DISCARD_ZERO_CHANGES;
	p.a.o.resync_rate_kib = 800;
	p.b.o.resync_rate_kib = 0;			// "dynamic" given explicitly
	p.a.o.on_peer_loss = DTRBD_OPL_FREEZE;
	run_pair(p.a, p.b);
	INFO(p.a.st.message() << " / " << p.b.st.message());
	REQUIRE(p.a.st.ok());
	REQUIRE(p.b.st.ok());
	CHECK(p.a.k.connect_req->discard_my_data);
	CHECK(p.a.k.connect_req->csum_resync);
	CHECK_FALSE(p.b.k.connect_req->csum_resync);
	CHECK(p.a.k.connect_req->after_sb == DTRBD_SB_DISCARD_ZERO_CHANGES);
	CHECK(p.a.k.connect_req->resync_rate_kib == 800u);
	CHECK_FALSE(p.b.k.connect_req->discard_my_data);
	CHECK_FALSE(p.b.k.connect_req->after_sb);
	CHECK(p.b.k.connect_req->resync_rate_kib == 0u);
	CHECK(p.a.k.connect_req->on_peer_loss == DTRBD_OPL_FREEZE);
	CHECK_FALSE(p.b.k.connect_req->on_peer_loss);

	Pair q;
	run_pair(q.a, q.b);
	REQUIRE(q.a.st.ok());
	CHECK_FALSE(q.a.k.connect_req->resync_rate_kib);
	CHECK_FALSE(q.a.k.connect_req->after_sb);
}
