// SPDX-License-Identifier: GPL-2.0
#include "daemon/loop.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>

#include "common/log.h"

namespace dtrbd::daemon {

Result<std::unique_ptr<Loop>> Loop::make()
{
	UniqueFd ep(epoll_create1(EPOLL_CLOEXEC));
	if (!ep.valid())
		return Status::error(str("could not create an epoll instance: ",
					 errno_text(errno)), errno);
	return std::unique_ptr<Loop>(new Loop(std::move(ep)));
}

Status Loop::add(int fd, uint32_t events, Handler h)
{
	epoll_event ev{};
	ev.events = events;
	ev.data.fd = fd;
	bool known = handlers_.count(fd);
	if (epoll_ctl(ep_.get(), known ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev))
		return Status::error(str("could not watch descriptor ", fd, ": ",
					 errno_text(errno)), errno);
	handlers_[fd] = std::make_shared<Handler>(std::move(h));
	return {};
}

Status Loop::modify(int fd, uint32_t events)
{
	epoll_event ev{};
	ev.events = events;
	ev.data.fd = fd;
	if (epoll_ctl(ep_.get(), EPOLL_CTL_MOD, fd, &ev))
		return Status::error(str("could not change the watch of descriptor ", fd,
					 ": ", errno_text(errno)), errno);
	return {};
}

void Loop::remove(int fd)
{
	if (handlers_.erase(fd))
		epoll_ctl(ep_.get(), EPOLL_CTL_DEL, fd, nullptr);
}

Status Loop::run_once(std::chrono::milliseconds timeout)
{
	epoll_event evs[32];
	int n = epoll_wait(ep_.get(), evs, 32, static_cast<int>(timeout.count()));
	if (n < 0) {
		if (errno == EINTR)
			return {};
		return Status::error(str("could not wait for events: ", errno_text(errno)),
				     errno);
	}
	for (int i = 0; i < n && !stopped_; i++) {
		auto it = handlers_.find(evs[i].data.fd);
		if (it == handlers_.end())
			continue;	// removed by an earlier handler of this round
		std::shared_ptr<Handler> h = it->second;
		(*h)(evs[i].events);
	}
	if (n > 0 && after_)
		after_();
	return {};
}

Status Loop::run()
{
	while (!stopped_) {
		Status st = run_once(std::chrono::milliseconds(-1));
		if (!st)
			return st;
	}
	return {};
}

Result<Timer> Timer::make()
{
	Timer t;
	t.fd_.reset(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
	if (!t.fd_.valid())
		return Status::error(str("could not create a timer: ", errno_text(errno)),
				     errno);
	return t;
}

namespace {

timespec to_timespec(std::chrono::milliseconds ms)
{
	return {static_cast<time_t>(ms.count() / 1000),
		static_cast<long>(ms.count() % 1000) * 1000000L};
}

} // namespace

Status Timer::arm(std::chrono::milliseconds after, std::chrono::milliseconds every)
{
	itimerspec its{};
	// A zero it_value disarms: fire "now" as 1 ns instead.
	its.it_value = after.count() > 0 ? to_timespec(after) : timespec{0, 1};
	its.it_interval = to_timespec(every);
	if (timerfd_settime(fd_.get(), 0, &its, nullptr))
		return Status::error(str("could not arm a timer: ", errno_text(errno)), errno);
	return {};
}

Status Timer::disarm()
{
	itimerspec its{};
	if (timerfd_settime(fd_.get(), 0, &its, nullptr))
		return Status::error(str("could not disarm a timer: ", errno_text(errno)),
				     errno);
	return {};
}

uint64_t Timer::consume()
{
	uint64_t n = 0;
	if (read(fd_.get(), &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

Result<SignalFd> SignalFd::make(const std::vector<int> &signals)
{
	sigset_t set;
	sigemptyset(&set);
	for (int s : signals)
		sigaddset(&set, s);
	if (sigprocmask(SIG_BLOCK, &set, nullptr))
		return Status::error(str("could not block signals: ", errno_text(errno)),
				     errno);
	SignalFd s;
	s.fd_.reset(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
	if (!s.fd_.valid())
		return Status::error(str("could not create a signalfd: ", errno_text(errno)),
				     errno);
	return s;
}

int SignalFd::next()
{
	signalfd_siginfo si{};
	if (read(fd_.get(), &si, sizeof(si)) != sizeof(si))
		return 0;
	return static_cast<int>(si.ssi_signo);
}

Result<EventFd> EventFd::make()
{
	EventFd e;
	e.fd_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	if (!e.fd_.valid())
		return Status::error(str("could not create an eventfd: ", errno_text(errno)),
				     errno);
	return e;
}

void EventFd::post()
{
	uint64_t one = 1;
	// Only EAGAIN (counter full) can fail, and then the loop wakes anyway.
	ssize_t n = write(fd_.get(), &one, sizeof(one));
	(void)n;
}

uint64_t EventFd::consume()
{
	uint64_t n = 0;
	if (read(fd_.get(), &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

} // namespace dtrbd::daemon
