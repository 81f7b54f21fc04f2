// SPDX-License-Identifier: GPL-2.0
// The peer control channel (peer/peerctl.h): the signed lines, and a real
// PeerControl server on loopback answering ask_peer; the Children runner.
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include <nlohmann/json.hpp>

#include "config/config.h"
#include "daemon/children.h"
#include "daemon/loop.h"
#include "daemon/peer_control.h"
#include "peer/peer_client.h"
#include "peer/peerctl.h"

using namespace dtrbd;
using namespace dtrbd::peerctl;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::vector<uint8_t> bytes(const std::string &s) { return {s.begin(), s.end()}; }

const std::vector<uint8_t> kSecret = bytes("0123456789abcdef0123456789abcdef");
const std::string kNonceA(64, 'a'), kNonceB(64, 'b');

template <typename F>
auto serve_while(daemon::Loop &loop, F client)
{
	std::atomic<bool> done{false};
	decltype(client()) result = Status::error("not run");
	std::thread t([&] {
		result = client();
		done = true;
	});
	while (!done)
		REQUIRE(loop.run_once(20ms));
	t.join();
	return result;
}

// p1 on 127.0.0.1, p2 on 127.0.0.2, a control port of this process's own.
config::Config loopback_config(const std::vector<uint8_t> &secret)
{
	auto l = config::parse("secret-file = \"/nonexistent\"\n"
			       "[hosts.p1]\naddress = \"127.0.0.1\"\n"
			       "[hosts.p2]\naddress = \"127.0.0.2\"\n",
			       "/etc/dtrbd/dtrbd.conf", {.read_secret = false});
	REQUIRE(l.config);
	config::Config c = *l.config;
	c.secret = secret;
	c.control_port = static_cast<uint16_t>(20000 + getpid() % 20000);
	return c;
}

} // namespace

TEST_CASE("peerctl: a signed request verifies; any change to it does not", "[peerctl]")
{
	Hello h{"p2", kNonceA};
	Request r{"p1", kNonceB, R"({"cmd":"provision-check"})", {}};
	auto line = encode_request(kSecret, h, r);
	auto got = decode_request(line);
	REQUIRE(got);
	CHECK(got->body == r.body);
	CHECK(verify_request(kSecret, h, *got));
	// Another secret, another server nonce (a replay), another host, another body.
	CHECK_FALSE(verify_request(bytes("another secret of 32 bytes......"), h, *got));
	CHECK_FALSE(verify_request(kSecret, Hello{"p2", std::string(64, 'c')}, *got));
	CHECK_FALSE(verify_request(kSecret, Hello{"p3", kNonceA}, *got));
	Request changed = *got;
	changed.body = R"({"cmd":"provision-remove"})";
	CHECK_FALSE(verify_request(kSecret, h, changed));
	changed = *got;
	changed.host = "p3";
	CHECK_FALSE(verify_request(kSecret, h, changed));
}

TEST_CASE("peerctl: malformed lines are refused with a sentence", "[peerctl]")
{
	CHECK(decode_request("nope").status().message() == "the request is not a JSON object");
	CHECK(decode_request(R"({"v":2})").status().message().find("version 1") != std::string::npos);
	CHECK(decode_request(R"({"v":1,"host":"../x","nonce":"00"})").status().message() ==
	      "the request names no valid host");
	CHECK(decode_request(json{{"v", 1}, {"host", "p1"}, {"nonce", "00"}}.dump())
		      .status().message() == "the request's nonce is not 64 hex digits");
	CHECK(decode_request(json{{"v", 1}, {"host", "p1"}, {"nonce", kNonceA}, {"body", "{}"},
				  {"mac", "xyz"}}.dump())
		      .status().message() == "the request's mac is not 64 hex digits");
	CHECK(decode_hello(json{{"v", 1}, {"host", "p2"}, {"nonce", kNonceA}}.dump()));
	CHECK(!decode_hello(json{{"v", 1}, {"host", "p2"}}.dump()));
}

TEST_CASE("peerctl: a response is bound to its request", "[peerctl]")
{
	Hello h{"p2", kNonceA};
	Request r{"p1", kNonceB, "{}", {}};
	auto line = encode_response(kSecret, h, r, R"({"ok":true})");
	auto b = decode_response(kSecret, h, r, line, "p2");
	REQUIRE(b);
	CHECK(*b == R"({"ok":true})");
	Request other{"p1", std::string(64, 'c'), "{}", {}};
	auto bad = decode_response(kSecret, h, other, line, "p2");
	REQUIRE(!bad);
	CHECK(bad.status().message().find("is not signed with this cluster's secret") !=
	      std::string::npos);
	auto refused = decode_response(kSecret, h, r, encode_refusal("go away"), "p2");
	CHECK(refused.status().message() == "p2 refused the request: go away");
}

TEST_CASE("peerctl: ask_peer reaches a PeerControl server on loopback", "[peerctl]")
{
	auto cfg = loopback_config(kSecret);
	auto loop = daemon::Loop::make();
	REQUIRE(loop);
	std::vector<std::string> seen;
	auto srv = daemon::PeerControl::make(
		**loop, cfg, "p2",
		[&](const std::string &from, const std::string &body, daemon::PeerControl::Reply reply) {
			seen.push_back(from + " " + body);
			json req = json::parse(body);
			if (req["cmd"] == "fail")
				return reply(json{{"ok", false}, {"error", "no such volume group"}}.dump());
			reply(json{{"ok", true}, {"message", "done"}}.dump());
		});
	REQUIRE(srv);
	auto r = serve_while(**loop, [&] { return ask_peer(cfg, "p1", "p2", {{"cmd", "x"}}, 5s); });
	REQUIRE(r);
	CHECK((*r)["message"] == "done");
	REQUIRE(seen.size() == 1);
	CHECK(seen[0] == R"(p1 {"cmd":"x"})");

	auto f = serve_while(**loop, [&] { return ask_peer(cfg, "p1", "p2", {{"cmd", "fail"}}, 5s); });
	REQUIRE(!f);
	CHECK(f.status().message() == "no such volume group");

	// A client with another secret never reaches the handler.
	auto wrong = cfg;
	wrong.secret = bytes("another secret of 32 bytes......");
	auto w = serve_while(**loop, [&] { return ask_peer(wrong, "p1", "p2", {{"cmd", "x"}}, 5s); });
	REQUIRE(!w);
	CHECK(w.status().message().find("refused the request: the request is not signed with "
					"this cluster's secret") != std::string::npos);
	CHECK(seen.size() == 2);
	CHECK(srv.value()->pending() == 0);

	// The server checks the source address: p2 asking itself is refused.
	auto self = serve_while(**loop, [&] { return ask_peer(cfg, "p2", "p2", {{"cmd", "x"}}, 5s); });
	REQUIRE(!self);
	CHECK(self.status().message().find("this address is not one of the hosts") !=
	      std::string::npos);
	CHECK(seen.size() == 2);
}

TEST_CASE("children: input, output, exit status and the time limit", "[peerctl]")
{
	auto loop = daemon::Loop::make();
	REQUIRE(loop);
	daemon::Children kids(**loop);
	std::optional<daemon::Children::Done> got;
	REQUIRE(kids.start({"/bin/cat"}, "hello\n", 10s, [&](const auto &d) { got = d; }));
	for (int i = 0; i < 500 && !got; i++)
		REQUIRE((*loop)->run_once(20ms));
	REQUIRE(got);
	CHECK(got->exit_code == 0);
	CHECK(got->out == "hello\n");
	CHECK(kids.running() == 0);

	got.reset();
	REQUIRE(kids.start({"/bin/sh", "-c", "exit 3"}, "", 10s, [&](const auto &d) { got = d; }));
	for (int i = 0; i < 500 && !got; i++)
		REQUIRE((*loop)->run_once(20ms));
	REQUIRE(got);
	CHECK(got->exit_code == 3);

	got.reset();
	REQUIRE(kids.start({"/bin/sleep", "30"}, "", 200ms, [&](const auto &d) { got = d; }));
	for (int i = 0; i < 500 && !got; i++)
		REQUIRE((*loop)->run_once(20ms));
	REQUIRE(got);
	CHECK(got->timed_out);
	CHECK(got->exit_code == 128 + 9);

	CHECK(!kids.start({"/nonexistent/program"}, "", 1s, [](const auto &) {}));
}
