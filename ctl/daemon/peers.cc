// SPDX-License-Identifier: GPL-2.0
#include "daemon/peers.h"

#include "cluster/glue.h"
#include "common/log.h"
#include "witness/glue.h"

namespace dtrbd::daemon {

namespace {

std::chrono::milliseconds until(const Clock &clock, Clock::time_point at)
{
	auto left = std::chrono::ceil<std::chrono::milliseconds>(at - clock.now());
	return std::max(left, std::chrono::milliseconds(1));
}

} // namespace

// ---- heartbeats -------------------------------------------------------------

Result<std::unique_ptr<Heartbeats>> Heartbeats::make(Loop &loop, const config::Config &cfg,
						      const std::string &self,
						      const cluster::Keys &keys, uint64_t boot_id,
						      const Clock &clock, Core &core,
						      std::function<void(const std::string &)> log)
{
	std::unique_ptr<Heartbeats> h(new Heartbeats(loop, core, clock));
	h->log_ = std::move(log);
	const config::Host *me = cfg.find_host(self);
	cluster::MembershipConfig mc;
	mc.self = self;
	std::vector<std::string> ips;
	for (const auto &e : me->heartbeat)
		ips.push_back(e.ip());
	mc.links = ips.size();
	for (const auto &[name, host] : cfg.hosts) {
		if (name == self)
			continue;
		cluster::PeerConfig pc;
		pc.name = name;
		for (size_t i = 0; i < mc.links; i++)
			pc.addresses.push_back(host.heartbeat[std::min(i, host.heartbeat.size() - 1)].ip());
		mc.peers.push_back(std::move(pc));
	}
	mc.port = cfg.heartbeat_port;
	mc.interval = cfg.timing.heartbeat_interval;
	mc.deadtime = cfg.timing.deadtime;
	if (auto bad = cluster::check_config(mc))
		return Status::error(*bad);
	auto udp = cluster::UdpTransport::open(ips, mc.port);
	if (!udp)
		return udp.status();
	h->udp_.emplace(std::move(*udp));
	h->m_ = std::make_unique<cluster::Membership>(mc, keys, boot_id, clock, *h->udp_);
	h->m_->set_log(h->log_);
	auto t = Timer::make();
	if (!t)
		return t.status();
	h->timer_.emplace(std::move(*t));
	Heartbeats *self_p = h.get();
	Status st = loop.add(h->timer_->fd(), EPOLLIN, [self_p](uint32_t) {
		self_p->timer_->consume();
		self_p->handle(self_p->m_->tick());
		self_p->update();
	});
	for (size_t i = 0; st && i < h->udp_->links(); i++)
		st = loop.add(h->udp_->socket(i).fd(), EPOLLIN, [self_p, i](uint32_t) {
			auto other = self_p->m_->last_other_secret();
			for (int n = 0; n < 64; n++) {
				auto d = self_p->udp_->socket(i).receive();
				if (!d || !*d)
					break;
				self_p->handle(self_p->m_->receive(i, (*d)->data));
			}
			// Datagrams under another secret raise no event: tell
			// the core about them (a hint for `blocked`).
			if (self_p->m_->last_other_secret() != other)
				for (const auto &p : self_p->m_->peers())
					self_p->report(p.name);
			self_p->update();
		});
	if (!st)
		return st;
	h->update();
	return h;
}

Heartbeats::~Heartbeats()
{
	if (timer_)
		loop_.remove(timer_->fd());
	if (udp_)
		for (size_t i = 0; i < udp_->links(); i++)
			loop_.remove(udp_->socket(i).fd());
}

void Heartbeats::report(const std::string &peer)
{
	const cluster::PeerState *p = m_->peer(peer);
	if (!p)
		return;
	HostView v;
	v.alive = p->alive;
	v.ever_heard = p->ever_heard;
	v.last_heard = cluster::to_arbiter_time(p->last_heard);
	v.boot_id = p->boot_id;
	if (auto t = m_->last_other_secret())
		v.other_secret_at = cluster::to_arbiter_time(*t);
	for (const auto &l : p->links)
		v.link_heard.push_back(l.ever_heard ? std::optional(cluster::to_arbiter_time(l.last_heard))
						    : std::nullopt);
	for (const auto &[name, s] : p->summaries)
		v.summaries[name] = cluster::to_arbiter(s);
	core_.on_host(peer, v);
}

void Heartbeats::handle(const std::vector<cluster::Event> &evs)
{
	// Membership logs its events itself (set_log above).
	for (const auto &e : evs) {
		std::visit([this](const auto &ev) { report(ev.peer); }, e);
	}
	// last_heard moves with every datagram: keep the core's view fresh.
	for (const auto &p : m_->peers())
		if (p.alive)
			report(p.name);
}

void Heartbeats::update()
{
	std::vector<cluster::ResourceSummary> ss;
	for (const auto &s : core_.summaries())
		ss.push_back(cluster::from_arbiter(s.name, s.minor, s.summary));
	m_->set_summaries(std::move(ss));
	(void)timer_->arm(until(clock_, m_->next_wakeup()));
}

// ---- witness ------------------------------------------------------------------

Result<std::unique_ptr<WitnessLink>> WitnessLink::make(Loop &loop, const config::Config &cfg,
							const std::string &self,
							const cluster::Keys &keys, uint64_t boot_id,
							const Clock &clock)
{
	std::unique_ptr<WitnessLink> w(new WitnessLink(loop, clock));
	w->address_ = cfg.witness->address.str();
	auto peer = cluster::parse_endpoint(w->address_);
	if (!peer)
		return peer.status();
	auto local = cluster::parse_address(cfg.find_host(self)->address.ip(), 0);
	if (!local)
		return local.status();
	auto sock = cluster::UdpSocket::open(*local, *peer);
	if (!sock)
		return sock.status();
	w->sock_.emplace(std::move(*sock));
	witness::ClientConfig cc;
	cc.host = self;
	cc.boot_id = boot_id;
	// Until the witness states its lease in an answer (it always does):
	// the configuration's witness-lease, which the witness should be
	// started with (dtrbd-witness --lease-ms, same default).
	cc.assumed_lease = cfg.timing.witness_lease;
	w->client_ = std::make_unique<witness::WitnessClient>(cc, keys, clock, *w);
	std::vector<std::string> names;
	for (const auto *r : cfg.resources_of(self))
		names.push_back(r->name);
	w->client_->set_resources(names);
	auto t = Timer::make();
	if (!t)
		return t.status();
	w->timer_.emplace(std::move(*t));
	WitnessLink *p = w.get();
	Status st = loop.add(w->timer_->fd(), EPOLLIN, [p](uint32_t) {
		p->timer_->consume();
		p->deliver(p->client_->tick());
		p->update();
	});
	if (st)
		st = loop.add(w->sock_->fd(), EPOLLIN, [p](uint32_t) {
			for (int n = 0; n < 64; n++) {
				auto d = p->sock_->receive();
				if (!d || !*d)
					break;
				p->deliver(p->client_->receive((*d)->data));
			}
			p->update();
		});
	if (!st)
		return st;
	w->update();
	return w;
}

WitnessLink::~WitnessLink()
{
	if (timer_)
		loop_.remove(timer_->fd());
	if (sock_)
		loop_.remove(sock_->fd());
}

Status WitnessLink::send(std::span<const uint8_t> datagram)
{
	return sock_->send(datagram);
}

void WitnessLink::submit(uint64_t id, arbiter::ActionKind kind, const std::string &resource,
			 const std::string &peer, bool in_sync)
{
	client_->submit(id, witness::witness_op(kind), resource, peer, in_sync);
	update();
}

arbiter::WitnessView WitnessLink::view(const std::string &resource) const
{
	return witness::witness_view(*client_, resource);
}

void WitnessLink::deliver(const std::vector<witness::ClientResult> &rs)
{
	if (!core_)
		return;
	for (const auto &r : rs)
		if (r.op != witness::Op::Keepalive)
			core_->on_witness_done(r.resource, witness::action_done(r));
	bool now = client_->reachable();
	if (now != reachable_)
		log_(now ? str("witness ", address_, " is reachable (lease ",
			       std::chrono::duration_cast<std::chrono::milliseconds>(client_->lease()).count(),
			       " ms)")
			 : str("witness ", address_, " is unreachable: no answer for half its lease"));
	// A keep-alive answer that changed a record (or told us for the first
	// time that the witness has none) must reach the arbiters too: the
	// lab's failback found a healthy pair that never created its record,
	// because first contact waits for "the witness has no record", which
	// only keep-alives report.
	if (now != reachable_ || !rs.empty() || client_->records_version() != records_seen_) {
		reachable_ = now;
		records_seen_ = client_->records_version();
		core_->on_witness_view();
	}
}

void WitnessLink::update()
{
	(void)timer_->arm(until(clock_, client_->next_wakeup()));
}

} // namespace dtrbd::daemon
