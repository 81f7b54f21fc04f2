// SPDX-License-Identifier: GPL-2.0
#include "conn/auth.h"

#include <endian.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "common/log.h"

namespace dtrbd::auth {

static_assert(kHdr == 16);

namespace {

void put_hdr(Bytes &out, uint16_t type, size_t body_len)
{
	struct dtrbd_hdr h;
	memset(&h, 0, sizeof(h));
	h.magic = htobe32(DTRBD_WIRE_MAGIC);
	h.type = htobe16(type);
	h.length = htobe32(static_cast<uint32_t>(body_len));
	const auto *p = reinterpret_cast<const uint8_t *>(&h);
	out.insert(out.end(), p, p + sizeof(h));
}

void put32(Bytes &out, uint32_t v)
{
	v = htobe32(v);
	const auto *p = reinterpret_cast<const uint8_t *>(&v);
	out.insert(out.end(), p, p + 4);
}

uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return be32toh(v);
}

Status malformed(const char *what, const std::string &why)
{
	return Status::error(str("the peer's ", what, " is malformed (", why,
				 "); the peer runs an incompatible dtrbd or is not a dtrbd peer"),
			     EPROTO);
}

crypto::Digest mac(std::span<const uint8_t> secret, std::string_view label, Role sender,
		   const Transcript &t)
{
	Bytes m(label.begin(), label.end());
	m.push_back(0);
	m.push_back(static_cast<uint8_t>(sender));
	m.insert(m.end(), t.listener_nonce.begin(), t.listener_nonce.end());
	m.insert(m.end(), t.connector_nonce.begin(), t.connector_nonce.end());
	// Lengths first so that no two transcripts encode alike.
	put32(m, static_cast<uint32_t>(t.listener_hello.size()));
	m.insert(m.end(), t.listener_hello.begin(), t.listener_hello.end());
	put32(m, static_cast<uint32_t>(t.connector_hello.size()));
	m.insert(m.end(), t.connector_hello.begin(), t.connector_hello.end());
	return crypto::hmac_sha256(secret, m);
}

} // namespace

Bytes encode_challenge(const Challenge &c)
{
	Bytes out;
	put_hdr(out, P_AUTH_CHALLENGE, kChallengeBody);
	put32(out, c.has_secret ? kFlagSecret : 0);
	put32(out, 0);
	if (c.has_secret)
		out.insert(out.end(), c.nonce.begin(), c.nonce.end());
	else
		out.insert(out.end(), kNonceSize, 0);
	return out;
}

Bytes encode_response(const crypto::Digest &p)
{
	Bytes out;
	put_hdr(out, P_AUTH_RESPONSE, kResponseBody);
	out.insert(out.end(), p.begin(), p.end());
	return out;
}

Bytes encode_verdict(const Verdict &v)
{
	Bytes out;
	put_hdr(out, P_AUTH_RESULT, kResultBody);
	put32(out, v.accepted ? 0 : 1);
	put32(out, 0);
	if (v.accepted)
		out.insert(out.end(), v.mac.begin(), v.mac.end());
	else
		out.insert(out.end(), 32, 0);
	return out;
}

Status check_header(std::span<const uint8_t> hdr, uint16_t type, size_t body_len, const char *what)
{
	if (hdr.size() != kHdr)
		return malformed(what, str("a header of ", hdr.size(), " bytes"));
	struct dtrbd_hdr h;
	memcpy(&h, hdr.data(), sizeof(h));
	uint32_t magic = be32toh(h.magic), len = be32toh(h.length);
	uint16_t t = be16toh(h.type);
	if (magic != DTRBD_WIRE_MAGIC)
		return Status::error(str("the peer is not speaking the dtrbd protocol (magic 0x", std::hex,
					 magic, " instead of 0x", DTRBD_WIRE_MAGIC, ")"),
				     EPROTO);
	if (t != type)
		return Status::error(str("the peer sent packet type ", t, " instead of its ", what,
					 " (", type, "); it may run a dtrbd without authentication, "
					 "so update it"),
				     EPROTO);
	if (h.reserved != 0)
		return malformed(what, "a nonzero reserved field in the header");
	if (len != body_len)
		return malformed(what, str(len, " bytes instead of ", body_len));
	return {};
}

Result<Challenge> decode_challenge(std::span<const uint8_t> b)
{
	if (b.size() != kChallengeBody)
		return malformed("authentication challenge", str(b.size(), " bytes"));
	uint32_t flags = get32(b.data()), reserved = get32(b.data() + 4);
	if (flags & ~kFlagSecret)
		return malformed("authentication challenge", str("unknown flags 0x", std::hex, flags));
	if (reserved)
		return malformed("authentication challenge", "a nonzero reserved field");
	Challenge c;
	c.has_secret = flags & kFlagSecret;
	memcpy(c.nonce.data(), b.data() + 8, kNonceSize);
	if (!c.has_secret && c.nonce != Nonce{})
		return malformed("authentication challenge", "a nonce without a secret");
	if (c.has_secret && c.nonce == Nonce{})
		return malformed("authentication challenge", "an all-zero nonce");
	return c;
}

Result<crypto::Digest> decode_response(std::span<const uint8_t> b)
{
	if (b.size() != kResponseBody)
		return malformed("authentication response", str(b.size(), " bytes"));
	crypto::Digest d;
	memcpy(d.data(), b.data(), d.size());
	return d;
}

Result<Verdict> decode_verdict(std::span<const uint8_t> b)
{
	if (b.size() != kResultBody)
		return malformed("authentication result", str(b.size(), " bytes"));
	uint32_t status = get32(b.data()), reserved = get32(b.data() + 4);
	if (status > 1)
		return malformed("authentication result", str("status ", status));
	if (reserved)
		return malformed("authentication result", "a nonzero reserved field");
	Verdict v;
	v.accepted = status == 0;
	memcpy(v.mac.data(), b.data() + 8, v.mac.size());
	return v;
}

crypto::Digest proof(std::span<const uint8_t> secret, Role sender, const Transcript &t)
{
	return mac(secret, "dtrbd-auth-v1 proof", sender, t);
}

crypto::Digest accept_mac(std::span<const uint8_t> secret, Role sender, const Transcript &t)
{
	return mac(secret, "dtrbd-auth-v1 accept", sender, t);
}

Status check_challenges(const Challenge &ours, const Challenge &theirs, const std::string &peer)
{
	if (ours.has_secret && !theirs.has_secret)
		return Status::error(str("the peer ", peer, " connects without a shared secret but this side "
					 "requires one; give both sides the same --secret-file"),
				     EACCES);
	if (!ours.has_secret && theirs.has_secret)
		return Status::error(str("the peer ", peer, " requires a shared secret but this side has none; "
					 "give both sides the same --secret-file"),
				     EACCES);
	if (ours.has_secret && ours.nonce == theirs.nonce)
		return Status::error(str("the peer ", peer, " sent back our own challenge (a reflection); "
					 "refusing it, check who is connecting from that address"),
				     EACCES);
	return {};
}

bool verify_proof(std::span<const uint8_t> secret, Role peer_role, const Transcript &t,
		  const crypto::Digest &got)
{
	return crypto::digest_equal(proof(secret, peer_role, t), got);
}

Status wrong_secret(const std::string &peer)
{
	return Status::error(str("the peer ", peer, " failed to prove that it knows the shared secret; "
				 "check that both sides use the same --secret-file"),
			     EACCES);
}

Status check_verdict(std::span<const uint8_t> secret, Role peer_role, const Transcript &t,
		     const Verdict &v, const std::string &peer)
{
	if (!v.accepted)
		return Status::error(str("the peer ", peer, " refused our proof of the shared secret; "
					 "check that both sides use the same --secret-file"),
				     EACCES);
	if (!crypto::digest_equal(accept_mac(secret, peer_role, t), v.mac))
		return Status::error(str("the peer ", peer, " sent an acceptance that does not carry the "
					 "shared secret; refusing it, check who is connecting from that address"),
				     EACCES);
	return {};
}

} // namespace dtrbd::auth
