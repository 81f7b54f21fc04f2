// SPDX-License-Identifier: GPL-2.0
// dtrbdctl verify through the fake kernel: what it sends, how it waits for
// the result (events in any order, other devices' events, lost events,
// a connection lost meanwhile, the repair resync), and what it prints.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "cli_harness.h"

using namespace dtrbd;
using dtrbd::test::Cli;
using nlohmann::json;
using std::chrono::milliseconds;

namespace {

Event event(uint32_t minor, uint8_t type)
{
	Event e;
	e.dev.minor = minor;
	e.dev.conn = DTRBD_CONN_CONNECTED;
	e.event = type;
	return e;
}

Event verify_finished(uint32_t minor, uint64_t checked, uint64_t differing)
{
	Event e = event(minor, DTRBD_EV_VERIFY_FINISHED);
	e.dev.sync_kind = DTRBD_SK_NONE;
	e.dev.verify_checked = checked;
	e.dev.verify_differing = differing;
	return e;
}

// A connected device 0 whose verify the test scripts.
struct VerifyCli : Cli {
	VerifyCli()
	{
		kernel.add_device(0, 1 << 30);
		kernel.devices[0].conn = DTRBD_CONN_CONNECTED;
		kernel.add_device(1, 1 << 30);
	}
	// The kernel answers CMD_VERIFY by queueing @evs.
	void on_verify(std::vector<Event> evs)
	{
		kernel.on_verify = [this, evs](uint32_t, bool) {
			kernel.devices[0].sync_kind = DTRBD_SK_VERIFY;
			for (const auto &e : evs)
				kernel.events.push_back(e);
		};
	}
};

void require_failure(const test::CliRun &r, int rc, const std::string &sentence)
{
	INFO("stdout: " << r.out);
	CHECK(r.rc == rc);
	CHECK(r.err == "dtrbdctl: " + sentence + "\n");
}

} // namespace

TEST_CASE("verify: subscribes first, ignores other devices and stray events", "[verify]")
{
	VerifyCli cli;
	Event stale_sync = event(0, DTRBD_EV_SYNC_FINISHED);	// not the verify's end
	cli.on_verify({verify_finished(1, 5, 5), event(0, DTRBD_EV_VERIFY_STARTED), stale_sync,
		       event(1, DTRBD_EV_DISCONNECTED), verify_finished(0, 262144, 0),
		       event(0, DTRBD_EV_DISCONNECTED)});	// after the end: not read
	auto r = cli({"verify", "0"});
	CHECK(r.rc == 0);
	CHECK(r.err.empty());
	CHECK(r.out == "dtrbd0: verified 262144 blocks, 0 differing\n");
	CHECK(cli.kernel.subscribed_before_verify);
	CHECK(cli.kernel.calls == std::vector<std::string>{"get 0", "verify 0"});
	CHECK(cli.kernel.events.size() == 1);
}

TEST_CASE("verify: differing blocks are a result, exit 0; JSON", "[verify]")
{
	VerifyCli cli;
	cli.on_verify({event(0, DTRBD_EV_VERIFY_STARTED), verify_finished(0, 65536, 3)});
	auto r = cli({"verify", "0"});
	CHECK(r.rc == 0);
	CHECK(r.out == "dtrbd0: verified 65536 blocks, 3 differing\n");

	// The finished event without the counters: they are asked for.
	Event bare = event(0, DTRBD_EV_VERIFY_FINISHED);
	cli.on_verify({bare});
	cli.kernel.devices[0].verify_checked = 65536;
	cli.kernel.devices[0].verify_differing = 3;
	r = cli({"verify", "0", "--json"});
	CHECK(r.rc == 0);
	CHECK(json::parse(r.out) == json{{"minor", 0}, {"blocks_checked", 65536},
					 {"blocks_differing", 3}, {"repaired", false},
					 {"seconds", 0.0}});
	CHECK(r.out.find('\n') == r.out.size() - 1);	// one line
}

TEST_CASE("verify: a lost event is made up for by polling on quiet seconds", "[verify]")
{
	VerifyCli cli;
	auto &d = cli.kernel.devices[0];
	d.verify_checked = 999;		// from an earlier verify: not this result
	d.verify_differing = 9;
	cli.on_verify({});		// the kernel's events never arrive
	int idle = 0;
	cli.kernel.on_idle = [&] {
		if (++idle == 3) {
			d.sync_kind = DTRBD_SK_NONE;
			d.verify_checked = 4096;
			d.verify_differing = 1;
		}
	};
	auto r = cli({"verify", "0", "--json"});
	CHECK(r.rc == 0);
	CHECK(json::parse(r.out) == json{{"minor", 0}, {"blocks_checked", 4096},
					 {"blocks_differing", 1}, {"repaired", false},
					 {"seconds", 3.0}});
	CHECK(cli.kernel.waited == milliseconds(3000));
}

TEST_CASE("verify: a connection lost meanwhile fails with the kernel's reason", "[verify]")
{
	VerifyCli cli;
	Event gone = event(0, DTRBD_EV_DISCONNECTED);
	gone.reason = "the peer stopped answering pings";
	cli.on_verify({event(0, DTRBD_EV_VERIFY_STARTED), gone});
	require_failure(cli({"verify", "0"}), 1, "the peer stopped answering pings");

	cli.on_verify({event(0, DTRBD_EV_DISCONNECTED)});
	require_failure(cli({"verify", "0"}), 1,
			"dtrbd0 lost the connection to its peer during the verify and the "
			"kernel gave no reason");

	Event io = event(0, DTRBD_EV_IO_ERROR);
	io.reason = "dtrbd0: write error on /dev/vg0/vm1: detached the disk";
	cli.on_verify({io});
	require_failure(cli({"verify", "0", "--json"}), 1,
			"dtrbd0: write error on /dev/vg0/vm1: detached the disk");
}

TEST_CASE("verify --repair waits for the resync of what differed", "[verify]")
{
	VerifyCli cli;
	Event started = event(0, DTRBD_EV_SYNC_STARTED);
	started.dev.sync = DTRBD_SYNC_SOURCE;
	started.dev.sync_kind = DTRBD_SK_BITMAP;
	cli.on_verify({verify_finished(0, 8, 2), started, event(1, DTRBD_EV_SYNC_FINISHED),
		       event(0, DTRBD_EV_SYNC_FINISHED)});
	auto r = cli({"verify", "0", "--repair"});
	CHECK(r.rc == 0);
	CHECK(r.out == "dtrbd0: verified 8 blocks, 2 differing, repaired\n");
	CHECK(cli.kernel.calls.back() == "verify 0 repair");
	CHECK(cli.kernel.events.empty());

	SECTION("nothing differs: nothing to wait for, nothing repaired")
	{
		cli.on_verify({verify_finished(0, 8, 0), event(0, DTRBD_EV_DISCONNECTED)});
		r = cli({"verify", "0", "--repair", "--json"});
		CHECK(r.rc == 0);
		CHECK(json::parse(r.out)["repaired"] == false);
	}
	SECTION("the resync's end is found by polling")
	{
		auto &d = cli.kernel.devices[0];
		cli.on_verify({verify_finished(0, 8, 2)});
		int idle = 0;
		cli.kernel.on_idle = [&] {
			idle++;
			d.sync_kind = DTRBD_SK_BITMAP;
			d.sync = idle < 2 ? DTRBD_SYNC_NONE : DTRBD_SYNC_SOURCE;	// not started yet
			d.oos_bytes = 8192;
			if (idle == 4) {
				d.sync = DTRBD_SYNC_NONE;
				d.oos_bytes = 0;
			}
		};
		r = cli({"verify", "0", "--repair", "--json"});
		CHECK(r.rc == 0);
		CHECK(json::parse(r.out) == json{{"minor", 0}, {"blocks_checked", 8},
						 {"blocks_differing", 2}, {"repaired", true},
						 {"seconds", 4.0}});
	}
	SECTION("the resync's events came before the verify's: found by polling")
	{
		auto &d = cli.kernel.devices[0];
		cli.on_verify({started, event(0, DTRBD_EV_SYNC_FINISHED), verify_finished(0, 8, 2)});
		cli.kernel.on_idle = [&] {
			d.sync_kind = DTRBD_SK_NONE;
			d.sync = DTRBD_SYNC_NONE;
			d.oos_bytes = 0;
		};
		r = cli({"verify", "0", "--repair"});
		CHECK(r.rc == 0);
		CHECK(r.out == "dtrbd0: verified 8 blocks, 2 differing, repaired\n");
		CHECK(cli.kernel.waited == milliseconds(1000));
	}
	SECTION("the connection is lost during the resync")
	{
		Event gone = event(0, DTRBD_EV_DISCONNECTED);
		cli.on_verify({verify_finished(0, 8, 2), started, gone});
		require_failure(cli({"verify", "0", "--repair"}), 1,
				"dtrbd0 lost the connection to its peer during the repair resync "
				"after the verify and the kernel gave no reason");
	}
}

TEST_CASE("verify: refusals, timeout, interruption", "[verify]")
{
	VerifyCli cli;
	require_failure(cli({"verify", "7"}), 1,
			"dtrbd7 is not attached; run dtrbdctl attach 7 --disk PATH first");

	cli.kernel.devices[0].conn = DTRBD_CONN_STANDALONE;
	require_failure(cli({"verify", "0"}), 1,
			"dtrbd0 is standalone: a verify compares with the peer, so connect it first");
	CHECK(cli.kernel.calls == std::vector<std::string>{"get 7", "get 0"});
	cli.kernel.devices[0].conn = DTRBD_CONN_CONNECTED;

	cli.kernel.refuse = Status::error("dtrbd0 is resyncing: start the verify when it is done", EBUSY);
	require_failure(cli({"verify", "0"}), 1, "dtrbd0 is resyncing: start the verify when it is done");

	cli.on_verify({});		// runs forever
	require_failure(cli({"verify", "0", "--timeout", "5"}), 1,
			"dtrbd0: the verify did not finish within 5 s; it goes on in the kernel "
			"(see dtrbdctl status 0)");
	CHECK(cli.kernel.waited == milliseconds(5000));

	cli.stop = [&] { return cli.kernel.waited >= milliseconds(2000); };
	require_failure(cli({"verify", "0"}), 1,
			"interrupted; the verify of dtrbd0 goes on in the kernel (see dtrbdctl "
			"status 0)");

	cli.stop = [] { return false; };
	cli.kernel.on_idle = [&] { cli.kernel.devices.erase(0); };
	require_failure(cli({"verify", "0"}), 1, "dtrbd0 was detached during the verify");
}

TEST_CASE("verify: progress line only on a terminal", "[verify]")
{
	VerifyCli cli;
	auto &d = cli.kernel.devices[0];
	cli.kernel.on_verify = [&](uint32_t, bool) {
		d.sync_kind = DTRBD_SK_VERIFY;
		d.sync_total = 1000;
		d.sync_done = 400;
	};
	int idle = 0;
	cli.kernel.on_idle = [&] {
		if (++idle == 2)
			cli.kernel.events.push_back(verify_finished(0, 250, 0));
	};
	cli.terminal = true;
	auto r = cli({"verify", "0"});
	CHECK(r.rc == 0);
	CHECK(r.out == "dtrbd0: verified 250 blocks, 0 differing\n");
	CHECK(r.err == "\r\033[Kdtrbd0: verifying [########............] 40.0%"
		       "\r\033[Kdtrbd0: verifying [########............] 40.0%"
		       "\r\033[K");

	cli.terminal = false;
	idle = 0;
	r = cli({"verify", "0"});
	CHECK(r.rc == 0);
	CHECK(r.err.empty());
}

TEST_CASE("verify: usage errors never reach the kernel", "[verify]")
{
	VerifyCli cli;
	for (const char *bad : {"-1", "abc", "604801", "1.5"})
		require_failure(cli({"verify", "0", "--timeout", bad}), 2,
				std::string("--timeout must be a number of seconds from 0 to 604800, not '") +
					bad + "'");
	require_failure(cli({"verify"}), 2, "verify needs a MINOR (0-255); see dtrbdctl verify --help");
	require_failure(cli({"verify", "0", "--repair=yes"}), 2,
			"option '--repair' does not take any arguments (see dtrbdctl verify --help)");
	CHECK(cli.opens == 0);
}
