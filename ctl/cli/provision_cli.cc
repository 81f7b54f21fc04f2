// SPDX-License-Identifier: GPL-2.0
#include "cli/provision_cli.h"

#include <algorithm>
#include <iterator>
#include <memory>
#include <sstream>

#include "common/file.h"
#include "common/log.h"
#include "config/config.h"
#include "peer/peer_client.h"
#include "provision/agent.h"
#include "provision/provision.h"
#include "provision/size.h"

namespace dtrbd {

using nlohmann::json;

namespace {

struct Setup {
	config::Config cfg;
	std::string text;
	std::string self, peer;
	std::unique_ptr<provision::Lvm> own_lvm;
	provision::Lvm *lvm = nullptr;
};

// The configuration, this host and the other of the pair; @what: the verb,
// for the refusal of a configuration that is not a pair.
Status load_pair(const ProvisionCli &o, const char *what, Setup &s)
{
	auto cfg = config::load_or_refuse(o.config_path);
	if (!cfg)
		return cfg.status();
	s.cfg = std::move(*cfg);
	auto me = config::this_host(s.cfg, o.host ? std::optional<std::string_view>(*o.host)
						  : std::nullopt);
	if (!me)
		return me.status();
	s.self = (*me)->name;
	for (const auto &[n, h] : s.cfg.hosts)
		if (n != s.self)
			s.peer = n;
	if (s.cfg.hosts.size() != 2)
		return Status::error(str(o.config_path, " has ", s.cfg.hosts.size(), " hosts; ",
					 what, " works on a pair of hosts"));
	return {};
}

Result<Setup> setup(const ProvisionCli &o)
{
	Setup s;
	if (Status st = load_pair(o, "provision", s); !st)
		return st;
	auto text = read_whole_file(o.config_path);
	if (!text)
		return text.status();
	s.text = std::move(*text);
	if (o.lvm) {
		s.lvm = o.lvm;
	} else {
		s.own_lvm = std::make_unique<provision::LvmCommand>();
		s.lvm = s.own_lvm.get();
	}
	return s;
}

provision::Agent agent_for(const ProvisionCli &o, Setup &s, Env &env)
{
	provision::Agent a;
	a.self = s.self;
	a.config_path = o.config_path;
	// Next to the configuration: /etc/dtrbd/domains for /etc/dtrbd/dtrbd.conf.
	auto slash = o.config_path.rfind('/');
	a.domains_dir = slash == std::string::npos ? std::string("domains")
						   : o.config_path.substr(0, slash) + "/domains";
	a.lvm = s.lvm;
	a.open_kernel = env.open_kernel;
	// Zeroing a large volume takes minutes: show it on a terminal. (The
	// peer's half answers when it is done; its step line says it began.)
	if (env.err_is_terminal())
		a.progress = zeroing_progress(env.err, s.self);
	return a;
}

Status finish(const Status &st, const provision::Report &rep, bool as_json, Env &env)
{
	if (as_json) {
		json j = rep.to_json();
		j["ok"] = st.ok();
		if (!st)
			j["error"] = st.message();
		env.out << j.dump() << '\n';
		return st;
	}
	if (!st)
		return st;
	env.out << rep.summary << '\n';
	for (const auto &w : rep.warnings)
		env.out << "warning: " << w << '\n';
	return st;
}

} // namespace

Status cmd_provision(const ProvisionCli &o, Env &env)
{
	auto size = provision::parse_size(o.size);
	if (!size)
		return size.status();
	if (!config::safe_name(o.vg))
		return Status::error(str("'", o.vg, "' is not a volume group name dtrbd accepts "
					 "(letters, digits, _ . -, not starting with . or -, at most 31 bytes)"));
	provision::ProvisionOptions po;
	po.name = o.name;
	po.size = *size;
	po.vg = o.vg;
	po.preferred = o.preferred;
	if (o.domain_xml) {
		auto xml = read_whole_file(*o.domain_xml, 1u << 20);
		if (!xml)
			return xml.status();
		po.domain_xml = std::move(*xml);
		po.domain_xml_source = *o.domain_xml;
	}
	auto s = setup(o);
	if (!s)
		return s.status();
	provision::LocalHalf local(agent_for(o, *s, env), env.ask_daemon, o.socket);
	provision::PeerHalf remote(s->cfg, s->self, s->peer);
	provision::Report rep;
	provision::Say say;
	if (!o.json)
		say = [&](const std::string &line) { env.out << line << std::endl; };
	Status st = provision::provision(s->cfg, s->text, po, local, remote, rep, say);
	return finish(st, rep, o.json, env);
}

Status cmd_deprovision(const ProvisionCli &o, Env &env)
{
	auto s = setup(o);
	if (!s)
		return s.status();
	provision::LocalHalf local(agent_for(o, *s, env), env.ask_daemon, o.socket);
	provision::PeerHalf remote(s->cfg, s->self, s->peer);
	provision::DeprovisionOptions d;
	d.name = o.name;
	d.keep_volumes = o.keep_volumes;
	provision::Report rep;
	provision::Say say;
	if (!o.json)
		say = [&](const std::string &line) { env.out << line << std::endl; };
	Status st = provision::deprovision(s->cfg, s->text, d, local, remote, rep, say);
	return finish(st, rep, o.json, env);
}

Status cmd_peer_exec(const ProvisionCli &o, const std::string &from, std::istream &in, Env &env)
{
	std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
	json req = json::parse(body, nullptr, false);
	json answer;
	auto s = setup(o);
	if (!s) {
		answer = {{"ok", false}, {"error", s.status().message()}};
	} else {
		if (!from.empty() && from != s->peer)
			answer = {{"ok", false},
				  {"error", str("peer-exec: ", from, " is not the other host of ", o.config_path)}};
		else
			answer = provision::agent_execute(agent_for(o, *s, env), req);
	}
	// stderr is dtrbdd's, so this is in its log.
	env.err << "dtrbdctl peer-exec for " << (from.empty() ? "?" : from) << ": "
		<< (req.is_object() ? req.value("cmd", std::string("?")) : std::string("?")) << ": "
		<< (answer.value("ok", false) ? answer.value("message", std::string("ok"))
					      : answer.value("error", std::string()))
		<< '\n';
	env.out << answer.dump() << '\n';
	return {};
}

Status cmd_leaving(const ProvisionCli &o, Env &env)
{
	Setup s;
	if (Status st = load_pair(o, "leaving", s); !st)
		return st;
	const config::Config *cfg = &s.cfg;
	const std::string &self = s.self, &peer = s.peer;

	// What is still Primary or running here, as this host's dtrbdd sees it.
	std::string reason = o.reason;
	json names = json::array();
	auto cl = env.ask_daemon(o.socket, json{{"cmd", "cluster"}});
	if (cl && cl->contains("cluster") && (*cl)["cluster"].contains("resources")) {
		for (const auto &r : (*cl)["cluster"]["resources"]) {
			bool primary = r.value("role", std::string()) == "primary";
			bool runs = r.contains("vm") && r["vm"].is_object() && r["vm"].contains("host") &&
				    r["vm"]["host"].is_string() && r["vm"]["host"].get<std::string>() == self;
			if (primary || runs)
				names.push_back(r.value("name", std::string()));
		}
	} else {
		// Without the daemon nothing says what is Primary: name them all.
		for (const auto &[n, r] : cfg->resources)
			if (std::find(r.hosts.begin(), r.hosts.end(), self) != r.hosts.end())
				names.push_back(n);
		reason += str(reason.empty() ? "" : "; ", "dtrbdd on ", self,
			      " did not answer, so every resource of ", self, " is named");
	}
	json req = {{"cmd", "host-leaving"}, {"resources", names}, {"reason", reason}};
	auto ans = env.ask_peer(*cfg, self, peer, req, std::chrono::seconds(5));
	if (!ans)
		return Status::error(str("could not tell ", peer, " that ", self, " is going down: ",
					 ans.status().message()));
	std::string msg = ans->value("message", std::string());
	if (o.json) {
		env.out << json{{"ok", true}, {"host", self}, {"peer", peer}, {"resources", names},
				{"reason", reason}, {"message", msg}}.dump() << "\n";
	} else {
		env.out << msg << "\n";
	}
	return Status();
}

std::function<void(uint64_t, uint64_t)> zeroing_progress(std::ostream &err, const std::string &host)
{
	return [&err, host, last = -1](uint64_t done, uint64_t total) mutable {
		int pct = total == 0 ? 100 : static_cast<int>(std::min<uint64_t>(done, total) * 100 / total);
		if (pct == last)
			return;
		last = pct;
		err << "\r  zeroing the volume on " << host << ": " << pct << "% (" << (done >> 20)
		    << " of " << (total >> 20) << " MiB)" << (done >= total ? "\n" : "") << std::flush;
	};
}

} // namespace dtrbd
