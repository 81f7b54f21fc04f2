// SPDX-License-Identifier: GPL-2.0
#include <catch2/catch.hpp>

#include "vm/domain_xml.h"

using namespace dtrbd;
using namespace dtrbd::vm;

namespace {

const char *kGood = R"(<?xml version="1.0"?>
<!-- service VM -->
<domain type='kvm'>
  <name> vm1 </name>
  <metadata><app:x xmlns:app="urn:x"><name>not-this</name></app:x></metadata>
  <devices>
    <disk type="file" device="disk"><source file="/var/lib/x.img"/><target dev="vdb"/></disk>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source dev='/dev/dtrbd1'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <serial type='file'><source path='/tmp/s &amp; t.log'/></serial>
  </devices>
</domain>
)";

} // namespace

TEST_CASE("domain XML: name and block disks are found, other sources are not")
{
	auto f = scan_domain_xml(kGood);
	REQUIRE(f.ok());
	CHECK(f->type == "kvm");
	CHECK(f->name == "vm1");
	REQUIRE(f->block_devices.size() == 1);
	CHECK(f->block_devices[0] == "/dev/dtrbd1");
}

TEST_CASE("domain XML: entities, CDATA and self-closing elements")
{
	auto f = scan_domain_xml("<domain type=\"kvm\"><name>a&amp;b&#45;<![CDATA[c<d]]></name>"
				 "<devices><disk type='block'><source dev='/dev/x&apos;y'/></disk>"
				 "<disk type='block'/></devices></domain>");
	REQUIRE(f.ok());
	CHECK(f->name == "a&b-c<d");
	REQUIRE(f->block_devices.size() == 1);
	CHECK(f->block_devices[0] == "/dev/x'y");
}

TEST_CASE("domain XML: a source outside <devices>/<disk type='block'> does not count")
{
	auto f = scan_domain_xml("<domain><name>x</name><source dev='/dev/dtrbd1'/>"
				 "<devices><disk type='file'><source dev='/dev/dtrbd1'/></disk>"
				 "<hostdev><source dev='/dev/dtrbd1'/></hostdev></devices></domain>");
	REQUIRE(f.ok());
	CHECK(f->block_devices.empty());
}

TEST_CASE("domain XML: malformed input is refused with a sentence")
{
	struct Case {
		const char *xml;
		const char *needle;
	} cases[] = {
		{"", "no <domain>"},
		{"<domain><name>x</name>", "not well-formed"},
		{"<domain><name>x</nam></domain>", "not well-formed"},
		{"<vm><name>x</name></vm>", "root element is <vm>"},
		{"<domain></domain>", "has no <name>"},
		{"<domain><name>  </name></domain>", "has no <name>"},
		{"<domain><name>x</name></domain><domain/>", "not well-formed"},
		{"<domain a=b><name>x</name></domain>", "not well-formed"},
		{"<domain a='b><name>x</name></domain>", "not well-formed"},
		{"<domain><name>x&foo;</name></domain>", "not well-formed"},
		{"<!DOCTYPE d><domain><name>x</name></domain>", "DOCTYPE"},
		{"<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/shadow'>]><domain><name>&e;</name></domain>",
		 "DOCTYPE"},
		{"<domain><!-- <name>x</name></domain>", "not well-formed"},
		{"junk<domain><name>x</name></domain>", "not well-formed"},
		{"<domain><name>x</name><devices><disk type='block'", "not well-formed"},
		{"<domain/ ><name>x</name>", "not well-formed"},
	};
	for (const auto &c : cases) {
		INFO(c.xml);
		auto f = scan_domain_xml(c.xml);
		REQUIRE_FALSE(f.ok());
		CHECK_THAT(f.status().message(), Catch::Contains(c.needle));
	}
}

TEST_CASE("domain XML: the check names what is wrong and what to change")
{
	auto f = scan_domain_xml(kGood);
	REQUIRE(f.ok());
	CHECK(check_domain_xml(*f, "/etc/dtrbd/vm1.xml", "vm1", "/dev/dtrbd1").ok());

	Status s = check_domain_xml(*f, "/etc/dtrbd/vm1.xml", "vm2", "/dev/dtrbd1");
	REQUIRE_FALSE(s.ok());
	CHECK(s.message() == "/etc/dtrbd/vm1.xml defines the domain 'vm1', not 'vm2': make its "
			     "<name> 'vm2' or set domain = \"vm1\"");

	s = check_domain_xml(*f, "/etc/dtrbd/vm1.xml", "vm1", "/dev/dtrbd2");
	REQUIRE_FALSE(s.ok());
	CHECK(s.message() == "/etc/dtrbd/vm1.xml gives the domain 'vm1' no <disk type='block'> on "
			     "/dev/dtrbd2 (its block disks: /dev/dtrbd1): point its disk's "
			     "<source dev=...> at /dev/dtrbd2 so that it writes through replication");

	DomainXmlFacts none{"kvm", "vm1", {}};
	s = check_domain_xml(none, "x.xml", "vm1", "/dev/dtrbd1");
	CHECK_THAT(s.message(), Catch::Contains("(it has no block disk)"));
}
