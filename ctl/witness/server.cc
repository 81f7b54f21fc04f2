// SPDX-License-Identifier: GPL-2.0
#include "witness/server.h"

#include <chrono>

#include "common/crypto.h"
#include "common/log.h"

namespace dtrbd::witness {

Server::Server(WitnessState state, const cluster::Keys &keys, Store &store, const Clock &clock,
	       std::function<void(const std::string &)> log)
	: state_(std::move(state)), keys_(keys), store_(store), clock_(clock), log_(std::move(log))
{
}

void Server::reject(Reject why, const std::string &from)
{
	counters_.rejected[why]++;
	Clock::time_point now = clock_.now();
	auto it = last_logged_.find(why);
	if (it != last_logged_.end() && now - it->second < std::chrono::seconds(10))
		return;
	last_logged_[why] = now;
	if (log_)
		log_(str("ignored a datagram from ", from, ": ", cluster::to_string(why),
			 " (further ones of this kind are counted, not logged, for 10 s)"));
}

Response Server::answer(const Request &q)
{
	Clock::time_point now = clock_.now();
	Response p;
	p.kind = Kind::Answer;
	state_.heard(q.host, now);
	if (q.op == Op::Keepalive) {
		p.granted = true;
		for (const std::string &name : q.resources) {
			WireRecord wr{name, std::nullopt};
			if (const Record *r = state_.record(name))
				wr.record = *r;
			p.records.push_back(wr);
		}
		return p;
	}
	const std::string &res = q.resources.at(0);
	WitnessState::Records before = state_.records();
	Decision d;
	switch (q.op) {
	case Op::Claim:
		d = state_.claim(res, q.host, q.in_sync ? q.peer : "", now);
		break;
	case Op::Outdate:
		d = state_.outdate(res, q.host, now);
		break;
	case Op::Release:
		d = state_.release(res, q.host, now);
		break;
	case Op::Uptodate:
		d = state_.uptodate(res, q.host, q.peer, now);
		break;
	case Op::Keepalive:
		break;
	}
	if (d.changed) {
		Status st = store_.save(state_.records());
		if (!st) {
			// Not durable, so not decided: undo and refuse.
			counters_.save_errors++;
			d.granted = false;
			d.reason = str("the witness could not save its state (", st.message(),
				       "), so nothing changed; fix the witness's state directory");
			state_.set_records(std::move(before));
			const Record *r = state_.record(res);
			d.record = r ? std::optional<Record>(*r) : std::nullopt;
		}
	}
	p.granted = d.granted;
	p.reason = d.reason;
	p.records.push_back(WireRecord{res, d.record});
	if (log_)
		log_(str(to_string(q.op), " ", res, " from ", q.host, ": ",
			 d.granted ? "granted" : "refused", ": ", d.reason));
	return p;
}

std::optional<std::vector<uint8_t>> Server::handle(std::span<const uint8_t> datagram,
						   const std::string &from)
{
	Reject why = Reject::None;
	std::optional<Request> q = decode_request(datagram, keys_, &why);
	if (!q) {
		reject(why, from);
		return std::nullopt;
	}
	Session &s = sessions_[q->host];
	if (q->session == 0 || q->session != s.id) {
		Session fresh;
		if (!crypto::random_bytes(std::span<uint8_t>(reinterpret_cast<uint8_t *>(&fresh.id),
							     sizeof(fresh.id))) || fresh.id == 0) {
			if (log_)
				log_("cannot draw a random session id; dropping a request");
			return std::nullopt;
		}
		if (s.id != 0 && s.boot_id != q->boot_id && log_)
			log_(str(q->host, " reports a new boot id (its daemon restarted): new session"));
		fresh.boot_id = q->boot_id;
		s = fresh;
		counters_.sessions++;
		Response p;
		p.kind = Kind::NewSession;
		p.session = s.id;
		p.seq = q->seq;
		p.nonce = q->nonce;
		p.lease_ms = static_cast<uint32_t>(
			std::chrono::duration_cast<std::chrono::milliseconds>(state_.lease()).count());
		return encode_response(p, keys_);
	}
	if (q->seq == s.last_seq && q->nonce == s.last_nonce && !s.last_reply.empty()) {
		counters_.retries++;
		return s.last_reply;
	}
	if (q->seq <= s.last_seq) {
		counters_.stale++;
		reject(Reject::Replayed, from);
		return std::nullopt;
	}
	Response p = answer(*q);
	p.session = s.id;
	p.seq = q->seq;
	p.nonce = q->nonce;
	p.lease_ms = static_cast<uint32_t>(
		std::chrono::duration_cast<std::chrono::milliseconds>(state_.lease()).count());
	std::vector<uint8_t> out = encode_response(p, keys_);
	s.last_seq = q->seq;
	s.last_nonce = q->nonce;
	s.last_reply = out;
	counters_.answered++;
	return out;
}

} // namespace dtrbd::witness
