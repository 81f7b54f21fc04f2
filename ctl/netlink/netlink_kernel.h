// SPDX-License-Identifier: GPL-2.0
// Kernel implemented over the generic netlink family "dtrbd".
#pragma once

#include <deque>
#include <memory>
#include <optional>

#include "netlink/kernel.h"
#include "netlink/nl.h"

namespace dtrbd {

namespace nl {

// The requests that carry more than a minor, built apart from any socket
// so that the tests can decode what would be sent. The message's status()
// holds the first failed attribute put.
Result<Message> attach_request(int family, const AttachRequest &r);
Result<Message> connect_request(int family, const ConnectRequest &r);
Result<Message> verify_request(int family, uint32_t minor, bool repair);
Result<Message> new_current_uuid_request(int family, uint32_t minor,
					 bool clear_bitmap);
Result<Message> set_options_request(int family, const SetOptionsRequest &r);

} // namespace nl

class NetlinkKernel final : public Kernel {
public:
	// Resolves the family; fails with "the dtrbd kernel module is not
	// loaded (modprobe dtrbd)" when it does not exist.
	static Result<std::unique_ptr<Kernel>> open();

	Status attach(const AttachRequest &req) override;
	Status detach(uint32_t minor) override;
	Status connect(const ConnectRequest &req) override;
	Status disconnect(uint32_t minor) override;
	Status primary(uint32_t minor, bool force) override;
	Status secondary(uint32_t minor) override;
	Status verify(uint32_t minor, bool repair) override;
	Status invalidate(uint32_t minor) override;
	Status invalidate_remote(uint32_t minor) override;
	Status new_current_uuid(uint32_t minor, bool clear_bitmap) override;
	Status set_options(const SetOptionsRequest &req) override;
	Status resume_io(uint32_t minor) override;
	Status fail_io(uint32_t minor) override;
	Result<DeviceStatus> get(uint32_t minor) override;
	Result<std::vector<DeviceStatus>> dump() override;
	Status subscribe() override;
	Result<std::optional<Event>> next_event(
		std::chrono::milliseconds timeout) override;
	int event_fd() const override { return events_ ? events_->fd() : -1; }

private:
	NetlinkKernel(nl::Socket sk, int family)
		: cmd_(std::move(sk)), family_(family) {}
	Result<nl::Message> request(uint8_t cmd, uint32_t minor, int flags = 0);
	Status simple(uint8_t cmd, uint32_t minor, const char *verb);

	nl::Socket cmd_;			// requests and replies
	std::optional<nl::Socket> events_;	// multicast, after subscribe()
	int family_;
	std::deque<Event> queue_;
};

} // namespace dtrbd
