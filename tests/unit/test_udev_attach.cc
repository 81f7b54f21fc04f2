// SPDX-License-Identifier: GPL-2.0
// dtrbdctl udev-attach: which resource a device that appeared belongs to,
// and what is done about it (ask dtrbdd, or attach as dtrbdd would).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <fstream>
#include <sstream>

#include "cli/udev_attach.h"
#include "cli_harness.h"
#include "tmpdir.h"

using namespace dtrbd;
using nlohmann::json;

namespace {

struct Site {
	test::TmpDir dir;
	std::string conf, disk1, disk2, other;
	test::Cli cli;

	Site()
	{
		disk1 = dir.file("lv-vm1", 64 << 20);
		disk2 = dir.file("lv-vm2", 64 << 20);
		other = dir.file("lv-other", 64 << 20);
		// What udev hands over is often a symlink (/dev/vg0/vm1 -> ../dm-3).
		REQUIRE(symlink(disk1.c_str(), (dir.path() + "/link-vm1").c_str()) == 0);
		conf = dir.path() + "/dtrbd.conf";
		std::ofstream(conf) << "secret-file = \"secret\"\n"
				    << "[hosts.p1]\naddress = \"10.99.0.1\"\n"
				    << "[hosts.p2]\naddress = \"10.99.0.2\"\n"
				    << "[resources.vm1]\nminor = 1\nport = 7701\ndisk = \"" << dir.path()
				    << "/link-vm1\"\n"
				    << "[resources.vm2]\nminor = 2\nport = 7702\n"
				    << "disk = { p1 = \"" << disk2 << "\", p2 = \"/dev/vg9/vm2\" }\n";
		REQUIRE(cli({"create-md", "--disk", disk1}).rc == 0);
		REQUIRE(cli({"create-md", "--disk", disk2}).rc == 0);
	}

	config::Config config() const
	{
		auto c = config::load_or_refuse(conf, {.read_secret = false});
		REQUIRE(c);
		return *c;
	}

	UdevAttach opts(const std::string &dev) const
	{
		UdevAttach o;
		o.devnode = dev;
		o.config_path = conf;
		o.host = "p1";
		o.socket = dir.path() + "/dtrbdd.sock";
		o.read_secret = false;
		return o;
	}
};

// dtrbdd is not running: what control::ask says then.
Result<json> not_running(const std::string &, const json &)
{
	return Status::error("dtrbdd is not running on this host", ENOENT);
}

} // namespace

TEST_CASE("udev-attach: a device is matched to its resource through any symlink")
{
	Site s;
	auto c = s.config();
	const config::Resource *r = backing_resource(c, "p1", s.disk1);
	REQUIRE(r);
	CHECK(r->name == "vm1");
	REQUIRE(backing_resource(c, "p1", s.dir.path() + "/link-vm1"));
	r = backing_resource(c, "p1", s.disk2);
	REQUIRE(r);
	CHECK(r->name == "vm2");
	CHECK_FALSE(backing_resource(c, "p1", s.other));
	CHECK_FALSE(backing_resource(c, "p1", s.dir.path() + "/missing"));
	// p2's disk of vm2 does not exist here: it matches nothing.
	CHECK_FALSE(backing_resource(c, "p2", s.disk2));
}

TEST_CASE("udev-attach: with dtrbdd running it asks dtrbdd and opens no kernel")
{
	Site s;
	std::vector<json> asked;
	AskDaemon ask = [&](const std::string &, const json &req) -> Result<json> {
		asked.push_back(req);
		return json{{"ok", true}, {"message", "attaching vm1's backing disk on p1 now"}};
	};
	int opens = 0;
	auto open = [&]() -> Result<std::unique_ptr<Kernel>> {
		opens++;
		return Status::error("no kernel in this test", ENOSYS);
	};
	std::ostringstream out;
	REQUIRE(cmd_udev_attach(s.opts(s.dir.path() + "/link-vm1"), ask, open, out));
	REQUIRE(asked.size() == 1);
	CHECK(asked[0] == json{{"cmd", "disk-appeared"}, {"resource", "vm1"}});
	CHECK(out.str() == "attaching vm1's backing disk on p1 now\n");
	CHECK(opens == 0);

	// dtrbdd's refusal is the command's.
	ask = [](const std::string &, const json &) -> Result<json> {
		return Status::error("unknown resource 'vm1'", EINVAL);
	};
	Status st = cmd_udev_attach(s.opts(s.disk1), ask, open, out);
	CHECK_FALSE(st);
	CHECK(st.message() == "unknown resource 'vm1'");
	CHECK(opens == 0);
}

TEST_CASE("udev-attach: without dtrbdd it attaches as dtrbdd would, once")
{
	Site s;
	auto &k = s.cli.kernel;
	std::ostringstream out;
	k.calls.clear();
	// The command owns the Kernel it opens; this one forwards to the fake.
	auto open_shared = [&]() -> Result<std::unique_ptr<Kernel>> {
		struct Fwd : test::FakeKernel {
			test::FakeKernel &real;
			explicit Fwd(test::FakeKernel &r) : real(r) {}
			Status attach(const AttachRequest &r) override { return real.attach(r); }
			Result<DeviceStatus> get(uint32_t m) override { return real.get(m); }
		};
		return std::unique_ptr<Kernel>(new Fwd(k));
	};
	REQUIRE(cmd_udev_attach(s.opts(s.disk2), not_running, open_shared, out));
	char real[PATH_MAX];
	REQUIRE(realpath(s.disk2.c_str(), real));
	CHECK(k.calls == std::vector<std::string>{"get 2", str("attach 2 ", real, " name vm2")});
	CHECK(out.str().find("dtrbd2: attached") == 0);

	// The second trigger: attached already over this disk, nothing done.
	k.add_device(2, 64 << 20);
	k.devices[2].disk_path = std::string(real);
	k.calls.clear();
	out.str("");
	REQUIRE(cmd_udev_attach(s.opts(s.disk2), not_running, open_shared, out));
	CHECK(k.calls == std::vector<std::string>{"get 2"});
	CHECK(out.str() == str("dtrbd2 (vm2) is attached already over ", real, "; nothing to do\n"));

	// The minor holds another disk: refused, with what to do.
	k.devices[2].disk_path = s.other;
	k.calls.clear();
	Status busy = cmd_udev_attach(s.opts(s.disk2), not_running, open_shared, out);
	CHECK_FALSE(busy);
	CHECK(busy.message().find("dtrbd2 is attached to " + s.other + ", not to " + s.disk2) == 0);
	CHECK(busy.message().find("dtrbdctl detach 2") != std::string::npos);
	CHECK(k.calls == std::vector<std::string>{"get 2"});
}

TEST_CASE("udev-attach: other devices and hosts without a configuration are ignored")
{
	Site s;
	int asked = 0, opens = 0;
	AskDaemon ask = [&](const std::string &, const json &) -> Result<json> {
		asked++;
		return json{{"ok", true}};
	};
	auto open = [&]() -> Result<std::unique_ptr<Kernel>> {
		opens++;
		return Status::error("no kernel", ENOSYS);
	};
	std::ostringstream out;
	REQUIRE(cmd_udev_attach(s.opts(s.other), ask, open, out));
	UdevAttach none = s.opts(s.disk1);
	none.config_path = s.dir.path() + "/no-such.conf";
	REQUIRE(cmd_udev_attach(none, ask, open, out));
	CHECK(asked == 0);
	CHECK(opens == 0);
	CHECK(out.str().empty());

	// A broken configuration is an error, not silence.
	std::ofstream(s.conf, std::ios::app) << "bogus-key = 1\n";
	Status st = cmd_udev_attach(s.opts(s.disk1), ask, open, out);
	CHECK_FALSE(st);
	CHECK(st.message().find("bogus-key") != std::string::npos);
}

TEST_CASE("udev-attach: the command line needs a DEVICE")
{
	test::Cli cli;
	auto r = cli({"udev-attach"});
	CHECK(r.rc == 2);
	CHECK(r.err == "dtrbdctl: udev-attach needs a DEVICE (a block device path); see "
		       "dtrbdctl udev-attach --help\n");
	CHECK(cli.opens == 0);
}
