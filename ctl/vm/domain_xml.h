// SPDX-License-Identifier: GPL-2.0
// The few facts dtrbdd needs from a libvirt domain XML before it defines the
// domain: its <name> and the devices of its <disk type='block'> elements.
// The XML is parsed with libxml2 (no network, no DTD, no entity expansion);
// anything malformed is refused with a sentence.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace dtrbd::vm {

struct DomainXmlFacts {
	std::string type;			// <domain type='...'>
	std::string name;			// /domain/name, trimmed
	std::vector<std::string> block_devices;	// /domain/devices/disk[@type='block']/source/@dev
};

Result<DomainXmlFacts> scan_domain_xml(std::string_view xml);

// Checks that @facts names @name and uses @device (or a symbolic link to
// it) as a block disk; the
// refusal says which and what to change. @what names the XML ("/etc/dtrbd/vm1.xml").
Status check_domain_xml(const DomainXmlFacts &facts, const std::string &what,
			const std::string &name, const std::string &device);

} // namespace dtrbd::vm
