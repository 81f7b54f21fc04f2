// SPDX-License-Identifier: GPL-2.0
#include "cluster/membership.h"

#include <algorithm>
#include <set>

#include "common/log.h"

namespace dtrbd::cluster {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

static long long ms(Clock::duration d)
{
	return duration_cast<milliseconds>(d).count();
}

std::optional<std::string> check_config(const MembershipConfig &c)
{
	if (!valid_name(c.self))
		return str("host name '", c.self, "' cannot be used in heartbeats: use 1 to ",
			   kMaxName, " letters, digits, '.', '_' or '-'");
	if (c.links == 0 || c.links > 255)
		return str("a host needs 1 to 255 heartbeat links, not ", c.links);
	if (c.interval <= Clock::duration::zero())
		return std::string("the heartbeat interval must be positive");
	if (c.deadtime < 2 * c.interval)
		return str("deadtime (", ms(c.deadtime), " ms) must be at least twice the heartbeat interval (",
			   ms(c.interval), " ms), or one lost datagram would kill a peer");
	std::set<std::string> seen;
	for (const PeerConfig &p : c.peers) {
		if (!valid_name(p.name))
			return str("peer name '", p.name, "' cannot be used in heartbeats: use 1 to ",
				   kMaxName, " letters, digits, '.', '_' or '-'");
		if (p.name == c.self)
			return str("host ", c.self, " is listed as its own peer");
		if (!seen.insert(p.name).second)
			return str("peer ", p.name, " is listed twice");
		if (p.addresses.size() != c.links)
			return str("peer ", p.name, " has ", p.addresses.size(),
				   " heartbeat addresses but this host has ", c.links,
				   " links; give both hosts the same number of heartbeat addresses");
	}
	return std::nullopt;
}

std::string describe(const Event &e, const MembershipConfig &c)
{
	struct V {
		const MembershipConfig &c;
		std::string operator()(const PeerAlive &x) const
		{
			return str("peer ", x.peer, " is alive (boot id ", std::hex, x.boot_id, ")");
		}
		std::string operator()(const PeerDead &x) const
		{
			return str("peer ", x.peer, " is dead: no heartbeat on any link for ",
				   ms(c.deadtime), " ms");
		}
		std::string operator()(const PeerRestarted &x) const
		{
			return str("peer ", x.peer, "'s daemon restarted (boot id ", std::hex,
				   x.old_boot, " -> ", x.new_boot, ")");
		}
		std::string operator()(const LinkUp &x) const
		{
			return str("heartbeat link ", x.link, " to ", x.peer, " is up");
		}
		std::string operator()(const LinkDown &x) const
		{
			if (x.peer_alive)
				return str("warning: heartbeat link ", x.link, " to ", x.peer,
					   " is silent for ", ms(c.deadtime),
					   " ms while another link still hears it; check that link");
			return str("heartbeat link ", x.link, " to ", x.peer, " is silent");
		}
		std::string operator()(const SummaryChanged &x) const
		{
			std::string s = str(x.peer, " reports changes for");
			for (const std::string &r : x.resources)
				s += " " + r;
			return s;
		}
	};
	return std::visit(V{c}, e);
}

Membership::Membership(MembershipConfig config, const Keys &keys,
		       uint64_t boot_id, const Clock &clock, Transport &transport)
	: config_(std::move(config)), keys_(keys), boot_id_(boot_id),
	  clock_(clock), transport_(transport), next_send_(clock.now())
{
	for (const PeerConfig &pc : config_.peers) {
		PeerState p;
		p.name = pc.name;
		p.links.resize(config_.links);
		peers_.push_back(std::move(p));
	}
}

void Membership::set_summaries(std::vector<ResourceSummary> summaries)
{
	summaries_ = std::move(summaries);
}

PeerState *Membership::find(std::string_view name)
{
	for (PeerState &p : peers_)
		if (p.name == name)
			return &p;
	return nullptr;
}

const PeerState *Membership::peer(std::string_view name) const
{
	for (const PeerState &p : peers_)
		if (p.name == name)
			return &p;
	return nullptr;
}

void Membership::reject(Reject why, size_t link, const std::string &who)
{
	counters_.rejected[why]++;
	if (why == Reject::StaleEcho) {
		// Normal for a moment after either side starts.
		log::debug("heartbeat from ", who, " on link ", link, ": ", to_string(why));
		return;
	}
	RateLimit &rl = ratelimit_[why];
	Clock::time_point now = clock_.now();
	if (rl.logged && now - rl.last < config_.log_interval) {
		rl.suppressed++;
		return;
	}
	std::string line = str("ignored a heartbeat datagram on link ", link,
			       who.empty() ? "" : " claiming to be from " + who, ": ",
			       to_string(why));
	if (rl.suppressed)
		line += str(" (", rl.suppressed, " more of this kind since the last report)");
	rl.logged = true;
	rl.last = now;
	rl.suppressed = 0;
	if (log_)
		log_(line);
}

std::vector<Event> Membership::receive(size_t link, std::span<const uint8_t> datagram)
{
	std::vector<Event> ev;
	Reject why = Reject::None;
	std::optional<Heartbeat> hb = decode_heartbeat(datagram, keys_, &why);
	if (!hb) {
		if (why == Reject::OtherSecret)
			other_secret_at_ = clock_.now();
		reject(why, link, "");
		return ev;
	}
	if (hb->sender == config_.self) {
		reject(Reject::Reflected, link, hb->sender);
		return ev;
	}
	if (hb->receiver != config_.self) {
		reject(Reject::NotForUs, link, hb->sender);
		return ev;
	}
	PeerState *p = find(hb->sender);
	if (!p) {
		reject(Reject::UnknownSender, link, hb->sender);
		return ev;
	}
	if (link >= config_.links || hb->link != link) {
		reject(Reject::WrongLink, link, hb->sender);
		return ev;
	}
	ReplayGuard::Verdict v = p->guard.check(*hb, boot_id_);
	if (v.reject != Reject::None) {
		reject(v.reject, link, hb->sender);
		return ev;
	}
	counters_.accepted++;
	Clock::time_point now = clock_.now();
	if (v.restarted) {
		ev.push_back(PeerRestarted{p->name, v.old_boot, hb->boot_id});
		p->summaries.clear();
	}
	p->boot_id = hb->boot_id;
	LinkState &l = p->links[link];
	l.ever_heard = true;
	l.last_heard = now;
	if (!l.up) {
		l.up = true;
		ev.push_back(LinkUp{p->name, link});
	}
	p->ever_heard = true;
	p->last_heard = now;
	if (!p->alive) {
		p->alive = true;
		ev.push_back(PeerAlive{p->name, hb->boot_id});
	}
	SummaryChanged sc{p->name, {}};
	for (ResourceSummary &s : hb->summaries) {
		auto it = p->summaries.find(s.name);
		if (it != p->summaries.end() && it->second == s)
			continue;
		sc.resources.push_back(s.name);
		p->summaries[s.name] = std::move(s);
	}
	if (!sc.resources.empty())
		ev.push_back(std::move(sc));
	for (const Event &e : ev)
		if (log_ && !std::holds_alternative<SummaryChanged>(e))
			log_(describe(e, config_));
	return ev;
}

void Membership::send_all()
{
	// One datagram per chunk of summaries; at least one (no summaries
	// still proves liveness).
	size_t chunks = std::max<size_t>(1, (summaries_.size() + kMaxSummaries - 1) / kMaxSummaries);
	for (size_t c = 0; c < chunks; c++) {
		Heartbeat hb;
		hb.key_id = keys_.key_id;
		hb.sender = config_.self;
		hb.boot_id = boot_id_;
		size_t first = c * kMaxSummaries;
		size_t last = std::min(summaries_.size(), first + kMaxSummaries);
		hb.summaries.assign(summaries_.begin() + first, summaries_.begin() + last);
		for (size_t pi = 0; pi < peers_.size(); pi++) {
			hb.receiver = peers_[pi].name;
			hb.echo = peers_[pi].guard.echo();
			for (size_t link = 0; link < config_.links; link++) {
				hb.link = static_cast<uint8_t>(link);
				hb.seq = ++seq_;
				std::vector<uint8_t> d = encode_heartbeat(hb, keys_);
				if (d.empty()) {
					counters_.send_errors++;
					continue;
				}
				Status st = transport_.send(link, config_.peers[pi].addresses[link],
							    config_.port, d);
				if (st.ok())
					counters_.sent++;
				else
					counters_.send_errors++;
			}
		}
	}
}

std::vector<Event> Membership::tick()
{
	std::vector<Event> ev;
	Clock::time_point now = clock_.now();
	if (now >= next_send_) {
		send_all();
		next_send_ += config_.interval;
		if (next_send_ <= now)	// we were late: do not send a burst
			next_send_ = now + config_.interval;
	}
	for (PeerState &p : peers_) {
		std::vector<size_t> down;
		for (size_t i = 0; i < p.links.size(); i++) {
			LinkState &l = p.links[i];
			if (l.up && now - l.last_heard > config_.deadtime) {
				l.up = false;
				down.push_back(i);
			}
		}
		bool died = p.alive && now - p.last_heard > config_.deadtime;
		if (died)
			p.alive = false;
		for (size_t i : down)
			ev.push_back(LinkDown{p.name, i, p.alive});
		if (died)
			ev.push_back(PeerDead{p.name});
	}
	for (const Event &e : ev)
		if (log_)
			log_(describe(e, config_));
	return ev;
}

Clock::time_point Membership::next_wakeup() const
{
	Clock::time_point t = next_send_;
	// One tick past the deadline: alive means "heard within deadtime".
	Clock::duration past = config_.deadtime + Clock::duration(1);
	for (const PeerState &p : peers_) {
		if (p.alive)
			t = std::min(t, p.last_heard + past);
		for (const LinkState &l : p.links)
			if (l.up)
				t = std::min(t, l.last_heard + past);
	}
	return t;
}

} // namespace dtrbd::cluster
