// SPDX-License-Identifier: GPL-2.0
#include "cli/udev_attach.h"

#include <sys/stat.h>

#include <cerrno>

#include "cli/commands.h"
#include "common/log.h"

namespace dtrbd {

namespace {

// Same block device (device number), or the same file (for regular files).
bool same_device(const struct stat &a, const struct stat &b)
{
	if (S_ISBLK(a.st_mode) && S_ISBLK(b.st_mode))
		return a.st_rdev == b.st_rdev;
	return !S_ISBLK(a.st_mode) && !S_ISBLK(b.st_mode) && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

bool daemon_not_running(const Status &st)
{
	return st.errnum() == ENOENT || st.errnum() == ECONNREFUSED || st.errnum() == ENOTDIR;
}

} // namespace

const config::Resource *backing_resource(const config::Config &c, std::string_view host,
					 const std::string &devnode)
{
	struct stat dev{};
	if (stat(devnode.c_str(), &dev) != 0)
		return nullptr;
	for (const auto &[name, r] : c.resources) {
		auto disk = config::disk_path(r, host);
		struct stat d{};
		if (disk && stat(disk->c_str(), &d) == 0 && same_device(dev, d))
			return &r;
	}
	return nullptr;
}

Status cmd_udev_attach(const UdevAttach &o, const AskDaemon &ask,
		       const std::function<Result<std::unique_ptr<Kernel>>()> &open_kernel,
		       std::ostream &out)
{
	struct stat st{};
	if (stat(o.config_path.c_str(), &st) != 0 && errno == ENOENT) {
		log::debug(str("no ", o.config_path, "; ", o.devnode, " is nothing of dtrbd's"));
		return {};
	}
	config::LoadOptions lo;
	lo.read_secret = o.read_secret;
	auto cfg = config::load_or_refuse(o.config_path, lo);
	if (!cfg)
		return cfg.status();
	auto self = config::this_host(*cfg, o.host ? std::optional<std::string_view>(*o.host)
						    : std::nullopt);
	if (!self)
		return self.status();
	const std::string &host = (*self)->name;
	const config::Resource *r = backing_resource(*cfg, host, o.devnode);
	if (!r) {
		log::debug(str(o.devnode, " is no resource's backing disk on ", host,
			       " in ", o.config_path, "; ignoring it"));
		return {};
	}
	const std::string disk = config::disk_path(*r, host).value_or("");

	auto answer = ask(o.socket, nlohmann::json{{"cmd", "disk-appeared"}, {"resource", r->name}});
	if (answer) {
		out << answer->value("message", std::string()) << '\n';
		return {};
	}
	if (!daemon_not_running(answer.status()))
		return answer.status();

	// No daemon: attach as dtrbdd would; it adopts the device when it starts.
	auto k = open_kernel();
	if (!k)
		return k.status();
	auto d = (*k)->get(r->minor);
	if (d) {
		struct stat have{}, want{};
		if (d->disk_path && stat(d->disk_path->c_str(), &have) == 0 &&
		    stat(disk.c_str(), &want) == 0 && same_device(have, want)) {
			out << "dtrbd" << r->minor << " (" << r->name << ") is attached already over "
			    << *d->disk_path << "; nothing to do\n";
			return {};
		}
		return Status::error(str("dtrbd", r->minor, " is attached to ",
					 d->disk_path.value_or("another disk"), ", not to ", disk,
					 " (resource ", r->name, " in ", o.config_path,
					 "); detach it (dtrbdctl detach ", r->minor,
					 ") or correct the configuration"),
				     EBUSY);
	}
	if (d.status().errnum() != ENODEV && d.status().errnum() != ENOENT)
		return d.status();
	AttachOptions a;
	a.minor = r->minor;
	a.disk = disk;
	a.meta = config::meta_path(*r, host);
	a.name = r->name;
	return cmd_attach(**k, a, out);
}

} // namespace dtrbd
