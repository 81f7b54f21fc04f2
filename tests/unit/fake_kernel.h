// SPDX-License-Identifier: GPL-2.0
// A Kernel that records what it is asked and answers from a table, so that
// command logic runs without the module.
#pragma once

#include <linux/dtrbd.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <deque>
#include <functional>
#include <optional>
#include <map>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/log.h"
#include "netlink/kernel.h"

namespace dtrbd::test {

class FakeKernel : public Kernel {
public:
	// What connect() does after accepting the socket.
	enum class OnConnect { kReportConnected, kReportDisconnected, kSilent };

	std::map<uint32_t, DeviceStatus> devices;
	std::vector<std::string> calls;		// "attach 0 /abs/path", ...
	std::deque<Event> events;
	Status refuse;				// returned by the next command
	OnConnect on_connect = OnConnect::kReportConnected;
	std::string disconnect_reason;

	// Captured at connect(), while the descriptor is still open.
	std::optional<ConnectRequest> connect_req;
	UniqueFd handed;			// dup of the handed socket
	bool handed_is_stream = false, handed_nodelay = false,
	     handed_blocking = false, handed_connected = false;
	bool subscribed_before_connect = false;
	std::optional<AttachRequest> attach_req;

	// Scripting for the commands that wait (verify): called by verify()
	// after it was accepted, and by next_event() whenever the queue is
	// empty (a quiet interval). @waited sums the intervals waited, so a
	// test clock can be derived from it.
	std::function<void(uint32_t minor, bool repair)> on_verify;
	std::function<void()> on_idle;
	std::chrono::milliseconds waited{0};
	bool subscribed_before_verify = false;

	void add_device(uint32_t minor, uint64_t size)
	{
		DeviceStatus d;
		d.minor = minor;
		d.role = DTRBD_ROLE_SECONDARY;
		d.conn = DTRBD_CONN_STANDALONE;
		d.disk = DTRBD_DISK_UPTODATE;
		d.size_bytes = size;
		devices[minor] = d;
	}

	Status attach(const AttachRequest &r) override
	{
		attach_req = r;
		return record(str("attach ", r.minor, ' ', r.disk_path,
				  r.meta_path ? " meta " + *r.meta_path : "",
				  r.al_extents ? str(" al-extents ", *r.al_extents) : "",
				  r.res_name ? " name " + *r.res_name : ""));
	}
	Status verify(uint32_t minor, bool repair) override
	{
		subscribed_before_verify = subscribed;
		Status st = record(str("verify ", minor, repair ? " repair" : ""));
		if (st && on_verify)
			on_verify(minor, repair);
		return st;
	}
	Status invalidate(uint32_t minor) override
	{
		return record(str("invalidate ", minor));
	}
	Status invalidate_remote(uint32_t minor) override
	{
		return record(str("invalidate-remote ", minor));
	}
	Status new_current_uuid(uint32_t minor, bool clear_bitmap) override
	{
		return record(str("new-current-uuid ", minor,
				  clear_bitmap ? " clear-bitmap" : ""));
	}
	Status set_options(const SetOptionsRequest &r) override
	{
		return record(str("set-options ", r.minor,
				  r.resync_rate_kib ? str(" resync-rate ", *r.resync_rate_kib) : "",
				  r.on_peer_loss ? str(" on-peer-loss ", unsigned{*r.on_peer_loss}) : "",
				  r.ko_count ? str(" ko-count ", *r.ko_count) : ""));
	}
	Status resume_io(uint32_t minor) override
	{
		return record(str("resume-io ", minor));
	}
	Status fail_io(uint32_t minor) override
	{
		return record(str("fail-io ", minor));
	}
	Status detach(uint32_t minor) override { return record(str("detach ", minor)); }
	Status disconnect(uint32_t minor) override
	{
		return record(str("disconnect ", minor));
	}
	Status primary(uint32_t minor, bool force) override
	{
		return record(str("primary ", minor, force ? " force" : ""));
	}
	Status secondary(uint32_t minor) override
	{
		return record(str("secondary ", minor));
	}

	Status connect(const ConnectRequest &r) override
	{
		Status st = record(str("connect ", r.minor));
		if (!st)
			return st;
		connect_req = r;
		subscribed_before_connect = subscribed;
		inspect(r.sock_fd);
		auto &d = devices[r.minor];
		d.conn = DTRBD_CONN_CONNECTING;
		Event ev;
		ev.dev = d;
		switch (on_connect) {
		case OnConnect::kReportConnected:
			d.conn = DTRBD_CONN_CONNECTED;
			d.peer_name = r.peer_name;
			ev.dev = d;
			ev.event = DTRBD_EV_CONNECTED;
			break;
		case OnConnect::kReportDisconnected:
			d.conn = DTRBD_CONN_STANDALONE;
			ev.dev = d;
			ev.event = DTRBD_EV_DISCONNECTED;
			ev.reason = disconnect_reason;
			break;
		case OnConnect::kSilent:
			return {};
		}
		// An unrelated device's event first: must be ignored.
		Event other;
		other.dev.minor = r.minor + 1;
		other.dev.conn = DTRBD_CONN_CONNECTED;
		other.event = DTRBD_EV_CONNECTED;
		events.push_back(other);
		events.push_back(ev);
		return {};
	}

	Result<DeviceStatus> get(uint32_t minor) override
	{
		calls.push_back(str("get ", minor));
		auto it = devices.find(minor);
		if (it == devices.end())
			return Status::error(str("dtrbd", minor, " does not exist"), ENODEV);
		return it->second;
	}

	Result<std::vector<DeviceStatus>> dump() override
	{
		std::vector<DeviceStatus> all;
		for (const auto &[minor, d] : devices)
			all.push_back(d);
		return all;
	}

	Status subscribe() override
	{
		subscribed = true;
		return {};
	}

	Result<std::optional<Event>> next_event(std::chrono::milliseconds timeout) override
	{
		if (!subscribed)
			return Status::error("next_event before subscribe");
		if (events.empty()) {
			waited += timeout;
			if (on_idle)
				on_idle();
			return std::optional<Event>();
		}
		Event ev = events.front();
		events.pop_front();
		return std::optional<Event>(ev);
	}

	bool subscribed = false;

private:
	Status record(std::string call)
	{
		calls.push_back(std::move(call));
		return std::exchange(refuse, Status());
	}

	void inspect(int fd)
	{
		int type = 0, nodelay = 0;
		socklen_t len = sizeof(type);
		handed_is_stream = !getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) &&
				   type == SOCK_STREAM;
		len = sizeof(nodelay);
		handed_nodelay = !getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len) &&
				 nodelay;
		int fl = fcntl(fd, F_GETFL);
		handed_blocking = fl >= 0 && !(fl & O_NONBLOCK);
		sockaddr_storage ss;
		len = sizeof(ss);
		handed_connected = !getpeername(fd, reinterpret_cast<sockaddr *>(&ss), &len);
		handed.reset(dup(fd));
	}
};

} // namespace dtrbd::test
