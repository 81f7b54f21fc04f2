// SPDX-License-Identifier: GPL-2.0
#include "provision/conf_edit.h"

#include <linux/dtrbd.h>

#include <set>
#include <vector>

#include "common/log.h"
#include "config/config.h"

namespace dtrbd::provision {

namespace {

config::LoadOptions no_secret()
{
	config::LoadOptions o;
	o.read_secret = false;
	return o;
}

Result<config::Config> load_clean(std::string_view text, const std::string &path)
{
	auto l = config::parse(text, path, no_secret());
	if (!l.config)
		return Status::error(str(path, " has mistakes already (", l.mistakes.front().str(),
					 "); mend it first (dtrbdctl check-config)"));
	return std::move(*l.config);
}

// A TOML basic string: quotes and backslashes escaped; control characters
// are refused (no path or name of ours has one).
Result<std::string> quoted(std::string_view s, const char *what)
{
	std::string q = "\"";
	for (char c : s) {
		if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
			return Status::error(str("the ", what, " contains a control character"));
		if (c == '"' || c == '\\')
			q += '\\';
		q += c;
	}
	return q + "\"";
}

std::vector<std::string_view> lines_of(std::string_view text)
{
	std::vector<std::string_view> v;
	size_t pos = 0;
	while (pos < text.size()) {
		size_t nl = text.find('\n', pos);
		size_t end = nl == std::string_view::npos ? text.size() : nl + 1;
		v.push_back(text.substr(pos, end - pos));	// with its '\n'
		pos = end;
	}
	return v;
}

std::string_view strip(std::string_view s)
{
	while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
		s.remove_prefix(1);
	while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' ||
			      s.back() == '\r'))
		s.remove_suffix(1);
	return s;
}

// The table a header line opens, as "resources.vm1" (spaces and quotes
// around the parts removed); "" when the line is not a table header.
std::string header_of(std::string_view line)
{
	std::string_view s = strip(line);
	if (s.size() < 3 || s[0] != '[' || s[1] == '[')
		return {};
	size_t close = s.find(']');
	if (close == std::string_view::npos)
		return {};
	std::string_view rest = strip(s.substr(close + 1));
	if (!rest.empty() && rest[0] != '#')
		return {};
	std::string out;
	for (char c : s.substr(1, close - 1))
		if (c != ' ' && c != '\t' && c != '"' && c != '\'')
			out += c;
	return out;
}

} // namespace

Result<std::string> add_resource_block(std::string_view text, const std::string &path,
				       const ResourceSpec &spec)
{
	auto cfg = load_clean(text, path);
	if (!cfg)
		return cfg.status();
	if (!config::safe_name(spec.name))
		return Status::error(str("'", spec.name, "' is not a resource name dtrbd accepts "
					 "(letters, digits, _ . -, not starting with . or -, at most 31 bytes)"));
	if (cfg->find_resource(spec.name))
		return Status::error(str("a resource ", spec.name, " exists already in ", path,
					 "; pick another name, or deprovision it first"));
	for (const auto &[n, r] : cfg->resources) {
		if (r.minor == spec.minor)
			return Status::error(str("minor ", spec.minor, " is taken by resource ", n, " in ",
						 path, "; pick a free one or leave the choice to dtrbdctl"));
		if (r.port == spec.port)
			return Status::error(str("port ", spec.port, " is taken by resource ", n, " in ",
						 path, "; pick a free one or leave the choice to dtrbdctl"));
	}
	if (spec.disk.empty())
		return Status::error(str("resource ", spec.name, " needs a backing disk per host"));

	std::string b;
	if (!spec.comment.empty()) {
		if (spec.comment.find('\n') != std::string::npos)
			return Status::error("the comment above the resource must be one line");
		b += str("# ", spec.comment, "\n");
	}
	b += str("[resources.", spec.name, "]\n");
	b += str("minor = ", spec.minor, "\n");
	b += str("port = ", spec.port, "\n");
	std::set<std::string> paths;
	for (const auto &[h, d] : spec.disk)
		paths.insert(d);
	if (paths.size() == 1 && spec.disk.size() == cfg->hosts.size()) {
		auto q = quoted(*paths.begin(), "disk path");
		if (!q)
			return q.status();
		b += str("disk = ", *q, "\n");
	} else {
		b += "disk = {";
		const char *sep = " ";
		for (const auto &[h, d] : spec.disk) {
			auto q = quoted(d, "disk path");
			if (!q)
				return q.status();
			if (!config::safe_name(h))
				return Status::error(str("'", h, "' is not a host name"));
			b += str(sep, h, " = ", *q);
			sep = ", ";
		}
		b += " }\n";
	}
	struct {
		const char *key;
		std::string value;
	} strings[] = {
		{"preferred", spec.preferred.value_or("")},
		{"domain", spec.domain},
		{"domain-xml", spec.domain_xml},
	};
	for (const auto &s : strings) {
		if (s.value.empty())
			continue;
		auto q = quoted(s.value, s.key);
		if (!q)
			return q.status();
		b += str(s.key, " = ", *q, "\n");
	}

	std::string out(text);
	// one blank line between the file as it was and the new table
	if (!out.empty() && !out.ends_with('\n'))
		out += '\n';
	if (!out.empty() && !out.ends_with("\n\n"))
		out += '\n';
	out += b;
	auto check = config::parse(out, path, no_secret());
	if (!check.config)
		return Status::error(str("resource ", spec.name, " cannot be added: ",
					 check.mistakes.front().message));
	return out;
}

Result<std::string> remove_resource_block(std::string_view text, const std::string &path,
					  std::string_view name)
{
	auto cfg = load_clean(text, path);
	if (!cfg)
		return cfg.status();
	if (!cfg->find_resource(name))
		return Status::error(str("there is no resource ", name, " in ", path));
	const std::string table = str("resources.", name);
	auto lines = lines_of(text);
	size_t first = lines.size(), end = lines.size();
	for (size_t i = 0; i < lines.size(); i++) {
		std::string h = header_of(lines[i]);
		if (h.empty())
			continue;
		bool ours = h == table || h.rfind(table + ".", 0) == 0;
		if (ours && first == lines.size()) {
			first = i;
		} else if (!ours && first != lines.size()) {
			end = i;
			break;
		}
	}
	if (first == lines.size())
		return Status::error(str("resource ", name, " in ", path, " is not written as a [",
					 table, "] table; remove it by hand"));
	// Comment lines directly above the header belong to it.
	size_t from = first;
	while (from > 0 && strip(lines[from - 1]).rfind('#', 0) == 0)
		from--;
	// A comment directly above the next table heads that table and stays;
	// the blank lines before it go with ours, so the blank line that
	// preceded our table now separates the neighbours.
	size_t to = end;
	if (end < lines.size())
		while (to > first + 1 && strip(lines[to - 1]).rfind('#', 0) == 0)
			to--;
	// When ours was the last table, the blank lines before it go too, so
	// the file does not grow a blank tail.
	if (to == lines.size())
		while (from > 0 && strip(lines[from - 1]).empty())
			from--;
	std::string out;
	for (size_t i = 0; i < lines.size(); i++)
		if (i < from || i >= to)
			out += lines[i];
	auto check = config::parse(out, path, no_secret());
	if (!check.config)
		return Status::error(str("removing resource ", name, " would leave ", path,
					 " invalid: ", check.mistakes.front().message,
					 "; remove it by hand"));
	if (check.config->find_resource(name))
		return Status::error(str("resource ", name, " in ", path, " is defined outside its [",
					 table, "] table too; remove it by hand"));
	return out;
}

Result<FreeSlot> next_free_slot(std::string_view text, const std::string &path)
{
	auto cfg = load_clean(text, path);
	if (!cfg)
		return cfg.status();
	std::set<uint32_t> minors;
	uint32_t max_port = 0;
	for (const auto &[n, r] : cfg->resources) {
		minors.insert(r.minor);
		max_port = std::max<uint32_t>(max_port, r.port);
	}
	FreeSlot s;
	while (minors.count(s.minor))
		s.minor++;
	if (s.minor > DTRBD_MAX_MINOR)
		return Status::error(str("every minor 0..", DTRBD_MAX_MINOR, " is in use in ", path));
	uint32_t port = max_port ? max_port + 1 : 7700 + s.minor;
	if (port > 65535)
		return Status::error(str("no port above ", max_port, " is left in ", path,
					 "; give --port"));
	s.port = static_cast<uint16_t>(port);
	return s;
}

} // namespace dtrbd::provision
