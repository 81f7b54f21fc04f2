// SPDX-License-Identifier: GPL-2.0
#include "common/crypto.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "common/fd.h"
#include "common/log.h"

namespace dtrbd::crypto {

std::string sha256_hex(std::string_view data)
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	SHA256(reinterpret_cast<const unsigned char *>(data.data()), data.size(), md);
	static const char digits[] = "0123456789abcdef";
	std::string out;
	out.reserve(2 * sizeof(md));
	for (uint8_t b : md) {
		out += digits[b >> 4];
		out += digits[b & 15];
	}
	return out;
}

Digest hmac_sha256(std::span<const uint8_t> key, std::span<const uint8_t> data)
{
	Digest out{};
	unsigned int len = 0;
	// HMAC() with a NULL md buffer is not thread-safe in old OpenSSL; we
	// always pass our own. A null key pointer with length 0 is allowed by
	// OpenSSL 3 but not by 1.1, so point at a dummy byte.
	static const uint8_t empty = 0;
	const uint8_t *k = key.empty() ? &empty : key.data();
	const uint8_t *d = data.empty() ? &empty : data.data();
	if (!HMAC(EVP_sha256(), k, static_cast<int>(key.size()), d, data.size(),
		  out.data(), &len) || len != out.size()) {
		// Only an allocation failure inside libcrypto gets here. An all-
		// zero digest would match nothing a peer computes with a real
		// secret, but be explicit: make it unmatchable by chance too.
		out.fill(0);
	}
	return out;
}

bool digest_equal(const Digest &a, const Digest &b)
{
	return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Status random_bytes(std::span<uint8_t> out)
{
	size_t done = 0;
	while (done < out.size()) {
		ssize_t n = getrandom(out.data() + done, out.size() - done, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			return Status::error(str("cannot read random bytes from the kernel (", errno_text(e),
						 "); check that getrandom(2) works on this host"), e);
		}
		done += static_cast<size_t>(n);
	}
	return {};
}

Result<std::vector<uint8_t>> read_secret_file(const std::string &path)
{
	UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
	if (!fd.valid()) {
		int e = errno;
		if (e == ENOENT)
			return Status::error(str("the secret file ", path, " does not exist; create it with "
						 "'head -c 32 /dev/urandom | base64 > ", path, " && chmod 600 ", path,
						 "' and copy it to every host"), e);
		return Status::error(str("cannot read the secret file ", path, " (", errno_text(e),
					 "); make it readable by the user running dtrbd (root) with 'chmod 600 ",
					 path, "'"), e);
	}
	struct stat st;
	if (fstat(fd.get(), &st) != 0) {
		int e = errno;
		return Status::error(str("cannot inspect the secret file ", path, " (", errno_text(e),
					 "); check the path"), e);
	}
	if (!S_ISREG(st.st_mode))
		return Status::error(str("the secret file ", path, " is not a regular file; point "
					 "secret-file at a file holding the shared secret"));
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		return Status::error(str("the secret file ", path, " is accessible by group or others; "
					 "restrict it with 'chmod 600 ", path, "'"));
	// A secret is small; refuse something that is obviously not one before
	// reading it all into memory.
	constexpr off_t kMaxSecret = 64 * 1024;
	if (st.st_size > kMaxSecret)
		return Status::error(str("the secret file ", path, " is ", st.st_size,
					 " bytes, more than the 65536 a secret may have; point secret-file at "
					 "the right file"));

	std::vector<uint8_t> buf;
	uint8_t chunk[4096];
	for (;;) {
		ssize_t n = ::read(fd.get(), chunk, sizeof(chunk));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			return Status::error(str("cannot read the secret file ", path, " (", errno_text(e),
						 "); check the file and its disk"), e);
		}
		if (n == 0)
			break;
		buf.insert(buf.end(), chunk, chunk + n);
		if (buf.size() > static_cast<size_t>(kMaxSecret))
			return Status::error(str("the secret file ", path,
						 " grew past 65536 bytes while being read; point secret-file at the "
						 "right file"));
	}
	if (!buf.empty() && buf.back() == '\n') {
		buf.pop_back();
		if (!buf.empty() && buf.back() == '\r')
			buf.pop_back();
	}
	if (buf.empty())
		return Status::error(str("the secret file ", path, " is empty; write a secret of at least ",
					 kMinSecretBytes, " bytes into it, e.g. 'head -c 32 /dev/urandom | base64 > ",
					 path, "'"));
	if (buf.size() < kMinSecretBytes)
		return Status::error(str("the secret file ", path, " holds ", buf.size(),
					 " bytes, fewer than the ", kMinSecretBytes,
					 " a secret needs; write a longer one, e.g. 'head -c 32 /dev/urandom | base64 > ",
					 path, "'"));
	return buf;
}

} // namespace dtrbd::crypto
