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
		{"sync", {{"direction", "source"}, {"percent", 25.0},
			  {"bytes_remaining", 3000}, {"bytes_total", 4000}}},
		{"written_bytes", 1 << 20}, {"sent_bytes", 2 << 20},
		{"received_bytes", 0}, {"disk_path", "/dev/vg0/vm1"},
		{"peer_name", "p2"}, {"peer_addr", "10.0.0.2:7789"},
		{"current_uuid", "5c2b1d4f8e3a2b10"}, {"bitmap_uuid", "0000000000000010"},
		{"open_count", 1}, {"in_flight", 4}};
	CHECK(j == expected);
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
			"3.91 KiB remaining") != std::string::npos);
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
