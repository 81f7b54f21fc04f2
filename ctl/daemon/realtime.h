// SPDX-License-Identifier: GPL-2.0
// dtrbdd's event loop runs at a real-time priority with its memory locked,
// as corosync does, so that a host busy with its VMs (every QEMU thread is
// an ordinary task) or short of memory still sends and reads its heartbeats
// on time: a heartbeat that waits for a CPU or a page-in looks like a dead
// peer to the other host. Documentation/dtrbdd.md "Scheduling".
#pragma once

#include <string>

#include "common/status.h"

namespace dtrbd::daemon {

// SCHED_RR at this priority: above every ordinary task, below the kernel's
// threaded interrupt handlers (50) and the watchdogs (99).
inline constexpr int kRealtimePriority = 10;

// The calling thread (the event loop) to SCHED_RR at prio, with
// SCHED_RESET_ON_FORK: threads it starts later (the VM worker lanes, whose
// libvirt calls take seconds) and processes it runs (lvm) are ordinary
// tasks again.
Status enter_realtime(int prio = kRealtimePriority);

// mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT): every page the daemon
// has or touches stays in memory; ONFAULT so that reserved but unused
// address space (thread stacks, malloc arenas) costs nothing.
Status lock_memory();

} // namespace dtrbd::daemon
