// SPDX-License-Identifier: GPL-2.0
#include "daemon/connmgr.h"

#include "common/log.h"
#include "conn/establish.h"

namespace dtrbd::daemon {

Result<std::unique_ptr<ConnectionManager>> ConnectionManager::make(
	const config::Config &cfg, std::string self, std::function<uint64_t(uint32_t)> size)
{
	auto e = EventFd::make();
	if (!e)
		return e.status();
	return std::unique_ptr<ConnectionManager>(
		new ConnectionManager(cfg, std::move(self), std::move(*e), std::move(size)));
}

ConnectionManager::~ConnectionManager()
{
	for (auto &a : attempts_)
		if (a.worker.joinable())
			a.worker.join();
}

void ConnectionManager::start(uint64_t action_id, const config::Resource &r,
			      const std::string &peer)
{
	uint64_t gen = ++generation_;
	current_[r.name] = gen;

	LinkParams p;
	p.local = config::replication_endpoint(cfg_, r, self_);
	p.peer = config::replication_endpoint(cfg_, r, peer);
	p.timeout_s = static_cast<unsigned>(
		std::max<int64_t>(1, cfg_.timing.handshake_timeout.count() / 1000));
	p.deadline = std::chrono::steady_clock::now() + cfg_.timing.handshake_timeout;
	p.ours.size_bytes = device_size_(r.minor);
	p.ours.minor = r.minor;
	p.ours.node_name = self_;
	// The peer must prove it knows the cluster's secret (conn/auth.h)
	// before the socket goes to the kernel; a wrong one is refused on
	// both sides.
	p.secret = cfg_.secret;
	std::string name = r.name;

	Attempt a;
	a.generation = gen;
	a.worker = std::thread([this, gen, p, name, action_id] {
		ConnectResult res;
		res.resource = name;
		res.action_id = action_id;
		auto link = establish(p);
		if (!link) {
			res.link = link.status();
		} else {
			Handshaken h;
			h.fd = std::move(link->fd);
			h.tiebreak = link->listener;
			h.proto_version = link->agreed.version;
			h.features = link->agreed.features;
			h.peer_name = link->peer.node_name;
			h.peer_addr = p.peer.str();
			res.link = std::move(h);
		}
		{
			std::lock_guard<std::mutex> g(mu_);
			done_.emplace_back(gen, std::move(res));
		}
		wake_.post();
	});
	attempts_.push_back(std::move(a));
}

void ConnectionManager::cancel(const std::string &resource)
{
	current_.erase(resource);
}

std::vector<ConnectResult> ConnectionManager::collect()
{
	wake_.consume();
	std::vector<std::pair<uint64_t, ConnectResult>> done;
	{
		std::lock_guard<std::mutex> g(mu_);
		done.swap(done_);
	}
	std::vector<ConnectResult> out;
	for (auto &[gen, res] : done) {
		// Join the finished worker.
		for (auto it = attempts_.begin(); it != attempts_.end(); ++it) {
			if (it->generation == gen) {
				if (it->worker.joinable())
					it->worker.join();
				attempts_.erase(it);
				break;
			}
		}
		auto cur = current_.find(res.resource);
		if (cur == current_.end() || cur->second != gen)
			continue;	// cancelled or superseded: the socket closes here
		current_.erase(cur);
		out.push_back(std::move(res));
	}
	return out;
}

} // namespace dtrbd::daemon
