// SPDX-License-Identifier: GPL-2.0
// The few cryptographic primitives dtrbd needs, over OpenSSL's libcrypto:
// HMAC-SHA256 (peer authentication, heartbeats, the witness), a constant-
// time digest comparison, random bytes for nonces, and the one way to read
// the cluster's shared secret file. No exception leaves this module.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace dtrbd::crypto {

using Digest = std::array<uint8_t, 32>;		// HMAC-SHA256

// The smallest secret read_secret_file accepts, in bytes.
inline constexpr size_t kMinSecretBytes = 16;

// HMAC-SHA256(key, data) (RFC 2104 with SHA-256). Any key length, including
// zero, is accepted as HMAC defines it.
Digest hmac_sha256(std::span<const uint8_t> key, std::span<const uint8_t> data);

// SHA-256 of @data as 64 lowercase hex digits (the fingerprint of a file
// both hosts must have the same).
std::string sha256_hex(std::string_view data);

// a == b, in time independent of where they differ.
bool digest_equal(const Digest &a, const Digest &b);

// Fills @out from the kernel's CSPRNG (getrandom(2)); fails only when the
// kernel cannot deliver (one sentence).
Status random_bytes(std::span<uint8_t> out);

// Reads a shared secret file. Refuses, with one sentence naming the path and
// the fix: a missing or unreadable file, an empty one, one shorter than
// kMinSecretBytes, one that is not a regular file, or one readable or
// writable by group or other ("chmod 600 PATH"). One trailing newline
// ("\n" or "\r\n") is stripped before the length check, so a secret written
// with `echo` works the same as one written with `head -c`.
Result<std::vector<uint8_t>> read_secret_file(const std::string &path);

} // namespace dtrbd::crypto
