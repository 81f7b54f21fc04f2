// SPDX-License-Identifier: GPL-2.0
// dtrbdctl provision, deprovision and peer-exec, on already parsed options.
#pragma once

#include <istream>
#include <optional>
#include <string>

#include "cli/cli.h"
#include "provision/lvm.h"

namespace dtrbd {

struct ProvisionCli {
	std::string config_path, socket;
	std::optional<std::string> host;	// --host: which host this is
	std::string name, size, vg;
	std::optional<std::string> preferred, domain_xml;
	bool keep_volumes = false;
	std::string reason;			// leaving --reason
	bool json = false;
	provision::Lvm *lvm = nullptr;		// tests; default: the lvm command
};

Status cmd_provision(const ProvisionCli &o, Env &env);

// The zeroing progress of this host's volume (provision/agent.h progress),
// redrawn on one line of @err (a terminal): "\r  zeroing the volume on
// HOST: 45% (30 of 68 MiB)", a newline once done. Each percent once.
std::function<void(uint64_t done, uint64_t total)> zeroing_progress(std::ostream &err,
								     const std::string &host);
Status cmd_deprovision(const ProvisionCli &o, Env &env);

// dtrbdctl leaving: tells the other host's dtrbdd (peer control channel,
// "host-leaving") that this host goes down now, naming the resources that
// are still Primary here or whose domain still runs here (asked of this
// host's dtrbdd at o.socket; every resource of this host when it does not
// answer).
Status cmd_leaving(const ProvisionCli &o, Env &env);

// The peer's half: one agent request (provision/agent.h) read from @in,
// its answer printed to env.out as one JSON line. @from: the asking host.
Status cmd_peer_exec(const ProvisionCli &o, const std::string &from, std::istream &in, Env &env);

} // namespace dtrbd
