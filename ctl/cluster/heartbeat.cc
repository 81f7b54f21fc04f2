// SPDX-License-Identifier: GPL-2.0
#include "cluster/heartbeat.h"
#include "config/config.h"

#include <algorithm>

// Every name the configuration accepts fits the datagrams' name fields.
static_assert(dtrbd::config::kMaxNameLen <= dtrbd::cluster::kMaxName);

namespace dtrbd::cluster {

const char *to_string(Reject r)
{
	switch (r) {
	case Reject::None: return "accepted";
	case Reject::Truncated: return "truncated";
	case Reject::BadMagic: return "not a heartbeat";
	case Reject::BadVersion: return "unsupported version";
	case Reject::Malformed: return "malformed";
	case Reject::OtherSecret: return "signed with another secret";
	case Reject::BadMac: return "bad HMAC (forged or corrupted)";
	case Reject::NotForUs: return "addressed to another host";
	case Reject::Reflected: return "reflected (our own name or boot id)";
	case Reject::UnknownSender: return "from an unknown host";
	case Reject::WrongLink: return "arrived on another link than it was sent on";
	case Reject::Superseded: return "from a superseded boot of the sender";
	case Reject::Replayed: return "replayed or too old";
	case Reject::StaleEcho: return "does not echo our boot id yet";
	}
	return "?";
}

namespace {

constexpr uint8_t F_ATTACHED = 1 << 0;
constexpr uint8_t F_FROZEN = 1 << 1;
constexpr uint8_t F_DOMAIN = 1 << 2;
constexpr uint8_t F_ADMIN_UP = 1 << 3;
constexpr uint8_t F_ELIGIBLE = 1 << 4;
constexpr uint8_t F_HANDING_OVER = 1 << 5;
constexpr uint8_t F_ALL = 0x3f;
constexpr size_t kPhaseField = 16;

} // namespace

std::vector<uint8_t> encode_heartbeat(const Heartbeat &hb, const Keys &keys)
{
	if (hb.summaries.size() > kMaxSummaries || !valid_name(hb.sender) ||
	    !valid_name(hb.receiver) || hb.boot_id == 0 || hb.seq == 0)
		return {};
	Writer w;
	w.u32(kHeartbeatMagic);
	w.u8(kHeartbeatVersion);
	w.u8(hb.link);
	w.u8(static_cast<uint8_t>(hb.summaries.size()));
	w.u8(0);
	w.u64(keys.key_id);
	w.fixed(hb.sender, kNameField);
	w.fixed(hb.receiver, kNameField);
	w.u64(hb.boot_id);
	w.u64(hb.seq);
	w.u64(hb.echo);
	for (const ResourceSummary &s : hb.summaries) {
		if (!valid_name(s.name) ||
		    (!s.placement_host.empty() && !valid_name(s.placement_host)))
			return {};
		w.fixed(s.name, kNameField);
		w.u32(s.minor);
		w.u8(static_cast<uint8_t>(s.role));
		w.u8(static_cast<uint8_t>(s.disk));
		w.u8(static_cast<uint8_t>(s.conn));
		w.u8((s.attached ? F_ATTACHED : 0) | (s.frozen ? F_FROZEN : 0) |
		     (s.domain_running ? F_DOMAIN : 0) |
		     (s.admin_up ? F_ADMIN_UP : 0) |
		     (s.eligible ? F_ELIGIBLE : 0) |
		     (s.handing_over ? F_HANDING_OVER : 0));
		w.u64(s.placement_seq);
		w.fixed(s.placement_host, kNameField);
		// Keep the phase printable and NUL-terminated within its field.
		std::string phase = s.phase.substr(0, kPhaseField - 1);
		w.fixed(phase, kPhaseField);
	}
	crypto::Digest m = mac(keys.heartbeat, w.buf());
	w.bytes(m);
	return std::move(w.buf());
}

std::optional<Heartbeat> decode_heartbeat(std::span<const uint8_t> data,
					  const Keys &keys, Reject *why)
{
	auto fail = [&](Reject r) -> std::optional<Heartbeat> {
		*why = r;
		return std::nullopt;
	};
	if (data.size() < 6)
		return fail(Reject::Truncated);
	Reader r(data);
	if (r.u32() != kHeartbeatMagic)
		return fail(Reject::BadMagic);
	if (r.u8() != kHeartbeatVersion)
		return fail(Reject::BadVersion);
	if (data.size() < kHeartbeatHeader + kMacSize)
		return fail(Reject::Truncated);
	Heartbeat hb;
	hb.link = r.u8();
	size_t n = r.u8();
	uint8_t flags = r.u8();
	if (n > kMaxSummaries)
		return fail(Reject::Malformed);
	size_t want = kHeartbeatHeader + n * kSummaryEntry + kMacSize;
	if (data.size() < want)
		return fail(Reject::Truncated);
	if (data.size() > want)
		return fail(Reject::Malformed);
	hb.key_id = r.u64();
	if (hb.key_id != keys.key_id)
		return fail(Reject::OtherSecret);
	if (!mac_ok(keys.heartbeat, data))
		return fail(Reject::BadMac);
	// Authenticated from here on; still never trust a field blindly.
	if (flags != 0)
		return fail(Reject::Malformed);
	bool clean = true;
	hb.sender = r.fixed(kNameField, &clean);
	hb.receiver = r.fixed(kNameField, &clean);
	hb.boot_id = r.u64();
	hb.seq = r.u64();
	hb.echo = r.u64();
	if (!clean || !valid_name(hb.sender) || !valid_name(hb.receiver) ||
	    hb.boot_id == 0 || hb.seq == 0)
		return fail(Reject::Malformed);
	for (size_t i = 0; i < n; i++) {
		ResourceSummary s;
		s.name = r.fixed(kNameField, &clean);
		s.minor = r.u32();
		uint8_t role = r.u8(), disk = r.u8(), conn = r.u8(), f = r.u8();
		s.placement_seq = r.u64();
		s.placement_host = r.fixed(kNameField, &clean);
		s.phase = r.fixed(kPhaseField, &clean);
		if (!clean || !valid_name(s.name) || role > 2 || disk > 4 ||
		    conn > 3 || (f & ~F_ALL) ||
		    (!s.placement_host.empty() && !valid_name(s.placement_host)))
			return fail(Reject::Malformed);
		for (char c : s.phase)
			if (c < 0x20 || c > 0x7e)
				return fail(Reject::Malformed);
		s.role = static_cast<ResourceSummary::Role>(role);
		s.disk = static_cast<ResourceSummary::Disk>(disk);
		s.conn = static_cast<ResourceSummary::Conn>(conn);
		s.attached = f & F_ATTACHED;
		s.frozen = f & F_FROZEN;
		s.domain_running = f & F_DOMAIN;
		s.admin_up = f & F_ADMIN_UP;
		s.eligible = f & F_ELIGIBLE;
		s.handing_over = f & F_HANDING_OVER;
		hb.summaries.push_back(std::move(s));
	}
	if (!r.ok() || r.left() != kMacSize)
		return fail(Reject::Truncated);
	*why = Reject::None;
	return hb;
}

// ---- ReplayGuard ----------------------------------------------------------

namespace {
constexpr size_t kMaxSuperseded = 16;
constexpr uint64_t kWindow = 64;
}

bool ReplayGuard::superseded(uint64_t boot) const
{
	return std::find(superseded_.begin(), superseded_.end(), boot) !=
	       superseded_.end();
}

ReplayGuard::Verdict ReplayGuard::check(const Heartbeat &hb, uint64_t our_boot)
{
	Verdict v;
	if (hb.boot_id == our_boot) {
		v.reject = Reject::Reflected;
		return v;
	}
	if (superseded(hb.boot_id)) {
		v.reject = Reject::Superseded;
		return v;
	}
	if (hb.echo != our_boot) {
		// Authentic but maybe recorded before we started: it proves
		// nothing about now. Remember the boot id only to echo it, so
		// the peer can prove itself to us and we to it.
		if (hb.boot_id != confirmed_)
			candidate_ = hb.boot_id;
		v.reject = Reject::StaleEcho;
		return v;
	}
	if (hb.boot_id == confirmed_) {
		if (hb.seq > highest_) {
			uint64_t shift = hb.seq - highest_;
			window_ = shift >= kWindow ? 0 : window_ << shift;
			window_ |= 1;
			highest_ = hb.seq;
			return v;
		}
		uint64_t back = highest_ - hb.seq;
		if (back >= kWindow || (window_ & (uint64_t{1} << back))) {
			v.reject = Reject::Replayed;
			return v;
		}
		window_ |= uint64_t{1} << back;
		return v;
	}
	// A new boot of the peer, proven fresh by the echo.
	if (confirmed_ != 0) {
		v.restarted = true;
		v.old_boot = confirmed_;
		superseded_.push_back(confirmed_);
		if (superseded_.size() > kMaxSuperseded)
			superseded_.erase(superseded_.begin());
	}
	confirmed_ = hb.boot_id;
	highest_ = hb.seq;
	window_ = 1;
	if (candidate_ == hb.boot_id)
		candidate_ = 0;
	return v;
}

} // namespace dtrbd::cluster
