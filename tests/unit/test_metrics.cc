// SPDX-License-Identifier: GPL-2.0
// dtrbdd's Prometheus textfile: the exposition text byte for byte, the
// atomic write and the writer's say-it-once error handling.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "daemon/metrics.h"
#include "tmpdir.h"

using namespace dtrbd;
using namespace dtrbd::daemon::metrics;

namespace {

std::string slurp(const std::string &path)
{
	std::ifstream in(path, std::ios::binary);
	std::ostringstream ss;
	ss << in.rdbuf();
	return ss.str();
}

// Files in @dir other than @keep: what a write left behind.
std::vector<std::string> others(const std::string &dir, const std::string &keep)
{
	std::vector<std::string> out;
	for (const auto &e : std::filesystem::directory_iterator(dir))
		if (e.path().filename() != keep)
			out.push_back(e.path().filename().string());
	return out;
}

Snapshot::Link link(const std::string &address, std::optional<double> heard = std::nullopt)
{
	Snapshot::Link l;
	l.peer = "p2";
	l.address = address;
	l.last_heard_seconds = heard;
	return l;
}

Snapshot::Peer peer(bool alive, std::vector<Snapshot::Link> links)
{
	Snapshot::Peer p;
	p.name = "p2";
	p.alive = alive;
	p.links = std::move(links);
	return p;
}

} // namespace

TEST_CASE("metrics: render() of a stopped daemon is dtrbd_up 0 and its start time only", "[metrics]")
{
	Snapshot s;
	s.up = false;
	s.start_time_seconds = 1764770000.25;
	Snapshot::Resource r;
	r.name = "vm1";
	r.attached = true;
	r.role = "primary";
	s.resources.push_back(r);
	CHECK(render(s) == "# HELP dtrbd_up 1 while dtrbdd runs; 0 in the last file it wrote when it stopped.\n"
			   "# TYPE dtrbd_up gauge\n"
			   "dtrbd_up 0\n"
			   "# HELP dtrbd_start_time_seconds When dtrbdd started, in Unix time.\n"
			   "# TYPE dtrbd_start_time_seconds gauge\n"
			   "dtrbd_start_time_seconds 1764770000.250\n");
}

TEST_CASE("metrics: render() byte for byte, every family", "[metrics]")
{
	Snapshot s;
	s.start_time_seconds = 100;
	s.peers.push_back(peer(true, {link("10.99.0.2", 0.1234), link("10.99.1.2")}));
	// Attached and Primary, resyncing, after a failover.
	Snapshot::Resource r;
	r.name = "vm1";
	r.attached = true;
	r.role = "primary";
	r.connection = "connected";
	r.disk = "uptodate";
	r.peer_disk = "inconsistent";
	r.out_of_sync_bytes = 4096;
	r.resync_rate_bytes = 1048576;
	r.failovers = 2;
	r.primary_seconds = 61.5;
	r.last_failover_seconds = 3.25;
	s.resources.push_back(r);
	// Configured, not attached here: only attached and failovers (frozen
	// is for attached devices only).
	Snapshot::Resource q;
	q.name = "v\"2";
	q.frozen = true;
	s.resources.push_back(q);

	const std::string want =
		"# HELP dtrbd_up 1 while dtrbdd runs; 0 in the last file it wrote when it stopped.\n"
		"# TYPE dtrbd_up gauge\n"
		"dtrbd_up 1\n"
		"# HELP dtrbd_start_time_seconds When dtrbdd started, in Unix time.\n"
		"# TYPE dtrbd_start_time_seconds gauge\n"
		"dtrbd_start_time_seconds 100.000\n"
		"# HELP dtrbd_peer_up 1 while membership hears the peer host on some heartbeat link, 0 "
		"when it declared it dead.\n"
		"# TYPE dtrbd_peer_up gauge\n"
		"dtrbd_peer_up{peer=\"p2\"} 1\n"
		"# HELP dtrbd_peer_link_last_heard_seconds Seconds since a heartbeat from the peer last "
		"arrived on this link; absent when never heard since dtrbdd started.\n"
		"# TYPE dtrbd_peer_link_last_heard_seconds gauge\n"
		"dtrbd_peer_link_last_heard_seconds{peer=\"p2\",address=\"10.99.0.2\"} 0.123\n"
		"# HELP dtrbd_resource_attached 1 when the resource's device exists on this host with its "
		"backing disk.\n"
		"# TYPE dtrbd_resource_attached gauge\n"
		"dtrbd_resource_attached{resource=\"vm1\"} 1\n"
		"dtrbd_resource_attached{resource=\"v\\\"2\"} 0\n"
		"# HELP dtrbd_resource_role 1 for the device's role on this host, 0 for the others "
		"(attached devices only).\n"
		"# TYPE dtrbd_resource_role gauge\n"
		"dtrbd_resource_role{resource=\"vm1\",role=\"unknown\"} 0\n"
		"dtrbd_resource_role{resource=\"vm1\",role=\"secondary\"} 0\n"
		"dtrbd_resource_role{resource=\"vm1\",role=\"primary\"} 1\n"
		"# HELP dtrbd_resource_connection_state 1 for the replication connection's state, 0 for "
		"the others (attached devices only).\n"
		"# TYPE dtrbd_resource_connection_state gauge\n"
		"dtrbd_resource_connection_state{resource=\"vm1\",state=\"standalone\"} 0\n"
		"dtrbd_resource_connection_state{resource=\"vm1\",state=\"connecting\"} 0\n"
		"dtrbd_resource_connection_state{resource=\"vm1\",state=\"connected\"} 1\n"
		"dtrbd_resource_connection_state{resource=\"vm1\",state=\"disconnecting\"} 0\n"
		"# HELP dtrbd_resource_disk_state 1 for the disk state of this host's copy (side local) "
		"and the peer's (side peer), 0 for the others (attached devices only).\n"
		"# TYPE dtrbd_resource_disk_state gauge\n"
		"dtrbd_resource_disk_state{resource=\"vm1\",side=\"local\",state=\"unknown\"} 0\n"
		"dtrbd_resource_disk_state{resource=\"vm1\",side=\"local\",state=\"diskless\"} 0\n"
		"dtrbd_resource_disk_state{resource=\"vm1\",side=\"local\",state=\"inconsistent\"} 0\n"
		"dtrbd_resource_disk_state{resource=\"vm1\",side=\"local\",state=\"outdated\"} 0\n"
		"dtrbd_resource_disk_state{resource=\"vm1\",side=\"local\",state=\"uptodate\"} 1\n"
		"dtrbd_resource_disk_state{resource=\"vm1\",side=\"peer\",state=\"unknown\"} 0\n"
		"dtrbd_resource_disk_state{resource=\"vm1\",side=\"peer\",state=\"diskless\"} 0\n"
		"dtrbd_resource_disk_state{resource=\"vm1\",side=\"peer\",state=\"inconsistent\"} 1\n"
		"dtrbd_resource_disk_state{resource=\"vm1\",side=\"peer\",state=\"outdated\"} 0\n"
		"dtrbd_resource_disk_state{resource=\"vm1\",side=\"peer\",state=\"uptodate\"} 0\n"
		"# HELP dtrbd_resource_frozen 1 while the Primary's writes wait after it lost its peer.\n"
		"# TYPE dtrbd_resource_frozen gauge\n"
		"dtrbd_resource_frozen{resource=\"vm1\"} 0\n"
		"# HELP dtrbd_resource_out_of_sync_bytes Bytes marked out of sync with the peer.\n"
		"# TYPE dtrbd_resource_out_of_sync_bytes gauge\n"
		"dtrbd_resource_out_of_sync_bytes{resource=\"vm1\"} 4096\n"
		"# HELP dtrbd_resource_resync_rate_bytes_per_second Recent resync rate.\n"
		"# TYPE dtrbd_resource_resync_rate_bytes_per_second gauge\n"
		"dtrbd_resource_resync_rate_bytes_per_second{resource=\"vm1\"} 1048576\n"
		"# HELP dtrbd_resource_primary_seconds Seconds the device has been Primary on this host "
		"(at most dtrbdd's uptime); absent when it is not Primary here.\n"
		"# TYPE dtrbd_resource_primary_seconds gauge\n"
		"dtrbd_resource_primary_seconds{resource=\"vm1\"} 61.500\n"
		"# HELP dtrbd_failovers_total Failovers to this host since dtrbdd started: promotions "
		"here after the peer was declared dead and the witness granted them.\n"
		"# TYPE dtrbd_failovers_total counter\n"
		"dtrbd_failovers_total{resource=\"vm1\"} 2\n"
		"dtrbd_failovers_total{resource=\"v\\\"2\"} 0\n"
		"# HELP dtrbd_last_failover_duration_seconds The last failover to this host: seconds from "
		"the peer being declared dead to the domain running here (to the promotion for a "
		"resource without a domain).\n"
		"# TYPE dtrbd_last_failover_duration_seconds gauge\n"
		"dtrbd_last_failover_duration_seconds{resource=\"vm1\"} 3.250\n";
	CHECK(render(s) == want);
}

TEST_CASE("metrics: a family without samples is left out, HELP and TYPE too", "[metrics]")
{
	Snapshot s;
	s.peers.push_back(peer(false, {link("10.99.0.2")}));
	std::string t = render(s);
	CHECK(t.find("dtrbd_peer_up{peer=\"p2\"} 0\n") != std::string::npos);
	CHECK(t.find("dtrbd_peer_link_last_heard_seconds") == std::string::npos);
	CHECK(t.find("dtrbd_resource_") == std::string::npos);
	CHECK(t.find("dtrbd_failovers_total") == std::string::npos);
}

TEST_CASE("metrics: escape_label quotes backslash, double quote and newline", "[metrics]")
{
	CHECK(escape_label("plain") == "plain");
	CHECK(escape_label("a\\b\"c\nd") == "a\\\\b\\\"c\\nd");
	CHECK(escape_label("") == "");
}

TEST_CASE("metrics: write_atomically replaces the file whole, with the mode asked for", "[metrics]")
{
	test::TmpDir dir;
	std::string p = dir.path() + "/dtrbd.prom";
	REQUIRE(write_atomically(p, "first\n"));
	CHECK(slurp(p) == "first\n");
	struct stat st {};
	REQUIRE(::stat(p.c_str(), &st) == 0);
	CHECK((st.st_mode & 07777) == 0644);

	// A reader holding the old file keeps the old text: a new inode.
	ino_t before = st.st_ino;
	REQUIRE(write_atomically(p, "second\n", 0640));
	CHECK(slurp(p) == "second\n");
	REQUIRE(::stat(p.c_str(), &st) == 0);
	CHECK((st.st_mode & 07777) == 0640);
	CHECK(st.st_ino != before);
	CHECK(others(dir.path(), "dtrbd.prom").empty());

	// Empty text is a valid (empty) file.
	REQUIRE(write_atomically(p, ""));
	CHECK(slurp(p).empty());
}

TEST_CASE("metrics: write_atomically failures name the path and leave no temporary file", "[metrics]")
{
	test::TmpDir dir;
	Status st = write_atomically(dir.path() + "/missing/dtrbd.prom", "x\n");
	REQUIRE_FALSE(st);
	CHECK(st.message().find(dir.path() + "/missing/dtrbd.prom") != std::string::npos);
	CHECK(st.message().find("[metrics] textfile") != std::string::npos);

	// The target is a non-empty directory: rename fails, the temp file goes.
	std::filesystem::create_directory(dir.path() + "/d.prom");
	std::ofstream(dir.path() + "/d.prom/keep") << "x";
	st = write_atomically(dir.path() + "/d.prom", "x\n");
	REQUIRE_FALSE(st);
	CHECK(st.message().find("rename") != std::string::npos);
	CHECK(others(dir.path(), "d.prom").empty());
}

TEST_CASE("metrics: TextfileWriter writes on change only and says a failure once", "[metrics]")
{
	test::TmpDir dir;
	std::string p = dir.path() + "/dtrbd.prom";
	TextfileWriter w(p);
	CHECK_FALSE(w.update("a\n"));
	CHECK(w.writes() == 1);
	CHECK_FALSE(w.update("a\n"));
	CHECK(w.writes() == 1);	// unchanged: not written again
	CHECK_FALSE(w.update("b\n"));
	CHECK(w.writes() == 2);
	CHECK(slurp(p) == "b\n");

	// The path becomes a directory: the first failure is said, the same
	// failure again is not (the temporary file's random name must not make
	// each failure look new), and each update still tries.
	REQUIRE(::unlink(p.c_str()) == 0);
	std::filesystem::create_directory(p);
	std::ofstream(p + "/keep") << "x";
	auto e = w.update("c\n");
	REQUIRE(e);
	CHECK(e->starts_with("metrics: "));
	CHECK(e->find(p) != std::string::npos);
	CHECK_FALSE(w.update("c\n"));
	CHECK_FALSE(w.update("d\n"));
	CHECK(w.writes() == 2);

	// Fixed: the next update writes (even the text of the failed one), and
	// a later failure is said again.
	std::filesystem::remove_all(p);
	CHECK_FALSE(w.update("d\n"));
	CHECK(w.writes() == 3);
	CHECK(slurp(p) == "d\n");
	std::filesystem::remove(p);
	std::filesystem::create_directory(p);
	std::ofstream(p + "/keep") << "x";
	CHECK(w.update("e\n"));
}
