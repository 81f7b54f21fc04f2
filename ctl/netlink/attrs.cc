// SPDX-License-Identifier: GPL-2.0
#include "netlink/attrs.h"

#include <linux/dtrbd.h>

#include <array>
#include <cstring>

namespace dtrbd::nl {

namespace {

using Table = std::array<nlattr *, DTRBD_A_MAX + 1>;

Table parse(const nlattr *head, int len)
{
	Table tb{};
	// No policy: widths are checked per attribute below; types above
	// DTRBD_A_MAX (from a newer module) are skipped by nla_parse.
	if (nla_parse(tb.data(), DTRBD_A_MAX, const_cast<nlattr *>(head), len,
		      nullptr) < 0)
		tb.fill(nullptr);
	return tb;
}

template <typename T>
void get(const Table &tb, int type, std::optional<T> &out)
{
	const nlattr *a = tb[type];
	if (a && nla_len(a) >= static_cast<int>(sizeof(T))) {
		T v;
		memcpy(&v, nla_data(a), sizeof(v));
		out = v;
	}
}

void get(const Table &tb, int type, std::optional<std::string> &out)
{
	const nlattr *a = tb[type];
	if (a) {
		const auto *s = static_cast<const char *>(nla_data(a));
		out = std::string(s, strnlen(s, nla_len(a)));
	}
}

DeviceStatus status_from(const Table &tb)
{
	DeviceStatus d;
	get(tb, DTRBD_A_MINOR, d.minor);
	get(tb, DTRBD_A_ROLE, d.role);
	get(tb, DTRBD_A_PEER_ROLE, d.peer_role);
	get(tb, DTRBD_A_CONN, d.conn);
	get(tb, DTRBD_A_DISK, d.disk);
	get(tb, DTRBD_A_PEER_DISK, d.peer_disk);
	get(tb, DTRBD_A_PROTOCOL, d.protocol);
	get(tb, DTRBD_A_SYNC, d.sync);
	get(tb, DTRBD_A_SIZE_BYTES, d.size_bytes);
	get(tb, DTRBD_A_SYNC_TOTAL, d.sync_total);
	get(tb, DTRBD_A_SYNC_DONE, d.sync_done);
	get(tb, DTRBD_A_WRITTEN_BYTES, d.written_bytes);
	get(tb, DTRBD_A_SENT_BYTES, d.sent_bytes);
	get(tb, DTRBD_A_RECEIVED_BYTES, d.received_bytes);
	get(tb, DTRBD_A_CURRENT_UUID, d.current_uuid);
	get(tb, DTRBD_A_BITMAP_UUID, d.bitmap_uuid);
	get(tb, DTRBD_A_OPEN_COUNT, d.open_count);
	get(tb, DTRBD_A_IN_FLIGHT, d.in_flight);
	get(tb, DTRBD_A_DISK_PATH, d.disk_path);
	get(tb, DTRBD_A_PEER_NAME, d.peer_name);
	get(tb, DTRBD_A_PEER_ADDR, d.peer_addr);
	get(tb, DTRBD_A_OOS_BYTES, d.oos_bytes);
	get(tb, DTRBD_A_SYNC_RATE, d.sync_rate);
	get(tb, DTRBD_A_SYNC_KIND, d.sync_kind);
	get(tb, DTRBD_A_VERIFY_CHECKED, d.verify_checked);
	get(tb, DTRBD_A_VERIFY_DIFFERING, d.verify_differing);
	get(tb, DTRBD_A_AL_WRITES, d.al_writes);
	get(tb, DTRBD_A_AL_EXTENTS_USED, d.al_extents_used);
	get(tb, DTRBD_A_RS_SENT_BYTES, d.rs_sent_bytes);
	get(tb, DTRBD_A_RS_RECEIVED_BYTES, d.rs_received_bytes);
	get(tb, DTRBD_A_RS_SAME_BYTES, d.rs_same_bytes);
	get(tb, DTRBD_A_FLAGS, d.flags);
	get(tb, DTRBD_A_META_DISK, d.meta_disk);
	get(tb, DTRBD_A_RES_NAME, d.res_name);
	get(tb, DTRBD_A_ON_PEER_LOSS, d.on_peer_loss);
	get(tb, DTRBD_A_FROZEN, d.frozen);
	get(tb, DTRBD_A_IO_FAILED, d.io_failed);
	get(tb, DTRBD_A_PING_MS, d.ping_ms);
	get(tb, DTRBD_A_TIMEOUT_MS, d.timeout_ms);
	get(tb, DTRBD_A_KO_COUNT, d.ko_count);
	return d;
}

} // namespace

DeviceStatus parse_status(const nlattr *head, int len)
{
	return status_from(parse(head, len));
}

Event parse_event(const nlattr *head, int len)
{
	Table tb = parse(head, len);
	Event ev;
	ev.dev = status_from(tb);
	get(tb, DTRBD_A_EVENT, ev.event);
	get(tb, DTRBD_A_REASON, ev.reason);
	return ev;
}

} // namespace dtrbd::nl
