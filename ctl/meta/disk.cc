// SPDX-License-Identifier: GPL-2.0
#include "meta/disk.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "common/log.h"

namespace dtrbd {

namespace {

Status io_error(const char *what, const std::string &path, int err)
{
	return Status::error(str("could not ", what, " ", path, ": ",
				 errno_text(err)), err);
}

Status pread_all(int fd, void *buf, size_t len, uint64_t off,
		 const std::string &path)
{
	auto *p = static_cast<char *>(buf);
	while (len) {
		ssize_t n = pread(fd, p, len, static_cast<off_t>(off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return io_error("read", path, n < 0 ? errno : EIO);
		p += n, len -= n, off += n;
	}
	return {};
}

Status pwrite_all(int fd, const void *buf, size_t len, uint64_t off,
		  const std::string &path)
{
	const auto *p = static_cast<const char *>(buf);
	while (len) {
		ssize_t n = pwrite(fd, p, len, static_cast<off_t>(off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return io_error("write", path, n < 0 ? errno : EIO);
		p += n, len -= n, off += n;
	}
	return {};
}

// The superblock at @offset of an open device, decoded.
Result<MdSuper> read_super_at(const Backing &b, uint64_t offset,
			      const std::string &path)
{
	SuperBlock buf;
	if (b.size < offset + buf.size())
		return Status::error("too small", ENODATA);
	Status st = pread_all(b.fd.get(), buf.data(), buf.size(), offset, path);
	if (!st)
		return st;
	return decode_super(buf.data(), buf.size());
}

Status zero_range(const Backing &b, uint64_t from, uint64_t to,
		  const std::string &path)
{
	std::vector<char> zeros(1 << 20, 0);
	for (uint64_t off = from; off < to;) {
		size_t n = static_cast<size_t>(
			std::min<uint64_t>(zeros.size(), to - off));
		Status st = pwrite_all(b.fd.get(), zeros.data(), n, off, path);
		if (!st)
			return st;
		off += n;
	}
	return {};
}

// Two paths naming one device (or file) would put metadata over data.
bool same_device(const Backing &a, const Backing &b)
{
	struct stat sa, sb;
	if (fstat(a.fd.get(), &sa) != 0 || fstat(b.fd.get(), &sb) != 0)
		return false;
	if (S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode))
		return sa.st_rdev == sb.st_rdev;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

Status not_distinct(const std::string &disk, const std::string &meta)
{
	return Status::error(str("--meta ", meta, " is the same device as --disk ",
				 disk, "; external metadata needs a device of its own"),
			     EINVAL);
}

// "dtrbdctl create-md --disk D [--meta M]", for advice in errors.
std::string create_cmd(const std::string &disk,
		       const std::optional<std::string> &meta, bool force)
{
	return str("dtrbdctl create-md", force ? " --force" : "", " --disk ", disk,
		   meta ? " --meta " + *meta : "");
}

// The one sentence for a superblock that did not decode at @where.
Status explain(const Status &st, const std::string &where, const std::string &disk,
	       const std::optional<std::string> &meta)
{
	switch (st.errnum()) {
	case ENODATA:
		return Status::error(str(where, " has no dtrbd metadata; create it with: ",
					 create_cmd(disk, meta, false)), ENODATA);
	case EBADMSG:
		return Status::error(str(where, " has damaged dtrbd metadata (", st.message(),
					 "); recreate it with: ", create_cmd(disk, meta, true)),
				     EBADMSG);
	case ENOTSUP:
		return Status::error(str(where, " has dtrbd ", st.message()), ENOTSUP);
	default:
		return st;
	}
}

uint64_t random_uuid()
{
	uint64_t v = 0;
	while (v == 0)
		if (getrandom(&v, sizeof(v), 0) != sizeof(v))
			v = 0;
	return v;
}

Status too_small(const std::string &path, uint64_t size, uint64_t need)
{
	return Status::error(str(path, " is too small: ", size,
				 " bytes, dtrbd needs at least ", need));
}

Result<MdSuper> read_internal(const std::string &disk)
{
	auto b = open_backing(disk, Access::kRead);
	if (!b)
		return b.status();
	auto l = md_layout(b->size);
	auto sb = l ? read_super_at(*b, l->sb_offset, disk)
		    : Result<MdSuper>(Status::error("too small", ENODATA));
	if (sb && sb->external())
		sb = Status::error("the superblock at its end says it is external",
				   EBADMSG);
	return sb ? sb : explain(sb.status(), disk, disk, std::nullopt);
}

Result<MdSuper> read_external(const std::string &disk, const std::string &meta)
{
	auto d = open_backing(disk, Access::kRead);
	if (!d)
		return d.status();
	auto m = open_backing(meta, Access::kRead);
	if (!m)
		return m.status();
	if (same_device(*d, *m))
		return not_distinct(disk, meta);
	auto sb = read_super_at(*m, 0, meta);
	if (sb && !sb->external())
		sb = Status::error("the superblock at its start is not marked external",
				   EBADMSG);
	if (!sb)
		return explain(sb.status(), meta, disk, meta);
	auto l = md_layout_external(d->size, m->size);
	if (!l || sb->data_size != l->data_size || sb->bm_offset != l->bm_offset ||
	    sb->bm_size != l->bm_size || sb->al_offset != l->al_offset)
		return Status::error(str(meta, " holds dtrbd metadata for ", sb->data_size,
					 " bytes of data, but ", disk, " has ", d->size,
					 " bytes; recreate it with: ",
					 create_cmd(disk, meta, true)), ERANGE);
	return sb;
}

} // namespace

Result<Backing> open_backing(const std::string &path, Access access)
{
	struct stat st;
	if (stat(path.c_str(), &st) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return Status::error(str(path, " does not exist"), errno);
		return io_error("examine", path, errno);
	}
	Backing b;
	b.is_block = S_ISBLK(st.st_mode);
	if (!b.is_block && !S_ISREG(st.st_mode))
		return Status::error(str(path, " is not a block device or a regular file"),
				     EINVAL);
	int flags = (access == Access::kWrite ? O_RDWR : O_RDONLY) | O_CLOEXEC;
	// O_EXCL without O_CREAT is defined for block devices only.
	if (access != Access::kRead && b.is_block)
		flags |= O_EXCL;
	b.fd.reset(::open(path.c_str(), flags));
	if (!b.fd.valid()) {
		if (errno == EBUSY)
			return Status::error(str(path, " is in use (mounted, or held by dtrbd or another program)"),
					     EBUSY);
		return io_error("open", path, errno);
	}
	if (b.is_block) {
		if (ioctl(b.fd.get(), BLKGETSIZE64, &b.size) != 0)
			return io_error("get the size of", path, errno);
	} else {
		b.size = static_cast<uint64_t>(st.st_size);
	}
	return b;
}

Result<MdSuper> read_metadata(const std::string &disk,
			      const std::optional<std::string> &meta)
{
	return meta ? read_external(disk, *meta) : read_internal(disk);
}

Result<CreatedMd> create_metadata(const std::string &disk, bool force,
				  const std::optional<std::string> &meta,
				  std::optional<uint64_t> identical_uuid)
{
	if (identical_uuid && *identical_uuid == 0)
		return Status::error("a shared current uuid must not be 0", EINVAL);
	// Internal: everything on @disk. External: @disk only sized, and held
	// exclusively meanwhile so that a device in use is refused.
	auto d = open_backing(disk, meta ? Access::kReadExclusive : Access::kWrite);
	if (!d)
		return d.status();
	std::optional<Backing> m;
	if (meta) {
		auto r = open_backing(*meta, Access::kWrite);
		if (!r)
			return r.status();
		m = std::move(*r);
		if (same_device(*d, *m))
			return not_distinct(disk, *meta);
	}
	const Backing &target = m ? *m : *d;
	const std::string &path = meta ? *meta : disk;

	std::optional<MdLayout> l;
	if (!meta) {
		l = md_layout(d->size);
		if (!l)
			return too_small(disk, d->size, md_min_device_size());
	} else {
		l = md_layout_external(d->size, m->size);
		if (!l && d->size < DTRBD_MD_MIN_DATA)
			return too_small(disk, d->size, DTRBD_MD_MIN_DATA);
		if (!l)
			return Status::error(str(*meta, " is too small for the metadata of ", disk,
						 ": ", m->size, " bytes, it needs at least ",
						 md_min_meta_size(d->size)));
	}

	auto old = read_super_at(target, l->sb_offset, path);
	if (old && !force)
		return Status::error(str(path, " already has dtrbd metadata (created for a ",
					 old->dev_size, "-byte device, device uuid ",
					 std::hex, old->device_uuid,
					 "); use --force to overwrite it"), EEXIST);
	if (!old && old.status().errnum() == ENOTSUP && !force)
		return Status::error(str(path, " has dtrbd ", old.status().message(),
					 "; use --force to overwrite it"), EEXIST);

	// Bitmap and activity log first, the superblock last: an interrupted
	// create-md leaves no valid superblock behind.
	Status st = meta ? zero_range(target, l->al_offset, l->bm_offset + l->bm_size, path)
			 : zero_range(target, l->bm_offset, l->sb_offset, path);
	if (!st)
		return st;
	if (fsync(target.fd.get()) != 0)
		return io_error("flush", path, errno);

	CreatedMd out{*l, new_super(d->size, *l, random_uuid(), meta.has_value())};
	if (identical_uuid) {
		out.super.flags |= DTRBD_MDF_CONSISTENT | DTRBD_MDF_WAS_UPTODATE;
		out.super.current_uuid = *identical_uuid;
	}
	SuperBlock buf = encode_super(out.super);
	st = pwrite_all(target.fd.get(), buf.data(), buf.size(), l->sb_offset, path);
	if (!st)
		return st;
	if (fsync(target.fd.get()) != 0)
		return io_error("flush", path, errno);
	log::debug("metadata on ", path, ": superblock at ", l->sb_offset,
		   ", activity log at ", l->al_offset, ", bitmap at ", l->bm_offset,
		   " (", l->bm_size, " bytes)");
	return out;
}

Status zero_device(const std::string &path, uint64_t bytes,
		   const std::function<void(uint64_t)> &progress)
{
	auto b = open_backing(path, Access::kWrite);
	if (!b)
		return b.status();
	if (bytes > b->size)
		return Status::error(str("cannot zero ", bytes, " bytes of ", path, ": it has only ",
					 b->size), EINVAL);
	constexpr uint64_t kChunk = 64ull << 20;
	std::vector<uint8_t> zeros;
	for (uint64_t done = 0; done < bytes;) {
		uint64_t n = std::min(kChunk, bytes - done);
		int rc = -1;
		if (b->is_block) {
			uint64_t range[2] = {done, n};
			rc = ioctl(b->fd.get(), BLKZEROOUT, range);
		} else {
			rc = fallocate(b->fd.get(), FALLOC_FL_ZERO_RANGE, static_cast<off_t>(done),
				       static_cast<off_t>(n));
			if (rc != 0 && (errno == EOPNOTSUPP || errno == ENOSYS)) {
				zeros.assign(n, 0);
				Status st = pwrite_all(b->fd.get(), zeros.data(), n, done, path);
				if (!st)
					return st;
				rc = 0;
			}
		}
		if (rc != 0)
			return io_error("write zeros to", path, errno);
		done += n;
		if (progress)
			progress(done);
	}
	if (fsync(b->fd.get()) != 0)
		return io_error("flush", path, errno);
	return {};
}

} // namespace dtrbd
