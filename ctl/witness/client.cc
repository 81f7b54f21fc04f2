// SPDX-License-Identifier: GPL-2.0
#include "witness/client.h"

#include <algorithm>

#include "common/crypto.h"
#include "common/log.h"

namespace dtrbd::witness {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

WitnessClient::WitnessClient(ClientConfig config, const cluster::Keys &keys, const Clock &clock,
			     Sender &sender)
	: config_(std::move(config)), keys_(keys), clock_(clock), sender_(sender),
	  next_keepalive_(clock.now()), lease_(config_.assumed_lease)
{
}

void WitnessClient::set_resources(std::vector<std::string> names)
{
	resources_ = std::move(names);
	rr_ = 0;
}

void WitnessClient::submit(uint64_t id, Op op, const std::string &resource,
			   const std::string &peer, bool in_sync)
{
	Pending p;
	p.id = id;
	p.req.op = op;
	p.req.resources = {resource};
	p.req.peer = peer;
	p.req.in_sync = in_sync;
	queue_.push_back(std::move(p));
	if (inflight_ && inflight_->keepalive)
		inflight_.reset();	// the request refreshes the lease too
	std::vector<ClientResult> none;
	maybe_start(none);
}

void WitnessClient::transmit(Pending &p, bool renew)
{
	if (renew) {
		p.req.host = config_.host;
		p.req.boot_id = config_.boot_id;
		p.req.session = session_;
		p.req.seq = ++seq_;
		if (!crypto::random_bytes(p.req.nonce))
			p.req.nonce = {};	// still unique per seq; logged below
		p.bytes = encode_request(p.req, keys_);
	}
	p.last_sent = clock_.now();
	if (p.bytes.empty())
		return;
	Status st = sender_.send(p.bytes);
	if (!st)
		log::debug("witness: ", st.message());
}

void WitnessClient::start(Pending p)
{
	p.started = clock_.now();
	inflight_ = std::move(p);
	transmit(*inflight_, true);
}

void WitnessClient::maybe_start(std::vector<ClientResult> &out)
{
	while (!inflight_ && !queue_.empty()) {
		Pending p = std::move(queue_.front());
		queue_.pop_front();
		start(std::move(p));
		if (inflight_->bytes.empty()) {
			// Names the wire cannot carry: answer now, never send.
			ClientResult r;
			r.id = inflight_->id;
			r.op = inflight_->req.op;
			r.resource = inflight_->req.resources.at(0);
			r.message = str("cannot ask the witness about '", r.resource, "' for host '",
					config_.host, "': names must be 1 to ", cluster::kMaxName,
					" letters, digits, '.', '_' or '-'");
			out.push_back(std::move(r));
			inflight_.reset();
		}
	}
	if (!inflight_ && clock_.now() >= next_keepalive_) {
		Pending p;
		p.keepalive = true;
		p.req.op = Op::Keepalive;
		for (size_t i = 0; i < std::min(kMaxAsk, resources_.size()); i++)
			p.req.resources.push_back(resources_[(rr_ + i) % resources_.size()]);
		if (!resources_.empty())
			rr_ = (rr_ + kMaxAsk) % resources_.size();
		next_keepalive_ = clock_.now() + config_.keepalive_interval;
		start(std::move(p));
		if (inflight_->bytes.empty())
			inflight_.reset();
	}
}

std::vector<ClientResult> WitnessClient::receive(std::span<const uint8_t> datagram)
{
	std::vector<ClientResult> out;
	Reject why = Reject::None;
	std::optional<Response> p = decode_response(datagram, keys_, &why);
	if (!p) {
		log::debug("witness: ignored a datagram: ", cluster::to_string(why));
		return out;
	}
	if (!inflight_ || p->seq != inflight_->req.seq || p->nonce != inflight_->req.nonce)
		return out;	// late, duplicated or replayed: answers nothing we asked
	last_answer_ = clock_.now();
	if (p->lease_ms)
		lease_ = milliseconds(p->lease_ms);
	if (p->kind == Kind::NewSession) {
		session_ = p->session;
		transmit(*inflight_, true);	// same request, new session and seq
		return out;
	}
	for (const WireRecord &wr : p->records) {
		auto it = records_.find(wr.name);
		if (it == records_.end() || it->second != wr.record) {
			records_[wr.name] = wr.record;
			records_version_++;
		}
	}
	if (!inflight_->keepalive) {
		ClientResult r;
		r.id = inflight_->id;
		r.op = inflight_->req.op;
		r.resource = inflight_->req.resources.at(0);
		r.granted = p->granted;
		r.answered = true;
		r.message = p->reason;
		if (!p->records.empty())
			r.record = p->records[0].record;
		out.push_back(std::move(r));
	}
	inflight_.reset();
	maybe_start(out);
	return out;
}

std::vector<ClientResult> WitnessClient::tick()
{
	std::vector<ClientResult> out;
	Clock::time_point now = clock_.now();
	if (inflight_) {
		Clock::duration limit = inflight_->keepalive ? config_.keepalive_interval * 4 : config_.timeout;
		if (now - inflight_->started >= limit) {
			if (!inflight_->keepalive) {
				ClientResult r;
				r.id = inflight_->id;
				r.op = inflight_->req.op;
				r.resource = inflight_->req.resources.at(0);
				r.message = str("the witness did not answer ", to_string(r.op), " ", r.resource,
						" within ", duration_cast<milliseconds>(config_.timeout).count(),
						" ms; is dtrbd-witness running and reachable?");
				out.push_back(std::move(r));
			}
			inflight_.reset();
		} else if (now - inflight_->last_sent >= config_.retry) {
			transmit(*inflight_, false);
		}
	}
	maybe_start(out);
	return out;
}

Clock::time_point WitnessClient::next_wakeup() const
{
	if (inflight_) {
		Clock::duration limit = inflight_->keepalive ? config_.keepalive_interval * 4 : config_.timeout;
		return std::min(inflight_->last_sent + config_.retry, inflight_->started + limit);
	}
	if (!queue_.empty())
		return clock_.now();
	return next_keepalive_;
}

bool WitnessClient::reachable() const
{
	return last_answer_ && clock_.now() - *last_answer_ <= lease_ / 2;
}

} // namespace dtrbd::witness
