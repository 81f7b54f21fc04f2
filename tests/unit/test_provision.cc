// SPDX-License-Identifier: GPL-2.0
// The building blocks of dtrbdctl provision: sizes, running a program,
// and the lvm command's output and errors (ctl/provision/).
#include <catch2/catch.hpp>
#include <deque>

#include "provision/command.h"
#include "provision/lvm.h"
#include "provision/size.h"

using namespace dtrbd;
using namespace dtrbd::provision;

TEST_CASE("provision: parse_size accepts whole numbers with binary suffixes", "[provision]")
{
	struct {
		const char *in;
		uint64_t bytes;
	} ok[] = {
		{"10G", 10ull << 30},	  {"10g", 10ull << 30},	   {"10GiB", 10ull << 30},
		{"10gib", 10ull << 30},	  {"512M", 512ull << 20},  {"4096K", 4096ull << 10},
		{"1T", 1ull << 40},	  {"2P", 2ull << 50},	   {"1048576", 1ull << 20},
		{"1048576B", 1ull << 20}, {"1536M", 1536ull << 20}, {"16383P", 16383ull << 50},
	};
	for (const auto &c : ok) {
		INFO(c.in);
		auto r = parse_size(c.in);
		REQUIRE(r.ok());
		CHECK(*r == c.bytes);
	}
}

TEST_CASE("provision: parse_size refuses each kind of bad size with its own sentence",
	  "[provision]")
{
	struct {
		const char *in;
		const char *why;
	} bad[] = {
		{"", "it is empty"},
		{"-1G", "cannot be negative"},
		{"G", "does not start with a number"},
		{" 10G", "does not start with a number"},
		{"10X", "'X' is not a unit"},
		{"10 G", "' G' is not a unit"},
		{"10GB", "'GB' is not a unit"},
		{"10Gi", "'Gi' is not a unit"},
		{"10BiB", "'BiB' is not a unit"},
		{"1.5G", "fractions are not accepted"},
		{"0", "must have a size"},
		{"0G", "must have a size"},
		{"4096", "smallest volume is 1M"},
		{"1048577", "not a whole number of 4 KiB blocks (1048577 bytes)"},
		{"18446744073709551616", "does not fit in 64 bits"},	// 2^64
		{"99999999999999999999", "does not fit in 64 bits"},
		{"16384P", "does not fit in 64 bits"},			// 2^64 exactly
	};
	for (const auto &c : bad) {
		INFO(c.in);
		auto r = parse_size(c.in);
		REQUIRE_FALSE(r.ok());
		CHECK_THAT(r.status().message(), Catch::Contains(std::string("invalid size '") + c.in + "'") &&
							 Catch::Contains(c.why) &&
							 Catch::Contains("10G, 512M"));
	}
	// the largest 64-bit multiple of 4 KiB is fine
	auto r = parse_size("18446744073709547520");
	REQUIRE(r.ok());
	CHECK(*r == 18446744073709547520ull);
}

TEST_CASE("provision: human_size", "[provision]")
{
	CHECK(human_size(0) == "0 bytes");
	CHECK(human_size(1000) == "1000 bytes");
	CHECK(human_size(10ull << 30) == "10 GiB");
	CHECK(human_size(1536ull << 20) == "1.5 GiB");
	CHECK(human_size(4ull << 10) == "4 KiB");
}

TEST_CASE("provision: SpawnRunner runs a program without a shell, captures both streams",
	  "[provision]")
{
	SpawnRunner run({"DTRBD_TEST_VAR=from-runner"});
	// No shell between us and the program: an argument a shell would
	// expand or split reaches it byte for byte.
	const std::string literal = "a; echo injected $(id) `id` * \"q\"";
	auto r = run.run({"printf", "%s", literal}, std::chrono::seconds(10));
	REQUIRE(r.ok());
	CHECK(r->exit_code == 0);
	CHECK(r->out == literal);
	r = run.run({"sh", "-c", "echo out:$DTRBD_TEST_VAR; echo err >&2; exit 3"},
		    std::chrono::seconds(10));
	REQUIRE(r.ok());
	CHECK(r->exit_code == 3);
	CHECK(r->out == "out:from-runner\n");
	CHECK(r->err == "err\n");
	// stdin is /dev/null
	r = run.run({"cat"}, std::chrono::seconds(10));
	REQUIRE(r.ok());
	CHECK(r->exit_code == 0);
	CHECK(r->out.empty());
	// a signal shows as 128+N
	r = run.run({"sh", "-c", "kill -TERM $$"}, std::chrono::seconds(10));
	REQUIRE(r.ok());
	CHECK(r->exit_code == 128 + 15);
}

TEST_CASE("provision: SpawnRunner kills a program that overruns its limit, and says "
	  "when one cannot be run", "[provision]")
{
	SpawnRunner run;
	auto t0 = std::chrono::steady_clock::now();
	auto r = run.run({"sleep", "30"}, std::chrono::milliseconds(300));
	auto took = std::chrono::steady_clock::now() - t0;
	REQUIRE_FALSE(r.ok());
	CHECK(r.status().errnum() == ETIMEDOUT);
	CHECK_THAT(r.status().message(), Catch::Contains("sleep did not finish within 0.3 s"));
	CHECK(took < std::chrono::seconds(5));
	r = run.run({"/nonexistent/dtrbd-no-such-program"}, std::chrono::seconds(5));
	REQUIRE_FALSE(r.ok());
	CHECK_THAT(r.status().message(), Catch::Contains("cannot run /nonexistent/dtrbd-no-such-program") &&
						 Catch::Contains("is it installed"));
	r = run.run({}, std::chrono::seconds(5));
	CHECK_FALSE(r.ok());
}

namespace {

// Answers each run with the next canned output and records the argv.
struct CannedRunner : CommandRunner {
	std::deque<CommandOutput> answers;
	std::vector<std::vector<std::string>> calls;
	Result<CommandOutput> run(const std::vector<std::string> &argv,
				  std::chrono::milliseconds) override
	{
		calls.push_back(argv);
		REQUIRE_FALSE(answers.empty());
		CommandOutput o = answers.front();
		answers.pop_front();
		return o;
	}
};

// As lvm2 2.03.16 (Debian 12) prints `vgs --reportformat json --units b
// --nosuffix -o vg_name,vg_size,vg_free,vg_extent_size`.
const char *kVgsJson = R"(  {
      "report": [
          {
              "vg": [
                  {"vg_name":"vg0", "vg_size":"1069547520", "vg_free":"864026624", "vg_extent_size":"4194304"}
              ]
          }
      ]
  }
)";

const char *kLvsJson = R"(  {
      "report": [
          {
              "lv": [
                  {"lv_name":"vm1", "lv_size":"104857600"},
                  {"lv_name":"vm2", "lv_size":"100663296"}
              ]
          }
      ]
  }
)";

} // namespace

TEST_CASE("provision: LvmCommand reads a volume group and its volumes", "[provision]")
{
	auto runner = std::make_unique<CannedRunner>();
	auto *r = runner.get();
	r->answers.push_back({0, kVgsJson, ""});
	r->answers.push_back({0, kLvsJson, "  WARNING: a warning lvm printed\n"});
	LvmCommand lvm(std::move(runner));
	auto vg = lvm.vg_info("vg0");
	REQUIRE(vg.ok());
	CHECK(vg->size == 1069547520);
	CHECK(vg->free == 864026624);
	CHECK(vg->extent_size == 4194304);
	REQUIRE(r->calls.size() == 1);
	CHECK(r->calls[0] == std::vector<std::string>{"lvm", "vgs", "--reportformat", "json", "--units", "b",
						      "--nosuffix", "-o",
						      "vg_name,vg_size,vg_free,vg_extent_size", "vg0"});
	auto lvs = lvm.lvs("vg0");
	REQUIRE(lvs.ok());
	REQUIRE(lvs->size() == 2);
	CHECK((*lvs)[1].name == "vm2");
	CHECK((*lvs)[1].size == 100663296);
}

TEST_CASE("provision: LvmCommand's sentences for an unknown group, bad output and a "
	  "bad name", "[provision]")
{
	auto runner = std::make_unique<CannedRunner>();
	auto *r = runner.get();
	r->answers.push_back({5, "", "  Volume group \"nosuch\" not found\n  Cannot process volume group nosuch\n"});
	r->answers.push_back({0, "not json", ""});
	r->answers.push_back({0, R"({"report":[{"vg":[{"vg_name":"vg0","vg_size":"12x","vg_free":"0","vg_extent_size":"4194304"}]}]})", ""});
	r->answers.push_back({0, R"({"report":[{"vg":[]}]})", ""});
	r->answers.push_back({3, "", "  WARNING: something\n  Some other failure.\n"});
	LvmCommand lvm(std::move(runner));
	auto v = lvm.vg_info("nosuch");
	REQUIRE_FALSE(v.ok());
	CHECK(v.status().message() ==
	      "volume group nosuch not found; create it with vgcreate or name one that 'vgs' shows");
	v = lvm.vg_info("vg0");
	REQUIRE_FALSE(v.ok());
	CHECK_THAT(v.status().message(), Catch::Contains("not an lvm JSON report"));
	v = lvm.vg_info("vg0");
	REQUIRE_FALSE(v.ok());
	CHECK_THAT(v.status().message(), Catch::Contains("vg_size is '12x'"));
	v = lvm.vg_info("vg0");
	REQUIRE_FALSE(v.ok());
	CHECK_THAT(v.status().message(), Catch::Contains("volume group vg0 not found"));
	v = lvm.vg_info("vg0");
	REQUIRE_FALSE(v.ok());
	CHECK(v.status().message() == "lvm vgs vg0 failed: Some other failure.");
	// a name that could be an option or a path is not passed to lvm at all
	size_t calls = r->calls.size();
	for (const char *name : {"-a", "../etc", "vg/x", ""}) {
		INFO(name);
		CHECK_FALSE(lvm.vg_info(name).ok());
		CHECK_FALSE(lvm.lvs(name).ok());
		CHECK_FALSE(lvm.lv_create(name, "ok", 1 << 20).ok());
		CHECK_FALSE(lvm.lv_create("vg0", name, 1 << 20).ok());
		CHECK_FALSE(lvm.lv_remove(name, "ok").ok());
		Status st = lvm.lv_remove("vg0", name);
		CHECK_THAT(st.message(), Catch::Contains("is not a logical volume name dtrbd accepts"));
	}
	CHECK(r->calls.size() == calls);
}

TEST_CASE("provision: LvmCommand creates and removes volumes, with a sentence per failure",
	  "[provision]")
{
	auto runner = std::make_unique<CannedRunner>();
	auto *r = runner.get();
	r->answers.push_back({0, "  Logical volume \"vm5\" created.\n", ""});
	r->answers.push_back({5, "", "  Volume group \"vg0\" has insufficient free space (10 extents): 256 required.\n"});
	r->answers.push_back({5, "", "  Logical Volume \"vm5\" already exists in volume group \"vg0\"\n"});
	r->answers.push_back({0, "  Logical volume \"vm5\" successfully removed.\n", ""});
	r->answers.push_back({5, "", "  Logical volume vg0/vm5 contains a filesystem in use.\n"});
	LvmCommand lvm(std::move(runner));
	CHECK(lvm.lv_create("vg0", "vm5", 1ull << 30).ok());
	CHECK(r->calls.back() == std::vector<std::string>{"lvm", "lvcreate", "--yes", "--wipesignatures", "y",
							  "--zero", "y", "-L", "1073741824b", "-n", "vm5",
							  "vg0"});
	Status st = lvm.lv_create("vg0", "vm5", 1ull << 30);
	CHECK(st.message() == "volume group vg0 has no room for 1 GiB (Volume group \"vg0\" has "
			      "insufficient free space (10 extents): 256 required.); free space "
			      "with lvremove or vgextend, or ask for less");
	st = lvm.lv_create("vg0", "vm5", 1ull << 30);
	CHECK_THAT(st.message(), Catch::StartsWith("a logical volume vg0/vm5 exists already"));
	CHECK(lvm.lv_remove("vg0", "vm5").ok());
	CHECK(r->calls.back() == std::vector<std::string>{"lvm", "lvremove", "--yes", "vg0/vm5"});
	st = lvm.lv_remove("vg0", "vm5");
	CHECK(st.message() == "lvm lvremove vg0/vm5 failed: Logical volume vg0/vm5 contains a "
			      "filesystem in use.; remove it by hand with 'lvremove vg0/vm5'");
	CHECK(Lvm::lv_path("vg0", "vm5") == "/dev/vg0/vm5");
}

TEST_CASE("provision: lvm_reason skips warnings and indentation", "[provision]")
{
	CHECK(lvm_reason("") == "no message");
	CHECK(lvm_reason("  WARNING: only a warning\n") == "WARNING: only a warning");
	CHECK(lvm_reason("  WARNING: w\n\n    The error.  \n  Next.\n") == "The error.");
}

TEST_CASE("provision: LvmCommand tags what it creates and reads the tags back", "[provision]")
{
	auto runner = std::make_unique<CannedRunner>();
	auto *r = runner.get();
	r->answers.push_back({0, "  Logical volume \"vm5\" created.\n", ""});
	r->answers.push_back({0, R"({"report":[{"lv":[
		{"lv_name":"vm5", "lv_size":"71303168", "lv_tags":"dtrbd-provisioned"},
		{"lv_name":"root", "lv_size":"4194304", "lv_tags":""},
		{"lv_name":"two", "lv_size":"4194304", "lv_tags":"a,dtrbd-provisioned"}]}]})", ""});
	LvmCommand lvm(std::move(runner));
	REQUIRE(lvm.lv_create("vg0", "vm5", 71303168, kProvisionedTag).ok());
	CHECK(r->calls.back() == std::vector<std::string>{"lvm", "lvcreate", "--yes", "--wipesignatures", "y",
							  "--zero", "y", "-L", "71303168b", "-n", "vm5",
							  "--addtag", "dtrbd-provisioned", "vg0"});
	auto lvs = lvm.lvs("vg0");
	REQUIRE(lvs.ok());
	REQUIRE(lvs->size() == 3);
	CHECK(r->calls.back()[8] == "lv_name,lv_size,lv_tags");
	CHECK((*lvs)[0].has_tag(kProvisionedTag));
	CHECK((*lvs)[1].tags.empty());
	CHECK_FALSE((*lvs)[1].has_tag(kProvisionedTag));
	CHECK((*lvs)[2].tags == std::vector<std::string>{"a", "dtrbd-provisioned"});
	// A tag is a name like the others: never an option.
	CHECK_FALSE(lvm.lv_create("vg0", "vm6", 4194304, "--all").ok());
}
