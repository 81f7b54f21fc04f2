// SPDX-License-Identifier: GPL-2.0
// libFuzzer target for every decoder of the userspace handshake: the hello
// (header and body) and the three authentication packets. The first byte
// picks the decoder; the rest is the peer's bytes. Decoders must refuse
// or accept without reading out of bounds, and accepted packets must
// re-encode to the same bytes (the formats have no slack).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>

#include "conn/auth.h"
#include "conn/hello.h"

using namespace dtrbd;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t which = data[0] % 5;
	std::span<const uint8_t> in(data + 1, size - 1);
	switch (which) {
	case 0:
		if (in.size() >= kHdrSize)
			(void)check_hello_header(in.data());
		if (in.size() >= kHelloSize) {
			auto h = decode_hello(in.data());
			if (h.ok() && !h->node_name.empty()) {
				auto again = decode_hello(encode_hello(*h).data() + kHdrSize);
				if (!again.ok() || again->minor != h->minor || again->size_bytes != h->size_bytes)
					abort();
			}
		}
		break;
	case 1: {
		auto c = auth::decode_challenge(in);
		if (c.ok()) {
			auto b = auth::encode_challenge(*c);
			if (b.size() != auth::kHdr + in.size() || memcmp(b.data() + auth::kHdr, in.data(), in.size()))
				abort();
		}
		break;
	}
	case 2: {
		auto r = auth::decode_response(in);
		if (r.ok() && memcmp(auth::encode_response(*r).data() + auth::kHdr, in.data(), in.size()))
			abort();
		break;
	}
	case 3: {
		auto v = auth::decode_verdict(in);
		if (v.ok() && v->accepted &&
		    memcmp(auth::encode_verdict(*v).data() + auth::kHdr, in.data(), in.size()))
			abort();
		break;
	}
	case 4:
		if (in.size() >= auth::kHdr)
			(void)auth::check_header(in.first(auth::kHdr), auth::P_AUTH_CHALLENGE,
						 auth::kChallengeBody, "challenge");
		break;
	}
	return 0;
}
