// SPDX-License-Identifier: GPL-2.0
// What dtrbdctl asks of the kernel, independent of how it is asked. The
// netlink client (netlink_kernel.h) implements it for the real module; the
// unit tests implement it with a fake, so every command's logic is tested
// without the module.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace dtrbd {

// One device's state as the module reports it (GET_DEVICE replies and
// events). Every field is optional: a missing attribute is "not reported",
// never a crash. Enumerations keep the raw value so that values newer than
// this program are shown as "unknown" instead of being misread.
struct DeviceStatus {
	std::optional<uint32_t> minor;
	std::optional<uint8_t> role, peer_role;		// enum dtrbd_role
	std::optional<uint8_t> conn;			// enum dtrbd_conn_state
	std::optional<uint8_t> disk, peer_disk;		// enum dtrbd_disk_state
	std::optional<uint8_t> protocol;		// enum dtrbd_protocol
	std::optional<uint8_t> sync;			// enum dtrbd_sync_state
	std::optional<uint64_t> size_bytes, sync_total, sync_done;
	std::optional<uint64_t> written_bytes, sent_bytes, received_bytes;
	std::optional<uint64_t> current_uuid, bitmap_uuid;
	std::optional<uint32_t> open_count, in_flight;
	std::optional<std::string> disk_path, peer_name, peer_addr;
};

struct Event {
	DeviceStatus dev;
	std::optional<uint8_t> event;			// enum dtrbd_event
	std::optional<std::string> reason;
};

struct ConnectRequest {
	uint32_t minor = 0;
	int sock_fd = -1;		// connected TCP socket, hello exchanged
	uint8_t protocol = 0;		// enum dtrbd_protocol
	uint32_t ping_ms = 0;
	uint32_t timeout_ms = 0;
	bool tiebreak = false;		// true on exactly one side
	uint32_t proto_version = 0;
	uint64_t features = 0;
	std::string peer_name;
	std::string peer_addr;		// "IP:PORT"
};

// Every Status returned here already carries the sentence dtrbdctl prints
// (the kernel's extack message when it gave one); errnum() is the errno.
class Kernel {
public:
	virtual ~Kernel() = default;

	virtual Status attach(uint32_t minor, const std::string &disk_path) = 0;
	virtual Status detach(uint32_t minor) = 0;
	virtual Status connect(const ConnectRequest &req) = 0;
	virtual Status disconnect(uint32_t minor) = 0;
	virtual Status primary(uint32_t minor, bool force) = 0;
	virtual Status secondary(uint32_t minor) = 0;
	virtual Result<DeviceStatus> get(uint32_t minor) = 0;
	virtual Result<std::vector<DeviceStatus>> dump() = 0;

	// Join the "events" multicast group; events sent from then on are
	// queued until read with next_event().
	virtual Status subscribe() = 0;
	// The next event, or nullopt when none arrived within @timeout (or a
	// signal interrupted the wait).
	virtual Result<std::optional<Event>> next_event(
		std::chrono::milliseconds timeout) = 0;
};

} // namespace dtrbd
