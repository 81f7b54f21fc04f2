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
	// Resync, verify, activity log (all optional, like the rest).
	std::optional<uint64_t> oos_bytes;		// marked out of sync
	std::optional<uint64_t> sync_rate;		// resync bytes/s, recent
	std::optional<uint8_t> sync_kind;		// enum dtrbd_sync_kind
	std::optional<uint64_t> verify_checked, verify_differing;	// blocks
	std::optional<uint64_t> al_writes;		// AL transactions
	std::optional<uint32_t> al_extents_used;	// hot extents now
	std::optional<uint64_t> rs_sent_bytes, rs_received_bytes, rs_same_bytes;
	std::optional<uint32_t> flags;			// DTRBD_F_*
	std::optional<std::string> meta_disk;		// external metadata
	std::optional<std::string> res_name;		// resource name given at attach
	// Freeze on peer loss.
	std::optional<uint8_t> on_peer_loss;		// enum dtrbd_on_peer_loss
	std::optional<uint8_t> frozen;			// 1: writes wait
	std::optional<uint8_t> io_failed;		// 1: writes fail (FAIL_IO)
	// Timeouts of the connection (reported while one exists).
	std::optional<uint32_t> ping_ms, timeout_ms;
	std::optional<uint32_t> ko_count;		// request timeout / timeout_ms
};

struct Event {
	DeviceStatus dev;
	std::optional<uint8_t> event;			// enum dtrbd_event
	std::optional<std::string> reason;
};

struct AttachRequest {
	uint32_t minor = 0;
	std::string disk_path;			// absolute, symlink-free
	std::optional<std::string> meta_path;	// external metadata, ditto
	std::optional<uint32_t> al_extents;	// unset: the module's default
	std::optional<std::string> res_name;	// /dev/dtrbd/by-res/NAME; unset: none
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
	bool discard_my_data = false;	// split brain: this side is target
	bool csum_resync = false;	// resync sends checksums first
	std::optional<uint8_t> after_sb;	// enum dtrbd_after_sb; unset: default
	std::optional<uint32_t> resync_rate_kib;	// unset or 0: dynamic
	std::optional<uint8_t> on_peer_loss;	// enum dtrbd_on_peer_loss; unset: continue
	std::optional<uint32_t> ko_count;	// unset: the module's default
};

// DTRBD_CMD_SET_OPTIONS: at least one field set.
struct SetOptionsRequest {
	uint32_t minor = 0;
	std::optional<uint32_t> resync_rate_kib;	// 0 = dynamic
	std::optional<uint8_t> on_peer_loss;		// enum dtrbd_on_peer_loss
	std::optional<uint32_t> ko_count;		// request timeout, in peer timeouts
};

// Every Status returned here already carries the sentence dtrbdctl prints
// (the kernel's extack message when it gave one); errnum() is the errno.
class Kernel {
public:
	virtual ~Kernel() = default;

	virtual Status attach(const AttachRequest &req) = 0;
	virtual Status detach(uint32_t minor) = 0;
	virtual Status connect(const ConnectRequest &req) = 0;
	virtual Status disconnect(uint32_t minor) = 0;
	virtual Status primary(uint32_t minor, bool force) = 0;
	virtual Status secondary(uint32_t minor) = 0;
	// Start an online verify (returns at once; see DTRBD_CMD_VERIFY).
	virtual Status verify(uint32_t minor, bool repair) = 0;
	// Full resync from the peer (ours is bad) / to the peer (its is bad).
	virtual Status invalidate(uint32_t minor) = 0;
	virtual Status invalidate_remote(uint32_t minor) = 0;
	virtual Status new_current_uuid(uint32_t minor, bool clear_bitmap) = 0;
	// Tunables of a running device.
	virtual Status set_options(const SetOptionsRequest &req) = 0;
	// A frozen device goes on alone / fails its waiting writes with EIO.
	virtual Status resume_io(uint32_t minor) = 0;
	virtual Status fail_io(uint32_t minor) = 0;
	virtual Result<DeviceStatus> get(uint32_t minor) = 0;
	virtual Result<std::vector<DeviceStatus>> dump() = 0;

	// Join the "events" multicast group; events sent from then on are
	// queued until read with next_event().
	virtual Status subscribe() = 0;
	// The next event, or nullopt when none arrived within @timeout (or a
	// signal interrupted the wait).
	virtual Result<std::optional<Event>> next_event(
		std::chrono::milliseconds timeout) = 0;
	// The descriptor that becomes readable when events arrive (after
	// subscribe()), for an event loop that then drains next_event(0);
	// -1 when there is none.
	virtual int event_fd() const { return -1; }
};

} // namespace dtrbd
