// SPDX-License-Identifier: GPL-2.0
// The domain XML is parsed with libxml2 (the parser libvirt itself uses),
// never with network access, entity expansion or DTD loading, and with
// libxml2's own size and depth limits.
#include "vm/domain_xml.h"

#include <climits>
#include <cstdlib>
#include <cstring>

#include <algorithm>
#include <memory>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "common/log.h"

namespace dtrbd::vm {
namespace {

struct DocFree {
	void operator()(xmlDoc *d) const { xmlFreeDoc(d); }
};
struct CtxtFree {
	void operator()(xmlParserCtxt *c) const { xmlFreeParserCtxt(c); }
};
struct XmlCharFree {
	void operator()(xmlChar *c) const { xmlFree(c); }
};
using XmlString = std::unique_ptr<xmlChar, XmlCharFree>;

bool is_element(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && n->ns == nullptr &&
	       xmlStrcmp(n->name, reinterpret_cast<const xmlChar *>(name)) == 0;
}

std::string prop(const xmlNode *n, const char *name)
{
	XmlString v(xmlGetNoNsProp(n, reinterpret_cast<const xmlChar *>(name)));
	return v ? std::string(reinterpret_cast<const char *>(v.get())) : std::string();
}

std::string trim(std::string s)
{
	const char *ws = " \t\r\n";
	size_t b = s.find_first_not_of(ws);
	if (b == std::string::npos)
		return {};
	return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

// libxml2's message for the first error, without its trailing newline.
std::string parse_error(xmlParserCtxt *ctxt)
{
	const xmlError *e = xmlCtxtGetLastError(ctxt);
	if (!e || !e->message)
		return "the XML is not well-formed";
	std::string m = trim(e->message);
	return str("the XML is not well-formed (line ", e->line, ": ", m, ")");
}

} // namespace

Result<DomainXmlFacts> scan_domain_xml(std::string_view xml)
{
	if (xml.empty())
		return Status::error("the XML is empty: it has no <domain> element");
	if (xml.size() > 16 * 1024 * 1024)
		return Status::error("the XML is larger than 16 MiB, which no domain XML is");
	std::unique_ptr<xmlParserCtxt, CtxtFree> ctxt(xmlNewParserCtxt());
	if (!ctxt)
		return Status::error("out of memory while parsing the domain XML");
	// XML_PARSE_NONET: never fetch anything; no XML_PARSE_NOENT/DTDLOAD:
	// entities are not expanded from any DTD.
	std::unique_ptr<xmlDoc, DocFree> doc(xmlCtxtReadMemory(
		ctxt.get(), xml.data(), static_cast<int>(xml.size()), "domain.xml", nullptr,
		XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA));
	if (!doc || !ctxt->wellFormed)
		return Status::error(parse_error(ctxt.get()));
	if (doc->intSubset || doc->extSubset)
		return Status::error("the XML has a DOCTYPE, which libvirt domain XML does not use");

	const xmlNode *root = xmlDocGetRootElement(doc.get());
	if (!root)
		return Status::error("the XML has no <domain> element");
	if (!is_element(root, "domain"))
		return Status::error(str("the XML's root element is <",
					 reinterpret_cast<const char *>(root->name), ">, not <domain>"));

	DomainXmlFacts facts;
	facts.type = prop(root, "type");
	bool seen_name = false;
	for (const xmlNode *c = root->children; c; c = c->next) {
		if (is_element(c, "name") && !seen_name) {
			XmlString t(xmlNodeGetContent(c));
			facts.name = t ? trim(reinterpret_cast<const char *>(t.get())) : "";
			seen_name = true;
		} else if (is_element(c, "devices")) {
			for (const xmlNode *d = c->children; d; d = d->next) {
				if (!is_element(d, "disk") || prop(d, "type") != "block")
					continue;
				for (const xmlNode *s = d->children; s; s = s->next)
					if (is_element(s, "source") && !prop(s, "dev").empty())
						facts.block_devices.push_back(prop(s, "dev"));
			}
		}
	}
	if (facts.name.empty())
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
	// The device itself, or a link to it (/dev/dtrbd/by-res/NAME, which
	// udev makes and provision writes).
	auto is_device = [&](const std::string &d) {
		if (d == device)
			return true;
		char a[PATH_MAX], b[PATH_MAX];
		return ::realpath(d.c_str(), a) && ::realpath(device.c_str(), b) &&
		       std::strcmp(a, b) == 0;
	};
	if (std::none_of(facts.block_devices.begin(), facts.block_devices.end(), is_device)) {
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
