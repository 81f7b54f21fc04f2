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
	bool json = false;
	provision::Lvm *lvm = nullptr;		// tests; default: the lvm command
};

Status cmd_provision(const ProvisionCli &o, Env &env);
Status cmd_deprovision(const ProvisionCli &o, Env &env);

// The peer's half: one agent request (provision/agent.h) read from @in,
// its answer printed to env.out as one JSON line. @from: the asking host.
Status cmd_peer_exec(const ProvisionCli &o, const std::string &from, std::istream &in, Env &env);

} // namespace dtrbd
