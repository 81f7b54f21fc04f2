// SPDX-License-Identifier: GPL-2.0
//
// JSON schema of `dtrbdctl status --json` (one object per device; an array
// of them without MINOR) and of `dtrbdctl events --json` (one object per
// line). Every field the kernel did not report is null. Enumerations the
// kernel reports with a value newer than this program are "unknown".
//
//   minor                  integer 0-255
//   role, peer_role        "primary" | "secondary" | "unknown"
//   connection             "standalone" | "connecting" | "connected" |
//                          "disconnecting" | "unknown"
//   disk, peer_disk        "diskless" | "inconsistent" | "outdated" |
//                          "uptodate" | "unknown"
//   protocol               "A" | "B" | "C" | "unknown"; null unless a
//                          connection exists (not standalone)
//   size_bytes             integer: usable size of /dev/dtrbdN
//   sync                   null when no resync or verify runs, else:
//     direction            "source" | "target" | "unknown"; null when the
//                          kernel reports a run (kind) but no direction
//     kind                 "bitmap" (out-of-sync blocks only) | "full" |
//                          "verify" (compare, do not copy) | "none" |
//                          "unknown"; null when not reported
//     percent              number 0-100, two decimals
//     bytes_remaining      integer
//     bytes_total          integer
//     rate_bytes_per_s     integer, recent rate; null when not reported
//     eta_seconds          integer, bytes_remaining / rate rounded up;
//                          null when the rate is unknown or 0
//   written_bytes          integer: application bytes written
//   sent_bytes             integer: payload bytes sent to the peer
//   received_bytes         integer: payload bytes received from the peer
//   oos_bytes              integer: bytes marked out of sync in the bitmap
//   resync_sent_bytes      integer: resync payload sent
//   resync_received_bytes  integer: resync payload received
//   resync_same_bytes      integer: resync bytes skipped, checksums equal
//   al_writes              integer: activity log transactions written
//   al_extents_used        integer: activity log extents (4 MiB) hot now
//   verify                 null when no verify result is reported, else
//                          {"blocks_checked": integer, "blocks_differing":
//                          integer or null} of the last verify (4 KiB blocks)
//   flags                  array of "crashed-primary" | "split-brain" |
//                          "peer-outdated" | "bitN" (a bit this program
//                          does not know); [] when none is set
//   meta_disk              string: the external metadata device; null for
//                          internal metadata (or not reported)
//   name                   string: the resource name given at attach
//                          (/dev/dtrbd/by-res/NAME); null when none
//   on_peer_loss           "continue" | "freeze" | "unknown"; null when not
//                          reported
//   frozen                 bool: writes wait for resume-io / fail-io (or a
//                          reconnect); null when not reported
//   io_failed              bool: fail-io ran, writes fail until resume-io or
//                          a reconnect; null when not reported
// Present only when reported (omitted otherwise):
//   disk_path, peer_name, peer_addr   strings
//   current_uuid, bitmap_uuid         16 lower-case hex digits
//   open_count, in_flight             integers
//   ping_ms, peer_timeout_ms, ko_count, request_timeout_ms
//                                     integers, while a connection exists:
//                                     keep-alive interval, peer timeout,
//                                     request timeout in peer timeouts and
//                                     in ms (ko_count x peer_timeout_ms)
// Events add:
//   event    "attached" | "detached" | "role" | "connected" |
//            "disconnected" | "peer" | "sync_started" | "sync_finished" |
//            "disk" | "verify_started" | "verify_finished" | "split_brain" |
//            "io_error" | "frozen" | "resumed" | "io_failed" | "closed" | "none" |
//            "unknown"
//   reason   string or null
//   time     ISO 8601 UTC with milliseconds, when dtrbdctl received it
//
// `dtrbdctl verify --json` prints one object:
//   {"minor": 0, "blocks_checked": N, "blocks_differing": M or null,
//    "repaired": bool, "seconds": number (one decimal)}
#include "cli/format.h"

#include <linux/dtrbd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <climits>
#include <cstdint>
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

// Resync (or verify) progress, when one runs: a sync direction, or a
// sync kind other than none.
struct Sync {
	std::optional<std::string> direction;
	std::optional<std::string> kind;
	double percent;
	uint64_t remaining, total;
	std::optional<uint64_t> rate;		// bytes/s
	std::optional<uint64_t> eta;		// seconds
};

bool syncing(const DeviceStatus &d)
{
	return (d.sync && *d.sync != DTRBD_SYNC_NONE) ||
	       (d.sync_kind && *d.sync_kind != DTRBD_SK_NONE);
}

std::optional<Sync> sync_of(const DeviceStatus &d)
{
	if (!syncing(d))
		return std::nullopt;
	Sync s;
	if (d.sync && *d.sync != DTRBD_SYNC_NONE)
		s.direction = *d.sync == DTRBD_SYNC_SOURCE ? "source"
			    : *d.sync == DTRBD_SYNC_TARGET ? "target" : "unknown";
	if (d.sync_kind)
		s.kind = sync_kind_name(d.sync_kind);
	s.total = d.sync_total.value_or(0);
	uint64_t done = std::min(d.sync_done.value_or(0), s.total);
	s.remaining = s.total - done;
	s.percent = s.total ? std::round(10000.0 * static_cast<double>(done) /
					 static_cast<double>(s.total)) / 100.0
			    : 0.0;
	s.rate = d.sync_rate;
	if (s.rate && *s.rate > 0)
		s.eta = s.remaining / *s.rate + (s.remaining % *s.rate != 0);
	return s;
}

template <size_t N>
std::optional<uint8_t> index_of(const std::array<const char *, N> &names,
				const std::string &s)
{
	for (size_t i = 0; i < N; i++)
		if (s == names[i])
			return static_cast<uint8_t>(i);
	return std::nullopt;
}

constexpr std::array<const char *, 3> kAfterSb{
	"disconnect", "discard-zero-changes", "discard-secondary"};

} // namespace

std::optional<double> sync_percent(const DeviceStatus &d)
{
	auto s = sync_of(d);
	return s ? std::optional(s->percent) : std::nullopt;
}

std::string progress_bar(double percent)
{
	constexpr int kWidth = 20;
	int fill = static_cast<int>(percent / 100.0 * kWidth);
	fill = std::clamp(fill, 0, kWidth);
	return "[" + std::string(fill, '#') + std::string(kWidth - fill, '.') + "]";
}

std::string rate_text(uint64_t bytes_per_s)
{
	return bytes_text(bytes_per_s) + "/s";
}

std::string duration_text(uint64_t t)
{
	std::ostringstream os;
	os << std::setfill('0');
	if (t >= 3600)
		os << t / 3600 << 'h' << std::setw(2) << t % 3600 / 60 << 'm'
		   << std::setw(2) << t % 60 << 's';
	else if (t >= 60)
		os << t / 60 << 'm' << std::setw(2) << t % 60 << 's';
	else
		os << t << 's';
	return os.str();
}

std::optional<uint64_t> parse_size(const std::string &s)
{
	size_t i = 0;
	while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])))
		i++;
	if (i == 0 || i > 19 || i == s.size())
		return std::nullopt;	// no digits, too many, or no unit
	uint64_t n = std::stoull(s.substr(0, i));
	std::string unit = s.substr(i);
	for (auto &c : unit)
		c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
	static constexpr std::pair<const char *, int> units[] = {
		{"K", 10}, {"M", 20}, {"G", 30}, {"T", 40}};
	for (auto [u, shift] : units) {
		if (unit != u && unit != str(u, "IB") && unit != str(u, "B"))
			continue;
		if (n > (UINT64_MAX >> shift))
			return std::nullopt;
		return n << shift;
	}
	return std::nullopt;
}

std::optional<uint32_t> parse_resync_rate(const std::string &s)
{
	if (s == "dynamic")
		return 0;
	std::string size = s;
	if (size.ends_with("/s") || size.ends_with("/S"))
		size.resize(size.size() - 2);
	auto bytes = parse_size(size);
	if (!bytes || *bytes == 0 || *bytes % 1024 != 0 ||
	    *bytes / 1024 > DTRBD_RESYNC_RATE_MAX)
		return std::nullopt;
	return static_cast<uint32_t>(*bytes / 1024);
}

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
	static constexpr std::array<const char *, 18> names{
		"none", "attached", "detached", "role", "connected",
		"disconnected", "peer", "sync_started", "sync_finished", "disk",
		"verify_started", "verify_finished", "split_brain", "io_error",
		"frozen", "resumed", "io_failed", "closed"};
	return name_of(names, v);
}

static constexpr std::array<const char *, 2> kOnPeerLoss{"continue", "freeze"};

std::string on_peer_loss_name(std::optional<uint8_t> v)
{
	return name_of(kOnPeerLoss, v);
}

std::optional<uint8_t> parse_on_peer_loss(const std::string &s)
{
	return index_of(kOnPeerLoss, s);
}

std::string sync_kind_name(std::optional<uint8_t> v)
{
	static constexpr std::array<const char *, 4> names{
		"none", "bitmap", "full", "verify"};
	return name_of(names, v);
}

std::string after_sb_name(uint8_t v)
{
	return name_of(kAfterSb, v);
}

std::optional<uint8_t> parse_after_sb(const std::string &s)
{
	return index_of(kAfterSb, s);
}

std::vector<std::string> flag_names(uint32_t flags)
{
	static constexpr std::array<const char *, 3> names{
		"crashed-primary", "split-brain", "peer-outdated"};
	std::vector<std::string> out;
	for (unsigned bit = 0; bit < 32; bit++)
		if (flags & (1u << bit))
			out.push_back(bit < names.size() ? names[bit] : str("bit", bit));
	return out;
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
		j["sync"] = {{"direction", opt(s->direction)}, {"kind", opt(s->kind)},
			     {"percent", s->percent},
			     {"bytes_remaining", s->remaining},
			     {"bytes_total", s->total},
			     {"rate_bytes_per_s", opt(s->rate)},
			     {"eta_seconds", opt(s->eta)}};
	else
		j["sync"] = nullptr;
	j["written_bytes"] = opt(d.written_bytes);
	j["sent_bytes"] = opt(d.sent_bytes);
	j["received_bytes"] = opt(d.received_bytes);
	j["oos_bytes"] = opt(d.oos_bytes);
	j["resync_sent_bytes"] = opt(d.rs_sent_bytes);
	j["resync_received_bytes"] = opt(d.rs_received_bytes);
	j["resync_same_bytes"] = opt(d.rs_same_bytes);
	j["al_writes"] = opt(d.al_writes);
	j["al_extents_used"] = opt(d.al_extents_used);
	if (d.verify_checked)
		j["verify"] = {{"blocks_checked", *d.verify_checked},
			       {"blocks_differing", opt(d.verify_differing)}};
	else
		j["verify"] = nullptr;
	j["flags"] = d.flags ? nlohmann::json(flag_names(*d.flags)) : nlohmann::json(nullptr);
	j["meta_disk"] = opt(d.meta_disk);
	j["name"] = opt(d.res_name);
	j["on_peer_loss"] = d.on_peer_loss ? nlohmann::json(on_peer_loss_name(d.on_peer_loss))
					   : nlohmann::json(nullptr);
	j["frozen"] = d.frozen ? nlohmann::json(*d.frozen != 0) : nlohmann::json(nullptr);
	j["io_failed"] = d.io_failed ? nlohmann::json(*d.io_failed != 0)
				     : nlohmann::json(nullptr);
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
	if (d.ping_ms)
		j["ping_ms"] = *d.ping_ms;
	if (d.timeout_ms)
		j["peer_timeout_ms"] = *d.timeout_ms;
	if (d.ko_count)
		j["ko_count"] = *d.ko_count;
	if (d.ko_count && d.timeout_ms)
		j["request_timeout_ms"] = uint64_t{*d.ko_count} * *d.timeout_ms;
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
	os << dev_name(d);
	if (d.res_name)
		os << " (" << *d.res_name << ")";
	os << ": " << role_name(d.role);
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
	if (d.meta_disk)
		os << "\n  metadata    external on " << *d.meta_disk;
	if (d.frozen && *d.frozen)
		os << "\n  writes      FROZEN: waiting for 'dtrbdctl resume-io " << d.minor.value_or(0)
		   << "' (go on alone), 'dtrbdctl fail-io " << d.minor.value_or(0)
		   << "' (fail them) or a reconnect";
	else if (d.io_failed && *d.io_failed)
		os << "\n  writes      FAILING with I/O errors (fail-io) until 'dtrbdctl resume-io "
		   << d.minor.value_or(0) << "' or a reconnect";
	if (d.on_peer_loss && *d.on_peer_loss == DTRBD_OPL_FREEZE)
		os << "\n  on loss     freeze";
	if (has_link(d) && (d.ping_ms || d.timeout_ms || d.ko_count)) {
		// "timeouts    ping 1000 ms, peer 5000 ms, requests 35000 ms (ko-count 7)"
		os << "\n  timeouts    ping " << opt_text(d.ping_ms) << " ms, peer "
		   << opt_text(d.timeout_ms) << " ms, requests ";
		if (d.ko_count && d.timeout_ms)
			os << uint64_t{*d.ko_count} * *d.timeout_ms << " ms";
		else
			os << '?';
		os << " (ko-count " << opt_text(d.ko_count) << ')';
	}
	if (d.flags && *d.flags) {
		os << "\n  flags       ";
		auto names = flag_names(*d.flags);
		for (size_t i = 0; i < names.size(); i++)
			os << (i ? ", " : "") << names[i];
	}
	if (auto s = sync_of(d)) {
		// "sync        bitmap source [###.....] 25.0%, 3 MiB of 4 MiB
		//  remaining, 50.0 MiB/s, eta 1m05s"
		os << "\n  sync        ";
		if (s->kind)
			os << *s->kind << ' ';
		if (s->direction)
			os << *s->direction << ' ';
		os << progress_bar(s->percent) << ' ' << std::fixed
		   << std::setprecision(1) << s->percent << "%, "
		   << bytes_text(s->remaining) << " of " << bytes_text(s->total)
		   << " remaining";
		if (s->rate)
			os << ", " << rate_text(*s->rate);
		if (s->eta)
			os << ", eta " << duration_text(*s->eta);
	}
	if (d.oos_bytes)
		os << "\n  out of sync " << bytes_text(*d.oos_bytes);
	if (d.verify_checked)
		os << "\n  last verify " << *d.verify_checked << " blocks checked, "
		   << opt_text(d.verify_differing) << " differing";
	os << "\n  traffic     written " << opt_bytes(d.written_bytes)
	   << ", sent " << opt_bytes(d.sent_bytes)
	   << ", received " << opt_bytes(d.received_bytes)
	   << ", in flight " << opt_text(d.in_flight)
	   << ", open " << opt_text(d.open_count);
	if (d.rs_sent_bytes || d.rs_received_bytes || d.rs_same_bytes)
		os << "\n  resynced    sent " << opt_bytes(d.rs_sent_bytes)
		   << ", received " << opt_bytes(d.rs_received_bytes)
		   << ", skipped as equal " << opt_bytes(d.rs_same_bytes);
	if (d.al_extents_used || d.al_writes)
		os << "\n  act. log    " << opt_text(d.al_extents_used)
		   << " extents hot, " << opt_text(d.al_writes)
		   << " transactions written";
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
		os << " sync=" << s->direction.value_or("-")
		   << (s->kind ? "/" + *s->kind : "") << ' '
		   << std::fixed << std::setprecision(1) << s->percent << '%';
	if (ev.reason)
		os << " reason=" << nlohmann::json(*ev.reason).dump();
	return os.str();
}

} // namespace dtrbd
