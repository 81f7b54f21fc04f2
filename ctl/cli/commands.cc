// SPDX-License-Identifier: GPL-2.0
#include "cli/commands.h"

#include <linux/dtrbd.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <iomanip>
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

// The absolute, symlink-free path the module is given.
Result<std::string> real_path(const std::string &path)
{
	std::unique_ptr<char, decltype(&free)> real(realpath(path.c_str(), nullptr),
						    &free);
	if (!real)
		return errno == ENOENT || errno == ENOTDIR
			? Status::error(str(path, " does not exist"), errno)
			: Status::error(str("could not resolve ", path, ": ",
					    errno_text(errno)), errno);
	return std::string(real.get());
}

// After the handover: wait for the kernel to report the connection up.
Status wait_connected(Kernel &k, const ConnectOptions &o, const Link &link,
		      std::chrono::steady_clock::time_point deadline, std::ostream &out)
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
		auto left = std::chrono::ceil<milliseconds>(deadline - std::chrono::steady_clock::now());
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

Status cmd_create_md(const std::string &disk, const std::optional<std::string> &meta,
		     bool force, std::ostream &out)
{
	auto md = create_metadata(disk, force, meta);
	if (!md)
		return md.status();
	if (meta)
		out << "created external dtrbd metadata for " << disk << " on " << *meta;
	else
		out << "created dtrbd metadata on " << disk;
	out << ": " << bytes_text(md->super.data_size) << " (" << md->super.data_size
	    << " bytes) usable for data, state inconsistent until the first sync\n";
	return {};
}

Status cmd_attach(Kernel &k, const AttachOptions &o, std::ostream &out)
{
	auto disk = real_path(o.disk);
	if (!disk)
		return disk.status();
	AttachRequest req;
	req.minor = o.minor;
	req.disk_path = *disk;
	req.al_extents = o.al_extents;
	req.res_name = o.name;
	if (o.meta) {
		auto meta = real_path(*o.meta);
		if (!meta)
			return meta.status();
		req.meta_path = *meta;
	}
	auto md = read_metadata(o.disk, o.meta);
	if (!md)
		return md.status();
	Status st = k.attach(req);
	if (st)
		out << dev(o.minor) << ": attached " << req.disk_path
		    << (req.res_name ? " as " + *req.res_name : "")
		    << (req.meta_path ? " with metadata on " + *req.meta_path : "")
		    << ", " << bytes_text(md->data_size) << " usable\n";
	return st;
}

Status cmd_connect(Kernel &k, const ConnectOptions &o, std::ostream &out)
{
	auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.timeout_s);
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
	if (o.discard_my_data && d->role == DTRBD_ROLE_PRIMARY)
		return Status::error(str(dev(o.minor), " is primary, but --discard-my-data "
					 "throws its changes away; run dtrbdctl secondary ",
					 o.minor, " first"), EBUSY);
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
	p.secret = o.secret;
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
	req.discard_my_data = o.discard_my_data;
	req.csum_resync = o.csum_resync;
	req.after_sb = o.after_sb;
	req.resync_rate_kib = o.resync_rate_kib;
	req.on_peer_loss = o.on_peer_loss;
	req.ko_count = o.ko_count;
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

namespace {

// The one-line progress of a command that waits, on a terminal: redrawn in
// place, erased before anything else is printed (RAII: also on errors).
class ProgressLine {
public:
	ProgressLine(std::ostream *os, uint32_t minor) : os_(os), minor_(minor) {}
	~ProgressLine() { clear(); }
	ProgressLine(const ProgressLine &) = delete;
	ProgressLine &operator=(const ProgressLine &) = delete;

	void show(const char *what, const DeviceStatus &d)
	{
		auto pct = sync_percent(d);
		if (!os_ || !pct)
			return;
		*os_ << "\r\033[K" << dev(minor_) << ": " << what << ' '
		     << progress_bar(*pct) << ' ' << std::fixed << std::setprecision(1)
		     << *pct << '%' << std::flush;
		shown_ = true;
	}
	void clear()
	{
		if (os_ && shown_)
			*os_ << "\r\033[K" << std::flush;
		shown_ = false;
	}

private:
	std::ostream *os_;
	uint32_t minor_;
	bool shown_ = false;
};

bool verify_running(const DeviceStatus &d)
{
	return d.sync_kind == DTRBD_SK_VERIFY;
}

// The verify is over: no longer running and its result is reported.
bool verify_done(const DeviceStatus &d)
{
	return !verify_running(d) && d.verify_checked.has_value();
}

// The repair resync is over: nothing syncing, nothing out of sync.
bool resync_done(const DeviceStatus &d)
{
	return (!d.sync || *d.sync == DTRBD_SYNC_NONE) && d.oos_bytes == uint64_t{0};
}

// Why waiting for @minor cannot go on, or nullopt. @during names the phase.
std::optional<Status> broken(const Event &e, uint32_t minor, const char *during)
{
	if (!e.event)
		return std::nullopt;
	auto why = [&](const char *what, int err) {
		return Status::error(e.reason.value_or(str(dev(minor), " ", what, " during ",
							   during, " and the kernel gave no reason")),
				     err);
	};
	switch (*e.event) {
	case DTRBD_EV_DISCONNECTED:
		return why("lost the connection to its peer", ECONNRESET);
	case DTRBD_EV_DETACHED:
		return why("was detached", ENODEV);
	case DTRBD_EV_IO_ERROR:
		return why("lost its backing disk to an I/O error", EIO);
	default:
		return std::nullopt;
	}
}

} // namespace

Status cmd_verify(Kernel &k, const VerifyOptions &o, const Waiting &w,
		  std::ostream &out)
{
	const auto start = w.now();
	const auto deadline = o.timeout_s ? start + std::chrono::seconds(o.timeout_s)
					  : std::chrono::steady_clock::time_point::max();
	// Subscribe before the request: the verify may finish before the
	// request returns, and its event must not be missed.
	Status st = k.subscribe();
	if (!st)
		return st;
	auto d = attached(k, o.minor);
	if (!d)
		return d.status();
	if (d->conn && *d->conn != DTRBD_CONN_CONNECTED)
		return Status::error(str(dev(o.minor), " is ", conn_name(d->conn),
					 ": a verify compares with the peer, so connect it first"),
				     ENOTCONN);
	st = k.verify(o.minor, o.repair);
	if (!st)
		return st;

	enum { kVerifying, kRepairing, kDone } phase = kVerifying;
	const char *const during[] = {"the verify", "the repair resync after the verify"};
	std::optional<uint64_t> checked, differing;
	ProgressLine progress(w.progress, o.minor);
	// The verify's result arrived: finish, or go on waiting for the resync.
	auto verified = [&](const DeviceStatus &s) {
		checked = s.verify_checked;
		differing = s.verify_differing;
		if (!checked || !differing) {
			auto now = k.get(o.minor);
			if (now) {
				checked = checked ? checked : now->verify_checked;
				differing = differing ? differing : now->verify_differing;
			}
		}
		phase = o.repair && differing.value_or(0) > 0 ? kRepairing : kDone;
	};
	auto timed_out = [&] {
		return Status::error(str(dev(o.minor), ": ", during[phase], " did not finish within ",
					 o.timeout_s, " s; it goes on in the kernel (see dtrbdctl status ",
					 o.minor, ")"), ETIMEDOUT);
	};

	while (phase != kDone) {
		if (w.stop())
			return Status::error(str("interrupted; ", during[phase], " of ", dev(o.minor),
						 " goes on in the kernel (see dtrbdctl status ",
						 o.minor, ")"), EINTR);
		auto now = w.now();
		if (now >= deadline)
			return timed_out();
		auto left = deadline == std::chrono::steady_clock::time_point::max()
			? milliseconds(1000)
			: std::min(std::chrono::ceil<milliseconds>(deadline - now),
				   milliseconds(1000));
		auto ev = k.next_event(left);
		if (!ev)
			return ev.status();
		if (!*ev) {
			// A quiet second: show progress, and ask in case an
			// event was lost.
			auto s = k.get(o.minor);
			if (!s && (s.status().errnum() == ENODEV || s.status().errnum() == ENOENT))
				return Status::error(str(dev(o.minor), " was detached during ",
							 during[phase]), ENODEV);
			if (!s)
				return s.status();
			if (phase == kVerifying && verify_done(*s))
				verified(*s);
			else if (phase == kRepairing && resync_done(*s))
				phase = kDone;
			else
				progress.show(phase == kVerifying ? "verifying" : "repairing", *s);
			continue;
		}
		const Event &e = **ev;
		if (e.dev.minor != o.minor)
			continue;
		if (auto why = broken(e, o.minor, during[phase]))
			return *why;
		if (phase == kVerifying && e.event == DTRBD_EV_VERIFY_FINISHED)
			verified(e.dev);
		else if (phase == kRepairing && e.event == DTRBD_EV_SYNC_FINISHED)
			phase = kDone;
		else
			progress.show(phase == kVerifying ? "verifying" : "repairing", e.dev);
	}
	progress.clear();

	if (!checked)
		return Status::error(str("the kernel did not report the result of the verify of ",
					 dev(o.minor)), EPROTO);
	bool repaired = o.repair && differing.value_or(0) > 0;
	double secs = std::chrono::duration<double>(w.now() - start).count();
	if (o.json) {
		out << json_text({{"minor", o.minor},
				  {"blocks_checked", *checked},
				  {"blocks_differing", differing ? nlohmann::json(*differing)
								 : nlohmann::json(nullptr)},
				  {"repaired", repaired},
				  {"seconds", std::round(secs * 10) / 10}})
		    << '\n';
	} else {
		out << dev(o.minor) << ": verified " << *checked << " blocks, "
		    << (differing ? str(*differing) : "?") << " differing"
		    << (repaired ? ", repaired" : "") << '\n';
	}
	return {};
}

Status cmd_invalidate(Kernel &k, uint32_t minor, std::ostream &out)
{
	Status st = k.invalidate(minor);
	if (st)
		out << dev(minor) << ": invalidated; a full resync from the peer "
		    "overwrites this side's data\n";
	return st;
}

Status cmd_invalidate_remote(Kernel &k, uint32_t minor, std::ostream &out)
{
	Status st = k.invalidate_remote(minor);
	if (st)
		out << dev(minor) << ": peer invalidated; a full resync from this side "
		    "overwrites the peer's data\n";
	return st;
}

Status cmd_new_current_uuid(Kernel &k, uint32_t minor, bool clear_bitmap,
			    std::ostream &out)
{
	Status st = k.new_current_uuid(minor, clear_bitmap);
	if (st)
		out << dev(minor) << ": new data generation started"
		    << (clear_bitmap ? "; both sides are up to date without a sync" : "")
		    << '\n';
	return st;
}

Status cmd_set_options(Kernel &k, const SetOptionsRequest &req, std::ostream &out)
{
	Status st = k.set_options(req);
	if (!st)
		return st;
	if (req.resync_rate_kib)
		out << dev(req.minor) << ": resync rate "
		    << (*req.resync_rate_kib ? rate_text(uint64_t{*req.resync_rate_kib} * 1024)
					     : std::string("dynamic")) << '\n';
	if (req.on_peer_loss)
		out << dev(req.minor) << ": on peer loss " << on_peer_loss_name(req.on_peer_loss)
		    << '\n';
	if (req.ko_count)
		out << dev(req.minor) << ": request timeout " << *req.ko_count
		    << " peer timeouts (ko-count)\n";
	return st;
}

Status cmd_resume_io(Kernel &k, uint32_t minor, std::ostream &out)
{
	Status st = k.resume_io(minor);
	if (st)
		out << dev(minor) << ": writes resumed; this side goes on alone\n";
	return st;
}

Status cmd_fail_io(Kernel &k, uint32_t minor, std::ostream &out)
{
	Status st = k.fail_io(minor);
	if (st)
		out << dev(minor) << ": waiting writes failed with I/O errors; later writes fail "
		    << "too until 'dtrbdctl resume-io " << minor << "' or a reconnect\n";
	return st;
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
