// SPDX-License-Identifier: GPL-2.0
// The connection manager: the real Connector. Each attempt runs the
// userspace handshake (TCP on the resource's port between the two hosts'
// replication addresses, the lower endpoint listening; the hello) on a
// worker thread of its own, bounded by the configured handshake timeout,
// and posts its result to an eventfd the event loop watches, so a slow or
// silent peer never stalls the loop. The loop then calls collect() and
// hands each socket to Core::on_connected (which gives it to the kernel).
// Reconnecting after a loss, with backoff, is the arbiter's decision: it
// issues a new Connect action.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "daemon/core.h"
#include "daemon/loop.h"

namespace dtrbd::daemon {

struct ConnectResult {
	std::string resource;
	uint64_t action_id = 0;
	Result<Handshaken> link = Status::error("not finished");
};

class ConnectionManager final : public Connector {
public:
	static Result<std::unique_ptr<ConnectionManager>> make(const config::Config &cfg,
								std::string self,
								std::function<uint64_t(uint32_t)> device_size);
	~ConnectionManager() override;	// joins the workers (bounded by their timeout)

	void start(uint64_t action_id, const config::Resource &r,
		   const std::string &peer) override;
	void cancel(const std::string &resource) override;

	// Readable when results are waiting.
	int event_fd() const { return wake_.fd(); }
	// The finished attempts that were not cancelled meanwhile.
	std::vector<ConnectResult> collect();

private:
	ConnectionManager(const config::Config &cfg, std::string self, EventFd wake,
			  std::function<uint64_t(uint32_t)> size)
		: cfg_(cfg), self_(std::move(self)), wake_(std::move(wake)),
		  device_size_(std::move(size)) {}

	struct Attempt {
		uint64_t generation = 0;
		std::thread worker;
	};

	const config::Config &cfg_;
	std::string self_;
	EventFd wake_;
	std::function<uint64_t(uint32_t)> device_size_;	// bytes, 0: unknown
	uint64_t generation_ = 0;
	std::map<std::string, uint64_t> current_;	// resource -> live generation
	std::vector<Attempt> attempts_;

	std::mutex mu_;		// guards done_
	std::vector<std::pair<uint64_t, ConnectResult>> done_;	// generation, result
};

} // namespace dtrbd::daemon
