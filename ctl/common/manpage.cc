// SPDX-License-Identifier: GPL-2.0
#include "common/manpage.h"

#include <boost/program_options/cmdline.hpp>
#include <boost/program_options/value_semantic.hpp>
#include <sstream>
#include <vector>

namespace dtrbd::man {

namespace {

std::vector<std::string_view> lines_of(std::string_view s)
{
	std::vector<std::string_view> out;
	for (size_t start = 0; start <= s.size();) {
		size_t end = std::min(s.find('\n', start), s.size());
		out.push_back(s.substr(start, end - start));
		start = end + 1;
	}
	while (!out.empty() && out.back().empty())
		out.pop_back();
	return out;
}

size_t indent_of(std::string_view line)
{
	size_t n = line.find_first_not_of(' ');
	return n == std::string_view::npos ? line.size() : n;
}

std::string_view trim(std::string_view s)
{
	size_t b = s.find_first_not_of(' ');
	if (b == std::string_view::npos)
		return {};
	size_t e = s.find_last_not_of(' ');
	return s.substr(b, e - b + 1);
}

std::string upper(std::string_view s)
{
	std::string out(s);
	for (char &c : out)
		if (c >= 'a' && c <= 'z')
			c = static_cast<char>(c - 'a' + 'A');
	return out;
}

// A heading argument: quoted, with any quote inside turned into two
// single quotes' worth of escape.
std::string quoted(std::string_view s)
{
	std::string out = "\"";
	for (char c : escape(s))
		out += c == '"' ? std::string("\\(dq") : std::string(1, c);
	return out + "\"";
}

} // namespace

std::string escape(std::string_view line)
{
	std::string out;
	if (!line.empty() && (line.front() == '.' || line.front() == '\''))
		out += "\\&";
	for (char c : line) {
		if (c == '\\')
			out += "\\e";
		else if (c == '-')
			out += "\\-";
		else
			out += c;
	}
	return out;
}

std::string title(std::string_view name, int section, std::string_view version)
{
	return ".TH " + upper(name) + " " + std::to_string(section) + " \"\" " +
	       quoted(std::string("dtrbd ") + std::string(version)) + " \"dtrbd\"\n";
}

std::string section(std::string_view heading)
{
	return ".SH " + quoted(upper(heading)) + "\n";
}

std::string subsection(std::string_view heading)
{
	return ".SS " + quoted(heading) + "\n";
}

std::string literal(std::string_view body)
{
	std::string out = ".PP\n.RS 4\n.nf\n";
	auto lines = lines_of(body);
	size_t base = std::string_view::npos;
	for (auto l : lines)
		if (!trim(l).empty())
			base = std::min(base, indent_of(l));
	for (auto l : lines) {
		std::string_view t = trim(l).empty() ? std::string_view() : l.substr(base);
		out += t.empty() ? std::string() : escape(t);
		out += '\n';
	}
	return out + ".fi\n.RE\n";
}

std::string text(std::string_view body)
{
	std::string out;
	auto lines = lines_of(body);
	size_t i = 0;
	while (i < lines.size()) {
		if (trim(lines[i]).empty()) {
			i++;
			continue;
		}
		// One paragraph: up to the next blank line.
		size_t base = indent_of(lines[i]);
		out += ".PP\n";
		while (i < lines.size() && !trim(lines[i]).empty()) {
			if (indent_of(lines[i]) > base) {
				std::string block;
				while (i < lines.size() && !trim(lines[i]).empty() &&
				       indent_of(lines[i]) > base)
					block.append(lines[i]).append("\n"), i++;
				out += ".RS 4\n.nf\n";
				for (auto l : lines_of(block))
					out += escape(l.substr(std::min(indent_of(block), l.size()))) + "\n";
				out += ".fi\n.RE\n";
				continue;
			}
			out += escape(trim(lines[i])) + "\n";
			i++;
		}
	}
	return out;
}

std::string options(const boost::program_options::options_description &desc)
{
	std::string out;
	for (const auto &o : desc.options()) {
		std::string names = o->canonical_display_name(
			boost::program_options::command_line_style::allow_long);
		std::string shortn = o->canonical_display_name(
			boost::program_options::command_line_style::allow_dash_for_short);
		std::string term = "\\fB" + escape(names) + "\\fR";
		if (shortn != names && shortn.size() == 2)
			term = "\\fB" + escape(shortn) + "\\fR, " + term;
		std::string param = o->format_parameter();
		if (!param.empty() && o->semantic()->max_tokens() > 0) {
			// "PATH (=/etc/x)": the argument in italics, the default after it.
			std::string arg = param, def;
			if (size_t p = param.find(" (="); p != std::string::npos) {
				arg = param.substr(0, p);
				def = param.substr(p + 3, param.size() - p - 4);
			}
			term += " \\fI" + escape(arg) + "\\fR";
			out += ".TP\n" + term + "\n" + escape(o->description()) + "\n";
			if (!def.empty())
				out += "(default: " + escape(def) + ")\n";
		} else {
			out += ".TP\n" + term + "\n" + escape(o->description()) + "\n";
		}
	}
	return out;
}

std::string from_help(std::string_view help, std::string_view name, int sec,
		      std::string_view version)
{
	std::string out = title(name, sec, version);
	auto lines = lines_of(help);
	size_t i = 0;
	while (i < lines.size()) {
		std::string_view head = lines[i];
		if (trim(head).empty() || indent_of(head) != 0) {
			i++;
			continue;
		}
		std::string h = upper(trim(head));
		out += section(h);
		i++;
		std::string body;
		while (i < lines.size() && (trim(lines[i]).empty() || indent_of(lines[i]) > 0))
			body.append(lines[i++]).append("\n");
		if (h == "NAME") {
			// "prog - summary": the one line man's whatis database reads.
			std::string t(trim(body.substr(0, body.find('\n'))));
			size_t dash = t.find(" - ");
			out += dash == std::string::npos
				       ? escape(t) + "\n"
				       : escape(t.substr(0, dash)) + " \\- " + escape(t.substr(dash + 3)) + "\n";
		} else if (h == "SYNOPSIS" || h == "FILES" || h == "EXAMPLES") {
			out += literal(body);
		} else if (h == "OPTIONS") {
			auto ls = lines_of(body);
			size_t base = std::string_view::npos;
			for (auto l : ls)
				if (!trim(l).empty())
					base = std::min(base, indent_of(l));
			size_t j = 0;
			while (j < ls.size()) {
				if (trim(ls[j]).empty()) {
					j++;
					continue;
				}
				std::string_view t = trim(ls[j]);
				if (indent_of(ls[j]) == base && t.front() == '-') {
					// "--opt ARG [--x Y]": names bold, arguments italic.
					std::string term;
					std::istringstream words{std::string(t)};
					for (std::string w; words >> w;) {
						if (!term.empty())
							term += ' ';
						bool opt = w.front() == '-' || (w.front() == '[' && w.size() > 1 && w[1] == '-');
						term += (opt ? "\\fB" : "\\fI") + escape(w) + "\\fR";
					}
					out += ".TP\n" + term + "\n";
					j++;
					std::string desc;
					while (j < ls.size() && (trim(ls[j]).empty() || indent_of(ls[j]) > base)) {
						if (trim(ls[j]).empty() && (j + 1 >= ls.size() || indent_of(ls[j + 1]) <= base))
							break;
						desc.append(ls[j++]).append("\n");
					}
					for (auto l : lines_of(desc))
						out += trim(l).empty() ? std::string(".IP\n") : escape(trim(l)) + "\n";
				} else {
					std::string para;
					while (j < ls.size() && !trim(ls[j]).empty())
						para.append(ls[j++]).append("\n");
					out += text(para);
				}
			}
		} else {
			out += text(body);
		}
	}
	return out;
}

} // namespace dtrbd::man
