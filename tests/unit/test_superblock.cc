// SPDX-License-Identifier: GPL-2.0
#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fcntl.h>
#include <unistd.h>
#include <vector>

#include "common/fd.h"
#include "common/log.h"
#include "meta/crc32c.h"
#include "meta/disk.h"
#include "meta/superblock.h"
#include "tmpdir.h"

using namespace dtrbd;

namespace {

constexpr uint64_t MiB = 1 << 20;

MdSuper sample()
{
	auto l = md_layout(256 * MiB);
	REQUIRE(l);
	MdSuper s = new_super(256 * MiB, *l, 0x0123456789abcdefull);
	s.current_uuid = 0x1111;
	s.bitmap_uuid = 0x2222;
	s.history_uuid[0] = 0x3333;
	s.history_uuid[1] = 0x4444;
	s.flags = DTRBD_MDF_CONSISTENT | DTRBD_MDF_WAS_UPTODATE;
	return s;
}

uint64_t le64_at(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

std::vector<uint8_t> read_range(const std::string &path, uint64_t off, size_t len)
{
	std::vector<uint8_t> buf(len);
	UniqueFd fd(::open(path.c_str(), O_RDONLY));
	REQUIRE(pread(fd.get(), buf.data(), len, static_cast<off_t>(off)) ==
		static_cast<ssize_t>(len));
	return buf;
}

} // namespace

TEST_CASE("layout of a 256 MiB device", "[meta]")
{
	auto l = md_layout(256 * MiB);
	REQUIRE(l);
	// 65536 blocks -> 8192 bitmap bytes, already a multiple of 4 KiB.
	CHECK(l->bm_size == 8192);
	CHECK(l->sb_offset == 256 * MiB - 4096);
	CHECK(l->al_offset == l->sb_offset - 32 * 1024);
	CHECK(l->bm_offset == l->al_offset - 8192);
	CHECK(l->data_size == l->bm_offset);
	CHECK(l->data_size == 256 * MiB - 4096 - 32 * 1024 - 8192);
	CHECK(l->data_size % 4096 == 0);
}

TEST_CASE("layout ignores a partial last block and covers every block", "[meta]")
{
	auto a = md_layout(256 * MiB), b = md_layout(256 * MiB + 4095);
	REQUIRE(a);
	REQUIRE(b);
	CHECK(a->sb_offset == b->sb_offset);
	CHECK(a->data_size == b->data_size);
	for (uint64_t size : {uint64_t{64 * MiB}, 1000 * MiB + 12288, uint64_t{3} << 40}) {
		auto l = md_layout(size);
		REQUIRE(l);
		CHECK(l->bm_size * 8 * 4096 >= l->data_size);
		CHECK(l->bm_size % 4096 == 0);
		CHECK(l->sb_offset + 4096 <= size);
	}
}

TEST_CASE("smallest usable device", "[meta]")
{
	uint64_t min = md_min_device_size();
	// 1 MiB of data + one bitmap block + activity log + superblock.
	CHECK(min == MiB + 4096 + 32 * 1024 + 4096);
	CHECK(md_layout(min));
	CHECK(md_layout(min)->data_size == MiB);
	CHECK_FALSE(md_layout(min - 4096));
	CHECK_FALSE(md_layout(0));
}

TEST_CASE("superblock encode/decode round trip", "[meta]")
{
	MdSuper s = sample();
	SuperBlock buf = encode_super(s);
	CHECK(std::memcmp(buf.data(), "DTRBDM1\0", 8) == 0);
	CHECK(le64_at(buf.data() + 24) == s.data_size);
	uint32_t crc = crc32c_raw(0xFFFFFFFFu, buf.data(), 252);
	CHECK((buf[252] | buf[253] << 8 | buf[254] << 16 | uint32_t(buf[255]) << 24) == crc);
	for (size_t i = 256; i < buf.size(); i++)
		REQUIRE(buf[i] == 0);
	auto d = decode_super(buf.data(), buf.size());
	REQUIRE(d);
	CHECK(*d == s);
}

TEST_CASE("superblock decode detects every corrupted byte", "[meta]")
{
	SuperBlock good = encode_super(sample());
	for (size_t i = 0; i < 256; i++) {
		SuperBlock bad = good;
		bad[i] ^= 0x01;
		auto d = decode_super(bad.data(), bad.size());
		INFO("byte " << i);
		REQUIRE_FALSE(d);
		CHECK((d.status().errnum() == (i < 8 ? ENODATA : EBADMSG)));
	}
	SuperBlock tail = good;
	tail[1000] = 0xAA;	// outside the checksummed structure
	CHECK(decode_super(tail.data(), tail.size()));
	CHECK(decode_super(good.data(), 255).status().errnum() == ENODATA);
	SuperBlock zero{};
	CHECK(decode_super(zero.data(), zero.size()).status().errnum() == ENODATA);
}

TEST_CASE("superblock decode rejects other versions and nonsense", "[meta]")
{
	static_assert(DTRBD_MD_VERSION == 2);
	for (uint32_t version : {1u, 3u}) {
		MdSuper other = sample();
		other.version = version;
		SuperBlock ob = encode_super(other);
		auto od = decode_super(ob.data(), ob.size());
		REQUIRE_FALSE(od);
		CHECK(od.status().errnum() == ENOTSUP);
		CHECK(od.status().message() ==
		      str("metadata version ", version,
			  ", but this dtrbdctl supports only version 2"));
	}
	SuperBlock b;
	Result<MdSuper> d = Status::error("unset");

	MdSuper nonsense = sample();
	nonsense.bm_offset = nonsense.dev_size + 1;
	b = encode_super(nonsense);
	d = decode_super(b.data(), b.size());
	REQUIRE_FALSE(d);
	CHECK(d.status().errnum() == EBADMSG);

	MdSuper flags = sample();
	flags.flags = 0x100;
	b = encode_super(flags);
	CHECK(decode_super(b.data(), b.size()).status().errnum() == EBADMSG);
}

TEST_CASE("create-md on a regular file", "[meta][disk]")
{
	test::TmpDir dir;
	std::string path = dir.file("disk", 256 * MiB);
	auto l = md_layout(256 * MiB);
	REQUIRE(l);
	{
		// Garbage where the bitmap and activity log go.
		UniqueFd fd(::open(path.c_str(), O_RDWR));
		std::vector<uint8_t> ff(l->sb_offset - l->bm_offset, 0xFF);
		REQUIRE(pwrite(fd.get(), ff.data(), ff.size(), static_cast<off_t>(l->bm_offset)) ==
			static_cast<ssize_t>(ff.size()));
	}
	auto none = read_metadata(path);
	REQUIRE_FALSE(none);
	CHECK(none.status().message() ==
	      path + " has no dtrbd metadata; create it with: dtrbdctl create-md --disk " + path);

	auto md = create_metadata(path, false);
	REQUIRE(md);
	CHECK(md->super.data_size == l->data_size);
	CHECK(md->super.flags == 0);
	CHECK(md->super.current_uuid == 0);
	CHECK(md->super.device_uuid != 0);
	CHECK(md->super.al_size == DTRBD_MD_AL_SIZE);
	CHECK(md->super.al_extent_size == DTRBD_MD_AL_EXTENT);
	auto zeros = read_range(path, l->bm_offset, l->sb_offset - l->bm_offset);
	CHECK(std::all_of(zeros.begin(), zeros.end(), [](uint8_t b) { return b == 0; }));
	auto back = read_metadata(path);
	REQUIRE(back);
	CHECK(*back == md->super);

	auto again = create_metadata(path, false);
	REQUIRE_FALSE(again);
	CHECK(again.status().message().starts_with(path + " already has dtrbd metadata (created "));
	CHECK(again.status().message().ends_with("; use --force to overwrite it"));

	auto forced = create_metadata(path, true);
	REQUIRE(forced);
	CHECK(forced->super.device_uuid != md->super.device_uuid);
}

TEST_CASE("create-md refuses small, missing and odd targets", "[meta][disk]")
{
	test::TmpDir dir;
	std::string small = dir.file("small", 1 * MiB);
	auto r = create_metadata(small, false);
	REQUIRE_FALSE(r);
	CHECK(r.status().message() == small + " is too small: 1048576 bytes, dtrbd needs at least " +
					      std::to_string(md_min_device_size()));

	r = create_metadata(dir.path() + "/missing", false);
	REQUIRE_FALSE(r);
	CHECK(r.status().message() == dir.path() + "/missing does not exist");

	r = create_metadata(dir.path(), false);
	REQUIRE_FALSE(r);
	CHECK(r.status().message() == dir.path() + " is not a block device or a regular file");
}

TEST_CASE("damaged metadata is named as such", "[meta][disk]")
{
	test::TmpDir dir;
	std::string path = dir.file("disk", 16 * MiB);
	auto md = create_metadata(path, false);
	REQUIRE(md);
	{
		UniqueFd fd(::open(path.c_str(), O_RDWR));
		uint8_t junk = 0x5A;
		REQUIRE(pwrite(fd.get(), &junk, 1, static_cast<off_t>(16 * MiB - 4096 + 100)) == 1);
	}
	auto r = read_metadata(path);
	REQUIRE_FALSE(r);
	CHECK(r.status().message().starts_with(path + " has damaged dtrbd metadata (checksum mismatch"));
	// create-md overwrites damaged metadata without --force.
	CHECK(create_metadata(path, false));
}

// ---- external metadata ------------------------------------------------------

namespace {

std::vector<uint8_t> read_all(const std::string &path)
{
	std::vector<uint8_t> buf(std::filesystem::file_size(path));
	UniqueFd fd(::open(path.c_str(), O_RDONLY));
	REQUIRE(pread(fd.get(), buf.data(), buf.size(), 0) == static_cast<ssize_t>(buf.size()));
	return buf;
}

void fill(const std::string &path, uint64_t off, size_t len, uint8_t byte)
{
	std::vector<uint8_t> b(len, byte);
	UniqueFd fd(::open(path.c_str(), O_RDWR));
	REQUIRE(pwrite(fd.get(), b.data(), len, static_cast<off_t>(off)) ==
		static_cast<ssize_t>(len));
}

} // namespace

TEST_CASE("external layout: superblock, activity log, bitmap from byte 0", "[meta]")
{
	auto l = md_layout_external(256 * MiB + 100, 1 * MiB);
	REQUIRE(l);
	CHECK(l->data_size == 256 * MiB);		// rounded down to 4 KiB
	CHECK(l->sb_offset == 0);
	CHECK(l->al_offset == 4096);
	CHECK(l->bm_offset == 4096 + 32 * 1024);
	CHECK(l->bm_size == 8192);
	CHECK(md_min_meta_size(256 * MiB) == 4096 + 32 * 1024 + 8192);
	CHECK(md_layout_external(256 * MiB, md_min_meta_size(256 * MiB)));
	CHECK_FALSE(md_layout_external(256 * MiB, md_min_meta_size(256 * MiB) - 1));
	CHECK_FALSE(md_layout_external(MiB - 4096, 1 * MiB));	// too little data
	// 1 TiB of data: 32 MiB of bitmap.
	CHECK(md_min_meta_size(uint64_t{1} << 40) == 4096 + 32 * 1024 + 32 * MiB);
}

TEST_CASE("external superblock round trip and its own sanity checks", "[meta]")
{
	auto l = md_layout_external(256 * MiB, 1 * MiB);
	REQUIRE(l);
	MdSuper s = new_super(256 * MiB, *l, 42, true);
	CHECK(s.external());
	CHECK(s.flags == DTRBD_MDF_EXTERNAL);
	SuperBlock b = encode_super(s);
	auto d = decode_super(b.data(), b.size());
	REQUIRE(d);
	CHECK(*d == s);

	MdSuper small_bitmap = s;
	small_bitmap.bm_size = 4096;			// covers only 128 MiB
	b = encode_super(small_bitmap);
	CHECK(decode_super(b.data(), b.size()).status().errnum() == EBADMSG);
	MdSuper overlap = s;
	overlap.al_offset = 0;				// over the superblock
	b = encode_super(overlap);
	CHECK(decode_super(b.data(), b.size()).status().errnum() == EBADMSG);
	MdSuper not_external = s;			// internal checks apply
	not_external.flags = 0;
	b = encode_super(not_external);
	CHECK(decode_super(b.data(), b.size()).status().errnum() == EBADMSG);
}

TEST_CASE("create-md --meta: external metadata round trip on files", "[meta][disk]")
{
	test::TmpDir dir;
	std::string disk = dir.file("disk", 16 * MiB + 1000);
	std::string meta = dir.file("meta", 1 * MiB);
	fill(disk, 0, 4096, 0xAB);
	fill(disk, 16 * MiB - 64 * 1024, 64 * 1024, 0xCD);	// where internal md goes
	fill(meta, 0, 1 * MiB, 0xFF);
	auto before = read_all(disk);

	auto none = read_metadata(disk, meta);
	REQUIRE_FALSE(none);
	CHECK(none.status().message() == meta + " has no dtrbd metadata; create it with: "
					 "dtrbdctl create-md --disk " + disk + " --meta " + meta);

	auto md = create_metadata(disk, false, meta);
	REQUIRE(md);
	CHECK(read_all(disk) == before);		// the data device is untouched
	CHECK(md->super.external());
	CHECK(md->super.flags == DTRBD_MDF_EXTERNAL);
	CHECK(md->super.version == DTRBD_MD_VERSION);
	CHECK(md->super.dev_size == 16 * MiB + 1000);
	CHECK(md->super.data_size == 16 * MiB);
	CHECK(md->super.al_offset == 4096);
	CHECK(md->super.bm_offset == 4096 + 32 * 1024);
	CHECK(md->super.bm_size == 4096);
	CHECK(md->layout.sb_offset == 0);

	auto m = read_all(meta);
	auto sb = decode_super(m.data(), 4096);
	REQUIRE(sb);
	CHECK(*sb == md->super);
	// activity log and bitmap zeroed, the rest of the meta device untouched
	uint64_t end = md->super.bm_offset + md->super.bm_size;
	CHECK(std::all_of(m.begin() + 4096, m.begin() + static_cast<long>(end),
			  [](uint8_t b) { return b == 0; }));
	CHECK(std::all_of(m.begin() + static_cast<long>(end), m.end(),
			  [](uint8_t b) { return b == 0xFF; }));

	auto back = read_metadata(disk, meta);
	REQUIRE(back);
	CHECK(*back == md->super);
	// ...and it is not internal metadata of the data device
	CHECK(read_metadata(disk).status().errnum() == ENODATA);

	auto again = create_metadata(disk, false, meta);
	REQUIRE_FALSE(again);
	CHECK(again.status().message().starts_with(meta + " already has dtrbd metadata (created for a "
						   "16778216-byte device, device uuid "));
	auto forced = create_metadata(disk, true, meta);
	REQUIRE(forced);
	CHECK(forced->super.device_uuid != md->super.device_uuid);
	CHECK(read_all(disk) == before);
}

TEST_CASE("external metadata refusals", "[meta][disk]")
{
	test::TmpDir dir;
	std::string disk = dir.file("disk", 256 * MiB);
	std::string tiny = dir.file("tiny", 40 * 1024);
	auto r = create_metadata(disk, false, tiny);
	REQUIRE_FALSE(r);
	CHECK(r.status().message() == tiny + " is too small for the metadata of " + disk +
					      ": 40960 bytes, it needs at least 45056");

	std::string small_disk = dir.file("small", 512 * 1024);
	std::string meta = dir.file("meta", 1 * MiB);
	r = create_metadata(small_disk, false, meta);
	REQUIRE_FALSE(r);
	CHECK(r.status().message() == small_disk +
					      " is too small: 524288 bytes, dtrbd needs at least 1048576");

	std::filesystem::create_symlink(disk, dir.path() + "/alias");
	r = create_metadata(disk, false, dir.path() + "/alias");
	REQUIRE_FALSE(r);
	CHECK(r.status().message() == "--meta " + dir.path() + "/alias is the same device as --disk " +
					      disk + "; external metadata needs a device of its own");

	// Metadata made for another size of data device.
	REQUIRE(create_metadata(disk, false, meta));
	std::filesystem::resize_file(disk, 300 * MiB);
	auto rd = read_metadata(disk, meta);
	REQUIRE_FALSE(rd);
	CHECK(rd.status().message() == meta + " holds dtrbd metadata for 268435456 bytes of data, but " +
					       disk + " has 314572800 bytes; recreate it with: dtrbdctl "
					       "create-md --force --disk " + disk + " --meta " + meta);

	// Internal metadata read through --meta is not external metadata.
	std::string other = dir.file("other", 16 * MiB);
	REQUIRE(create_metadata(other, false));
	auto internal_sb = read_range(other, 16 * MiB - 4096, 4096);
	fill(meta, 0, 4096, 0);
	{
		UniqueFd fd(::open(meta.c_str(), O_RDWR));
		REQUIRE(pwrite(fd.get(), internal_sb.data(), 4096, 0) == 4096);
	}
	rd = read_metadata(disk, meta);
	REQUIRE_FALSE(rd);
	CHECK(rd.status().message().starts_with(meta + " has damaged dtrbd metadata (the superblock "
							"at its start is not marked external)"));
}

TEST_CASE("create-md keeps metadata of another version without --force", "[meta][disk]")
{
	test::TmpDir dir;
	std::string path = dir.file("disk", 16 * MiB);
	auto l = md_layout(16 * MiB);
	REQUIRE(l);
	MdSuper future = new_super(16 * MiB, *l, 7);
	future.version = DTRBD_MD_VERSION + 1;
	SuperBlock b = encode_super(future);
	{
		UniqueFd fd(::open(path.c_str(), O_RDWR));
		REQUIRE(pwrite(fd.get(), b.data(), b.size(), static_cast<off_t>(l->sb_offset)) == 4096);
	}
	auto rd = read_metadata(path);
	REQUIRE_FALSE(rd);
	CHECK(rd.status().message() == path + " has dtrbd metadata version 3, but this dtrbdctl "
					       "supports only version 2");
	auto r = create_metadata(path, false);
	REQUIRE_FALSE(r);
	CHECK(r.status().message() == path + " has dtrbd metadata version 3, but this dtrbdctl "
					      "supports only version 2; use --force to overwrite it");
	CHECK(create_metadata(path, true));
}
