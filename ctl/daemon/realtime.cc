// SPDX-License-Identifier: GPL-2.0
#include "daemon/realtime.h"

#include <sched.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"

#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

namespace dtrbd::daemon {

Status enter_realtime(int prio)
{
	struct sched_param sp = {};
	sp.sched_priority = prio;
	if (sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, &sp) != 0) {
		int e = errno;
		return Status::error(str("cannot run the event loop at real-time priority ",
					 prio, " (SCHED_RR): ", std::strerror(e),
					 e == EPERM ? "; dtrbdd needs CAP_SYS_NICE, and its unit "
						      "must not set RestrictRealtime="
						    : ""),
				     e);
	}
	return {};
}

Status lock_memory()
{
	if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0) {
		int e = errno;
		return Status::error(str("cannot lock dtrbdd's memory (mlockall): ",
					 std::strerror(e),
					 e == EPERM || e == ENOMEM
						 ? "; dtrbdd needs CAP_IPC_LOCK or a large enough "
						   "RLIMIT_MEMLOCK (LimitMEMLOCK=)"
						 : ""),
				     e);
	}
	return {};
}

} // namespace dtrbd::daemon
