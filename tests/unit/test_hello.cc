// SPDX-License-Identifier: GPL-2.0
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>

#include "conn/hello.h"

using namespace dtrbd;

namespace {

Hello sample()
{
	Hello h;
	h.size_bytes = 268390400;
	h.device_uuid = 0;
	h.minor = 7;
	h.node_name = "p1.example";
	return h;
}

uint32_t be32_at(const uint8_t *p)
{
	return uint32_t(p[0]) << 24 | p[1] << 16 | p[2] << 8 | p[3];
}

void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = uint8_t(v >> 24), p[1] = uint8_t(v >> 16), p[2] = uint8_t(v >> 8), p[3] = uint8_t(v);
}

std::string header_error(const HelloPacket &pkt)
{
	Status st = check_hello_header(pkt.data());
	return st ? "" : st.message();
}

std::string body_error(const HelloPacket &pkt)
{
	auto h = decode_hello(pkt.data() + kHdrSize);
	return h ? "" : h.status().message();
}

} // namespace

TEST_CASE("hello encoding is big-endian with the documented layout", "[hello]")
{
	HelloPacket pkt = encode_hello(sample());
	const uint8_t *p = pkt.data();
	CHECK(std::memcmp(p, "dtRB", 4) == 0);
	CHECK(p[4] == 0);
	CHECK(p[5] == P_HELLO);
	CHECK(be32_at(p + 8) == 104);
	CHECK(be32_at(p + 12) == 0);
	const uint8_t *b = p + 16;
	CHECK(be32_at(b) == DTRBD_PROTO_MIN);
	CHECK(be32_at(b + 4) == DTRBD_PROTO_MAX);
	CHECK(be32_at(b + 16) == 0);			// size_bytes high word
	CHECK(be32_at(b + 20) == 268390400u);		// size_bytes low word
	CHECK(be32_at(b + 36) == 0);			// reserved
	CHECK(be32_at(b + 32) == 7);			// minor
	CHECK(std::string(reinterpret_cast<const char *>(b + 40)) == "p1.example");
}

TEST_CASE("hello round trip", "[hello]")
{
	Hello h = sample();
	h.features = 0x8000000000000001ull;
	h.device_uuid = 0xfeedfacecafebeefull;
	h.proto_min = 2;
	h.proto_max = 9;
	HelloPacket pkt = encode_hello(h);
	REQUIRE(check_hello_header(pkt.data()));
	auto back = decode_hello(pkt.data() + kHdrSize);
	REQUIRE(back);
	CHECK(*back == h);
}

TEST_CASE("hello node names are truncated and sanitised", "[hello]")
{
	Hello h = sample();
	h.node_name = std::string(100, 'x');
	auto back = decode_hello(encode_hello(h).data() + kHdrSize);
	REQUIRE(back);
	CHECK(back->node_name == std::string(DTRBD_NODE_NAME_LEN - 1, 'x'));

	h.node_name = "bad\x01name\x7f";
	back = decode_hello(encode_hello(h).data() + kHdrSize);
	REQUIRE(back);
	CHECK(back->node_name == "bad?name?");
}

TEST_CASE("hello header validation", "[hello]")
{
	HelloPacket pkt = encode_hello(sample());
	CHECK(header_error(pkt).empty());

	HelloPacket bad = pkt;
	put_be32(bad.data(), 0x48545450);	// "HTTP"
	CHECK(header_error(bad) == "the peer is not speaking the dtrbd protocol (magic 0x48545450 "
				   "instead of 0x64745242)");
	bad = pkt;
	bad[5] = P_STATE;
	CHECK(header_error(bad) == "the peer sent packet type 2 instead of its hello (1)");
	bad = pkt;
	bad[7] = 1;
	CHECK(header_error(bad) == "the peer's hello header has a nonzero reserved field");
	for (uint32_t len : {0u, 103u, 105u, 1u << 20}) {
		bad = pkt;
		put_be32(bad.data() + 8, len);
		CHECK(header_error(bad) == "the peer's hello is " + std::to_string(len) +
					       " bytes long, expected 104");
	}
}

TEST_CASE("hello body validation", "[hello]")
{
	HelloPacket pkt = encode_hello(sample());
	HelloPacket bad = pkt;
	static_assert(DTRBD_PROTO_MAX == 2);
	put_be32(bad.data() + kHdrSize, 3);		// min 3 > max 2
	CHECK(body_error(bad) == "the peer's hello is malformed: protocol versions 3-2");
	bad = pkt;
	put_be32(bad.data() + kHdrSize, 0);		// version 0 does not exist
	CHECK(body_error(bad) == "the peer's hello is malformed: protocol versions 0-2");
	bad = pkt;
	put_be32(bad.data() + kHdrSize + 36, 1);
	CHECK(body_error(bad) == "the peer's hello has a nonzero reserved field");
	bad = pkt;
	std::memset(bad.data() + kHdrSize + 40, 'a', DTRBD_NODE_NAME_LEN);
	CHECK(body_error(bad) == "the peer's node name is not NUL-terminated");
}

TEST_CASE("negotiation", "[hello]")
{
	Hello ours = sample(), peer = sample();
	ours.proto_min = 1, ours.proto_max = 3, ours.features = 0b1011;
	peer.proto_min = 2, peer.proto_max = 5, peer.features = 0b0110;
	auto a = negotiate(ours, peer);
	REQUIRE(a);
	CHECK(a->version == 3);
	CHECK(a->features == 0b0010);
	auto b = negotiate(peer, ours);
	REQUIRE(b);
	CHECK(b->version == a->version);
	CHECK(b->features == a->features);

	ours.proto_min = ours.proto_max = 1;
	peer.proto_min = 3, peer.proto_max = 4;
	auto c = negotiate(ours, peer);
	REQUIRE_FALSE(c);
	CHECK(c.status().message() == "peer speaks protocol versions 3-4, we speak 1-1");

	ours = peer = sample();
	peer.size_bytes = ours.size_bytes + 4096;
	auto d = negotiate(ours, peer);
	REQUIRE_FALSE(d);
	CHECK(d.status().message() == "peer's device is 268394496 bytes, ours is 268390400: "
				      "both backing devices must give the same data size");
}
