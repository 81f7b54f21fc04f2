// SPDX-License-Identifier: GPL-2.0
// The command line contract, through a fake kernel: validation, the one
// sentence per failure, exit codes, and what reaches the kernel.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
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
	REQUIRE(cli.kernel.attach_req);
	CHECK_FALSE(cli.kernel.attach_req->res_name);

	auto named = cli({"attach", "8", "--disk", disk, "--name", "vm1.data-2_b"});
	CHECK(named.rc == 0);
	REQUIRE(cli.kernel.attach_req);
	CHECK(cli.kernel.attach_req->res_name == std::optional<std::string>("vm1.data-2_b"));
	CHECK(named.out.find(" as vm1.data-2_b, ") != std::string::npos);

	// refused before the kernel is asked: one sentence naming the rule
	auto calls = cli.kernel.calls.size();
	for (const std::string &bad : std::vector<std::string>{"", "-x", ".hidden", "a/b", "..", "a b", "x$y", std::string(32, 'n')}) {
		INFO(bad);
		auto r2 = cli({"attach", "9", "--disk", disk, "--name", bad});
		CHECK(r2.rc == 2);
		CHECK(r2.err.find("--name must be 1 to 31 characters") != std::string::npos);
	}
	CHECK(cli.kernel.calls.size() == calls);
	CHECK(cli({"attach", "9", "--disk", disk, "--name", std::string(31, 'n')}).rc == 0);
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

// ---- version 2 commands and options ---------------------------------------------

TEST_CASE("new commands validate the minor and have manual pages", "[cli]")
{
	Cli cli;
	for (const char *cmd : {"verify", "invalidate", "invalidate-remote", "new-current-uuid"}) {
		INFO(cmd);
		require_failure(cli({cmd, "256"}), 2, "minor 256 is out of range (0-255)");
		require_failure(cli({cmd}), 2, std::string(cmd) + " needs a MINOR (0-255); see dtrbdctl " +
						       cmd + " --help");
	}
	require_failure(cli({"set-options", "-1", "--resync-rate", "1M"}), 2,
			"minor -1 is out of range (0-255)");
	CHECK(cli.opens == 0);

	auto attach = cli({"attach", "--help"}).out;
	CHECK(attach.find("--al-extents N") != std::string::npos);
	CHECK(attach.find("(default 257, about\n       1 GiB)") != std::string::npos);
	CHECK(attach.find("4 MiB") != std::string::npos);
	CHECK(attach.find("longer resync") != std::string::npos);
	auto connect = cli({"connect", "--help"}).out;
	for (const char *s : {"--discard-my-data", "--after-sb POLICY", "--resync-rate RATE",
			      "it must be Secondary", "discard-zero-changes", "'dynamic'",
			      "--csum-resync", "crc32c of each"})
		CHECK(connect.find(s) != std::string::npos);
	CHECK(cli({"verify", "--help"}).out.find("default) waits as long as the verify runs") !=
	      std::string::npos);
	CHECK(cli({"invalidate", "--help"}).out.find("overwriting THIS") != std::string::npos);
	CHECK(cli({"invalidate-remote", "--help"}).out.find("overwriting the\n       peer's data") !=
	      std::string::npos);
	for (const char *cmd : {"verify", "invalidate", "invalidate-remote", "new-current-uuid",
				"set-options"}) {
		INFO(cmd);
		auto r = cli({cmd, "--help"});
		CHECK(r.rc == 0);
		for (const char *section : {"NAME\n", "SYNOPSIS\n", "DESCRIPTION\n", "ARGUMENTS\n",
					    "OPTIONS\n", "EXIT STATUS\n", "EXAMPLES\n"})
			CHECK(r.out.find(section) != std::string::npos);
		CHECK(cli({"--help"}).out.find(std::string("       ") + cmd + " MINOR") !=
		      std::string::npos);
	}
	CHECK(cli.opens == 0);
}

TEST_CASE("invalidate, invalidate-remote, new-current-uuid reach the kernel", "[cli]")
{
	Cli cli;
	CHECK(cli({"invalidate", "1"}).out ==
	      "dtrbd1: invalidated; a full resync from the peer overwrites this side's data\n");
	CHECK(cli({"invalidate-remote", "2"}).out ==
	      "dtrbd2: peer invalidated; a full resync from this side overwrites the peer's data\n");
	CHECK(cli({"new-current-uuid", "3"}).out == "dtrbd3: new data generation started\n");
	CHECK(cli({"new-current-uuid", "4", "--clear-bitmap"}).out ==
	      "dtrbd4: new data generation started; both sides are up to date without a sync\n");
	CHECK(cli.kernel.calls == std::vector<std::string>{"invalidate 1", "invalidate-remote 2",
							   "new-current-uuid 3",
							   "new-current-uuid 4 clear-bitmap"});
	cli.kernel.refuse = Status::error("dtrbd1 is not connected: invalidate needs the peer", ENOTCONN);
	require_failure(cli({"invalidate", "1"}), 1, "dtrbd1 is not connected: invalidate needs the peer");
}

TEST_CASE("set-options --resync-rate", "[cli]")
{
	Cli cli;
	require_failure(cli({"set-options", "0"}), 2,
			"set-options needs --resync-rate, --on-peer-loss or --ko-count (see "
			"dtrbdctl set-options --help)");
	for (const char *bad : {"0K", "5G", "250", "fast", "1.5M", "-1M", ""})
		require_failure(cli({"set-options", "0", "--resync-rate", bad}), 2,
				std::string("--resync-rate must be 'dynamic' or a rate per second with "
					    "a binary unit from 1K to 4G (e.g. 800K, 50M, 1G), not '") +
					bad + "'");
	CHECK(cli.opens == 0);
	CHECK(cli({"set-options", "0", "--resync-rate", "50M"}).out ==
	      "dtrbd0: resync rate 50.0 MiB/s\n");
	CHECK(cli({"set-options", "0", "--resync-rate", "dynamic"}).out ==
	      "dtrbd0: resync rate dynamic\n");
	CHECK(cli({"set-options", "0", "--resync-rate", "4G"}).rc == 0);
	CHECK(cli.kernel.calls == std::vector<std::string>{"set-options 0 resync-rate 51200",
							   "set-options 0 resync-rate 0",
							   "set-options 0 resync-rate 4194304"});
}

TEST_CASE("set-options --ko-count", "[cli]")
{
	Cli cli;
	for (const char *bad : {"1", "101", "0", "seven", "-3", ""})
		require_failure(cli({"set-options", "0", "--ko-count", bad}), 2,
				std::string("--ko-count must be a number of peer timeouts from 2 to "
					    "100, not '") + bad + "'");
	CHECK(cli.opens == 0);
	CHECK(cli({"set-options", "0", "--ko-count", "12"}).out ==
	      "dtrbd0: request timeout 12 peer timeouts (ko-count)\n");
	CHECK(cli.kernel.calls == std::vector<std::string>{"set-options 0 ko-count 12"});
}

TEST_CASE("connect validates its version 2 options before touching anything", "[cli]")
{
	Cli cli;
	auto connect = [&](std::initializer_list<std::string> extra) {
		std::vector<std::string> args{"connect", "0", "--local", "10.0.0.1:7789",
					      "--peer", "10.0.0.2:7789"};
		args.insert(args.end(), extra);
		return cli(args);
	};
	require_failure(connect({"--after-sb", "discard-older"}), 2,
			"--after-sb must be disconnect, discard-zero-changes or discard-secondary, "
			"not 'discard-older'");
	require_failure(connect({"--resync-rate", "100"}), 2,
			"--resync-rate must be 'dynamic' or a rate per second with a binary unit "
			"from 1K to 4G (e.g. 800K, 50M, 1G), not '100'");
	require_failure(connect({"--discard-my-data", "--resync-rate", "8T"}), 2,
			"--resync-rate must be 'dynamic' or a rate per second with a binary unit "
			"from 1K to 4G (e.g. 800K, 50M, 1G), not '8T'");
	CHECK(cli.opens == 0);
	// valid: goes on to the kernel, which has no device 0
	require_failure(connect({"--discard-my-data", "--after-sb", "discard-secondary",
				 "--resync-rate", "800K"}),
			1, "dtrbd0 is not attached; run dtrbdctl attach 0 --disk PATH first");
	CHECK(cli.opens == 1);

	// --discard-my-data on a Primary is refused before any connection.
	cli.kernel.add_device(0, 1 << 30);
	cli.kernel.devices[0].role = DTRBD_ROLE_PRIMARY;
	require_failure(connect({"--discard-my-data"}), 1,
			"dtrbd0 is primary, but --discard-my-data throws its changes away; run "
			"dtrbdctl secondary 0 first");
	CHECK_FALSE(cli.kernel.subscribed);
}

TEST_CASE("attach --meta and --al-extents", "[cli]")
{
	test::TmpDir dir;
	std::string disk = dir.file("disk", 64 << 20);
	std::string meta = dir.file("meta", 1 << 20);
	Cli cli;
	for (const char *bad : {"6", "1019", "big", "-7", ""})
		require_failure(cli({"attach", "0", "--disk", disk, "--al-extents", bad}), 2,
				std::string("--al-extents must be a number of 4 MiB extents from 7 to "
					    "1018, not '") + bad + "'");
	CHECK(cli.opens == 0);

	require_failure(cli({"attach", "0", "--disk", disk, "--meta", meta}), 1,
			meta + " has no dtrbd metadata; create it with: dtrbdctl create-md --disk " +
				disk + " --meta " + meta);
	require_failure(cli({"attach", "0", "--disk", disk, "--meta", dir.path() + "/nope"}), 1,
			dir.path() + "/nope does not exist");
	CHECK(cli.kernel.calls.empty());

	auto md = cli({"create-md", "--disk", disk, "--meta", meta});
	CHECK(md.rc == 0);
	CHECK(md.out == "created external dtrbd metadata for " + disk + " on " + meta +
				": 64.0 MiB (67108864 bytes) usable for data, state inconsistent "
				"until the first sync\n");
	// The data device has no metadata of its own.
	require_failure(cli({"attach", "0", "--disk", disk}), 1,
			disk + " has no dtrbd metadata; create it with: dtrbdctl create-md --disk " + disk);

	std::filesystem::create_symlink(meta, dir.path() + "/meta-link");
	auto r = cli({"attach", "2", "--disk", disk, "--meta", dir.path() + "/meta-link",
		      "--al-extents", "1018"});
	CHECK(r.rc == 0);
	std::string real_disk = std::filesystem::canonical(disk).string();
	std::string real_meta = std::filesystem::canonical(meta).string();
	CHECK(r.out == "dtrbd2: attached " + real_disk + " with metadata on " + real_meta +
			       ", 64.0 MiB usable\n");
	REQUIRE(cli.kernel.attach_req);
	CHECK(cli.kernel.attach_req->meta_path == real_meta);
	CHECK(cli.kernel.attach_req->al_extents == 1018u);

	// Without the options nothing extra is sent.
	std::string plain = dir.file("plain", 16 << 20);
	REQUIRE(cli({"create-md", "--disk", plain}).rc == 0);
	CHECK(cli({"attach", "3", "--disk", plain, "--al-extents", "7"}).rc == 0);
	CHECK(cli({"attach", "4", "--disk", plain}).rc == 0);
	CHECK_FALSE(cli.kernel.attach_req->meta_path);
	CHECK_FALSE(cli.kernel.attach_req->al_extents);
	CHECK(cli.kernel.calls ==
	      std::vector<std::string>{"attach 2 " + real_disk + " meta " + real_meta + " al-extents 1018",
				       "attach 3 " + std::filesystem::canonical(plain).string() +
					       " al-extents 7",
				       "attach 4 " + std::filesystem::canonical(plain).string()});
}

TEST_CASE("status JSON through the CLI: every version 2 field, null when unreported", "[cli]")
{
	Cli cli;
	cli.kernel.add_device(0, 1 << 20);
	auto j = json::parse(cli({"status", "0", "--json"}).out);
	for (const char *k : {"minor", "role", "peer_role", "connection", "disk", "peer_disk",
			      "protocol", "size_bytes", "sync", "written_bytes", "sent_bytes",
			      "received_bytes", "oos_bytes", "resync_sent_bytes",
			      "resync_received_bytes", "resync_same_bytes", "al_writes",
			      "al_extents_used", "verify", "flags", "meta_disk"}) {
		INFO(k);
		CHECK(j.contains(k));
	}
	CHECK(j["oos_bytes"].is_null());
	CHECK(j["flags"].is_null());
	CHECK(j["meta_disk"].is_null());
	cli.kernel.devices[0].flags = DTRBD_F_SPLIT_BRAIN;
	cli.kernel.devices[0].meta_disk = "/dev/vg1/meta";
	j = json::parse(cli({"status", "0", "--json"}).out);
	CHECK(j["flags"] == json::array({"split-brain"}));
	CHECK(j["meta_disk"] == "/dev/vg1/meta");
	CHECK(cli({"status", "0"}).out.find("  flags       split-brain\n") != std::string::npos);
}

TEST_CASE("on-peer-loss, resume-io and fail-io", "[cli][freeze]")
{
	Cli cli;
	require_failure(cli({"set-options", "0", "--on-peer-loss", "stop"}), 2,
			"--on-peer-loss must be continue or freeze, not 'stop'");
	CHECK(cli.opens == 0);
	CHECK(cli({"set-options", "0", "--on-peer-loss", "freeze"}).out ==
	      "dtrbd0: on peer loss freeze\n");
	CHECK(cli({"set-options", "1", "--on-peer-loss", "continue", "--resync-rate", "1M"}).out ==
	      "dtrbd1: resync rate 1.00 MiB/s\ndtrbd1: on peer loss continue\n");
	CHECK(cli({"resume-io", "2"}).out == "dtrbd2: writes resumed; this side goes on alone\n");
	CHECK(cli({"fail-io", "3"}).out ==
	      "dtrbd3: waiting writes failed with I/O errors; later writes fail too until "
	      "'dtrbdctl resume-io 3' or a reconnect\n");
	CHECK(cli.kernel.calls == std::vector<std::string>{
		"set-options 0 on-peer-loss 1", "set-options 1 resync-rate 1024 on-peer-loss 0",
		"resume-io 2", "fail-io 3"});
	CHECK(cli({"resume-io"}).rc == 2);
	cli.kernel.refuse = Status::error(
		"the device is not frozen: its writes are not waiting for anything", EINVAL);
	require_failure(cli({"resume-io", "0"}), 1,
			"the device is not frozen: its writes are not waiting for anything");
	require_failure(cli({"connect", "0", "--local", "10.0.0.1:7789", "--peer",
			     "10.0.0.2:7789", "--on-peer-loss", "maybe"}),
			2, "--on-peer-loss must be continue or freeze, not 'maybe'");
}

TEST_CASE("peer-exec answers one JSON line for every request, good or bad", "[cli][provision-run]")
{
	test::TmpDir dir;
	std::ofstream(dir.path() + "/secret") << "0123456789abcdef0123456789abcdef\n";
	std::filesystem::permissions(dir.path() + "/secret", std::filesystem::perms::owner_read |
						      std::filesystem::perms::owner_write);
	std::ofstream(dir.path() + "/dtrbd.conf")
		<< "secret-file = \"secret\"\n[hosts.p1]\naddress = \"10.99.0.1\"\n"
		   "[hosts.p2]\naddress = \"10.99.0.2\"\n";
	Cli cli;
	auto ask = [&](const std::string &in, const std::string &from = "p1") {
		cli.input = in;
		auto r = cli({"peer-exec", "--config", dir.path() + "/dtrbd.conf", "--host", "p2",
			      "--from", from});
		INFO(r.out << r.err);
		CHECK(r.rc == 0);
		REQUIRE(r.out.ends_with("\n"));
		CHECK(r.out.find('\n') == r.out.size() - 1);
		return json::parse(r.out);
	};
	// The domains directory is the configuration's: dir/domains.
	std::filesystem::create_directory(dir.path() + "/domains");
	std::ofstream(dir.path() + "/domains/vm1.xml") << "<domain/>";
	json a = ask(R"({"cmd":"domain-remove","name":"vm1"})");
	CHECK(a.value("ok", false));
	CHECK_FALSE(std::filesystem::exists(dir.path() + "/domains/vm1.xml"));
	a = ask(R"({"cmd":"domain-remove","name":"vm1"})");
	CHECK(a.value("ok", false));	// nothing there: nothing to remove
	a = ask("not json");
	CHECK_FALSE(a.value("ok", true));
	a = ask(R"({"cmd":"format-disk"})");
	CHECK(a.value("error", "").find("not a request dtrbdctl peer-exec knows") != std::string::npos);
	a = ask(R"({"cmd":"domain-remove","name":"vm1"})", "p9");
	CHECK(a.value("error", "").find("p9 is not the other host") != std::string::npos);
}

TEST_CASE("leaving tells the peer what is still Primary or running here, or everything without dtrbdd",
	  "[cli]")
{
	test::TmpDir dir;
	std::ofstream(dir.path() + "/secret") << "0123456789abcdef0123456789abcdef\n";
	std::filesystem::permissions(dir.path() + "/secret", std::filesystem::perms::owner_read |
						      std::filesystem::perms::owner_write);
	const std::string conf = dir.path() + "/dtrbd.conf";
	std::ofstream(conf) << "secret-file = \"secret\"\n[hosts.p1]\naddress = \"10.99.0.1\"\n"
			       "[hosts.p2]\naddress = \"10.99.0.2\"\n"
			       "[resources.vm1]\nminor = 1\nport = 7701\ndisk = \"/dev/vdb\"\n"
			       "[resources.vm2]\nminor = 2\nport = 7702\ndisk = \"/dev/vdc\"\n"
			       "[resources.vm3]\nminor = 3\nport = 7703\ndisk = \"/dev/vdd\"\n";
	Cli cli;
	std::vector<json> sent;
	std::string peer_asked;
	Status peer_error;
	cli.ask_peer = [&](const config::Config &, const std::string &self, const std::string &peer,
			   const json &req, std::chrono::milliseconds) -> Result<json> {
		CHECK(self == "p1");
		peer_asked = peer;
		sent.push_back(req);
		if (!peer_error.ok())
			return peer_error;
		return json{{"ok", true}, {"message", "p2 noted that p1 is going down with vm1"}};
	};
	// dtrbdd here: vm1 Primary, vm2 demoted but its domain still here, vm3
	// Secondary with its domain on p2.
	cli.ask_daemon = [&](const std::string &, const json &req) -> Result<json> {
		CHECK(req == json{{"cmd", "cluster"}});
		return json{{"ok", true}, {"cluster", {{"host", "p1"}, {"resources", {
			{{"name", "vm1"}, {"role", "primary"}, {"vm", {{"host", "p1"}}}},
			{{"name", "vm2"}, {"role", "secondary"}, {"vm", {{"host", "p1"}}}},
			{{"name", "vm3"}, {"role", "secondary"}, {"vm", {{"host", "p2"}}}}}}}}};
	};
	auto r = cli({"leaving", "--config", conf, "--host", "p1", "--reason", "VMs did not stop"});
	INFO(r.out << r.err);
	CHECK(r.rc == 0);
	CHECK(r.out == "p2 noted that p1 is going down with vm1\n");
	REQUIRE(sent.size() == 1);
	CHECK(peer_asked == "p2");
	CHECK(sent[0] == json{{"cmd", "host-leaving"}, {"resources", {"vm1", "vm2"}},
			      {"reason", "VMs did not stop"}});

	// No dtrbdd here: every resource of this host, and the reason says so.
	cli.ask_daemon = [&](const std::string &, const json &) -> Result<json> {
		return Status::error("dtrbdd is not running on this host");
	};
	r = cli({"leaving", "--config", conf, "--host", "p1", "--json"});
	CHECK(r.rc == 0);
	REQUIRE(sent.size() == 2);
	CHECK(sent[1]["resources"] == json{"vm1", "vm2", "vm3"});
	CHECK(sent[1]["reason"] == "dtrbdd on p1 did not answer, so every resource of p1 is named");
	json j = json::parse(r.out);
	CHECK(j["ok"] == true);
	CHECK(j["peer"] == "p2");
	CHECK(j["resources"] == json{"vm1", "vm2", "vm3"});

	// The peer cannot be told: exit 1 and why.
	peer_error = Status::error("p2 (10.99.0.2:7787) did not answer within 5 s");
	r = cli({"leaving", "--config", conf, "--host", "p1"});
	CHECK(r.rc == 1);
	CHECK(r.err.find("could not tell p2 that p1 is going down: p2 (10.99.0.2:7787) did not answer") !=
	      std::string::npos);
}
