// SPDX-License-Identifier: GPL-2.0
// Decoding of GET_DEVICE replies and EVENT notifications. Bounded and
// tolerant: attributes that are missing, too short or unknown to this
// program are left out, never misread.
#pragma once

#include <netlink/attr.h>

#include "netlink/kernel.h"

namespace dtrbd::nl {

DeviceStatus parse_status(const nlattr *head, int len);
Event parse_event(const nlattr *head, int len);

} // namespace dtrbd::nl
