// SPDX-License-Identifier: GPL-2.0
// The on-disk metadata superblock (struct dtrbd_md_super in
// kmod/dtrbd_protocol.h): layout, encoding and strict decoding. Pure: byte
// buffers in, values out.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "common/status.h"
#include "dtrbd_protocol.h"

namespace dtrbd {

using MdLayout = struct dtrbd_md_layout;

// dtrbd_md_layout() for a backing device of @dev_size bytes, or nullopt
// when it is too small.
std::optional<MdLayout> md_layout(uint64_t dev_size);
// The smallest backing device size md_layout() accepts.
uint64_t md_min_device_size();
// dtrbd_md_layout_external(): data device of @data_dev_size bytes, metadata
// device of @meta_dev_size bytes; nullopt when either is too small.
std::optional<MdLayout> md_layout_external(uint64_t data_dev_size,
					   uint64_t meta_dev_size);
// The smallest metadata device for a data device of @data_dev_size bytes.
uint64_t md_min_meta_size(uint64_t data_dev_size);

// Host-order view of the superblock (magic and crc are implied).
struct MdSuper {
	uint32_t version = DTRBD_MD_VERSION;
	uint32_t sb_size = DTRBD_MD_SB_SIZE;
	uint64_t dev_size = 0, data_size = 0;
	uint64_t bm_offset = 0, bm_size = 0, al_offset = 0;
	uint32_t al_size = DTRBD_MD_AL_SIZE;
	uint32_t al_extent_size = DTRBD_MD_AL_EXTENT;
	uint32_t bm_block_size = DTRBD_MD_BLOCK;
	uint32_t flags = 0;	// 0: Inconsistent
	uint64_t current_uuid = 0, bitmap_uuid = 0;
	uint64_t history_uuid[2] = {0, 0};
	uint64_t device_uuid = 0;

	bool operator==(const MdSuper &) const = default;
	bool external() const { return flags & DTRBD_MDF_EXTERNAL; }
};

// A fresh superblock for a (data) device of @dev_size bytes laid out as @l;
// @external sets DTRBD_MDF_EXTERNAL (the layout is then on its own device).
MdSuper new_super(uint64_t dev_size, const MdLayout &l, uint64_t device_uuid,
		  bool external = false);

using SuperBlock = std::array<uint8_t, DTRBD_MD_SB_SIZE>;

// The whole 4 KiB superblock area: struct dtrbd_md_super little-endian
// with its crc32c, then zeros.
SuperBlock encode_super(const MdSuper &sb);

// Decode and check a superblock area of @len bytes. Failures carry
// errnum ENODATA (no dtrbd magic: no metadata at all), EBADMSG (damaged:
// checksum or fields inconsistent) or ENOTSUP (another metadata version),
// and a phrase saying what is wrong. The field checks follow the layout the
// flags name: internal (metadata after the data) or DTRBD_MDF_EXTERNAL
// (superblock, activity log, bitmap from byte 0 of the metadata device).
Result<MdSuper> decode_super(const uint8_t *p, size_t len);

} // namespace dtrbd
