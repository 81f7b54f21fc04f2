// SPDX-License-Identifier: GPL-2.0
// The logic of each dtrbdctl subcommand, on already validated arguments.
// Each returns a Status whose message is the one sentence printed on
// failure; successes write to @out.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "conn/endpoint.h"
#include "netlink/kernel.h"

namespace dtrbd {

struct ConnectOptions {
	uint32_t minor = 0;
	Endpoint local, peer;
	uint8_t protocol = 0;		// enum dtrbd_protocol
	unsigned timeout_s = 30;
	uint32_t ping_ms = 0, peer_timeout_ms = 0;
	std::string node_name;		// ours, sent in the hello
};

Status cmd_create_md(const std::string &disk, bool force, std::ostream &out);
Status cmd_attach(Kernel &k, uint32_t minor, const std::string &disk,
		  std::ostream &out);
Status cmd_connect(Kernel &k, const ConnectOptions &o, std::ostream &out);
Status cmd_primary(Kernel &k, uint32_t minor, bool force, std::ostream &out);
Status cmd_secondary(Kernel &k, uint32_t minor, std::ostream &out);
Status cmd_disconnect(Kernel &k, uint32_t minor, std::ostream &out);
Status cmd_detach(Kernel &k, uint32_t minor, std::ostream &out);
Status cmd_status(Kernel &k, std::optional<uint32_t> minor, bool json,
		  std::ostream &out);
// Streams events until @stop returns true (checked at least every 250 ms).
Status cmd_events(Kernel &k, bool json, std::ostream &out,
		  const std::function<bool()> &stop);

} // namespace dtrbd
