// SPDX-License-Identifier: GPL-2.0
#include "meta/disk.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

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

// The superblock at the end of an open backing device, decoded.
Result<MdSuper> read_super_at(const Backing &b, const MdLayout &l,
			      const std::string &path)
{
	SuperBlock buf;
	Status st = pread_all(b.fd.get(), buf.data(), buf.size(), l.sb_offset,
			      path);
	if (!st)
		return st;
	return decode_super(buf.data(), buf.size());
}

uint64_t random_uuid()
{
	uint64_t v = 0;
	while (v == 0)
		if (getrandom(&v, sizeof(v), 0) != sizeof(v))
			v = 0;
	return v;
}

Status too_small(const std::string &path, uint64_t size)
{
	return Status::error(str(path, " is too small: ", size,
				 " bytes, dtrbd needs at least ",
				 md_min_device_size()));
}

} // namespace

Result<Backing> open_backing(const std::string &path, bool write)
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
	int flags = (write ? O_RDWR : O_RDONLY) | O_CLOEXEC;
	if (write && b.is_block)
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

Result<MdSuper> read_metadata(const std::string &path)
{
	auto b = open_backing(path, false);
	if (!b)
		return b.status();
	auto l = md_layout(b->size);
	auto sb = l ? read_super_at(*b, *l, path)
		    : Result<MdSuper>(Status::error("too small", ENODATA));
	if (sb)
		return sb;
	switch (sb.status().errnum()) {
	case ENODATA:
		return Status::error(str(path, " has no dtrbd metadata; create it with: dtrbdctl create-md --disk ", path),
				     ENODATA);
	case EBADMSG:
		return Status::error(str(path, " has damaged dtrbd metadata (", sb.status().message(),
					 "); recreate it with: dtrbdctl create-md --force --disk ", path),
				     EBADMSG);
	case ENOTSUP:
		return Status::error(str(path, " has dtrbd ", sb.status().message()),
				     ENOTSUP);
	default:
		return sb.status();
	}
}

Result<CreatedMd> create_metadata(const std::string &path, bool force)
{
	auto b = open_backing(path, true);
	if (!b)
		return b.status();
	auto l = md_layout(b->size);
	if (!l)
		return too_small(path, b->size);

	auto old = read_super_at(*b, *l, path);
	if (old && !force)
		return Status::error(str(path, " already has dtrbd metadata (created for a ",
					 old->dev_size, "-byte device, device uuid ",
					 std::hex, old->device_uuid,
					 "); use --force to overwrite it"), EEXIST);

	// Bitmap and activity log first, the superblock last: an interrupted
	// create-md leaves no valid superblock behind.
	std::vector<char> zeros(1 << 20, 0);
	for (uint64_t off = l->bm_offset; off < l->sb_offset;) {
		size_t n = static_cast<size_t>(
			std::min<uint64_t>(zeros.size(), l->sb_offset - off));
		Status st = pwrite_all(b->fd.get(), zeros.data(), n, off, path);
		if (!st)
			return st;
		off += n;
	}
	if (fsync(b->fd.get()) != 0)
		return io_error("flush", path, errno);

	CreatedMd out{*l, new_super(b->size, *l, random_uuid())};
	SuperBlock buf = encode_super(out.super);
	Status st = pwrite_all(b->fd.get(), buf.data(), buf.size(),
			       l->sb_offset, path);
	if (!st)
		return st;
	if (fsync(b->fd.get()) != 0)
		return io_error("flush", path, errno);
	log::debug("metadata on ", path, ": bitmap at ", l->bm_offset,
		   ", activity log at ", l->al_offset, ", superblock at ",
		   l->sb_offset);
	return out;
}

} // namespace dtrbd
