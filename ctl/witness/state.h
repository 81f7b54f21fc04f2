// SPDX-License-Identifier: GPL-2.0
// WitnessState: the third vote, as pure logic (no I/O, time passed in).
// Per resource the witness keeps who may write (`holder`) and whose copy
// is current (`current`); per host the last time it was heard (in memory
// only). The rules and why they are safe are in
// Documentation/architecture.md, section "The witness".
//
//   claim(R, H)      granted iff H in current(R) and (holder none, H,
//                    released, or silent for longer than the lease);
//                    taking over from another (silent) holder
//                    narrows current to {H}. holder := H.
//   outdate(R, H)    H is holder and in current: current := {H}
//                    (H goes on alone; a frozen Primary resumes only after
//                    this succeeded).
//   release(R, H)    H is holder: holder := none, released by H.
//   uptodate(R,H,P)  H in current reports P connected and in sync:
//                    current += {P}.
//   first contact    a record is created only by a host that reports it is
//                    connected to its peer with both disks UpToDate
//                    (claim with in_sync_peer, or uptodate): current :=
//                    {H, P}. Nothing else creates a record.
// Every change increments the record's epoch. Every refusal carries one
// sentence saying why and what to do.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "common/clock.h"
#include "common/status.h"

namespace dtrbd::witness {

inline constexpr size_t kMaxHosts = 4;	// hosts in one record's current set

struct Record {
	uint64_t epoch = 0;
	std::string holder;		// "" = none
	bool released = false;		// the last holder released it cleanly
	std::string released_by;
	std::set<std::string> current;	// hosts whose copy is current
	std::string narrowed;		// why current last shrank, for refusals:
					// "p1 went on alone at epoch 7"
	bool operator==(const Record &) const = default;
};

struct Decision {
	bool granted = false;
	bool changed = false;		// the record changed (must be persisted)
	std::string reason;		// refusal sentence, or what was done
	std::optional<Record> record;	// after the request (none: no record)
};

class WitnessState {
public:
	using time_point = Clock::time_point;
	using Records = std::map<std::string, Record>;

	// `started`: when this witness process started. Until one full lease
	// has passed since then, every holder counts as alive: the witness
	// cannot know whether it was silent while the witness was down.
	WitnessState(Clock::duration lease, time_point started, Records records = {});

	// Any authenticated, fresh request from host refreshes its lease.
	void heard(const std::string &host, time_point now);

	Decision claim(const std::string &res, const std::string &host,
		       const std::string &in_sync_peer, time_point now);
	Decision outdate(const std::string &res, const std::string &host, time_point now);
	Decision release(const std::string &res, const std::string &host, time_point now);
	Decision uptodate(const std::string &res, const std::string &host,
			  const std::string &peer, time_point now);

	const Record *record(const std::string &res) const;
	const Records &records() const { return records_; }
	// Undo: put back records saved before a decision that could not be
	// made durable (lease times are kept).
	void set_records(Records r) { records_ = std::move(r); }
	Clock::duration lease() const { return lease_; }
	// How long host has been silent as far as this witness can tell
	// (counting from the witness's start when it never heard it).
	Clock::duration silent_for(const std::string &host, time_point now) const;

private:
	std::string not_current(const std::string &res, const Record &r,
				const std::string &host) const;
	Clock::duration lease_;
	time_point started_;
	Records records_;
	std::map<std::string, time_point> heard_;
};

// ---- persistence ----------------------------------------------------------

// The state file as JSON (also what `dtrbd-witness --dump` prints).
std::string to_json(const WitnessState::Records &records);
// Refuses anything it would not have written itself, with a sentence.
Result<WitnessState::Records> from_json(const std::string &text);

// Where decisions are made durable before the witness answers.
class Store {
public:
	virtual ~Store() = default;
	virtual Status save(const WitnessState::Records &records) = 0;
};

// DIR/state.json: written to DIR/state.json.tmp, fsynced, renamed over
// state.json, then DIR fsynced; a crash leaves the old or the new file.
class FileStore final : public Store {
public:
	explicit FileStore(std::string dir) : dir_(std::move(dir)) {}
	Status save(const WitnessState::Records &records) override;
	// The records in DIR/state.json: empty when there is none yet (a new
	// witness), an error when it exists but cannot be trusted.
	Result<WitnessState::Records> load() const;
	std::string path() const { return dir_ + "/state.json"; }

private:
	std::string dir_;
};

} // namespace dtrbd::witness
