// SPDX-License-Identifier: GPL-2.0
#include "vm/domain_xml.h"

#include <algorithm>

#include "common/log.h"

namespace dtrbd::vm {
namespace {

bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' ||
	       c == ':';
}

std::string trim(std::string_view s)
{
	size_t b = 0, e = s.size();
	while (b < e && is_space(s[b]))
		b++;
	while (e > b && is_space(s[e - 1]))
		e--;
	return std::string(s.substr(b, e - b));
}

// Decodes the predefined entities and numeric references below 128.
Result<std::string> decode(std::string_view s)
{
	std::string out;
	for (size_t i = 0; i < s.size(); i++) {
		if (s[i] != '&') {
			out += s[i];
			continue;
		}
		size_t semi = s.find(';', i);
		if (semi == std::string_view::npos || semi - i > 8)
			return Status::error("the XML has an '&' that starts no entity");
		std::string_view ent = s.substr(i + 1, semi - i - 1);
		if (ent == "amp")
			out += '&';
		else if (ent == "lt")
			out += '<';
		else if (ent == "gt")
			out += '>';
		else if (ent == "quot")
			out += '"';
		else if (ent == "apos")
			out += '\'';
		else if (ent.size() >= 2 && ent[0] == '#') {
			bool hex = ent[1] == 'x';
			unsigned v = 0;
			std::string_view digits = ent.substr(hex ? 2 : 1);
			if (digits.empty())
				return Status::error("the XML has an empty character reference");
			for (char c : digits) {
				int d;
				if (c >= '0' && c <= '9')
					d = c - '0';
				else if (hex && c >= 'a' && c <= 'f')
					d = c - 'a' + 10;
				else if (hex && c >= 'A' && c <= 'F')
					d = c - 'A' + 10;
				else
					return Status::error("the XML has a malformed character reference");
				v = v * (hex ? 16 : 10) + d;
			}
			if (v == 0 || v >= 128)
				return Status::error("the XML has a character reference outside ASCII, which is not supported here");
			out += static_cast<char>(v);
		} else {
			return Status::error(str("the XML uses the unknown entity '&", ent, ";'"));
		}
		i = semi;
	}
	return out;
}

struct Element {
	std::string name;
	std::vector<std::pair<std::string, std::string>> attrs;

	const std::string *attr(std::string_view key) const
	{
		for (const auto &[k, v] : attrs)
			if (k == key)
				return &v;
		return nullptr;
	}
};

} // namespace

Result<DomainXmlFacts> scan_domain_xml(std::string_view xml)
{
	DomainXmlFacts facts;
	std::vector<Element> stack;
	std::string name_text;
	bool seen_root = false, seen_name = false, block_disk = false;
	size_t i = 0;
	const size_t n = xml.size();

	auto path_is = [&](std::initializer_list<std::string_view> p) {
		if (stack.size() != p.size())
			return false;
		return std::equal(p.begin(), p.end(), stack.begin(),
				  [](std::string_view a, const Element &e) { return a == e.name; });
	};

	while (i < n) {
		if (xml[i] != '<') {
			size_t lt = xml.find('<', i);
			if (lt == std::string_view::npos)
				lt = n;
			std::string_view text = xml.substr(i, lt - i);
			if (stack.empty() && !trim(text).empty())
				return Status::error("the XML has text outside its root element");
			if (path_is({"domain", "name"})) {
				auto t = decode(text);
				if (!t)
					return t.status();
				name_text += *t;
			}
			i = lt;
			continue;
		}
		std::string_view rest = xml.substr(i);
		if (rest.starts_with("<!--")) {
			size_t e = xml.find("-->", i + 4);
			if (e == std::string_view::npos)
				return Status::error("the XML has an unterminated comment");
			i = e + 3;
			continue;
		}
		if (rest.starts_with("<?")) {
			size_t e = xml.find("?>", i + 2);
			if (e == std::string_view::npos)
				return Status::error("the XML has an unterminated processing instruction");
			i = e + 2;
			continue;
		}
		if (rest.starts_with("<![CDATA[")) {
			size_t e = xml.find("]]>", i + 9);
			if (e == std::string_view::npos)
				return Status::error("the XML has an unterminated CDATA section");
			if (path_is({"domain", "name"}))
				name_text += xml.substr(i + 9, e - i - 9);
			i = e + 3;
			continue;
		}
		if (rest.starts_with("<!")) {
			return Status::error("the XML has a DOCTYPE or other declaration, which libvirt domain XML does not use");
		}
		if (rest.starts_with("</")) {
			size_t j = i + 2, b = j;
			while (j < n && is_name_char(xml[j]))
				j++;
			std::string_view tag = xml.substr(b, j - b);
			while (j < n && is_space(xml[j]))
				j++;
			if (j >= n || xml[j] != '>')
				return Status::error(str("the XML has a malformed end tag '</", tag, "'"));
			if (stack.empty() || stack.back().name != tag)
				return Status::error(str("the XML closes <", tag, "> where it is not open"));
			if (path_is({"domain", "name"})) {
				facts.name = trim(name_text);
				seen_name = true;
			}
			if (path_is({"domain", "devices", "disk"}))
				block_disk = false;
			stack.pop_back();
			i = j + 1;
			continue;
		}
		// A start tag.
		Element el;
		size_t j = i + 1, b = j;
		while (j < n && is_name_char(xml[j]))
			j++;
		if (j == b)
			return Status::error("the XML has a '<' that starts no tag");
		el.name = std::string(xml.substr(b, j - b));
		bool self_closing = false;
		for (;;) {
			while (j < n && is_space(xml[j]))
				j++;
			if (j >= n)
				return Status::error(str("the XML ends inside the tag <", el.name, ">"));
			if (xml[j] == '>') {
				j++;
				break;
			}
			if (xml[j] == '/') {
				if (j + 1 >= n || xml[j + 1] != '>')
					return Status::error(str("the XML has a stray '/' in <", el.name, ">"));
				self_closing = true;
				j += 2;
				break;
			}
			size_t ab = j;
			while (j < n && is_name_char(xml[j]))
				j++;
			if (j == ab)
				return Status::error(str("the XML has a malformed attribute in <", el.name, ">"));
			std::string key(xml.substr(ab, j - ab));
			while (j < n && is_space(xml[j]))
				j++;
			if (j >= n || xml[j] != '=')
				return Status::error(str("the attribute '", key, "' of <", el.name, "> has no value"));
			j++;
			while (j < n && is_space(xml[j]))
				j++;
			if (j >= n || (xml[j] != '\'' && xml[j] != '"'))
				return Status::error(str("the attribute '", key, "' of <", el.name, "> is not quoted"));
			char q = xml[j++];
			size_t ve = xml.find(q, j);
			if (ve == std::string_view::npos)
				return Status::error(str("the attribute '", key, "' of <", el.name, "> is not terminated"));
			auto v = decode(xml.substr(j, ve - j));
			if (!v)
				return v.status();
			el.attrs.emplace_back(std::move(key), std::move(*v));
			j = ve + 1;
		}
		if (stack.empty()) {
			if (seen_root)
				return Status::error("the XML has more than one root element");
			if (el.name != "domain")
				return Status::error(str("the XML's root element is <", el.name, ">, not <domain>"));
			seen_root = true;
			if (const std::string *t = el.attr("type"))
				facts.type = *t;
		}
		stack.push_back(std::move(el));
		const Element &top = stack.back();
		if (path_is({"domain", "devices", "disk"})) {
			const std::string *t = top.attr("type");
			block_disk = t && *t == "block";
		}
		if (block_disk && path_is({"domain", "devices", "disk", "source"})) {
			if (const std::string *dev = top.attr("dev"))
				facts.block_devices.push_back(*dev);
		}
		if (self_closing) {
			if (path_is({"domain", "name"}))
				seen_name = true;
			if (path_is({"domain", "devices", "disk"}))
				block_disk = false;
			stack.pop_back();
		}
		i = j;
	}
	if (!stack.empty())
		return Status::error(str("the XML ends before <", stack.back().name, "> is closed"));
	if (!seen_root)
		return Status::error("the XML has no <domain> element");
	if (!seen_name || facts.name.empty())
		return Status::error("the XML's <domain> has no <name>");
	return facts;
}

Status check_domain_xml(const DomainXmlFacts &facts, const std::string &what,
			const std::string &name, const std::string &device)
{
	if (facts.name != name)
		return Status::error(str(what, " defines the domain '", facts.name,
					 "', not '", name, "': make its <name> '", name,
					 "' or set domain = \"", facts.name, "\""));
	if (std::find(facts.block_devices.begin(), facts.block_devices.end(),
		      device) == facts.block_devices.end()) {
		std::string have;
		for (const auto &d : facts.block_devices)
			have += (have.empty() ? "" : ", ") + d;
		return Status::error(str(what, " gives the domain '", name,
					 "' no <disk type='block'> on ", device,
					 have.empty() ? std::string(" (it has no block disk)")
						      : str(" (its block disks: ", have, ")"),
					 ": point its disk's <source dev=...> at ", device,
					 " so that it writes through replication"));
	}
	return {};
}

} // namespace dtrbd::vm
