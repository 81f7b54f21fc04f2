// SPDX-License-Identifier: GPL-2.0
#include "daemon/metrics.h"

#include "common/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/dtrbd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "cli/format.h"
#include "common/fd.h"
#include "common/log.h"

namespace dtrbd::daemon::metrics {

std::string escape_label(std::string_view v)
{
	std::string out;
	out.reserve(v.size());
	for (char c : v) {
		if (c == '\\')
			out += "\\\\";
		else if (c == '"')
			out += "\\\"";
		else if (c == '\n')
			out += "\\n";
		else
			out += c;
	}
	return out;
}

namespace {

std::string seconds(double v)
{
	char buf[64];
	std::snprintf(buf, sizeof(buf), "%.3f", v);
	return buf;
}

// One metric family: its HELP and TYPE once, then its samples; a family
// without samples is left out entirely.
class Family {
public:
	Family(std::string name, const char *type, const char *help)
		: name_(std::move(name)), type_(type), help_(help)
	{
	}
	// @labels: {"resource", "vm1"}, ... in the order given.
	void add(std::initializer_list<std::pair<const char *, std::string>> labels,
		 const std::string &value)
	{
		std::string line = name_;
		if (labels.size()) {
			line += '{';
			const char *sep = "";
			for (const auto &[k, v] : labels) {
				line += str(sep, k, "=\"", escape_label(v), '"');
				sep = ",";
			}
			line += '}';
		}
		samples_ += str(line, ' ', value, '\n');
	}
	void emit(std::string &out) const
	{
		if (samples_.empty())
			return;
		out += str("# HELP ", name_, ' ', help_, '\n', "# TYPE ", name_, ' ', type_, '\n',
			   samples_);
	}

private:
	std::string name_;
	const char *type_, *help_;
	std::string samples_;
};

// Every state a family enumerates: format.h's names for the module's
// values, so that the metrics and `dtrbdctl status` say the same words.
template <typename F>
std::vector<std::string> names(F name_of, int count)
{
	std::vector<std::string> out;
	for (int i = 0; i < count; i++)
		out.push_back(name_of(static_cast<uint8_t>(i)));
	return out;
}

} // namespace

std::string render(const Snapshot &s)
{
	std::string out;
	Family up("dtrbd_up", "gauge",
		  "1 while dtrbdd runs; 0 in the last file it wrote when it stopped.");
	up.add({}, s.up ? "1" : "0");
	up.emit(out);
	Family start("dtrbd_start_time_seconds", "gauge", "When dtrbdd started, in Unix time.");
	start.add({}, seconds(s.start_time_seconds));
	start.emit(out);
	if (!s.up)
		return out;

	Family peer_up("dtrbd_peer_up", "gauge",
		       "1 while membership hears the peer host on some heartbeat link, 0 when it "
		       "declared it dead.");
	Family heard("dtrbd_peer_link_last_heard_seconds", "gauge",
		     "Seconds since a heartbeat from the peer last arrived on this link; absent "
		     "when never heard since dtrbdd started.");
	for (const auto &p : s.peers) {
		peer_up.add({{"peer", p.name}}, p.alive ? "1" : "0");
		for (const auto &l : p.links)
			if (l.last_heard_seconds)
				heard.add({{"peer", p.name}, {"address", l.address}},
					  seconds(*l.last_heard_seconds));
	}
	peer_up.emit(out);
	heard.emit(out);

	static const auto roles = names(role_name, DTRBD_ROLE_PRIMARY + 1);
	static const auto conns = names(conn_name, DTRBD_CONN_DISCONNECTING + 1);
	static const auto disks = names(disk_name, DTRBD_DISK_UPTODATE + 1);
	Family attached("dtrbd_resource_attached", "gauge",
			"1 when the resource's device exists on this host with its backing disk.");
	Family role("dtrbd_resource_role", "gauge",
		    "1 for the device's role on this host, 0 for the others (attached devices only).");
	Family conn("dtrbd_resource_connection_state", "gauge",
		    "1 for the replication connection's state, 0 for the others (attached devices only).");
	Family disk("dtrbd_resource_disk_state", "gauge",
		    "1 for the disk state of this host's copy (side local) and the peer's (side peer), "
		    "0 for the others (attached devices only).");
	Family frozen("dtrbd_resource_frozen", "gauge",
		      "1 while the Primary's writes wait after it lost its peer.");
	Family oos("dtrbd_resource_out_of_sync_bytes", "gauge",
		   "Bytes marked out of sync with the peer.");
	Family rate("dtrbd_resource_resync_rate_bytes_per_second", "gauge",
		    "Recent resync rate.");
	Family uptime("dtrbd_resource_primary_seconds", "gauge",
		      "Seconds the device has been Primary on this host (at most dtrbdd's uptime); "
		      "absent when it is not Primary here.");
	Family failovers("dtrbd_failovers_total", "counter",
			 "Failovers to this host since dtrbdd started: promotions here after the peer "
			 "was declared dead and the witness granted them.");
	Family last("dtrbd_last_failover_duration_seconds", "gauge",
		    "The last failover to this host: seconds from the peer being declared dead to "
		    "the domain running here (to the promotion for a resource without a domain).");
	for (const auto &r : s.resources) {
		attached.add({{"resource", r.name}}, r.attached ? "1" : "0");
		if (r.attached) {
			for (const auto &n : roles)
				role.add({{"resource", r.name}, {"role", n}}, n == r.role ? "1" : "0");
			for (const auto &n : conns)
				conn.add({{"resource", r.name}, {"state", n}},
					 n == r.connection ? "1" : "0");
			for (const auto &[side, v] : {std::pair{"local", &r.disk},
						      std::pair{"peer", &r.peer_disk}})
				for (const auto &n : disks)
					disk.add({{"resource", r.name}, {"side", side}, {"state", n}},
						 n == *v ? "1" : "0");
			frozen.add({{"resource", r.name}}, r.frozen ? "1" : "0");
		}
		if (r.out_of_sync_bytes)
			oos.add({{"resource", r.name}}, std::to_string(*r.out_of_sync_bytes));
		if (r.resync_rate_bytes)
			rate.add({{"resource", r.name}}, std::to_string(*r.resync_rate_bytes));
		if (r.primary_seconds)
			uptime.add({{"resource", r.name}}, seconds(*r.primary_seconds));
		failovers.add({{"resource", r.name}}, std::to_string(r.failovers));
		if (r.last_failover_seconds)
			last.add({{"resource", r.name}}, seconds(*r.last_failover_seconds));
	}
	for (const Family *f : {&attached, &role, &conn, &disk, &frozen, &oos, &rate, &uptime,
				&failovers, &last})
		f->emit(out);
	return out;
}

Status write_atomically(const std::string &path, std::string_view text, mode_t mode)
{
	return dtrbd::write_atomically(path, text, mode, Durability::kVolatile,
				       "create the directory or fix [metrics] textfile");
}

std::optional<std::string> TextfileWriter::update(const std::string &text)
{
	if (last_ && *last_ == text)
		return std::nullopt;
	Status st = write_atomically(path_, text);
	if (!st) {
		// The file's content is unknown now: write again next time.
		last_.reset();
		if (st.message() == last_error_)
			return std::nullopt;
		last_error_ = st.message();
		return str("metrics: ", st.message());
	}
	last_ = text;
	last_error_.clear();
	writes_++;
	return std::nullopt;
}

} // namespace dtrbd::daemon::metrics
