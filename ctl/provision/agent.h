// SPDX-License-Identifier: GPL-2.0
// One host's half of provision and deprovision: the steps either host
// carries out on itself, as JSON requests, so that the same code runs for
// this host (LocalHalf in provision.h) and, through the peer control
// channel, for the other (dtrbdctl peer-exec). Each request names one step;
// each answer is {"ok":true,...} or {"ok":false,"error":SENTENCE}. Every
// step is idempotent where a rollback needs it to be (removing what is not
// there is no error) and never removes what provision did not create.
//
//   provision-check  {name, vg, bytes, minor[, config_sha256][, domain]}
//                    -> {config_sha256, extent_size, vg_free}
//   volume-create    {name, vg, bytes, uuid}     -> {disk}
//   volume-remove    {name, vg}
//   config-write     {expect_sha256, text}
//   domain-write     {name, xml}                 -> {path}
//   domain-remove    {name}
//   deprovision-check {name[, config_sha256]}    -> {config_sha256, role}
//   device-release   {minor}
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "netlink/kernel.h"
#include "provision/lvm.h"

namespace dtrbd::provision {

inline constexpr const char *kDomainsDir = "/etc/dtrbd/domains";

struct Agent {
	std::string self;			// this host's [hosts.NAME]
	std::string config_path;
	std::string domains_dir = kDomainsDir;
	Lvm *lvm = nullptr;
	// The device node of a logical volume (tests: a regular file).
	std::function<std::string(const std::string &vg, const std::string &lv)> lv_path =
		&Lvm::lv_path;
	std::function<Result<std::unique_ptr<Kernel>>()> open_kernel;
	// Zeroing progress, bytes done of bytes (for a terminal); may be empty.
	std::function<void(uint64_t done, uint64_t total)> progress;
};

// Carries out @req on this host. Never throws.
nlohmann::json agent_execute(const Agent &a, const nlohmann::json &req);

// The domain XML file provision writes for resource @name.
std::string domain_xml_path(const std::string &domains_dir, const std::string &name);

} // namespace dtrbd::provision
