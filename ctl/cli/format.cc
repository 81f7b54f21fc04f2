// SPDX-License-Identifier: GPL-2.0
#include "cli/format.h"

#include <linux/dtrbd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <ctime>
#include <iomanip>
#include <sstream>

#include "common/log.h"

namespace dtrbd {

namespace {

template <size_t N>
std::string name_of(const std::array<const char *, N> &names,
		    std::optional<uint8_t> v)
{
	return v && *v < N ? names[*v] : "unknown";
}

std::string dev_name(const DeviceStatus &d)
{
	return d.minor ? str("dtrbd", *d.minor) : "dtrbd?";
}

template <typename T>
nlohmann::json opt(const std::optional<T> &v)
{
	return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

template <typename T>
std::string opt_text(const std::optional<T> &v)
{
	return v ? str(*v) : "?";
}

std::string opt_bytes(const std::optional<uint64_t> &v)
{
	return v ? bytes_text(*v) : "?";
}

bool has_link(const DeviceStatus &d)
{
	return d.conn && *d.conn != DTRBD_CONN_STANDALONE;
}

// Resync progress, when one runs.
struct Sync {
	std::string direction;
	double percent;
	uint64_t remaining, total;
};

std::optional<Sync> sync_of(const DeviceStatus &d)
{
	if (!d.sync || *d.sync == DTRBD_SYNC_NONE)
		return std::nullopt;
	Sync s;
	s.direction = *d.sync == DTRBD_SYNC_SOURCE ? "source"
		    : *d.sync == DTRBD_SYNC_TARGET ? "target" : "unknown";
	s.total = d.sync_total.value_or(0);
	uint64_t done = std::min(d.sync_done.value_or(0), s.total);
	s.remaining = s.total - done;
	s.percent = s.total ? std::round(10000.0 * static_cast<double>(done) /
					 static_cast<double>(s.total)) / 100.0
			    : 0.0;
	return s;
}

std::string bar(double percent)
{
	constexpr int kWidth = 20;
	int fill = static_cast<int>(percent / 100.0 * kWidth);
	fill = std::clamp(fill, 0, kWidth);
	return "[" + std::string(fill, '#') + std::string(kWidth - fill, '.') + "]";
}

} // namespace

std::string role_name(std::optional<uint8_t> v)
{
	static constexpr std::array<const char *, 3> names{
		"unknown", "secondary", "primary"};
	return name_of(names, v);
}

std::string conn_name(std::optional<uint8_t> v)
{
	static constexpr std::array<const char *, 4> names{
		"standalone", "connecting", "connected", "disconnecting"};
	return name_of(names, v);
}

std::string disk_name(std::optional<uint8_t> v)
{
	static constexpr std::array<const char *, 5> names{
		"unknown", "diskless", "inconsistent", "outdated", "uptodate"};
	return name_of(names, v);
}

std::string event_name(std::optional<uint8_t> v)
{
	static constexpr std::array<const char *, 10> names{
		"none", "attached", "detached", "role", "connected",
		"disconnected", "peer", "sync_started", "sync_finished", "disk"};
	return name_of(names, v);
}

std::string protocol_name(uint8_t v)
{
	static constexpr std::array<const char *, 4> names{"unknown", "A", "B", "C"};
	return name_of(names, v);
}

std::optional<uint8_t> parse_protocol(const std::string &s)
{
	if (s.size() == 1) {
		char c = static_cast<char>(s[0] & ~0x20);	// upper case
		if (c >= 'A' && c <= 'C')
			return static_cast<uint8_t>(DTRBD_PROT_A + (c - 'A'));
	}
	return std::nullopt;
}

std::string bytes_text(uint64_t n)
{
	static constexpr const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = static_cast<double>(n);
	size_t u = 0;
	while (v >= 1024 && u + 1 < std::size(units))
		v /= 1024, u++;
	if (u == 0)
		return str(n, " B");
	std::ostringstream os;
	os << std::fixed << std::setprecision(v < 10 ? 2 : 1) << v << ' ' << units[u];
	return os.str();
}

std::string hex64(uint64_t v)
{
	std::ostringstream os;
	os << std::hex << std::setw(16) << std::setfill('0') << v;
	return os.str();
}

std::string timestamp(WallTime t)
{
	auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
			  t.time_since_epoch()).count();
	time_t secs = static_cast<time_t>(ms / 1000);
	tm utc;
	gmtime_r(&secs, &utc);
	char buf[32];
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &utc);
	return str(buf, '.', std::setw(3), std::setfill('0'), ms % 1000, 'Z');
}

nlohmann::json status_json(const DeviceStatus &d)
{
	nlohmann::json j;
	j["minor"] = opt(d.minor);
	j["role"] = role_name(d.role);
	j["peer_role"] = role_name(d.peer_role);
	j["connection"] = conn_name(d.conn);
	j["disk"] = disk_name(d.disk);
	j["peer_disk"] = disk_name(d.peer_disk);
	j["protocol"] = has_link(d) && d.protocol
		? nlohmann::json(protocol_name(*d.protocol)) : nlohmann::json(nullptr);
	j["size_bytes"] = opt(d.size_bytes);
	if (auto s = sync_of(d))
		j["sync"] = {{"direction", s->direction}, {"percent", s->percent},
			     {"bytes_remaining", s->remaining},
			     {"bytes_total", s->total}};
	else
		j["sync"] = nullptr;
	j["written_bytes"] = opt(d.written_bytes);
	j["sent_bytes"] = opt(d.sent_bytes);
	j["received_bytes"] = opt(d.received_bytes);
	if (d.disk_path)
		j["disk_path"] = *d.disk_path;
	if (d.peer_name)
		j["peer_name"] = *d.peer_name;
	if (d.peer_addr)
		j["peer_addr"] = *d.peer_addr;
	if (d.current_uuid)
		j["current_uuid"] = hex64(*d.current_uuid);
	if (d.bitmap_uuid)
		j["bitmap_uuid"] = hex64(*d.bitmap_uuid);
	if (d.open_count)
		j["open_count"] = *d.open_count;
	if (d.in_flight)
		j["in_flight"] = *d.in_flight;
	return j;
}

nlohmann::json event_json(const Event &ev, WallTime t)
{
	nlohmann::json j = status_json(ev.dev);
	j["event"] = event_name(ev.event);
	j["reason"] = opt(ev.reason);
	j["time"] = timestamp(t);
	return j;
}

std::string status_text(const DeviceStatus &d)
{
	std::ostringstream os;
	os << dev_name(d) << ": " << role_name(d.role);
	if (has_link(d))
		os << ", peer " << role_name(d.peer_role);
	os << "\n  connection  " << conn_name(d.conn);
	if (has_link(d)) {
		os << " to " << d.peer_name.value_or("?") << " ("
		   << d.peer_addr.value_or("?") << ")";
		if (d.protocol)
			os << ", protocol " << protocol_name(*d.protocol);
	}
	os << "\n  disk        " << disk_name(d.disk);
	if (has_link(d))
		os << ", peer " << disk_name(d.peer_disk);
	os << "\n  size        ";
	if (d.size_bytes)
		os << bytes_text(*d.size_bytes) << " (" << *d.size_bytes << " bytes)";
	else
		os << '?';
	if (d.disk_path)
		os << " on " << *d.disk_path;
	if (auto s = sync_of(d))
		os << "\n  sync        " << s->direction << ' ' << bar(s->percent)
		   << ' ' << std::fixed << std::setprecision(1) << s->percent
		   << "%, " << bytes_text(s->remaining) << " of "
		   << bytes_text(s->total) << " remaining";
	os << "\n  traffic     written " << opt_bytes(d.written_bytes)
	   << ", sent " << opt_bytes(d.sent_bytes)
	   << ", received " << opt_bytes(d.received_bytes)
	   << ", in flight " << opt_text(d.in_flight)
	   << ", open " << opt_text(d.open_count);
	if (d.current_uuid || d.bitmap_uuid)
		os << "\n  uuids       current "
		   << (d.current_uuid ? hex64(*d.current_uuid) : "?")
		   << ", bitmap " << (d.bitmap_uuid ? hex64(*d.bitmap_uuid) : "?");
	os << '\n';
	return os.str();
}

std::string event_text(const Event &ev, WallTime t)
{
	const DeviceStatus &d = ev.dev;
	std::ostringstream os;
	os << timestamp(t) << ' ' << dev_name(d) << ' ' << event_name(ev.event)
	   << " role=" << role_name(d.role)
	   << " conn=" << conn_name(d.conn)
	   << " disk=" << disk_name(d.disk);
	if (has_link(d))
		os << " peer=" << d.peer_name.value_or("?")
		   << " peer_role=" << role_name(d.peer_role)
		   << " peer_disk=" << disk_name(d.peer_disk);
	if (auto s = sync_of(d))
		os << " sync=" << s->direction << ' ' << std::fixed
		   << std::setprecision(1) << s->percent << '%';
	if (ev.reason)
		os << " reason=" << nlohmann::json(*ev.reason).dump();
	return os.str();
}

} // namespace dtrbd
