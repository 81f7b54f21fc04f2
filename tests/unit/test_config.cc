// SPDX-License-Identifier: GPL-2.0
// config: the issue's example, the four-VM set-up, every mistake class with
// its line, and the accessors the daemon uses.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "common/log.h"
#include "config/config.h"
#include "cli_harness.h"
#include <nlohmann/json.hpp>
#include "tmpdir.h"

using namespace dtrbd;
using namespace dtrbd::config;

namespace {

// issue 7's example, verbatim.
const char *kIssueExample = R"(secret-file = "/etc/dtrbd/secret"      # shared secret: authenticates heartbeats, the witness and replication peers

[witness]
address = "10.99.0.3:7790"

[hosts.p1]
address = "10.99.0.1"                  # replication and heartbeat
[hosts.p2]
address = "10.99.0.2"
# heartbeat = ["10.99.0.2", "10.99.1.2"]   # optional: more heartbeat links than the replication address

[resources.vm1]
minor = 1
port = 7701
disk = "/dev/vdb"                      # backing device; a table { p1 = "...", p2 = "..." } when the paths differ
preferred = "p1"
failback = "auto"                      # auto | manual | never
domain = "vm1"                         # libvirt domain name
domain-xml = "/etc/dtrbd/vm1.xml"      # defined on a host when missing there
)";

const LoadOptions kNoSecret{.read_secret = false};

// Every mistake as "LINE: message".
std::vector<std::string> mistakes(const std::string &text, const LoadOptions &opt = kNoSecret)
{
	Loaded l = parse(text, "/etc/dtrbd/dtrbd.conf", opt);
	CHECK(l.config.has_value() == l.mistakes.empty());
	std::vector<std::string> out;
	for (auto &m : l.mistakes) {
		CHECK(m.message.find('\n') == std::string::npos);
		out.push_back(str(m.where.line, ": ", m.message));
	}
	return out;
}

// A two-host header the mistake tests append to.
const std::string kBase = R"(secret-file = "/etc/dtrbd/secret"
[hosts.p1]
address = "10.99.0.1"
[hosts.p2]
address = "10.99.0.2"
)";	// 5 lines

bool has(const std::vector<std::string> &ms, const std::string &line_prefix, const std::string &part)
{
	for (auto &m : ms)
		if (m.starts_with(line_prefix + ": ") && m.find(part) != std::string::npos)
			return true;
	return false;
}

std::string dump(const std::vector<std::string> &ms)
{
	std::string s;
	for (auto &m : ms)
		s += m + "\n";
	return s;
}

std::string write_secret(const test::TmpDir &dir, const std::string &content, mode_t mode)
{
	std::string p = dir.path() + "/secret";
	std::ofstream(p) << content;
	REQUIRE(chmod(p.c_str(), mode) == 0);
	return p;
}

} // namespace

TEST_CASE("config: issue 7's example is accepted exactly as written", "[config]")
{
	Loaded l = parse(kIssueExample, "/etc/dtrbd/dtrbd.conf", kNoSecret);
	INFO(dump(mistakes(kIssueExample)));
	REQUIRE(l.config);
	const Config &c = *l.config;
	CHECK(c.secret_file == "/etc/dtrbd/secret");
	REQUIRE(c.witness);
	CHECK(c.witness->address.str() == "10.99.0.3:7790");
	REQUIRE(c.hosts.size() == 2);
	CHECK(c.find_host("p1")->address.ip() == "10.99.0.1");
	REQUIRE(c.find_host("p2")->heartbeat.size() == 1);
	CHECK(c.find_host("p2")->heartbeat[0].ip() == "10.99.0.2");	// default: [address]
	const Resource *r = c.find_resource("vm1");
	REQUIRE(r);
	CHECK(r->minor == 1);
	CHECK(r->port == 7701);
	CHECK(r->hosts == std::vector<std::string>{"p1", "p2"});
	CHECK(disk_path(*r, "p1") == "/dev/vdb");
	CHECK(disk_path(*r, "p2") == "/dev/vdb");
	CHECK(!disk_path(*r, "p3"));
	CHECK(!meta_path(*r, "p1"));
	CHECK(r->preferred == "p1");
	CHECK(r->failback == Failback::Auto);
	CHECK(r->domain == "vm1");
	CHECK(r->domain_xml == "/etc/dtrbd/vm1.xml");
	CHECK(r->protocol == 'C');
	CHECK(peers(*r, "p1") == std::vector<std::string>{"p2"});
	CHECK(replication_endpoint(c, *r, "p2").str() == "10.99.0.2:7701");
	CHECK(c.find_minor(1) == r);
	CHECK(c.find_minor(2) == nullptr);
	CHECK(c.summary() == "2 hosts, 1 resource, witness 10.99.0.3:7790");
	// Defaults
	CHECK(c.heartbeat_port == kDefaultHeartbeatPort);
	CHECK(c.control_socket == "/run/dtrbd/dtrbdd.sock");
	CHECK(c.state_dir == "/var/lib/dtrbd");
	CHECK(c.timing.heartbeat_interval == Ms(200));
	CHECK(c.timing.deadtime == Ms(1000));
	CHECK(c.timing.ping_timeout > c.timing.ping_interval);
}

TEST_CASE("config: the four-VM set-up with every optional key", "[config]")
{
	test::TmpDir dir;
	std::string secret = write_secret(dir, "0123456789abcdef0123456789abcdef\n", 0600);
	std::string text = R"(secret-file = "secret"          # relative: next to this file
heartbeat-port = 7788
control-socket = "/run/dtrbd/dtrbdd.sock"
state-dir = "/var/lib/dtrbd"

[witness]
address = "10.99.0.3:7790"

[timing]
heartbeat-interval = "100ms"
deadtime = "800ms"
witness-lease = "1s"
isolation-timeout = "1.5s"
reconnect-min = "200ms"
reconnect-max = "5s"
handshake-timeout = "5s"
ping-interval = "1s"
ping-timeout = "5s"
shutdown-timeout = "2m"
start-timeout = "45s"

[hosts.p1]
address = "10.99.0.1"
heartbeat = ["10.99.0.1", "10.99.1.1"]
[hosts.p2]
address = "10.99.0.2"
heartbeat = ["10.99.0.2", "10.99.1.2"]

[resources.vm1]
minor = 1
port = 7701
disk = { p1 = "/dev/vg0/vm1", p2 = "/dev/vg1/vm1" }
meta = "/dev/vg0/vm1-meta"
preferred = "p1"
failback = "auto"
domain = "vm1"
domain-xml = "vm1.xml"

[resources.vm2]
minor = 2
port = 7702
disk = "/dev/vg0/vm2"
preferred = "p1"
failback = "manual"
domain = "vm2"
hosts = ["p2", "p1"]

[resources.vm3]
minor = 3
port = 7703
disk = "/dev/vg0/vm3"
preferred = "p2"
failback = "never"
domain = "vm3"
protocol = "B"

[resources.vm4]
minor = 4
port = 7704
disk = "/dev/vg0/vm4"
preferred = "p2"
domain = "vm4"
)";
	std::string path = dir.path() + "/dtrbd.conf";
	std::ofstream(path) << text;
	Loaded l = load(path);
	INFO(dump(mistakes(text)));
	REQUIRE(l.config);
	const Config &c = *l.config;
	CHECK(c.secret_file == dir.path() + "/secret");
	CHECK(std::string(c.secret.begin(), c.secret.end()) == "0123456789abcdef0123456789abcdef");
	CHECK(c.summary() == "2 hosts, 4 resources, witness 10.99.0.3:7790");
	CHECK(c.timing.heartbeat_interval == Ms(100));
	CHECK(c.timing.deadtime == Ms(800));
	CHECK(c.timing.isolation_timeout == Ms(1500));
	CHECK(c.timing.shutdown_timeout == Ms(120000));
	CHECK(c.timing.start_timeout == Ms(45000));
	CHECK(c.find_host("p1")->heartbeat.size() == 2);
	CHECK(c.find_host("p1")->heartbeat[1].ip() == "10.99.1.1");
	const Resource &vm1 = *c.find_resource("vm1");
	CHECK(disk_path(vm1, "p1") == "/dev/vg0/vm1");
	CHECK(disk_path(vm1, "p2") == "/dev/vg1/vm1");
	CHECK(meta_path(vm1, "p2") == "/dev/vg0/vm1-meta");
	CHECK(vm1.domain_xml == dir.path() + "/vm1.xml");
	CHECK(c.find_resource("vm2")->hosts == std::vector<std::string>{"p1", "p2"});
	CHECK(c.find_resource("vm2")->failback == Failback::Manual);
	CHECK(c.find_resource("vm3")->failback == Failback::Never);
	CHECK(c.find_resource("vm3")->protocol == 'B');
	CHECK(c.resources_of("p1").size() == 4);
	CHECK(c.resources_of("p3").empty());

	auto me = host_by_hostname(c, "p2.lab.example");
	REQUIRE(me.ok());
	CHECK((*me)->name == "p2");
	auto nobody = host_by_hostname(c, "q9");
	REQUIRE_FALSE(nobody.ok());
	CHECK(nobody.status().message().find("--host NAME") != std::string::npos);
	auto given = this_host(c, std::string_view("p1"));
	REQUIRE(given.ok());
	CHECK((*given)->name == "p1");
	CHECK_FALSE(this_host(c, std::string_view("p7")).ok());
}

TEST_CASE("config: unknown keys at every level, with their line", "[config]")
{
	auto ms = mistakes("colour = \"blue\"\n" + kBase + R"([witness]
address = "10.99.0.3:7790"
adress = "x"
[timing]
deadtim = "1s"
[resources.vm1]
minor = 1
port = 7701
disk = "/dev/vdb"
prefered = "p1"
[hosts.p3]
address = "10.99.0.9"
hb = []
)");
	INFO(dump(ms));
	CHECK(has(ms, "1", "unknown key 'colour' in the top level"));
	CHECK(has(ms, "9", "unknown key 'adress' in [witness]"));
	CHECK(has(ms, "11", "unknown key 'deadtim' in [timing]"));
	CHECK(has(ms, "16", "unknown key 'prefered' in [resources.vm1]"));
	CHECK(has(ms, "19", "unknown key 'hb' in [hosts.p3]"));
	// with three hosts, vm1 must name its two
	CHECK(has(ms, "12", "does not say which hosts"));
}

TEST_CASE("config: wrong types name the key, the place and both types", "[config]")
{
	auto ms = mistakes("heartbeat-port = \"7788\"\n" + kBase + R"([resources.vm1]
minor = "1"
port = 7701.0
disk = 5
preferred = ["p1"]
)");
	INFO(dump(ms));
	CHECK(has(ms, "1", "'heartbeat-port' in the top level must be an integer, not a string"));
	CHECK(has(ms, "8", "'minor' in [resources.vm1] must be an integer, not a string"));
	CHECK(has(ms, "9", "'port' in [resources.vm1] must be an integer, not a floating-point number"));
	CHECK(has(ms, "10", "'disk' in [resources.vm1] must be a path"));
	CHECK(has(ms, "11", "'preferred' in [resources.vm1] must be a string, not an array"));
	CHECK(ms.size() == 5);
}

TEST_CASE("config: control-port: default, range, not a resource's port", "[config]")
{
	auto ok = parse(kBase, "/etc/dtrbd/dtrbd.conf", kNoSecret);
	REQUIRE(ok.config);
	CHECK(ok.config->control_port == kDefaultControlPort);
	auto ms = mistakes("control-port = 70000\n" + kBase);
	INFO(dump(ms));
	CHECK(has(ms, "1", "control-port 70000 is out of range; use a TCP port from 1 to 65535"));
	ms = mistakes("control-port = 7701\n" + kBase + R"([resources.vm1]
minor = 1
port = 7701
disk = "/dev/vdb"
)");
	INFO(dump(ms));
	CHECK(has(ms, "9", "port 7701 of resource vm1 is the control-port of the daemons"));
	CHECK(ms.size() == 1);
}

TEST_CASE("config: duplicate minors and ports, ranges", "[config]")
{
	auto ms = mistakes(kBase + R"([resources.a]
minor = 1
port = 7701
disk = "/dev/a"
[resources.b]
minor = 1
port = 7701
disk = "/dev/b"
[resources.c]
minor = 256
port = 0
disk = "/dev/c"
[resources.d]
minor = -1
port = 65536
disk = "/dev/d"
)");
	INFO(dump(ms));
	// Minor range mistakes suppress the duplicate check (it runs only on an
	// otherwise good file), so check them separately.
	CHECK(has(ms, "15", "minor 256 of resource c is out of range; use 0 to 255"));
	CHECK(has(ms, "16", "port 0 of resource c is out of range"));
	CHECK(has(ms, "19", "minor -1 of resource d is out of range"));
	CHECK(has(ms, "20", "port 65536 of resource d is out of range"));

	ms = mistakes(kBase + R"([resources.a]
minor = 1
port = 7701
disk = "/dev/a"
[resources.b]
minor = 1
port = 7701
disk = "/dev/b"
[resources.c]
minor = 2
port = 7701
disk = "/dev/c"
)");
	INFO(dump(ms));
	CHECK(has(ms, "11", "minor 1 of resource b is already used by resource a on host p1"));
	CHECK(has(ms, "12", "port 7701 of resource b is already used by resource a"));
	CHECK(has(ms, "16", "port 7701 of resource c is already used by resource a"));
	CHECK(has(ms, "16", "port 7701 of resource c is already used by resource b"));
	CHECK(ms.size() == 4);
}

TEST_CASE("config: resources on disjoint host pairs may share minors and ports", "[config]")
{
	auto ms = mistakes(R"(secret-file = "/s"
[hosts.p1]
address = "10.0.0.1"
[hosts.p2]
address = "10.0.0.2"
[hosts.p3]
address = "10.0.0.3"
[hosts.p4]
address = "10.0.0.4"
[resources.a]
minor = 1
port = 7701
disk = "/dev/a"
hosts = ["p1", "p2"]
[resources.b]
minor = 1
port = 7701
disk = "/dev/b"
hosts = ["p3", "p4"]
)");
	INFO(dump(ms));
	CHECK(ms.empty());
}

TEST_CASE("config: preferred, failback, disk tables, hosts lists", "[config]")
{
	auto ms = mistakes(kBase + R"([resources.vm1]
minor = 1
port = 7701
disk = { p1 = "/dev/a", p3 = "/dev/b" }
preferred = "p9"
failback = "sometimes"
[resources.vm2]
minor = 2
port = 7702
disk = { p1 = "dev/a", p2 = "/dev/b" }
failback = "manual"
domain-xml = "/etc/dtrbd/vm2.xml"
protocol = "D"
hosts = ["p1", "p1", "p2", "px"]
)");
	INFO(dump(ms));
	CHECK(has(ms, "9", "disk in [resources.vm1] names the host 'p3', which is not a [hosts.NAME] table"));
	CHECK(has(ms, "9", "disk in [resources.vm1] has no path for host p2"));
	CHECK(has(ms, "10", "preferred host 'p9' of resource vm1 is not a [hosts.NAME] table"));
	CHECK(has(ms, "11", "failback 'sometimes' of resource vm1 is not auto, manual or never"));
	CHECK(has(ms, "16", "failback in [resources.vm2] has no effect without a preferred host"));
	CHECK(has(ms, "17", "domain-xml in [resources.vm2] needs domain"));
	CHECK(has(ms, "18", "protocol 'D' of resource vm2 is not A, B or C"));
	CHECK(has(ms, "19", "lists p1 twice"));
	CHECK(has(ms, "19", "names the host 'px'"));

	ms = mistakes(kBase + R"([resources.vm2]
minor = 2
port = 7702
disk = { p1 = "dev/a", p2 = "/dev/b" }
)");
	CHECK(has(ms, "9", "disk 'dev/a' for host p1 in [resources.vm2] is not an absolute path"));
}

TEST_CASE("config: addresses, names and timing", "[config]")
{
	auto ms = mistakes(R"(secret-file = "/s"
[witness]
address = "10.99.0.3"
[hosts.p1]
address = "p1.example"
heartbeat = ["10.99.1.1", "10.99.1.1", "999.1.1.1"]
[hosts."bad/name"]
address = "10.99.0.2"
[hosts.p2]
address = "10.99.0.2"
[resources."../etc"]
minor = 1
port = 7701
disk = "/dev/a"
hosts = ["p1", "p2"]
[timing]
heartbeat-interval = "500ms"
deadtime = "600ms"
ping-interval = 1000
ping-timeout = "5 parsecs"
reconnect-min = "10m"
)");
	INFO(dump(ms));
	CHECK(has(ms, "3", "the witness address '10.99.0.3' is not a valid address: the port is missing"));
	CHECK(has(ms, "5", "the address 'p1.example' of host p1 is not a numeric IPv4 or IPv6 address"));
	CHECK(has(ms, "6", "'10.99.1.1' of host p1 is listed twice"));
	CHECK(has(ms, "6", "'999.1.1.1' of host p1 is not a numeric"));
	CHECK(has(ms, "7", "the host name 'bad/name' is not usable"));
	CHECK(has(ms, "10", "host p2 has the same address 10.99.0.2 as host bad/name"));
	CHECK(has(ms, "11", "the resource name '../etc' is not safe in a file name"));
	CHECK(has(ms, "18", "deadtime 600ms is shorter than two heartbeat intervals"));
	CHECK(has(ms, "19", "'ping-interval' in [timing] must be a duration string"));
	CHECK(has(ms, "20", "ping-timeout \"5 parsecs\" is not a duration"));
	CHECK(has(ms, "21", "reconnect-max 5s is shorter than reconnect-min 10m"));

	// Columns are reported too.
	Loaded l = parse(kBase + "[witness]\naddress = \"nope\"\n", "x.conf", kNoSecret);
	REQUIRE(l.mistakes.size() == 1);
	CHECK(l.mistakes[0].where.line == 7);
	CHECK(l.mistakes[0].where.column == 11);
	CHECK(l.mistakes[0].str().starts_with("x.conf:7:11: the witness address 'nope'"));
}

TEST_CASE("config: names fit the heartbeat and witness datagrams (31 bytes)", "[config]")
{
	const std::string ok(31, 'h'), too_long(32, 'h');
	CHECK(mistakes(kBase + "[hosts." + ok + "]\naddress = \"10.99.0.3\"\n").empty());
	auto ms = mistakes(kBase + "[hosts." + too_long + "]\naddress = \"10.99.0.3\"\n");
	INFO(dump(ms));
	CHECK(has(ms, "6", "the host name '" + too_long + "' is not usable; use 1 to 31"));
}

TEST_CASE("config: the secret file is read and checked", "[config]")
{
	test::TmpDir dir;
	std::string secret = write_secret(dir, "0123456789abcdef0123", 0644);
	std::string text = "secret-file = \"" + secret + "\"\n" + kBase.substr(kBase.find('\n') + 1);
	Loaded l = parse(text, dir.path() + "/dtrbd.conf");
	REQUIRE(l.mistakes.size() == 1);
	CHECK(l.mistakes[0].where.line == 1);
	CHECK(l.mistakes[0].message.find("chmod 600 " + secret) != std::string::npos);

	REQUIRE(chmod(secret.c_str(), 0600) == 0);
	l = parse(text, dir.path() + "/dtrbd.conf");
	CHECK(l.mistakes.empty());
	REQUIRE(l.config);
	CHECK(l.config->secret.size() == 20);

	auto ms = mistakes("[hosts.p1]\naddress = \"10.0.0.1\"\n");
	CHECK(has(ms, "0", "the top level needs the key 'secret-file'"));
}

TEST_CASE("config: TOML syntax errors and unreadable files are one mistake each", "[config]")
{
	auto ms = mistakes(kBase + "[resources.vm1\nminor = 1\n");
	REQUIRE(ms.size() == 1);
	CHECK(has(ms, "6", "this is not valid TOML"));

	ms = mistakes(kBase + "[hosts.p1]\naddress = \"10.0.0.5\"\n");	// duplicate table
	REQUIRE(ms.size() == 1);
	CHECK(ms[0].find("not valid TOML") != std::string::npos);

	Loaded l = load("/nonexistent/dtrbd.conf");
	REQUIRE(l.mistakes.size() == 1);
	CHECK(l.mistakes[0].str() == "/nonexistent/dtrbd.conf: it does not exist; create it (see "
				     "Documentation/configuration.md) or name another with --config PATH");
	auto r = load_or_refuse("/nonexistent/dtrbd.conf");
	REQUIRE_FALSE(r.ok());
	CHECK(r.status().message().starts_with("/nonexistent/dtrbd.conf: it does not exist"));
}

TEST_CASE("config: load_or_refuse counts the other mistakes", "[config]")
{
	test::TmpDir dir;
	std::string path = dir.path() + "/dtrbd.conf";
	std::ofstream(path) << "a = 1\nb = 2\nc = 3\n" << kBase;
	auto r = load_or_refuse(path, kNoSecret);
	REQUIRE_FALSE(r.ok());
	CHECK(r.status().message() == path + ":1:1: unknown key 'a' in the top level; the keys allowed there "
					    "are secret-file, witness, hosts, resources, timing, heartbeat-port, "
					    "control-port, control-socket, state-dir, metrics (and 2 more; see them all with 'dtrbdctl "
					    "check-config --config " + path + "')");
}

TEST_CASE("config: a resource needs two hosts of the same IP version", "[config]")
{
	auto ms = mistakes(R"(secret-file = "/s"
[hosts.p1]
address = "10.0.0.1"
[hosts.p2]
address = "fd00::2"
[resources.r]
minor = 1
port = 7701
disk = "/dev/a"
)");
	INFO(dump(ms));
	CHECK(has(ms, "6", "one IPv4 and one IPv6"));

	ms = mistakes(R"(secret-file = "/s"
[hosts.p1]
address = "10.0.0.1"
[resources.r]
minor = 1
port = 7701
disk = "/dev/a"
)");
	CHECK(has(ms, "4", "needs two hosts to replicate between"));
}

TEST_CASE("dtrbdctl check-config prints every mistake or the summary", "[config][cli]")
{
	test::TmpDir dir;
	std::string secret = write_secret(dir, "0123456789abcdef0123", 0600);
	std::string path = dir.path() + "/dtrbd.conf";
	test::Cli cli;

	std::ofstream(path) << "secret-file = \"" << secret << "\"\n"
			    << "[witness]\naddress = \"10.99.0.3:7790\"\n"
			    << kBase.substr(kBase.find('\n') + 1)
			    << "[resources.vm1]\nminor = 1\nport = 7701\ndisk = \"/dev/vdb\"\n";
	auto r = cli({"check-config", "--config", path});
	CHECK(r.rc == 0);
	CHECK(r.out == "2 hosts, 1 resource, witness 10.99.0.3:7790\n");
	CHECK(r.err.empty());
	CHECK(cli.opens == 0);		// no kernel needed

	r = cli({"check-config", "--config", path, "--json"});
	CHECK(r.rc == 0);
	auto j = nlohmann::json::parse(r.out);
	CHECK(j["ok"] == true);
	CHECK(j["summary"] == "2 hosts, 1 resource, witness 10.99.0.3:7790");
	CHECK(j["resources"][0]["disk"]["p2"] == "/dev/vdb");
	CHECK(j["witness"] == "10.99.0.3:7790");

	std::ofstream(path) << "secret-file = \"" << secret << "\"\nbogus = 1\n"
			    << kBase.substr(kBase.find('\n') + 1)
			    << "[resources.vm1]\nminor = 300\nport = 7701\ndisk = \"/dev/vdb\"\n";
	r = cli({"check-config", "--config", path});
	CHECK(r.rc == 1);
	CHECK(r.out == path + ":2:1: unknown key 'bogus' in the top level; the keys allowed there are "
			      "secret-file, witness, hosts, resources, timing, heartbeat-port, control-port, control-socket, "
			      "state-dir, metrics\n" +
			      path + ":8:9: minor 300 of resource vm1 is out of range; use 0 to 255\n");
	CHECK(r.err == "dtrbdctl: " + path + " has 2 mistakes; fix them and run check-config again\n");

	r = cli({"check-config", "--config", path, "--json"});
	CHECK(r.rc == 1);
	j = nlohmann::json::parse(r.out);
	CHECK(j["ok"] == false);
	REQUIRE(j["mistakes"].size() == 2);
	CHECK(j["mistakes"][1]["line"] == 8);
	CHECK(j["mistakes"][1]["column"] == 9);

	r = cli({"check-config", "--config", dir.path() + "/none.conf"});
	CHECK(r.rc == 1);
	CHECK(r.out.find("none.conf: it does not exist") != std::string::npos);
}

TEST_CASE("config: the annotated example in Documentation/configuration.md is accepted", "[config]")
{
	std::ifstream doc(DTRBD_SOURCE_DIR "/Documentation/configuration.md");
	REQUIRE(doc);
	std::string line, toml;
	bool in = false;
	int blocks = 0;
	while (std::getline(doc, line)) {
		if (line == "```toml") {
			in = true;
			blocks++;
			continue;
		}
		if (in && line == "```")
			in = false;
		else if (in)
			toml += line + "\n";
	}
	REQUIRE(blocks == 1);
	Loaded l = parse(toml, "/etc/dtrbd/dtrbd.conf", kNoSecret);
	INFO(dump(mistakes(toml)));
	REQUIRE(l.config);
	CHECK(l.config->summary() == "2 hosts, 4 resources, witness 10.99.0.3:7790");
	CHECK(l.config->find_resource("vm2")->failback == Failback::Manual);
	CHECK(disk_path(*l.config->find_resource("vm2"), "p2") == "/dev/vg1/vm2");
	CHECK(meta_path(*l.config->find_resource("vm4"), "p1") == "/dev/vg0/vm4-meta");
}

TEST_CASE("config: [metrics] textfile, good and bad", "[config][metrics]")
{
	// Off by default.
	Loaded l = parse(kBase, "/etc/dtrbd/dtrbd.conf", kNoSecret);
	REQUIRE(l.config);
	CHECK(l.config->metrics.textfile.empty());

	l = parse(kBase + "[metrics]\ntextfile = \"/var/lib/prometheus/node-exporter/dtrbd.prom\"\n",
		  "/etc/dtrbd/dtrbd.conf", kNoSecret);
	REQUIRE(l.config);
	CHECK(l.config->metrics.textfile == "/var/lib/prometheus/node-exporter/dtrbd.prom");
	CHECK(l.config->metrics.where.line == 7);

	struct Bad {
		std::string text, line, part;
	} bad[] = {
		{"[metrics]\ntextfile = \"dtrbd.prom\"\n", "7", "is not an absolute path"},
		{"[metrics]\ntextfile = \"\"\n", "7", "is not an absolute path"},
		{"[metrics]\ntextfile = \"/var/lib/dtrbd.txt\"\n", "7", "does not end in .prom"},
		{"[metrics]\ntextfile = \"/var/lib/.prom/\"\n", "7", "does not end in .prom"},
		{"[metrics]\ntextfile = \"/var/lib/x/.prom\"\n", "7", "does not end in .prom"},
		{"[metrics]\ntextfile = 3\n", "7", "'textfile' in [metrics] must be a string, not an integer"},
		{"[metrics]\ntextfile = \"/a.prom\"\nport = 9100\n", "8", "unknown key 'port' in [metrics]"},
	};
	for (const auto &b : bad) {
		auto ms = mistakes(kBase + b.text);
		INFO(b.text << "\n" << dump(ms));
		CHECK(has(ms, b.line, b.part));
	}
	// A top-level key must come before the first table.
	auto ms = mistakes("metrics = \"/a.prom\"\n" + kBase);
	INFO(dump(ms));
	CHECK(has(ms, "1", "'metrics' in the top level must be a table ([metrics]), not a string"));
}
