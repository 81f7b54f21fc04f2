// SPDX-License-Identifier: GPL-2.0
#include <catch2/catch.hpp>

#include <vector>

#include "conn/endpoint.h"

using namespace dtrbd;

namespace {
Endpoint ep(const char *s)
{
	auto e = parse_endpoint(s, "--peer");
	REQUIRE(e);
	return *e;
}
} // namespace

TEST_CASE("endpoint parsing accepts IPv4 and bracketed IPv6", "[endpoint]")
{
	Endpoint a = ep("10.0.0.1:7789");
	CHECK(a.family == AF_INET);
	CHECK(a.port == 7789);
	CHECK(a.ip() == "10.0.0.1");
	CHECK(a.str() == "10.0.0.1:7789");
	CHECK(ep("127.0.0.1:1").port == 1);
	CHECK(ep("1.2.3.4:65535").port == 65535);
	Endpoint b = ep("[fd00::1]:7789");
	CHECK(b.family == AF_INET6);
	CHECK(b.str() == "[fd00::1]:7789");
	CHECK(ep("[::1]:80").ip() == "::1");
}

TEST_CASE("endpoint parsing rejects what is not IP:PORT", "[endpoint]")
{
	for (const char *bad : {"", "10.0.0.1", "10.0.0.1:", ":7789", "10.0.0.1:0",
				"10.0.0.1:65536", "10.0.0.1:77a", "10.0.0.1:-1",
				"10.0.0.1: 7789", "host:7789", "10.0.0.256:1", "fd00::1:7789",
				"[fd00::1]7789", "[fd00::1]:", "[10.0.0.1]:7789", "[]:1"}) {
		INFO("'" << bad << "'");
		auto e = parse_endpoint(bad, "--local");
		REQUIRE_FALSE(e);
		CHECK(e.status().message().starts_with(std::string("--local '") + bad +
						       "' is not a valid address: "));
	}
	CHECK(parse_endpoint("10.0.0.1:99999", "--peer").status().message() ==
	      "--peer '10.0.0.1:99999' is not a valid address: the port '99999' is not a "
	      "number from 1 to 65535 (expected IP:PORT, e.g. 10.0.0.1:7789 or [fd00::1]:7789)");
}

TEST_CASE("exactly one side of every pair listens", "[endpoint]")
{
	std::vector<Endpoint> all;
	for (const char *s : {"10.0.0.1:7789", "10.0.0.2:7789", "10.0.0.1:7790", "10.0.0.9:1",
			      "10.0.0.10:1", "192.168.1.1:7789", "9.255.255.255:65535",
			      "[fd00::1]:7789", "[fd00::2]:7788", "[::1]:7789"})
		all.push_back(ep(s));
	for (const auto &a : all)
		for (const auto &b : all) {
			if (a == b)
				continue;
			INFO(a.str() << " vs " << b.str());
			CHECK(listens(a, b) != listens(b, a));
		}
	// Numeric, not textual: 10.0.0.9 < 10.0.0.10, and ports break ties.
	CHECK(listens(ep("10.0.0.9:1"), ep("10.0.0.10:1")));
	CHECK(listens(ep("10.0.0.1:7789"), ep("10.0.0.1:7790")));
	CHECK(listens(ep("9.255.255.255:65535"), ep("10.0.0.1:1")));
	CHECK_FALSE(listens(ep("10.0.0.1:7789"), ep("10.0.0.1:7789")));
}
