// SPDX-License-Identifier: GPL-2.0
#include "daemon/core.h"

#include <linux/dtrbd.h>

#include <algorithm>
#include <cerrno>

#include "cli/format.h"
#include "common/log.h"
#include "daemon/control.h"

namespace dtrbd::daemon {

using nlohmann::json;
namespace ab = arbiter;

// ---- conversions ------------------------------------------------------------

ab::KernelView kernel_view(const std::optional<DeviceStatus> &d)
{
	ab::KernelView k;
	if (!d)
		return k;
	k.attached = d->disk && *d->disk != DTRBD_DISK_DISKLESS;
	switch (d->role.value_or(DTRBD_ROLE_UNKNOWN)) {
	case DTRBD_ROLE_PRIMARY: k.role = ab::Role::Primary; break;
	case DTRBD_ROLE_SECONDARY: k.role = ab::Role::Secondary; break;
	default: k.role = ab::Role::Unknown;
	}
	switch (d->peer_role.value_or(DTRBD_ROLE_UNKNOWN)) {
	case DTRBD_ROLE_PRIMARY: k.peer_role = ab::Role::Primary; break;
	case DTRBD_ROLE_SECONDARY: k.peer_role = ab::Role::Secondary; break;
	default: k.peer_role = ab::Role::Unknown;
	}
	switch (d->conn.value_or(DTRBD_CONN_STANDALONE)) {
	case DTRBD_CONN_CONNECTING: k.conn = ab::Conn::Connecting; break;
	case DTRBD_CONN_CONNECTED: k.conn = ab::Conn::Connected; break;
	case DTRBD_CONN_DISCONNECTING: k.conn = ab::Conn::Disconnecting; break;
	default: k.conn = ab::Conn::Standalone;
	}
	auto disk = [](std::optional<uint8_t> v) {
		switch (v.value_or(DTRBD_DISK_UNKNOWN)) {
		case DTRBD_DISK_DISKLESS: return ab::Disk::Diskless;
		case DTRBD_DISK_INCONSISTENT: return ab::Disk::Inconsistent;
		case DTRBD_DISK_OUTDATED: return ab::Disk::Outdated;
		case DTRBD_DISK_UPTODATE: return ab::Disk::UpToDate;
		default: return ab::Disk::Unknown;
		}
	};
	k.disk = disk(d->disk);
	k.peer_disk = disk(d->peer_disk);
	switch (d->sync.value_or(DTRBD_SYNC_NONE)) {
	case DTRBD_SYNC_SOURCE: k.sync = ab::Sync::Source; break;
	case DTRBD_SYNC_TARGET: k.sync = ab::Sync::Target; break;
	default: k.sync = ab::Sync::None;
	}
	k.sync_total = d->sync_total.value_or(0);
	k.sync_done = d->sync_done.value_or(0);
	k.open_count = d->open_count.value_or(0);
	uint32_t flags = d->flags.value_or(0);
	k.split_brain = flags & DTRBD_F_SPLIT_BRAIN;
	k.frozen = d->frozen.value_or(0) != 0;
	k.io_failed = d->io_failed.value_or(0) != 0;
	return k;
}

ab::VmView vm_view(const std::optional<vm::DomainInfo> &d)
{
	ab::VmView v;
	if (!d)
		return v;
	switch (d->state) {
	case vm::DomainState::kMissing: v.state = ab::DomainState::Missing; break;
	case vm::DomainState::kRunning: v.state = ab::DomainState::Running; break;
	case vm::DomainState::kPaused:
	case vm::DomainState::kPmSuspended: v.state = ab::DomainState::Paused; break;
	case vm::DomainState::kShuttingDown: v.state = ab::DomainState::ShuttingDown; break;
	case vm::DomainState::kShutOff: v.state = ab::DomainState::ShutOff; break;
	case vm::DomainState::kCrashed: v.state = ab::DomainState::Crashed; break;
	default: v.state = ab::DomainState::Unknown;
	}
	return v;
}

ab::Params params_of(const config::Config &c)
{
	ab::Params p;
	p.heartbeat_interval = c.timing.heartbeat_interval;
	p.deadtime = c.timing.deadtime;
	p.kernel_timeout = c.timing.ping_timeout;
	p.isolation_bound = c.timing.isolation_timeout;
	p.shutdown_timeout = c.timing.shutdown_timeout;
	p.start_timeout = c.timing.start_timeout;
	p.reconnect_min = c.timing.reconnect_min;
	p.reconnect_max = c.timing.reconnect_max;
	// The survivor waits until a silent host must have destroyed its
	// domains: it notices the loss within the kernel's ping-timeout, gives
	// up after isolation-timeout, needs destroy_allowance to destroy, fail
	// the writes and demote, and its last heartbeat may be one interval old.
	p.zombie_bound = std::max(p.zombie_bound, p.kernel_timeout + p.isolation_bound +
						 p.destroy_allowance + p.heartbeat_interval);
	return p;
}

namespace {

uint8_t protocol_of(char p)
{
	return p == 'A' ? DTRBD_PROT_A : p == 'B' ? DTRBD_PROT_B : DTRBD_PROT_C;
}

std::string device_of(const config::Resource &r)
{
	return str("/dev/dtrbd", r.minor);
}

} // namespace

// ---- the core ---------------------------------------------------------------

Core::Core(const config::Config &cfg, std::string self, CoreDeps deps, ab::Params params)
	: cfg_(cfg), self_(std::move(self)), d_(std::move(deps)), params_(params)
{
	for (const config::Resource *rc : cfg_.resources_of(self_)) {
		ab::ResourceSpec spec;
		spec.name = rc->name;
		spec.minor = rc->minor;
		spec.hosts = rc->hosts;
		spec.preferred = rc->preferred.value_or(rc->hosts.front());
		spec.failback = rc->failback == config::Failback::Auto ? ab::Failback::Auto
			      : rc->failback == config::Failback::Manual ? ab::Failback::Manual
			      : ab::Failback::Never;
		spec.domain = rc->domain;
		spec.witness_configured = cfg_.witness.has_value();
		Res r;
		r.cfg = rc;
		r.state = ab::initial_state(spec, self_, params_, now_ms());
		auto peers = config::peers(*rc, self_);
		r.peer = peers.empty() ? std::string() : peers.front();
		res_.emplace(rc->name, std::move(r));
	}
}

ab::Time Core::now_ms() const
{
	return std::chrono::duration_cast<ab::Time>(d_.clock.now().time_since_epoch());
}

Core::Res *Core::find(const std::string &name)
{
	auto it = res_.find(name);
	return it == res_.end() ? nullptr : &it->second;
}

Core::Res *Core::find_minor(uint32_t minor)
{
	for (auto &[n, r] : res_)
		if (r.cfg->minor == minor)
			return &r;
	return nullptr;
}

ab::Output Core::feed(Res &r, const ab::Event &ev)
{
	ab::Output out = ab::step(r.state, ev, now_ms());
	// Before the actions run: their results may come back at once.
	r.history.observe(r.state, ev, out, now_ms());
	for (const auto &line : out.log)
		d_.log(line);
	r.blocked = out.blocked;
	r.warning = out.warning;
	r.wake_at = out.wake_at;
	for (const auto &a : out.actions)
		execute(r, a);
	drain();
	return out;
}

void Core::drain()
{
	if (draining_)
		return;
	draining_ = true;
	// Bounded: a result never produces more than the actions of one step.
	int n = 0;
	for (; !pending_.empty() && n < 10000; n++) {
		auto [name, done] = std::move(pending_.front());
		pending_.pop_front();
		if (Res *r = find(name))
			feed(*r, done);
	}
	if (!pending_.empty())
		d_.log(str("dropping ", pending_.size(), " action results after ", n,
			   " in one go: a decision loop, which is a bug"));
	pending_.clear();
	draining_ = false;
}

void Core::done(Res &r, uint64_t id, Status st)
{
	ab::ActionDone d;
	d.id = id;
	d.ok = st.ok();
	d.message = st.message();
	pending_.emplace_back(r.cfg->name, std::move(d));
}

void Core::refresh_kernel(Res &r)
{
	auto g = d_.kernel.get(r.cfg->minor);
	if (g)
		r.dev = *g;
	else
		r.dev.reset();		// ENODEV: not attached (or the module went away)
	feed(r, kernel_view(r.dev));
}

void Core::refresh_vm(Res &r)
{
	if (r.cfg->domain.empty() || !d_.vm)
		return;
	auto s = d_.vm->state(r.cfg->domain);
	if (s)
		r.dom = *s;
	else
		r.dom.reset();
	feed(r, vm_view(r.dom));
}

bool Core::runaway(Res &r, const ab::Action &a)
{
	ab::Time now = now_ms();
	if (now < r.hold_until)
		return true;
	if (now != r.burst_at) {
		r.burst_at = now;
		r.burst_n = 0;
	}
	if (++r.burst_n <= kMaxActionsPerInstant)
		return false;
	runaways_++;
	r.hold_until = now + kRunawayHold;
	d_.log(str(r.cfg->name, ": more than ", kMaxActionsPerInstant,
		   " actions at one instant (the last: ", ab::to_string(a.kind),
		   "): a decision loop, which is a bug; holding this resource's actions for ",
		   kRunawayHold.count(), " ms"));
	return true;
}

void Core::execute(Res &r, const ab::Action &a)
{
	if (runaway(r, a))
		return;
	const config::Resource &c = *r.cfg;
	Kernel &k = d_.kernel;
	auto kernel_done = [&](Status st) {
		if (!st)
			d_.log(str(c.name, ": ", ab::to_string(a.kind), " failed: ", st.message()));
		done(r, a.id, std::move(st));
		refresh_kernel(r);
	};
	auto vm_done = [&](Status st) {
		if (!st)
			d_.log(str(c.name, ": ", ab::to_string(a.kind), " failed: ", st.message()));
		done(r, a.id, std::move(st));
		refresh_vm(r);
	};
	switch (a.kind) {
	case ab::ActionKind::Attach: {
		AttachRequest req;
		req.minor = c.minor;
		req.disk_path = config::disk_path(c, self_).value_or("");
		req.meta_path = config::meta_path(c, self_);
		req.res_name = c.name;	// config names are module-safe (safe_name)
		kernel_done(k.attach(req));
		break;
	}
	case ab::ActionKind::Connect:
		d_.connector.start(a.id, c, a.peer.empty() ? r.peer : a.peer);
		break;
	case ab::ActionKind::Disconnect:
		d_.connector.cancel(c.name);
		kernel_done(k.disconnect(c.minor));
		break;
	case ab::ActionKind::Promote:
		kernel_done(k.primary(c.minor, a.force));
		break;
	case ab::ActionKind::Demote:
		kernel_done(k.secondary(c.minor));
		break;
	case ab::ActionKind::ResumeIo:
		kernel_done(k.resume_io(c.minor));
		break;
	case ab::ActionKind::FailIo:
		kernel_done(k.fail_io(c.minor));
		break;
	case ab::ActionKind::DefineVm:
	case ab::ActionKind::StartVm:
	case ab::ActionKind::ShutdownVm:
	case ab::ActionKind::DestroyVm: {
		vm::VmRequest req;
		req.id = a.id;
		req.resource = c.name;
		req.op = a.kind == ab::ActionKind::DefineVm ? vm::VmOp::kDefine
		       : a.kind == ab::ActionKind::StartVm ? vm::VmOp::kStart
		       : a.kind == ab::ActionKind::ShutdownVm ? vm::VmOp::kShutdown
		       : vm::VmOp::kDestroy;
		req.domain = c.domain;
		req.xml_path = c.domain_xml;
		req.device = device_of(c);
		req.host = self_;
		if (d_.vm_exec)
			d_.vm_exec->submit(std::move(req));	// on_vm_done() later
		else if (d_.vm)
			vm_done(vm::perform(*d_.vm, req));
		else
			vm_done(Status::error("no VM driver is available on this host"));
		break;
	}
	case ab::ActionKind::WitnessClaim:
	case ab::ActionKind::WitnessOutdate:
	case ab::ActionKind::WitnessRelease:
	case ab::ActionKind::WitnessUptodate:
		if (!d_.witness) {
			ab::ActionDone dn;
			dn.id = a.id;
			dn.message = "no witness is configured";
			pending_.emplace_back(c.name, std::move(dn));
			break;
		} else {
			ab::KernelView kv = kernel_view(r.dev);
			bool in_sync = kv.conn == ab::Conn::Connected &&
				       kv.disk == ab::Disk::UpToDate &&
				       kv.peer_disk == ab::Disk::UpToDate;
			d_.witness->submit(a.id, a.kind, c.name,
					   a.peer.empty() ? r.peer : a.peer, in_sync);
		}
		break;
	}
}

void Core::start()
{
	std::map<uint32_t, DeviceStatus> devs;
	if (auto all = d_.kernel.dump(); all) {
		for (auto &dv : *all)
			if (dv.minor)
				devs[*dv.minor] = dv;
	} else {
		d_.log(str("could not list the devices: ", all.status().message()));
	}
	for (auto &[name, r] : res_) {
		auto it = devs.find(r.cfg->minor);
		if (it != devs.end())
			r.dev = it->second;
		if (!r.cfg->domain.empty() && d_.vm) {
			auto s = d_.vm->state(r.cfg->domain);
			if (s)
				r.dom = *s;
		}
		if (r.dev)
			d_.log(str(name, ": found /dev/dtrbd", r.cfg->minor, " ",
				   role_name(r.dev->role), ", ", conn_name(r.dev->conn),
				   ", disk ", disk_name(r.dev->disk),
				   r.dom ? str(", domain ", r.cfg->domain, " ", vm::to_string(r.dom->state))
					 : std::string(), "; adopting it as it is"));
		// dtrbdd always runs its devices with on-peer-loss freeze; one
		// connected by hand may have the default (continue).
		if (r.dev && r.dev->on_peer_loss && *r.dev->on_peer_loss != DTRBD_OPL_FREEZE) {
			SetOptionsRequest so;
			so.minor = r.cfg->minor;
			so.on_peer_loss = DTRBD_OPL_FREEZE;
			Status st = d_.kernel.set_options(so);
			d_.log(st ? str(name, ": set on-peer-loss freeze on /dev/dtrbd", r.cfg->minor)
				  : str(name, ": could not set on-peer-loss freeze on /dev/dtrbd",
					r.cfg->minor, ": ", st.message()));
			if (auto g = d_.kernel.get(r.cfg->minor))
				r.dev = *g;
		}
		feed(r, kernel_view(r.dev));
		// A resource without a domain is a device only: the arbiter
		// sees a domain that is never running (and never starts one).
		feed(r, r.cfg->domain.empty() ? ab::VmView{ab::DomainState::ShutOff}
					      : vm_view(r.dom));
		if (d_.witness)
			feed(r, d_.witness->view(name));
		feed(r, ab::Tick{});
	}
}

void Core::on_kernel_event(const Event &ev)
{
	if (!ev.dev.minor)
		return;
	if (Res *r = find_minor(*ev.dev.minor))
		refresh_kernel(*r);
}

void Core::on_vm_events(const std::vector<vm::VmEvent> &evs)
{
	bool all = false;
	std::vector<Res *> touched;
	for (const auto &e : evs) {
		if (e.domain.empty()) {
			all = true;
			continue;
		}
		for (auto &[n, r] : res_)
			if (r.cfg->domain == e.domain &&
			    std::find(touched.begin(), touched.end(), &r) == touched.end())
				touched.push_back(&r);
	}
	if (all) {
		touched.clear();
		for (auto &[n, r] : res_)
			touched.push_back(&r);
	}
	// A domain that stopped closes its device: read the device again too.
	// libvirt may report the stop before QEMU has closed it (this read
	// then still sees the opener); the module's "closed" event at the
	// last close wakes us again, and a module older than that event
	// leaves it to the arbiter's retry timer.
	for (Res *r : touched) {
		refresh_vm(*r);
		refresh_kernel(*r);
	}
}

ab::PeerView Core::peer_view(const Res &r) const
{
	ab::PeerView p;
	p.host = r.peer;
	auto it = hosts_.find(r.peer);
	if (it == hosts_.end())
		return p;
	const HostView &h = it->second;
	p.alive = h.alive;
	p.ever_heard = h.ever_heard;
	p.last_heard = h.last_heard;
	p.boot_id = h.boot_id;
	p.other_secret_at = h.other_secret_at;
	auto s = h.summaries.find(r.cfg->name);
	if (s != h.summaries.end())
		p.summary = s->second;
	return p;
}

void Core::on_host(const std::string &host, const HostView &v)
{
	hosts_[host] = v;
	// A host that said it was leaving is back once it is heard from
	// another boot.
	if (auto l = leaving_.find(host); l != leaving_.end() && v.alive && v.boot_id != 0 &&
	    v.boot_id != l->second.boot_id) {
		d_.log(str(host, " is back (another boot) after it said it was going down"));
		leaving_.erase(l);
	}
	for (auto &[n, r] : res_)
		if (r.peer == host)
			feed(r, peer_view(r));
}

void Core::on_witness_done(const std::string &resource, const ab::ActionDone &d)
{
	if (Res *r = find(resource))
		feed(*r, d);
}

void Core::on_witness_view()
{
	if (!d_.witness)
		return;
	for (auto &[n, r] : res_)
		feed(r, d_.witness->view(n));
}

void Core::on_connected(const std::string &resource, uint64_t id, Handshaken link)
{
	Res *r = find(resource);
	if (!r)
		return;
	const config::Resource &c = *r->cfg;
	ConnectRequest req;
	req.minor = c.minor;
	req.sock_fd = link.fd.get();
	req.protocol = protocol_of(c.protocol);
	req.ping_ms = static_cast<uint32_t>(cfg_.timing.ping_interval.count());
	req.timeout_ms = static_cast<uint32_t>(cfg_.timing.ping_timeout.count());
	req.tiebreak = link.tiebreak;
	req.proto_version = link.proto_version;
	req.features = link.features;
	req.peer_name = link.peer_name;
	req.peer_addr = link.peer_addr;
	// Always: a Primary that loses its peer keeps every write waiting
	// in the kernel until the arbiter resumes (the witness outdated the
	// peer) or fails them, even while this daemon is dead.
	req.on_peer_loss = DTRBD_OPL_FREEZE;
	Status st = d_.kernel.connect(req);
	if (st)
		d_.log(str(resource, ": connected to ", link.peer_name, " (", link.peer_addr,
			   "), handed to the kernel, on-peer-loss freeze"));
	else
		d_.log(str(resource, ": the kernel refused the connection to ", link.peer_addr,
			   ": ", st.message()));
	// Our descriptor closes here; the kernel holds its own reference.
	done(*r, id, std::move(st));
	refresh_kernel(*r);
}

void Core::on_vm_done(const vm::VmResult &res)
{
	Res *r = find(res.resource);
	if (!r)
		return;
	if (!res.status)
		d_.log(str(res.resource, ": ", vm::to_string(res.op), " of domain ", r->cfg->domain,
			   " failed: ", res.status.message()));
	done(*r, res.id, res.status);
	// As after a lifecycle event: the domain's state and, for a domain
	// that stopped, the device's opener count changed.
	refresh_vm(*r);
	refresh_kernel(*r);
	drain();
}

void Core::on_connect_failed(const std::string &resource, uint64_t id, const std::string &why)
{
	Res *r = find(resource);
	if (!r)
		return;
	done(*r, id, Status::error(why));
	drain();
}

void Core::tick()
{
	ab::Time now = now_ms();
	// A due timer re-reads the device (which also steps the arbiter): what
	// the module reports no event for (an opener closing, on a module
	// older than the "closed" event) is seen at the arbiter's next wake-up.
	for (auto &[n, r] : res_)
		if (r.wake_at && *r.wake_at <= now)
			refresh_kernel(r);
}

std::optional<Clock::time_point> Core::next_wakeup() const
{
	std::optional<ab::Time> best;
	for (const auto &[n, r] : res_)
		if (r.wake_at && (!best || *r.wake_at < *best))
			best = r.wake_at;
	if (!best)
		return std::nullopt;
	return Clock::time_point(std::chrono::duration_cast<Clock::duration>(*best));
}

std::vector<Core::Summary> Core::summaries() const
{
	std::vector<Summary> out;
	for (const auto &[n, r] : res_)
		out.push_back({n, r.cfg->minor, ab::summary(r.state)});
	return out;
}

// ---- control requests -----------------------------------------------------------

json Core::command(const std::string &name, ab::Command c)
{
	Res *r = find(name);
	// What a disk-appeared request finds, before the arbiter acts on it.
	const bool was_attached = r->dev.has_value();
	ab::Output out = feed(*r, c);
	if (out.refusal)
		return control::refused(*out.refusal);
	switch (c.kind) {
	case ab::Command::Kind::Up:
		return control::ok(str("bringing ", name, " up on ", self_));
	case ab::Command::Kind::Down:
		return control::ok(str("taking ", name, " down on ", self_));
	case ab::Command::Kind::FailBack:
		return control::ok(str("moving ", name, " back to ", r->state.spec.preferred,
				       "; follow it with 'dtrbdctl cluster'"));
	case ab::Command::Kind::Migrate:
		return control::ok(str("moving ", name, " to ", c.host,
				       "; follow it with 'dtrbdctl cluster'"));
	case ab::Command::Kind::DiskAppeared:
		if (was_attached)
			return control::ok(str(name, " is attached already on ", self_,
					       "; nothing to do"));
		return control::ok(str("attaching ", name, "'s backing disk on ", self_, " now"));
	}
	return control::ok("");
}

json Core::handle(const json &req)
{
	std::string cmd = req.value("cmd", "");
	std::string name = req.contains("resource") && req["resource"].is_string()
		? req["resource"].get<std::string>() : "";
	std::string host = req.contains("host") && req["host"].is_string()
		? req["host"].get<std::string>() : "";
	if (cmd == "cluster")
		return {{"ok", true}, {"cluster", cluster()}};

	using K = ab::Command::Kind;
	K kind;
	if (cmd == "up")
		kind = K::Up;
	else if (cmd == "down")
		kind = K::Down;
	else if (cmd == "fail-back")
		kind = K::FailBack;
	else if (cmd == "migrate")
		kind = K::Migrate;
	else if (cmd == "disk-appeared")
		kind = K::DiskAppeared;
	else
		return control::refused(str("unknown request '", cmd, "'; dtrbdd knows cluster, "
					    "up, down, fail-back, migrate and disk-appeared"));

	std::string names;
	for (const auto &[n, r] : res_)
		names += (names.empty() ? "" : ", ") + n;
	if (!name.empty() && !find(name))
		return control::refused(str("unknown resource '", name, "'; ", self_, " has ",
					    names.empty() ? std::string("no resources") : names));
	if ((kind == K::FailBack || kind == K::Migrate || kind == K::DiskAppeared) &&
	    name.empty())
		return control::refused(str(cmd, " needs a resource name"));
	ab::Command c;
	c.kind = kind;
	if (kind == K::Migrate) {
		const auto &hosts = find(name)->cfg->hosts;
		if (host.empty())
			return control::refused(str("migrate needs the host to move ", name, " to"));
		if (std::find(hosts.begin(), hosts.end(), host) == hosts.end()) {
			std::string hs;
			for (const auto &h : hosts)
				hs += (hs.empty() ? "" : ", ") + h;
			return control::refused(str("not migrating ", name, ": ", host,
						    " is not one of its hosts (", hs, ")"));
		}
		c.host = host;
	}
	if (!name.empty())
		return command(name, c);
	if (res_.empty())
		return control::refused(str(self_, " has no resources in ", cfg_.path));
	// Every resource: report what was done, and the first refusal.
	std::string msgs, refusal;
	for (auto &[n, r] : res_) {
		json one = command(n, c);
		if (one.value("ok", false))
			msgs += (msgs.empty() ? "" : "; ") + one.value("message", std::string());
		else if (refusal.empty())
			refusal = one.value("error", std::string());
	}
	if (msgs.empty())
		return control::refused(refusal);
	return control::ok(refusal.empty() ? msgs : msgs + "; but " + refusal);
}

// ---- cluster view ----------------------------------------------------------------

json Core::resource_json(const Res &r) const
{
	const config::Resource &c = *r.cfg;
	ab::KernelView kv = kernel_view(r.dev);
	const HostView *peer = nullptr;
	if (auto it = hosts_.find(r.peer); it != hosts_.end())
		peer = &it->second;
	const ab::Summary *ps = nullptr;
	if (peer && peer->alive)
		if (auto it = peer->summaries.find(c.name); it != peer->summaries.end())
			ps = &it->second;

	json primary = nullptr;
	if (kv.role == ab::Role::Primary)
		primary = self_;
	else if ((kv.conn == ab::Conn::Connected && kv.peer_role == ab::Role::Primary) ||
		 (ps && ps->role == ab::Role::Primary))
		primary = r.peer;

	json sync = nullptr;
	if (r.dev && kv.sync != ab::Sync::None) {
		sync = {{"direction", kv.sync == ab::Sync::Source ? "source" : "target"},
			{"done_bytes", kv.sync_done}, {"total_bytes", kv.sync_total}};
		if (auto p = sync_percent(*r.dev))
			sync["percent"] = *p;
		else
			sync["percent"] = nullptr;
	}

	json vmj = nullptr;
	if (!c.domain.empty()) {
		json host = nullptr;
		std::string state = r.dom ? std::string(vm::to_string(r.dom->state)) : "unknown";
		if (r.dom && vm::may_write(r.dom->state))
			host = self_;
		else if (ps && ps->domain_running) {
			host = r.peer;
			state = "running";
		}
		vmj = {{"domain", c.domain}, {"state", state}, {"host", host}};
	}
	auto opt = [](const std::optional<std::string> &s) {
		return s ? json(*s) : json(nullptr);
	};
	json out = {
		{"name", c.name},
		{"minor", c.minor},
		{"primary", primary},
		{"role", r.dev ? json(role_name(r.dev->role)) : json("unattached")},
		{"disk", r.dev ? json(disk_name(r.dev->disk)) : json(nullptr)},
		{"peer_disk", r.dev ? json(disk_name(r.dev->peer_disk)) : json(nullptr)},
		{"connection", r.dev ? json(conn_name(r.dev->conn)) : json(nullptr)},
		{"frozen", kv.frozen},
		{"io_failed", kv.io_failed},
		{"sync", sync},
		{"vm", vmj},
		{"blocked", opt(r.blocked)},
		{"warning", opt(r.warning)},
		{"phase", ab::summary(r.state).phase},
	};
	r.history.to_json(out, now_ms());
	return out;
}

json Core::on_peer_leaving(const std::string &from, const json &req)
{
	if (from == self_ || !cfg_.hosts.count(from))
		return control::refused(str("host-leaving from '", from, "', which is not the other "
					    "host of this configuration"));
	Leaving l;
	l.at = now_ms();
	if (auto h = hosts_.find(from); h != hosts_.end())
		l.boot_id = h->second.boot_id;
	if (req.contains("resources")) {
		if (!req["resources"].is_array())
			return control::refused("host-leaving: \"resources\" must be an array of names");
		for (const auto &n : req["resources"]) {
			// Only the names of resources this host shares with it:
			// nothing else is echoed into the log or `cluster`.
			if (!n.is_string())
				return control::refused("host-leaving: \"resources\" must be an array of names");
			const Res *r = find(n.get<std::string>());
			if (r && r->peer == from &&
			    std::find(l.resources.begin(), l.resources.end(), r->cfg->name) == l.resources.end())
				l.resources.push_back(r->cfg->name);
		}
	}
	if (req.contains("reason") && req["reason"].is_string()) {
		// Printable ASCII only, and short: it ends up in a log line.
		for (char c : req["reason"].get<std::string>())
			if (l.reason.size() < kLeavingReasonMax)
				l.reason += (c >= 0x20 && c < 0x7f) ? c : '?';
	}
	std::string names;
	for (const auto &n : l.resources)
		names += (names.empty() ? "" : ", ") + n;
	d_.log(str(from, " says it is going down now",
		   names.empty() ? std::string(", with nothing Primary there")
				 : str(" with ", names, " still Primary or running there"),
		   l.reason.empty() ? std::string() : str(" (", l.reason, ")"),
		   names.empty() ? std::string()
				 : str("; when it is gone, ", self_, " takes over as after any "
				       "lost host, with the witness")));
	leaving_[from] = l;
	return control::ok(str(self_, " noted that ", from, " is going down",
			       names.empty() ? std::string() : str(" with ", names)));
}

json Core::cluster() const
{
	ab::Time now = now_ms();
	json hosts = json::array();
	for (const auto &[name, h] : cfg_.hosts) {
		json links = json::array();
		auto hv = hosts_.find(name);
		for (size_t i = 0; i < h.heartbeat.size(); i++) {
			json heard = nullptr;
			if (name != self_ && hv != hosts_.end() && i < hv->second.link_heard.size() &&
			    hv->second.link_heard[i])
				heard = (now - *hv->second.link_heard[i]).count();
			links.push_back({{"address", h.heartbeat[i].ip()}, {"last_heard_ms", heard}});
		}
		bool alive = name == self_ || (hv != hosts_.end() && hv->second.alive);
		json leaving = nullptr;
		if (auto l = leaving_.find(name); l != leaving_.end())
			leaving = {{"ms_ago", (now - l->second.at).count()},
				   {"resources", l->second.resources},
				   {"reason", l->second.reason}};
		hosts.push_back({{"name", name}, {"alive", alive}, {"links", links},
				 {"leaving", leaving}});
	}
	json witness = nullptr;
	if (cfg_.witness) {
		bool reachable = d_.witness && d_.witness->view("").reachable;
		witness = {{"address", cfg_.witness->address.str()}, {"reachable", reachable}};
	}
	json resources = json::array();
	for (const auto &[n, r] : res_)
		resources.push_back(resource_json(r));
	return {{"host", self_}, {"hosts", hosts}, {"witness", witness},
		{"resources", resources}};
}

// ---- observability --------------------------------------------------------------

metrics::Snapshot Core::metrics_snapshot() const
{
	using std::chrono::duration;
	auto secs = [](ab::Time t) { return duration<double>(t).count(); };
	ab::Time now = now_ms();
	metrics::Snapshot s;
	for (const auto &[name, h] : cfg_.hosts) {
		if (name == self_)
			continue;
		metrics::Snapshot::Peer p;
		p.name = name;
		auto hv = hosts_.find(name);
		p.alive = hv != hosts_.end() && hv->second.alive;
		for (size_t i = 0; i < h.heartbeat.size(); i++) {
			metrics::Snapshot::Link l;
			l.peer = name;
			l.address = h.heartbeat[i].ip();
			if (hv != hosts_.end() && i < hv->second.link_heard.size() &&
			    hv->second.link_heard[i])
				l.last_heard_seconds = secs(now - *hv->second.link_heard[i]);
			p.links.push_back(std::move(l));
		}
		s.peers.push_back(std::move(p));
	}
	for (const auto &[name, r] : res_) {
		metrics::Snapshot::Resource m;
		m.name = name;
		m.attached = r.dev.has_value();
		if (r.dev) {
			m.role = role_name(r.dev->role);
			m.connection = conn_name(r.dev->conn);
			m.disk = disk_name(r.dev->disk);
			m.peer_disk = disk_name(r.dev->peer_disk);
			m.frozen = r.dev->frozen.value_or(0) != 0;
			m.out_of_sync_bytes = r.dev->oos_bytes;
			m.resync_rate_bytes = r.dev->sync_rate;
		}
		const FailoverLog &f = r.history;
		m.failovers = f.total();
		if (f.primary_since())
			m.primary_seconds = secs(now - *f.primary_since());
		if (f.last()) {
			const auto &l = *f.last();
			ab::Time end = r.cfg->domain.empty() ? l.promoted
				     : l.domain_started.value_or(ab::Time{-1});
			if (end >= l.declared_dead)
				m.last_failover_seconds = secs(end - l.declared_dead);
		}
		s.resources.push_back(std::move(m));
	}
	return s;
}

} // namespace dtrbd::daemon
