// SPDX-License-Identifier: GPL-2.0
// The daemon's single-threaded event loop: epoll over file descriptors the
// loop does not own (each owner keeps its UniqueFd and unregisters it before
// closing), plus RAII wrappers for the descriptors only the loop's users
// need: a timerfd, a signalfd and an eventfd. Nothing here polls: every
// wake-up is a descriptor becoming ready.
#pragma once

#include <sys/epoll.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "common/fd.h"
#include "common/status.h"

namespace dtrbd::daemon {

class Loop {
public:
	using Handler = std::function<void(uint32_t events)>;

	static Result<std::unique_ptr<Loop>> make();

	// Calls @h with the epoll events whenever @fd is ready for @events.
	// The fd stays owned by the caller, who must remove() it before
	// closing it. Registering an fd twice replaces its handler.
	Status add(int fd, uint32_t events, Handler h);
	Status modify(int fd, uint32_t events);
	void remove(int fd);

	// Runs until stop(); returns the first failure of epoll_wait itself.
	Status run();
	// Handles what is ready now, waiting at most @timeout; for tests.
	Status run_once(std::chrono::milliseconds timeout);
	void stop() { stopped_ = true; }
	// Calls @f after every round that handled at least one descriptor,
	// whichever handler ran: the daemon re-arms its timer there, so a
	// handler registered by another component (the witness or heartbeat
	// socket) cannot leave the core's next wake-up unscheduled.
	void after_each(std::function<void()> f) { after_ = std::move(f); }
	bool stopped() const { return stopped_; }

private:
	explicit Loop(UniqueFd ep) : ep_(std::move(ep)) {}
	UniqueFd ep_;
	// Shared so that a handler that removes itself (or another fd) while
	// it runs does not destroy the function being called.
	std::map<int, std::shared_ptr<Handler>> handlers_;
	bool stopped_ = false;
	std::function<void()> after_;
};

// A monotonic timerfd: arm(after) fires once, arm(after, every) repeatedly.
class Timer {
public:
	static Result<Timer> make();
	Status arm(std::chrono::milliseconds after,
		   std::chrono::milliseconds every = std::chrono::milliseconds(0));
	Status disarm();
	// Reads the expiration count (call from the handler); 0 if none.
	uint64_t consume();
	int fd() const { return fd_.get(); }

private:
	UniqueFd fd_;
};

// A signalfd for @signals, which are blocked in the calling thread (call it
// before any other thread is started so that they inherit the mask).
class SignalFd {
public:
	static Result<SignalFd> make(const std::vector<int> &signals);
	// The next pending signal number, or 0 when none.
	int next();
	int fd() const { return fd_.get(); }

private:
	UniqueFd fd_;
};

// An eventfd that worker threads use to wake the loop.
class EventFd {
public:
	static Result<EventFd> make();
	void post();		// thread-safe
	uint64_t consume();
	int fd() const { return fd_.get(); }

private:
	UniqueFd fd_;
};

} // namespace dtrbd::daemon
