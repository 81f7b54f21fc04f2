// SPDX-License-Identifier: GPL-2.0
// A simulated two-host cluster for the arbiter: two arbiters (one per host,
// as dtrbdd would run them), a witness that follows the witness rules, a
// kernel model of the two devices (roles, connection, freeze, UpToDate,
// resync, split brain), a network (heartbeat, replication and two witness
// paths, each cut and healed on its own), a VM model that writes and
// counts acknowledged writes, power pulls, daemon kills and lost action
// results. Time advances in fixed steps; everything is deterministic for
// one seed. After every step the invariants are checked; the first broken
// one is kept in `violation`.
#pragma once

#include "arbiter/arbiter.h"

#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace dtrbd::sim {

using namespace dtrbd::arbiter;
using std::chrono::milliseconds;

inline std::string ms(Time t)
{
	std::ostringstream os;
	os.setf(std::ios::fixed);
	os.precision(2);
	os << static_cast<double>(t.count()) / 1000.0;
	return os.str();
}

// ---- the witness (the rules member's WitnessState implements) ------------

struct WitnessModel {
	bool up = true;
	Duration lease{1500};
	WitnessRecord rec;
	std::map<std::string, Time> heard;

	bool alive(const std::string &h, Time now) const
	{
		auto it = heard.find(h);
		return it != heard.end() && now - it->second <= lease;
	}
	bool cur(const std::string &h) const
	{
		return std::find(rec.current.begin(), rec.current.end(), h) !=
		       rec.current.end();
	}
	// Returns "" when granted, else the refusal.
	std::string claim(const std::string &h, Time now)
	{
		if (!cur(h))
			return h + "'s copy is not current at the witness";
		const bool free = rec.holder.empty() || rec.holder == h ||
				  rec.released;
		const bool silent = !free && !alive(rec.holder, now);
		if (!free && !silent)
			return rec.holder + " holds it and is alive";
		const bool takeover = !rec.holder.empty() && rec.holder != h &&
				      !rec.released;
		rec.holder = h;
		rec.released = false;
		rec.epoch++;
		if (takeover)
			rec.current = {h};
		return "";
	}
	std::string outdate(const std::string &h)
	{
		if (rec.holder != h || rec.released)
			return h + " is not the holder";
		rec.current = {h};
		rec.epoch++;
		return "";
	}
	std::string release(const std::string &h)
	{
		if (rec.holder != h || rec.released)
			return h + " is not the holder";
		rec.holder.clear();
		rec.released = true;
		rec.epoch++;
		return "";
	}
	std::string uptodate(const std::string &h, const std::string &peer)
	{
		if (!cur(h))
			return h + " is not current";
		if (!cur(peer))
			rec.current.push_back(peer);
		rec.epoch++;
		return "";
	}
	void restart(Time now, const std::vector<std::string> &hosts)
	{
		for (const auto &h : hosts)
			heard[h] = now;	// holders count as alive for a lease
	}
};

// ---- the devices ----------------------------------------------------------

struct Device {
	bool attached = false;
	Role role = Role::Secondary;
	Disk disk = Disk::UpToDate;
	bool frozen = false;
	bool io_failed = false;
	Sync sync = Sync::None;
	std::vector<uint64_t> data;	// write ids, in order (the disk)
	std::vector<uint64_t> pending;	// writes waiting (frozen / peer)
	bool split_brain = false;
};

enum class Path { Heartbeat, Replication, Witness0, Witness1 };

struct Pending {			// an action being carried out
	Time at;
	int host;
	Action a;
	uint64_t daemon_gen;		// results go to this daemon only
};

struct Host {
	std::string name;
	bool up = true;
	Device dev;
	DomainState dom = DomainState::ShutOff;
	Time shutdown_done{-1};		// ACPI shutdown completes at
	bool daemon = true;
	Time daemon_back{-1};		// daemon restarts at
	Time daemon_since{0};		// alive since (for the zombie check)
	std::optional<State> arb;
	Output last;			// last output of its arbiter
	Time heard_peer{-1000000};
	bool ever_heard = false;
	std::optional<Summary> peer_summary;
	uint64_t boot = 1;
	std::optional<uint64_t> connect_pending;	// Connect action id
	Time connect_expires{0};
	std::vector<Pending> destroy_waiting;	// DestroyVm on frozen writes
};

struct World {
	Params params;
	ResourceSpec spec;
	WitnessModel witness;
	Host h[2];
	bool path_up[4] = {true, true, true, true};
	Time now{0};
	Duration step_len{50};
	Duration deadtime{1000};
	std::mt19937_64 rng;
	double result_loss = 0.0;	// probability an ActionDone is lost
	Duration max_latency{300};
	std::vector<Pending> pending;
	uint64_t daemon_gen[2] = {1, 1};
	bool connected = false;
	Time conn_drop{-1};		// connection dies at (after a cut)
	Time resync_done{-1};
	int sync_source = -1;
	uint64_t next_write = 1;
	std::set<uint64_t> acked;
	Time next_hb{0}, next_wk{0}, next_write_at{0};
	Time both_running_since{-1};
	std::vector<std::string> trace;
	std::optional<std::string> violation;
	bool verbose = false;
	int promotions = 0, starts = 0;

	explicit World(uint64_t seed, Params p = default_params())
		: params(p), rng(seed)
	{
		spec.name = "vm1";
		spec.minor = 1;
		spec.hosts = {"p1", "p2"};
		spec.preferred = "p1";
		spec.failback = Failback::Auto;
		spec.domain = "vm1";
		spec.witness_configured = true;
		h[0].name = "p1";
		h[1].name = "p2";
		witness.rec.current = {"p1", "p2"};
		for (int i = 0; i < 2; i++) {
			h[i].arb = initial_state(spec, h[i].name, params, now);
			h[i].daemon_since = now;
		}
	}

	// The first observations of both daemons.
	void start()
	{
		for (int i = 0; i < 2; i++) {
			deliver(i, witness_view(i));
			deliver_views(i);
		}
	}

	static Params default_params()
	{
		Params p;
		p.heartbeat_interval = Duration{200};
		p.kernel_timeout = Duration{1000};
		p.isolation_bound = Duration{1000};
		p.destroy_allowance = Duration{500};
		p.zombie_bound = Duration{3000};
		p.shutdown_timeout = Duration{5000};
		p.action_timeout = Duration{3000};
		p.start_timeout = Duration{6000};
		p.witness_retry = Duration{300};
		p.reconnect_min = Duration{300};
		p.reconnect_max = Duration{3000};
		p.attach_retry = Duration{1000};
		p.kernel_retry = Duration{500};
		p.connect_grace = Duration{8000};
		return p;
	}

	int idx(const std::string &n) const { return n == "p1" ? 0 : 1; }
	int other(int i) const { return 1 - i; }
	bool wpath(int i) const
	{
		return path_up[i == 0 ? 2 : 3] && witness.up;
	}
	void note(const std::string &s)
	{
		trace.push_back(ms(now) + " " + s);
	}
	void fail(const std::string &s)
	{
		if (!violation) {
			violation = ms(now) + " " + s;
			note("VIOLATION: " + s);
		}
	}

	// ---- observations to the daemons --------------------------------

	KernelView kview(int i) const
	{
		const Device &d = h[i].dev;
		KernelView k;
		k.attached = d.attached;
		k.role = d.attached ? d.role : Role::Unknown;
		k.conn = connected ? Conn::Connected : Conn::Standalone;
		k.peer_role = connected ? h[other(i)].dev.role : Role::Unknown;
		k.disk = d.attached ? d.disk : Disk::Diskless;
		k.peer_disk = connected ? h[other(i)].dev.disk : Disk::Unknown;
		k.frozen = d.frozen;
		k.io_failed = d.io_failed;
		k.sync = connected ? d.sync : Sync::None;
		k.open_count = domain_on(i) ? 1 : 0;
		k.split_brain = d.split_brain;
		return k;
	}
	bool domain_on(int i) const
	{
		return h[i].up && (h[i].dom == DomainState::Running ||
				   h[i].dom == DomainState::ShuttingDown);
	}

	void deliver(int i, const Event &e)
	{
		Host &x = h[i];
		if (!x.up || !x.daemon || !x.arb)
			return;
		Output o = step(*x.arb, e, now);
		for (const auto &l : o.log)
			note(x.name + " " + l);
		x.last = o;
		for (const auto &a : o.actions)
			start_action(i, a);
	}
	void deliver_views(int i)
	{
		deliver(i, kview(i));
		deliver(i, VmView{h[i].dom});
	}
	void kernel_changed()
	{
		for (int i = 0; i < 2; i++)
			deliver(i, kview(i));
	}

	Duration latency()
	{
		return Duration{10 + static_cast<int64_t>(
			rng() % static_cast<uint64_t>(max_latency.count()))};
	}

	void start_action(int i, const Action &a)
	{
		pending.push_back({now + latency(), i, a, daemon_gen[i]});
	}

	void done(const Pending &p, bool ok, const std::string &msg,
		  bool answered = false, bool with_record = false)
	{
		if (p.daemon_gen != daemon_gen[p.host])
			return;		// that daemon is gone
		if (std::uniform_real_distribution<>(0, 1)(rng) < result_loss) {
			note(h[p.host].name + " (result of " +
			     to_string(p.a.kind) + " lost)");
			return;
		}
		ActionDone d;
		d.id = p.a.id;
		d.ok = ok;
		d.message = msg;
		d.witness_answered = answered;
		if (with_record)
			d.record = witness.rec;
		deliver(p.host, d);
	}

	bool contains_acked(const Device &d) const
	{
		std::set<uint64_t> have(d.data.begin(), d.data.end());
		for (uint64_t w : acked)
			if (!have.count(w))
				return false;
		return true;
	}

	// ---- carrying out actions ----------------------------------------

	void execute(const Pending &p)
	{
		Host &x = h[p.host];
		Device &d = x.dev;
		Host &y = h[other(p.host)];
		if (!x.up)
			return;
		const std::string &n = x.name;
		switch (p.a.kind) {
		case ActionKind::Attach:
			d.attached = true;
			note(n + " kernel: attached");
			kernel_changed();
			done(p, true, "");
			break;
		case ActionKind::Connect:
			x.connect_pending = p.a.id;
			x.connect_expires = now + Duration{2000};
			try_connect(p.host);
			break;
		case ActionKind::Disconnect:
			if (connected)
				drop_connection("disconnect");
			done(p, true, "");
			break;
		case ActionKind::Promote: {
			std::string why;
			if (!d.attached || d.disk != Disk::UpToDate)
				why = "disk not UpToDate";
			else if (connected && y.dev.role == Role::Primary)
				why = "peer is Primary";
			else if (d.io_failed)
				why = "I/O failed";
			if (!why.empty()) {
				note(n + " kernel: promote refused: " + why);
				done(p, false, why);
				break;
			}
			if (!contains_acked(d))
				fail(n + " promoted a copy that lacks acknowledged "
				     "writes");
			d.role = Role::Primary;
			promotions++;
			note(n + " kernel: Primary");
			kernel_changed();
			done(p, true, "");
			break;
		}
		case ActionKind::Demote:
			if (domain_on(p.host) || d.frozen) {
				done(p, false, domain_on(p.host) ?
				     "device is open" : "frozen");
				break;
			}
			d.role = Role::Secondary;
			d.io_failed = false;
			note(n + " kernel: Secondary");
			kernel_changed();
			done(p, true, "");
			break;
		case ActionKind::ResumeIo:
			if (d.frozen) {
				for (uint64_t w : d.pending) {
					d.data.push_back(w);
					acked.insert(w);
				}
				d.pending.clear();
				d.frozen = false;
				note(n + " kernel: resumed alone");
				kernel_changed();
			}
			done(p, true, "");
			break;
		case ActionKind::FailIo:
			if (d.frozen) {
				d.pending.clear();
				d.frozen = false;
				d.io_failed = true;
				note(n + " kernel: failed the waiting writes");
				kernel_changed();
			}
			done(p, true, "");
			break;
		case ActionKind::DefineVm:
			if (x.dom == DomainState::Missing)
				x.dom = DomainState::ShutOff;
			deliver(p.host, VmView{x.dom});
			done(p, true, "");
			break;
		case ActionKind::StartVm:
			if (d.role != Role::Primary || !d.attached) {
				done(p, false, "cannot open the device");
				break;
			}
			if (x.dom == DomainState::Running) {
				done(p, true, "");
				break;
			}
			if (!contains_acked(d))
				fail(n + " started the domain on a copy that lacks "
				     "acknowledged writes");
			x.dom = DomainState::Running;
			starts++;
			note(n + " vm: running");
			deliver(p.host, VmView{x.dom});
			kernel_changed();
			done(p, true, "");
			break;
		case ActionKind::ShutdownVm:
			if (x.dom == DomainState::Running) {
				x.dom = DomainState::ShuttingDown;
				// A frozen disk hangs the guest's shutdown; a
				// guest sometimes ignores ACPI.
				bool hangs = d.frozen || rng() % 10 == 0;
				x.shutdown_done = hangs ? Time{-1} :
					now + Duration{100 + (int64_t)(rng() % 1500)};
				deliver(p.host, VmView{x.dom});
			}
			done(p, true, "");
			break;
		case ActionKind::DestroyVm:
			// A process with I/O in flight cannot exit until that
			// I/O completes (exit_aio): the destroy of a domain
			// whose writes are frozen hangs until the freeze ends
			// (the lab's partition scenario; libvirt gave up after
			// 83 s). Its result comes then.
			if (domain_on(p.host) && d.frozen) {
				x.destroy_waiting.push_back(p);
				note(n + " vm: destroy waits for the frozen writes");
				break;
			}
			if (domain_on(p.host)) {
				x.dom = DomainState::ShutOff;
				note(n + " vm: destroyed");
				deliver(p.host, VmView{x.dom});
				kernel_changed();
			}
			done(p, true, "");
			break;
		case ActionKind::WitnessClaim:
		case ActionKind::WitnessOutdate:
		case ActionKind::WitnessRelease:
		case ActionKind::WitnessUptodate: {
			if (!wpath(p.host)) {
				done(p, false, "the witness is unreachable");
				break;
			}
			std::string r;
			if (p.a.kind == ActionKind::WitnessClaim)
				r = witness.claim(n, now);
			else if (p.a.kind == ActionKind::WitnessOutdate)
				r = witness.outdate(n);
			else if (p.a.kind == ActionKind::WitnessRelease)
				r = witness.release(n);
			else
				r = witness.uptodate(n, p.a.peer);
			note(n + " witness: " + to_string(p.a.kind) + " " +
			     (r.empty() ? "granted" : "refused: " + r) +
			     " (epoch " + std::to_string(witness.rec.epoch) + ")");
			done(p, r.empty(), r, true, true);
			break;
		}
		}
	}

	void try_connect(int i)
	{
		Host &a = h[i], &b = h[other(i)];
		if (connected) {
			if (a.connect_pending) {
				Pending p{now, i, {}, daemon_gen[i]};
				p.a.id = *a.connect_pending;
				p.a.kind = ActionKind::Connect;
				a.connect_pending.reset();
				done(p, true, "");
			}
			return;
		}
		if (!a.connect_pending || !b.connect_pending || !a.up || !b.up ||
		    !path_up[1] || !a.dev.attached || !b.dev.attached)
			return;
		auto finish = [&](bool ok, const std::string &m) {
			for (int j : {0, 1}) {
				Pending p{now, j, {}, daemon_gen[j]};
				p.a.id = *h[j].connect_pending;
				p.a.kind = ActionKind::Connect;
				h[j].connect_pending.reset();
				done(p, ok, m);
			}
		};
		Device &x = a.dev, &y = b.dev;
		if (x.frozen || y.frozen) {
			finish(false, "a frozen device does not connect");
			return;
		}
		if (x.role == Role::Primary && y.role == Role::Primary) {
			finish(false, "both are Primary");
			return;
		}
		auto prefix = [](const std::vector<uint64_t> &s,
				 const std::vector<uint64_t> &l) {
			return s.size() <= l.size() &&
			       std::equal(s.begin(), s.end(), l.begin());
		};
		int src = -1;
		if (x.data == y.data && x.disk == y.disk)
			src = -2;
		else if (prefix(y.data, x.data) && x.disk == Disk::UpToDate)
			src = i;
		else if (prefix(x.data, y.data) && y.disk == Disk::UpToDate)
			src = other(i);
		if (src == -1 || (src >= 0 && h[other(src)].dev.role ==
				  Role::Primary)) {
			x.split_brain = y.split_brain = true;
			note("kernel: split brain, connect refused");
			fail("split brain: both copies acknowledged writes the "
			     "other lacks");
			finish(false, "split brain");
			kernel_changed();
			return;
		}
		x.split_brain = y.split_brain = false;
		connected = true;
		conn_drop = Time{-1};
		if (src >= 0) {
			sync_source = src;
			h[src].dev.sync = Sync::Source;
			h[other(src)].dev.sync = Sync::Target;
			h[other(src)].dev.disk = Disk::Inconsistent;
			resync_done = now + Duration{500 + (int64_t)(rng() % 2500)};
			note("kernel: connected, resync from " + h[src].name);
		} else {
			note("kernel: connected, in sync");
		}
		kernel_changed();	// the view first, then the result
		finish(true, "");
	}

	void drop_connection(const std::string &why)
	{
		connected = false;
		conn_drop = Time{-1};
		resync_done = Time{-1};
		for (int i = 0; i < 2; i++) {
			Device &d = h[i].dev;
			d.sync = Sync::None;
			if (h[i].up && d.role == Role::Primary)
				d.frozen = true;
		}
		note("kernel: connection lost (" + why + ")");
		kernel_changed();
	}

	// ---- faults ----------------------------------------------------------

	void set_path(Path p, bool up)
	{
		path_up[static_cast<int>(p)] = up;
		static const char *names[] = {"heartbeat", "replication",
					      "p1-witness", "p2-witness"};
		note(std::string(up ? "heal " : "cut ") +
		     names[static_cast<int>(p)]);
		if (p == Path::Replication && !up && connected &&
		    conn_drop < Time{0})
			conn_drop = now + params.kernel_timeout;
		if (p == Path::Replication && up && connected) {
			conn_drop = Time{-1};
			flush_writes();
		}
	}
	void cut_all(int i)
	{
		set_path(Path::Heartbeat, false);
		set_path(Path::Replication, false);
		set_path(i == 0 ? Path::Witness0 : Path::Witness1, false);
	}
	void heal_all()
	{
		for (int p = 0; p < 4; p++)
			if (!path_up[p])
				set_path(static_cast<Path>(p), true);
		if (!witness.up)
			witness_power(true);
		for (int i = 0; i < 2; i++) {
			if (!h[i].up)
				power(i, true);
			if (!h[i].daemon && h[i].daemon_back < Time{0})
				h[i].daemon_back = now;
		}
	}
	void power(int i, bool on)
	{
		Host &x = h[i];
		note(x.name + (on ? " power on" : " power pulled"));
		if (!on) {
			x.up = false;
			x.daemon = false;
			x.arb.reset();
			daemon_gen[i]++;
			x.dom = DomainState::ShutOff;
			x.dev.pending.clear();
			x.dev.frozen = false;
			x.dev.io_failed = false;
			x.dev.attached = false;
			x.dev.role = Role::Secondary;
			x.dev.sync = Sync::None;
			x.connect_pending.reset();
			if (connected && conn_drop < Time{0})
				conn_drop = now + params.kernel_timeout;
			x.daemon_back = Time{-1};
			return;
		}
		x.up = true;
		x.boot++;
		// An interrupted resync target stays Inconsistent; a copy
		// that was current when the power went stays UpToDate.
		x.daemon_back = now + Duration{1000};
	}
	void kill_daemon(int i, Duration back)
	{
		Host &x = h[i];
		if (!x.up || !x.daemon)
			return;
		note(x.name + " dtrbdd killed");
		x.daemon = false;
		x.arb.reset();
		daemon_gen[i]++;
		x.connect_pending.reset();
		x.daemon_back = now + back;
	}
	void start_daemon(int i)
	{
		Host &x = h[i];
		note(x.name + " dtrbdd started");
		x.daemon = true;
		x.daemon_back = Time{-1};
		x.daemon_since = now;
		x.arb = initial_state(spec, x.name, params, now);
		x.ever_heard = false;
		deliver(i, witness_view(i));
		deliver_views(i);
	}
	void witness_power(bool on)
	{
		note(on ? "witness started" : "witness stopped");
		witness.up = on;
		if (on)
			witness.restart(now, spec.hosts);
	}
	std::optional<std::string> command(int i, Command c)
	{
		if (!h[i].up || !h[i].daemon)
			return std::string("no daemon");
		Output o = step(*h[i].arb, c, now);
		for (const auto &l : o.log)
			note(h[i].name + " " + l);
		h[i].last = o;
		for (const auto &a : o.actions)
			start_action(i, a);
		return o.refusal;
	}

	WitnessView witness_view(int i) const
	{
		WitnessView v;
		v.reachable = wpath(i);
		if (h[i].arb && h[i].arb->witness)
			v.record = h[i].arb->witness->record;
		if (v.reachable)
			v.record = witness.rec;
		return v;
	}

	// ---- time ------------------------------------------------------------

	void flush_writes()
	{
		// Writes waiting for a peer that is reachable again.
		for (int i = 0; i < 2; i++) {
			Device &d = h[i].dev;
			if (d.frozen || d.pending.empty() || !connected)
				continue;
			for (uint64_t w : d.pending) {
				d.data.push_back(w);
				if (h[other(i)].dev.sync != Sync::Target)
					h[other(i)].dev.data.push_back(w);
				acked.insert(w);
			}
			d.pending.clear();
		}
	}

	void vm_writes()
	{
		for (int i = 0; i < 2; i++) {
			if (!h[i].up || h[i].dom != DomainState::Running)
				continue;
			Device &d = h[i].dev;
			if (d.role != Role::Primary || d.io_failed)
				continue;
			uint64_t w = next_write++;
			Host &y = h[other(i)];
			if (d.frozen) {
				d.pending.push_back(w);
			} else if (connected) {
				if (y.up && path_up[1]) {
					d.data.push_back(w);
					// A resync target gets it with the
					// resync (the model copies the source).
					if (y.dev.sync != Sync::Target)
						y.dev.data.push_back(w);
					acked.insert(w);
				} else {
					d.pending.push_back(w);
				}
			} else {
				d.data.push_back(w);
				acked.insert(w);
			}
		}
	}

	void heartbeats()
	{
		for (int i = 0; i < 2; i++) {
			int j = other(i);
			if (h[j].up && h[j].daemon && h[j].arb && path_up[0] &&
			    h[i].up) {
				h[i].heard_peer = now;
				h[i].ever_heard = true;
				h[i].peer_summary = summary(*h[j].arb);
			}
		}
		for (int i = 0; i < 2; i++) {
			PeerView v;
			v.host = h[other(i)].name;
			v.alive = now - h[i].heard_peer < deadtime;
			v.ever_heard = h[i].ever_heard &&
				       h[i].arb && h[i].heard_peer >=
				       h[i].daemon_since;
			v.last_heard = h[i].heard_peer;
			v.boot_id = h[other(i)].boot;
			if (v.alive)
				v.summary = h[i].peer_summary;
			deliver(i, v);
		}
	}

	void keepalives()
	{
		for (int i = 0; i < 2; i++) {
			if (h[i].up && h[i].daemon && wpath(i))
				witness.heard[h[i].name] = now;
			deliver(i, witness_view(i));
		}
	}

	void check()
	{
		int writable = 0;
		for (int i = 0; i < 2; i++) {
			const Device &d = h[i].dev;
			if (h[i].up && d.attached && d.role == Role::Primary &&
			    !d.frozen && !d.io_failed)
				writable++;
		}
		if (writable > 1)
			fail("two writable Primaries");
		if (domain_on(0) && domain_on(1)) {
			if (both_running_since < Time{0})
				both_running_since = now;
			// Only meaningful while both daemons ran throughout
			// (a dead daemon cannot destroy its zombie).
			Time since = std::max(h[0].daemon_since,
					      h[1].daemon_since);
			// A daemon restarted into a freeze cannot know when it
			// began, so it counts isolation-bound from its start:
			// the bound is only promised to daemons that ran.
			if (h[0].daemon && h[1].daemon &&
			    since + params.zombie_bound <= both_running_since &&
			    now - both_running_since > step_len * 2)
				fail("the domain runs on both hosts");
		} else {
			both_running_since = Time{-1};
		}
		for (int i = 0; i < 2; i++) {
			Host &x = h[i];
			if (!x.up || !x.daemon || !x.arb)
				continue;
			// A frozen Primary resumed only through the witness:
			// checked through `writable` above.
		}
	}

	void advance()
	{
		now += step_len;
		// Daemons coming back.
		for (int i = 0; i < 2; i++)
			if (h[i].up && !h[i].daemon && h[i].daemon_back >= Time{0}
			    && now >= h[i].daemon_back)
				start_daemon(i);
		// Kernel timers.
		if (connected && conn_drop >= Time{0} && now >= conn_drop)
			drop_connection("peer timeout");
		if (connected && resync_done >= Time{0} && now >= resync_done) {
			int s = sync_source, t = other(s);
			h[t].dev.data = h[s].dev.data;
			h[t].dev.disk = Disk::UpToDate;
			h[0].dev.sync = h[1].dev.sync = Sync::None;
			resync_done = Time{-1};
			note("kernel: resync finished");
			kernel_changed();
		}
		for (int i = 0; i < 2; i++) {
			Host &x = h[i];
			if (x.connect_pending && now >= x.connect_expires) {
				Pending p{now, i, {}, daemon_gen[i]};
				p.a.id = *x.connect_pending;
				p.a.kind = ActionKind::Connect;
				x.connect_pending.reset();
				done(p, false, "the peer did not answer");
			}
			if (!x.destroy_waiting.empty() && !x.dev.frozen) {
				std::vector<Pending> w;
				w.swap(x.destroy_waiting);
				for (const Pending &p : w)
					execute(p);
			}
			if (x.dom == DomainState::ShuttingDown &&
			    x.shutdown_done >= Time{0} && now >= x.shutdown_done) {
				x.dom = DomainState::ShutOff;
				x.shutdown_done = Time{-1};
				note(x.name + " vm: shut off");
				deliver(i, VmView{x.dom});
				kernel_changed();
			}
		}
		for (int i = 0; i < 2; i++)
			if (h[i].connect_pending)
				try_connect(i);
		// Actions due.
		std::vector<Pending> due;
		for (auto it = pending.begin(); it != pending.end();) {
			if (it->at <= now) {
				due.push_back(*it);
				it = pending.erase(it);
			} else {
				++it;
			}
		}
		for (const auto &p : due)
			execute(p);
		if (now >= next_write_at) {
			vm_writes();
			next_write_at = now + Duration{100};
		}
		if (now >= next_hb) {
			heartbeats();
			next_hb = now + params.heartbeat_interval;
		}
		if (now >= next_wk) {
			keepalives();
			next_wk = now + Duration{250};
		}
		for (int i = 0; i < 2; i++)
			deliver(i, Tick{});
		check();
	}

	void run_until(Time t)
	{
		while (now < t && !violation)
			advance();
	}
	void run_for(Duration d) { run_until(now + d); }

	// Run until pred() holds (checked every step) or the time is up.
	bool run_until(const std::function<bool()> &pred, Duration limit)
	{
		Time end = now + limit;
		while (now < end && !violation) {
			if (pred())
				return true;
			advance();
		}
		return pred();
	}

	int running_on() const
	{
		if (domain_on(0) && !domain_on(1))
			return 0;
		if (domain_on(1) && !domain_on(0))
			return 1;
		return domain_on(0) ? 2 : -1;
	}
	std::optional<std::string> blocked(int i) const
	{
		if (!h[i].up || !h[i].daemon)
			return std::nullopt;
		return h[i].last.blocked;
	}
	std::string dump() const
	{
		std::string s;
		for (const auto &l : trace)
			s += l + "\n";
		return s;
	}
};

} // namespace dtrbd::sim
