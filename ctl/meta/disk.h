// SPDX-License-Identifier: GPL-2.0
// Backing devices: open them, size them, read and create their metadata.
#pragma once

#include <string>

#include "common/fd.h"
#include "common/status.h"
#include "meta/superblock.h"

namespace dtrbd {

struct Backing {
	UniqueFd fd;
	uint64_t size = 0;
	bool is_block = false;
};

// Open a block device (O_EXCL when @write) or a regular file and size it
// (BLKGETSIZE64 or fstat). Errors are sentences naming @path.
Result<Backing> open_backing(const std::string &path, bool write);

// The valid superblock of @path, or the sentence explaining why there is
// none ("PATH has no dtrbd metadata; create it with: ...").
Result<MdSuper> read_metadata(const std::string &path);

struct CreatedMd {
	MdLayout layout;
	MdSuper super;
};

// create-md: write a fresh superblock (state Inconsistent, new random
// device uuid) and zero the bitmap and activity log. Refuses to overwrite
// valid metadata unless @force.
Result<CreatedMd> create_metadata(const std::string &path, bool force);

} // namespace dtrbd
