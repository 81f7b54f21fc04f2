// SPDX-License-Identifier: GPL-2.0
// provision and deprovision across two hosts (provision/provision.h): the
// real agents (provision/agent.h) of two "hosts", each a scratch directory
// with its own dtrbd.conf, domains directory and a fake LVM whose volumes
// are regular files, driven through halves that can fail any step. After a
// failure at every step in turn, both hosts must be as they were.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "cli/provision_cli.h"
#include "common/file.h"
#include "config/config.h"
#include "fake_kernel.h"
#include "meta/disk.h"
#include "provision/agent.h"
#include "provision/provision.h"
#include "tmpdir.h"

using namespace dtrbd;
using namespace dtrbd::provision;
using nlohmann::json;

namespace {

const std::string kConf = R"(# the lab pair
secret-file = "secret"   # next to this file

[hosts.p1]
address = "10.99.0.1"
[hosts.p2]
address = "10.99.0.2"

# vm1: the web server
[resources.vm1]
minor = 1
port = 7701
disk = "/dev/vg0/vm1"
preferred = "p1"
)";

constexpr uint64_t kMiB = 1 << 20;

// Volumes are files under the host's directory; a new one is full of 0xAA
// (what a removed volume may have left in the extents).
class FakeLvm : public Lvm {
public:
	explicit FakeLvm(std::string dir) : dir_(std::move(dir))
	{
		std::filesystem::create_directories(dir_ + "/vg0");	// like /dev/vg0
	}
	uint64_t free = 1024 * kMiB, extent = 4 * kMiB;
	std::map<std::string, LvInfo> volumes;
	std::string path(const std::string &vg, const std::string &lv) const
	{
		return str(dir_, "/", vg, "/", lv);
	}
	Result<VgInfo> vg_info(const std::string &vg) override
	{
		if (vg != "vg0")
			return Status::error(str("volume group ", vg, " not found"));
		return VgInfo{vg, 2048 * kMiB, free, extent};
	}
	Result<std::vector<LvInfo>> lvs(const std::string &vg) override
	{
		if (vg != "vg0")
			return Status::error(str("volume group ", vg, " not found"));
		std::vector<LvInfo> v;
		for (const auto &[n, l] : volumes)
			v.push_back(l);
		return v;
	}
	Status lv_create(const std::string &vg, const std::string &lv, uint64_t bytes,
			 const std::string &tag) override
	{
		if (volumes.count(lv))
			return Status::error("exists");
		if (bytes % extent || bytes > free)
			return Status::error("bad size");
		std::ofstream f(path(vg, lv), std::ios::binary);
		std::string junk(kMiB, '\xaa');
		for (uint64_t i = 0; i < bytes / kMiB; i++)
			f << junk;
		LvInfo l{lv, bytes, {}};
		if (!tag.empty())
			l.tags.push_back(tag);
		volumes[lv] = l;
		free -= bytes;
		return {};
	}
	Status lv_remove(const std::string &vg, const std::string &lv) override
	{
		if (!volumes.count(lv))
			return Status::error("no such volume");
		free += volumes[lv].size;
		volumes.erase(lv);
		std::filesystem::remove(path(vg, lv));
		return {};
	}

private:
	std::string dir_;
};

struct Host {
	std::string name;
	test::TmpDir dir;
	FakeLvm lvm{dir.path()};
	std::string conf = dir.path() + "/dtrbd.conf";
	std::string domains = dir.path() + "/domains";
	int reloads = 0;
	std::optional<uint8_t> role;	// the device of dev_minor, as the kernel says
	uint32_t dev_minor = 1;

	explicit Host(std::string n) : name(std::move(n))
	{
		std::ofstream(dir.path() + "/secret") << "0123456789abcdef0123456789abcdef\n";
		::chmod((dir.path() + "/secret").c_str(), 0600);
		std::ofstream(conf) << kConf;
	}
	std::string text() const { return *read_whole_file(conf); }
	Agent agent()
	{
		Agent a;
		a.self = name;
		a.config_path = conf;
		a.domains_dir = domains;
		a.lvm = &lvm;
		a.lv_path = [this](const std::string &vg, const std::string &lv) {
			return lvm.path(vg, lv);
		};
		a.open_kernel = [this]() -> Result<std::unique_ptr<Kernel>> {
			auto k = std::make_unique<test::FakeKernel>();
			if (role) {
				k->add_device(dev_minor, 64 * kMiB);
				k->devices[dev_minor].role = *role;
			}
			return std::unique_ptr<Kernel>(std::move(k));
		};
		return a;
	}
	std::set<std::string> files() const
	{
		std::set<std::string> s;
		for (const auto &e : std::filesystem::recursive_directory_iterator(dir.path()))
			s.insert(e.path().string());
		return s;
	}
};

// A host's half that fails the @fail_at-th call (0-based, over both
// halves: the counter is shared) with "injected".
class TestHalf : public Half {
public:
	TestHalf(Host &h, int &calls, int fail_at) : h_(h), calls_(calls), fail_at_(fail_at) {}
	const std::string &host() const override { return h_.name; }
	Result<json> call(const json &req, std::chrono::milliseconds) override
	{
		log.push_back(req.value("cmd", ""));
		if (calls_++ == fail_at_)
			return Status::error("injected");
		json r = agent_execute(h_.agent(), req);
		if (!r.value("ok", false))
			return Status::error(r.value("error", std::string()));
		return r;
	}
	Status reload() override
	{
		h_.reloads++;
		return {};
	}
	std::vector<std::string> log;

private:
	Host &h_;
	int &calls_;
	int fail_at_;
};

config::Config cfg_of(const Host &h)
{
	auto c = config::load_or_refuse(h.conf);
	REQUIRE(c.ok());
	return *c;
}

const char *kXml = R"(<domain type='kvm'>
  <name>web2</name>
  <memory unit='MiB'>256</memory>
  <devices>
    <disk type='block' device='disk'>
      <source dev='/dev/dtrbd/by-res/vm2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
  </devices>
</domain>
)";

ProvisionOptions vm2(bool with_xml = true)
{
	ProvisionOptions o;
	o.name = "vm2";
	o.size = 64 * kMiB;
	o.vg = "vg0";
	if (with_xml) {
		o.domain_xml = kXml;
		o.domain_xml_source = "web2.xml";
	}
	return o;
}

bool all_zero(const std::string &path, uint64_t bytes)
{
	std::ifstream f(path, std::ios::binary);
	std::string buf(kMiB, '\1');
	for (uint64_t done = 0; done < bytes;) {
		uint64_t n = std::min(kMiB, bytes - done);
		f.read(buf.data(), static_cast<std::streamsize>(n));
		if (!f || buf.find_first_not_of('\0', 0) < n)
			return false;
		done += n;
	}
	return true;
}

} // namespace

TEST_CASE("provision: both hosts get the volume, zeroed, one generation, the same configuration",
	  "[provision-run]")
{
	Host p1("p1"), p2("p2");
	config::Config cfg = cfg_of(p1);
	int calls = 0;
	TestHalf local(p1, calls, -1), remote(p2, calls, -1);
	Report rep;
	std::vector<std::string> said;
	Status st = provision::provision(cfg, p1.text(), vm2(), local, remote, rep,
			      [&](const std::string &s) { said.push_back(s); });
	INFO(st.message());
	REQUIRE(st.ok());
	CHECK(rep.minor == 0);
	CHECK(rep.port == 7702);
	CHECK(rep.summary.find("provisioned 'vm2'") != std::string::npos);
	CHECK(!said.empty());

	// One file, on both hosts; it loads and has the resource.
	REQUIRE(p1.text() == p2.text());
	CHECK(p1.text().starts_with(kConf));
	auto c = cfg_of(p1);
	const config::Resource *r = c.find_resource("vm2");
	REQUIRE(r);
	CHECK(r->minor == 0);
	CHECK(r->preferred == std::optional<std::string>("p1"));
	CHECK(r->domain == "web2");
	CHECK(r->domain_xml == p1.domains + "/vm2.xml");
	CHECK(config::disk_path(*r, "p1") == std::optional<std::string>(p1.lvm.path("vg0", "vm2")));
	CHECK(config::disk_path(*r, "p2") == std::optional<std::string>(p2.lvm.path("vg0", "vm2")));

	// The volumes: the same size, tagged, zeroed, UpToDate metadata with
	// one current uuid, and the device at least the size asked for.
	uint64_t cur = 0;
	for (Host *h : {&p1, &p2}) {
		REQUIRE(h->lvm.volumes.count("vm2"));
		const LvInfo &lv = h->lvm.volumes["vm2"];
		CHECK(lv.size == rep.volume_bytes);
		CHECK(lv.size % (4 * kMiB) == 0);
		CHECK(lv.has_tag(kProvisionedTag));
		auto md = read_metadata(h->lvm.path("vg0", "vm2"));
		REQUIRE(md.ok());
		CHECK((md->flags & DTRBD_MDF_CONSISTENT));
		CHECK((md->flags & DTRBD_MDF_WAS_UPTODATE));
		CHECK_FALSE((md->flags & DTRBD_MDF_PRIMARY));
		CHECK(md->bitmap_uuid == 0);
		CHECK(md->data_size >= 64 * kMiB);
		CHECK(md->current_uuid != 0);
		if (cur)
			CHECK(md->current_uuid == cur);
		cur = md->current_uuid;
		CHECK(all_zero(h->lvm.path("vg0", "vm2"), md->data_size));
		CHECK(*read_whole_file(h->domains + "/vm2.xml") == kXml);
		CHECK(h->reloads == 1);
	}
}

TEST_CASE("provision: a failure at any step leaves both hosts as they were", "[provision-run]")
{
	// Count the calls of a good run, then fail each one in turn.
	int total = 0;
	{
		Host p1("p1"), p2("p2");
		TestHalf local(p1, total, -1), remote(p2, total, -1);
		Report rep;
		REQUIRE(provision::provision(cfg_of(p1), p1.text(), vm2(), local, remote, rep).ok());
	}
	REQUIRE(total >= 8);	// 2 checks, 2 volumes, 2 XMLs, 2 configurations
	for (int fail = 0; fail < total; fail++) {
		Host p1("p1"), p2("p2");
		auto before1 = p1.files(), before2 = p2.files();
		int calls = 0;
		TestHalf local(p1, calls, fail), remote(p2, calls, fail);
		Report rep;
		Status st = provision::provision(cfg_of(p1), p1.text(), vm2(), local, remote, rep);
		INFO("failing call " << fail << ": " << st.message());
		REQUIRE_FALSE(st.ok());
		CHECK(st.message().find("injected") != std::string::npos);
		CHECK(st.message().find("failed on p") != std::string::npos);
		CHECK((st.message().find("nothing had been created") != std::string::npos ||
		       st.message().find("removed again on both hosts") != std::string::npos));
		CHECK(p1.text() == kConf);
		CHECK(p2.text() == kConf);
		CHECK(p1.lvm.volumes.empty());
		CHECK(p2.lvm.volumes.empty());
		CHECK(p1.lvm.free == 1024 * kMiB);
		// No file left behind: no volume, no XML, no temporary file.
		auto after1 = p1.files(), after2 = p2.files();
		after1.erase(p1.domains);
		after2.erase(p2.domains);
		CHECK(after1 == before1);
		CHECK(after2 == before2);
		CHECK(p1.reloads + p2.reloads == 0);
	}
}

TEST_CASE("provision: refusals before anything is created", "[provision-run]")
{
	Host p1("p1"), p2("p2");
	int calls = 0;
	TestHalf local(p1, calls, -1), remote(p2, calls, -1);
	Report rep;
	auto refused = [&](ProvisionOptions o, const std::string &what) {
		auto f1 = p1.files(), f2 = p2.files();
		auto v2 = p2.lvm.volumes.size();
		std::string t1 = p1.text(), t2 = p2.text();
		Status st = provision::provision(cfg_of(p1), p1.text(), o, local, remote, rep);
		INFO(st.message());
		CHECK_FALSE(st.ok());
		CHECK(st.message().find(what) != std::string::npos);
		CHECK(p1.lvm.volumes.empty());
		CHECK(p2.lvm.volumes.size() == v2);
		CHECK(p1.text() == t1);
		CHECK(p2.text() == t2);
		CHECK(p1.files() == f1);
		CHECK(p2.files() == f2);
	};
	ProvisionOptions o = vm2();
	o.name = "vm1";
	refused(o, "a resource 'vm1' is in");
	o = vm2();
	o.name = "-x";
	refused(o, "not a resource name");
	o = vm2();
	o.preferred = "p9";
	refused(o, "--preferred p9 is not a host");
	o = vm2();
	o.vg = "vg9";
	refused(o, "volume group vg9 not found");
	o = vm2();
	o.size = 4096 * kMiB;
	refused(o, "bytes free");
	o = vm2();
	o.domain_xml = std::string(kXml).replace(std::string(kXml).find("by-res/vm2"), 10, "by-res/vm9");
	refused(o, "no <disk type='block'> on /dev/dtrbd/by-res/vm2");
	o = vm2();
	o.domain_xml = "<domain";
	refused(o, "web2.xml");

	// The peer has another file, or the volume already.
	std::ofstream(p2.conf, std::ios::app) << "# edited on p2\n";
	refused(vm2(), "is not the same file");
	std::ofstream(p2.conf) << kConf;
	p2.lvm.volumes["vm2"] = LvInfo{"vm2", 4 * kMiB, {}};
	refused(vm2(), "a logical volume vg0/vm2 exists on p2");
	p2.lvm.volumes.clear();
	// A device with the new minor (0) exists on the peer.
	p2.dev_minor = 0;
	p2.role = DTRBD_ROLE_SECONDARY;
	refused(vm2(), "/dev/dtrbd0 exists on p2");
}

TEST_CASE("deprovision: undoes provision on both hosts byte for byte", "[provision-run]")
{
	Host p1("p1"), p2("p2");
	int calls = 0;
	TestHalf local(p1, calls, -1), remote(p2, calls, -1);
	Report rep;
	REQUIRE(provision::provision(cfg_of(p1), p1.text(), vm2(), local, remote, rep).ok());

	// Primary on the peer: refused, nothing changed.
	p2.role = DTRBD_ROLE_PRIMARY;
	std::string provisioned = p1.text();
	DeprovisionOptions d;
	d.name = "vm2";
	// The fake kernels report minor 1; vm2 got minor 0 (vm1 has 1):
	// deprovision vm1 is the one refused for the Primary.
	DeprovisionOptions d1;
	d1.name = "vm1";
	Report r1;
	Status st = deprovision(cfg_of(p1), p1.text(), d1, local, remote, r1);
	CHECK_FALSE(st.ok());
	CHECK(st.message().find("'vm1' is Primary on p2") != std::string::npos);
	CHECK(p1.text() == provisioned);
	CHECK(p2.text() == provisioned);
	p2.role.reset();

	Report r2;
	st = deprovision(cfg_of(p1), p1.text(), d, local, remote, r2);
	INFO(st.message());
	REQUIRE(st.ok());
	CHECK(p1.text() == kConf);
	CHECK(p2.text() == kConf);
	CHECK(p1.lvm.volumes.empty());
	CHECK(p2.lvm.volumes.empty());
	CHECK_FALSE(std::filesystem::exists(p1.domains + "/vm2.xml"));
	CHECK_FALSE(std::filesystem::exists(p2.domains + "/vm2.xml"));
	CHECK(p1.reloads == 2);
	CHECK(r2.summary.find("deprovisioned 'vm2'") != std::string::npos);
	CHECK(r2.summary.find("released on both") != std::string::npos);
	bool undefine_hint = false;
	for (const auto &w : r2.warnings)
		undefine_hint = undefine_hint || w.find("virsh undefine web2") != std::string::npos;
	CHECK(undefine_hint);
}

TEST_CASE("deprovision: --keep-volumes keeps them; a volume without the tag is never removed",
	  "[provision-run]")
{
	Host p1("p1"), p2("p2");
	int calls = 0;
	TestHalf local(p1, calls, -1), remote(p2, calls, -1);
	Report rep;
	REQUIRE(provision::provision(cfg_of(p1), p1.text(), vm2(false), local, remote, rep).ok());
	DeprovisionOptions d;
	d.name = "vm2";
	d.keep_volumes = true;
	Report r;
	REQUIRE(deprovision(cfg_of(p1), p1.text(), d, local, remote, r).ok());
	CHECK(p1.lvm.volumes.count("vm2"));
	CHECK(p2.lvm.volumes.count("vm2"));

	// The agent step itself: an untagged volume is refused.
	p1.lvm.volumes["vm2"].tags.clear();
	json a = agent_execute(p1.agent(), {{"cmd", "volume-remove"}, {"name", "vm2"}, {"vg", "vg0"}});
	CHECK_FALSE(a.value("ok", true));
	CHECK(a.value("error", "").find("has no tag dtrbd-provisioned") != std::string::npos);
	CHECK(p1.lvm.volumes.count("vm2"));
	// Removing what is not there is no error (a rollback may repeat).
	a = agent_execute(p1.agent(), {{"cmd", "volume-remove"}, {"name", "nope"}, {"vg", "vg0"}});
	CHECK(a.value("ok", false));
}

TEST_CASE("provision agent: config-write is a compare-and-swap, and checks what it writes",
	  "[provision-run]")
{
	Host p1("p1");
	Agent a = p1.agent();
	std::string old = p1.text();
	json r = agent_execute(a, {{"cmd", "config-write"}, {"expect_sha256", std::string(64, '0')},
				   {"text", old + "# x\n"}});
	CHECK_FALSE(r.value("ok", true));
	CHECK(r.value("error", "").find("was changed while dtrbdctl ran") != std::string::npos);
	CHECK(p1.text() == old);
	r = agent_execute(a, {{"cmd", "provision-check"}, {"name", "vm7"}, {"vg", "vg0"},
			      {"bytes", 8 * kMiB}, {"minor", 7}});
	REQUIRE(r.value("ok", false));
	std::string sha = r.value("config_sha256", "");
	r = agent_execute(a, {{"cmd", "config-write"}, {"expect_sha256", sha},
			      {"text", old + "[bogus\n"}});
	CHECK_FALSE(r.value("ok", true));
	CHECK(r.value("error", "").find("would not load") != std::string::npos);
	CHECK(p1.text() == old);
	::chmod(p1.conf.c_str(), 0640);
	r = agent_execute(a, {{"cmd", "config-write"}, {"expect_sha256", sha},
			      {"text", old + "# one more line\n"}});
	CHECK(r.value("ok", false));
	CHECK(p1.text() == old + "# one more line\n");
	struct stat st {};
	REQUIRE(::stat(p1.conf.c_str(), &st) == 0);
	CHECK((st.st_mode & 07777) == 0640);

	// Malformed requests are sentences, not crashes.
	for (const json &bad : {json::array(), json{{"cmd", 3}}, json{{"cmd", "nope"}},
				json{{"cmd", "volume-create"}, {"name", "../x"}, {"vg", "vg0"},
				     {"bytes", 1}, {"uuid", "1"}},
				json{{"cmd", "volume-create"}, {"name", "x"}, {"vg", "vg0"},
				     {"bytes", 4 * kMiB}, {"uuid", "zz"}},
				json{{"cmd", "provision-check"}, {"name", "x"}}}) {
		json e = agent_execute(a, bad);
		INFO(bad.dump());
		CHECK_FALSE(e.value("ok", true));
		CHECK_FALSE(e.value("error", "").empty());
	}
	CHECK(p1.lvm.volumes.empty());
}

TEST_CASE("provision: volume_size_for leaves at least the size for data", "[provision-run]")
{
	for (uint64_t size : {kMiB, 64 * kMiB, 1000 * kMiB, uint64_t{10} << 30})
		for (uint64_t ext : {uint64_t{4096}, 4 * kMiB, 32 * kMiB}) {
			uint64_t v = volume_size_for(size, ext);
			INFO(size << " " << ext << " " << v);
			CHECK(v % ext == 0);
			auto l = md_layout(v);
			REQUIRE(l);
			CHECK(l->data_size >= size);
			CHECK(v - size < ext + md_min_meta_size(size) + 4096);
		}
}

TEST_CASE("deprovision: a device not released keeps the volumes and says so", "[provision-run]")
{
	Host p1("p1"), p2("p2");
	int calls = 0;
	TestHalf local(p1, calls, -1), remote(p2, calls, -1);
	Report rep;
	REQUIRE(provision::provision(cfg_of(p1), p1.text(), vm2(false), local, remote, rep).ok());
	// check, check, configuration on p2 and p1, then the release on p2.
	int calls2 = 0;
	TestHalf local2(p1, calls2, 4), remote2(p2, calls2, 4);
	DeprovisionOptions d;
	d.name = "vm2";
	Report r;
	Status st = deprovision(cfg_of(p1), p1.text(), d, local2, remote2, r);
	INFO(st.message() << " " << r.to_json().dump());
	REQUIRE(st.ok());
	REQUIRE(remote2.log.size() >= 3);
	CHECK(remote2.log[2] == "device-release");
	CHECK(r.summary.find("not released everywhere") != std::string::npos);
	CHECK(r.summary.find("volumes are kept") != std::string::npos);
	CHECK(p1.lvm.volumes.count("vm2"));
	CHECK(p2.lvm.volumes.count("vm2"));
	CHECK(p1.text() == kConf);
	REQUIRE_FALSE(r.warnings.empty());
	CHECK(r.warnings.front().find("release the device on p2: injected") != std::string::npos);
}

TEST_CASE("provision: this host's zeroing progress, one line redrawn, each percent once", "[provision-run]")
{
	std::ostringstream err;
	auto p = zeroing_progress(err, "p1");
	const uint64_t total = 64 * kMiB;
	p(16 * kMiB, total);
	p(16 * kMiB + 1, total);	// still 25%: nothing
	p(32 * kMiB, total);
	p(total, total);
	CHECK(err.str() == "\r  zeroing the volume on p1: 25% (16 of 64 MiB)"
			   "\r  zeroing the volume on p1: 50% (32 of 64 MiB)"
			   "\r  zeroing the volume on p1: 100% (64 of 64 MiB)\n");
	// volume-create reports through it, ending at the whole size.
	Host h("p1");
	Agent a = h.agent();
	std::vector<std::pair<uint64_t, uint64_t>> seen;
	a.progress = [&](uint64_t d, uint64_t t) { seen.emplace_back(d, t); };
	json r = agent_execute(a, {{"cmd", "volume-create"}, {"name", "vm1"}, {"vg", "vg0"},
				   {"bytes", 8 * kMiB}, {"uuid", "00000000000000a1"}});
	INFO(r.dump());
	REQUIRE(r.value("ok", false));
	REQUIRE_FALSE(seen.empty());
	CHECK(seen.back() == std::pair<uint64_t, uint64_t>(8 * kMiB, 8 * kMiB));
}
