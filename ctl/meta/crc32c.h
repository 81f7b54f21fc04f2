// SPDX-License-Identifier: GPL-2.0
// CRC32C (Castagnoli, reflected polynomial 0x82F63B78), table driven.
#pragma once

#include <cstddef>
#include <cstdint>

namespace dtrbd {

// The raw register update, as the kernel's crc32c(seed, p, len): no
// pre- or post-inversion. The dtrbd superblock uses
// crc32c_raw(0xFFFFFFFF, ...) with no final xor; the standard CRC32C check
// value is ~crc32c_raw(0xFFFFFFFF, "123456789", 9) == 0xE3069283.
uint32_t crc32c_raw(uint32_t crc, const void *data, size_t len);

} // namespace dtrbd
