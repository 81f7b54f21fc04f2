// SPDX-License-Identifier: GPL-2.0
// Sizes as an operator types them for dtrbdctl provision --size.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace dtrbd::provision {

// Volumes are made in whole 4 KiB blocks (the bitmap's granule).
inline constexpr uint64_t kSizeGranule = 4096;

// "10G", "512M", "1T", "4096K", "1073741824", "10GiB", "10g": a whole
// number, optionally followed by one binary suffix (K, M, G, T, P, with or
// without "iB", any case; no suffix means bytes). The result must be at
// least 1 MiB and a multiple of 4 KiB. One sentence per kind of mistake,
// naming the input and the accepted forms.
Result<uint64_t> parse_size(std::string_view text);

// 10737418240 -> "10 GiB", 1536 MiB -> "1.5 GiB": for messages.
std::string human_size(uint64_t bytes);

} // namespace dtrbd::provision
