// SPDX-License-Identifier: GPL-2.0
#include "witness/state.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "cluster/wire.h"
#include "common/crypto.h"
#include "common/fd.h"
#include "common/log.h"

namespace dtrbd::witness {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

static long long ms(Clock::duration d)
{
	return duration_cast<milliseconds>(d).count();
}

static std::string join(const std::set<std::string> &s)
{
	std::string out;
	for (const std::string &h : s)
		out += (out.empty() ? "" : ", ") + h;
	return out.empty() ? "nobody" : out;
}

WitnessState::WitnessState(Clock::duration lease, time_point started, Records records)
	: lease_(lease), started_(started), records_(std::move(records))
{
}

void WitnessState::heard(const std::string &host, time_point now)
{
	heard_[host] = now;
}

Clock::duration WitnessState::silent_for(const std::string &host, time_point now) const
{
	time_point last = started_;
	auto it = heard_.find(host);
	if (it != heard_.end() && it->second > last)
		last = it->second;
	return now - last;
}

const Record *WitnessState::record(const std::string &res) const
{
	auto it = records_.find(res);
	return it == records_.end() ? nullptr : &it->second;
}

std::string WitnessState::not_current(const std::string &res, const Record &r,
				      const std::string &host) const
{
	if (!r.narrowed.empty())
		return str(host, "'s copy of ", res, " is not current: ", r.narrowed,
			   "; connect ", host, " to ", join(r.current), " and let it resync first");
	return str(host, "'s copy of ", res, " is not current (current: ", join(r.current),
		   "); connect ", host, " to ", join(r.current), " and let it resync first");
}

static std::string no_record(const std::string &res)
{
	return str("the witness has no record of ", res,
		   " yet; it creates one only when a host reports ", res,
		   " connected and in sync with its peer, so connect both hosts first "
		   "(or promote by hand with --force if the peer is known to be gone)");
}

Decision WitnessState::claim(const std::string &res, const std::string &host,
			     const std::string &in_sync_peer, time_point now)
{
	heard(host, now);
	Decision d;
	auto it = records_.find(res);
	if (it == records_.end()) {
		if (in_sync_peer.empty() || in_sync_peer == host) {
			d.reason = no_record(res);
			return d;
		}
		Record r;
		r.epoch = 1;
		r.current = {host, in_sync_peer};
		it = records_.emplace(res, std::move(r)).first;
		d.changed = true;
	}
	Record &r = it->second;
	if (!r.current.count(host)) {
		d.reason = not_current(res, r, host);
		d.record = r;
		return d;
	}
	bool takeover = false;
	if (!r.holder.empty() && r.holder != host && !r.released) {
		Clock::duration silent = silent_for(r.holder, now);
		if (silent <= lease_) {
			if (now - started_ <= lease_ &&
			    (heard_.find(r.holder) == heard_.end()))
				d.reason = str(res, " is held by ", r.holder, " and the witness started only ",
					       ms(now - started_), " ms ago, so it cannot tell whether ",
					       r.holder, " is silent; it grants ", res, " to ", host,
					       " only after one full lease (", ms(lease_), " ms) since its start");
			else
				d.reason = str(res, " is held by ", r.holder, ", heard ", ms(silent),
					       " ms ago (lease ", ms(lease_), " ms); the witness grants it to ",
					       host, " only once ", r.holder,
					       " releases it or stays silent for the whole lease");
			d.record = r;
			return d;
		}
		takeover = true;
	}
	Record before = r;
	if (takeover) {
		r.current = {host};
		r.narrowed = str(host, " took over from ", before.holder, " (silent for ",
				 ms(silent_for(before.holder, now)), " ms) at epoch ", r.epoch + 1);
	}
	r.holder = host;
	r.released = false;
	r.released_by.clear();
	if (!(r == before)) {
		r.epoch++;
		d.changed = true;
	}
	d.granted = true;
	d.reason = takeover ? r.narrowed : str(host, " holds ", res, " (epoch ", r.epoch, ")");
	d.record = r;
	return d;
}

Decision WitnessState::outdate(const std::string &res, const std::string &host, time_point now)
{
	heard(host, now);
	Decision d;
	auto it = records_.find(res);
	if (it == records_.end()) {
		d.reason = no_record(res);
		return d;
	}
	Record &r = it->second;
	d.record = r;
	if (r.holder != host) {
		d.reason = str(host, " cannot outdate its peer for ", res, ": ",
			       r.holder.empty() ? std::string("nobody") : r.holder,
			       " holds it; claim it first");
		return d;
	}
	if (!r.current.count(host)) {	// cannot happen through these rules
		d.reason = not_current(res, r, host);
		return d;
	}
	if (r.current.size() > 1) {
		std::set<std::string> others = r.current;
		others.erase(host);
		r.current = {host};
		r.epoch++;
		r.narrowed = str(host, " went on alone at epoch ", r.epoch, " (outdating ",
				 join(others), ")");
		d.changed = true;
	}
	d.granted = true;
	d.reason = str(host, " goes on alone with ", res, "; current = {", host, "} (epoch ",
		       r.epoch, ")");
	d.record = r;
	return d;
}

Decision WitnessState::release(const std::string &res, const std::string &host, time_point now)
{
	heard(host, now);
	Decision d;
	auto it = records_.find(res);
	if (it == records_.end()) {
		d.reason = no_record(res);
		return d;
	}
	Record &r = it->second;
	if (r.holder.empty() && r.released && r.released_by == host) {
		d.granted = true;	// a retry: already released by host
		d.reason = str(host, " already released ", res);
		d.record = r;
		return d;
	}
	if (r.holder != host) {
		d.reason = str(host, " cannot release ", res, ": ",
			       r.holder.empty() ? std::string("nobody") : r.holder, " holds it");
		d.record = r;
		return d;
	}
	r.holder.clear();
	r.released = true;
	r.released_by = host;
	r.epoch++;
	d.changed = true;
	d.granted = true;
	d.reason = str(host, " released ", res, " (epoch ", r.epoch, ")");
	d.record = r;
	return d;
}

Decision WitnessState::uptodate(const std::string &res, const std::string &host,
				const std::string &peer, time_point now)
{
	heard(host, now);
	Decision d;
	if (peer.empty() || peer == host) {
		d.reason = str(host, " reported ", res, " in sync without naming another host");
		if (const Record *r = record(res))
			d.record = *r;
		return d;
	}
	auto it = records_.find(res);
	if (it == records_.end()) {
		Record r;
		r.epoch = 1;
		r.current = {host, peer};
		records_[res] = r;
		d.granted = d.changed = true;
		d.reason = str("first record of ", res, ": ", host, " and ", peer,
			       " are connected and in sync (epoch 1)");
		d.record = r;
		return d;
	}
	Record &r = it->second;
	d.record = r;
	if (!r.current.count(host)) {
		d.reason = str(host, " cannot vouch for ", peer, "'s copy of ", res, ": ",
			       not_current(res, r, host));
		return d;
	}
	if (!r.current.count(peer)) {
		if (r.current.size() >= kMaxHosts) {
			d.reason = str(res, " already has ", kMaxHosts, " current hosts, the most the witness records");
			return d;
		}
		r.current.insert(peer);
		r.epoch++;
		d.changed = true;
	}
	d.granted = true;
	d.reason = str(peer, "'s copy of ", res, " is current again (current: ", join(r.current),
		       ", epoch ", r.epoch, ")");
	d.record = r;
	return d;
}

// ---- persistence ----------------------------------------------------------

namespace {

constexpr const char *kFormat = "dtrbd-witness-state";
constexpr int kVersion = 1;

std::string checksum(const std::string &body)
{
	static const std::string key = "dtrbd witness state checksum v1";
	crypto::Digest d = crypto::hmac_sha256(
		std::span<const uint8_t>(reinterpret_cast<const uint8_t *>(key.data()), key.size()),
		std::span<const uint8_t>(reinterpret_cast<const uint8_t *>(body.data()), body.size()));
	static const char hex[] = "0123456789abcdef";
	std::string s;
	for (uint8_t b : d) {
		s += hex[b >> 4];
		s += hex[b & 15];
	}
	return s;
}

nlohmann::json records_json(const WitnessState::Records &records)
{
	nlohmann::json res = nlohmann::json::object();
	for (const auto &[name, r] : records) {
		res[name] = {
			{"epoch", r.epoch},
			{"holder", r.holder.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.holder)},
			{"released", r.released},
			{"released_by", r.released_by.empty() ? nlohmann::json(nullptr)
							      : nlohmann::json(r.released_by)},
			{"current", r.current},
			{"narrowed", r.narrowed},
		};
	}
	return res;
}

} // namespace

std::string to_json(const WitnessState::Records &records)
{
	nlohmann::json res = records_json(records);
	nlohmann::json j = {
		{"format", kFormat},
		{"version", kVersion},
		{"resources", res},
		{"checksum", checksum(res.dump())},
	};
	return j.dump(2) + "\n";
}

Result<WitnessState::Records> from_json(const std::string &text)
{
	nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
	if (j.is_discarded() || !j.is_object())
		return Status::error("it is not valid JSON");
	if (!j.contains("format") || j["format"] != kFormat)
		return Status::error("it is not a dtrbd-witness state file");
	if (!j.contains("version") || !j["version"].is_number_integer() || j["version"] != kVersion)
		return Status::error("its version is not 1");
	if (!j.contains("resources") || !j["resources"].is_object())
		return Status::error("it has no \"resources\" object");
	if (!j.contains("checksum") || !j["checksum"].is_string() ||
	    j["checksum"] != checksum(j["resources"].dump()))
		return Status::error("its checksum does not match its contents");
	WitnessState::Records out;
	for (const auto &[name, v] : j["resources"].items()) {
		auto bad = [&](const char *what) {
			return Status::error(str("resource '", name, "' has ", what));
		};
		if (!cluster::valid_name(name))
			return Status::error(str("'", name, "' is not a valid resource name"));
		if (!v.is_object())
			return bad("no record object");
		Record r;
		if (!v.contains("epoch") || !v["epoch"].is_number_unsigned())
			return bad("no valid epoch");
		r.epoch = v["epoch"].get<uint64_t>();
		for (const char *k : {"holder", "released_by"}) {
			if (!v.contains(k) || !(v[k].is_null() || v[k].is_string()))
				return bad("an invalid holder or released_by");
			std::string s = v[k].is_null() ? "" : v[k].get<std::string>();
			if (!s.empty() && !cluster::valid_name(s))
				return bad("an invalid host name");
			(std::string(k) == "holder" ? r.holder : r.released_by) = s;
		}
		if (!v.contains("released") || !v["released"].is_boolean())
			return bad("no valid released flag");
		r.released = v["released"].get<bool>();
		if (!v.contains("current") || !v["current"].is_array() || v["current"].size() > kMaxHosts)
			return bad("no valid current set");
		for (const auto &h : v["current"]) {
			if (!h.is_string() || !cluster::valid_name(h.get<std::string>()))
				return bad("an invalid host in its current set");
			r.current.insert(h.get<std::string>());
		}
		if (!v.contains("narrowed") || !v["narrowed"].is_string())
			return bad("no valid narrowed text");
		r.narrowed = v["narrowed"].get<std::string>();
		if (r.epoch == 0 || (!r.holder.empty() && r.released))
			return bad("a record the witness never writes");
		out[name] = std::move(r);
	}
	return out;
}

static Status write_all(int fd, const std::string &s, const std::string &path)
{
	size_t off = 0;
	while (off < s.size()) {
		ssize_t n = ::write(fd, s.data() + off, s.size() - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return Status::error(str("cannot write ", path, ": ", errno_text(errno)), errno);
		off += static_cast<size_t>(n);
	}
	return {};
}

Status FileStore::save(const WitnessState::Records &records)
{
	std::string tmp = dir_ + "/state.json.tmp";
	std::string text = to_json(records);
	{
		UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
		if (!fd.valid())
			return Status::error(str("cannot create ", tmp, ": ", errno_text(errno)), errno);
		Status st = write_all(fd.get(), text, tmp);
		if (!st)
			return st;
		if (::fsync(fd.get()) < 0)
			return Status::error(str("cannot fsync ", tmp, ": ", errno_text(errno)), errno);
	}
	if (::rename(tmp.c_str(), path().c_str()) < 0)
		return Status::error(str("cannot rename ", tmp, " to ", path(), ": ", errno_text(errno)), errno);
	UniqueFd dfd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (!dfd.valid() || ::fsync(dfd.get()) < 0)
		return Status::error(str("cannot fsync ", dir_, ": ", errno_text(errno)), errno);
	return {};
}

Result<WitnessState::Records> FileStore::load() const
{
	UniqueFd fd(::open(path().c_str(), O_RDONLY | O_CLOEXEC));
	if (!fd.valid()) {
		if (errno == ENOENT)
			return WitnessState::Records{};
		return Status::error(str("cannot read ", path(), ": ", errno_text(errno)), errno);
	}
	std::string text;
	char buf[4096];
	for (;;) {
		ssize_t n = ::read(fd.get(), buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return Status::error(str("cannot read ", path(), ": ", errno_text(errno)), errno);
		if (n == 0)
			break;
		text.append(buf, static_cast<size_t>(n));
		if (text.size() > (16u << 20))
			return Status::error(str(path(), " is larger than 16 MiB; it is not a witness state file"));
	}
	Result<WitnessState::Records> r = from_json(text);
	if (!r)
		return Status::error(str("refusing to start: ", path(), " cannot be trusted (",
					 r.status().message(),
					 "); restore it from a backup, or move it away to start an empty "
					 "witness, which is safe but records nothing until each resource's "
					 "hosts are connected and in sync again"));
	return r;
}

} // namespace dtrbd::witness
