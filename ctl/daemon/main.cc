// SPDX-License-Identifier: GPL-2.0
// dtrbdd: keeps the resources of /etc/dtrbd/dtrbd.conf running on this host
// (Documentation/dtrbdd.md). This file only connects the process to the
// daemon core: it owns every descriptor and the event loop.
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <limits.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>

#include "common/clock.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/manpage.h"
#include "config/config.h"
#include "daemon/children.h"
#include "daemon/connmgr.h"
#include "daemon/control.h"
#include "daemon/control_server.h"
#include "daemon/core.h"
#include "daemon/lock.h"
#include "daemon/loop.h"
#include "daemon/metrics.h"
#include "daemon/peer_control.h"
#include "daemon/peers.h"
#include "daemon/realtime.h"
#include "netlink/netlink_kernel.h"
#include "vm/libvirt_driver.h"
#include "vm/vm_worker.h"

using namespace dtrbd;
using namespace dtrbd::daemon;
namespace po = boost::program_options;

namespace {

// One line per decision on stderr, which the journal captures.
void log_line(const std::string &line)
{
	std::fprintf(stderr, "dtrbdd: %s\n", line.c_str());
	std::fflush(stderr);
}

int refuse(const std::string &sentence)
{
	log_line(sentence);
	return 1;
}

// The texts of --help and of dtrbdd(8) (dtrbdd --man, run by the build).
constexpr const char *kSynopsis =
	"dtrbdd [--config PATH] [--host NAME] [--run-dir DIR] [--libvirt-uri URI]\n"
	"       [--no-realtime] [--dtrbdctl PATH]";
constexpr const char *kSummary = "keep the dtrbd resources and their VMs running on this host";
constexpr const char *kDescription =
	"Keeps the dtrbd resources of the configuration running on this host:\n"
	"attaches and connects their devices, promotes the preferred host,\n"
	"starts and moves their domains. Runs in the\n"
	"foreground and logs one line per decision to stderr. See\n"
	"Documentation/dtrbdd.md.";
// Only in the man page (--help stays short).
constexpr const char *kManDescription =
	"dtrbdd runs on both hosts of a pair, started by dtrbd.service\n"
	"(Type=notify: it reports READY=1 once the control socket listens and\n"
	"every resource has been adopted). It hears the peer over the heartbeat\n"
	"links, asks the witness before it promotes a resource its peer no\n"
	"longer answers for, and answers the dtrbdctl cluster verbs (up, down,\n"
	"fail-back, migrate, cluster, reload) on its control socket.\n"
	"\n"
	"On TCP port control-port (7787) of its host address it answers the\n"
	"other host's dtrbdd or dtrbdctl provision over the peer control\n"
	"channel: requests signed with the cluster's secret, from a configured\n"
	"host's address only, carried out by a dtrbdctl peer-exec child so\n"
	"that the heartbeats go on meanwhile.\n"
	"\n"
	"Stopping the daemon (SIGTERM, SIGINT, systemctl stop dtrbd) stops\n"
	"nothing else: devices, connections and domains keep running, and the\n"
	"next dtrbdd adopts them as they are. SIGHUP (systemctl reload dtrbd,\n"
	"dtrbdctl reload) reads the configuration again: when it has no\n"
	"mistake, dtrbdd executes itself anew with it (the same process id)\n"
	"and adopts what runs, as after a restart; otherwise it says why and\n"
	"keeps the configuration it has. At system shutdown,\n"
	"dtrbd-shutdown.service runs dtrbdctl down first, so that the domains\n"
	"stop cleanly and the devices are demoted and disconnected.\n"
	"\n"
	"The event loop, which sends and reads the heartbeats, runs at\n"
	"real-time priority 10 (SCHED_RR; the threads that talk to libvirt do\n"
	"not) and the daemon's memory is locked (mlockall), so that a host\n"
	"busy with its VMs or short of memory does not delay its heartbeats\n"
	"into a false failover. Where that is not allowed, dtrbdd says so and\n"
	"runs at normal priority.";
constexpr const char *kExitStatus =
	"0   stopped by SIGTERM or SIGINT, or --help/--version\n"
	"1   refused to start; the one sentence on stderr says what to fix\n"
	"2   the command line is invalid";

struct Options {
	std::string config = config::kDefaultPath;
	std::optional<std::string> host;
	std::string run_dir = control::kRunDir;
	std::string libvirt_uri = "qemu:///system";
	bool realtime = true;
	std::string dtrbdctl;		// empty: next to this program
};

// run()'s result when dtrbdd is to execute itself anew (reload).
constexpr int kReexec = -100;

// dtrbdctl next to this program (both are installed in /usr/sbin; in the
// build tree both are in build/ctl).
std::string sibling_dtrbdctl()
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	if (n <= 0)
		return "/usr/sbin/dtrbdctl";
	std::string self(buf, static_cast<size_t>(n));
	return self.substr(0, self.rfind('/') + 1) + "dtrbdctl";
}

void man_page(const po::options_description &desc)
{
	std::cout << man::title("dtrbdd", 8, DTRBD_VERSION) << man::section("NAME")
		  << "dtrbdd \\- " << man::escape(kSummary) << '\n'
		  << man::section("SYNOPSIS") << man::literal(kSynopsis)
		  << man::section("DESCRIPTION") << man::text(kDescription)
		  << man::text(kManDescription) << man::section("OPTIONS")
		  << man::options(desc) << man::section("EXIT STATUS")
		  << man::literal(kExitStatus) << man::section("FILES")
		  << man::literal(str(config::kDefaultPath, "    the cluster configuration\n",
				      control::kRunDir, "/dtrbdd.lock   the lock: one daemon per host\n",
				      control::kDefaultSocket, "   the control socket"))
		  << man::section("SEE ALSO")
		  << "\\fBdtrbdctl\\fR(8), \\fBdtrbd.conf\\fR(5), "
		     "\\fBdtrbd\\-witness\\fR(8), \\fBsystemd.service\\fR(5)\n";
}

std::optional<int> parse(int argc, char **argv, Options &o)
{
	po::options_description desc(str("Usage: ", kSynopsis, "\n", kDescription, "\n\nOptions"));
	desc.add_options()
		("config", po::value<std::string>(&o.config)->value_name("PATH"),
		 "the cluster configuration (default /etc/dtrbd/dtrbd.conf)")
		("host", po::value<std::string>()->value_name("NAME"),
		 "which host of the configuration this is (default: the one named "
		 "like this machine's hostname)")
		("run-dir", po::value<std::string>(&o.run_dir)->value_name("DIR"),
		 "where the lock file lives (default /run/dtrbd); the control socket "
		 "is the configuration's control-socket")
		("libvirt-uri", po::value<std::string>(&o.libvirt_uri)->value_name("URI"),
		 "the hypervisor connection (default qemu:///system)")
		("no-realtime", po::bool_switch()->default_value(false),
		 "run the event loop at normal priority and do not lock memory "
		 "(default: SCHED_RR priority 10 and mlockall, so that a busy host "
		 "sends its heartbeats on time)")
		("dtrbdctl", po::value<std::string>(&o.dtrbdctl)->value_name("PATH"),
		 "the dtrbdctl that runs the peer's requests (default: the one "
		 "next to dtrbdd)")
		("help,h", "show this help and exit")
		("version", "show the version and exit");
	po::options_description hidden, all;
	hidden.add_options()("man", "print dtrbdd(8) and exit");
	all.add(desc).add(hidden);
	po::variables_map vm;
	try {
		po::store(po::parse_command_line(argc, argv, all), vm);
		po::notify(vm);
	} catch (const po::error &e) {
		std::cerr << "dtrbdd: " << e.what() << " (see dtrbdd --help)\n";
		return 2;
	}
	if (vm.count("help")) {
		std::cout << desc;
		return 0;
	}
	if (vm.count("man")) {
		man_page(desc);
		return 0;
	}
	if (vm.count("version")) {
		std::cout << "dtrbdd " DTRBD_VERSION "\n";
		return 0;
	}
	if (vm.count("host"))
		o.host = vm["host"].as<std::string>();
	o.realtime = !vm["no-realtime"].as<bool>();
	return std::nullopt;
}

int run(const Options &o)
{
	// Signals first: every thread started later inherits the mask.
	auto sigs = SignalFd::make({SIGTERM, SIGINT, SIGHUP});
	if (!sigs)
		return refuse(sigs.status().message());
	signal(SIGPIPE, SIG_IGN);

	auto cfg = config::load_or_refuse(o.config);
	if (!cfg)
		return refuse(cfg.status().message());
	auto me = config::this_host(*cfg, o.host ? std::optional<std::string_view>(*o.host)
						 : std::nullopt);
	if (!me)
		return refuse(me.status().message());
	std::string self = (*me)->name;
	arbiter::Params params = params_of(*cfg);
	if (auto bad = arbiter::check_params(params))
		return refuse(str("the [timing] of ", cfg->path, " is not safe: ", *bad));

	auto lock = InstanceLock::acquire(o.run_dir);
	if (!lock)
		return refuse(lock.status().message());

	auto loop = Loop::make();
	if (!loop)
		return refuse(loop.status().message());
	auto kernel = NetlinkKernel::open();
	if (!kernel)
		return refuse(kernel.status().message());
	if (Status st = (*kernel)->subscribe(); !st)
		return refuse(st.message());

	std::unique_ptr<vm::VmDriver> vmd;
	std::unique_ptr<vm::VmWorker> vmw;
	bool wants_vm = false;
	for (const auto *r : cfg->resources_of(self))
		wants_vm |= !r->domain.empty();
	if (wants_vm) {
		auto v = vm::LibvirtDriver::create(o.libvirt_uri);
		if (!v)
			return refuse(v.status().message());
		vmd = std::move(*v);
		// The verbs run on lanes of their own with their own libvirt
		// connections (vm/vm_worker.h): a start takes seconds, and this
		// thread must keep the heartbeats and the witness lease going.
		auto w = vm::VmWorker::create([&o]() -> Result<std::unique_ptr<vm::VmDriver>> {
			auto d = vm::LibvirtDriver::create(o.libvirt_uri);
			if (!d)
				return d.status();
			return std::unique_ptr<vm::VmDriver>(std::move(*d));
		});
		if (!w)
			return refuse(w.status().message());
		vmw = std::move(*w);
	}

	Kernel &k = **kernel;
	auto conns = ConnectionManager::make(*cfg, self, [&k](uint32_t minor) -> uint64_t {
		auto d = k.get(minor);
		return d && d->size_bytes ? *d->size_bytes : 0;
	});
	if (!conns)
		return refuse(conns.status().message());

	SteadyClock clock;
	uint64_t boot_id = 0;
	while (boot_id == 0) {
		Status rs = crypto::random_bytes(std::span(reinterpret_cast<uint8_t *>(&boot_id),
							   sizeof(boot_id)));
		if (!rs)
			return refuse(rs.message());
	}
	cluster::Keys keys = cluster::derive_keys(cfg->secret);
	std::unique_ptr<WitnessLink> wl;
	if (cfg->witness) {
		auto w = WitnessLink::make(**loop, *cfg, self, keys, boot_id, clock);
		if (!w)
			return refuse(w.status().message());
		wl = std::move(*w);
	}
	CoreDeps deps{k, **conns, vmd.get(), wl.get(), clock, log_line, vmw.get()};
	Core core(*cfg, self, deps, params);
	if (wl) {
		wl->attach(&core);
		wl->set_log(log_line);
	}
	auto hb = Heartbeats::make(**loop, *cfg, self, keys, boot_id, clock, core, log_line);
	if (!hb)
		return refuse(hb.status().message());

	auto timer = Timer::make();
	if (!timer)
		return refuse(timer.status().message());
	auto rearm = [&] {
		(*hb)->update();
		if (wl)
			wl->update();
		auto at = core.next_wakeup();
		if (!at) {
			(void)timer->disarm();
			return;
		}
		auto left = std::chrono::ceil<std::chrono::milliseconds>(*at - clock.now());
		(void)timer->arm(std::max(left, std::chrono::milliseconds(1)));
	};

	Loop &l = **loop;
	l.after_each(rearm);

	// The peer's requests: "reload" and "host-leaving" here, the rest in dtrbdctl peer-exec
	// children (logical volumes, zeroing, metadata, files take seconds).
	Children children(l);
	std::unique_ptr<PeerControl> peer;
	bool reexec = false;
	// Read the configuration again and, when it is good, execute anew with
	// it (after the loop ends, so this answer is sent first).
	// @own: requests of the peer counted as pending that are this one
	// (a reload the peer asked for is pending while it is handled).
	auto reload = [&](size_t own = 0) -> nlohmann::json {
		auto next = config::load_or_refuse(o.config);
		if (!next)
			return control::refused(str("not reloading: ", next.status().message(),
						    "; dtrbdd keeps the configuration it has"));
		auto me2 = config::this_host(*next, o.host ? std::optional<std::string_view>(*o.host)
							 : std::nullopt);
		if (!me2 || (*me2)->name != self)
			return control::refused(str("not reloading: ", o.config, " no longer names this "
						    "host ", self, "; fix it or restart dtrbdd"));
		if (auto bad = arbiter::check_params(params_of(*next)))
			return control::refused(str("not reloading: the [timing] of ", o.config,
						    " is not safe: ", *bad));
		if (children.running() || (peer && peer->pending() > own))
			return control::refused("not reloading now: a request of the peer is being "
						"carried out; try again when it is done");
		log_line(str("reloading ", o.config, ": ", next->summary(),
			     "; dtrbdd starts anew (devices, connections and domains keep running)"));
		reexec = true;
		l.stop();
		return control::ok(str("dtrbdd on ", self, " reloads ", o.config, " (",
				       next->summary(), ")"));
	};
	Status st;
	st = l.add(sigs->fd(), EPOLLIN, [&](uint32_t) {
		for (int s; (s = sigs->next()) != 0;) {
			if (s == SIGHUP) {
				nlohmann::json r = reload();
				if (!r.value("ok", false))
					log_line(str("SIGHUP: ", r.value("error", std::string())));
				continue;
			}
			log_line(str("stopping on ", strsignal(s),
				     "; devices, connections and domains keep running"));
			l.stop();
		}
	});
	if (st)
		st = l.add((*kernel)->event_fd(), EPOLLIN, [&](uint32_t) {
			for (;;) {
				auto ev = k.next_event(std::chrono::milliseconds(0));
				if (!ev) {
					log_line(ev.status().message());
					break;
				}
				if (!*ev)
					break;
				core.on_kernel_event(**ev);
			}
		});
	if (st)
		st = l.add((*conns)->event_fd(), EPOLLIN, [&](uint32_t) {
			for (auto &res : (*conns)->collect()) {
				if (res.link)
					core.on_connected(res.resource, res.action_id,
							  std::move(*res.link));
				else
					core.on_connect_failed(res.resource, res.action_id,
							       res.link.status().message());
			}
		});
	if (st && vmd)
		st = l.add(vmd->event_fd(), EPOLLIN, [&](uint32_t) {
			core.on_vm_events(vmd->take_events());
		});
	if (st && vmw)
		st = l.add(vmw->result_fd(), EPOLLIN, [&](uint32_t) {
			for (const auto &res : vmw->take_results())
				core.on_vm_done(res);
		});
	if (st)
		st = l.add(timer->fd(), EPOLLIN, [&](uint32_t) {
			timer->consume();
			core.tick();
		});
	if (!st)
		return refuse(st.message());

	// [metrics] textfile: rewritten once a second when its text changed
	// (the last-heard ages change every second while a peer is heard).
	const double started_at = std::chrono::duration<double>(
		std::chrono::system_clock::now().time_since_epoch()).count();
	std::optional<metrics::TextfileWriter> prom;
	std::optional<Timer> prom_timer;
	auto write_metrics = [&](bool up) {
		metrics::Snapshot snap = core.metrics_snapshot();
		snap.up = up;
		snap.start_time_seconds = started_at;
		if (auto err = prom->update(metrics::render(snap)))
			log_line(*err);
	};
	if (!cfg->metrics.textfile.empty()) {
		prom.emplace(cfg->metrics.textfile);
		auto t = Timer::make();
		if (!t)
			return refuse(t.status().message());
		prom_timer.emplace(std::move(*t));
		if (Status ts = prom_timer->arm(std::chrono::seconds(1), std::chrono::seconds(1)); !ts)
			return refuse(ts.message());
		if (Status ts = l.add(prom_timer->fd(), EPOLLIN, [&](uint32_t) {
			    prom_timer->consume();
			    write_metrics(true);
		    }); !ts)
			return refuse(ts.message());
	}

	auto ctl = ControlServer::make(l, cfg->control_socket, [&](const nlohmann::json &req) {
		if (req.value("cmd", std::string()) == "reload")
			return reload();
		return core.handle(req);
	});
	if (!ctl)
		return refuse(ctl.status().message());

	const std::string ctl_path = o.dtrbdctl.empty() ? sibling_dtrbdctl() : o.dtrbdctl;
	auto pc = PeerControl::make(l, *cfg, self, [&](const std::string &from,
						       const std::string &body,
						       PeerControl::Reply reply) {
		nlohmann::json req = nlohmann::json::parse(body, nullptr, false);
		std::string cmd = req.is_object() ? req.value("cmd", std::string()) : std::string();
		if (cmd == "reload")
			return reply(reload(1).dump());
		if (cmd == "host-leaving")
			return reply(core.on_peer_leaving(from, req).dump());
		log_line(str("peer control: ", from, " asks for ", cmd.empty() ? "?" : cmd));
		Status st = children.start(
			{ctl_path, "peer-exec", "--config", o.config, "--host", self, "--from", from},
			body, std::chrono::hours(1), [reply, from, cmd](const Children::Done &d) {
				std::string out = d.out;
				while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
					out.pop_back();
				auto j = nlohmann::json::parse(out, nullptr, false);
				if (!j.is_object() || !j.contains("ok")) {
					std::string why = d.timed_out ? std::string("did not end within an hour")
								      : str("ended with status ", d.exit_code,
									    " and no answer");
					log_line(str("peer control: dtrbdctl peer-exec for ", from, "'s ",
						     cmd, " ", why));
					j = control::refused(str("dtrbdctl peer-exec ", why,
								 "; see dtrbdd's log on that host"));
				}
				reply(j.dump());
			});
		if (!st)
			reply(control::refused(st.message()).dump());
	});
	if (pc) {
		peer = std::move(*pc);
		peer->set_log(log_line);
	} else {
		// Only provisioning needs it; the resources do not.
		log_line(str(pc.status().message(), "; the peer control channel is off "
			     "(dtrbdctl provision from the other host will not reach this one)"));
	}

	log_line(str("starting on ", self, ": ", cfg->summary(), "; control socket ",
		     cfg->control_socket));
	core.start();
	rearm();
	// Last, so that the threads started above (the VM worker lanes) stay
	// ordinary tasks; SCHED_RESET_ON_FORK does the same for later ones.
	if (o.realtime) {
		Status rt = enter_realtime();
		Status ml = lock_memory();
		if (rt && ml)
			log_line(str("event loop at real-time priority ", kRealtimePriority,
				     " (SCHED_RR), memory locked"));
		for (const Status *s : {&rt, &ml})
			if (!*s)
				log_line(str(s->message(), "; going on without it (a busy host "
					     "may send its heartbeats late)"));
	}
	if (prom)
		write_metrics(true);
	// systemd Type=notify; without NOTIFY_SOCKET this does nothing.
	sd_notify(0, "READY=1");
	log_line(str("ready on ", self, ": heartbeat on UDP port ", cfg->heartbeat_port,
		     ", deadtime ", cfg->timing.deadtime.count(), " ms",
		     cfg->witness ? str(", witness ", cfg->witness->address.str())
				  : std::string(", no witness (no automatic failover)")));
	st = l.run();
	sd_notify(0, reexec ? "RELOADING=1" : "STOPPING=1");
	if (prom) {
		// Say that nobody updates the file any more (a crash leaves it
		// as it was: its age, node_textfile_mtime_seconds, tells).
		l.remove(prom_timer->fd());
		write_metrics(false);
	}
	if (!st)
		return refuse(st.message());
	return reexec ? kReexec : 0;
}

} // namespace

int main(int argc, char **argv)
{
	Options o;
	if (auto rc = parse(argc, argv, o))
		return *rc;
	int rc;
	try {
		rc = run(o);
	} catch (const std::exception &e) {
		return refuse(str("internal error: ", e.what()));
	}
	if (rc != kReexec)
		return rc;
	// Everything run() owned is closed (all descriptors are O_CLOEXEC
	// anyway, the lock included): the new image starts as after a restart.
	execv("/proc/self/exe", argv);
	return refuse(str("could not execute dtrbdd anew: ", errno_text(errno),
			  "; start it again (devices and domains keep running)"));
}
