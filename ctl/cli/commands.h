// SPDX-License-Identifier: GPL-2.0
// The logic of each dtrbdctl subcommand, on already validated arguments.
// Each returns a Status whose message is the one sentence printed on
// failure; successes write to @out.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>
#include <ostream>
#include <string>

#include "conn/endpoint.h"
#include "conn/establish.h"
#include "netlink/kernel.h"

namespace dtrbd {

struct ConnectOptions {
	uint32_t minor = 0;
	Endpoint local, peer;
	uint8_t protocol = 0;		// enum dtrbd_protocol
	unsigned timeout_s = 30;
	uint32_t ping_ms = 0, peer_timeout_ms = 0;
	std::string node_name;		// ours, sent in the hello
	bool discard_my_data = false;
	bool csum_resync = false;
	std::optional<uint8_t> after_sb;	// enum dtrbd_after_sb
	std::optional<uint32_t> resync_rate_kib;	// 0: dynamic
	// --secret-file's content: the peer must prove it knows it (conn/auth.h).
	std::optional<std::vector<uint8_t>> secret;
	std::optional<uint8_t> on_peer_loss;		// enum dtrbd_on_peer_loss
	std::optional<uint32_t> ko_count;		// unset: the module's default
};

struct AttachOptions {
	uint32_t minor = 0;
	std::string disk;
	std::optional<std::string> meta;	// external metadata device
	std::optional<uint32_t> al_extents;
	std::optional<std::string> name;	// resource name (dtrbd_res_name_ok)
};

struct VerifyOptions {
	uint32_t minor = 0;
	bool repair = false;
	bool json = false;
	unsigned timeout_s = 0;		// 0: wait as long as it runs
};

// How a command that waits sees time, interruption and the terminal.
struct Waiting {
	std::function<std::chrono::steady_clock::time_point()> now = [] { return std::chrono::steady_clock::now(); };
	std::function<bool()> stop = [] { return false; };
	std::ostream *progress = nullptr;	// a terminal: one-line progress
};

Status cmd_create_md(const std::string &disk, const std::optional<std::string> &meta,
		     bool force, std::ostream &out);
Status cmd_attach(Kernel &k, const AttachOptions &o, std::ostream &out);
Status cmd_connect(Kernel &k, const ConnectOptions &o, std::ostream &out);
Status cmd_primary(Kernel &k, uint32_t minor, bool force, std::ostream &out);
Status cmd_secondary(Kernel &k, uint32_t minor, std::ostream &out);
Status cmd_disconnect(Kernel &k, uint32_t minor, std::ostream &out);
Status cmd_detach(Kernel &k, uint32_t minor, std::ostream &out);
Status cmd_status(Kernel &k, std::optional<uint32_t> minor, bool json,
		  std::ostream &out);
// Starts an online verify and waits for its result (and, with repair, for
// the resync of what differed). Differing blocks are a result, not an error.
Status cmd_verify(Kernel &k, const VerifyOptions &o, const Waiting &w,
		  std::ostream &out);
Status cmd_invalidate(Kernel &k, uint32_t minor, std::ostream &out);
Status cmd_invalidate_remote(Kernel &k, uint32_t minor, std::ostream &out);
Status cmd_new_current_uuid(Kernel &k, uint32_t minor, bool clear_bitmap,
			    std::ostream &out);
Status cmd_set_options(Kernel &k, const SetOptionsRequest &req, std::ostream &out);
Status cmd_resume_io(Kernel &k, uint32_t minor, std::ostream &out);
Status cmd_fail_io(Kernel &k, uint32_t minor, std::ostream &out);
// Streams events until @stop returns true (checked at least every 250 ms).
Status cmd_events(Kernel &k, bool json, std::ostream &out,
		  const std::function<bool()> &stop);

} // namespace dtrbd
