// SPDX-License-Identifier: GPL-2.0
#include "peer/peerctl.h"

#include <array>
#include <cerrno>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "config/config.h"

namespace dtrbd::peerctl {

using nlohmann::json;

namespace {

constexpr const char *kRequestLabel = "dtrbd-peerctl-v1 request";
constexpr const char *kResponseLabel = "dtrbd-peerctl-v1 response";

bool is_hex(std::string_view s, size_t len)
{
	if (s.size() != len)
		return false;
	for (char c : s)
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return false;
	return true;
}

// label NUL server NUL client NUL server-nonce NUL client-nonce NUL body
std::string mac(std::span<const uint8_t> secret, const char *label, const Hello &s,
		const Request &r, std::string_view body)
{
	std::string m = label;
	for (std::string_view part : {std::string_view(s.host), std::string_view(r.host),
				      std::string_view(s.nonce), std::string_view(r.nonce), body}) {
		m += '\0';
		m += part;
	}
	auto d = crypto::hmac_sha256(secret, std::span(reinterpret_cast<const uint8_t *>(m.data()),
						       m.size()));
	return to_hex(d);
}

bool same(std::string_view a, std::string_view b)
{
	// Constant time over equal lengths (both are 64 hex digits here).
	if (a.size() != b.size())
		return false;
	unsigned char x = 0;
	for (size_t i = 0; i < a.size(); i++)
		x |= static_cast<unsigned char>(a[i] ^ b[i]);
	return x == 0;
}

Result<json> object(std::string_view line, const char *what)
{
	if (line.size() > kMaxLine)
		return Status::error(str("the ", what, " is longer than ", kMaxLine >> 20, " MiB"),
				     EMSGSIZE);
	json j = json::parse(line, nullptr, false);
	if (j.is_discarded() || !j.is_object())
		return Status::error(str("the ", what, " is not a JSON object"), EPROTO);
	return j;
}

// @j[@key] as a string, or the sentence.
Result<std::string> field(const json &j, const char *key, const char *what)
{
	auto it = j.find(key);
	if (it == j.end() || !it->is_string())
		return Status::error(str("the ", what, " has no \"", key, "\" string"), EPROTO);
	return it->get<std::string>();
}

Status check_version(const json &j, const char *what)
{
	auto it = j.find("v");
	if (it == j.end() || !it->is_number_integer() || it->get<int64_t>() != kVersion)
		return Status::error(str("the ", what, " is not of peer control version ", kVersion,
					 "; run the same dtrbd version on both hosts"),
				     EPROTO);
	return {};
}

Result<std::string> host_field(const json &j, const char *what)
{
	auto h = field(j, "host", what);
	if (h && !config::safe_name(*h))
		return Status::error(str("the ", what, " names no valid host"), EPROTO);
	return h;
}

Result<std::string> nonce_field(const json &j, const char *what)
{
	auto n = field(j, "nonce", what);
	if (n && !is_hex(*n, 2 * kNonceSize))
		return Status::error(str("the ", what, "'s nonce is not ", 2 * kNonceSize,
					 " hex digits"), EPROTO);
	return n;
}

} // namespace

std::string to_hex(std::span<const uint8_t> b)
{
	static const char digits[] = "0123456789abcdef";
	std::string s;
	s.reserve(2 * b.size());
	for (uint8_t c : b) {
		s += digits[c >> 4];
		s += digits[c & 15];
	}
	return s;
}

Result<std::string> new_nonce()
{
	std::array<uint8_t, kNonceSize> n{};
	if (Status st = crypto::random_bytes(n); !st)
		return st;
	return to_hex(n);
}

std::string encode_hello(const Hello &h)
{
	return json{{"v", kVersion}, {"host", h.host}, {"nonce", h.nonce}}.dump();
}

Result<Hello> decode_hello(std::string_view line)
{
	auto j = object(line, "peer's hello");
	if (!j)
		return j.status();
	if (Status st = check_version(*j, "peer's hello"); !st)
		return st;
	auto h = host_field(*j, "peer's hello");
	if (!h)
		return h.status();
	auto n = nonce_field(*j, "peer's hello");
	if (!n)
		return n.status();
	return Hello{*h, *n};
}

std::string encode_request(std::span<const uint8_t> secret, const Hello &server,
			   const Request &req)
{
	return json{{"v", kVersion},
		    {"host", req.host},
		    {"nonce", req.nonce},
		    {"body", req.body},
		    {"mac", mac(secret, kRequestLabel, server, req, req.body)}}
		.dump();
}

Result<Request> decode_request(std::string_view line)
{
	auto j = object(line, "request");
	if (!j)
		return j.status();
	if (Status st = check_version(*j, "request"); !st)
		return st;
	Request r;
	auto h = host_field(*j, "request");
	if (!h)
		return h.status();
	auto n = nonce_field(*j, "request");
	if (!n)
		return n.status();
	auto b = field(*j, "body", "request");
	if (!b)
		return b.status();
	auto m = field(*j, "mac", "request");
	if (!m)
		return m.status();
	if (!is_hex(*m, 64))
		return Status::error("the request's mac is not 64 hex digits", EPROTO);
	r.host = *h;
	r.nonce = *n;
	r.body = *b;
	r.mac = *m;
	return r;
}

bool verify_request(std::span<const uint8_t> secret, const Hello &server, const Request &req)
{
	return same(mac(secret, kRequestLabel, server, req, req.body), req.mac);
}

std::string encode_response(std::span<const uint8_t> secret, const Hello &server,
			    const Request &req, std::string_view body)
{
	return json{{"body", body}, {"mac", mac(secret, kResponseLabel, server, req, body)}}.dump();
}

std::string encode_refusal(std::string_view sentence)
{
	return json{{"refused", sentence}}.dump();
}

Result<std::string> decode_response(std::span<const uint8_t> secret, const Hello &server,
				    const Request &req, std::string_view line,
				    const std::string &peer)
{
	auto j = object(line, str("answer of ", peer).c_str());
	if (!j)
		return j.status();
	if (auto it = j->find("refused"); it != j->end() && it->is_string())
		return Status::error(str(peer, " refused the request: ", it->get<std::string>()),
				     EACCES);
	auto b = field(*j, "body", "answer");
	auto m = field(*j, "mac", "answer");
	if (!b || !m)
		return Status::error(str("the answer of ", peer, " is not a peer control response"),
				     EPROTO);
	if (!same(mac(secret, kResponseLabel, server, req, *b), *m))
		return Status::error(str("the answer of ", peer, " is not signed with this "
					 "cluster's secret; are secret-file's contents the same "
					 "on both hosts?"),
				     EACCES);
	return *b;
}

} // namespace dtrbd::peerctl
