// SPDX-License-Identifier: GPL-2.0
#include "provision/agent.h"

#include <linux/dtrbd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/crypto.h"
#include "common/file.h"
#include "common/log.h"
#include "config/config.h"
#include "daemon/control.h"
#include "meta/disk.h"

namespace dtrbd::provision {

namespace {

using nlohmann::json;

// A request field of type T, or the sentence naming it.
template <typename T>
Result<T> field(const json &req, const char *key)
{
	auto it = req.find(key);
	if (it == req.end())
		return Status::error(str("the request has no \"", key, "\""), EINVAL);
	try {
		return it->get<T>();
	} catch (const json::exception &) {
		return Status::error(str("the request's \"", key, "\" has the wrong type"), EINVAL);
	}
}

Result<std::string> name_field(const json &req, const char *key, const char *what)
{
	auto n = field<std::string>(req, key);
	if (!n)
		return n.status();
	if (!config::safe_name(*n))
		return Status::error(str("'", *n, "' is not a ", what, " name dtrbd accepts"), EINVAL);
	return *n;
}

json fail(const Status &st) { return control::refused(st.message()); }

struct CurrentConfig {
	std::string text, sha256;
};

Result<CurrentConfig> read_config(const Agent &a)
{
	auto t = read_whole_file(a.config_path);
	if (!t)
		return t.status();
	return CurrentConfig{*t, crypto::sha256_hex(*t)};
}

// The configuration must be the one the asking host has: provision writes
// one file for both and compares before it writes.
Status same_config(const Agent &a, const json &req, const CurrentConfig &c)
{
	if (!req.contains("config_sha256"))
		return {};
	auto want = field<std::string>(req, "config_sha256");
	if (!want)
		return want.status();
	if (*want == c.sha256)
		return {};
	return Status::error(str(a.config_path, " on ", a.self,
				 " is not the same file as on the host that asks (sha256 ",
				 c.sha256.substr(0, 12), "... here, ", want->substr(0, 12),
				 "... there): make it the same on both hosts (copy it and "
				 "'dtrbdctl reload' there), then try again"));
}

Result<config::Config> parse_config(const Agent &a, const CurrentConfig &c)
{
	config::Loaded l = config::parse(c.text, a.config_path);
	if (!l.config)
		return Status::error(str(l.mistakes.front().str(), "; fix ", a.config_path,
					 " first (dtrbdctl check-config)"));
	return std::move(*l.config);
}

Result<std::optional<DeviceStatus>> device(const Agent &a, uint32_t minor)
{
	if (!a.open_kernel)
		return std::optional<DeviceStatus>();
	auto k = a.open_kernel();
	if (!k)
		return k.status();
	auto s = (*k)->get(minor);
	if (!s && s.status().errnum() == ENODEV)
		return std::optional<DeviceStatus>();
	if (!s)
		return s.status();
	return std::optional<DeviceStatus>(std::move(*s));
}

json provision_check(const Agent &a, const json &req)
{
	auto name = name_field(req, "name", "resource");
	auto vg = name_field(req, "vg", "volume group");
	auto bytes = field<uint64_t>(req, "bytes");
	auto minor = field<uint32_t>(req, "minor");
	for (const Status *s : {&name.status(), &vg.status(), &bytes.status(), &minor.status()})
		if (!*s)
			return fail(*s);
	auto c = read_config(a);
	if (!c)
		return fail(c.status());
	if (Status s = same_config(a, req, *c); !s)
		return fail(s);
	auto cfg = parse_config(a, *c);
	if (!cfg)
		return fail(cfg.status());
	if (!cfg->find_host(a.self))
		return fail(Status::error(str(a.config_path, " has no [hosts.", a.self, "]")));
	if (cfg->find_resource(*name))
		return fail(Status::error(str("a resource '", *name, "' is in ", a.config_path,
					      " already: pick another name")));
	auto dev = device(a, *minor);
	if (!dev)
		return fail(dev.status());
	if (*dev)
		return fail(Status::error(str("/dev/dtrbd", *minor, " exists on ", a.self,
					      " though no resource in ", a.config_path,
					      " has minor ", *minor, ": detach it there "
					      "(dtrbdctl detach ", *minor, ") and try again")));
	std::string dom = domain_xml_path(a.domains_dir, *name);
	if (req.value("domain", false) && ::access(dom.c_str(), F_OK) == 0)
		return fail(Status::error(str(dom, " exists on ", a.self, " already: move it away "
					      "or pick another name")));
	auto info = a.lvm->vg_info(*vg);
	if (!info)
		return fail(Status::error(str(info.status().message(), " (on ", a.self, ")")));
	auto lvs = a.lvm->lvs(*vg);
	if (!lvs)
		return fail(lvs.status());
	for (const auto &lv : *lvs)
		if (lv.name == *name)
			return fail(Status::error(str("a logical volume ", *vg, "/", *name,
						      " exists on ", a.self, " already: pick "
						      "another name, or remove it if it is not in use")));
	uint64_t ext = info->extent_size ? info->extent_size : 1;
	uint64_t need = (*bytes + ext - 1) / ext * ext;
	if (need > info->free)
		return fail(Status::error(str("volume group ", *vg, " on ", a.self, " has ",
					      info->free, " bytes free, ", need, " are needed: "
					      "free space with lvremove or vgextend, or ask for less")));
	json r = control::ok(str(a.self, ": ", *vg, " has room for ", *name));
	r["config_sha256"] = c->sha256;
	r["extent_size"] = info->extent_size;
	r["vg_free"] = info->free;
	return r;
}

json volume_create(const Agent &a, const json &req)
{
	auto name = name_field(req, "name", "resource");
	auto vg = name_field(req, "vg", "volume group");
	auto bytes = field<uint64_t>(req, "bytes");
	auto uuid_hex = field<std::string>(req, "uuid");
	for (const Status *s : {&name.status(), &vg.status(), &bytes.status(), &uuid_hex.status()})
		if (!*s)
			return fail(*s);
	uint64_t uuid = 0;
	try {
		size_t used = 0;
		uuid = std::stoull(*uuid_hex, &used, 16);
		if (used != uuid_hex->size() || uuid_hex->size() > 16)
			uuid = 0;
	} catch (const std::exception &) {
		uuid = 0;
	}
	if (uuid == 0)
		return fail(Status::error("the request's \"uuid\" is not a nonzero 64-bit hex number"));

	if (Status s = a.lvm->lv_create(*vg, *name, *bytes, kProvisionedTag); !s)
		return fail(Status::error(str(s.message(), " (on ", a.self, ")")));
	std::string path = a.lv_path(*vg, *name);
	auto undo = [&](const Status &why) {
		Status rm = a.lvm->lv_remove(*vg, *name);
		return fail(Status::error(str(why.message(), " (on ", a.self, "; ",
					      rm ? str("the volume ", *vg, "/", *name, " was removed again")
						 : rm.message(), ")")));
	};
	Status z = zero_device(path, *bytes, [&](uint64_t done) {
		if (a.progress)
			a.progress(done, *bytes);
	});
	if (!z)
		return undo(z);
	auto md = create_metadata(path, false, std::nullopt, uuid);
	if (!md)
		return undo(md.status());
	json r = control::ok(str(a.self, ": ", path, " created, zeroed, metadata written"));
	r["disk"] = path;
	r["data_size"] = md->super.data_size;
	return r;
}

json volume_remove(const Agent &a, const json &req)
{
	auto name = name_field(req, "name", "resource");
	auto vg = name_field(req, "vg", "volume group");
	for (const Status *s : {&name.status(), &vg.status()})
		if (!*s)
			return fail(*s);
	auto lvs = a.lvm->lvs(*vg);
	if (!lvs)
		return fail(lvs.status());
	for (const auto &lv : *lvs) {
		if (lv.name != *name)
			continue;
		if (!lv.has_tag(kProvisionedTag))
			return fail(Status::error(str(*vg, "/", *name, " on ", a.self,
						      " was not created by dtrbdctl provision (it has no tag ",
						      kProvisionedTag, "), so it is left alone: remove it "
						      "by hand if it should go")));
		if (Status s = a.lvm->lv_remove(*vg, *name); !s)
			return fail(Status::error(str(s.message(), " (on ", a.self, ")")));
		return control::ok(str(a.self, ": ", *vg, "/", *name, " removed"));
	}
	return control::ok(str(a.self, ": no volume ", *vg, "/", *name, " to remove"));
}

json config_write(const Agent &a, const json &req)
{
	auto expect = field<std::string>(req, "expect_sha256");
	auto text = field<std::string>(req, "text");
	for (const Status *s : {&expect.status(), &text.status()})
		if (!*s)
			return fail(*s);
	auto c = read_config(a);
	if (!c)
		return fail(c.status());
	if (c->sha256 != *expect)
		return fail(Status::error(str(a.config_path, " on ", a.self, " was changed while "
					      "dtrbdctl ran (its sha256 is ", c->sha256.substr(0, 12),
					      "...); nothing was written there")));
	config::Loaded l = config::parse(*text, a.config_path);
	if (!l.config)
		return fail(Status::error(str("the new configuration would not load on ", a.self, ": ",
					      l.mistakes.front().str(), "; nothing was written")));
	struct stat st {};
	mode_t mode = ::stat(a.config_path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 0644;
	if (Status s = write_atomically(a.config_path, *text, mode, Durability::kDurable); !s)
		return fail(s);
	json r = control::ok(str(a.self, ": ", a.config_path, " written"));
	r["config_sha256"] = crypto::sha256_hex(*text);
	return r;
}

json domain_write(const Agent &a, const json &req)
{
	auto name = name_field(req, "name", "resource");
	auto xml = field<std::string>(req, "xml");
	for (const Status *s : {&name.status(), &xml.status()})
		if (!*s)
			return fail(*s);
	if (::mkdir(a.domains_dir.c_str(), 0755) != 0 && errno != EEXIST)
		return fail(Status::error(str("cannot create ", a.domains_dir, " on ", a.self, ": ",
					      std::strerror(errno)), errno));
	std::string path = domain_xml_path(a.domains_dir, *name);
	if (::access(path.c_str(), F_OK) == 0)
		return fail(Status::error(str(path, " exists on ", a.self, " already: move it away "
					      "or pick another name")));
	if (Status s = write_atomically(path, *xml, 0644, Durability::kDurable); !s)
		return fail(s);
	json r = control::ok(str(a.self, ": ", path, " written"));
	r["path"] = path;
	return r;
}

json domain_remove(const Agent &a, const json &req)
{
	auto name = name_field(req, "name", "resource");
	if (!name)
		return fail(name.status());
	std::string path = domain_xml_path(a.domains_dir, *name);
	if (::unlink(path.c_str()) != 0 && errno != ENOENT)
		return fail(Status::error(str("cannot remove ", path, " on ", a.self, ": ",
					      std::strerror(errno)), errno));
	return control::ok(str(a.self, ": ", path, " removed"));
}

json deprovision_check(const Agent &a, const json &req)
{
	auto name = name_field(req, "name", "resource");
	if (!name)
		return fail(name.status());
	auto c = read_config(a);
	if (!c)
		return fail(c.status());
	if (Status s = same_config(a, req, *c); !s)
		return fail(s);
	auto cfg = parse_config(a, *c);
	if (!cfg)
		return fail(cfg.status());
	const config::Resource *r = cfg->find_resource(*name);
	if (!r)
		return fail(Status::error(str("there is no resource '", *name, "' in ", a.config_path)));
	auto dev = device(a, r->minor);
	if (!dev)
		return fail(dev.status());
	std::string role = "none";
	if (*dev) {
		role = (*dev)->role == DTRBD_ROLE_PRIMARY ? "primary" : "secondary";
		if ((*dev)->role == DTRBD_ROLE_PRIMARY)
			return fail(Status::error(str("'", *name, "' is Primary on ", a.self,
						      " (its domain may run there): stop it first with "
						      "'dtrbdctl down ", *name, "' on both hosts")));
		if ((*dev)->open_count && *(*dev)->open_count > 0)
			return fail(Status::error(str("/dev/dtrbd", r->minor, " is open on ", a.self,
						      ": close what uses it first")));
	}
	json out = control::ok(str(a.self, ": '", *name, "' can go"));
	out["config_sha256"] = c->sha256;
	out["role"] = role;
	out["minor"] = r->minor;
	auto disk = config::disk_path(*r, a.self).value_or("");
	out["disk"] = disk;
	// The volume group, when the disk is the volume provision makes
	// (lv_path(VG, NAME)): only then may deprovision remove it.
	auto slash = disk.rfind('/');
	if (slash != std::string::npos && slash > 0) {
		std::string parent = disk.substr(0, slash);
		std::string vg = parent.substr(parent.rfind('/') + 1);
		if (config::safe_name(vg) && a.lv_path(vg, *name) == disk)
			out["vg"] = vg;
	}
	return out;
}

json device_release(const Agent &a, const json &req)
{
	auto minor = field<uint32_t>(req, "minor");
	if (!minor)
		return fail(minor.status());
	if (!a.open_kernel)
		return control::ok("no kernel");
	auto k = a.open_kernel();
	if (!k)
		return fail(k.status());
	auto s = (*k)->get(*minor);
	if (!s && s.status().errnum() == ENODEV)
		return control::ok(str(a.self, ": /dev/dtrbd", *minor, " is not there"));
	if (!s)
		return fail(s.status());
	if (s->role == DTRBD_ROLE_PRIMARY)
		return fail(Status::error(str("/dev/dtrbd", *minor, " is Primary on ", a.self,
					      ": demote it first")));
	if (s->conn && *s->conn != DTRBD_CONN_STANDALONE)
		if (Status d = (*k)->disconnect(*minor); !d)
			return fail(d);
	if (Status d = (*k)->detach(*minor); !d)
		return fail(d);
	return control::ok(str(a.self, ": /dev/dtrbd", *minor, " disconnected and detached"));
}

} // namespace

std::string domain_xml_path(const std::string &domains_dir, const std::string &name)
{
	return str(domains_dir, "/", name, ".xml");
}

json agent_execute(const Agent &a, const json &req)
{
	if (!req.is_object() || !req.contains("cmd") || !req["cmd"].is_string())
		return control::refused("the request is not an object with a \"cmd\"");
	const std::string cmd = req["cmd"].get<std::string>();
	try {
		if (cmd == "provision-check")
			return provision_check(a, req);
		if (cmd == "volume-create")
			return volume_create(a, req);
		if (cmd == "volume-remove")
			return volume_remove(a, req);
		if (cmd == "config-write")
			return config_write(a, req);
		if (cmd == "domain-write")
			return domain_write(a, req);
		if (cmd == "domain-remove")
			return domain_remove(a, req);
		if (cmd == "deprovision-check")
			return deprovision_check(a, req);
		if (cmd == "device-release")
			return device_release(a, req);
	} catch (const std::exception &e) {
		return control::refused(str(cmd, " failed on ", a.self, ": ", e.what()));
	}
	return control::refused(str("'", cmd, "' is not a request dtrbdctl peer-exec knows"));
}

} // namespace dtrbd::provision
