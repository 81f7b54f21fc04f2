// SPDX-License-Identifier: GPL-2.0
// Whole files: read one, or replace one atomically (a temporary file in the
// same directory, renamed over it), so that a reader sees the old content
// or the new one and never a part. With kDurable the new content and the
// rename are on disk before the call returns (the file and its directory
// are fsynced): dtrbd.conf after provision, where a crash must not leave an
// empty file behind.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "common/status.h"

namespace dtrbd {

enum class Durability { kVolatile, kDurable };

// @hint ends the sentence when the temporary file cannot be created
// ("create the directory or fix ..."); empty: none.
Status write_atomically(const std::string &path, std::string_view text, mode_t mode = 0644,
			Durability d = Durability::kVolatile, std::string_view hint = {});

// The whole of @path (at most @limit bytes, else refused), or the sentence.
Result<std::string> read_whole_file(const std::string &path, size_t limit = 16u << 20);

} // namespace dtrbd
