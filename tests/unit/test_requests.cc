// SPDX-License-Identifier: GPL-2.0
// The netlink requests dtrbdctl sends, decoded as the module's strict
// policy sees them: which attributes, of which width, only when given.
#include <catch2/catch.hpp>

#include <linux/dtrbd.h>
#include <netlink/attr.h>
#include <netlink/genl/genl.h>
#include <netlink/msg.h>

#include <array>
#include <optional>
#include <set>
#include <string>

#include "netlink/netlink_kernel.h"

using namespace dtrbd;

namespace {

constexpr int kFamily = 0x1d;

// The request's generic netlink command and attributes (pointing into
// the message, which it keeps).
struct Decoded {
	std::optional<nl::Message> msg;
	uint8_t cmd = 0;
	std::array<nlattr *, DTRBD_A_MAX + 1> tb{};

	std::set<int> present() const
	{
		std::set<int> s;
		for (int i = 0; i <= DTRBD_A_MAX; i++)
			if (tb[i])
				s.insert(i);
		return s;
	}
	int len(int t) const { return nla_len(tb[t]); }
	uint8_t u8(int t) const { REQUIRE(len(t) == 1); return nla_get_u8(tb[t]); }
	uint32_t u32(int t) const { REQUIRE(len(t) == 4); return nla_get_u32(tb[t]); }
	std::string string(int t) const
	{
		REQUIRE(len(t) >= 1);
		REQUIRE(static_cast<const char *>(nla_data(tb[t]))[len(t) - 1] == '\0');
		return static_cast<const char *>(nla_data(tb[t]));
	}
	bool flag(int t) const { return tb[t] && len(t) == 0; }
};

Decoded decode(Result<nl::Message> m)
{
	REQUIRE(m);
	REQUIRE(m->status().ok());
	Decoded d;
	d.msg.emplace(std::move(*m));
	nlmsghdr *h = nlmsg_hdr(d.msg->get());
	auto *gh = static_cast<genlmsghdr *>(nlmsg_data(h));
	d.cmd = gh->cmd;
	CHECK(h->nlmsg_type == kFamily);
	CHECK(gh->version == DTRBD_GENL_VERSION);
	REQUIRE(nla_parse(d.tb.data(), DTRBD_A_MAX, genlmsg_attrdata(gh, 0),
			  genlmsg_attrlen(gh, 0), nullptr) == 0);
	return d;
}

} // namespace

TEST_CASE("attach request: META_PATH and AL_EXTENTS only when given", "[netlink]")
{
	AttachRequest r;
	r.minor = 4;
	r.disk_path = "/dev/vg0/vm1";
	Decoded d = decode(nl::attach_request(kFamily, r));
	CHECK(d.cmd == DTRBD_CMD_ATTACH);
	CHECK(d.present() == std::set<int>{DTRBD_A_MINOR, DTRBD_A_DISK_PATH});
	CHECK(d.u32(DTRBD_A_MINOR) == 4);
	CHECK(d.string(DTRBD_A_DISK_PATH) == "/dev/vg0/vm1");

	r.meta_path = "/dev/vg1/meta";
	r.al_extents = DTRBD_AL_EXTENTS_MAX;
	d = decode(nl::attach_request(kFamily, r));
	CHECK(d.present() == std::set<int>{DTRBD_A_MINOR, DTRBD_A_DISK_PATH, DTRBD_A_META_PATH,
					   DTRBD_A_AL_EXTENTS});
	CHECK(d.string(DTRBD_A_META_PATH) == "/dev/vg1/meta");
	CHECK(d.u32(DTRBD_A_AL_EXTENTS) == DTRBD_AL_EXTENTS_MAX);

	r.res_name = "vm1";
	d = decode(nl::attach_request(kFamily, r));
	CHECK(d.present().count(DTRBD_A_RES_NAME) == 1);
	CHECK(d.string(DTRBD_A_RES_NAME) == "vm1");
}

TEST_CASE("connect request: split-brain and rate options only when given", "[netlink]")
{
	ConnectRequest r;
	r.minor = 1;
	r.sock_fd = 7;
	r.protocol = DTRBD_PROT_C;
	r.ping_ms = 1000;
	r.timeout_ms = 5000;
	r.proto_version = 2;
	r.peer_name = "p2";
	r.peer_addr = "10.0.0.2:7789";
	const std::set<int> base{DTRBD_A_MINOR, DTRBD_A_SOCK_FD, DTRBD_A_PROTOCOL,
				 DTRBD_A_PING_MS, DTRBD_A_TIMEOUT_MS, DTRBD_A_TIEBREAK,
				 DTRBD_A_PROTO_VERSION, DTRBD_A_FEATURES, DTRBD_A_PEER_NAME,
				 DTRBD_A_PEER_ADDR};
	Decoded d = decode(nl::connect_request(kFamily, r));
	CHECK(d.cmd == DTRBD_CMD_CONNECT);
	CHECK(d.present() == base);

	r.discard_my_data = true;
	r.csum_resync = true;
	r.after_sb = DTRBD_SB_DISCARD_SECONDARY;
	r.resync_rate_kib = 0;		// "dynamic", given explicitly
	r.on_peer_loss = DTRBD_OPL_FREEZE;
	r.ko_count = 12;
	d = decode(nl::connect_request(kFamily, r));
	auto all = base;
	all.insert({DTRBD_A_DISCARD_MY_DATA, DTRBD_A_AFTER_SB, DTRBD_A_RESYNC_RATE,
		    DTRBD_A_CSUM_RESYNC, DTRBD_A_ON_PEER_LOSS, DTRBD_A_KO_COUNT});
	CHECK(d.u8(DTRBD_A_ON_PEER_LOSS) == DTRBD_OPL_FREEZE);
	CHECK(d.u32(DTRBD_A_KO_COUNT) == 12);
	CHECK(d.present() == all);
	CHECK(d.flag(DTRBD_A_DISCARD_MY_DATA));
	CHECK(d.flag(DTRBD_A_CSUM_RESYNC));
	CHECK(d.u8(DTRBD_A_AFTER_SB) == DTRBD_SB_DISCARD_SECONDARY);
	CHECK(d.u32(DTRBD_A_RESYNC_RATE) == 0);
}

TEST_CASE("verify, new-current-uuid and set-options requests", "[netlink]")
{
	Decoded d = decode(nl::verify_request(kFamily, 3, false));
	CHECK(d.cmd == DTRBD_CMD_VERIFY);
	CHECK(d.present() == std::set<int>{DTRBD_A_MINOR});
	d = decode(nl::verify_request(kFamily, 3, true));
	CHECK(d.present() == std::set<int>{DTRBD_A_MINOR, DTRBD_A_REPAIR});
	CHECK(d.flag(DTRBD_A_REPAIR));

	d = decode(nl::new_current_uuid_request(kFamily, 0, false));
	CHECK(d.cmd == DTRBD_CMD_NEW_CURRENT_UUID);
	CHECK(d.present() == std::set<int>{DTRBD_A_MINOR});
	d = decode(nl::new_current_uuid_request(kFamily, 0, true));
	CHECK(d.flag(DTRBD_A_CLEAR_BITMAP));

	d = decode(nl::set_options_request(kFamily, {9, 51200, std::nullopt, std::nullopt}));
	CHECK(d.cmd == DTRBD_CMD_SET_OPTIONS);
	CHECK(d.present() == std::set<int>{DTRBD_A_MINOR, DTRBD_A_RESYNC_RATE});
	CHECK(d.u32(DTRBD_A_MINOR) == 9);
	CHECK(d.u32(DTRBD_A_RESYNC_RATE) == 51200);

	d = decode(nl::set_options_request(kFamily, {4, std::nullopt, DTRBD_OPL_FREEZE,
						     std::nullopt}));
	CHECK(d.present() == std::set<int>{DTRBD_A_MINOR, DTRBD_A_ON_PEER_LOSS});
	CHECK(d.u8(DTRBD_A_ON_PEER_LOSS) == DTRBD_OPL_FREEZE);
	d = decode(nl::set_options_request(kFamily, {4, 0, DTRBD_OPL_CONTINUE, std::nullopt}));
	CHECK(d.present() == std::set<int>{DTRBD_A_MINOR, DTRBD_A_RESYNC_RATE,
					   DTRBD_A_ON_PEER_LOSS});
	CHECK(d.u8(DTRBD_A_ON_PEER_LOSS) == DTRBD_OPL_CONTINUE);
	d = decode(nl::set_options_request(kFamily, {4, std::nullopt, std::nullopt, 20}));
	CHECK(d.present() == std::set<int>{DTRBD_A_MINOR, DTRBD_A_KO_COUNT});
	CHECK(d.u32(DTRBD_A_KO_COUNT) == 20);
}
