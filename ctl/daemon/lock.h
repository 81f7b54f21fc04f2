// SPDX-License-Identifier: GPL-2.0
// The single-instance lock of dtrbdd: an flock on a file under the run
// directory holding the owner's pid. The kernel drops the lock when the
// process dies, kill -9 included, so a stale file never blocks a restart.
#pragma once

#include <string>

#include "common/fd.h"
#include "common/status.h"

namespace dtrbd::daemon {

class InstanceLock {
public:
	// Creates @dir (0755) if needed and locks @dir/dtrbdd.lock. Refuses
	// with one sentence naming the running daemon's pid.
	static Result<InstanceLock> acquire(const std::string &dir);
	const std::string &path() const { return path_; }

private:
	UniqueFd fd_;
	std::string path_;
};

} // namespace dtrbd::daemon
