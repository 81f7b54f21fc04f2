// SPDX-License-Identifier: GPL-2.0
// Editing dtrbd.conf as text for provision/deprovision (provision/conf_edit.h):
// everything but the one table stays byte for byte.
#include <catch2/catch.hpp>

#include "config/config.h"
#include "provision/conf_edit.h"

using namespace dtrbd;
using namespace dtrbd::provision;

namespace {

const std::string kPath = "/etc/dtrbd/dtrbd.conf";

// Comments before, between, inside and after the tables.
const std::string kConf = R"(# dtrbd.conf of the lab pair
secret-file = "/etc/dtrbd/secret"   # shared secret

[hosts.p1]
address = "10.99.0.1"
[hosts.p2]
address = "10.99.0.2"

# vm1: the web server
[resources.vm1]
minor = 1
port = 7701
disk = "/dev/vg0/vm1"   # same LV on both
preferred = "p1"

[resources.vm2]
minor = 2
# an inside comment
port = 7702
disk = { p1 = "/dev/vg0/vm2", p2 = "/dev/vg1/vm2" }

# the database
# (two lines of comment)
[ resources . "vm3" ]   # spaced header
minor = 4
port = 7710
disk = "/dev/vg0/vm3"
# trailing comment of the file
)";

config::Config load(const std::string &text)
{
	config::LoadOptions o;
	o.read_secret = false;
	auto l = config::parse(text, kPath, o);
	INFO(text);
	REQUIRE(l.config.has_value());
	return *l.config;
}

ResourceSpec spec_vm5()
{
	ResourceSpec s;
	s.name = "vm5";
	s.minor = 5;
	s.port = 7705;
	s.disk = {{"p1", "/dev/vg0/vm5"}, {"p2", "/dev/vg0/vm5"}};
	s.preferred = "p2";
	s.domain = "vm5";
	s.domain_xml = "/etc/dtrbd/vm5.xml";
	s.comment = "added by dtrbdctl provision";
	return s;
}

} // namespace

TEST_CASE("conf_edit: a resource added keeps every byte before it and loads", "[provision]")
{
	auto out = add_resource_block(kConf, kPath, spec_vm5());
	REQUIRE(out.ok());
	REQUIRE(out->substr(0, kConf.size()) == kConf);
	CHECK(out->substr(kConf.size()) == "\n# added by dtrbdctl provision\n[resources.vm5]\n"
					   "minor = 5\nport = 7705\ndisk = \"/dev/vg0/vm5\"\n"
					   "preferred = \"p2\"\ndomain = \"vm5\"\n"
					   "domain-xml = \"/etc/dtrbd/vm5.xml\"\n");
	auto c = load(*out);
	const auto *r = c.find_resource("vm5");
	REQUIRE(r);
	CHECK(r->minor == 5);
	CHECK(r->port == 7705);
	CHECK(r->disk.at("p2") == "/dev/vg0/vm5");
	CHECK(r->preferred == "p2");
	CHECK(r->domain_xml == "/etc/dtrbd/vm5.xml");
	CHECK(c.resources.size() == 4);

	// paths that differ per host, and a quote in one, round-trip
	auto s = spec_vm5();
	s.disk["p2"] = "/dev/vg1/a\"b\\c";
	s.comment.clear();
	out = add_resource_block(kConf, kPath, s);
	REQUIRE(out.ok());
	CHECK(load(*out).find_resource("vm5")->disk.at("p2") == "/dev/vg1/a\"b\\c");
	// a file without a final newline gets one before the table
	out = add_resource_block(kConf.substr(0, kConf.size() - 1), kPath, s);
	REQUIRE(out.ok());
	CHECK(load(*out).find_resource("vm5"));
}

TEST_CASE("conf_edit: an add that clashes or would not load is refused with a sentence",
	  "[provision]")
{
	struct {
		void (*change)(ResourceSpec &);
		const char *says;
	} cases[] = {
		{[](ResourceSpec &s) { s.name = "vm2"; }, "a resource vm2 exists already in /etc/dtrbd/dtrbd.conf"},
		{[](ResourceSpec &s) { s.minor = 4; }, "minor 4 is taken by resource vm3"},
		{[](ResourceSpec &s) { s.port = 7702; }, "port 7702 is taken by resource vm2"},
		{[](ResourceSpec &s) { s.name = "-x"; }, "is not a resource name"},
		{[](ResourceSpec &s) { s.disk.clear(); }, "needs a backing disk"},
		{[](ResourceSpec &s) { s.preferred = "p9"; }, "resource vm5 cannot be added:"},
		{[](ResourceSpec &s) { s.domain = "a\nb"; }, "contains a control character"},
		{[](ResourceSpec &s) { s.comment = "a\nb"; }, "must be one line"},
	};
	for (const auto &c : cases) {
		auto s = spec_vm5();
		c.change(s);
		auto out = add_resource_block(kConf, kPath, s);
		INFO(c.says);
		REQUIRE_FALSE(out.ok());
		CHECK_THAT(out.status().message(), Catch::Contains(c.says));
	}
	auto out = add_resource_block("secret-file = 3\n", kPath, spec_vm5());
	REQUIRE_FALSE(out.ok());
	CHECK_THAT(out.status().message(), Catch::Contains("has mistakes already") &&
						   Catch::Contains("check-config"));
}

TEST_CASE("conf_edit: removing a resource removes its table and its comment, nothing else",
	  "[provision]")
{
	// first of the resources: its comment goes, the blank line before stays
	auto out = remove_resource_block(kConf, kPath, "vm1");
	REQUIRE(out.ok());
	std::string want = kConf;
	size_t a = want.find("# vm1: the web server"), b = want.find("[resources.vm2]");
	want.erase(a, b - a);
	CHECK(*out == want);
	CHECK_FALSE(load(*out).find_resource("vm1"));

	// the middle one, whose successor's comment must stay
	out = remove_resource_block(kConf, kPath, "vm2");
	REQUIRE(out.ok());
	want = kConf;
	a = want.find("[resources.vm2]");
	b = want.find("# the database");
	want.erase(a, b - a);
	CHECK(*out == want);
	auto c = load(*out);
	CHECK(c.resources.size() == 2);

	// the last one, written with a spaced, quoted header: the file's
	// trailing comment goes with it (it is inside its table) and no blank
	// tail is left
	out = remove_resource_block(kConf, kPath, "vm3");
	REQUIRE(out.ok());
	want = kConf.substr(0, kConf.find("\n\n# the database")) + "\n";
	CHECK(*out == want);
	CHECK(load(*out).resources.size() == 2);

	// add then remove gives the file back as it was
	auto added = add_resource_block(kConf, kPath, spec_vm5());
	REQUIRE(added.ok());
	out = remove_resource_block(*added, kPath, "vm5");
	REQUIRE(out.ok());
	CHECK(*out == kConf);
}

TEST_CASE("conf_edit: a resource that is not there, or not a table of its own, is not removed",
	  "[provision]")
{
	auto out = remove_resource_block(kConf, kPath, "vm9");
	REQUIRE_FALSE(out.ok());
	CHECK(out.status().message() == "there is no resource vm9 in /etc/dtrbd/dtrbd.conf");
	// written as an inline table under [resources]
	const std::string inl = R"(secret-file = "/etc/dtrbd/secret"
[hosts.p1]
address = "10.99.0.1"
[hosts.p2]
address = "10.99.0.2"
[resources]
vm1 = { minor = 1, port = 7701, disk = "/dev/vg0/vm1" }
)";
	load(inl);
	out = remove_resource_block(inl, kPath, "vm1");
	REQUIRE_FALSE(out.ok());
	CHECK_THAT(out.status().message(), Catch::Contains("is not written as a [resources.vm1] table; remove it by hand"));
}

TEST_CASE("conf_edit: next_free_slot picks the lowest free minor and the next port",
	  "[provision]")
{
	auto s = next_free_slot(kConf, kPath);
	REQUIRE(s.ok());
	CHECK(s->minor == 0);
	CHECK(s->port == 7711);
	const std::string empty = R"(secret-file = "/etc/dtrbd/secret"
[hosts.p1]
address = "10.99.0.1"
[hosts.p2]
address = "10.99.0.2"
)";
	s = next_free_slot(empty, kPath);
	REQUIRE(s.ok());
	CHECK(s->minor == 0);
	CHECK(s->port == 7700);
}
