// SPDX-License-Identifier: GPL-2.0
#include "provision/size.h"

#include <cctype>
#include <cstdio>
#include <limits>
#include <string>

#include "common/log.h"

namespace dtrbd::provision {

namespace {

constexpr const char *kForms = "a whole number of bytes or one with a binary suffix "
			       "K, M, G, T or P, optionally with iB (10G, 512M, 10GiB)";

Status bad(std::string_view text, std::string_view why)
{
	return Status::error(str("invalid size '", text, "': ", why, "; give ", kForms));
}

bool iequals(std::string_view a, std::string_view b)
{
	if (a.size() != b.size())
		return false;
	for (size_t i = 0; i < a.size(); i++)
		if (std::tolower(static_cast<unsigned char>(a[i])) !=
		    std::tolower(static_cast<unsigned char>(b[i])))
			return false;
	return true;
}

} // namespace

Result<uint64_t> parse_size(std::string_view text)
{
	if (text.empty())
		return bad(text, "it is empty");
	size_t i = 0;
	uint64_t n = 0;
	for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); i++) {
		uint64_t d = static_cast<uint64_t>(text[i] - '0');
		if (n > (std::numeric_limits<uint64_t>::max() - d) / 10)
			return bad(text, "it does not fit in 64 bits");
		n = n * 10 + d;
	}
	if (i == 0) {
		if (text[0] == '-')
			return bad(text, "a size cannot be negative");
		return bad(text, "it does not start with a number");
	}
	std::string_view suffix = text.substr(i);
	unsigned shift = 0;
	if (!suffix.empty() && suffix[0] == '.')
		return bad(text, "fractions are not accepted (write 1536M for 1.5G)");
	if (!suffix.empty()) {
		static constexpr struct {
			char c;
			unsigned shift;
		} units[] = {{'b', 0}, {'k', 10}, {'m', 20}, {'g', 30}, {'t', 40}, {'p', 50}};
		char c = static_cast<char>(std::tolower(static_cast<unsigned char>(suffix[0])));
		bool known = false;
		for (const auto &u : units)
			if (u.c == c) {
				shift = u.shift;
				known = true;
			}
		std::string_view rest = suffix.substr(1);
		// "KiB" but not "KB": whether that means 1000 or 1024 depends
		// on whom one asks, and a volume's size must not.
		if (!known || !(rest.empty() || (c != 'b' && iequals(rest, "ib"))))
			return bad(text, str("'", suffix, "' is not a unit"));
	}
	if (shift && n > (std::numeric_limits<uint64_t>::max() >> shift))
		return bad(text, "it does not fit in 64 bits");
	uint64_t bytes = n << shift;
	if (bytes == 0)
		return bad(text, "a volume must have a size");
	if (bytes < (1u << 20))
		return bad(text, "the smallest volume is 1M (the metadata alone takes part of it)");
	if (bytes % kSizeGranule)
		return bad(text, str("it is not a whole number of 4 KiB blocks (", bytes,
				     " bytes); round it to a multiple of 4K"));
	return bytes;
}

std::string human_size(uint64_t bytes)
{
	static constexpr const char *names[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
	unsigned u = 0;
	double v = static_cast<double>(bytes);
	while (u + 1 < std::size(names) && v >= 1024.0) {
		v /= 1024.0;
		u++;
	}
	char buf[32];
	if (u == 0 || v == static_cast<double>(static_cast<uint64_t>(v)))
		std::snprintf(buf, sizeof(buf), "%llu %s",
			      static_cast<unsigned long long>(v), names[u]);
	else
		std::snprintf(buf, sizeof(buf), "%.1f %s", v, names[u]);
	return buf;
}

} // namespace dtrbd::provision
