// SPDX-License-Identifier: GPL-2.0
// dtrbd-vmprobe: drives LibvirtDriver (ctl/vm/) against a real libvirtd in
// the lab, as dtrbdd's event loop would: poll the event descriptor, print
// every event, and after a lost connection call connect() every 500 ms
// until it is back. Used by the vm-smoke scenario to check reconnection
// after a libvirtd restart.
//
//   dtrbd-vmprobe URI DOMAIN SECS
// prints "state DOMAIN STATE" at the start and after every reconnect,
// "event KIND DOMAIN DETAIL" for each event, "connect-error MESSAGE" once
// per failed reconnect attempt series, and exits after SECS seconds.
#include <poll.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "vm/libvirt_driver.h"

using namespace dtrbd;
using namespace dtrbd::vm;

static void print_state(VmDriver &d, const std::string &dom)
{
	auto s = d.state(dom);
	if (s)
		std::printf("state %s %s\n", dom.c_str(), std::string(to_string(s->state)).c_str());
	else
		std::printf("state-error %s\n", s.status().message().c_str());
	std::fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		std::fprintf(stderr, "usage: dtrbd-vmprobe URI DOMAIN SECS\n");
		return 2;
	}
	std::string dom = argv[2];
	auto end = std::chrono::steady_clock::now() + std::chrono::seconds(std::atoi(argv[3]));
	auto drv = LibvirtDriver::create(argv[1]);
	if (!drv) {
		std::printf("create-error %s\n", drv.status().message().c_str());
		return 1;
	}
	VmDriver &d = **drv;
	if (Status s = d.connect(); !s) {
		std::printf("connect-error %s\n", s.message().c_str());
		return 1;
	}
	print_state(d, dom);
	bool reported = false;
	while (std::chrono::steady_clock::now() < end) {
		struct pollfd p = {d.event_fd(), POLLIN, 0};
		::poll(&p, 1, 500);
		for (const auto &e : d.take_events()) {
			std::printf("event %s %s %s\n", std::string(to_string(e.kind)).c_str(),
				    e.domain.empty() ? "-" : e.domain.c_str(),
				    e.detail.empty() ? "-" : e.detail.c_str());
			if (e.kind == EventKind::kConnectionRestored)
				print_state(d, dom);
		}
		std::fflush(stdout);
		if (!d.connected()) {
			Status s = d.connect();
			if (!s && !reported) {
				std::printf("connect-error %s\n", s.message().c_str());
				reported = true;
			}
			if (s)
				reported = false;
		}
	}
	return 0;
}
