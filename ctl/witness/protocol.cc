// SPDX-License-Identifier: GPL-2.0
#include "witness/protocol.h"

namespace dtrbd::witness {

using cluster::kNameField;
using cluster::Reader;
using cluster::valid_name;
using cluster::Writer;

const char *to_string(Op op)
{
	switch (op) {
	case Op::Keepalive: return "keepalive";
	case Op::Claim: return "claim";
	case Op::Outdate: return "outdate";
	case Op::Release: return "release";
	case Op::Uptodate: return "uptodate";
	}
	return "?";
}

namespace {

constexpr uint8_t RQ_IN_SYNC = 1;
constexpr uint8_t REC_EXISTS = 1;
constexpr uint8_t REC_RELEASED = 2;

bool valid_opt_name(const std::string &s)
{
	return s.empty() || valid_name(s);
}

void finish(Writer &w, const cluster::Keys &keys)
{
	crypto::Digest m = cluster::mac(keys.witness, w.buf());
	w.bytes(m);
}

} // namespace

std::vector<uint8_t> encode_request(const Request &r, const cluster::Keys &keys)
{
	if (!valid_name(r.host) || !valid_opt_name(r.peer) || r.seq == 0 ||
	    r.resources.size() > kMaxAsk ||
	    (r.op != Op::Keepalive && r.resources.size() != 1))
		return {};
	for (const std::string &n : r.resources)
		if (!valid_name(n))
			return {};
	Writer w;
	w.u32(kRequestMagic);
	w.u8(kWitnessVersion);
	w.u8(static_cast<uint8_t>(r.op));
	w.u8(static_cast<uint8_t>(r.resources.size()));
	w.u8(r.in_sync ? RQ_IN_SYNC : 0);
	w.u64(keys.key_id);
	w.fixed(r.host, kNameField);
	w.u64(r.boot_id);
	w.u64(r.session);
	w.u64(r.seq);
	w.bytes(r.nonce);
	w.fixed(r.peer, kNameField);
	for (const std::string &n : r.resources)
		w.fixed(n, kNameField);
	finish(w, keys);
	return std::move(w.buf());
}

// The common prefix: magic, version, length, key id, MAC.
static bool check_frame(std::span<const uint8_t> d, uint32_t magic, size_t header,
			size_t want, const cluster::Keys &keys, Reject *why)
{
	Reader r(d);
	if (d.size() < 5) {
		*why = Reject::Truncated;
		return false;
	}
	if (r.u32() != magic) {
		*why = Reject::BadMagic;
		return false;
	}
	if (r.u8() != kWitnessVersion) {
		*why = Reject::BadVersion;
		return false;
	}
	if (d.size() < header + cluster::kMacSize || d.size() < want) {
		*why = Reject::Truncated;
		return false;
	}
	if (d.size() > want) {
		*why = Reject::Malformed;
		return false;
	}
	Reader k(d.subspan(8));
	if (k.u64() != keys.key_id) {
		*why = Reject::OtherSecret;
		return false;
	}
	if (!cluster::mac_ok(keys.witness, d)) {
		*why = Reject::BadMac;
		return false;
	}
	return true;
}

std::optional<Request> decode_request(std::span<const uint8_t> d, const cluster::Keys &keys, Reject *why)
{
	size_t n = d.size() > 6 ? d[6] : 0;
	if (n > kMaxAsk) {
		*why = d.size() >= kRequestHeader ? Reject::Malformed : Reject::Truncated;
		if (d.size() < 5 || Reader(d).u32() != kRequestMagic)
			*why = d.size() < 5 ? Reject::Truncated : Reject::BadMagic;
		return std::nullopt;
	}
	if (!check_frame(d, kRequestMagic, kRequestHeader,
			 kRequestHeader + n * kNameField + cluster::kMacSize, keys, why))
		return std::nullopt;
	Reader r(d);
	r.skip(5);
	Request q;
	uint8_t op = r.u8();
	r.skip(1);
	uint8_t flags = r.u8();
	r.skip(8);
	bool clean = true;
	q.host = r.fixed(kNameField, &clean);
	q.boot_id = r.u64();
	q.session = r.u64();
	q.seq = r.u64();
	r.bytes(q.nonce);
	q.peer = r.fixed(kNameField, &clean);
	for (size_t i = 0; i < n; i++)
		q.resources.push_back(r.fixed(kNameField, &clean));
	bool ok = r.ok() && clean && op >= 1 && op <= 5 && (flags & ~RQ_IN_SYNC) == 0 &&
		  valid_name(q.host) && valid_opt_name(q.peer) && q.seq != 0;
	q.op = static_cast<Op>(op);
	q.in_sync = flags & RQ_IN_SYNC;
	for (const std::string &s : q.resources)
		ok = ok && valid_name(s);
	if (ok && q.op != Op::Keepalive && n != 1)
		ok = false;
	if (!ok) {
		*why = Reject::Malformed;
		return std::nullopt;
	}
	*why = Reject::None;
	return q;
}

std::vector<uint8_t> encode_response(const Response &r, const cluster::Keys &keys)
{
	if (r.records.size() > kMaxAsk)
		return {};
	std::string reason = r.reason.substr(0, kMaxReason);
	Writer w;
	w.u32(kResponseMagic);
	w.u8(kWitnessVersion);
	w.u8(static_cast<uint8_t>(r.kind));
	w.u8(r.granted ? 1 : 0);
	w.u8(static_cast<uint8_t>(r.records.size()));
	w.u64(keys.key_id);
	w.u64(r.session);
	w.u64(r.seq);
	w.bytes(r.nonce);
	w.u32(r.lease_ms);
	w.u16(static_cast<uint16_t>(reason.size()));
	w.u16(0);
	w.fixed(reason, reason.size());
	for (const WireRecord &wr : r.records) {
		if (!valid_name(wr.name))
			return {};
		w.fixed(wr.name, kNameField);
		const Record empty;
		const Record &rec = wr.record ? *wr.record : empty;
		if (rec.current.size() > kMaxHosts || !valid_opt_name(rec.holder) ||
		    !valid_opt_name(rec.released_by))
			return {};
		w.u64(rec.epoch);
		w.fixed(rec.holder, kNameField);
		w.fixed(rec.released_by, kNameField);
		w.u8((wr.record ? REC_EXISTS : 0) | (rec.released ? REC_RELEASED : 0));
		w.u8(static_cast<uint8_t>(rec.current.size()));
		w.u16(0);
		size_t i = 0;
		for (const std::string &h : rec.current) {
			if (!valid_name(h))
				return {};
			w.fixed(h, kNameField);
			i++;
		}
		for (; i < kMaxHosts; i++)
			w.fixed("", kNameField);
	}
	finish(w, keys);
	return std::move(w.buf());
}

std::optional<Response> decode_response(std::span<const uint8_t> d, const cluster::Keys &keys, Reject *why)
{
	if (d.size() < kResponseHeader) {
		*why = Reject::Truncated;
		if (d.size() >= 5) {
			Reader h(d);
			if (h.u32() != kResponseMagic)
				*why = Reject::BadMagic;
			else if (h.u8() != kWitnessVersion)
				*why = Reject::BadVersion;
		}
		return std::nullopt;
	}
	size_t n = d[7];
	size_t len = (static_cast<size_t>(d[52]) << 8) | d[53];
	if (n > kMaxAsk || len > kMaxReason) {
		Reader h(d);
		*why = h.u32() != kResponseMagic ? Reject::BadMagic : Reject::Malformed;
		return std::nullopt;
	}
	if (!check_frame(d, kResponseMagic, kResponseHeader,
			 kResponseHeader + len + n * kRecordSize + cluster::kMacSize, keys, why))
		return std::nullopt;
	Reader r(d);
	r.skip(5);
	Response p;
	uint8_t kind = r.u8();
	uint8_t granted = r.u8();
	r.skip(1 + 8);
	p.session = r.u64();
	p.seq = r.u64();
	r.bytes(p.nonce);
	p.lease_ms = r.u32();
	r.skip(2);
	uint16_t reserved = r.u16();
	std::vector<uint8_t> reason(len);
	r.bytes(reason);
	p.reason.assign(reason.begin(), reason.end());
	bool ok = r.ok() && (kind == 1 || kind == 2) && granted <= 1 && reserved == 0;
	for (char c : p.reason)
		ok = ok && c >= 0x20 && c <= 0x7e;
	p.kind = static_cast<Kind>(kind);
	p.granted = granted;
	for (size_t i = 0; ok && i < n; i++) {
		bool clean = true;
		WireRecord wr;
		Record rec;
		wr.name = r.fixed(kNameField, &clean);
		rec.epoch = r.u64();
		rec.holder = r.fixed(kNameField, &clean);
		rec.released_by = r.fixed(kNameField, &clean);
		uint8_t flags = r.u8();
		uint8_t ncur = r.u8();
		uint16_t pad = r.u16();
		rec.released = flags & REC_RELEASED;
		std::vector<std::string> cur;
		for (size_t k = 0; k < kMaxHosts; k++)
			cur.push_back(r.fixed(kNameField, &clean));
		ok = r.ok() && clean && valid_name(wr.name) && valid_opt_name(rec.holder) &&
		     valid_opt_name(rec.released_by) && (flags & ~(REC_EXISTS | REC_RELEASED)) == 0 &&
		     ncur <= kMaxHosts && pad == 0;
		for (size_t k = 0; ok && k < kMaxHosts; k++) {
			if (k < ncur)
				ok = valid_name(cur[k]) && rec.current.insert(cur[k]).second;
			else
				ok = cur[k].empty();
		}
		if (flags & REC_EXISTS)
			wr.record = std::move(rec);
		else
			ok = ok && ncur == 0 && rec.epoch == 0;
		p.records.push_back(std::move(wr));
	}
	if (!ok || r.left() != cluster::kMacSize) {
		*why = Reject::Malformed;
		return std::nullopt;
	}
	*why = Reject::None;
	return p;
}

} // namespace dtrbd::witness
