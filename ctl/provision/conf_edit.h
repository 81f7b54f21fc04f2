// SPDX-License-Identifier: GPL-2.0
// Editing /etc/dtrbd/dtrbd.conf as text, for provision and deprovision: a
// resource's table is appended or removed and every other byte of the
// file (comments, order, spacing) stays as the operator wrote it. Both
// functions validate the result with the configuration's own loader, so
// they never yield a file dtrbdd would refuse.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace dtrbd::provision {

struct ResourceSpec {
	std::string name;
	uint32_t minor = 0;
	uint16_t port = 0;
	std::map<std::string, std::string> disk;	// host -> backing device
	std::optional<std::string> preferred;
	std::string domain, domain_xml;			// empty: left out
	std::string comment;				// one line above the table; empty: none
};

// @text with a [resources.NAME] table for @spec appended. Refused, with a
// sentence and nothing changed, when @text has mistakes already, or NAME,
// the minor or the port is taken, or the result would not load (the
// loader's own sentence, e.g. an unknown preferred host).
Result<std::string> add_resource_block(std::string_view text, const std::string &path,
				       const ResourceSpec &spec);

// @text without the table of resource @name: its [resources.NAME] header
// (and [resources.NAME.*] sub-tables) down to the next other table, plus
// the comment lines directly above the header (no blank line between),
// which describe it. Refused when there is no such resource, or it is not
// written as such a table (then it must be removed by hand).
Result<std::string> remove_resource_block(std::string_view text, const std::string &path,
					  std::string_view name);

// The lowest minor not in use, and the port after the highest one in use
// (7700 + minor when there is none), for a new resource of @text.
struct FreeSlot {
	uint32_t minor = 0;
	uint16_t port = 0;
};
Result<FreeSlot> next_free_slot(std::string_view text, const std::string &path);

} // namespace dtrbd::provision
