// SPDX-License-Identifier: GPL-2.0
// The command line contract, through a fake kernel: validation, the one
// sentence per failure, exit codes, and what reaches the kernel.
#include <catch2/catch.hpp>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_harness.h"
#include "meta/disk.h"
#include "tmpdir.h"

using namespace dtrbd;
using dtrbd::test::Cli;
using nlohmann::json;

namespace {

void require_failure(const test::CliRun &r, int rc, const std::string &sentence)
{
	INFO("stdout: " << r.out);
	CHECK(r.rc == rc);
	CHECK(r.err == "dtrbdctl: " + sentence + "\n");
}

} // namespace

TEST_CASE("minor must be 0-255", "[cli]")
{
	Cli cli;
	for (const char *cmd : {"primary", "secondary", "disconnect", "detach", "status"}) {
		require_failure(cli({cmd, "256"}), 2, "minor 256 is out of range (0-255)");
		require_failure(cli({cmd, "-1"}), 2, "minor -1 is out of range (0-255)");
		require_failure(cli({cmd, "99999999999999999999999"}), 2,
				"minor 99999999999999999999999 is out of range (0-255)");
		require_failure(cli({cmd, "zero"}), 2, "minor 'zero' is not a number (0-255)");
	}
	require_failure(cli({"attach", "1000", "--disk", "/nonexistent"}), 2,
			"minor 1000 is out of range (0-255)");
	require_failure(cli({"primary"}), 2,
			"primary needs a MINOR (0-255); see dtrbdctl primary --help");
	CHECK(cli.opens == 0);		// usage errors never reach the kernel
	CHECK(cli.kernel.calls.empty());
	CHECK(cli({"primary", "255"}).rc == 0);
	CHECK(cli.kernel.calls == std::vector<std::string>{"primary 255"});
}

TEST_CASE("connect validates its options before touching anything", "[cli]")
{
	Cli cli;
	cli.open_error = Status::error("the dtrbd kernel module is not loaded (modprobe dtrbd)");
	auto connect = [&](std::initializer_list<std::string> extra) {
		std::vector<std::string> args{"connect", "0", "--local", "10.0.0.1:7789",
					      "--peer", "10.0.0.2:7789"};
		args.insert(args.end(), extra);
		return cli(args);
	};
	require_failure(connect({"--protocol", "D"}), 2, "--protocol must be A, B or C, not 'D'");
	require_failure(connect({"--protocol", "CC"}), 2, "--protocol must be A, B or C, not 'CC'");
	require_failure(connect({"--timeout", "0"}), 2,
			"--timeout must be a number of seconds from 1 to 86400, not '0'");
	require_failure(connect({"--timeout", "-5"}), 2,
			"--timeout must be a number of seconds from 1 to 86400, not '-5'");
	require_failure(connect({"--ping-ms", "99"}), 2,
			"--ping-ms must be a number of milliseconds from 100 to 60000, not '99'");
	require_failure(connect({"--peer-timeout-ms", "1000", "--ping-ms", "1000"}), 2,
			"--peer-timeout-ms (1000) must be longer than --ping-ms (1000)");
	CHECK(cli.opens == 0);
	// Valid (lower-case protocol): gets as far as opening the kernel.
	require_failure(connect({"--protocol", "b"}), 1,
			"the dtrbd kernel module is not loaded (modprobe dtrbd)");
	CHECK(cli.opens == 1);

	require_failure(cli({"connect", "0", "--local", "10.0.0.1", "--peer", "10.0.0.2:7789"}), 2,
			"--local '10.0.0.1' is not a valid address: the port is missing "
			"(expected IP:PORT, e.g. 10.0.0.1:7789 or [fd00::1]:7789)");
	require_failure(cli({"connect", "0", "--peer", "10.0.0.2:7789"}), 2,
			"the option '--local' is required but missing (see dtrbdctl connect --help)");
}

TEST_CASE("connect needs an attached device", "[cli]")
{
	Cli cli;
	require_failure(cli({"connect", "3", "--local", "127.0.0.1:7789", "--peer",
			     "127.0.0.2:7789", "--protocol", "c"}),
			1, "dtrbd3 is not attached; run dtrbdctl attach 3 --disk PATH first");
	cli.kernel.add_device(3, 1 << 20);
	cli.kernel.devices[3].conn = DTRBD_CONN_CONNECTED;
	cli.kernel.devices[3].peer_addr = "127.0.0.2:7789";
	require_failure(cli({"connect", "3", "--local", "127.0.0.1:7789", "--peer",
			     "127.0.0.2:7789"}),
			1, "dtrbd3 is already connected (peer 127.0.0.2:7789); run dtrbdctl "
			   "disconnect 3 first");
}

TEST_CASE("unknown commands and options", "[cli]")
{
	Cli cli;
	require_failure(cli({"frobnicate"}), 2, "unknown command 'frobnicate' (see dtrbdctl --help)");
	require_failure(cli({"status", "--bogus"}), 2,
			"unrecognised option '--bogus' (see dtrbdctl status --help)");
	require_failure(cli({"--bogus"}), 2, "unrecognised option '--bogus' (see dtrbdctl --help)");
	require_failure(cli({}), 2, "no command given (see dtrbdctl --help)");
	require_failure(cli({"detach", "1", "2"}), 2,
			"too many positional options have been specified on the command line "
			"(see dtrbdctl detach --help)");
}

TEST_CASE("every command has a manual page", "[cli]")
{
	Cli cli;
	for (const char *cmd : {"create-md", "attach", "connect", "primary", "secondary",
				"disconnect", "detach", "status", "events"}) {
		INFO(cmd);
		auto r = cli({cmd, "--help"});
		CHECK(r.rc == 0);
		CHECK(r.err.empty());
		for (const char *section : {"NAME\n", "SYNOPSIS\n", "DESCRIPTION\n", "OPTIONS\n",
					    "EXIT STATUS\n", "EXAMPLES\n"})
			CHECK(r.out.find(section) != std::string::npos);
		CHECK(r.out.find(std::string("dtrbdctl ") + cmd) != std::string::npos);
		CHECK(cli({"help", cmd}).out == r.out);
	}
	auto main = cli({"--help"});
	CHECK(main.rc == 0);
	CHECK(main.out.find("COMMANDS") != std::string::npos);
	CHECK(cli.opens == 0);
}

TEST_CASE("module not loaded and kernel refusals are one sentence", "[cli]")
{
	Cli cli;
	cli.open_error = Status::error("the dtrbd kernel module is not loaded (modprobe dtrbd)");
	require_failure(cli({"status"}), 1, "the dtrbd kernel module is not loaded (modprobe dtrbd)");
	cli.open_error = Status();
	cli.kernel.refuse = Status::error("dtrbd0 is open by 1 process: close it first", EBUSY);
	require_failure(cli({"secondary", "0"}), 1, "dtrbd0 is open by 1 process: close it first");
	CHECK(cli({"secondary", "0"}).out == "dtrbd0 is now secondary\n");
}

TEST_CASE("primary, secondary, disconnect, detach reach the kernel", "[cli]")
{
	Cli cli;
	CHECK(cli({"primary", "1", "--force"}).rc == 0);
	CHECK(cli({"primary", "2"}).rc == 0);
	CHECK(cli({"secondary", "3"}).rc == 0);
	CHECK(cli({"disconnect", "4"}).rc == 0);
	CHECK(cli({"detach", "5"}).out == "dtrbd5: detached\n");
	CHECK(cli.kernel.calls == std::vector<std::string>{"primary 1 force", "primary 2",
							   "secondary 3", "disconnect 4",
							   "detach 5"});
}

TEST_CASE("attach checks metadata and sends an absolute path", "[cli]")
{
	test::TmpDir dir;
	std::string disk = dir.file("disk", 8 << 20);
	Cli cli;
	require_failure(cli({"attach", "0", "--disk", disk}), 1,
			disk + " has no dtrbd metadata; create it with: dtrbdctl create-md --disk " + disk);
	require_failure(cli({"attach", "0", "--disk", dir.path() + "/nope"}), 1,
			dir.path() + "/nope does not exist");
	CHECK(cli.kernel.calls.empty());

	auto md = cli({"create-md", "--disk", disk});
	CHECK(md.rc == 0);
	CHECK(md.out.starts_with("created dtrbd metadata on " + disk + ": "));
	CHECK(md.out.find(std::to_string(read_metadata(disk)->data_size) + " bytes) usable for data") !=
	      std::string::npos);
	require_failure(cli({"create-md", "--disk", disk}), 1,
			"" + disk + " already has dtrbd metadata (created for a 8388608-byte device, "
			"device uuid " + [&] {
				std::ostringstream os;
				os << std::hex << read_metadata(disk)->device_uuid;
				return os.str();
			}() + "); use --force to overwrite it");

	std::filesystem::create_symlink(disk, dir.path() + "/link");
	std::string relative = std::filesystem::relative(dir.path() + "/link").string();
	auto r = cli({"attach", "7", "--disk", relative});
	CHECK(r.rc == 0);
	CHECK(cli.kernel.calls ==
	      std::vector<std::string>{"attach 7 " + std::filesystem::canonical(disk).string()});
	CHECK(r.out.starts_with("dtrbd7: attached "));
}

TEST_CASE("status as JSON and text", "[cli]")
{
	Cli cli;
	auto empty = cli({"status"});
	CHECK(empty.rc == 0);
	CHECK(empty.out == "no dtrbd devices are attached\n");
	CHECK(json::parse(cli({"status", "--json"}).out) == json::array());

	cli.kernel.add_device(0, 1 << 20);
	cli.kernel.add_device(4, 2 << 20);
	auto all = json::parse(cli({"status", "--json"}).out);
	REQUIRE(all.is_array());
	REQUIRE(all.size() == 2);
	CHECK(all[1]["minor"] == 4);
	CHECK(all[1]["size_bytes"] == 2 << 20);
	CHECK(all[1]["connection"] == "standalone");
	CHECK(all[1]["protocol"].is_null());

	auto one = json::parse(cli({"status", "0", "--json"}).out);
	CHECK(one.is_object());
	CHECK(one["minor"] == 0);
	CHECK(one["disk"] == "uptodate");

	auto text = cli({"status"}).out;
	CHECK(text.find("dtrbd0: secondary\n") == 0);
	CHECK(text.find("\n\ndtrbd4: secondary\n") != std::string::npos);

	require_failure(cli({"status", "9"}), 1,
			"dtrbd9 is not attached; run dtrbdctl attach 9 --disk PATH first");
}

TEST_CASE("events stream one flushed line per event until stopped", "[cli]")
{
	Cli cli;
	Event a, b;
	a.dev.minor = 0;
	a.dev.role = DTRBD_ROLE_PRIMARY;
	a.event = DTRBD_EV_ROLE;
	b.dev.minor = 1;
	b.dev.conn = DTRBD_CONN_STANDALONE;
	b.event = DTRBD_EV_DISCONNECTED;
	b.reason = "the peer stopped answering pings";
	cli.kernel.events = {a, b};
	cli.stop = [&] { return cli.kernel.subscribed && cli.kernel.events.empty(); };

	auto r = cli({"events", "--json"});
	CHECK(r.rc == 0);
	std::istringstream lines(r.out);
	std::vector<json> got;
	for (std::string line; std::getline(lines, line);)
		got.push_back(json::parse(line));
	REQUIRE(got.size() == 2);
	CHECK(got[0]["event"] == "role");
	CHECK(got[0]["role"] == "primary");
	CHECK(got[0]["reason"].is_null());
	CHECK(got[1]["event"] == "disconnected");
	CHECK(got[1]["reason"] == "the peer stopped answering pings");
	CHECK(got[1].contains("time"));

	cli.kernel.events = {b};
	auto text = cli({"events"});
	CHECK(text.rc == 0);
	CHECK(text.out.find(" dtrbd1 disconnected role=unknown conn=standalone") != std::string::npos);
	CHECK(text.out.ends_with("reason=\"the peer stopped answering pings\"\n"));
}
