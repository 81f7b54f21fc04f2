// SPDX-License-Identifier: GPL-2.0
#include "cli/cluster.h"

#include <sstream>

#include "common/log.h"

namespace dtrbd {

using nlohmann::json;

Status cmd_cluster_verb(const AskDaemon &ask, const std::string &socket,
			const json &request, std::ostream &out)
{
	auto r = ask(socket, request);
	if (!r)
		return r.status();
	std::string msg = r->value("message", std::string());
	if (!msg.empty())
		out << msg << '\n';
	return {};
}

Status cmd_cluster(const AskDaemon &ask, const std::string &socket, bool as_json,
		   std::ostream &out)
{
	auto r = ask(socket, json{{"cmd", "cluster"}});
	if (!r)
		return r.status();
	if (!r->contains("cluster") || !(*r)["cluster"].is_object())
		return Status::error("dtrbdd answered without a cluster object", EPROTO);
	const json &c = (*r)["cluster"];
	if (as_json)
		out << c.dump(2) << '\n';
	else
		out << cluster_text(c);
	return {};
}

namespace {

// A string field, "?" when missing, @null_text when null.
std::string field(const json &o, const char *key, const char *null_text = "-")
{
	if (!o.is_object() || !o.contains(key))
		return "?";
	const json &v = o[key];
	if (v.is_null())
		return null_text;
	if (v.is_string())
		return v.get<std::string>();
	return v.dump();
}

std::string heard(const json &link)
{
	if (!link.contains("last_heard_ms") || link["last_heard_ms"].is_null())
		return "never heard";
	const json &v = link["last_heard_ms"];
	if (!v.is_number())
		return "?";
	return str("heard ", v.dump(), " ms ago");
}

std::string sync_text(const json &s)
{
	if (s.is_null())
		return "";
	if (!s.is_object())
		return "  sync ?";
	std::ostringstream os;
	os << "  sync " << field(s, "direction");
	if (s.contains("percent") && s["percent"].is_number()) {
		char buf[16];
		snprintf(buf, sizeof(buf), "%.1f%%", s["percent"].get<double>());
		os << ' ' << buf;
	}
	return os.str();
}

// A duration in ms for humans: "3.2 s" below a minute, else "1h 02m 03s".
std::string duration_text(const json &v)
{
	if (!v.is_number())
		return "?";
	double ms = v.get<double>();
	if (ms < 60000) {
		char buf[32];
		snprintf(buf, sizeof(buf), "%.1f s", ms / 1000);
		return buf;
	}
	auto t = static_cast<uint64_t>(ms / 1000);
	char buf[48];
	if (t >= 3600)
		snprintf(buf, sizeof(buf), "%lluh %02llum %02llus",
			 static_cast<unsigned long long>(t / 3600),
			 static_cast<unsigned long long>(t / 60 % 60),
			 static_cast<unsigned long long>(t % 60));
	else
		snprintf(buf, sizeof(buf), "%llum %02llus", static_cast<unsigned long long>(t / 60),
			 static_cast<unsigned long long>(t % 60));
	return buf;
}

// "      Primary here for 1h 02m 03s" and the last failover, when known.
std::string history_text(const json &r)
{
	std::ostringstream os;
	const json up = r.value("uptime", json());
	if (up.is_object()) {
		os << "      Primary here for " << duration_text(up.value("primary_for_ms", json()));
		if (up.value("since_daemon_start", false))
			os << " (since dtrbdd started; it was Primary already)";
		os << '\n';
	}
	const json f = r.value("last_failover", json());
	if (f.is_object()) {
		os << "      last failover " << duration_text(f.value("ago_ms", json())) << " ago: "
		   << field(f, "reason") << "; promoted after "
		   << duration_text(f.value("promoted_after_ms", json()));
		const json st = f.value("domain_started_after_ms", json());
		if (!r.value("vm", json()).is_null())
			os << (st.is_null() ? ", domain not started yet"
					    : ", domain started after " + duration_text(st));
		os << " (" << field(r, "failovers") << " since dtrbdd started)\n";
	}
	return os.str();
}

} // namespace

std::string cluster_text(const json &c)
{
	std::ostringstream os;
	std::string self = field(c, "host");
	os << "host " << self << '\n';
	if (c.contains("hosts") && c["hosts"].is_array()) {
		os << "hosts:\n";
		for (const json &h : c["hosts"]) {
			std::string name = field(h, "name");
			os << "  " << name;
			if (name == self)
				os << "  (this host)";
			else
				os << "  " << (h.value("alive", false) ? "alive" : "dead");
			if (h.contains("links") && h["links"].is_array() && name != self) {
				const char *sep = "  links: ";
				for (const json &l : h["links"]) {
					os << sep << field(l, "address") << " (" << heard(l) << ")";
					sep = ", ";
				}
			}
			os << '\n';
			// What it said before it went (dtrbdctl leaving).
			const json l = h.value("leaving", json());
			if (l.is_object()) {
				os << "    said it was going down "
				   << l.value("ms_ago", int64_t{0}) / 1000 << " s ago";
				std::string names;
				if (l.contains("resources") && l["resources"].is_array())
					for (const json &n : l["resources"])
						if (n.is_string())
							names += (names.empty() ? "" : ", ") +
								 n.get<std::string>();
				os << (names.empty() ? std::string(", nothing Primary there")
						     : ", with " + names + " still Primary or running there");
				std::string why = l.value("reason", std::string());
				if (!why.empty())
					os << ": " << why;
				os << '\n';
			}
		}
	}
	const json w = c.value("witness", json());
	if (w.is_object())
		os << "witness " << field(w, "address") << ' '
		   << (w.value("reachable", false) ? "reachable" : "unreachable") << '\n';
	else
		os << "witness none configured\n";
	if (c.contains("resources") && c["resources"].is_array()) {
		os << "resources:\n";
		for (const json &r : c["resources"]) {
			os << "  " << field(r, "name") << "  minor " << field(r, "minor")
			   << "  primary " << field(r, "primary", "none")
			   << "  " << field(r, "role") << ' ' << field(r, "disk") << '/'
			   << field(r, "peer_disk") << ' ' << field(r, "connection");
			if (r.value("frozen", false))
				os << "  FROZEN";
			os << sync_text(r.value("sync", json()));
			const json vm = r.value("vm", json());
			if (vm.is_object())
				os << "  vm " << field(vm, "domain") << ' ' << field(vm, "state")
				   << " on " << field(vm, "host", "no host");
			os << '\n';
			os << history_text(r);
			if (r.contains("blocked") && r["blocked"].is_string())
				os << "      blocked: " << r["blocked"].get<std::string>() << '\n';
		}
	}
	return os.str();
}

} // namespace dtrbd
