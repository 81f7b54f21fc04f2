// SPDX-License-Identifier: GPL-2.0
// Resource names as the module accepts them (kmod/dtrbd_logic.h,
// DTRBD_A_RES_NAME): the same rule as dtrbd.conf's names, so every
// configured resource can be attached under its name, and nothing that is
// unsafe as /dev/dtrbd/by-res/NAME gets through.
#include <catch2/catch.hpp>

#include <string>

#include "config/config.h"
#include "dtrbd_logic.h"

namespace {

bool ok(const std::string &s)
{
	return dtrbd_res_name_ok(s.c_str(), static_cast<__u32>(s.size()));
}

}  // namespace

TEST_CASE("resource names: what the module accepts", "[res-name]")
{
	CHECK(ok("vm1"));
	CHECK(ok("a"));
	CHECK(ok("Web_01.data-b"));
	CHECK(ok("0"));
	CHECK(ok(std::string(DTRBD_RES_NAME_MAX, 'x')));
}

TEST_CASE("resource names: what the module refuses", "[res-name]")
{
	CHECK_FALSE(ok(""));
	CHECK_FALSE(ok(std::string(DTRBD_RES_NAME_MAX + 1, 'x')));
	CHECK_FALSE(ok("."));
	CHECK_FALSE(ok(".."));
	CHECK_FALSE(ok("-rf"));
	CHECK_FALSE(ok("a/b"));
	CHECK_FALSE(ok("../etc"));
	CHECK_FALSE(ok("a b"));
	CHECK_FALSE(ok("a\tb"));
	CHECK_FALSE(ok("a\nb"));
	CHECK_FALSE(ok("x$y"));
	CHECK_FALSE(ok("x%y"));
	CHECK_FALSE(ok("x\"y"));
	CHECK_FALSE(ok("\xc3\xa9t\xc3\xa9"));	// UTF-8: not in the set
	// the length is the caller's: a NUL inside counts as a bad character
	CHECK_FALSE(dtrbd_res_name_ok("a\0b", 3));
}

TEST_CASE("resource names: the module's rule is dtrbd.conf's rule", "[res-name]")
{
	static_assert(DTRBD_RES_NAME_MAX == dtrbd::config::kMaxNameLen);
	for (int c = 1; c < 256; c++) {
		std::string one(1, static_cast<char>(c)), mid = "a" + one + "b";
		INFO(c);
		CHECK(ok(one) == dtrbd::config::safe_name(one));
		CHECK(ok(mid) == dtrbd::config::safe_name(mid));
	}
	CHECK(ok(std::string(32, 'a')) == dtrbd::config::safe_name(std::string(32, 'a')));
}
