// SPDX-License-Identifier: GPL-2.0
// Heartbeat datagrams (Documentation/protocol.md, "Heartbeat datagrams"):
// what one dtrbdd tells another several times per second on every link,
// authenticated with HMAC-SHA256 under a key derived from the cluster's
// shared secret. This file is pure: bytes in, values out. The acceptance
// rules (freshness, anti-replay) that make a datagram count as proof of
// life are in ReplayGuard below; Membership (membership.h) uses both.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cluster/wire.h"

namespace dtrbd::cluster {

inline constexpr uint32_t kHeartbeatMagic = 0x44544842;	// "DTHB"
inline constexpr uint8_t kHeartbeatVersion = 1;
inline constexpr size_t kHeartbeatHeader = 104;
inline constexpr size_t kSummaryEntry = 96;
inline constexpr size_t kMaxSummaries = 12;	// per datagram (fits 1500 MTU)
inline constexpr size_t kMacSize = 32;
inline constexpr size_t kMaxHeartbeat =
	kHeartbeatHeader + kMaxSummaries * kSummaryEntry + kMacSize;
inline constexpr uint16_t kDefaultHeartbeatPort = 7789;

// One resource as the sending host sees it (the wire twin of
// arbiter::Summary; cluster/glue.h converts). Numeric values are the wire
// values, documented in protocol.md.
struct ResourceSummary {
	enum class Role : uint8_t { Unknown = 0, Secondary = 1, Primary = 2 };
	enum class Disk : uint8_t { Unknown = 0, Diskless = 1, Inconsistent = 2,
				    Outdated = 3, UpToDate = 4 };
	enum class Conn : uint8_t { Standalone = 0, Connecting = 1,
				    Connected = 2, Disconnecting = 3 };

	std::string name;		// resource name, valid_name()
	uint32_t minor = 0;
	Role role = Role::Unknown;
	Disk disk = Disk::Unknown;
	Conn conn = Conn::Standalone;
	bool attached = false;
	bool frozen = false;
	bool domain_running = false;
	bool admin_up = true;
	bool eligible = false;
	bool handing_over = false;
	uint64_t placement_seq = 0;
	std::string placement_host;	// "" or valid_name()
	std::string phase;		// <= 15 bytes, for humans (truncated)

	bool operator==(const ResourceSummary &) const = default;
};

struct Heartbeat {
	uint8_t link = 0;		// index of the link it was sent on
	uint64_t key_id = 0;
	std::string sender;		// host name
	std::string receiver;		// host name it is addressed to
	uint64_t boot_id = 0;		// sender's, random per daemon start, != 0
	uint64_t seq = 0;		// per sender boot, increasing, != 0
	uint64_t echo = 0;		// receiver's boot id as last heard, 0 = unknown
	std::vector<ResourceSummary> summaries;	// <= kMaxSummaries
};

// Why a datagram was not accepted (or, for StaleEcho, accepted only to
// learn the sender's boot id, not as proof of life).
enum class Reject {
	None,
	Truncated,	// shorter than its header/entries/MAC say
	BadMagic,	// not a dtrbd heartbeat
	BadVersion,
	Malformed,	// bad name field, enum value or count
	OtherSecret,	// key id differs: sender uses another secret
	BadMac,		// forged or corrupted
	NotForUs,	// addressed to another host
	Reflected,	// our own name or our own boot id as sender
	UnknownSender,	// not a configured peer
	WrongLink,	// link index differs from the socket it came in on
	Superseded,	// sender boot id replaced by a newer one
	Replayed,	// (boot, seq) already seen or too old
	StaleEcho,	// echo is not our current boot id: no proof of life
};
const char *to_string(Reject r);

// Encodes hb (at most kMaxSummaries summaries; names must be valid) and
// appends the MAC. Returns an empty vector when hb cannot be encoded.
std::vector<uint8_t> encode_heartbeat(const Heartbeat &hb, const Keys &keys);

// Checks framing, the key id and the MAC, then decodes. Never reads past
// data. On failure *why says what was wrong.
std::optional<Heartbeat> decode_heartbeat(std::span<const uint8_t> data,
					  const Keys &keys, Reject *why);

// Anti-replay per peer, without synchronized clocks. A datagram proves
// that the sender is alive NOW only if it echoes our current boot id
// (random per start, so no recording made before this start can contain
// it) and its (boot, seq) has not been seen: seq must be inside a window
// of the last 64 below the highest seen for that boot and not seen before
// (datagrams on different links may arrive out of order). A boot id, once
// replaced by a newer confirmed one, is never accepted again.
class ReplayGuard {
public:
	struct Verdict {
		Reject reject = Reject::None;	// None: proof of life
		bool restarted = false;		// a new confirmed boot replaced old_boot
		uint64_t old_boot = 0;
	};
	// hb is authenticated and addressed to us; our_boot is our boot id.
	Verdict check(const Heartbeat &hb, uint64_t our_boot);
	// What to put in `echo` when sending to this peer.
	uint64_t echo() const { return confirmed_ ? confirmed_ : candidate_; }
	uint64_t confirmed_boot() const { return confirmed_; }

private:
	bool superseded(uint64_t boot) const;
	uint64_t confirmed_ = 0;	// boot id proven fresh
	uint64_t highest_ = 0;		// highest seq accepted for confirmed_
	uint64_t window_ = 0;		// bit i: highest_ - i was accepted
	uint64_t candidate_ = 0;	// heard authenticated, not proven fresh
	std::vector<uint64_t> superseded_;	// bounded, newest last
};

} // namespace dtrbd::cluster
