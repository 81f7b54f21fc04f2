// SPDX-License-Identifier: GPL-2.0
// dtrbd-witness: the third vote for dtrbdd clusters. A small UDP server that
// needs no module, no disk and no libvirt; all logic lives in
// WitnessState/Server (ctl/witness/), this file wires them to a socket,
// a state directory and signals.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "cluster/udp.h"
#include "cluster/wire.h"
#include "common/clock.h"
#include "common/crypto.h"
#include "common/fd.h"
#include "common/log.h"
#include "common/manpage.h"
#include "witness/client.h"
#include "witness/server.h"
#include "witness/state.h"

using namespace dtrbd;

namespace {

const char *kHelp = R"(NAME
    dtrbd-witness - the third vote that lets dtrbdd fail over safely

SYNOPSIS
    dtrbd-witness --listen IP:PORT --secret-file PATH [--state-dir DIR] [--lease-ms N]
    dtrbd-witness --dump [--state-dir DIR]
    dtrbd-witness --status --connect IP:PORT --secret-file PATH [--as NAME]
                  [--request OP RESOURCE [--peer HOST] [--in-sync]] [RESOURCE...]

DESCRIPTION
    Two hosts that stop hearing each other cannot tell a dead peer from a cut
    link. dtrbd-witness runs on any third machine and breaks the tie: for
    every resource it records which host holds it (may write) and whose copy
    is current, persists that before it answers, and hears every host's
    authenticated keep-alives. It grants a host a resource only if that
    host's copy is current and the holder is that host, none, released
    cleanly, or silent for longer than the lease. A host that goes on alone
    after losing its peer first tells the witness, which marks the peer's
    copy as not current until it has resynced. The rules and why they are
    safe: Documentation/architecture.md, "The witness".

    It needs no kernel module, disk or libvirt. It logs one line per decision
    to stderr and exits cleanly on SIGTERM or SIGINT. After a restart it
    counts every holder as alive for one full lease, because it cannot know
    whether a holder was silent while it was down.

OPTIONS
    --listen IP:PORT
        Address to receive requests on, e.g. 10.99.0.3:7790 or [fd00::3]:7790
        (the [witness] address of dtrbd.conf). Required to serve.
    --secret-file PATH
        The cluster's shared secret (the secret-file of dtrbd.conf). Requests
        not authenticated with it are ignored. Required to serve.
    --state-dir DIR
        Where state.json is kept (default /var/lib/dtrbd-witness; created
        mode 0700 if missing). A state file that cannot be trusted is refused
        at start, never reset.
    --lease-ms N
        How long a holder may be silent before another current host may take
        over its resources (default 2000, 200 to 600000; the same default
        as dtrbd.conf's [timing] witness-lease, which should match: twice
        the default deadtime, see Documentation/configuration.md). Clients send
        keep-alives four times a second and treat the witness as unreachable
        after half a lease without an answer.
    --dump
        Print the state file as JSON and exit (no secret needed).
    --status
        Ask a running witness at --connect IP:PORT, as any host that knows
        the secret, for the records of the RESOURCEs named, and print JSON:
        {"witness", "reachable", "lease_ms", "resources": {NAME: record or
        null}}. Exit 1 when it does not answer within 3 s. The request counts
        as a keep-alive from --as NAME (default "operator"): never use a
        cluster host's name, or the witness would think that host alive.
        Up to four RESOURCEs.
    --request OP RESOURCE [--peer HOST] [--in-sync]
        With --status: first send one request as host --as NAME (OP is
        claim, outdate, release or uptodate; --peer names the in-sync peer
        for uptodate, and with --in-sync for a first claim) and add
        {"request": {"op", "resource", "granted", "answered", "message"}}
        to the output; exit 1 when refused. This acts as that host: it is
        for tests and diagnosis, never for a host whose dtrbdd is running.
    --help
        Show this text.

EXIT STATUS
    0 after SIGTERM/SIGINT or --dump/--help; 1 on a start-up error (the
    sentence on stderr says what to fix); 2 on bad usage.

FILES
    DIR/state.json   per resource: epoch, holder, released, released_by,
                     current, narrowed (why current last shrank), with a
                     checksum over the resources.
    /etc/default/dtrbd-witness
                     DTRBD_WITNESS_LISTEN (the --listen address) and
                     DTRBD_WITNESS_OPTIONS for dtrbd-witness.service, which
                     runs the witness as a dynamic user with its state in
                     /var/lib/dtrbd-witness and the secret
                     /etc/dtrbd/secret passed as a credential.

SEE ALSO
    dtrbdd(8), dtrbdctl cluster, Documentation/protocol.md ("Witness datagrams")
)";

void say(const std::string &line)
{
	std::cerr << "dtrbd-witness: " << line << std::endl;
}

int usage(const std::string &msg)
{
	say(msg + " (see dtrbd-witness --help)");
	return 2;
}

struct SocketSender final : witness::Sender {
	const cluster::UdpSocket &sock;
	explicit SocketSender(const cluster::UdpSocket &s) : sock(s) {}
	Status send(std::span<const uint8_t> d) override { return sock.send(d); }
};

nlohmann::json record_json(const std::optional<witness::Record> &r)
{
	if (!r)
		return nullptr;
	return {{"epoch", r->epoch},
		{"holder", r->holder.empty() ? nlohmann::json(nullptr) : nlohmann::json(r->holder)},
		{"released", r->released},
		{"released_by", r->released_by.empty() ? nlohmann::json(nullptr) : nlohmann::json(r->released_by)},
		{"current", r->current}};
}

struct OneRequest {
	std::string op, resource, peer;
	bool in_sync = false;
};

int status(const std::string &connect, const cluster::Keys &keys, const std::string &as,
	   const std::vector<std::string> &resources, const std::optional<OneRequest> &rq)
{
	Result<cluster::SockAddr> to = cluster::parse_endpoint(connect);
	if (!to)
		return usage(to.status().message());
	cluster::SockAddr any;
	any.ss.ss_family = to->ss.ss_family;
	any.len = to->len;
	Result<cluster::UdpSocket> sock = cluster::UdpSocket::open(any, *to);
	if (!sock) {
		say(sock.status().message());
		return 1;
	}
	SteadyClock clock;
	SocketSender sender(*sock);
	witness::ClientConfig cfg;
	cfg.host = as;
	uint64_t boot = 0;
	(void)crypto::random_bytes(std::span<uint8_t>(reinterpret_cast<uint8_t *>(&boot), sizeof(boot)));
	cfg.boot_id = boot | 1;
	witness::WitnessClient client(cfg, keys, clock, sender);
	std::vector<std::string> ask(resources.begin(),
				     resources.begin() + std::min(resources.size(), witness::kMaxAsk));
	client.set_resources(ask);
	std::optional<witness::ClientResult> result;
	if (rq) {
		witness::Op op = rq->op == "claim" ? witness::Op::Claim
			       : rq->op == "outdate" ? witness::Op::Outdate
			       : rq->op == "release" ? witness::Op::Release
						     : witness::Op::Uptodate;
		client.submit(1, op, rq->resource, rq->peer, rq->in_sync);
	}
	auto deadline = clock.now() + std::chrono::seconds(3);
	auto done = [&] {
		if (!client.last_answer() || (rq && !result))
			return false;
		for (const std::string &r : ask)
			if (!client.records().count(r))
				return false;
		return true;
	};
	auto take = [&](std::vector<witness::ClientResult> v) {
		for (auto &r : v)
			result = std::move(r);
	};
	while (!done() && clock.now() < deadline) {
		take(client.tick());
		auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
			std::min(client.next_wakeup(), deadline) - clock.now());
		pollfd pfd = {sock->fd(), POLLIN, 0};
		if (::poll(&pfd, 1, static_cast<int>(std::max<long long>(0, wait.count()) + 1)) > 0)
			for (;;) {
				auto d = sock->receive();
				if (!d || !*d)
					break;
				take(client.receive((*d)->data));
			}
	}
	nlohmann::json res = nlohmann::json::object();
	for (const std::string &r : ask) {
		auto it = client.records().find(r);
		res[r] = it == client.records().end() ? nlohmann::json(nullptr) : record_json(it->second);
	}
	nlohmann::json j = {{"witness", to->to_string()},
			    {"reachable", done()},
			    {"lease_ms", std::chrono::duration_cast<std::chrono::milliseconds>(client.lease()).count()},
			    {"resources", res}};
	if (result)
		j["request"] = {{"op", witness::to_string(result->op)},
				{"resource", result->resource},
				{"granted", result->granted},
				{"answered", result->answered},
				{"message", result->message}};
	std::cout << j.dump(2) << std::endl;
	if (!done()) {
		say(str("the witness at ", to->to_string(),
			" did not answer within 3 s; is it running, reachable, and using the same secret?"));
		return 1;
	}
	if (result && !result->granted) {
		say(result->message);
		return 1;
	}
	return 0;
}

} // namespace

int main(int argc, char **argv)
{
	std::string listen, secret_file, state_dir = "/var/lib/dtrbd-witness";
	long lease_ms = 2000;
	bool dump = false, want_status = false;
	std::string connect, as = "operator";
	std::vector<std::string> names;
	std::optional<OneRequest> rq;
	for (int i = 1; i < argc; i++) {
		std::string a = argv[i];
		auto value = [&](std::string &out) {
			if (i + 1 >= argc)
				return false;
			out = argv[++i];
			return true;
		};
		std::string v;
		if (a == "--help" || a == "-h") {
			std::cout << kHelp;
			return 0;
		} else if (a == "--man") {
			// Hidden: dtrbd-witness(8) from the same text, for the build.
			std::cout << man::from_help(kHelp, "dtrbd-witness", 8, DTRBD_VERSION);
			return 0;
		} else if (a == "--dump") {
			dump = true;
		} else if (a == "--status") {
			want_status = true;
		} else if (a == "--connect") {
			if (!value(connect))
				return usage("--connect needs IP:PORT");
		} else if (a == "--as") {
			if (!value(as) || !cluster::valid_name(as))
				return usage("--as needs a name of 1 to 31 letters, digits, '.', '_' or '-'");
		} else if (a == "--request") {
			OneRequest r;
			if (!value(r.op) || !value(r.resource) ||
			    (r.op != "claim" && r.op != "outdate" && r.op != "release" && r.op != "uptodate"))
				return usage("--request needs OP RESOURCE, OP one of claim, outdate, release, uptodate");
			if (!cluster::valid_name(r.resource))
				return usage(str("'", r.resource, "' is not a resource name"));
			rq = r;
		} else if (a == "--peer") {
			if (!rq || !value(rq->peer) || !cluster::valid_name(rq->peer))
				return usage("--peer HOST comes after --request OP RESOURCE");
		} else if (a == "--in-sync") {
			if (!rq)
				return usage("--in-sync comes after --request OP RESOURCE");
			rq->in_sync = true;
		} else if (a == "--listen") {
			if (!value(listen))
				return usage("--listen needs IP:PORT");
		} else if (a == "--secret-file") {
			if (!value(secret_file))
				return usage("--secret-file needs a path");
		} else if (a == "--state-dir") {
			if (!value(state_dir))
				return usage("--state-dir needs a directory");
		} else if (a == "--lease-ms") {
			if (!value(v) || v.empty() || v.size() > 6 ||
			    v.find_first_not_of("0123456789") != std::string::npos ||
			    std::stol(v) < 200 || std::stol(v) > 600000)
				return usage("--lease-ms needs a number of milliseconds from 200 to 600000");
			lease_ms = std::stol(v);
		} else if (want_status && !a.empty() && a[0] != '-') {
			if (!cluster::valid_name(a))
				return usage(str("'", a, "' is not a resource name"));
			names.push_back(a);
		} else {
			return usage(str("unknown argument '", a, "'"));
		}
	}

	witness::FileStore store(state_dir);
	if (dump) {
		Result<witness::WitnessState::Records> recs = store.load();
		if (!recs) {
			say(recs.status().message());
			return 1;
		}
		std::cout << witness::to_json(*recs);
		return 0;
	}
	if (rq && !want_status)
		return usage("--request needs --status");
	if (want_status) {
		if (connect.empty() || secret_file.empty())
			return usage("--status needs --connect IP:PORT and --secret-file PATH");
		Result<std::vector<uint8_t>> sec = crypto::read_secret_file(secret_file);
		if (!sec) {
			say(sec.status().message());
			return 1;
		}
		return status(connect, cluster::derive_keys(*sec), as, names, rq);
	}
	if (listen.empty())
		return usage("--listen IP:PORT is required");
	if (secret_file.empty())
		return usage("--secret-file PATH is required");

	Result<cluster::SockAddr> addr = cluster::parse_endpoint(listen);
	if (!addr)
		return usage(addr.status().message());
	Result<std::vector<uint8_t>> secret = crypto::read_secret_file(secret_file);
	if (!secret) {
		say(secret.status().message());
		return 1;
	}
	cluster::Keys keys = cluster::derive_keys(*secret);
	std::fill(secret->begin(), secret->end(), 0);

	if (::mkdir(state_dir.c_str(), 0700) < 0 && errno != EEXIST) {
		say(str("cannot create the state directory ", state_dir, ": ", errno_text(errno)));
		return 1;
	}
	Result<witness::WitnessState::Records> recs = store.load();
	if (!recs) {
		say(recs.status().message());
		return 1;
	}
	// Prove the directory is writable now, not at the first decision.
	if (Status st = store.save(*recs); !st) {
		say(str("cannot write the state directory: ", st.message()));
		return 1;
	}

	Result<cluster::UdpSocket> sock = cluster::UdpSocket::open(*addr);
	if (!sock) {
		say(sock.status().message());
		return 1;
	}

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, nullptr);
	UniqueFd sfd(::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK));
	if (!sfd.valid()) {
		say(str("cannot watch signals: ", errno_text(errno)));
		return 1;
	}

	SteadyClock clock;
	std::chrono::milliseconds lease(lease_ms);
	size_t n = recs->size();
	witness::Server server(witness::WitnessState(lease, clock.now(), std::move(*recs)), keys, store,
			       clock, say);
	say(str("listening on ", addr->to_string(), ", state in ", store.path(), " (", n,
		" resources), lease ", lease_ms, " ms; every holder counts as alive for the first ",
		lease_ms, " ms"));

	for (;;) {
		pollfd fds[2] = {{sock->fd(), POLLIN, 0}, {sfd.get(), POLLIN, 0}};
		if (::poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			say(str("poll failed: ", errno_text(errno)));
			return 1;
		}
		if (fds[1].revents & POLLIN) {
			signalfd_siginfo si;
			if (::read(sfd.get(), &si, sizeof(si)) == sizeof(si)) {
				say(str("exiting on ", strsignal(static_cast<int>(si.ssi_signo))));
				return 0;
			}
		}
		if (!(fds[0].revents & POLLIN))
			continue;
		for (int burst = 0; burst < 64; burst++) {
			auto d = sock->receive();
			if (!d) {
				log::debug(d.status().message());
				break;
			}
			if (!*d)
				break;
			auto reply = server.handle((*d)->data, (*d)->from.to_string());
			if (reply) {
				Status st = sock->send_to((*d)->from, *reply);
				if (!st)
					log::debug(st.message());
			}
		}
	}
}
