// SPDX-License-Identifier: GPL-2.0
// Status and events: from netlink attribute sets (as the module sends them)
// to JSON and text; and the decoding of extended ACKs.
#include <catch2/catch.hpp>

#include <linux/dtrbd.h>
#include <linux/netlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "cli/format.h"
#include "netlink/attrs.h"
#include "netlink/nl.h"

using namespace dtrbd;
using nlohmann::json;

namespace {

// An attribute set built with libnl, as the module builds its messages.
class Attrs {
public:
	Attrs() : msg_(nlmsg_alloc()) { REQUIRE(msg_); }
	Attrs &u8(int t, uint8_t v) { REQUIRE(nla_put_u8(msg_.get(), t, v) == 0); return *this; }
	Attrs &u32(int t, uint32_t v) { REQUIRE(nla_put_u32(msg_.get(), t, v) == 0); return *this; }
	Attrs &u64(int t, uint64_t v) { REQUIRE(nla_put_u64(msg_.get(), t, v) == 0); return *this; }
	Attrs &str(int t, const char *v) { REQUIRE(nla_put_string(msg_.get(), t, v) == 0); return *this; }

	DeviceStatus status() const
	{
		nlmsghdr *h = nlmsg_hdr(msg_.get());
		return nl::parse_status(nlmsg_attrdata(h, 0), nlmsg_attrlen(h, 0));
	}
	Event event() const
	{
		nlmsghdr *h = nlmsg_hdr(msg_.get());
		return nl::parse_event(nlmsg_attrdata(h, 0), nlmsg_attrlen(h, 0));
	}

private:
	nl::MsgPtr msg_;
};

Attrs connected_syncing()
{
	Attrs a;
	a.u32(DTRBD_A_MINOR, 3)
		.u8(DTRBD_A_ROLE, DTRBD_ROLE_PRIMARY)
		.u8(DTRBD_A_PEER_ROLE, DTRBD_ROLE_SECONDARY)
		.u8(DTRBD_A_CONN, DTRBD_CONN_CONNECTED)
		.u8(DTRBD_A_DISK, DTRBD_DISK_UPTODATE)
		.u8(DTRBD_A_PEER_DISK, DTRBD_DISK_INCONSISTENT)
		.u8(DTRBD_A_PROTOCOL, DTRBD_PROT_C)
		.u64(DTRBD_A_SIZE_BYTES, 268390400)
		.u8(DTRBD_A_SYNC, DTRBD_SYNC_SOURCE)
		.u64(DTRBD_A_SYNC_TOTAL, 4000)
		.u64(DTRBD_A_SYNC_DONE, 1000)
		.u64(DTRBD_A_WRITTEN_BYTES, 1 << 20)
		.u64(DTRBD_A_SENT_BYTES, 2 << 20)
		.u64(DTRBD_A_RECEIVED_BYTES, 0)
		.u64(DTRBD_A_CURRENT_UUID, 0x5c2b1d4f8e3a2b10ull)
		.u64(DTRBD_A_BITMAP_UUID, 0x10)
		.u32(DTRBD_A_OPEN_COUNT, 1)
		.u32(DTRBD_A_IN_FLIGHT, 4)
		.str(DTRBD_A_DISK_PATH, "/dev/vg0/vm1")
		.str(DTRBD_A_PEER_NAME, "p2")
		.str(DTRBD_A_PEER_ADDR, "10.0.0.2:7789");
	return a;
}

} // namespace

TEST_CASE("status JSON of a connected, syncing device", "[format]")
{
	json j = status_json(connected_syncing().status());
	json expected = {
		{"minor", 3}, {"role", "primary"}, {"peer_role", "secondary"},
		{"connection", "connected"}, {"disk", "uptodate"},
		{"peer_disk", "inconsistent"}, {"protocol", "C"},
		{"size_bytes", 268390400},
		{"sync", {{"direction", "source"}, {"kind", nullptr}, {"percent", 25.0},
			  {"bytes_remaining", 3000}, {"bytes_total", 4000},
			  {"rate_bytes_per_s", nullptr}, {"eta_seconds", nullptr}}},
		{"written_bytes", 1 << 20}, {"sent_bytes", 2 << 20},
		{"received_bytes", 0}, {"disk_path", "/dev/vg0/vm1"},
		{"peer_name", "p2"}, {"peer_addr", "10.0.0.2:7789"},
		{"current_uuid", "5c2b1d4f8e3a2b10"}, {"bitmap_uuid", "0000000000000010"},
		{"open_count", 1}, {"in_flight", 4},
		// not reported by this (older) attribute set: null
		{"oos_bytes", nullptr}, {"resync_sent_bytes", nullptr},
		{"resync_received_bytes", nullptr}, {"resync_same_bytes", nullptr},
		{"al_writes", nullptr}, {"al_extents_used", nullptr}, {"verify", nullptr},
		{"flags", nullptr}, {"meta_disk", nullptr}, {"name", nullptr},
		{"on_peer_loss", nullptr}, {"frozen", nullptr}, {"io_failed", nullptr}};
	CHECK(j == expected);
}

TEST_CASE("status JSON with every attribute of metadata version 2", "[format]")
{
	Attrs a = connected_syncing();
	a.u8(DTRBD_A_SYNC_KIND, DTRBD_SK_BITMAP)
		.u64(DTRBD_A_SYNC_RATE, 1000)
		.u64(DTRBD_A_OOS_BYTES, 3000)
		.u64(DTRBD_A_VERIFY_CHECKED, 65536)
		.u64(DTRBD_A_VERIFY_DIFFERING, 2)
		.u64(DTRBD_A_AL_WRITES, 345)
		.u32(DTRBD_A_AL_EXTENTS_USED, 12)
		.u64(DTRBD_A_RS_SENT_BYTES, 1000)
		.u64(DTRBD_A_RS_RECEIVED_BYTES, 0)
		.u64(DTRBD_A_RS_SAME_BYTES, 8192)
		.u32(DTRBD_A_FLAGS, DTRBD_F_CRASHED_PRIMARY | DTRBD_F_SPLIT_BRAIN)
		.str(DTRBD_A_META_DISK, "/dev/vg1/meta")
		.str(DTRBD_A_RES_NAME, "vm1");
	json j = status_json(a.status());
	json expected = {
		{"minor", 3}, {"role", "primary"}, {"peer_role", "secondary"},
		{"connection", "connected"}, {"disk", "uptodate"},
		{"peer_disk", "inconsistent"}, {"protocol", "C"},
		{"size_bytes", 268390400},
		{"sync", {{"direction", "source"}, {"kind", "bitmap"}, {"percent", 25.0},
			  {"bytes_remaining", 3000}, {"bytes_total", 4000},
			  {"rate_bytes_per_s", 1000}, {"eta_seconds", 3}}},
		{"written_bytes", 1 << 20}, {"sent_bytes", 2 << 20},
		{"received_bytes", 0}, {"disk_path", "/dev/vg0/vm1"},
		{"peer_name", "p2"}, {"peer_addr", "10.0.0.2:7789"},
		{"current_uuid", "5c2b1d4f8e3a2b10"}, {"bitmap_uuid", "0000000000000010"},
		{"open_count", 1}, {"in_flight", 4},
		{"oos_bytes", 3000}, {"resync_sent_bytes", 1000},
		{"resync_received_bytes", 0}, {"resync_same_bytes", 8192},
		{"al_writes", 345}, {"al_extents_used", 12},
		{"verify", {{"blocks_checked", 65536}, {"blocks_differing", 2}}},
		{"flags", {"crashed-primary", "split-brain"}},
		{"meta_disk", "/dev/vg1/meta"}, {"name", "vm1"}, {"on_peer_loss", nullptr},
		{"frozen", nullptr}, {"io_failed", nullptr}};
	CHECK(j == expected);

	std::string text = status_text(a.status());
	INFO(text);
	CHECK(text == "dtrbd3 (vm1): primary, peer secondary\n"
		      "  connection  connected to p2 (10.0.0.2:7789), protocol C\n"
		      "  disk        uptodate, peer inconsistent\n"
		      "  size        256.0 MiB (268390400 bytes) on /dev/vg0/vm1\n"
		      "  metadata    external on /dev/vg1/meta\n"
		      "  flags       crashed-primary, split-brain\n"
		      "  sync        bitmap source [#####...............] 25.0%, 2.93 KiB of "
		      "3.91 KiB remaining, 1000 B/s, eta 3s\n"
		      "  out of sync 2.93 KiB\n"
		      "  last verify 65536 blocks checked, 2 differing\n"
		      "  traffic     written 1.00 MiB, sent 2.00 MiB, received 0 B, in flight 4, "
		      "open 1\n"
		      "  resynced    sent 1000 B, received 0 B, skipped as equal 8.00 KiB\n"
		      "  act. log    12 extents hot, 345 transactions written\n"
		      "  uuids       current 5c2b1d4f8e3a2b10, bitmap 0000000000000010\n");
}

TEST_CASE("sync rate, eta and kind edge cases", "[format]")
{
	Attrs a;
	a.u32(DTRBD_A_MINOR, 1)
		.u8(DTRBD_A_SYNC, DTRBD_SYNC_TARGET)
		.u8(DTRBD_A_SYNC_KIND, DTRBD_SK_FULL)
		.u64(DTRBD_A_SYNC_TOTAL, 100ull << 30)
		.u64(DTRBD_A_SYNC_DONE, 0)
		.u64(DTRBD_A_SYNC_RATE, 0)			// stalled
		.u32(DTRBD_A_FLAGS, 0);
	json j = status_json(a.status());
	CHECK(j["sync"]["kind"] == "full");
	CHECK(j["sync"]["rate_bytes_per_s"] == 0);
	CHECK(j["sync"]["eta_seconds"].is_null());
	CHECK(j["flags"] == json::array());
	std::string text = status_text(a.status());
	CHECK(text.find("sync        full target [....................] 0.0%, 100.0 GiB of "
			"100.0 GiB remaining, 0 B/s\n") != std::string::npos);
	CHECK(text.find("flags") == std::string::npos);

	// 1 GiB left at 1 MiB/s: 1024 s, rounded up when not exact
	Attrs b;
	b.u8(DTRBD_A_SYNC, DTRBD_SYNC_SOURCE)
		.u64(DTRBD_A_SYNC_TOTAL, (1ull << 30) + 1)
		.u64(DTRBD_A_SYNC_DONE, 0)
		.u64(DTRBD_A_SYNC_RATE, 1 << 20)
		.u32(DTRBD_A_FLAGS, 1u << 7);			// from a newer module
	j = status_json(b.status());
	CHECK(j["sync"]["eta_seconds"] == 1025);
	CHECK(j["flags"] == json::array({"bit7"}));
	CHECK(status_text(b.status()).find(", 1.00 MiB/s, eta 17m05s\n") != std::string::npos);

	// A verify reported with a kind but no direction.
	Attrs v;
	v.u8(DTRBD_A_SYNC, DTRBD_SYNC_NONE)
		.u8(DTRBD_A_SYNC_KIND, DTRBD_SK_VERIFY)
		.u64(DTRBD_A_SYNC_TOTAL, 200)
		.u64(DTRBD_A_SYNC_DONE, 50);
	j = status_json(v.status());
	CHECK(j["sync"]["direction"].is_null());
	CHECK(j["sync"]["kind"] == "verify");
	CHECK(j["sync"]["percent"] == 25.0);
	CHECK(status_text(v.status()).find("  sync        verify [#####") != std::string::npos);

	// Kind none and no sync: no sync object.
	Attrs n;
	n.u8(DTRBD_A_SYNC, DTRBD_SYNC_NONE).u8(DTRBD_A_SYNC_KIND, DTRBD_SK_NONE);
	CHECK(status_json(n.status())["sync"].is_null());
	CHECK(sync_kind_name(9) == "unknown");
}

TEST_CASE("size and resync rate parsing", "[format]")
{
	CHECK(parse_size("800K") == 800u << 10);
	CHECK(parse_size("50M") == 50u << 20);
	CHECK(parse_size("50m") == 50u << 20);
	CHECK(parse_size("50MiB") == 50u << 20);
	CHECK(parse_size("50MB") == 50u << 20);
	CHECK(parse_size("1G") == 1u << 30);
	CHECK(parse_size("2T") == 2ull << 40);
	CHECK(parse_size("0K") == 0u);
	CHECK(parse_size("16777215T") == 16777215ull << 40);
	for (const char *bad : {"", "50", "M", "50 M", "-5M", "5.5M", "50X", "50Mi", "50MiBs",
				"1E", "16777216T", "99999999999999999999K", "0x10M", " 50M"})
		CHECK_FALSE(parse_size(bad));

	CHECK(parse_resync_rate("dynamic") == 0u);
	CHECK(parse_resync_rate("800K") == 800u);
	CHECK(parse_resync_rate("50M") == 50u << 10);
	CHECK(parse_resync_rate("50M/s") == 50u << 10);
	CHECK(parse_resync_rate("50MiB/s") == 50u << 10);
	CHECK(parse_resync_rate("1G") == 1u << 20);
	CHECK(parse_resync_rate("4G") == DTRBD_RESYNC_RATE_MAX);
	CHECK(parse_resync_rate("1K") == 1u);
	for (const char *bad : {"0K", "0M", "4097M", "5G", "1T", "Dynamic", "250", "", "/s",
				"50M/", "fast"})
		CHECK_FALSE(parse_resync_rate(bad));
}

TEST_CASE("after-sb policies and event names of version 2", "[format]")
{
	CHECK(parse_after_sb("disconnect") == DTRBD_SB_DISCONNECT);
	CHECK(parse_after_sb("discard-zero-changes") == DTRBD_SB_DISCARD_ZERO_CHANGES);
	CHECK(parse_after_sb("discard-secondary") == DTRBD_SB_DISCARD_SECONDARY);
	for (const char *bad : {"", "Disconnect", "discard", "discard_secondary"})
		CHECK_FALSE(parse_after_sb(bad));
	CHECK(after_sb_name(DTRBD_SB_DISCARD_SECONDARY) == "discard-secondary");
	CHECK(event_name(DTRBD_EV_VERIFY_STARTED) == "verify_started");
	CHECK(event_name(DTRBD_EV_VERIFY_FINISHED) == "verify_finished");
	CHECK(event_name(DTRBD_EV_SPLIT_BRAIN) == "split_brain");
	CHECK(event_name(DTRBD_EV_IO_ERROR) == "io_error");
	CHECK(event_name(DTRBD_EV_CLOSED + 1) == "unknown");
	CHECK(flag_names(DTRBD_F_PEER_OUTDATED) == std::vector<std::string>{"peer-outdated"});
	CHECK(duration_text(0) == "0s");
	CHECK(duration_text(65) == "1m05s");
	CHECK(duration_text(3723) == "1h02m03s");
	CHECK(rate_text(50u << 20) == "50.0 MiB/s");
}

TEST_CASE("status JSON of a standalone device has no protocol and no sync", "[format]")
{
	Attrs a;
	a.u32(DTRBD_A_MINOR, 0)
		.u8(DTRBD_A_ROLE, DTRBD_ROLE_SECONDARY)
		.u8(DTRBD_A_CONN, DTRBD_CONN_STANDALONE)
		.u8(DTRBD_A_PROTOCOL, DTRBD_PROT_A)
		.u8(DTRBD_A_SYNC, DTRBD_SYNC_NONE)
		.u64(DTRBD_A_SYNC_TOTAL, 10);
	json j = status_json(a.status());
	CHECK(j["protocol"].is_null());
	CHECK(j["sync"].is_null());
	CHECK(j["connection"] == "standalone");
	CHECK(j["peer_role"] == "unknown");
	CHECK_FALSE(j.contains("peer_name"));
	CHECK_FALSE(j.contains("current_uuid"));
}

TEST_CASE("unknown enum values, short and foreign attributes", "[format]")
{
	Attrs a;
	a.u32(DTRBD_A_MINOR, 9)
		.u8(DTRBD_A_ROLE, 7)
		.u8(DTRBD_A_PEER_ROLE, 255)
		.u8(DTRBD_A_CONN, 42)
		.u8(DTRBD_A_DISK, 5)
		.u8(DTRBD_A_PEER_DISK, 200)
		.u8(DTRBD_A_PROTOCOL, 9)
		.u8(DTRBD_A_SYNC, 3)
		.u32(DTRBD_A_SIZE_BYTES, 12345)		// too short for a u64
		.u64(DTRBD_A_MAX + 7, 1)		// from a newer module
		.str(DTRBD_A_MAX + 8, "future");
	DeviceStatus d = a.status();
	CHECK_FALSE(d.size_bytes);
	json j = status_json(d);
	CHECK(j["minor"] == 9);
	for (const char *k : {"role", "peer_role", "connection", "disk", "peer_disk", "protocol"})
		CHECK(j[k] == "unknown");
	CHECK(j["size_bytes"].is_null());
	CHECK(j["sync"]["direction"] == "unknown");
	CHECK(j["sync"]["percent"] == 0.0);
	CHECK(j["sync"]["bytes_total"] == 0);
	CHECK(status_text(d).find("unknown") != std::string::npos);
}

TEST_CASE("an empty attribute set formats without crashing", "[format]")
{
	DeviceStatus d = Attrs().status();
	json j = status_json(d);
	CHECK(j["minor"].is_null());
	CHECK(j["role"] == "unknown");
	CHECK(j["connection"] == "unknown");
	CHECK(j["written_bytes"].is_null());
	CHECK(j["sync"].is_null());
	CHECK(status_text(d).starts_with("dtrbd?: unknown\n"));
}

TEST_CASE("sync progress in JSON and text", "[format]")
{
	Attrs a = connected_syncing();
	std::string text = status_text(a.status());
	INFO(text);
	CHECK(text.find("dtrbd3: primary, peer secondary\n") == 0);
	CHECK(text.find("connected to p2 (10.0.0.2:7789), protocol C") != std::string::npos);
	CHECK(text.find("sync        source [#####...............] 25.0%, 2.93 KiB of "
			"3.91 KiB remaining\n") != std::string::npos);
	CHECK(text.find("on /dev/vg0/vm1") != std::string::npos);

	Attrs t;
	t.u8(DTRBD_A_CONN, DTRBD_CONN_CONNECTED)
		.u8(DTRBD_A_SYNC, DTRBD_SYNC_TARGET)
		.u64(DTRBD_A_SYNC_TOTAL, 3)
		.u64(DTRBD_A_SYNC_DONE, 2);
	json j = status_json(t.status());
	CHECK(j["sync"]["direction"] == "target");
	CHECK(j["sync"]["percent"] == Approx(66.67));
	CHECK(j["sync"]["bytes_remaining"] == 1);
}

TEST_CASE("event JSON and text", "[format]")
{
	Attrs a = connected_syncing();
	a.u8(DTRBD_A_EVENT, DTRBD_EV_DISCONNECTED).str(DTRBD_A_REASON, "peer timed out");
	Event ev = a.event();
	auto t = WallTime(std::chrono::milliseconds(1700000000123));
	json j = event_json(ev, t);
	CHECK(j["event"] == "disconnected");
	CHECK(j["reason"] == "peer timed out");
	CHECK(j["time"] == "2023-11-14T22:13:20.123Z");
	CHECK(j["minor"] == 3);
	CHECK(j["role"] == "primary");
	std::string line = event_text(ev, t);
	CHECK(line.starts_with("2023-11-14T22:13:20.123Z dtrbd3 disconnected role=primary"));
	CHECK(line.ends_with(" reason=\"peer timed out\""));
	CHECK(line.find('\n') == std::string::npos);

	Attrs u;
	u.u32(DTRBD_A_MINOR, 1).u8(DTRBD_A_EVENT, 77);
	j = event_json(u.event(), t);
	CHECK(j["event"] == "unknown");
	CHECK(j["reason"].is_null());
}

TEST_CASE("names and small formatters", "[format]")
{
	CHECK(parse_protocol("c") == DTRBD_PROT_C);
	CHECK(parse_protocol("A") == DTRBD_PROT_A);
	CHECK(parse_protocol("b") == DTRBD_PROT_B);
	for (const char *bad : {"", "D", "CC", "1", "!", "protocol C"})
		CHECK_FALSE(parse_protocol(bad));
	CHECK(bytes_text(0) == "0 B");
	CHECK(bytes_text(1023) == "1023 B");
	CHECK(bytes_text(1536) == "1.50 KiB");
	CHECK(bytes_text(256ull << 20) == "256.0 MiB");
	CHECK(hex64(0xab) == "00000000000000ab");
	CHECK(event_name(DTRBD_EV_SYNC_FINISHED) == "sync_finished");
	CHECK(disk_name(std::nullopt) == "unknown");
}

// ---- extended ACKs -------------------------------------------------------

namespace {

// An NLMSG_ERROR message as the kernel builds it.
std::vector<uint32_t> error_ack(int error, bool capped, const char *msg,
				size_t request_payload = 8)
{
	std::vector<uint8_t> b(NLMSG_HDRLEN);
	auto append = [&](const void *p, size_t n) {
		const auto *c = static_cast<const uint8_t *>(p);
		b.insert(b.end(), c, c + n);
		b.resize(NLMSG_ALIGN(b.size()));
	};
	nlmsgerr e{};
	e.error = -error;
	e.msg.nlmsg_len = static_cast<uint32_t>(NLMSG_HDRLEN + request_payload);
	e.msg.nlmsg_type = 0x20;
	append(&e, sizeof(e));
	if (!capped) {
		std::vector<uint8_t> req(request_payload, 0xEE);
		append(req.data(), req.size());
	}
	if (msg) {
		nlattr a{};
		a.nla_type = NLMSGERR_ATTR_OFFS;	// another TLV first
		a.nla_len = NLA_HDRLEN + 4;
		uint32_t off = 20;
		std::vector<uint8_t> tlv(NLA_HDRLEN + 4);
		std::memcpy(tlv.data(), &a, NLA_HDRLEN);
		std::memcpy(tlv.data() + NLA_HDRLEN, &off, 4);
		append(tlv.data(), tlv.size());
		a.nla_type = NLMSGERR_ATTR_MSG;
		a.nla_len = static_cast<uint16_t>(NLA_HDRLEN + std::strlen(msg) + 1);
		tlv.assign(a.nla_len, 0);
		std::memcpy(tlv.data(), &a, NLA_HDRLEN);
		std::memcpy(tlv.data() + NLA_HDRLEN, msg, std::strlen(msg));
		append(tlv.data(), tlv.size());
	}
	nlmsghdr h{};
	h.nlmsg_len = static_cast<uint32_t>(b.size());
	h.nlmsg_type = NLMSG_ERROR;
	h.nlmsg_flags = static_cast<uint16_t>((capped ? NLM_F_CAPPED : 0) |
					      (msg ? NLM_F_ACK_TLVS : 0));
	std::memcpy(b.data(), &h, sizeof(h));
	std::vector<uint32_t> aligned((b.size() + 3) / 4);
	std::memcpy(aligned.data(), b.data(), b.size());
	return aligned;
}

std::optional<std::string> extack(const std::vector<uint32_t> &buf)
{
	return nl::extack_message(reinterpret_cast<const nlmsghdr *>(buf.data()));
}

} // namespace

TEST_CASE("extack message from capped and uncapped error ACKs", "[netlink]")
{
	const char *m = "dtrbd0 is open: close it before detaching";
	CHECK(extack(error_ack(EBUSY, true, m)) == m);
	CHECK(extack(error_ack(EBUSY, false, m)) == m);
	CHECK(extack(error_ack(EBUSY, false, m, 13)) == m);	// unaligned request
	CHECK_FALSE(extack(error_ack(EBUSY, true, nullptr)));

	auto truncated = error_ack(EBUSY, true, m);
	auto *h = reinterpret_cast<nlmsghdr *>(truncated.data());
	h->nlmsg_len -= 24;	// cut into the message TLV
	CHECK_FALSE(extack(truncated));
	h->nlmsg_len = 8;	// shorter than a header
	CHECK_FALSE(extack(truncated));
}

TEST_CASE("kernel errors become one sentence", "[netlink]")
{
	CHECK(nl::kernel_error("attach /x as dtrbd0", EINVAL, std::string("bad disk")).message() ==
	      "bad disk");
	CHECK(nl::kernel_error("attach /x as dtrbd0", EPERM, std::nullopt).message() ==
	      "permission denied: dtrbdctl needs CAP_SYS_ADMIN");
	Status st = nl::kernel_error("detach dtrbd1", ENODEV, std::nullopt);
	CHECK(st.message() == "could not detach dtrbd1: no such device");
	CHECK(st.errnum() == ENODEV);
}

TEST_CASE("freeze state in status and events", "[format][freeze]")
{
	Attrs a = connected_syncing();
	json j = status_json(a.status());
	CHECK(j["frozen"].is_null());
	CHECK(j["io_failed"].is_null());
	CHECK(j["on_peer_loss"].is_null());

	Attrs f;
	f.u32(DTRBD_A_MINOR, 5)
		.u8(DTRBD_A_ROLE, DTRBD_ROLE_PRIMARY)
		.u8(DTRBD_A_CONN, DTRBD_CONN_STANDALONE)
		.u8(DTRBD_A_ON_PEER_LOSS, DTRBD_OPL_FREEZE)
		.u8(DTRBD_A_FROZEN, 1)
		.u8(DTRBD_A_IO_FAILED, 0)
		.u8(DTRBD_A_EVENT, DTRBD_EV_FROZEN)
		.str(DTRBD_A_REASON, "the peer did not answer for 5000 ms");
	j = status_json(f.status());
	CHECK(j["frozen"] == true);
	CHECK(j["io_failed"] == false);
	CHECK(j["on_peer_loss"] == "freeze");
	std::string text = status_text(f.status());
	CHECK(text.find("FROZEN: waiting for 'dtrbdctl resume-io 5'") != std::string::npos);
	CHECK(text.find("on loss     freeze") != std::string::npos);
	json e = event_json(f.event(), std::chrono::system_clock::time_point{});
	CHECK(e["event"] == "frozen");
	CHECK(e["frozen"] == true);

	Attrs g;
	g.u32(DTRBD_A_MINOR, 5).u8(DTRBD_A_FROZEN, 0).u8(DTRBD_A_IO_FAILED, 1)
		.u8(DTRBD_A_ON_PEER_LOSS, 7);
	j = status_json(g.status());
	CHECK(j["on_peer_loss"] == "unknown");
	CHECK(status_text(g.status()).find("FAILING with I/O errors") != std::string::npos);

	CHECK(event_name(DTRBD_EV_FROZEN) == "frozen");
	CHECK(event_name(DTRBD_EV_RESUMED) == "resumed");
	CHECK(event_name(DTRBD_EV_IO_FAILED) == "io_failed");
	CHECK(event_name(DTRBD_EV_CLOSED) == "closed");
	CHECK(parse_on_peer_loss("freeze") == DTRBD_OPL_FREEZE);
	CHECK(parse_on_peer_loss("continue") == DTRBD_OPL_CONTINUE);
	CHECK_FALSE(parse_on_peer_loss("Freeze"));
	CHECK(on_peer_loss_name(DTRBD_OPL_CONTINUE) == "continue");
}

TEST_CASE("status shows the connection's timeouts while connected", "[format]")
{
	Attrs a = connected_syncing();
	a.u32(DTRBD_A_PING_MS, 1000).u32(DTRBD_A_TIMEOUT_MS, 5000).u32(DTRBD_A_KO_COUNT, 7);
	json j = status_json(a.status());
	CHECK(j["ping_ms"] == 1000);
	CHECK(j["peer_timeout_ms"] == 5000);
	CHECK(j["ko_count"] == 7);
	CHECK(j["request_timeout_ms"] == 35000);
	CHECK(status_text(a.status()).find(
		      "\n  timeouts    ping 1000 ms, peer 5000 ms, requests 35000 ms (ko-count 7)\n") !=
	      std::string::npos);
	// an older module reports none: nothing shown, nothing invented
	json old = status_json(connected_syncing().status());
	CHECK_FALSE(old.contains("ko_count"));
	CHECK_FALSE(old.contains("request_timeout_ms"));
	CHECK(status_text(connected_syncing().status()).find("timeouts") == std::string::npos);
}
