// SPDX-License-Identifier: GPL-2.0
// The shared kernel headers compile in userspace C++ and have the frozen
// sizes and offsets the wire format and metadata promise.
#include <catch2/catch.hpp>

#include <cstddef>
#include <cstring>
#include <linux/dtrbd.h>

#include "dtrbd_protocol.h"

static_assert(sizeof(struct dtrbd_hdr) == 16);
static_assert(sizeof(struct dtrbd_p_hello) == 104);
static_assert(sizeof(struct dtrbd_p_state) == 56);
static_assert(sizeof(struct dtrbd_p_bitmap) == 16);
static_assert(sizeof(struct dtrbd_p_barrier) == 8);
static_assert(sizeof(struct dtrbd_p_csum) == 24);
static_assert(sizeof(struct dtrbd_p_uuid_sync) == 8);
static_assert(sizeof(struct dtrbd_al_block) == 4096);
static_assert(DTRBD_AL_SLOTS * 4096 == DTRBD_MD_AL_SIZE);
static_assert(sizeof(struct dtrbd_p_data) == 24);
static_assert(sizeof(struct dtrbd_p_ack) == 24);
static_assert(sizeof(struct dtrbd_md_super) == 256);
static_assert(offsetof(struct dtrbd_md_super, crc) == 252);
static_assert(offsetof(struct dtrbd_p_hello, node_name) == 40);
static_assert(DTRBD_PROTO_MIN <= DTRBD_PROTO_MAX);
static_assert(DTRBD_PING_MS_MIN <= DTRBD_PING_MS_DEFAULT &&
	      DTRBD_PING_MS_DEFAULT <= DTRBD_PING_MS_MAX);
static_assert(DTRBD_TIMEOUT_MS_MIN <= DTRBD_TIMEOUT_MS_DEFAULT &&
	      DTRBD_TIMEOUT_MS_DEFAULT <= DTRBD_TIMEOUT_MS_MAX);

TEST_CASE("magic numbers spell what the headers say", "[headers]")
{
	// "DTRBDM1\0" little-endian on disk, "dtRB" big-endian on the wire.
	uint64_t md = DTRBD_MD_MAGIC;
	char md_bytes[8];
	for (int i = 0; i < 8; i++)
		md_bytes[i] = static_cast<char>(md >> (8 * i));
	CHECK(std::memcmp(md_bytes, "DTRBDM1\0", 8) == 0);
	uint32_t w = DTRBD_WIRE_MAGIC;
	char w_bytes[4] = {char(w >> 24), char(w >> 16), char(w >> 8), char(w)};
	CHECK(std::memcmp(w_bytes, "dtRB", 4) == 0);
	CHECK(DTRBD_A_MAX > DTRBD_A_IN_FLIGHT - 1);
	CHECK(std::string(DTRBD_GENL_NAME) == "dtrbd");
}
