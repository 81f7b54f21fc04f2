// SPDX-License-Identifier: GPL-2.0
// dtrbdctl udev-attach: what the appearance of a block device means for
// this host's resources (udev/61-dtrbd-backing.rules runs it for every
// block device that appears or changes).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include "cli/cluster.h"
#include "common/status.h"
#include "config/config.h"
#include "netlink/kernel.h"

namespace dtrbd {

// The resource of @c whose backing device on @host is @devnode: the same
// block device (same device number) or, for regular files (tests), the
// same file, whatever symlinks either path goes through. nullopt when none
// is; a configured disk that does not exist (yet) matches nothing.
const config::Resource *backing_resource(const config::Config &c, std::string_view host,
					 const std::string &devnode);

struct UdevAttach {
	std::string devnode;
	std::string config_path;
	std::optional<std::string> host;	// --host; default: by hostname
	std::string socket;			// dtrbdd's control socket
	bool read_secret = true;		// false in tests without a secret
};

// A device that is no resource's backing disk here: nothing, exit 0 (so
// udev stays quiet). The backing disk of a resource: with dtrbdd running,
// asks it to attach now ("disk-appeared"; it never brings up a resource
// taken down on purpose); without it, attaches the device itself, as
// dtrbdd would (minor, name, metadata from dtrbd.conf). A device that is
// attached already, over this disk, is left as it is: a second trigger
// changes nothing.
Status cmd_udev_attach(const UdevAttach &o, const AskDaemon &ask,
		       const std::function<Result<std::unique_ptr<Kernel>>()> &open_kernel,
		       std::ostream &out);

} // namespace dtrbd
