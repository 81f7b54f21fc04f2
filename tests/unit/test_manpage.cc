// SPDX-License-Identifier: GPL-2.0
// Man pages from the --help texts (ctl/common/manpage.h, dtrbdctl --man).
#include <catch2/catch.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "cli_harness.h"
#include "common/manpage.h"

using namespace dtrbd;
using dtrbd::test::Cli;

namespace {

std::vector<std::string> lines(const std::string &s)
{
	std::vector<std::string> out;
	std::istringstream in(s);
	for (std::string l; std::getline(in, l);)
		out.push_back(l);
	return out;
}

// Every line that starts with '.' must be one of the requests we emit:
// anything else is text that roff would take for a request (and drop).
void check_requests(const std::string &page)
{
	static const std::set<std::string> known{".TH", ".SH", ".SS", ".PP", ".RS", ".RE",
						 ".nf", ".fi", ".TP", ".IP"};
	for (const auto &l : lines(page)) {
		if (l.empty() || l[0] != '.')
			continue;
		INFO(l);
		CHECK(known.count(l.substr(0, l.find(' '))) == 1);
	}
}

} // namespace

TEST_CASE("man: escaping", "[man]")
{
	CHECK(man::escape("--disk PATH") == "\\-\\-disk PATH");
	CHECK(man::escape(".hidden") == "\\&.hidden");
	CHECK(man::escape("'quoted'") == "\\&'quoted'");
	CHECK(man::escape("a\\b") == "a\\eb");
	CHECK(man::text("one\ntwo\n\nthree") == ".PP\none\ntwo\n.PP\nthree\n");
	CHECK(man::text("see:\n    dtrbdctl up\nend") ==
	      ".PP\nsee:\n.RS 4\n.nf\ndtrbdctl up\n.fi\n.RE\nend\n");
}

TEST_CASE("man: dtrbdctl(8) holds every command and every option of its --help", "[man]")
{
	Cli cli;
	auto page = cli({"--man"});
	REQUIRE(page.rc == 0);
	CHECK(page.out.rfind(".TH DTRBDCTL 8 ", 0) == 0);
	check_requests(page.out);
	auto verbs = cli({"--list-commands"});
	REQUIRE(verbs.rc == 0);
	auto names = lines(verbs.out);
	CHECK(names.size() >= 15);
	std::regex opt("--[a-z][a-z-]*");
	for (const auto &v : names) {
		INFO(v);
		CHECK(page.out.find(".SS \"" + man::escape(v) + "\"\n") != std::string::npos);
		auto help = cli({v, "--help"});
		REQUIRE(help.rc == 0);
		// The summary line of the command appears in both.
		std::string options = help.out.substr(help.out.find("OPTIONS\n"));
		for (std::sregex_iterator it(options.begin(), options.end(), opt), end; it != end; ++it)
			CHECK(page.out.find("\\fB" + man::escape(it->str()) + "\\fR") != std::string::npos);
	}
	CHECK(cli.opens == 0);
}

TEST_CASE("man: a man-style help text becomes a page", "[man]")
{
	const char *help = "NAME\n    prog - does things\n\nSYNOPSIS\n    prog --x N\n\n"
			   "DESCRIPTION\n    Text one\n    more.\n\n    Two.\n\n"
			   "OPTIONS\n    --x N\n        How many.\n    --y\n        Flag.\n";
	std::string page = man::from_help(help, "prog", 8, "1.0");
	check_requests(page);
	CHECK(page == ".TH PROG 8 \"\" \"dtrbd 1.0\" \"dtrbd\"\n"
		      ".SH \"NAME\"\nprog \\- does things\n"
		      ".SH \"SYNOPSIS\"\n.PP\n.RS 4\n.nf\nprog \\-\\-x N\n.fi\n.RE\n"
		      ".SH \"DESCRIPTION\"\n.PP\nText one\nmore.\n.PP\nTwo.\n"
		      ".SH \"OPTIONS\"\n.TP\n\\fB\\-\\-x\\fR \\fIN\\fR\nHow many.\n"
		      ".TP\n\\fB\\-\\-y\\fR\nFlag.\n");
}
