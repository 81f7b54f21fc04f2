// SPDX-License-Identifier: GPL-2.0
#include "meta/superblock.h"

#include <endian.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "common/log.h"
#include "meta/crc32c.h"

namespace dtrbd {

static_assert(sizeof(struct dtrbd_md_super) == 256);
static_assert(sizeof(struct dtrbd_md_super) <= DTRBD_MD_SB_SIZE);

namespace {

constexpr size_t kCrcOffset = offsetof(struct dtrbd_md_super, crc);

uint32_t super_crc(const void *p)
{
	return crc32c_raw(0xFFFFFFFFu, p, kCrcOffset);
}

} // namespace

std::optional<MdLayout> md_layout(uint64_t dev_size)
{
	MdLayout l;
	if (dtrbd_md_layout(dev_size, &l) != 0)
		return std::nullopt;
	return l;
}

uint64_t md_min_device_size()
{
	// The bitmap grows with the device, so search upwards from the fixed
	// part; a handful of 4 KiB steps at most.
	uint64_t size = DTRBD_MD_MIN_DATA + DTRBD_MD_SB_SIZE + DTRBD_MD_AL_SIZE;
	while (!md_layout(size))
		size += DTRBD_MD_BLOCK;
	return size;
}

std::optional<MdLayout> md_layout_external(uint64_t data_dev_size,
					   uint64_t meta_dev_size)
{
	MdLayout l;
	if (dtrbd_md_layout_external(data_dev_size, meta_dev_size, &l) != 0)
		return std::nullopt;
	return l;
}

uint64_t md_min_meta_size(uint64_t data_dev_size)
{
	MdLayout l;
	// With an unbounded metadata device only the data size can fail.
	if (dtrbd_md_layout_external(data_dev_size, UINT64_MAX, &l) != 0)
		return DTRBD_MD_SB_SIZE + DTRBD_MD_AL_SIZE + DTRBD_MD_BLOCK;
	return l.bm_offset + l.bm_size;
}

MdSuper new_super(uint64_t dev_size, const MdLayout &l, uint64_t device_uuid,
		  bool external)
{
	MdSuper sb;
	if (external)
		sb.flags |= DTRBD_MDF_EXTERNAL;
	sb.dev_size = dev_size;
	sb.data_size = l.data_size;
	sb.bm_offset = l.bm_offset;
	sb.bm_size = l.bm_size;
	sb.al_offset = l.al_offset;
	sb.device_uuid = device_uuid;
	return sb;
}

SuperBlock encode_super(const MdSuper &s)
{
	struct dtrbd_md_super d;
	memset(&d, 0, sizeof(d));
	d.magic = htole64(DTRBD_MD_MAGIC);
	d.version = htole32(s.version);
	d.sb_size = htole32(s.sb_size);
	d.dev_size = htole64(s.dev_size);
	d.data_size = htole64(s.data_size);
	d.bm_offset = htole64(s.bm_offset);
	d.bm_size = htole64(s.bm_size);
	d.al_offset = htole64(s.al_offset);
	d.al_size = htole32(s.al_size);
	d.al_extent_size = htole32(s.al_extent_size);
	d.bm_block_size = htole32(s.bm_block_size);
	d.flags = htole32(s.flags);
	d.current_uuid = htole64(s.current_uuid);
	d.bitmap_uuid = htole64(s.bitmap_uuid);
	d.history_uuid[0] = htole64(s.history_uuid[0]);
	d.history_uuid[1] = htole64(s.history_uuid[1]);
	d.device_uuid = htole64(s.device_uuid);
	d.crc = htole32(super_crc(&d));

	SuperBlock out{};
	memcpy(out.data(), &d, sizeof(d));
	return out;
}

Result<MdSuper> decode_super(const uint8_t *p, size_t len)
{
	struct dtrbd_md_super d;
	if (len < sizeof(d))
		return Status::error("the superblock is truncated", ENODATA);
	memcpy(&d, p, sizeof(d));
	if (le64toh(d.magic) != DTRBD_MD_MAGIC)
		return Status::error("no dtrbd magic", ENODATA);
	uint32_t crc = super_crc(&d);
	if (le32toh(d.crc) != crc)
		return Status::error(str("checksum mismatch (stored 0x", std::hex,
					 le32toh(d.crc), ", computed 0x", crc,
					 ")"), EBADMSG);
	MdSuper s;
	s.version = le32toh(d.version);
	if (s.version != DTRBD_MD_VERSION)
		return Status::error(str("metadata version ", s.version,
					 ", but this dtrbdctl supports only version ",
					 DTRBD_MD_VERSION), ENOTSUP);
	s.sb_size = le32toh(d.sb_size);
	s.dev_size = le64toh(d.dev_size);
	s.data_size = le64toh(d.data_size);
	s.bm_offset = le64toh(d.bm_offset);
	s.bm_size = le64toh(d.bm_size);
	s.al_offset = le64toh(d.al_offset);
	s.al_size = le32toh(d.al_size);
	s.al_extent_size = le32toh(d.al_extent_size);
	s.bm_block_size = le32toh(d.bm_block_size);
	s.flags = le32toh(d.flags);
	s.current_uuid = le64toh(d.current_uuid);
	s.bitmap_uuid = le64toh(d.bitmap_uuid);
	s.history_uuid[0] = le64toh(d.history_uuid[0]);
	s.history_uuid[1] = le64toh(d.history_uuid[1]);
	s.device_uuid = le64toh(d.device_uuid);

	// A correct checksum over nonsense is still nonsense.
	bool sane = s.sb_size == DTRBD_MD_SB_SIZE &&
		    s.bm_block_size == DTRBD_MD_BLOCK &&
		    s.data_size % DTRBD_MD_BLOCK == 0 &&
		    !(s.flags & ~DTRBD_MDF_ALL);
	if (!s.external())
		// [ data | bitmap | activity log | superblock ]
		sane = sane && s.data_size <= s.bm_offset &&
		       s.bm_offset <= s.al_offset &&
		       s.bm_size <= s.al_offset - s.bm_offset &&
		       s.al_offset <= s.dev_size &&
		       s.al_size <= s.dev_size - s.al_offset;
	else
		// [ superblock | activity log | bitmap ] on its own device;
		// the bitmap covers every block of the data device.
		sane = sane && s.data_size <= s.dev_size &&
		       s.al_offset >= s.sb_size &&
		       s.al_offset <= s.bm_offset &&
		       s.al_size <= s.bm_offset - s.al_offset &&
		       s.bm_size >= (s.data_size / DTRBD_MD_BLOCK + 7) / 8;
	if (!sane)
		return Status::error("the superblock's fields are inconsistent",
				     EBADMSG);
	return s;
}

} // namespace dtrbd
