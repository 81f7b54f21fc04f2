// SPDX-License-Identifier: GPL-2.0
#include "config/config.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "common/crypto.h"
#include "common/log.h"
#include "dtrbd_protocol.h"
#include <linux/dtrbd.h>

namespace dtrbd::config {

static_assert(kMaxNameLen < DTRBD_NODE_NAME_LEN);

const char *failback_name(Failback f)
{
	switch (f) {
	case Failback::Auto: return "auto";
	case Failback::Manual: return "manual";
	case Failback::Never: return "never";
	}
	return "?";
}

// ---- Config accessors ------------------------------------------------------

const Host *Config::find_host(std::string_view name) const
{
	auto it = hosts.find(std::string(name));
	return it == hosts.end() ? nullptr : &it->second;
}

const Resource *Config::find_resource(std::string_view name) const
{
	auto it = resources.find(std::string(name));
	return it == resources.end() ? nullptr : &it->second;
}

const Resource *Config::find_minor(uint32_t minor) const
{
	for (auto &[name, r] : resources)
		if (r.minor == minor)
			return &r;
	return nullptr;
}

std::vector<const Resource *> Config::resources_of(std::string_view host) const
{
	std::vector<const Resource *> out;
	for (auto &[name, r] : resources)
		if (std::find(r.hosts.begin(), r.hosts.end(), host) != r.hosts.end())
			out.push_back(&r);
	return out;
}

std::string Config::summary() const
{
	return str(hosts.size(), hosts.size() == 1 ? " host, " : " hosts, ", resources.size(),
		   resources.size() == 1 ? " resource, " : " resources, ",
		   witness ? "witness " + witness->address.str() : std::string("no witness"));
}

std::vector<std::string> peers(const Resource &r, std::string_view host)
{
	std::vector<std::string> out;
	for (auto &h : r.hosts)
		if (h != host)
			out.push_back(h);
	return out;
}

std::optional<std::string> disk_path(const Resource &r, std::string_view host)
{
	auto it = r.disk.find(std::string(host));
	if (it == r.disk.end())
		return std::nullopt;
	return it->second;
}

std::optional<std::string> meta_path(const Resource &r, std::string_view host)
{
	auto it = r.meta.find(std::string(host));
	if (it == r.meta.end())
		return std::nullopt;
	return it->second;
}

Endpoint replication_endpoint(const Config &c, const Resource &r, std::string_view host)
{
	const Host *h = c.find_host(host);
	assert(h);
	Endpoint ep = h->address;
	ep.port = r.port;
	return ep;
}

Result<const Host *> host_by_hostname(const Config &c, std::string_view hostname)
{
	if (const Host *h = c.find_host(hostname))
		return h;
	size_t dot = hostname.find('.');
	if (dot != std::string_view::npos)
		if (const Host *h = c.find_host(hostname.substr(0, dot)))
			return h;
	std::string names;
	for (auto &[n, h] : c.hosts)
		names += (names.empty() ? "" : ", ") + n;
	return Status::error(str("this machine's hostname '", hostname, "' is none of the hosts in ",
				 c.path, " (", names, "); give the right one with --host NAME"),
			     ENOENT);
}

Result<const Host *> this_host(const Config &c, std::optional<std::string_view> name)
{
	if (name) {
		if (const Host *h = c.find_host(*name))
			return h;
		return Status::error(str("--host ", *name, " is not a host in ", c.path,
					 "; use one of its [hosts.NAME] names"), ENOENT);
	}
	char buf[256] = {};
	if (gethostname(buf, sizeof(buf) - 1) != 0)
		return Status::error(str("cannot read this machine's hostname (", errno_text(errno),
					 "); give the host with --host NAME"), errno);
	return host_by_hostname(c, buf);
}

std::string Mistake::str() const
{
	if (where.line == 0)
		return dtrbd::str(path, ": ", message);
	return dtrbd::str(path, ":", where.line, ":", where.column, ": ", message);
}

// ---- parsing and validation ------------------------------------------------

namespace {

Position pos(const toml::source_region &s)
{
	return {s.begin.line, s.begin.column};
}

const char *type_name(toml::node_type t)
{
	switch (t) {
	case toml::node_type::table: return "a table";
	case toml::node_type::array: return "an array";
	case toml::node_type::string: return "a string";
	case toml::node_type::integer: return "an integer";
	case toml::node_type::floating_point: return "a floating-point number";
	case toml::node_type::boolean: return "a boolean";
	case toml::node_type::date: return "a date";
	case toml::node_type::time: return "a time";
	case toml::node_type::date_time: return "a date-time";
	default: return "nothing";
	}
}

} // namespace

bool safe_name(std::string_view n)
{
	if (n.empty() || n.size() > kMaxNameLen || n[0] == '.' || n[0] == '-')
		return false;
	return std::all_of(n.begin(), n.end(), [](char c) {
		return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		       c == '_' || c == '-' || c == '.';
	});
}

namespace {

// A numeric IPv4 or IPv6 address without a port.
std::optional<Endpoint> parse_ip(std::string_view text)
{
	Endpoint ep;
	std::string s(text);
	if (inet_pton(AF_INET, s.c_str(), ep.addr) == 1) {
		ep.family = AF_INET;
		return ep;
	}
	if (inet_pton(AF_INET6, s.c_str(), ep.addr) == 1) {
		ep.family = AF_INET6;
		return ep;
	}
	return std::nullopt;
}

// "200ms", "1s", "1.5s", "2m" -> milliseconds; nullopt when malformed.
std::optional<Ms> parse_duration(std::string_view s)
{
	size_t i = 0;
	while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
		i++;
	std::string_view num = s.substr(0, i), unit = s.substr(i);
	while (!unit.empty() && unit.front() == ' ')
		unit.remove_prefix(1);
	if (num.empty() || num.front() == '.' || num.back() == '.' ||
	    std::count(num.begin(), num.end(), '.') > 1)
		return std::nullopt;
	double scale;
	if (unit == "ms")
		scale = 1;
	else if (unit == "s")
		scale = 1000;
	else if (unit == "m" || unit == "min")
		scale = 60000;
	else
		return std::nullopt;
	double v = 0;
	auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
	if (ec != std::errc() || end != num.data() + num.size())
		return std::nullopt;
	double ms = v * scale;
	if (ms > 86400000.0 || ms != static_cast<double>(static_cast<int64_t>(ms)))
		return std::nullopt;	// more than a day, or a fraction of a millisecond
	return Ms(static_cast<int64_t>(ms));
}

std::string fmt_ms(Ms d)
{
	if (d.count() >= 60000 && d.count() % 60000 == 0)
		return str(d.count() / 60000, "m");
	if (d.count() % 1000 == 0)
		return str(d.count() / 1000, "s");
	return str(d.count(), "ms");
}

std::string dirname_of(const std::string &path)
{
	size_t slash = path.rfind('/');
	if (slash == std::string::npos)
		return ".";
	if (slash == 0)
		return "/";
	return path.substr(0, slash);
}

class Checker {
public:
	Checker(std::string path, const LoadOptions &opt) : path_(std::move(path)), opt_(opt) {}

	Loaded run(std::string_view text);

private:
	void mistake(Position p, std::string msg)
	{
		mistakes_.push_back(Mistake{path_, p, std::move(msg)});
	}
	void mistake(const toml::source_region &s, std::string msg) { mistake(pos(s), std::move(msg)); }

	// Refuse every key of @t that is not in @allowed.
	void only_keys(const toml::table &t, std::initializer_list<std::string_view> allowed,
		       std::string_view where);
	// @t[key] as a string: nullopt when absent (a mistake when @required)
	// or of another type (always a mistake).
	const toml::node *get(const toml::table &t, std::string_view key, std::string_view where,
			      bool required, Position table_pos);
	std::optional<std::string> get_string(const toml::table &t, std::string_view key,
					      std::string_view where, bool required, Position table_pos,
					      const toml::node **node = nullptr);
	std::optional<int64_t> get_int(const toml::table &t, std::string_view key,
				       std::string_view where, bool required, Position table_pos,
				       const toml::node **node = nullptr);
	void wrong_type(const toml::node &n, std::string_view key, std::string_view where,
			std::string_view want);
	std::string resolve(const std::string &p) const
	{
		if (p.empty() || p[0] == '/')
			return p;
		return dirname_of(path_) + "/" + p;
	}

	void root(const toml::table &t);
	void witness(const toml::table &t, Position p);
	void timing(const toml::table &t, Position p);
	void metrics(const toml::table &t, Position p);
	void host(const std::string &name, const toml::table &t, Position p);
	void resource(const std::string &name, const toml::table &t, Position p);
	// disk/meta: a string, or a table host -> path naming exactly r.hosts.
	void per_host_paths(const toml::node &n, std::string_view key, const Resource &r,
			    std::map<std::string, std::string> &out, std::string_view where);
	void cross_checks();

	std::string path_;
	LoadOptions opt_;
	Config cfg_;
	std::vector<Mistake> mistakes_;
	std::map<std::string, Position> preferred_pos_;	// resource -> where preferred was written
	std::map<std::string, Position> minor_pos_, port_pos_, domain_pos_;
};

void Checker::only_keys(const toml::table &t, std::initializer_list<std::string_view> allowed,
			std::string_view where)
{
	for (auto &&[k, v] : t) {
		if (std::find(allowed.begin(), allowed.end(), k.str()) != allowed.end())
			continue;
		std::string list;
		for (auto a : allowed)
			list += str(list.empty() ? "" : ", ", a);
		mistake(k.source(), str("unknown key '", k.str(), "' in ", where, "; the keys allowed there are ",
					list));
	}
}

void Checker::wrong_type(const toml::node &n, std::string_view key, std::string_view where,
			 std::string_view want)
{
	mistake(n.source(), str("'", key, "' in ", where, " must be ", want, ", not ", type_name(n.type())));
}

const toml::node *Checker::get(const toml::table &t, std::string_view key, std::string_view where,
			       bool required, Position table_pos)
{
	const toml::node *n = t.get(key);
	if (!n && required)
		mistake(table_pos, str(where, " needs the key '", key, "'"));
	return n;
}

std::optional<std::string> Checker::get_string(const toml::table &t, std::string_view key,
					       std::string_view where, bool required,
					       Position table_pos, const toml::node **node)
{
	const toml::node *n = get(t, key, where, required, table_pos);
	if (node)
		*node = n;
	if (!n)
		return std::nullopt;
	if (!n->is_string()) {
		wrong_type(*n, key, where, "a string");
		return std::nullopt;
	}
	return n->as_string()->get();
}

std::optional<int64_t> Checker::get_int(const toml::table &t, std::string_view key,
					std::string_view where, bool required, Position table_pos,
					const toml::node **node)
{
	const toml::node *n = get(t, key, where, required, table_pos);
	if (node)
		*node = n;
	if (!n)
		return std::nullopt;
	if (!n->is_integer()) {
		wrong_type(*n, key, where, "an integer");
		return std::nullopt;
	}
	return n->as_integer()->get();
}

Loaded Checker::run(std::string_view text)
{
	cfg_.path = path_;
	toml::table t;
	try {
		t = toml::parse(text, path_);
	} catch (const toml::parse_error &e) {
		std::string d(e.description());
		if (!d.empty() && d.back() == '.')
			d.pop_back();
		mistake(e.source(), str("this is not valid TOML: ", d,
					" (the rest of the file was not checked)"));
		return Loaded{std::nullopt, std::move(mistakes_)};
	}
	root(t);
	if (mistakes_.empty())
		cross_checks();
	std::stable_sort(mistakes_.begin(), mistakes_.end(), [](const Mistake &a, const Mistake &b) {
		return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
	});
	Loaded out;
	out.mistakes = std::move(mistakes_);
	if (out.mistakes.empty())
		out.config = std::move(cfg_);
	return out;
}

void Checker::root(const toml::table &t)
{
	const Position top{};
	only_keys(t, {"secret-file", "witness", "hosts", "resources", "timing", "heartbeat-port",
		      "control-port", "control-socket", "state-dir", "metrics"},
		  "the top level");

	const toml::node *n = nullptr;
	if (auto s = get_string(t, "secret-file", "the top level", true, top, &n)) {
		cfg_.secret_file = resolve(*s);
		if (s->empty()) {
			mistake(n->source(), "secret-file is empty; set it to the path of the shared secret, "
					     "e.g. \"/etc/dtrbd/secret\"");
		} else if (opt_.read_secret) {
			auto secret = crypto::read_secret_file(cfg_.secret_file);
			if (!secret)
				mistake(n->source(), secret.status().message());
			else
				cfg_.secret = std::move(*secret);
		}
	}

	if (auto v = get_int(t, "heartbeat-port", "the top level", false, top, &n)) {
		if (*v < 1 || *v > 65535)
			mistake(n->source(), str("heartbeat-port ", *v, " is out of range; use a UDP port from 1 to 65535"));
		else
			cfg_.heartbeat_port = static_cast<uint16_t>(*v);
	}
	if (auto v = get_int(t, "control-port", "the top level", false, top, &n)) {
		if (*v < 1 || *v > 65535)
			mistake(n->source(), str("control-port ", *v, " is out of range; use a TCP port from 1 to 65535"));
		else
			cfg_.control_port = static_cast<uint16_t>(*v);
	}
	for (auto [key, field] : {std::pair{"control-socket", &cfg_.control_socket},
				  std::pair{"state-dir", &cfg_.state_dir}}) {
		if (auto s = get_string(t, key, "the top level", false, top, &n)) {
			if (s->empty() || (*s)[0] != '/')
				mistake(n->source(), str(key, " '", *s, "' is not an absolute path; write it from /"));
			else
				*field = *s;
		}
	}

	if (const toml::node *w = t.get("witness")) {
		if (!w->is_table())
			wrong_type(*w, "witness", "the top level", "a table ([witness] with an address)");
		else
			witness(*w->as_table(), pos(w->source()));
	}
	if (const toml::node *tm = t.get("timing")) {
		if (!tm->is_table())
			wrong_type(*tm, "timing", "the top level", "a table ([timing])");
		else
			timing(*tm->as_table(), pos(tm->source()));
	}
	if (const toml::node *m = t.get("metrics")) {
		if (!m->is_table())
			wrong_type(*m, "metrics", "the top level", "a table ([metrics])");
		else
			metrics(*m->as_table(), pos(m->source()));
	}

	const toml::node *hs = t.get("hosts");
	if (!hs) {
		mistake(top, "there are no hosts; add a [hosts.NAME] table with an address for every host");
	} else if (!hs->is_table()) {
		wrong_type(*hs, "hosts", "the top level", "a table of [hosts.NAME] tables");
	} else {
		for (auto &&[k, v] : *hs->as_table()) {
			std::string name(k.str());
			std::string where = str("[hosts.", name, "]");
			if (!safe_name(name))
				mistake(k.source(), str("the host name '", name, "' is not usable; use 1 to ", kMaxNameLen,
							" letters, digits, '_', '-' or '.', not starting with '.' or '-'"));
			if (!v.is_table()) {
				wrong_type(v, name, "[hosts]", "a table (" + where + " with an address)");
				continue;
			}
			host(name, *v.as_table(), pos(k.source()));
		}
		if (hs->as_table()->empty())
			mistake(hs->source(), "there are no hosts; add a [hosts.NAME] table with an address for every host");
	}

	if (const toml::node *rs = t.get("resources")) {
		if (!rs->is_table()) {
			wrong_type(*rs, "resources", "the top level", "a table of [resources.NAME] tables");
		} else {
			for (auto &&[k, v] : *rs->as_table()) {
				std::string name(k.str());
				if (!safe_name(name))
					mistake(k.source(), str("the resource name '", name,
								"' is not safe in a file name; use 1 to ", kMaxNameLen,
								" letters, digits, '_', '-' or '.', not starting with '.' or '-'"));
				if (!v.is_table()) {
					wrong_type(v, name, "[resources]", "a table ([resources." + name + "])");
					continue;
				}
				resource(name, *v.as_table(), pos(k.source()));
			}
		}
	}
}

void Checker::witness(const toml::table &t, Position p)
{
	only_keys(t, {"address"}, "[witness]");
	const toml::node *n = nullptr;
	if (auto s = get_string(t, "address", "[witness]", true, p, &n)) {
		auto ep = parse_endpoint(*s, "the witness address");
		if (!ep)
			mistake(n->source(), ep.status().message());
		else
			cfg_.witness = Witness{*ep, pos(n->source())};
	}
}

void Checker::metrics(const toml::table &t, Position p)
{
	only_keys(t, {"textfile"}, "[metrics]");
	const toml::node *n = nullptr;
	auto s = get_string(t, "textfile", "[metrics]", false, p, &n);
	if (!s)
		return;
	// node-exporter's textfile collector reads only *.prom files: any
	// other name would be written and never scraped.
	constexpr std::string_view ext = ".prom";
	if (s->empty() || (*s)[0] != '/')
		mistake(n->source(), str("textfile '", *s, "' in [metrics] is not an absolute path; "
					 "write it from /, e.g. \"/var/lib/prometheus/node-exporter/dtrbd.prom\""));
	else if (s->size() <= ext.size() || s->compare(s->size() - ext.size(), ext.size(), ext) != 0 ||
		 (*s)[s->size() - ext.size() - 1] == '/')
		mistake(n->source(), str("textfile '", *s, "' in [metrics] does not end in .prom, so "
					 "node-exporter's textfile collector would ignore it; name the file "
					 "NAME.prom"));
	else
		cfg_.metrics = Metrics{*s, pos(n->source())};
}

void Checker::timing(const toml::table &t, Position)
{
	struct Key {
		const char *name;
		Ms *field;
		Ms min, max;
	};
	Timing &tm = cfg_.timing;
	const Key keys[] = {
		{"heartbeat-interval", &tm.heartbeat_interval, Ms(10), Ms(10000)},
		{"deadtime", &tm.deadtime, Ms(50), Ms(600000)},
		{"witness-lease", &tm.witness_lease, Ms(50), Ms(600000)},
		{"isolation-timeout", &tm.isolation_timeout, Ms(0), Ms(600000)},
		{"reconnect-min", &tm.reconnect_min, Ms(10), Ms(600000)},
		{"reconnect-max", &tm.reconnect_max, Ms(10), Ms(3600000)},
		{"handshake-timeout", &tm.handshake_timeout, Ms(100), Ms(600000)},
		{"ping-interval", &tm.ping_interval, Ms(DTRBD_PING_MS_MIN), Ms(DTRBD_PING_MS_MAX)},
		{"ping-timeout", &tm.ping_timeout, Ms(DTRBD_TIMEOUT_MS_MIN), Ms(DTRBD_TIMEOUT_MS_MAX)},
		{"shutdown-timeout", &tm.shutdown_timeout, Ms(0), Ms(3600000)},
		{"start-timeout", &tm.start_timeout, Ms(1000), Ms(3600000)},
	};
	std::map<std::string, Position> at;
	for (auto &&[k, v] : t) {
		const Key *key = nullptr;
		for (auto &c : keys)
			if (k.str() == c.name)
				key = &c;
		if (!key) {
			std::string list;
			for (auto &c : keys)
				list += str(list.empty() ? "" : ", ", c.name);
			mistake(k.source(), str("unknown key '", k.str(), "' in [timing]; the keys allowed there are ",
						list));
			continue;
		}
		if (!v.is_string()) {
			wrong_type(v, key->name, "[timing]", "a duration string with a unit, e.g. \"200ms\" or \"1s\"");
			continue;
		}
		std::string s = v.as_string()->get();
		auto d = parse_duration(s);
		if (!d) {
			mistake(v.source(), str(key->name, " \"", s, "\" is not a duration; write a number and a unit "
						"(ms, s or m), e.g. \"200ms\" or \"1.5s\""));
			continue;
		}
		if (*d < key->min || *d > key->max) {
			mistake(v.source(), str(key->name, " ", s, " is out of range; use ", fmt_ms(key->min), " to ",
						fmt_ms(key->max)));
			continue;
		}
		*key->field = *d;
		at[key->name] = pos(v.source());
	}
	auto where = [&](const char *a, const char *b) {
		auto it = at.find(a);
		if (it != at.end())
			return it->second;
		it = at.find(b);
		return it != at.end() ? it->second : Position{};
	};
	if (tm.deadtime < 2 * tm.heartbeat_interval)
		mistake(where("deadtime", "heartbeat-interval"),
			str("deadtime ", fmt_ms(tm.deadtime), " is shorter than two heartbeat intervals (",
			    fmt_ms(2 * tm.heartbeat_interval),
			    "); one lost datagram would declare the peer dead, so lengthen deadtime"));
	if (tm.ping_timeout <= tm.ping_interval)
		mistake(where("ping-timeout", "ping-interval"),
			str("ping-timeout ", fmt_ms(tm.ping_timeout), " must be longer than ping-interval ",
			    fmt_ms(tm.ping_interval)));
	if (tm.reconnect_max < tm.reconnect_min)
		mistake(where("reconnect-max", "reconnect-min"),
			str("reconnect-max ", fmt_ms(tm.reconnect_max), " is shorter than reconnect-min ",
			    fmt_ms(tm.reconnect_min)));
}

void Checker::host(const std::string &name, const toml::table &t, Position p)
{
	std::string where = str("[hosts.", name, "]");
	only_keys(t, {"address", "heartbeat"}, where);
	Host h;
	h.name = name;
	h.where = p;
	const toml::node *n = nullptr;
	bool good = true;
	if (auto s = get_string(t, "address", where, true, p, &n)) {
		if (auto ip = parse_ip(*s)) {
			h.address = *ip;
		} else {
			mistake(n->source(), str("the address '", *s, "' of host ", name,
						 " is not a numeric IPv4 or IPv6 address (without a port), "
						 "e.g. \"10.99.0.1\""));
			good = false;
		}
	} else {
		good = false;
	}
	if (const toml::node *hb = t.get("heartbeat")) {
		if (!hb->is_array()) {
			wrong_type(*hb, "heartbeat", where, "an array of addresses, e.g. [\"10.99.0.1\", \"10.99.1.1\"]");
		} else if (hb->as_array()->empty()) {
			mistake(hb->source(), str("heartbeat in ", where, " is empty; list at least one address, or "
						  "leave the key out to use the host's address"));
		} else {
			for (auto &e : *hb->as_array()) {
				if (!e.is_string()) {
					mistake(e.source(), str("each heartbeat address of host ", name,
								" must be a string, not ", type_name(e.type())));
					continue;
				}
				const std::string &s = e.as_string()->get();
				auto ip = parse_ip(s);
				if (!ip) {
					mistake(e.source(), str("the heartbeat address '", s, "' of host ", name,
								" is not a numeric IPv4 or IPv6 address (without a port)"));
					continue;
				}
				if (std::find(h.heartbeat.begin(), h.heartbeat.end(), *ip) != h.heartbeat.end()) {
					mistake(e.source(), str("the heartbeat address '", s, "' of host ", name,
								" is listed twice; list each link once"));
					continue;
				}
				h.heartbeat.push_back(*ip);
			}
		}
	} else if (good) {
		h.heartbeat.push_back(h.address);
	}
	for (auto &[other, oh] : cfg_.hosts)
		if (good && oh.address == h.address)
			mistake(n->source(), str("host ", name, " has the same address ", h.address.ip(), " as host ",
						 other, "; give every host its own address"));
	cfg_.hosts.emplace(name, std::move(h));
}

void Checker::per_host_paths(const toml::node &n, std::string_view key, const Resource &r,
			     std::map<std::string, std::string> &out, std::string_view where)
{
	auto check_path = [&](const toml::node &v, const std::string &s, std::string_view host) {
		if (s.empty() || s[0] != '/') {
			mistake(v.source(), str(key, " '", s, "'", host.empty() ? "" : str(" for host ", host),
						" in ", where, " is not an absolute path; write the device path, e.g. \"/dev/vg0/",
						r.name, "\""));
			return false;
		}
		return true;
	};
	if (n.is_string()) {
		const std::string &s = n.as_string()->get();
		if (check_path(n, s, ""))
			for (auto &h : r.hosts)
				out[h] = s;
		return;
	}
	if (!n.is_table()) {
		wrong_type(n, key, where, str("a path, or a table { HOST = \"PATH\", ... } when the paths differ"));
		return;
	}
	for (auto &&[k, v] : *n.as_table()) {
		std::string h(k.str());
		if (!cfg_.find_host(h)) {
			mistake(k.source(), str(key, " in ", where, " names the host '", h,
						"', which is not a [hosts.NAME] table; fix the name or add the host"));
			continue;
		}
		if (std::find(r.hosts.begin(), r.hosts.end(), h) == r.hosts.end()) {
			mistake(k.source(), str(key, " in ", where, " names the host ", h,
						", which is not one of the resource's hosts; remove it or add it to hosts"));
			continue;
		}
		if (!v.is_string()) {
			wrong_type(v, str(key, ".", h), where, "a path");
			continue;
		}
		if (check_path(v, v.as_string()->get(), h))
			out[h] = v.as_string()->get();
	}
	for (auto &h : r.hosts)
		if (!n.as_table()->contains(h))
			mistake(n.source(), str(key, " in ", where, " has no path for host ", h,
						"; add ", h, " = \"PATH\" (every host of the resource needs one)"));
}

void Checker::resource(const std::string &name, const toml::table &t, Position p)
{
	std::string where = str("[resources.", name, "]");
	only_keys(t, {"minor", "port", "disk", "meta", "preferred", "failback", "domain", "domain-xml",
		      "protocol", "hosts"},
		  where);
	Resource r;
	r.name = name;
	r.where = p;
	const toml::node *n = nullptr;

	if (auto v = get_int(t, "minor", where, true, p, &n)) {
		if (*v < 0 || *v > DTRBD_MAX_MINOR)
			mistake(n->source(), str("minor ", *v, " of resource ", name, " is out of range; use 0 to ",
						 DTRBD_MAX_MINOR));
		else
			r.minor = static_cast<uint32_t>(*v), minor_pos_[name] = pos(n->source());
	}
	if (auto v = get_int(t, "port", where, true, p, &n)) {
		if (*v < 1 || *v > 65535)
			mistake(n->source(), str("port ", *v, " of resource ", name,
						 " is out of range; use a TCP port from 1 to 65535"));
		else
			r.port = static_cast<uint16_t>(*v), port_pos_[name] = pos(n->source());
	}

	// hosts first: disk and meta tables are checked against it.
	bool hosts_ok = true;
	if (const toml::node *hn = t.get("hosts")) {
		if (!hn->is_array()) {
			wrong_type(*hn, "hosts", where, "an array of host names, e.g. [\"p1\", \"p2\"]");
			hosts_ok = false;
		} else {
			for (auto &e : *hn->as_array()) {
				if (!e.is_string()) {
					mistake(e.source(), str("each entry of hosts in ", where, " must be a host name, not ",
								type_name(e.type())));
					hosts_ok = false;
					continue;
				}
				std::string h = e.as_string()->get();
				if (!cfg_.find_host(h)) {
					mistake(e.source(), str("hosts in ", where, " names the host '", h,
								"', which is not a [hosts.NAME] table; fix the name or add the host"));
					hosts_ok = false;
				} else if (std::find(r.hosts.begin(), r.hosts.end(), h) != r.hosts.end()) {
					mistake(e.source(), str("hosts in ", where, " lists ", h, " twice; list each host once"));
				} else {
					r.hosts.push_back(h);
				}
			}
			if (hosts_ok && r.hosts.size() != 2)
				mistake(hn->source(), str(where, " has ", r.hosts.size(), r.hosts.size() == 1 ? " host" : " hosts",
							  "; this version replicates between exactly two, so list two"));
			std::sort(r.hosts.begin(), r.hosts.end());
		}
	} else {
		for (auto &[h, host] : cfg_.hosts)
			r.hosts.push_back(h);
		if (cfg_.hosts.size() > 2) {
			mistake(p, str(where, " does not say which hosts replicate it and there are ", cfg_.hosts.size(),
				       " hosts; add hosts = [\"A\", \"B\"] with the two that do"));
			hosts_ok = false;
		} else if (cfg_.hosts.size() == 1) {
			mistake(p, str(where, " needs two hosts to replicate between, but only one is configured; "
					      "add the second [hosts.NAME]"));
			hosts_ok = false;
		}
	}

	if (const toml::node *d = get(t, "disk", where, true, p); d && hosts_ok)
		per_host_paths(*d, "disk", r, r.disk, where);
	if (const toml::node *m = t.get("meta"); m && hosts_ok)
		per_host_paths(*m, "meta", r, r.meta, where);

	if (auto s = get_string(t, "preferred", where, false, p, &n)) {
		preferred_pos_[name] = pos(n->source());
		if (!cfg_.find_host(*s))
			mistake(n->source(), str("preferred host '", *s, "' of resource ", name,
						 " is not a [hosts.NAME] table; use one of the resource's hosts"));
		else if (hosts_ok && std::find(r.hosts.begin(), r.hosts.end(), *s) == r.hosts.end())
			mistake(n->source(), str("preferred host ", *s, " of resource ", name,
						 " is not one of its hosts; use one of them or add it to hosts"));
		else
			r.preferred = *s;
	}
	if (auto s = get_string(t, "failback", where, false, p, &n)) {
		if (*s == "auto")
			r.failback = Failback::Auto;
		else if (*s == "manual")
			r.failback = Failback::Manual;
		else if (*s == "never")
			r.failback = Failback::Never;
		else
			mistake(n->source(), str("failback '", *s, "' of resource ", name,
						 " is not auto, manual or never; use one of those three"));
		if (!t.get("preferred"))
			mistake(n->source(), str("failback in ", where, " has no effect without a preferred host; "
						 "add preferred = \"HOST\" or remove failback"));
	}
	if (auto s = get_string(t, "domain", where, false, p, &n)) {
		if (s->empty())
			mistake(n->source(), str("domain in ", where, " is empty; give the libvirt domain name or "
						 "leave the key out"));
		else
			r.domain = *s, domain_pos_[name] = pos(n->source());
	}
	if (auto s = get_string(t, "domain-xml", where, false, p, &n)) {
		if (s->empty())
			mistake(n->source(), str("domain-xml in ", where, " is empty; give the path of the domain's "
						 "XML or leave the key out"));
		else
			r.domain_xml = resolve(*s);
		if (!t.get("domain"))
			mistake(n->source(), str("domain-xml in ", where, " needs domain, the name of the domain it "
						 "defines; add domain = \"NAME\""));
	}
	if (auto s = get_string(t, "protocol", where, false, p, &n)) {
		if (*s == "A" || *s == "B" || *s == "C" || *s == "a" || *s == "b" || *s == "c")
			r.protocol = static_cast<char>(toupper((*s)[0]));
		else
			mistake(n->source(), str("protocol '", *s, "' of resource ", name,
						 " is not A, B or C; use C unless you know why not"));
	}
	cfg_.resources.emplace(name, std::move(r));
}

void Checker::cross_checks()
{
	// Minors and ports must be unique among the resources a host runs;
	// with two hosts today that is every pair of resources sharing one.
	std::vector<const Resource *> rs;
	for (auto &[n, r] : cfg_.resources)
		rs.push_back(&r);
	// Report on the later one in the file.
	std::sort(rs.begin(), rs.end(), [&](const Resource *a, const Resource *b) {
		return std::tie(a->where.line, a->where.column) < std::tie(b->where.line, b->where.column);
	});
	auto share_host = [](const Resource *a, const Resource *b) -> std::string {
		for (auto &h : a->hosts)
			if (std::find(b->hosts.begin(), b->hosts.end(), h) != b->hosts.end())
				return h;
		return {};
	};
	for (size_t i = 0; i < rs.size(); i++) {
		for (size_t j = 0; j < i; j++) {
			const Resource *a = rs[j], *b = rs[i];
			std::string h = share_host(a, b);
			if (h.empty())
				continue;
			if (a->minor == b->minor)
				mistake(minor_pos_[b->name], str("minor ", b->minor, " of resource ", b->name,
								 " is already used by resource ", a->name, " on host ", h,
								 "; give every resource its own minor"));
			if (a->port == b->port)
				mistake(port_pos_[b->name], str("port ", b->port, " of resource ", b->name,
								" is already used by resource ", a->name, " on host ", h,
								"; give every resource its own port"));
			if (!a->domain.empty() && a->domain == b->domain)
				mistake(domain_pos_[b->name], str("domain ", b->domain, " of resource ", b->name,
								  " is already the domain of resource ", a->name,
								  "; a domain belongs to one resource"));
		}
		// Both ends of the replication link speak the same IP version.
		const Resource *r = rs[i];
		if (r->port == cfg_.control_port)
			mistake(port_pos_[r->name], str("port ", r->port, " of resource ", r->name,
							" is the control-port of the daemons (TCP, default ",
							kDefaultControlPort, "); give the resource another port"));
		for (size_t k = 1; k < r->hosts.size(); k++) {
			const Host *a = cfg_.find_host(r->hosts[0]), *b = cfg_.find_host(r->hosts[k]);
			if (a->address.family != b->address.family)
				mistake(r->where, str("resource ", r->name, " replicates between ", a->name, " (",
						      a->address.ip(), ") and ", b->name, " (", b->address.ip(),
						      "), one IPv4 and one IPv6; give both hosts addresses of the same kind"));
		}
	}
}

} // namespace

Loaded parse(std::string_view text, const std::string &path, const LoadOptions &opt)
{
	try {
		return Checker(path, opt).run(text);
	} catch (const std::exception &e) {
		// toml++ or the standard library failing (e.g. out of memory).
		return Loaded{std::nullopt, {Mistake{path, {}, str("cannot check the file: ", e.what())}}};
	}
}

Loaded load(const std::string &path, const LoadOptions &opt)
{
	std::ifstream in(path, std::ios::binary);
	if (!in) {
		int e = errno;
		std::string why = e == ENOENT ? "it does not exist; create it (see Documentation/configuration.md) "
						"or name another with --config PATH"
					      : str("cannot open it (", errno_text(e), "); check its permissions");
		return Loaded{std::nullopt, {Mistake{path, {}, why}}};
	}
	std::ostringstream ss;
	ss << in.rdbuf();
	if (in.bad())
		return Loaded{std::nullopt, {Mistake{path, {}, "cannot read it; check the file and its disk"}}};
	return parse(ss.str(), path, opt);
}

Result<Config> load_or_refuse(const std::string &path, const LoadOptions &opt)
{
	Loaded l = load(path, opt);
	if (l.config)
		return std::move(*l.config);
	std::string msg = l.mistakes.front().str();
	if (l.mistakes.size() > 1)
		msg += str(" (and ", l.mistakes.size() - 1, " more; see them all with 'dtrbdctl check-config --config ",
			   path, "')");
	return Status::error(msg, EINVAL);
}

} // namespace dtrbd::config
