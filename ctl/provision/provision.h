// SPDX-License-Identifier: GPL-2.0
// dtrbdctl provision and deprovision: the order of the steps on the two
// hosts and the rollback of a partial run (Documentation/provisioning.md).
// The steps themselves are agent requests (provision/agent.h) sent to a
// Half: this host (LocalHalf: carried out in this process) or the other
// one (PeerHalf: over the peer control channel, carried out by its dtrbdd's
// dtrbdctl peer-exec). The unit tests drive provision() with fake halves
// that fail at every step in turn and check what is left behind.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "config/config.h"
#include "provision/agent.h"

namespace dtrbd::provision {

class Half {
public:
	virtual ~Half() = default;
	virtual const std::string &host() const = 0;
	// One agent request; an answer that is not ok is the Status.
	virtual Result<nlohmann::json> call(const nlohmann::json &req,
					    std::chrono::milliseconds timeout) = 0;
	// Ask this host's dtrbdd to read the configuration again.
	virtual Status reload() = 0;
};

// This host: agent_execute in this process; reload through dtrbdd's
// control socket.
class LocalHalf : public Half {
public:
	using AskDaemon = std::function<Result<nlohmann::json>(const std::string &socket,
								 const nlohmann::json &req)>;
	LocalHalf(Agent agent, AskDaemon ask, std::string socket)
		: agent_(std::move(agent)), ask_(std::move(ask)), socket_(std::move(socket)) {}
	const std::string &host() const override { return agent_.self; }
	Result<nlohmann::json> call(const nlohmann::json &req, std::chrono::milliseconds) override;
	Status reload() override;

private:
	Agent agent_;
	AskDaemon ask_;
	std::string socket_;
};

// The other host, through its dtrbdd (peer/peer_client.h).
class PeerHalf : public Half {
public:
	PeerHalf(const config::Config &cfg, std::string self, std::string peer)
		: cfg_(cfg), self_(std::move(self)), peer_(std::move(peer)) {}
	const std::string &host() const override { return peer_; }
	Result<nlohmann::json> call(const nlohmann::json &req, std::chrono::milliseconds timeout) override;
	Status reload() override;

private:
	const config::Config &cfg_;
	std::string self_, peer_;
};

struct ProvisionOptions {
	std::string name;
	uint64_t size = 0;			// bytes the device must offer at least
	std::string vg;				// the same volume group name on both hosts
	std::optional<std::string> preferred;	// default: this host
	std::optional<std::string> domain_xml;	// the XML's text
	std::string domain_xml_source;		// where it was read from (messages)
};

struct Step {
	std::string what, host;
	bool ok = true;
	std::string message;
};

struct Report {
	std::vector<Step> steps;		// in the order they ran (rollback too)
	std::string summary;			// one sentence on success
	uint32_t minor = 0;
	uint16_t port = 0;
	uint64_t volume_bytes = 0;
	std::vector<std::string> warnings;	// after the point of no return
	nlohmann::json to_json() const;
};

using Say = std::function<void(const std::string &)>;

// Provision resource opt.name on both hosts of @cfg (read from its file,
// whose text is @config_text). On failure the Status names the failed step
// and host and what the rollback did; @report lists every step.
Status provision(const config::Config &cfg, const std::string &config_text,
		 const ProvisionOptions &opt, Half &local, Half &remote, Report &report,
		 const Say &say = {});

struct DeprovisionOptions {
	std::string name;
	bool keep_volumes = false;
	std::string vg;				// empty: the one of the disk path /dev/VG/NAME
};

Status deprovision(const config::Config &cfg, const std::string &config_text,
		   const DeprovisionOptions &opt, Half &local, Half &remote, Report &report,
		   const Say &say = {});

// The logical volume size for a device of at least @size bytes with
// internal metadata, a multiple of @extent: at least @size + metadata.
uint64_t volume_size_for(uint64_t size, uint64_t extent);

} // namespace dtrbd::provision
