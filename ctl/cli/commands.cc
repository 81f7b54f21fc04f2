// SPDX-License-Identifier: GPL-2.0
#include "cli/commands.h"

#include <linux/dtrbd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <memory>

#include "cli/format.h"
#include "common/log.h"
#include "conn/establish.h"
#include "meta/disk.h"

namespace dtrbd {

namespace {

using std::chrono::milliseconds;

std::string dev(uint32_t minor) { return str("dtrbd", minor); }

std::string json_text(const nlohmann::json &j, int indent = -1)
{
	return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

// GET_DEVICE for a minor that must exist.
Result<DeviceStatus> attached(Kernel &k, uint32_t minor)
{
	auto d = k.get(minor);
	if (!d && (d.status().errnum() == ENODEV || d.status().errnum() == ENOENT))
		return Status::error(str(dev(minor), " is not attached; run dtrbdctl attach ",
					 minor, " --disk PATH first"), ENODEV);
	return d;
}

// After the handover: wait for the kernel to report the connection up.
Status wait_connected(Kernel &k, const ConnectOptions &o, const Link &link,
		      Clock::time_point deadline, std::ostream &out)
{
	auto done = [&] {
		out << dev(o.minor) << ": connected to " << link.peer.node_name
		    << " (" << o.peer.str() << "), protocol "
		    << protocol_name(o.protocol) << '\n';
		return Status();
	};
	auto connected = [](const DeviceStatus &d) {
		return d.conn == DTRBD_CONN_CONNECTED;
	};
	for (;;) {
		auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now());
		if (left.count() <= 0)
			break;
		auto ev = k.next_event(std::min(left, milliseconds(1000)));
		if (!ev)
			return ev.status();
		if (!*ev) {
			// A quiet second: ask, in case an event was lost.
			auto d = k.get(o.minor);
			if (d && connected(*d))
				return done();
			continue;
		}
		const Event &e = **ev;
		if (e.dev.minor != o.minor)
			continue;
		if (e.event == DTRBD_EV_DISCONNECTED)
			return Status::error(e.reason.value_or(str(
				dev(o.minor), " lost the connection to ",
				o.peer.str(), " and the kernel gave no reason")),
					     ECONNRESET);
		if (connected(e.dev) || (e.event == DTRBD_EV_CONNECTED && !e.dev.conn))
			return done();
	}
	auto d = k.get(o.minor);
	if (d && connected(*d))
		return done();
	// Leave the device as we found it: standalone.
	Status st = k.disconnect(o.minor);
	return Status::error(str(dev(o.minor), " did not reach the connected state within ",
				 o.timeout_s, " s (it is ", d ? conn_name(d->conn) : "unknown",
				 ")", st ? "; disconnected it again" : ""), ETIMEDOUT);
}

} // namespace

Status cmd_create_md(const std::string &disk, bool force, std::ostream &out)
{
	auto md = create_metadata(disk, force);
	if (!md)
		return md.status();
	out << "created dtrbd metadata on " << disk << ": "
	    << bytes_text(md->super.data_size) << " (" << md->super.data_size
	    << " bytes) usable for data, state inconsistent until the first sync\n";
	return {};
}

Status cmd_attach(Kernel &k, uint32_t minor, const std::string &disk,
		  std::ostream &out)
{
	std::unique_ptr<char, decltype(&free)> real(realpath(disk.c_str(), nullptr),
						    &free);
	if (!real)
		return errno == ENOENT || errno == ENOTDIR
			? Status::error(str(disk, " does not exist"), errno)
			: Status::error(str("could not resolve ", disk, ": ",
					    errno_text(errno)), errno);
	auto md = read_metadata(disk);
	if (!md)
		return md.status();
	Status st = k.attach(minor, real.get());
	if (st)
		out << dev(minor) << ": attached " << real.get() << ", "
		    << bytes_text(md->data_size) << " usable\n";
	return st;
}

Status cmd_connect(Kernel &k, const ConnectOptions &o, std::ostream &out)
{
	auto deadline = Clock::now() + std::chrono::seconds(o.timeout_s);
	auto d = attached(k, o.minor);
	if (!d)
		return d.status();
	if (d->conn && *d->conn != DTRBD_CONN_STANDALONE)
		return Status::error(str(dev(o.minor), " is already ", conn_name(d->conn),
					 " (peer ", d->peer_addr.value_or("?"),
					 "); run dtrbdctl disconnect ", o.minor, " first"),
				     EISCONN);
	if (!d->size_bytes)
		return Status::error(str("the kernel did not report the size of ",
					 dev(o.minor)), EPROTO);
	// Before the handover, so that no event is missed.
	Status st = k.subscribe();
	if (!st)
		return st;

	LinkParams p;
	p.local = o.local;
	p.peer = o.peer;
	p.deadline = deadline;
	p.timeout_s = o.timeout_s;
	p.ours.size_bytes = *d->size_bytes;
	p.ours.minor = o.minor;
	p.ours.node_name = o.node_name;
	auto link = establish(p);
	if (!link)
		return link.status();

	ConnectRequest req;
	req.minor = o.minor;
	req.sock_fd = link->fd.get();
	req.protocol = o.protocol;
	req.ping_ms = o.ping_ms;
	req.timeout_ms = o.peer_timeout_ms;
	req.tiebreak = link->listener;
	req.proto_version = link->agreed.version;
	req.features = link->agreed.features;
	req.peer_name = link->peer.node_name;
	req.peer_addr = o.peer.str();
	st = k.connect(req);
	if (!st)
		return st;
	// Our descriptor closes on return; the kernel holds its own reference.
	return wait_connected(k, o, *link, deadline, out);
}

Status cmd_primary(Kernel &k, uint32_t minor, bool force, std::ostream &out)
{
	Status st = k.primary(minor, force);
	if (st)
		out << dev(minor) << " is now primary\n";
	return st;
}

Status cmd_secondary(Kernel &k, uint32_t minor, std::ostream &out)
{
	Status st = k.secondary(minor);
	if (st)
		out << dev(minor) << " is now secondary\n";
	return st;
}

Status cmd_disconnect(Kernel &k, uint32_t minor, std::ostream &out)
{
	Status st = k.disconnect(minor);
	if (st)
		out << dev(minor) << ": disconnected\n";
	return st;
}

Status cmd_detach(Kernel &k, uint32_t minor, std::ostream &out)
{
	Status st = k.detach(minor);
	if (st)
		out << dev(minor) << ": detached\n";
	return st;
}

Status cmd_status(Kernel &k, std::optional<uint32_t> minor, bool json,
		  std::ostream &out)
{
	if (minor) {
		auto d = attached(k, *minor);
		if (!d)
			return d.status();
		out << (json ? json_text(status_json(*d), 2) + "\n" : status_text(*d));
		return {};
	}
	auto all = k.dump();
	if (!all)
		return all.status();
	if (json) {
		auto arr = nlohmann::json::array();
		for (const auto &d : *all)
			arr.push_back(status_json(d));
		out << json_text(arr, 2) << '\n';
	} else if (all->empty()) {
		out << "no dtrbd devices are attached\n";
	} else {
		for (size_t i = 0; i < all->size(); i++)
			out << (i ? "\n" : "") << status_text((*all)[i]);
	}
	return {};
}

Status cmd_events(Kernel &k, bool json, std::ostream &out,
		  const std::function<bool()> &stop)
{
	Status st = k.subscribe();
	if (!st)
		return st;
	while (!stop()) {
		auto ev = k.next_event(milliseconds(250));
		if (!ev)
			return ev.status();
		if (!*ev)
			continue;
		auto now = std::chrono::system_clock::now();
		out << (json ? json_text(event_json(**ev, now)) : event_text(**ev, now))
		    << std::endl;	// one line at a time, flushed
	}
	return {};
}

} // namespace dtrbd
