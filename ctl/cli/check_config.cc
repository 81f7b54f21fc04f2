// SPDX-License-Identifier: GPL-2.0
#include "cli/check_config.h"

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "config/config.h"

namespace dtrbd {

Status cmd_check_config(const std::string &path, bool json, std::ostream &out)
{
	config::Loaded l = config::load(path);
	if (json) {
		nlohmann::json j;
		j["path"] = path;
		j["ok"] = l.config.has_value();
		j["mistakes"] = nlohmann::json::array();
		for (auto &m : l.mistakes)
			j["mistakes"].push_back({{"line", m.where.line}, {"column", m.where.column},
						 {"message", m.message}});
		if (l.config) {
			const config::Config &c = *l.config;
			nlohmann::json hosts = nlohmann::json::array(), res = nlohmann::json::array();
			for (auto &[name, h] : c.hosts) {
				nlohmann::json hb = nlohmann::json::array();
				for (auto &a : h.heartbeat)
					hb.push_back(a.ip());
				hosts.push_back({{"name", name}, {"address", h.address.ip()}, {"heartbeat", hb}});
			}
			for (auto &[name, r] : c.resources) {
				nlohmann::json disk = nlohmann::json::object();
				for (auto &[h, p] : r.disk)
					disk[h] = p;
				res.push_back({{"name", name},
					       {"minor", r.minor},
					       {"port", r.port},
					       {"hosts", r.hosts},
					       {"disk", disk},
					       {"preferred", r.preferred ? nlohmann::json(*r.preferred) : nullptr},
					       {"failback", config::failback_name(r.failback)},
					       {"domain", r.domain.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.domain)},
					       {"protocol", std::string(1, r.protocol)}});
			}
			j["summary"] = c.summary();
			j["hosts"] = hosts;
			j["resources"] = res;
			j["witness"] = c.witness ? nlohmann::json(c.witness->address.str()) : nullptr;
		}
		out << j.dump() << '\n';
	} else if (l.config) {
		out << l.config->summary() << '\n';
	} else {
		for (auto &m : l.mistakes)
			out << m.str() << '\n';
	}
	out.flush();
	if (l.config)
		return {};
	size_t n = l.mistakes.size();
	return Status::error(str(path, " has ", n, n == 1 ? " mistake" : " mistakes",
				 "; fix ", n == 1 ? "it" : "them", " and run check-config again"),
			     EINVAL);
}

} // namespace dtrbd
