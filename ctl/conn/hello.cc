// SPDX-License-Identifier: GPL-2.0
#include "conn/hello.h"

#include <endian.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/log.h"

namespace dtrbd {

static_assert(kHdrSize == 16 && kHelloSize == 104);

HelloPacket encode_hello(const Hello &h)
{
	struct dtrbd_hdr hdr;
	memset(&hdr, 0, sizeof(hdr));
	hdr.magic = htobe32(DTRBD_WIRE_MAGIC);
	hdr.type = htobe16(P_HELLO);
	hdr.length = htobe32(kHelloSize);
	hdr.seq = 0;

	struct dtrbd_p_hello b;
	memset(&b, 0, sizeof(b));
	b.proto_min = htobe32(h.proto_min);
	b.proto_max = htobe32(h.proto_max);
	b.features = htobe64(h.features);
	b.size_bytes = htobe64(h.size_bytes);
	b.device_uuid = htobe64(h.device_uuid);
	b.minor = htobe32(h.minor);
	memcpy(b.node_name, h.node_name.data(),
	       std::min(h.node_name.size(), sizeof(b.node_name) - 1));

	HelloPacket out;
	memcpy(out.data(), &hdr, sizeof(hdr));
	memcpy(out.data() + sizeof(hdr), &b, sizeof(b));
	return out;
}

Status check_hello_header(const uint8_t *p)
{
	struct dtrbd_hdr hdr;
	memcpy(&hdr, p, sizeof(hdr));
	uint32_t magic = be32toh(hdr.magic), len = be32toh(hdr.length);
	uint16_t type = be16toh(hdr.type);
	if (magic != DTRBD_WIRE_MAGIC)
		return Status::error(str("the peer is not speaking the dtrbd protocol (magic 0x",
					 std::hex, magic, " instead of 0x",
					 DTRBD_WIRE_MAGIC, ")"), EPROTO);
	if (type != P_HELLO)
		return Status::error(str("the peer sent packet type ", type,
					 " instead of its hello (", P_HELLO, ")"),
				     EPROTO);
	if (hdr.reserved != 0)
		return Status::error("the peer's hello header has a nonzero reserved field",
				     EPROTO);
	if (len != kHelloSize)
		return Status::error(str("the peer's hello is ", len,
					 " bytes long, expected ", kHelloSize),
				     EPROTO);
	return {};
}

Result<Hello> decode_hello(const uint8_t *p)
{
	struct dtrbd_p_hello b;
	memcpy(&b, p, sizeof(b));
	Hello h;
	h.proto_min = be32toh(b.proto_min);
	h.proto_max = be32toh(b.proto_max);
	h.features = be64toh(b.features);
	h.size_bytes = be64toh(b.size_bytes);
	h.device_uuid = be64toh(b.device_uuid);
	h.minor = be32toh(b.minor);
	if (h.proto_min > h.proto_max || h.proto_min == 0)
		return Status::error(str("the peer's hello is malformed: protocol versions ",
					 h.proto_min, "-", h.proto_max), EPROTO);
	if (b.reserved != 0)
		return Status::error("the peer's hello has a nonzero reserved field",
				     EPROTO);
	size_t n = strnlen(b.node_name, sizeof(b.node_name));
	if (n == sizeof(b.node_name))
		return Status::error("the peer's node name is not NUL-terminated",
				     EPROTO);
	// The name is only shown to humans; make sure it prints.
	h.node_name.assign(b.node_name, n);
	for (char &c : h.node_name)
		if (c < 0x20 || c > 0x7e)
			c = '?';
	return h;
}

Result<Agreement> negotiate(const Hello &ours, const Hello &peer)
{
	if (peer.proto_max < ours.proto_min || ours.proto_max < peer.proto_min)
		return Status::error(str("peer speaks protocol versions ",
					 peer.proto_min, "-", peer.proto_max,
					 ", we speak ", ours.proto_min, "-",
					 ours.proto_max), EPROTO);
	if (peer.size_bytes != ours.size_bytes)
		return Status::error(str("peer's device is ", peer.size_bytes,
					 " bytes, ours is ", ours.size_bytes,
					 ": both backing devices must give the same data size"),
				     EMEDIUMTYPE);
	return Agreement{std::min(ours.proto_max, peer.proto_max),
			 ours.features & peer.features};
}

} // namespace dtrbd
