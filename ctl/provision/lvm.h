// SPDX-License-Identifier: GPL-2.0
// Logical volumes for dtrbdctl provision, through the lvm command
// (Documentation/provisioning.md says why not a library). Lvm is the seam
// the provisioning steps use; LvmCommand is the real one, which runs
// `lvm` through a CommandRunner, so that its parsing and its sentences are
// tested against lvm's real output formats.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "provision/command.h"

namespace dtrbd::provision {

struct VgInfo {
	std::string name;
	uint64_t size = 0, free = 0, extent_size = 0;	// bytes
};

struct LvInfo {
	std::string name;
	uint64_t size = 0;	// bytes
	std::vector<std::string> tags;
	bool has_tag(const std::string &t) const;
};

// The tag provision puts on the volumes it creates; deprovision and a
// rollback remove only volumes that carry it.
inline constexpr const char *kProvisionedTag = "dtrbd-provisioned";

class Lvm {
public:
	virtual ~Lvm() = default;
	virtual Result<VgInfo> vg_info(const std::string &vg) = 0;
	virtual Result<std::vector<LvInfo>> lvs(const std::string &vg) = 0;
	// Exactly @bytes (a multiple of the extent size), signatures wiped and
	// the first 4 KiB zeroed by lvm; tagged @tag when not empty.
	virtual Status lv_create(const std::string &vg, const std::string &lv, uint64_t bytes,
				 const std::string &tag = {}) = 0;
	virtual Status lv_remove(const std::string &vg, const std::string &lv) = 0;
	static std::string lv_path(const std::string &vg, const std::string &lv)
	{
		return "/dev/" + vg + "/" + lv;
	}
};

class LvmCommand : public Lvm {
public:
	// @runner: SpawnRunner with LVM_SUPPRESS_FD_WARNINGS=1 unless given.
	explicit LvmCommand(std::unique_ptr<CommandRunner> runner = nullptr,
			    std::chrono::milliseconds limit = std::chrono::seconds(120));
	Result<VgInfo> vg_info(const std::string &vg) override;
	Result<std::vector<LvInfo>> lvs(const std::string &vg) override;
	Status lv_create(const std::string &vg, const std::string &lv, uint64_t bytes,
			 const std::string &tag = {}) override;
	Status lv_remove(const std::string &vg, const std::string &lv) override;

private:
	Result<CommandOutput> lvm(std::vector<std::string> args);
	// `lvm CMD --reportformat json ... -o FIELDS VG`: its stdout, or the
	// sentence (an unknown group has its own).
	Result<std::string> report(const char *cmd, const char *fields, const std::string &vg);
	std::unique_ptr<CommandRunner> runner_;
	std::chrono::milliseconds limit_;
};

// The parsers, public for the tests: `lvm vgs/lvs --reportformat json
// --units b --nosuffix` output.
Result<VgInfo> parse_vgs_json(const std::string &out, const std::string &vg);
Result<std::vector<LvInfo>> parse_lvs_json(const std::string &out, const std::string &vg);

// The first line of lvm's stderr that says what went wrong, trimmed
// (lvm indents its messages and may print warnings first).
std::string lvm_reason(const std::string &err);

} // namespace dtrbd::provision
