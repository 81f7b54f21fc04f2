// SPDX-License-Identifier: GPL-2.0
// crypto: RFC 4231 HMAC-SHA256 vectors, digest comparison, random bytes and
// every refusal of read_secret_file.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "common/crypto.h"
#include "tmpdir.h"

using namespace dtrbd;

namespace {

std::vector<uint8_t> bytes(const std::string &s) { return {s.begin(), s.end()}; }
std::vector<uint8_t> repeat(uint8_t b, size_t n) { return std::vector<uint8_t>(n, b); }

std::string hex(std::span<const uint8_t> d)
{
	static const char *x = "0123456789abcdef";
	std::string s;
	for (uint8_t b : d) {
		s += x[b >> 4];
		s += x[b & 15];
	}
	return s;
}

std::string write_file(const test::TmpDir &dir, const std::string &name, const std::string &content,
		       mode_t mode)
{
	std::string p = dir.path() + "/" + name;
	int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	REQUIRE(fd >= 0);
	REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
	::close(fd);
	REQUIRE(::chmod(p.c_str(), mode) == 0);
	return p;
}

} // namespace

TEST_CASE("hmac_sha256 matches the RFC 4231 test vectors", "[crypto]")
{
	using crypto::hmac_sha256;
	// Test case 1
	CHECK(hex(hmac_sha256(repeat(0x0b, 20), bytes("Hi There"))) ==
	      "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	// Test case 2: a key shorter than the output
	CHECK(hex(hmac_sha256(bytes("Jefe"), bytes("what do ya want for nothing?"))) ==
	      "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	// Test case 3
	CHECK(hex(hmac_sha256(repeat(0xaa, 20), repeat(0xdd, 50))) ==
	      "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
	// Test case 4
	std::vector<uint8_t> k4;
	for (uint8_t i = 1; i <= 25; i++)
		k4.push_back(i);
	CHECK(hex(hmac_sha256(k4, repeat(0xcd, 50))) ==
	      "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
	// Test case 5: truncation to 128 bits
	auto d5 = hmac_sha256(repeat(0x0c, 20), bytes("Test With Truncation"));
	CHECK(hex(std::span<const uint8_t>(d5.data(), 16)) == "a3b6167473100ee06e0c796c2955552b");
	// Test case 6: a key longer than the block size
	CHECK(hex(hmac_sha256(repeat(0xaa, 131),
			      bytes("Test Using Larger Than Block-Size Key - Hash Key First"))) ==
	      "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	// Test case 7: key and data longer than the block size
	CHECK(hex(hmac_sha256(repeat(0xaa, 131),
			      bytes("This is a test using a larger than block-size key and a larger "
				    "than block-size data. The key needs to be hashed before being "
				    "used by the HMAC algorithm."))) ==
	      "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

TEST_CASE("hmac_sha256 accepts an empty key and empty data", "[crypto]")
{
	// HMAC-SHA256("", "") is a fixed, well-known value.
	CHECK(hex(crypto::hmac_sha256({}, {})) ==
	      "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST_CASE("digest_equal compares every byte", "[crypto]")
{
	crypto::Digest a = crypto::hmac_sha256(bytes("0123456789abcdef"), bytes("x"));
	crypto::Digest b = a;
	CHECK(crypto::digest_equal(a, b));
	for (size_t i : {size_t{0}, size_t{15}, size_t{31}}) {
		b = a;
		b[i] ^= 0x01;
		CHECK_FALSE(crypto::digest_equal(a, b));
		b[i] ^= 0x81;	// high bit too
		CHECK_FALSE(crypto::digest_equal(a, b));
	}
	crypto::Digest zero{};
	CHECK_FALSE(crypto::digest_equal(a, zero));
	CHECK(crypto::digest_equal(zero, crypto::Digest{}));
}

TEST_CASE("random_bytes fills the buffer and differs between calls", "[crypto]")
{
	std::array<uint8_t, 32> a{}, b{};
	REQUIRE(crypto::random_bytes(a).ok());
	REQUIRE(crypto::random_bytes(b).ok());
	CHECK(a != b);			// 2^-256 chance of a false failure
	CHECK(a != std::array<uint8_t, 32>{});
	std::vector<uint8_t> big(100000);
	REQUIRE(crypto::random_bytes(big).ok());
	CHECK(std::count(big.begin(), big.end(), 0) < 1000);	// ~390 expected
	CHECK(crypto::random_bytes({}).ok());
}

TEST_CASE("read_secret_file reads a good secret and strips one trailing newline", "[crypto]")
{
	test::TmpDir dir;
	auto p = write_file(dir, "s", "0123456789abcdefXYZ\n", 0600);
	auto r = crypto::read_secret_file(p);
	REQUIRE(r.ok());
	CHECK(std::string(r->begin(), r->end()) == "0123456789abcdefXYZ");

	p = write_file(dir, "crlf", "0123456789abcdef\r\n", 0400);
	r = crypto::read_secret_file(p);
	REQUIRE(r.ok());
	CHECK(std::string(r->begin(), r->end()) == "0123456789abcdef");

	// Only one newline goes; binary content is kept as is.
	std::string bin("\0\1\2\3\4\5\6\7\x08\x09\x0a\x0b\x0c\x0d\x0e\xff\n\n", 18);
	p = write_file(dir, "bin", bin, 0600);
	r = crypto::read_secret_file(p);
	REQUIRE(r.ok());
	CHECK(r->size() == 17);
	CHECK(r->back() == '\n');
}

TEST_CASE("read_secret_file refuses with one sentence naming the path and the fix", "[crypto]")
{
	test::TmpDir dir;
	auto refuse = [](const std::string &path) {
		auto r = crypto::read_secret_file(path);
		REQUIRE_FALSE(r.ok());
		const std::string &m = r.status().message();
		CHECK(m.find(path) != std::string::npos);
		CHECK(m.find('\n') == std::string::npos);
		return m;
	};

	auto missing = dir.path() + "/none";
	auto m = refuse(missing);
	CHECK(m.find("does not exist") != std::string::npos);
	CHECK(m.find("chmod 600 " + missing) != std::string::npos);

	m = refuse(dir.path());
	CHECK(m.find("not a regular file") != std::string::npos);

	m = refuse(write_file(dir, "empty", "", 0600));
	CHECK(m.find("is empty") != std::string::npos);
	m = refuse(write_file(dir, "nl", "\n", 0600));
	CHECK(m.find("is empty") != std::string::npos);

	m = refuse(write_file(dir, "short", "0123456789abcde\n", 0600));	// 15 after the newline
	CHECK(m.find("15 bytes, fewer than the 16") != std::string::npos);
	CHECK(crypto::read_secret_file(write_file(dir, "ok16", "0123456789abcdef", 0600)).ok());

	for (mode_t mode : {0640, 0604, 0620, 0602, 0644, 0660}) {
		auto p = write_file(dir, "m" + std::to_string(mode), "0123456789abcdef0123", mode);
		m = refuse(p);
		CHECK(m.find("chmod 600 " + p) != std::string::npos);
	}

	std::string huge(70000, 'a');
	m = refuse(write_file(dir, "huge", huge, 0600));
	CHECK(m.find("more than the 65536") != std::string::npos);
}

TEST_CASE("read_secret_file refuses a path it cannot open", "[crypto]")
{
	// A path through a regular file fails with ENOTDIR even for root, who
	// could read a mode-000 file.
	test::TmpDir dir;
	auto f = write_file(dir, "plain", "0123456789abcdef0123", 0600);
	auto p = f + "/secret";
	auto r = crypto::read_secret_file(p);
	REQUIRE_FALSE(r.ok());
	CHECK(r.status().message().find("cannot read the secret file " + p) != std::string::npos);
	CHECK(r.status().errnum() == ENOTDIR);
}
