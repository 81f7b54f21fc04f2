// SPDX-License-Identifier: GPL-2.0
#include "provision/provision.h"

#include <cerrno>
#include <ctime>
#include <thread>
#include <numeric>

#include "common/crypto.h"
#include "common/log.h"
#include "daemon/control.h"
#include "meta/superblock.h"
#include "peer/peer_client.h"
#include "provision/conf_edit.h"
#include "provision/size.h"
#include "vm/domain_xml.h"

namespace dtrbd::provision {

using nlohmann::json;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kShort = std::chrono::seconds(60);
// Zeroing a large volume without write-zeroes support writes all of it.
constexpr milliseconds kLong = std::chrono::hours(1);

Result<json> answer(json r)
{
	if (r.value("ok", false))
		return r;
	return Status::error(r.value("error", std::string("the step failed without saying why")));
}

// The steps of one run and what undoes them, newest last.
class Run {
public:
	Run(Report &rep, const Say &say) : rep_(rep), say_(say) {}

	Result<json> step(Half &h, const std::string &what, const json &req,
			  milliseconds timeout = kShort)
	{
		if (say_)
			say_(str(what, " on ", h.host(), " ..."));
		auto r = h.call(req, timeout);
		rep_.steps.push_back({what, h.host(), r.ok(),
				      r ? r->value("message", std::string()) : r.status().message()});
		return r;
	}

	void on_undo(Half &h, std::string what, json req)
	{
		undo_.push_back({&h, std::move(what), std::move(req)});
	}

	// The failure of @what on @h: roll back, then one sentence with both.
	Status failed(const std::string &what, const Half &h, const Status &why)
	{
		std::string undone = rollback();
		return Status::error(str(what, " failed on ", h.host(), ": ", why.message(), undone));
	}

	std::string rollback()
	{
		if (undo_.empty())
			return "; nothing had been created";
		std::vector<std::string> left;
		while (!undo_.empty()) {
			Undo u = std::move(undo_.back());
			undo_.pop_back();
			auto r = step(*u.half, "undo: " + u.what, u.req);
			if (!r)
				left.push_back(str(u.what, " on ", u.half->host(), " (", r.status().message(), ")"));
		}
		if (left.empty())
			return "; everything this run created was removed again on both hosts";
		std::string s = "; rolling back did not undo: ";
		for (size_t i = 0; i < left.size(); i++)
			s += (i ? "; " : "") + left[i];
		return s + " - undo that by hand";
	}

	void commit() { undo_.clear(); }

private:
	struct Undo {
		Half *half;
		std::string what;
		json req;
	};
	Report &rep_;
	const Say &say_;
	std::vector<Undo> undo_;
};

std::string today()
{
	char buf[32];
	std::time_t t = std::time(nullptr);
	struct tm tm {};
	gmtime_r(&t, &tm);
	std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M UTC", &tm);
	return buf;
}

Result<uint64_t> random_uuid()
{
	for (;;) {
		uint64_t u = 0;
		if (Status st = crypto::random_bytes({reinterpret_cast<uint8_t *>(&u), sizeof(u)}); !st)
			return st;
		if (u)
			return u;
	}
}

std::string hex(uint64_t v)
{
	char buf[17];
	std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
	return buf;
}

Status two_hosts(const config::Config &cfg, const Half &local, const Half &remote)
{
	if (cfg.hosts.size() != 2 || !cfg.find_host(local.host()) || !cfg.find_host(remote.host()) ||
	    local.host() == remote.host())
		return Status::error(str(cfg.path, " must name exactly two hosts, this one (",
					 local.host(), ") and its peer"));
	return {};
}

// The domain XML must be the resource's: a block disk on its device.
Result<std::string> check_domain(const ProvisionOptions &opt, uint32_t minor)
{
	auto facts = vm::scan_domain_xml(*opt.domain_xml);
	if (!facts)
		return Status::error(str(opt.domain_xml_source, ": ", facts.status().message()));
	const std::string by_res = str("/dev/dtrbd/by-res/", opt.name);
	const std::string node = str("/dev/dtrbd", minor);
	for (const auto &d : facts->block_devices)
		if (d == by_res || d == node)
			return facts->name;
	if (Status s = vm::check_domain_xml(*facts, opt.domain_xml_source, facts->name, by_res); !s)
		return s;
	return facts->name;
}

} // namespace

uint64_t volume_size_for(uint64_t size, uint64_t extent)
{
	if (extent == 0)
		extent = 4096;
	auto up = [&](uint64_t v) { return (v + extent - 1) / extent * extent; };
	uint64_t v = up(size + md_min_meta_size(size));
	for (;;) {
		auto l = md_layout(v);
		if (l && l->data_size >= size)
			return v;
		v += extent;
	}
}

json Report::to_json() const
{
	json s = json::array();
	for (const auto &st : steps)
		s.push_back({{"step", st.what}, {"host", st.host}, {"ok", st.ok}, {"message", st.message}});
	json j{{"steps", s}, {"warnings", warnings}};
	if (!summary.empty())
		j["summary"] = summary;
	if (volume_bytes) {
		j["minor"] = minor;
		j["port"] = port;
		j["volume_bytes"] = volume_bytes;
	}
	return j;
}

Result<json> LocalHalf::call(const json &req, milliseconds)
{
	return answer(agent_execute(agent_, req));
}

Status LocalHalf::reload()
{
	auto r = ask_(socket_, json{{"cmd", "reload"}});
	if (!r)
		return r.status();
	return answer(*r).status();
}

Result<json> PeerHalf::call(const json &req, milliseconds timeout)
{
	// Refused connections only: the request was never seen. That is the
	// peer's dtrbdd starting anew after a reload (its port is closed until
	// the new process has bound it again, a moment later).
	auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
	for (;;) {
		auto r = peerctl::ask_peer(cfg_, self_, peer_, req, timeout);
		if (r || r.status().errnum() != ECONNREFUSED ||
		    std::chrono::steady_clock::now() >= give_up)
			return r;
		std::this_thread::sleep_for(std::chrono::milliseconds(250));
	}
}

Status PeerHalf::reload()
{
	return peerctl::ask_peer(cfg_, self_, peer_, json{{"cmd", "reload"}}, kShort).status();
}

Status provision(const config::Config &cfg, const std::string &config_text,
		 const ProvisionOptions &opt, Half &local, Half &remote, Report &report,
		 const Say &say)
{
	if (Status s = two_hosts(cfg, local, remote); !s)
		return s;
	if (!config::safe_name(opt.name))
		return Status::error(str("'", opt.name, "' is not a resource name dtrbd accepts "
					 "(letters, digits, _ . -, not starting with . or -, at most ",
					 config::kMaxNameLen, " bytes)"));
	if (cfg.find_resource(opt.name))
		return Status::error(str("a resource '", opt.name, "' is in ", cfg.path,
					 " already: pick another name"));
	std::string preferred = opt.preferred.value_or(local.host());
	if (!cfg.find_host(preferred))
		return Status::error(str("--preferred ", preferred, " is not a host of ", cfg.path,
					 " (", local.host(), " or ", remote.host(), ")"));
	auto slot = next_free_slot(config_text, cfg.path);
	if (!slot)
		return slot.status();
	report.minor = slot->minor;
	report.port = slot->port;
	std::string domain;
	if (opt.domain_xml) {
		auto d = check_domain(opt, slot->minor);
		if (!d)
			return d.status();
		domain = *d;
		for (const auto &[n, r] : cfg.resources)
			if (r.domain == domain)
				return Status::error(str("the domain '", domain, "' belongs to resource '", n,
							 "' already: give the new one another <name>"));
	}

	Run run(report, say);
	// 1. Both hosts can take it, and have the same configuration file.
	json check{{"cmd", "provision-check"}, {"name", opt.name}, {"vg", opt.vg},
		   {"bytes", volume_size_for(opt.size, 4096)}, {"minor", slot->minor},
		   {"domain", opt.domain_xml.has_value()}};
	auto here = run.step(local, "check", check);
	if (!here)
		return run.failed("check", local, here.status());
	const std::string sha = here->value("config_sha256", std::string());
	if (sha != crypto::sha256_hex(config_text))
		return Status::error(str(cfg.path, " changed while dtrbdctl read it; try again"));
	check["config_sha256"] = sha;
	auto there = run.step(remote, "check", check);
	if (!there)
		return run.failed("check", remote, there.status());
	uint64_t extent = std::lcm(std::max<uint64_t>(here->value("extent_size", 4096ull), 1),
				   std::max<uint64_t>(there->value("extent_size", 4096ull), 1));
	uint64_t bytes = volume_size_for(opt.size, std::lcm(extent, uint64_t{4096}));
	report.volume_bytes = bytes;
	auto uuid = random_uuid();
	if (!uuid)
		return uuid.status();

	// 2. The volumes: created, zeroed, metadata with one current uuid.
	json create{{"cmd", "volume-create"}, {"name", opt.name}, {"vg", opt.vg},
		    {"bytes", bytes}, {"uuid", hex(*uuid)}};
	json remove{{"cmd", "volume-remove"}, {"name", opt.name}, {"vg", opt.vg}};
	std::map<std::string, std::string> disks;
	for (Half *h : {&remote, &local}) {
		auto r = run.step(*h, "create the volume", create, kLong);
		if (!r)
			return run.failed("creating the volume", *h, r.status());
		run.on_undo(*h, "remove the volume", remove);
		disks[h->host()] = r->value("disk", std::string());
	}

	// 3. The domain XML, where dtrbdd defines the domain from.
	std::string xml_path;
	if (opt.domain_xml) {
		json write{{"cmd", "domain-write"}, {"name", opt.name}, {"xml", *opt.domain_xml}};
		for (Half *h : {&remote, &local}) {
			auto r = run.step(*h, "write the domain XML", write);
			if (!r)
				return run.failed("writing the domain XML", *h, r.status());
			run.on_undo(*h, "remove the domain XML", {{"cmd", "domain-remove"}, {"name", opt.name}});
			xml_path = r->value("path", std::string());
		}
	}

	// 4. The same new configuration on both hosts, each written only if
	// its file is still the one checked.
	ResourceSpec spec;
	spec.name = opt.name;
	spec.minor = slot->minor;
	spec.port = slot->port;
	spec.disk = disks;
	spec.preferred = preferred;
	spec.domain = domain;
	spec.domain_xml = xml_path;
	spec.comment = str("# provisioned by dtrbdctl provision on ", local.host(), ", ", today(),
			   ": ", human_size(bytes), " in volume group ", opt.vg);
	auto next = add_resource_block(config_text, cfg.path, spec);
	if (!next)
		return run.failed("adding the resource to the configuration", local, next.status());
	const std::string next_sha = crypto::sha256_hex(*next);
	for (Half *h : {&remote, &local}) {
		auto r = run.step(*h, "write the configuration",
				  {{"cmd", "config-write"}, {"expect_sha256", sha}, {"text", *next}});
		if (!r)
			return run.failed("writing the configuration", *h, r.status());
		run.on_undo(*h, "restore the configuration",
			    {{"cmd", "config-write"}, {"expect_sha256", next_sha}, {"text", config_text}});
	}
	run.commit();

	// 5. Both daemons take it up. Past the point of no return: the
	// resource is complete and the same on both hosts; a daemon that does
	// not reload now takes it up at its next reload or start.
	for (Half *h : {&remote, &local}) {
		Status st = h->reload();
		report.steps.push_back({"reload dtrbdd", h->host(), st.ok(), st.ok() ? "" : st.message()});
		if (!st)
			report.warnings.push_back(str("dtrbdd on ", h->host(), " did not reload (",
						      st.message(), "): run 'dtrbdctl reload' there"));
	}
	report.summary = str("provisioned '", opt.name, "': /dev/dtrbd", slot->minor, " (port ",
			     slot->port, ") on ", local.host(), " and ", remote.host(), ", a ",
			     human_size(bytes), " volume ", opt.vg, "/", opt.name,
			     " on each, zeroed, no initial sync; preferred host ", preferred,
			     domain.empty() ? std::string() : str(", domain '", domain, "'"));
	return {};
}

Status deprovision(const config::Config &cfg, const std::string &config_text,
		   const DeprovisionOptions &opt, Half &local, Half &remote, Report &report,
		   const Say &say)
{
	if (Status s = two_hosts(cfg, local, remote); !s)
		return s;
	const config::Resource *res = cfg.find_resource(opt.name);
	if (!res)
		return Status::error(str("there is no resource '", opt.name, "' in ", cfg.path));
	report.minor = res->minor;
	report.port = res->port;
	auto next = remove_resource_block(config_text, cfg.path, opt.name);
	if (!next)
		return next.status();

	Run run(report, say);
	json check{{"cmd", "deprovision-check"}, {"name", opt.name}};
	auto here = run.step(local, "check", check);
	if (!here)
		return run.failed("check", local, here.status());
	const std::string sha = here->value("config_sha256", std::string());
	if (sha != crypto::sha256_hex(config_text))
		return Status::error(str(cfg.path, " changed while dtrbdctl read it; try again"));
	check["config_sha256"] = sha;
	auto there = run.step(remote, "check", check);
	if (!there)
		return run.failed("check", remote, there.status());

	const std::string next_sha = crypto::sha256_hex(*next);
	for (Half *h : {&remote, &local}) {
		auto r = run.step(*h, "write the configuration",
				  {{"cmd", "config-write"}, {"expect_sha256", sha}, {"text", *next}});
		if (!r)
			return run.failed("writing the configuration", *h, r.status());
		run.on_undo(*h, "restore the configuration",
			    {{"cmd", "config-write"}, {"expect_sha256", next_sha}, {"text", config_text}});
	}
	run.commit();
	// From here on the resource is gone from both files: every failure
	// is reported with what is left to do by hand.
	std::vector<std::string> left;
	for (Half *h : {&remote, &local}) {
		Status st = h->reload();
		report.steps.push_back({"reload dtrbdd", h->host(), st.ok(), st.ok() ? "" : st.message()});
		if (!st)
			left.push_back(str("dtrbdd on ", h->host(), " did not reload (", st.message(),
					   "): run 'dtrbdctl reload' there, then 'dtrbdctl disconnect ",
					   res->minor, "; dtrbdctl detach ", res->minor, "'"));
	}
	if (!left.empty()) {
		report.warnings = left;
		return Status::error(str("'", opt.name, "' is removed from ", cfg.path,
					 " on both hosts, but ", left.front()));
	}
	auto hand = [&](Half &h, const std::string &what, const json &req) {
		auto r = run.step(h, what, req);
		if (!r)
			report.warnings.push_back(str(what, " on ", h.host(), ": ", r.status().message()));
		return r.ok();
	};
	bool released = true;
	for (Half *h : {&remote, &local})
		released = hand(*h, "release the device", {{"cmd", "device-release"}, {"minor", res->minor}}) &&
			   released;
	if (!res->domain_xml.empty())
		for (Half *h : {&remote, &local})
			hand(*h, "remove the domain XML", {{"cmd", "domain-remove"}, {"name", opt.name}});
	std::string vg = opt.vg;
	if (vg.empty() && here->value("vg", std::string()) == there->value("vg", std::string()))
		vg = here->value("vg", std::string());
	std::string volumes;
	if (opt.keep_volumes) {
		volumes = "; the volumes are kept";
	} else if (vg.empty()) {
		volumes = "; its disks are not volumes provision created (/dev/VG/NAME), so they are kept";
	} else if (!released) {
		volumes = "; the volumes are kept because a device could not be released";
	} else {
		bool gone = true;
		for (Half *h : {&remote, &local})
			gone = hand(*h, "remove the volume", {{"cmd", "volume-remove"}, {"name", opt.name}, {"vg", vg}}) &&
			       gone;
		volumes = gone ? str("; the volumes ", vg, "/", opt.name, " are removed") : "";
	}
	if (!res->domain.empty())
		report.warnings.push_back(str("the domain '", res->domain, "' stays defined in libvirt "
					      "on the hosts that ran it: 'virsh undefine ", res->domain,
					      "' there if it should go"));
	report.summary = str("deprovisioned '", opt.name, "': removed from ", cfg.path,
			     " on both hosts, /dev/dtrbd", res->minor,
			     released ? " released on both" : " not released everywhere (see the warnings)",
			     volumes);
	return {};
}

} // namespace dtrbd::provision
