// SPDX-License-Identifier: GPL-2.0
#include "vm/vm_worker.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "common/fd.h"
#include "common/log.h"

namespace dtrbd::vm {

std::string_view to_string(VmOp op)
{
	switch (op) {
	case VmOp::kDefine: return "define";
	case VmOp::kStart: return "start";
	case VmOp::kShutdown: return "shutdown";
	case VmOp::kDestroy: return "destroy";
	}
	return "unknown";
}

Status perform(VmDriver &d, const VmRequest &r)
{
	switch (r.op) {
	case VmOp::kDefine: {
		if (!r.xml_path.empty()) {
			auto def = d.ensure_defined(r.domain, r.xml_path, r.device);
			return def ? Status() : def.status();
		}
		auto s = d.state(r.domain);
		if (!s)
			return s.status();
		if (s->state == DomainState::kMissing)
			return Status::error(str("domain ", r.domain, " is not defined on ", r.host, " and ",
						 r.resource, " has no domain-xml to define it from"));
		return {};
	}
	case VmOp::kStart: return d.start(r.domain);
	case VmOp::kShutdown: return d.shutdown(r.domain);
	case VmOp::kDestroy: return d.destroy(r.domain);
	}
	return Status::error(str("unknown VM operation for ", r.domain));
}

namespace {

void bump(int fd)
{
	uint64_t one = 1;
	// Only EAGAIN (counter at its maximum) can fail: still readable.
	[[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof(one));
}

void reset(int fd)
{
	uint64_t v;
	[[maybe_unused]] ssize_t n = ::read(fd, &v, sizeof(v));
}

} // namespace

struct VmWorker::Impl {
	struct Lane {
		std::unique_ptr<VmDriver> driver;
		UniqueFd wake;			// eventfd: requests queued or stop
		std::deque<VmRequest> queue;	// under Impl::mu
		std::thread thread;
	};

	Factory make;
	std::mutex mu;
	bool stop = false;			// under mu
	// By (resource, destroy lane); only the submitting thread changes the
	// map, so the lanes' threads never look at it.
	std::map<std::pair<std::string, bool>, std::unique_ptr<Lane>> lanes;
	UniqueFd results_fd;
	std::deque<VmResult> results;		// under mu

	void post(VmResult res)
	{
		{
			std::lock_guard lock(mu);
			results.push_back(std::move(res));
		}
		bump(results_fd.get());
	}

	// One lane's thread: wait for a request (or stop), run it, post the
	// result. The lane's own driver also receives libvirt's lifecycle
	// events; the daemon's driver gets the same ones, so these are only
	// drained, or they would pile up for as long as the daemon runs.
	void run(Lane &l)
	{
		for (;;) {
			struct pollfd p[2] = {{l.wake.get(), POLLIN, 0}, {l.driver->event_fd(), POLLIN, 0}};
			if (::poll(p, 2, -1) < 0 && errno != EINTR)
				return;
			if (p[1].revents & POLLIN)
				(void)l.driver->take_events();
			if (!(p[0].revents & POLLIN))
				continue;
			reset(l.wake.get());
			for (;;) {
				VmRequest r;
				{
					std::lock_guard lock(mu);
					if (stop)
						return;
					if (l.queue.empty())
						break;
					r = std::move(l.queue.front());
					l.queue.pop_front();
				}
				VmResult res;
				res.id = r.id;
				res.resource = r.resource;
				res.op = r.op;
				res.status = perform(*l.driver, r);
				post(std::move(res));
			}
		}
	}

	Result<Lane *> lane(const std::string &resource, bool destroy)
	{
		auto key = std::make_pair(resource, destroy);
		if (auto it = lanes.find(key); it != lanes.end())
			return it->second.get();
		auto l = std::make_unique<Lane>();
		auto d = make();
		if (!d)
			return d.status();
		l->driver = std::move(*d);
		l->wake.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
		if (!l->wake.valid())
			return Status::error(str("cannot create an eventfd for VM requests: ", errno_text(errno)),
					     errno);
		Lane *lp = l.get();
		try {
			l->thread = std::thread([this, lp] { run(*lp); });
		} catch (const std::system_error &e) {
			return Status::error(str("cannot start a VM worker thread: ", e.what()));
		}
		lanes.emplace(key, std::move(l));
		return lp;
	}
};

Result<std::unique_ptr<VmWorker>> VmWorker::create(Factory make)
{
	auto impl = std::make_unique<Impl>();
	impl->make = std::move(make);
	impl->results_fd.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	if (!impl->results_fd.valid())
		return Status::error(str("cannot create an eventfd for VM results: ", errno_text(errno)), errno);
	return std::unique_ptr<VmWorker>(new VmWorker(std::move(impl)));
}

VmWorker::VmWorker(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

VmWorker::~VmWorker()
{
	{
		std::lock_guard lock(impl_->mu);
		impl_->stop = true;
	}
	for (auto &[key, l] : impl_->lanes) {
		bump(l->wake.get());
		if (l->thread.joinable())
			l->thread.join();
	}
}

void VmWorker::submit(VmRequest r)
{
	auto l = impl_->lane(r.resource, r.op == VmOp::kDestroy);
	if (!l) {
		VmResult res;
		res.id = r.id;
		res.resource = r.resource;
		res.op = r.op;
		res.status = Status::error(str("cannot ", to_string(r.op), " domain ", r.domain, ": ",
					       l.status().message()));
		impl_->post(std::move(res));
		return;
	}
	{
		std::lock_guard lock(impl_->mu);
		(*l)->queue.push_back(std::move(r));
	}
	bump((*l)->wake.get());
}

int VmWorker::result_fd() const
{
	return impl_->results_fd.get();
}

std::vector<VmResult> VmWorker::take_results()
{
	std::vector<VmResult> out;
	std::lock_guard lock(impl_->mu);
	reset(impl_->results_fd.get());
	out.assign(std::make_move_iterator(impl_->results.begin()),
		   std::make_move_iterator(impl_->results.end()));
	impl_->results.clear();
	return out;
}

size_t VmWorker::lanes() const
{
	return impl_->lanes.size();
}

} // namespace dtrbd::vm
