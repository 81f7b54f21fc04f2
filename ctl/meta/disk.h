// SPDX-License-Identifier: GPL-2.0
// Backing devices: open them, size them, read and create their metadata,
// internal (at the end of the data device) or external (on a device of its
// own, given with --meta).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
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

enum class Access {
	kRead,		// O_RDONLY
	kReadExclusive,	// O_RDONLY, and O_EXCL for a block device: not in use
	kWrite,		// O_RDWR, and O_EXCL for a block device
};

// Open a block device or a regular file and size it (BLKGETSIZE64 or
// fstat). Errors are sentences naming @path.
Result<Backing> open_backing(const std::string &path, Access access);

// The valid superblock for data device @disk: at its end, or with @meta at
// byte 0 of @meta (and then laid out for the size of @disk). Otherwise the
// sentence explaining why there is none ("PATH has no dtrbd metadata;
// create it with: ...").
Result<MdSuper> read_metadata(const std::string &disk,
			      const std::optional<std::string> &meta = std::nullopt);

struct CreatedMd {
	MdLayout layout;
	MdSuper super;
};

// create-md: write a fresh superblock (state Inconsistent, new random
// device uuid) and zero the bitmap and activity log, at the end of @disk
// or, with @meta, from byte 0 of @meta (then @disk is only opened
// exclusively to be sized, never written). Refuses to overwrite valid
// metadata, or metadata of another version, unless @force.
//
// With @identical_uuid (provision, after zeroing the whole volume on both
// hosts): the superblock says Consistent and last UpToDate, with that
// current uuid, so that the device attaches UpToDate and two such halves
// connect with nothing to sync. Only for data known to be identical on
// every host of the resource.
Result<CreatedMd> create_metadata(const std::string &disk, bool force,
				  const std::optional<std::string> &meta = std::nullopt,
				  std::optional<uint64_t> identical_uuid = std::nullopt);

// Writes zeros over the first @bytes of @path (a block device: BLKZEROOUT,
// which the device may do without transferring data; a regular file:
// fallocate's zero range or written zeros), in chunks, then flushes.
// @progress, when set, is called with the bytes done after each chunk.
Status zero_device(const std::string &path, uint64_t bytes,
		   const std::function<void(uint64_t)> &progress = {});

} // namespace dtrbd
