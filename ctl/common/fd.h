// SPDX-License-Identifier: GPL-2.0
// UniqueFd: owns one file descriptor and closes it exactly once.
#pragma once

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <utility>

namespace dtrbd {

class UniqueFd {
public:
	UniqueFd() = default;
	explicit UniqueFd(int fd) : fd_(fd) {}
	UniqueFd(UniqueFd &&o) noexcept : fd_(o.release()) {}
	UniqueFd &operator=(UniqueFd &&o) noexcept
	{
		if (this != &o)
			reset(o.release());
		return *this;
	}
	UniqueFd(const UniqueFd &) = delete;
	UniqueFd &operator=(const UniqueFd &) = delete;
	~UniqueFd() { reset(); }

	int get() const { return fd_; }
	bool valid() const { return fd_ >= 0; }
	int release() { return std::exchange(fd_, -1); }
	void reset(int fd = -1)
	{
		if (fd_ >= 0)
			::close(fd_);
		fd_ = fd;
	}

private:
	int fd_ = -1;
};

// Waits for @events on @fd until @deadline: 1 ready, 0 timed out, -1 error
// (errno set). EINTR is retried.
inline int wait_fd(int fd, short events, std::chrono::steady_clock::time_point deadline)
{
	for (;;) {
		auto left = std::chrono::ceil<std::chrono::milliseconds>(
			deadline - std::chrono::steady_clock::now());
		if (left.count() <= 0)
			return 0;
		pollfd p{fd, events, 0};
		int n = poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1 << 30)));
		if (n < 0 && errno == EINTR)
			continue;
		return n > 0 ? 1 : n;
	}
}

} // namespace dtrbd
