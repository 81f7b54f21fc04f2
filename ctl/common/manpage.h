// SPDX-License-Identifier: GPL-2.0
// Man pages (roff, man macros) from the same texts the programs print for
// --help, so that the two never disagree: `dtrbdctl --man`, `dtrbdd --man`
// and `dtrbd-witness --man` print their page, and the build installs it.
#pragma once

#include <boost/program_options/options_description.hpp>
#include <string>
#include <string_view>

namespace dtrbd::man {

// One line of running text, escaped for roff: backslashes, a leading '.'
// or '\'' (which would be a request), and '-' as \- (a minus, so options
// can be copied from the rendered page).
std::string escape(std::string_view line);

// .TH line: the page NAME(SECTION), dtrbd VERSION.
std::string title(std::string_view name, int section, std::string_view version);

// .SH / .SS headings.
std::string section(std::string_view heading);
std::string subsection(std::string_view heading);

// Running text: lines are joined by roff, a blank line starts a new
// paragraph (.PP), and a line indented more than the paragraph's first
// line is kept as it is (an indented literal block, .nf/.fi).
std::string text(std::string_view body);

// A literal block (commands, synopses, examples): kept line by line.
std::string literal(std::string_view body);

// Every option of DESC as a tagged paragraph (.TP): "--name ARG" in bold
// and italics, then its description and default.
std::string options(const boost::program_options::options_description &desc);

// A whole page from a help text written in man style: headings at
// column 0 (NAME, SYNOPSIS, DESCRIPTION, OPTIONS, ...), the body indented.
// In OPTIONS, a line that starts with '-' at the body's indentation is an
// option (.TP) and the more deeply indented lines after it describe it.
// SYNOPSIS, FILES and EXAMPLES are literal.
std::string from_help(std::string_view help, std::string_view name, int section,
		      std::string_view version);

} // namespace dtrbd::man
