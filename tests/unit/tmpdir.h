// SPDX-License-Identifier: GPL-2.0
// A scratch directory removed with everything in it at scope exit.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace dtrbd::test {

class TmpDir {
public:
	TmpDir()
	{
		std::string tmpl = (std::filesystem::temp_directory_path() / "dtrbd-test-XXXXXX").string();
		path_ = mkdtemp(tmpl.data());
	}
	~TmpDir() { std::filesystem::remove_all(path_); }
	TmpDir(const TmpDir &) = delete;
	TmpDir &operator=(const TmpDir &) = delete;

	const std::string &path() const { return path_; }

	// A sparse regular file of @size bytes.
	std::string file(const std::string &name, uint64_t size) const
	{
		std::string p = path_ + "/" + name;
		int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			if (ftruncate(fd, static_cast<off_t>(size)) != 0)
				p.clear();
			::close(fd);
		}
		return p;
	}

private:
	std::string path_;
};

} // namespace dtrbd::test
