// SPDX-License-Identifier: GPL-2.0
// Small text helpers and diagnostics. Debug lines go to stderr only with
// --verbose, so the one-sentence error contract of dtrbdctl is never
// disturbed.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace dtrbd {

// str("minor ", 3, " is out of range") -> "minor 3 is out of range"
template <typename... Args>
std::string str(const Args &...args)
{
	std::ostringstream os;
	(os << ... << args);
	return os.str();
}

namespace log {

void set_verbose(bool on);
bool verbose();
void write(std::string_view line);	// "dtrbdctl: debug: LINE\n" on stderr

template <typename... Args>
void debug(const Args &...args)
{
	if (verbose())
		write(str(args...));
}

} // namespace log
} // namespace dtrbd
