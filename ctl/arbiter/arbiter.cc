// SPDX-License-Identifier: GPL-2.0
// The arbiter's rules. Level-triggered: every event updates the latest
// observations, then decide() derives what to do from them, the actions in
// flight and a few timers. So a lost result, a crash or a restart needs no
// special path: the next observation leads to the same decision again.
#include "arbiter/arbiter.h"

#include <algorithm>
#include <sstream>

namespace dtrbd::arbiter {

namespace {

template <typename... Args>
std::string cat(const Args &...args)
{
	std::ostringstream os;
	(os << ... << args);
	return os.str();
}

std::string secs(Duration d)
{
	std::ostringstream os;
	os.setf(std::ios::fixed);
	os.precision(1);
	os << static_cast<double>(d.count()) / 1000.0 << " s";
	return os.str();
}

bool contains(const std::vector<std::string> &v, const std::string &s)
{
	return std::find(v.begin(), v.end(), s) != v.end();
}

bool domain_up(DomainState s)
{
	return s == DomainState::Running || s == DomainState::Paused ||
	       s == DomainState::ShuttingDown;
}

// One step's working context.
struct Ctx {
	State &s;
	Time now;
	Output &out;
	std::optional<std::string> blocked;
	std::optional<std::string> warning;
	std::vector<Time> timers;

	void block(std::string why)
	{
		if (!blocked)
			blocked = std::move(why);
	}
	void warn(std::string why)
	{
		if (!warning)
			warning = std::move(why);
	}
	void log(const std::string &line)
	{
		out.log.push_back(cat(s.spec.name, ": ", line));
	}
	void at(Time t)
	{
		if (t > now)
			timers.push_back(t);
	}
};

const Inflight *find_inflight(const State &s, ActionKind k)
{
	for (const auto &f : s.inflight)
		if (f.kind == k)
			return &f;
	return nullptr;
}

bool busy(const State &s, ActionKind k)
{
	return find_inflight(s, k) != nullptr;
}

bool is_witness(ActionKind k)
{
	return k == ActionKind::WitnessClaim ||
	       k == ActionKind::WitnessOutdate ||
	       k == ActionKind::WitnessRelease ||
	       k == ActionKind::WitnessUptodate;
}

bool witness_busy(const State &s)
{
	for (const auto &f : s.inflight)
		if (is_witness(f.kind))
			return true;
	return false;
}

bool kernel_busy(const State &s)
{
	for (const auto &f : s.inflight)
		if (f.kind == ActionKind::Promote ||
		    f.kind == ActionKind::Demote ||
		    f.kind == ActionKind::ResumeIo ||
		    f.kind == ActionKind::FailIo ||
		    f.kind == ActionKind::Attach)
			return true;
	return false;
}

bool vm_busy(const State &s)
{
	for (const auto &f : s.inflight)
		if (f.kind == ActionKind::DefineVm ||
		    f.kind == ActionKind::StartVm ||
		    f.kind == ActionKind::DestroyVm)
			return true;
	return false;
}

// When a missing result of @f counts as failed.
Time result_deadline(const State &s, const Inflight &f)
{
	switch (f.kind) {
	case ActionKind::ShutdownVm:
		return f.issued + s.params.shutdown_timeout + s.params.action_timeout;
	case ActionKind::StartVm:
	case ActionKind::DefineVm:
		return f.issued + s.params.start_timeout;
	default:
		return f.issued + s.params.action_timeout;
	}
}

// quiet: a retry of the same request whose refusal is already logged and
// shown in `blocked`: no new log line (a partition would otherwise log two
// lines every witness-retry for as long as it lasts).
void issue(Ctx &c, ActionKind k, const std::string &why,
	   const std::string &peer = {}, Time deadline = Time{0},
	   bool quiet = false)
{
	Action a;
	a.id = c.s.next_id++;
	a.kind = k;
	a.peer = peer;
	a.deadline = deadline;
	c.out.actions.push_back(a);
	c.s.inflight.push_back({a.id, k, c.now, c.s.episode});
	// Wake up when its result is due even if nothing else happens: the
	// check in decide() ran before this action existed (a start issued in
	// a quiet moment, whose result was lost, was never counted as failed).
	c.at(result_deadline(c.s, c.s.inflight.back()));
	if (!quiet)
		c.log(why);
}

// A sentence without its numbers ("heard 312 ms ago", "silent for 4.2 s"):
// two sentences of the same shape say the same thing.
std::string shape_of(const std::string &x)
{
	std::string r;
	for (char ch : x)
		if (!(ch >= '0' && ch <= '9') && ch != '.')
			r += ch;
	return r;
}

// ---- derived facts -------------------------------------------------------

bool peer_alive(const State &s)
{
	return s.peer_view && s.peer_view->alive;
}

const Summary *peer_summary(const State &s)
{
	if (!peer_alive(s) || !s.peer_view->summary)
		return nullptr;
	return &*s.peer_view->summary;
}

bool witness_reachable(const State &s)
{
	return s.spec.witness_configured && s.witness && s.witness->reachable;
}

const WitnessRecord *record(const State &s)
{
	if (!s.witness || !s.witness->record)
		return nullptr;
	return &*s.witness->record;
}

bool i_am_holder(const State &s)
{
	const WitnessRecord *r = record(s);
	return r && r->holder == s.self && !r->released;
}

// The witness records this host as the only current one and the holder:
// it may write without its peer.
bool sole_current(const State &s)
{
	const WitnessRecord *r = record(s);
	return r && i_am_holder(s) && r->current.size() == 1 &&
	       r->current[0] == s.self;
}

bool self_eligible(const State &s)
{
	const KernelView &k = *s.kernel;
	return s.admin_up && k.attached && k.disk == Disk::UpToDate &&
	       !k.io_failed && !s.giving_up && !k.split_brain;
}

bool peer_eligible(const State &s)
{
	const Summary *p = peer_summary(s);
	return p && p->eligible && p->admin_up;
}

bool eligible(const State &s, const std::string &h)
{
	return h == s.self ? self_eligible(s) : peer_eligible(s);
}

bool connected(const State &s)
{
	return s.kernel->conn == Conn::Connected;
}

// The peer is dead for failover: membership says silent and the device is
// not connected (a connected device proves the peer's kernel runs, e.g.
// while only its daemon is down).
bool peer_dead(const State &s, Time now)
{
	// Membership needs one deadtime after our start to say anything.
	bool known = (s.peer_view && s.peer_view->ever_heard) ||
		     now >= s.started + s.params.deadtime +
			    s.params.heartbeat_interval;
	return known && !peer_alive(s) && !connected(s);
}

// Who runs it now (Primary), as far as this host can see.
std::string primary_now(const State &s)
{
	if (s.kernel->role == Role::Primary)
		return s.self;
	if (connected(s) && s.kernel->peer_role == Role::Primary)
		return s.peer;
	const Summary *p = peer_summary(s);
	if (p && p->role == Role::Primary)
		return s.peer;
	return {};
}

// Where the resource should run.
std::string home(const State &s)
{
	if (s.placement_seq > 0 && !s.placement_host.empty())
		return s.placement_host;
	if (s.spec.failback == Failback::Auto)
		return s.spec.preferred;
	std::string p = primary_now(s);	// manual/never: stay where it runs
	return p.empty() ? s.spec.preferred : p;
}

std::string desired(const State &s)
{
	std::string h = home(s);
	if (eligible(s, h))
		return h;
	std::string p = primary_now(s);
	if (!p.empty() && eligible(s, p))
		return p;
	if (eligible(s, s.spec.preferred))
		return s.spec.preferred;
	for (const auto &x : {s.self, s.peer})
		if (eligible(s, x))
			return x;
	return {};
}

std::string minor_hint(const State &s)
{
	return cat("'dtrbdctl primary ", s.spec.minor, " --force'");
}

// failback = manual after a failover: the resource runs on the other host
// while its preferred host is back, connected, UpToDate and not resyncing,
// and no operator placed it (migrate, fail-back). Nothing moves until
// 'dtrbdctl fail-back': say so in `blocked`, on both hosts.
void note_manual_failback(Ctx &c)
{
	const State &s = c.s;
	const KernelView &k = *s.kernel;
	if (s.spec.failback != Failback::Manual || s.placement_seq > 0 ||
	    !connected(s) || k.sync != Sync::None ||
	    k.disk != Disk::UpToDate || k.peer_disk != Disk::UpToDate)
		return;
	const std::string &pref = s.spec.preferred;
	std::string runs = primary_now(s);
	if (runs.empty() || runs == pref || !eligible(s, pref))
		return;
	c.block(cat(s.spec.name, " runs on ", runs, ", not on its preferred host ",
		    pref, ", which is back and UpToDate: failback = manual, so it "
		    "waits for a manual fail-back; run 'dtrbdctl fail-back ",
		    s.spec.name, "' to move it to ", pref));
}

// ---- events --------------------------------------------------------------

void merge_placement(State &s, const Summary &p)
{
	if (p.placement_seq > s.placement_seq ||
	    (p.placement_seq == s.placement_seq && p.placement_seq > 0 &&
	     p.placement_host < s.placement_host)) {
		s.placement_seq = p.placement_seq;
		s.placement_host = p.placement_host;
	}
}

void on_done(Ctx &c, const ActionDone &d)
{
	State &s = c.s;
	auto it = std::find_if(s.inflight.begin(), s.inflight.end(),
			       [&](const Inflight &f) { return f.id == d.id; });
	if (it == s.inflight.end())
		return;		// stale or unknown: nothing waits for it
	Inflight f = *it;
	s.inflight.erase(it);

	if (is_witness(f.kind)) {
		if (!s.witness)
			s.witness = WitnessView{};
		if (d.record) {
			s.witness->record = d.record;
			s.witness->reachable = true;
		}
		if (d.witness_answered) {
			s.witness->reachable = true;
			s.witness->record_known = true;
		}
	}

	const bool this_episode = f.episode == s.episode && s.kernel &&
				  s.kernel->frozen;
	switch (f.kind) {
	case ActionKind::Attach:
		if (!d.ok) {
			s.next_attach = c.now + s.params.attach_retry;
			s.kernel_refusal = d.message;
			c.log(cat("attach failed: ", d.message));
		}
		break;
	case ActionKind::Disconnect:
		break;
	case ActionKind::Connect:
		if (!d.ok) {
			s.reconnect_delay = std::clamp(s.reconnect_delay * 2,
						       s.params.reconnect_min,
						       s.params.reconnect_max);
			s.next_connect = c.now + s.reconnect_delay;
			// Once per kind of failure, not every reconnect_max
			// for as long as the peer stays away.
			bool repeated = !s.connect_failure.empty() &&
					shape_of(s.connect_failure) ==
					shape_of(d.message);
			s.connect_failure = d.message;
			if (!repeated)
				c.log(cat("connect to ", s.peer, " failed (",
					  d.message, "); next try in ",
					  secs(s.reconnect_delay),
					  ", then retrying quietly while it "
					  "fails the same way"));
		} else {
			s.connect_failure.clear();
		}
		break;
	case ActionKind::Promote:
	case ActionKind::Demote:
	case ActionKind::ResumeIo:
	case ActionKind::FailIo:
	case ActionKind::StartVm:
	case ActionKind::DefineVm:
	case ActionKind::DestroyVm:
		if (!d.ok) {
			s.next_kernel = c.now + s.params.kernel_retry;
			s.kernel_refusal = cat(to_string(f.kind), " failed: ",
					       d.message);
			c.log(s.kernel_refusal);
		} else {
			s.kernel_refusal.clear();
			if (f.kind == ActionKind::DestroyVm)
				s.destroyed_at = c.now;
		}
		break;
	case ActionKind::ShutdownVm:
		break;	// the deadline and the VM view decide what follows
	case ActionKind::WitnessClaim:
	case ActionKind::WitnessOutdate:
		if (d.ok) {
			s.witness_refusal.clear();
			// A grant always carries the record after it (the
			// decisions read holder and current from it). Without
			// one, the next request would be the same one again at
			// once: pace it like a refusal instead of looping.
			if (!d.record)
				s.next_witness = c.now + s.params.witness_retry;
			if (f.kind == ActionKind::WitnessClaim) {
				if (this_episode)
					s.claimed_in_episode = true;
				else
					s.failover_claimed = true;
				if (d.record)
					s.failover_epoch = d.record->epoch;
			} else {
				if (this_episode)
					s.outdated_in_episode = true;
				else
					s.failover_outdated = true;
			}
			break;
		}
		s.next_witness = c.now + s.params.witness_retry;
		if (d.witness_answered) {
			bool repeated = !s.witness_refusal.empty() &&
					shape_of(s.witness_refusal) ==
					shape_of(d.message);
			s.witness_refusal = d.message;
			if (!repeated)
				c.log(cat("the witness refused ",
					  f.kind == ActionKind::WitnessClaim ?
					  std::string("the claim") :
					  cat("to outdate ", s.peer), ": ",
					  d.message));
			// A frozen Primary that the witness no longer counts
			// as current was replaced: stop at once.
			if (this_episode && d.record &&
			    !contains(d.record->current, s.self) &&
			    !s.giving_up) {
				s.giving_up = true;
				c.log(cat("giving up: the witness no longer "
					  "counts this host's copy as current"));
			}
		}
		break;
	case ActionKind::WitnessRelease:
	case ActionKind::WitnessUptodate:
		if (!d.ok)
			s.next_witness = c.now + s.params.witness_retry;
		break;
	}
}

std::optional<std::string> on_command(Ctx &c, const Command &cmd)
{
	State &s = c.s;
	const KernelView *k = s.kernel ? &*s.kernel : nullptr;
	auto ready_refusal = [&](const std::string &h,
				 const char *verb) -> std::optional<std::string> {
		if (!k || !k->attached)
			return cat("cannot ", verb, " ", s.spec.name,
				   ": its device is not attached on this host yet");
		if (h == s.self) {
			if (!s.admin_up)
				return cat("cannot ", verb, " ", s.spec.name,
					   " to ", h, ": it is down here; run "
					   "'dtrbdctl up ", s.spec.name, "' first");
			if (k->disk != Disk::UpToDate)
				return cat("cannot ", verb, " ", s.spec.name,
					   " to ", h, ": its copy here is ",
					   to_string(k->disk));
		} else {
			if (!peer_alive(s))
				return cat("cannot ", verb, " ", s.spec.name,
					   " to ", h, ": ", h, " is down");
			const Summary *p = peer_summary(s);
			if (p && !p->admin_up)
				return cat("cannot ", verb, " ", s.spec.name,
					   " to ", h, ": it is down on ", h,
					   "; run 'dtrbdctl up ", s.spec.name,
					   "' there first");
			if (!connected(s))
				return cat("cannot ", verb, " ", s.spec.name,
					   " to ", h, ": its replication link "
					   "to ", h, " is not connected");
			if (k->peer_disk != Disk::UpToDate)
				return cat("cannot ", verb, " ", s.spec.name,
					   " to ", h, ": ", h, "'s copy is ",
					   to_string(k->peer_disk));
		}
		if (k->sync != Sync::None)
			return cat("cannot ", verb, " ", s.spec.name, " to ", h,
				   ": a resync is running (",
				   k->sync_total ? k->sync_done * 100 /
				   k->sync_total : 0, " % done); try again "
				   "when it has finished");
		if (!connected(s))
			return cat("cannot ", verb, " ", s.spec.name, " to ", h,
				   ": its replication link to ", s.peer,
				   " is not connected, so ", s.peer,
				   "'s copy may be left behind");
		return std::nullopt;
	};

	switch (cmd.kind) {
	case Command::Kind::Up:
		if (!s.admin_up)
			c.log("up: taking part again");
		s.admin_up = true;
		return std::nullopt;
	case Command::Kind::DiskAppeared:
		// Only brings the next attach retry forward (a resource that is
		// down stays attached too; an attached one has its disk).
		if (!(k && k->attached) && s.next_attach > c.now) {
			c.log("its backing disk appeared: attaching now");
			s.next_attach = c.now;
		}
		return std::nullopt;
	case Command::Kind::Down:
		if (s.admin_up)
			c.log("down: stopping the domain here and leaving the "
			      "resource to the other host");
		s.admin_up = false;
		s.handing_over = false;
		return std::nullopt;
	case Command::Kind::FailBack: {
		if (s.spec.failback == Failback::Never)
			return cat(s.spec.name, " has failback = never; run "
				   "'dtrbdctl migrate ", s.spec.name, " ",
				   s.spec.preferred, "' to move it anyway");
		if (k && primary_now(s) == s.spec.preferred)
			return cat(s.spec.name, " already runs on its preferred "
				   "host ", s.spec.preferred);
		if (auto r = ready_refusal(s.spec.preferred, "fail back"))
			return r;
		s.placement_seq++;
		s.placement_host = s.spec.preferred;
		c.log(cat("fail-back: moving to ", s.spec.preferred));
		return std::nullopt;
	}
	case Command::Kind::Migrate: {
		if (!contains(s.spec.hosts, cmd.host))
			return cat(cmd.host, " is not a host of ", s.spec.name);
		if (k && primary_now(s) == cmd.host)
			return cat(s.spec.name, " already runs on ", cmd.host);
		if (auto r = ready_refusal(cmd.host, "migrate"))
			return r;
		s.placement_seq++;
		s.placement_host = cmd.host;
		c.log(cat("migrate: moving to ", cmd.host));
		return std::nullopt;
	}
	}
	return std::nullopt;
}

// ---- decisions -----------------------------------------------------------

void do_witness_upkeep(Ctx &c)
{
	State &s = c.s;
	const KernelView &k = *s.kernel;
	const WitnessRecord *r = record(s);
	if (!witness_reachable(s) || witness_busy(s) || c.now < s.next_witness)
		return;
	if (!r) {
		// First contact: the witness has no record of this resource, and
		// nothing but a report of the pair connected and in sync creates
		// one (current := {self, peer}). Without it no host could ever
		// fail over, so report it as soon as it is true.
		if (s.witness->record_known && connected(s) && !k.frozen &&
		    k.disk == Disk::UpToDate && k.peer_disk == Disk::UpToDate &&
		    k.sync == Sync::None)
			issue(c, ActionKind::WitnessUptodate,
			      cat("telling the witness that ", s.self, " and ",
				  s.peer, " are connected and in sync (it has "
				  "no record of ", s.spec.name, " yet)"), s.peer);
		return;
	}
	// A current member connected to an UpToDate peer that the witness
	// does not count as current: tell it.
	if (contains(r->current, s.self) && connected(s) && !k.frozen &&
	    k.disk == Disk::UpToDate && k.peer_disk == Disk::UpToDate &&
	    k.sync == Sync::None && !contains(r->current, s.peer)) {
		issue(c, ActionKind::WitnessUptodate,
		      cat("telling the witness that ", s.peer, "'s copy is "
			  "current again (connected, UpToDate)"), s.peer);
		return;
	}
	// A Primary that is not the holder: become it, so it can outdate its
	// peer if the link breaks.
	if (k.role == Role::Primary && !k.frozen && !k.io_failed &&
	    !s.giving_up && !s.handing_over && s.admin_up &&
	    !i_am_holder(s) && contains(r->current, s.self)) {
		issue(c, ActionKind::WitnessClaim,
		      cat("claiming at the witness: Primary here, the witness "
			  "records ", r->holder.empty() ? std::string("no holder")
			  : cat("holder ", r->holder, r->released ?
				" (released)" : "")));
		return;
	}
	// A Secondary holder that is not about to promote: let go, so the
	// host that runs (or is to run) the resource can claim.
	if (k.role != Role::Primary && i_am_holder(s) && !s.failover_claimed &&
	    (!s.admin_up || desired(s) != s.self ||
	     primary_now(s) == s.peer)) {
		issue(c, ActionKind::WitnessRelease,
		      cat("releasing at the witness: Secondary here",
			  !s.admin_up ? std::string(", taken down") :
			  cat(", ", s.peer, " runs or is to run it")));
		return;
	}
}

// Fail the frozen writes, destroy the domain, demote. The writes are failed
// first: a process with I/O in flight cannot exit before that I/O
// completes (the kernel waits for it in exit_aio), so destroying a domain
// whose writes are frozen hangs until they are failed -- the lab's
// partition scenario saw libvirt's destroy, and with it the daemon, stuck
// for 83 s. Failing them acknowledges nothing (EIO), and every later write
// fails too until the demotion.
void do_give_up(Ctx &c)
{
	State &s = c.s;
	const KernelView &k = *s.kernel;
	if (k.frozen) {
		if (!kernel_busy(s) && c.now >= s.next_kernel)
			issue(c, ActionKind::FailIo, "failing the frozen writes "
			      "(EIO): this host may not go on alone, and the "
			      "domain cannot be destroyed while its writes "
			      "wait");
		return;
	}
	// A start still running counts as up: its QEMU may open the device
	// any moment (the verbs run off the daemon's thread, so the start of
	// a failover can overlap the loss of the witness). The destroy cuts
	// it short; the start's failure that follows changes nothing here.
	const Inflight *starting = find_inflight(s, ActionKind::StartVm);
	if (domain_up(s.vm->state) ||
	    (starting && starting->issued > s.destroyed_at)) {
		if (!busy(s, ActionKind::DestroyVm) && c.now >= s.next_kernel)
			issue(c, ActionKind::DestroyVm,
			      cat("destroying domain ", s.spec.domain,
				  ": this host cannot confirm it may keep ",
				  s.spec.name));
		return;
	}
	if (k.role == Role::Primary) {
		if (k.open_count > 0) {
			c.block(cat("cannot demote ", s.spec.name, ": /dev/dtrbd",
				    s.spec.minor, " is still held open by ",
				    k.open_count, " opener(s) other than the "
				    "domain; close them"));
			c.at(c.now + s.params.kernel_retry);
			return;
		}
		if (!kernel_busy(s) && c.now >= s.next_kernel)
			issue(c, ActionKind::Demote, "demoting: this host gave "
			      "up the resource");
		return;
	}
}

void do_frozen(Ctx &c)
{
	State &s = c.s;
	const Time deadline = s.frozen_seen + s.params.isolation_bound;
	if (s.outdated_in_episode) {
		if (!kernel_busy(s) && c.now >= s.next_kernel)
			issue(c, ActionKind::ResumeIo,
			      cat("resuming I/O alone: ", s.peer, " lost, the "
				  "witness recorded ", s.peer,
				  "'s copy as outdated"));
		return;
	}
	if (c.now >= deadline && !s.giving_up) {
		s.giving_up = true;
		c.log(cat("giving up after ", secs(s.params.isolation_bound),
			  " frozen: ", s.peer, " is lost and the witness did not "
			  "confirm this host (",
			  !s.spec.witness_configured ? "none configured" :
			  !witness_reachable(s) ? "unreachable" :
			  s.witness_refusal.empty() ? "no answer" :
			  s.witness_refusal.c_str(), ")"));
	}
	if (s.giving_up) {
		do_give_up(c);
		return;
	}
	c.at(deadline);
	const std::string left = secs(deadline - c.now);
	if (!s.spec.witness_configured) {
		c.block(cat(s.spec.name, " is frozen: ", s.peer, " was lost and "
			    "no witness is configured to record that ", s.peer,
			    "'s copy is behind; the domain is destroyed in ",
			    left, " unless ", s.peer, " reconnects"));
		return;
	}
	if (!witness_reachable(s)) {
		c.block(cat(s.spec.name, " is frozen: ", s.peer, " was lost and "
			    "the witness is unreachable, so writes wait; the "
			    "domain is destroyed in ", left, " unless the "
			    "witness answers or ", s.peer, " reconnects"));
		return;
	}
	if (witness_busy(s) || c.now < s.next_witness) {
		c.at(s.next_witness);
		return;
	}
	if (!s.claimed_in_episode && !i_am_holder(s)) {
		issue(c, ActionKind::WitnessClaim,
		      cat("frozen: ", s.peer, " lost; claiming at the witness "
			  "before outdating it"));
		return;
	}
	issue(c, ActionKind::WitnessOutdate,
	      cat("frozen: ", s.peer, " lost; asking the witness to record ",
		  s.peer, "'s copy as outdated"));
}

// Start the domain on this (Primary) host when no other copy may run.
void do_start_domain(Ctx &c, const std::string &why)
{
	State &s = c.s;
	if (s.spec.domain.empty())
		return;		// a device-only resource
	if (vm_busy(s) || c.now < s.next_kernel) {
		c.at(s.next_kernel);
		return;
	}
	const Summary *p = peer_summary(s);
	if (p) {
		if (p->domain_running) {
			c.block(cat("not starting ", s.spec.domain, ": it still "
				    "runs on ", s.peer, "; waiting for ", s.peer,
				    " to stop it"));
			return;
		}
	} else {
		Time t = s.peer_evidence + s.params.zombie_bound;
		if (c.now < t) {
			c.at(t);
			c.block(cat("not starting ", s.spec.domain, " yet: ",
				    s.peer, " was last heard ",
				    secs(c.now - s.peer_evidence), " ago and "
				    "may still run it for up to ",
				    secs(t - c.now)));
			return;
		}
	}
	if (s.vm->state == DomainState::Missing) {
		issue(c, ActionKind::DefineVm,
		      cat("defining domain ", s.spec.domain, " from its XML"));
		return;
	}
	issue(c, ActionKind::StartVm,
	      cat("starting domain ", s.spec.domain, ": ", why));
}

void do_hand_over(Ctx &c)
{
	State &s = c.s;
	const KernelView &k = *s.kernel;
	if (domain_up(s.vm->state)) {
		if (!s.shutdown_deadline) {
			s.shutdown_deadline = c.now + s.params.shutdown_timeout;
			issue(c, ActionKind::ShutdownVm,
			      cat("handing over to ", s.peer, ": shutting down "
				  "domain ", s.spec.domain, " (destroyed after ",
				  secs(s.params.shutdown_timeout), ")"), {},
			      *s.shutdown_deadline);
			return;
		}
		if (c.now >= *s.shutdown_deadline) {
			if (!busy(s, ActionKind::DestroyVm))
				issue(c, ActionKind::DestroyVm,
				      cat("domain ", s.spec.domain, " did not "
					  "shut down within ",
					  secs(s.params.shutdown_timeout),
					  "; destroying it"));
		} else {
			c.at(*s.shutdown_deadline);
		}
		return;
	}
	if (k.role == Role::Primary) {
		if (k.open_count > 0) {
			c.block(cat("cannot hand ", s.spec.name, " over: /dev/dtrbd",
				    s.spec.minor, " is held open by ",
				    k.open_count, " opener(s) after the domain "
				    "stopped; close them"));
			// The module's "closed" event wakes us; a module
			// without it does not: look again anyway.
			c.at(c.now + s.params.kernel_retry);
			return;
		}
		if (!kernel_busy(s) && c.now >= s.next_kernel)
			issue(c, ActionKind::Demote,
			      cat("handing over to ", s.peer, ": demoting"));
		else
			c.at(s.next_kernel);
	}
}

// A Primary without its peer whose domain is not running, and that the
// witness does not record as the only current host: get that recorded
// (claim, outdate) before anything writes, or demote.
void do_confirm_alone(Ctx &c)
{
	State &s = c.s;
	const KernelView &k = *s.kernel;
	const WitnessRecord *r = record(s);
	bool refused = !s.witness_refusal.empty() && r &&
		       !contains(r->current, s.self);
	if (!witness_reachable(s) || refused) {
		if (kernel_busy(s) || c.now < s.next_kernel) {
			c.at(s.next_kernel);
			return;
		}
		if (k.open_count > 0) {
			c.block(cat("cannot demote ", s.spec.name, ": /dev/dtrbd",
				    s.spec.minor, " is held open; close it"));
			c.at(c.now + s.params.kernel_retry);
			return;
		}
		issue(c, ActionKind::Demote,
		      cat("demoting: Primary without ", s.peer, " and ",
			  refused ? std::string("the witness does not count "
						"this copy as current") :
			  std::string("the witness is unreachable"),
			  ", so this host may not write alone"));
		return;
	}
	if (witness_busy(s) || c.now < s.next_witness) {
		c.at(s.next_witness);
		return;
	}
	if (!i_am_holder(s))
		issue(c, ActionKind::WitnessClaim,
		      cat("Primary without ", s.peer, ": claiming at the witness "
			  "before starting ", s.spec.domain));
	else
		issue(c, ActionKind::WitnessOutdate,
		      cat("Primary without ", s.peer, ": recording ", s.peer,
			  "'s copy as outdated before starting ", s.spec.domain));
}

// A hint for `blocked` while the peer is silent: heartbeats signed with
// another secret arrived lately, so the peer may be up with a different
// secret-file (a datagram under another key authenticates nothing: it
// never changes a decision, only this sentence).
std::string secret_hint(const Ctx &c)
{
	const State &s = c.s;
	if (peer_alive(s) || !s.peer_view || !s.peer_view->other_secret_at ||
	    c.now - *s.peer_view->other_secret_at > 2 * s.params.deadtime)
		return {};
	return cat("; heartbeats signed with another secret arrive here, so ",
		   s.peer, " may be up with a different secret-file: make it "
		   "the same file on every host and the witness");
}

// Promote without a connected UpToDate peer: claim, outdate, promote.
void do_alone_promotion(Ctx &c, const std::string &why)
{
	State &s = c.s;
	const KernelView &k = *s.kernel;
	const std::string &R = s.spec.name;
	const std::string hint = secret_hint(c);
	if (k.disk != Disk::UpToDate) {
		c.block(cat("not promoting ", R, ": ", why, " and this host's "
			    "copy is ", to_string(k.disk), ", so it may lack ",
			    s.peer, "'s last writes; bring ", s.peer, " back, or "
			    "run ", minor_hint(s), " to accept losing them"));
		return;
	}
	if (!s.spec.witness_configured) {
		c.block(cat("not promoting ", R, ": ", why, " and no witness is "
			    "configured, so ", s.peer, " may still be running; "
			    "run ", minor_hint(s), " if ", s.peer,
			    " is known to be off", hint));
		return;
	}
	if (!witness_reachable(s)) {
		if (!s.peer_view || !s.peer_view->ever_heard)
			c.block(cat("not promoting ", R, ": ", s.peer, " has not "
				    "been seen since this host started and the "
				    "witness is unreachable (wait for all: ",
				    s.peer, " may hold newer data); start ",
				    s.peer, " or the witness, or run ",
				    minor_hint(s), " if ", s.peer,
				    "'s copy is known to be older", hint));
		else
			c.block(cat("not promoting ", R, ": ", why, " but the "
				    "witness is unreachable, so ", s.peer,
				    " may still be running; start the witness "
				    "or run ", minor_hint(s), " if ", s.peer,
				    " is known to be off", hint));
		return;
	}
	// A grant or outdate from before a change at the witness is void.
	if (const WitnessRecord *r = record(s)) {
		if (s.failover_claimed && !i_am_holder(s))
			s.failover_claimed = s.failover_outdated = false;
		if (s.failover_outdated && contains(r->current, s.peer))
			s.failover_outdated = false;
	}
	if (!s.witness_refusal.empty() && !s.failover_claimed)
		c.block(cat("not promoting ", R, ": ", why, " but the witness "
			    "refused: ", s.witness_refusal));
	if (witness_busy(s) || c.now < s.next_witness) {
		c.at(s.next_witness);
		return;
	}
	if (!s.failover_claimed) {
		issue(c, ActionKind::WitnessClaim,
		      cat(why, "; claiming at the witness"), {}, Time{0},
		      !s.witness_refusal.empty());
		return;
	}
	if (!s.failover_outdated) {
		issue(c, ActionKind::WitnessOutdate,
		      cat(why, "; witness granted epoch ", s.failover_epoch,
			  ", recording ", s.peer, "'s copy as outdated"));
		return;
	}
	if (kernel_busy(s) || c.now < s.next_kernel) {
		c.at(s.next_kernel);
		return;
	}
	issue(c, ActionKind::Promote,
	      cat("promoting: ", why, ", witness granted epoch ",
		  s.failover_epoch, " and outdated ", s.peer));
}

void decide(Ctx &c)
{
	State &s = c.s;
	const std::string &R = s.spec.name;

	if (s.spec.hosts.size() != 2 || s.peer.empty()) {
		c.block(cat("not managing ", R, ": it has ", s.spec.hosts.size(),
			    " hosts; dtrbdd supports exactly two per resource"));
		return;
	}
	// Lost results: after action_timeout they count as failed.
	for (auto it = s.inflight.begin(); it != s.inflight.end();) {
		Time limit = result_deadline(s, *it);
		if (c.now >= limit) {
			c.log(cat("no result for ", to_string(it->kind),
				  " after ", secs(c.now - it->issued),
				  "; counting it as failed"));
			if (is_witness(it->kind))
				s.next_witness = c.now;
			it = s.inflight.erase(it);
		} else {
			c.at(limit);
			++it;
		}
	}
	if (!s.kernel || !s.vm) {
		c.warn(cat("waiting for the first view of ", R, "'s ",
			   !s.kernel ? "device" : "domain"));
		return;
	}
	const KernelView &k = *s.kernel;
	if (!s.adopted) {
		s.adopted = true;
		c.log(cat("found ", k.attached ? to_string(k.role) : "not attached",
			  k.attached ? cat(", ", to_string(k.conn), ", ",
					   to_string(k.disk)) : std::string(),
			  k.frozen ? ", frozen" : "", "; domain ",
			  to_string(s.vm->state), "; adopting it as it is"));
	}

	// Peer liveness and evidence.
	if (peer_alive(s))
		s.peer_evidence = std::max(s.peer_evidence,
					   s.peer_view->last_heard);
	if (connected(s))
		s.peer_evidence = std::max(s.peer_evidence, c.now);
	if (connected(s)) {
		s.was_connected = true;
		s.reconnect_delay = Duration{0};
	} else if (s.was_connected) {
		s.was_connected = false;
		s.disconnected_since = c.now;
		s.reconnect_delay = s.params.reconnect_min;
		s.next_connect = c.now + s.params.reconnect_min;
		c.log(cat("replication link to ", s.peer, " lost; reconnecting"));
	}
	if (peer_alive(s) != s.peer_was_alive) {
		s.peer_was_alive = peer_alive(s);
		c.log(cat(s.peer, s.peer_was_alive ? std::string(" is alive") :
			  s.peer_view && s.peer_view->ever_heard ?
			  cat(" is silent (last heard ",
			      secs(c.now - s.peer_view->last_heard), " ago)") :
			  std::string(" has not been heard")));
	}
	if (auto *p = peer_summary(s))
		merge_placement(s, *p);

	// Attach and connect.
	if (!k.attached) {
		if (!kernel_busy(s) && c.now >= s.next_attach)
			issue(c, ActionKind::Attach, "attaching the backing disk");
		else
			c.at(s.next_attach);
		c.block(cat(R, " is not attached: ", s.kernel_refusal.empty() ?
			    std::string("attaching") : s.kernel_refusal));
		return;
	}
	if (k.conn == Conn::Standalone) {
		if (!busy(s, ActionKind::Connect) && c.now >= s.next_connect)
			issue(c, ActionKind::Connect,
			      cat("connecting to ", s.peer), {}, Time{0},
			      !s.connect_failure.empty());
		else
			c.at(s.next_connect);
	}
	if (k.split_brain)
		c.block(cat("not connecting ", R, ": split brain with ", s.peer,
			    ": both changed the data since they last agreed; "
			    "run 'dtrbdctl connect ", s.spec.minor,
			    " --discard-my-data' on the host whose changes are "
			    "to be dropped"));

	// Operator down: stop here, stay Secondary and connected.
	if (!s.admin_up) {
		if (domain_up(s.vm->state)) {
			do_hand_over(c);
			return;
		}
		if (k.frozen || (k.role == Role::Primary && !k.frozen)) {
			if (k.frozen) {
				do_frozen(c);
				return;
			}
			do_hand_over(c);	// demote
			return;
		}
		do_witness_upkeep(c);
		return;
	}

	if (k.role == Role::Primary && k.frozen) {
		do_frozen(c);
		return;
	}
	if (k.role == Role::Primary && (s.giving_up || k.io_failed)) {
		if (!s.giving_up) {
			s.giving_up = true;
			c.log("the device failed its I/O earlier; finishing: "
			      "destroy the domain, demote");
		}
		do_give_up(c);
		return;
	}

	if (k.role == Role::Primary) {
		s.failover_claimed = s.failover_outdated = false;
		// Hand-over to the desired host.
		std::string d = desired(s);
		const Summary *p = peer_summary(s);
		bool can_hand = d == s.peer && p && p->eligible &&
				p->role == Role::Secondary && connected(s) &&
				k.peer_role == Role::Secondary &&
				k.peer_disk == Disk::UpToDate &&
				k.sync == Sync::None;
		if (can_hand && !s.handing_over) {
			s.handing_over = true;
			c.log(cat("handing ", R, " over to ", s.peer, " (",
				  s.placement_seq > 0 && s.placement_host == s.peer ?
				  "requested" : "its preferred host, failback "
				  "auto", "): connected and UpToDate"));
		}
		if (s.handing_over && !can_hand && !domain_up(s.vm->state)) {
			// The target is gone before we demoted: keep it.
			s.handing_over = false;
			s.shutdown_deadline.reset();
			c.log(cat("hand-over to ", s.peer, " abandoned: ", s.peer,
				  " is no longer ready"));
		}
		if (s.handing_over) {
			do_hand_over(c);
			do_witness_upkeep(c);
			return;
		}
		s.shutdown_deadline.reset();
		if (!domain_up(s.vm->state) && !connected(s) && !sole_current(s)) {
			// Promoted while connected, but the link died before
			// the domain started (or the promotion ran after it
			// died): writing alone needs the witness first.
			do_confirm_alone(c);
			return;
		}
		if (!domain_up(s.vm->state))
			do_start_domain(c, "Primary here");
		else
			note_manual_failback(c);
		do_witness_upkeep(c);
		if (!witness_reachable(s) && s.spec.witness_configured &&
		    peer_alive(s))
			c.warn(cat("the witness is unreachable: if ", s.peer,
				   " or the link to it fails now, ", R,
				   " stops instead of failing over"));
		return;
	}

	// Secondary from here on.
	s.handing_over = false;
	s.shutdown_deadline.reset();
	s.giving_up = false;
	if (domain_up(s.vm->state))
		c.warn(cat("domain ", s.spec.domain, " runs on this host but ",
			   R, "'s device is Secondary here, so it cannot use "
			   "its disk"));

	std::string d = desired(s);
	if (connected(s)) {
		s.failover_claimed = s.failover_outdated = false;
		// A refusal from an earlier loss of the peer is over: the next
		// one starts with a logged claim and a fresh `blocked`.
		s.witness_refusal.clear();
		do_witness_upkeep(c);
		note_manual_failback(c);
		if (d != s.self || k.peer_role != Role::Secondary)
			return;
		// Connected before the peer's first heartbeat arrived: the
		// peer may be the resource's home and about to take it, so
		// wait for its summary rather than promote here (daemon-basic
		// found the non-preferred host promoting in that window).
		if (home(s) != s.self && !peer_summary(s))
			return;
		if (k.disk != Disk::UpToDate || k.peer_disk != Disk::UpToDate ||
		    k.sync != Sync::None)
			return;		// resync first
		const Summary *p = peer_summary(s);
		if (p && p->domain_running) {
			c.block(cat("not promoting ", R, ": domain ",
				    s.spec.domain, " still runs on ", s.peer));
			return;
		}
		if (kernel_busy(s) || c.now < s.next_kernel) {
			c.at(s.next_kernel);
			return;
		}
		issue(c, ActionKind::Promote,
		      cat("promoting: connected to ", s.peer, ", which is "
			  "Secondary and UpToDate", s.placement_host == s.self ?
			  " (requested move)" : ""));
		return;
	}

	// Disconnected Secondary.
	if (peer_dead(s, c.now)) {
		std::string why = s.peer_view && s.peer_view->ever_heard ?
			cat(s.peer, " silent for ", secs(c.now - s.peer_evidence)) :
			cat(s.peer, " not seen since this host started");
		do_alone_promotion(c, why);
		return;
	}
	const Summary *p = peer_summary(s);
	if (!p)
		return;		// alive but no summary yet
	if (p->role == Role::Primary) {
		if (!witness_reachable(s) && s.spec.witness_configured)
			c.warn(cat("the witness is unreachable and the "
				   "replication link to ", s.peer, " is down"));
		return;		// it runs there; we resync when connected
	}
	if (d != s.self || p->domain_running)
		return;
	Time grace = s.disconnected_since + s.params.connect_grace;
	if (s.disconnected_since == Time{0})
		grace = s.started + s.params.connect_grace;
	if (c.now < grace) {
		c.at(grace);
		return;
	}
	do_alone_promotion(c, cat(s.peer, " is alive but its replication "
				  "link stays down and nobody runs ", R));
}

} // namespace

std::optional<std::string> check_params(const Params &p)
{
	Duration need = p.kernel_timeout + p.isolation_bound +
			p.destroy_allowance + p.heartbeat_interval;
	if (p.zombie_bound < need)
		return cat("zombie-bound ", secs(p.zombie_bound), " is shorter "
			   "than kernel-timeout + isolation-bound + "
			   "destroy-allowance + heartbeat-interval (", secs(need),
			   "), so a cut-off host may still run a domain when "
			   "the survivor starts it");
	if (p.isolation_bound <= p.witness_retry)
		return cat("isolation-bound ", secs(p.isolation_bound),
			   " must be longer than witness-retry ",
			   secs(p.witness_retry), ", or a frozen host gives up "
			   "before it asked the witness twice");
	if (p.reconnect_min <= Duration{0} ||
	    p.reconnect_max < p.reconnect_min)
		return "reconnect-min must be positive and at most reconnect-max";
	return std::nullopt;
}

State initial_state(const ResourceSpec &spec, const std::string &self,
		    const Params &params, Time now)
{
	State s;
	s.spec = spec;
	s.params = params;
	s.self = self;
	for (const auto &h : spec.hosts)
		if (h != self)
			s.peer = h;
	s.started = now;
	s.peer_evidence = now;
	return s;
}

Output step(State &s, const Event &e, Time now)
{
	Output out;
	Ctx c{s, now, out, {}, {}, {}};

	if (const auto *k = std::get_if<KernelView>(&e)) {
		bool was_frozen = s.kernel && s.kernel->frozen &&
				  s.kernel->role == Role::Primary;
		s.kernel = *k;
		bool frozen = k->frozen && k->role == Role::Primary;
		if (frozen && !was_frozen) {
			s.episode++;
			s.frozen_seen = now;
			s.claimed_in_episode = false;
			s.outdated_in_episode = false;
			c.log(cat("frozen: ", s.peer, " lost while Primary; "
				  "writes wait until the witness confirms this "
				  "host"));
		}
		if (!frozen && was_frozen)
			c.log("no longer frozen");
	} else if (const auto *p = std::get_if<PeerView>(&e)) {
		if (p->host == s.peer)
			s.peer_view = *p;
	} else if (const auto *w = std::get_if<WitnessView>(&e)) {
		s.witness = *w;
	} else if (const auto *v = std::get_if<VmView>(&e)) {
		s.vm = *v;
	} else if (const auto *d = std::get_if<ActionDone>(&e)) {
		on_done(c, *d);
	} else if (const auto *cmd = std::get_if<Command>(&e)) {
		out.refusal = on_command(c, *cmd);
		if (out.refusal)
			c.log(cat("refused: ", *out.refusal));
	}

	decide(c);

	// Log a change of sentence, not a change of its countdown.
	auto shape = [](const std::optional<std::string> &x) {
		return x ? std::optional<std::string>(shape_of(*x)) : std::nullopt;
	};
	if (shape(c.blocked) != shape(s.last_blocked)) {
		if (c.blocked)
			c.log(cat("blocked: ", *c.blocked));
		else if (s.last_blocked)
			c.log("no longer blocked");
		s.last_blocked = c.blocked;
	}
	if (c.warning != s.last_warning) {
		if (c.warning)
			c.log(cat("warning: ", *c.warning));
		s.last_warning = c.warning;
	}
	out.blocked = c.blocked;
	out.warning = c.warning;
	if (!c.timers.empty())
		out.wake_at = *std::min_element(c.timers.begin(), c.timers.end());
	return out;
}

Summary summary(const State &s)
{
	Summary m;
	m.admin_up = s.admin_up;
	m.placement_seq = s.placement_seq;
	m.placement_host = s.placement_host;
	m.handing_over = s.handing_over;
	if (s.vm)
		m.domain_running = domain_up(s.vm->state);
	if (!s.kernel) {
		m.phase = "starting";
		m.domain_running = !s.vm || m.domain_running;
		return m;
	}
	const KernelView &k = *s.kernel;
	m.attached = k.attached;
	m.role = k.role;
	m.disk = k.disk;
	m.conn = k.conn;
	m.frozen = k.frozen;
	m.eligible = self_eligible(s);
	if (!s.admin_up)
		m.phase = "down";
	else if (s.giving_up)
		m.phase = "giving up";
	else if (k.frozen)
		m.phase = "frozen";
	else if (s.handing_over)
		m.phase = "handing over";
	else if (k.role == Role::Primary)
		m.phase = m.domain_running ? "running" : "starting domain";
	else if (!k.attached)
		m.phase = "attaching";
	else if (k.sync == Sync::Target)
		m.phase = "resyncing";
	else
		m.phase = "secondary";
	return m;
}

const char *to_string(Role r)
{
	switch (r) {
	case Role::Unknown: return "Unknown";
	case Role::Secondary: return "Secondary";
	case Role::Primary: return "Primary";
	}
	return "?";
}

const char *to_string(Conn c)
{
	switch (c) {
	case Conn::Standalone: return "standalone";
	case Conn::Connecting: return "connecting";
	case Conn::Connected: return "connected";
	case Conn::Disconnecting: return "disconnecting";
	}
	return "?";
}

const char *to_string(Disk d)
{
	switch (d) {
	case Disk::Unknown: return "Unknown";
	case Disk::Diskless: return "Diskless";
	case Disk::Inconsistent: return "Inconsistent";
	case Disk::Outdated: return "Outdated";
	case Disk::UpToDate: return "UpToDate";
	}
	return "?";
}

const char *to_string(DomainState s)
{
	switch (s) {
	case DomainState::Unknown: return "unknown";
	case DomainState::Missing: return "not defined";
	case DomainState::ShutOff: return "shut off";
	case DomainState::Running: return "running";
	case DomainState::Paused: return "paused";
	case DomainState::ShuttingDown: return "shutting down";
	case DomainState::Crashed: return "crashed";
	}
	return "?";
}

const char *to_string(ActionKind k)
{
	switch (k) {
	case ActionKind::Attach: return "attach";
	case ActionKind::Connect: return "connect";
	case ActionKind::Disconnect: return "disconnect";
	case ActionKind::Promote: return "promote";
	case ActionKind::Demote: return "demote";
	case ActionKind::ResumeIo: return "resume-io";
	case ActionKind::FailIo: return "fail-io";
	case ActionKind::DefineVm: return "define-domain";
	case ActionKind::StartVm: return "start-domain";
	case ActionKind::ShutdownVm: return "shutdown-domain";
	case ActionKind::DestroyVm: return "destroy-domain";
	case ActionKind::WitnessClaim: return "witness-claim";
	case ActionKind::WitnessOutdate: return "witness-outdate";
	case ActionKind::WitnessRelease: return "witness-release";
	case ActionKind::WitnessUptodate: return "witness-uptodate";
	}
	return "?";
}

} // namespace dtrbd::arbiter
