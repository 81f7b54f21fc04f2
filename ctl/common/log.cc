// SPDX-License-Identifier: GPL-2.0
#include "common/log.h"

#include <atomic>
#include <cstring>
#include <iostream>

#include "common/status.h"

namespace dtrbd {

namespace {
std::atomic<bool> g_verbose{false};
}

void log::set_verbose(bool on) { g_verbose = on; }
bool log::verbose() { return g_verbose; }

void log::write(std::string_view line)
{
	std::cerr << "dtrbdctl: debug: " << line << '\n';
}

std::string errno_text(int errnum)
{
	char buf[128];
	// GNU strerror_r returns the message, possibly not in buf.
	std::string s = strerror_r(errnum, buf, sizeof(buf));
	if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z' &&
	    !(s.size() > 1 && s[1] >= 'A' && s[1] <= 'Z'))
		s[0] = static_cast<char>(s[0] - 'A' + 'a');
	return s;
}

} // namespace dtrbd
