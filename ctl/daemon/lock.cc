// SPDX-License-Identifier: GPL-2.0
#include "daemon/lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "common/log.h"

namespace dtrbd::daemon {

Result<InstanceLock> InstanceLock::acquire(const std::string &dir)
{
	if (mkdir(dir.c_str(), 0755) && errno != EEXIST)
		return Status::error(str("could not create the run directory ", dir, ": ",
					 errno_text(errno)), errno);
	InstanceLock l;
	l.path_ = dir + "/dtrbdd.lock";
	l.fd_.reset(open(l.path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
	if (!l.fd_.valid())
		return Status::error(str("could not open the lock file ", l.path_, ": ",
					 errno_text(errno)), errno);
	if (flock(l.fd_.get(), LOCK_EX | LOCK_NB)) {
		if (errno != EWOULDBLOCK)
			return Status::error(str("could not lock ", l.path_, ": ",
						 errno_text(errno)), errno);
		char buf[32] = {};
		ssize_t n = pread(l.fd_.get(), buf, sizeof(buf) - 1, 0);
		long pid = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
		return Status::error(str("another dtrbdd is already running on this host",
					 pid > 0 ? str(" (pid ", pid, ")") : std::string(),
					 "; stop it first ('systemctl stop dtrbd') or use "
					 "'dtrbdctl cluster' to talk to it"), EEXIST);
	}
	std::string pid = std::to_string(getpid()) + "\n";
	if (ftruncate(l.fd_.get(), 0) ||
	    pwrite(l.fd_.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size()))
		return Status::error(str("could not write the pid to ", l.path_, ": ",
					 errno_text(errno)), errno);
	return l;
}

} // namespace dtrbd::daemon
