// SPDX-License-Identifier: GPL-2.0
#include "common/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/fd.h"
#include "common/log.h"

namespace dtrbd {

Status write_atomically(const std::string &path, std::string_view text, mode_t mode,
			Durability d, std::string_view hint)
{
	auto slash = path.rfind('/');
	std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
	std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
	std::string tmp = str(dir, dir == "/" ? "" : "/", ".", base, ".XXXXXX");
	UniqueFd fd(::mkstemp(tmp.data()));
	if (!fd.valid())
		return Status::error(str("cannot create a temporary file in ", dir, " for ", path,
					 ": ", std::strerror(errno), hint.empty() ? "" : "; ", hint),
				     errno);
	auto fail = [&](const char *what) {
		int e = errno;
		::unlink(tmp.c_str());
		// Not the temporary file's random name: callers that repeat a
		// write say a failure only when its sentence changes.
		return Status::error(str("cannot ", what, " a temporary file (", dir, "/.", base,
					 ".*) for ", path, ": ", std::strerror(e)),
				     e);
	};
	// mkstemp makes it 0600.
	if (::fchmod(fd.get(), mode) != 0)
		return fail("set the mode of");
	for (size_t done = 0; done < text.size();) {
		ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return fail("write");
		}
		done += static_cast<size_t>(n);
	}
	if (d == Durability::kDurable && ::fsync(fd.get()) != 0)
		return fail("flush");
	if (::close(fd.release()) != 0)
		return fail("close");
	if (::rename(tmp.c_str(), path.c_str()) != 0)
		return fail("rename");
	if (d == Durability::kDurable) {
		UniqueFd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
		if (!dfd.valid() || ::fsync(dfd.get()) != 0)
			return Status::error(str("wrote ", path, " but cannot flush its directory ", dir,
						 ": ", std::strerror(errno)), errno);
	}
	return {};
}

Result<std::string> read_whole_file(const std::string &path, size_t limit)
{
	UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
	if (!fd.valid())
		return Status::error(str("cannot read ", path, ": ", std::strerror(errno)), errno);
	std::string out;
	char buf[65536];
	for (;;) {
		ssize_t n = ::read(fd.get(), buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return Status::error(str("cannot read ", path, ": ", std::strerror(errno)), errno);
		if (n == 0)
			return out;
		if (out.size() + static_cast<size_t>(n) > limit)
			return Status::error(str(path, " is larger than ", limit, " bytes"), EFBIG);
		out.append(buf, static_cast<size_t>(n));
	}
}

} // namespace dtrbd
