// SPDX-License-Identifier: GPL-2.0
// A VmDriver that keeps domains in a table, records every verb and posts
// events through a real eventfd, so the daemon's loop and state machines are
// tested without libvirt. Guest behaviour (powering off after an ACPI
// request, crashing) and the hypervisor going away are scripted by the test.
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "common/fd.h"
#include "common/log.h"
#include "vm/domain_xml.h"
#include "vm/vm_driver.h"

namespace dtrbd::test {

class FakeVm : public vm::VmDriver {
public:
	struct Domain {
		vm::DomainState state = vm::DomainState::kShutOff;
		std::string reason;
		std::vector<std::string> block_devices;
	};

	std::map<std::string, Domain> domains;
	std::map<std::string, std::string> xml_files;	// path -> contents
	std::vector<std::string> calls;			// "start vm1", ...
	Status refuse;			// the next verb fails with it (once)
	bool reachable = true;		// false: every verb fails to connect
	// true: shutdown() powers the guest off at once (as libvirt's test
	// driver does); false: it stays kShuttingDown until guest_powers_off().
	bool acpi_immediate = false;

	FakeVm() : efd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

	// ---- scripting -----------------------------------------------------
	void add(const std::string &name, vm::DomainState st, std::vector<std::string> devs)
	{
		domains[name] = Domain{st, "", std::move(devs)};
	}
	void guest_powers_off(const std::string &name)
	{
		domains.at(name).state = vm::DomainState::kShutOff;
		domains.at(name).reason = "shutdown";
		post({vm::EventKind::kShutdown, name, "finished"});
		post({vm::EventKind::kStopped, name, "shutdown"});
	}
	void guest_crashes(const std::string &name)
	{
		domains.at(name).state = vm::DomainState::kCrashed;
		domains.at(name).reason = "crashed";
		post({vm::EventKind::kStopped, name, "crashed"});
	}
	// libvirtd goes away: kConnectionLost now; verbs fail until restore().
	void lose_connection(const std::string &why = "libvirtd closed the connection")
	{
		reachable = false;
		if (connected_) {
			connected_ = false;
			lost_ = true;
			post({vm::EventKind::kConnectionLost, "", why});
		}
	}
	void restore() { reachable = true; }

	// ---- VmDriver --------------------------------------------------------
	Status connect() override
	{
		calls.push_back("connect");
		return ensure();
	}
	bool connected() const override { return connected_; }

	Result<bool> ensure_defined(const std::string &name, const std::string &xml_path,
				    const std::string &device) override
	{
		calls.push_back(str("ensure_defined ", name, " ", xml_path, " ", device));
		if (Status s = gate(); !s)
			return s;
		if (auto it = domains.find(name); it != domains.end()) {
			vm::DomainXmlFacts f{"kvm", name, it->second.block_devices};
			if (Status s = vm::check_domain_xml(f, str("the defined domain '", name, "'"), name, device); !s)
				return s;
			return false;
		}
		auto file = xml_files.find(xml_path);
		if (file == xml_files.end())
			return Status::error(str("cannot read ", xml_path, ": no such file or directory"), ENOENT);
		auto facts = vm::scan_domain_xml(file->second);
		if (!facts)
			return Status::error(str(xml_path, ": ", facts.status().message()));
		if (Status s = vm::check_domain_xml(*facts, xml_path, name, device); !s)
			return s;
		domains[name] = Domain{vm::DomainState::kShutOff, "", facts->block_devices};
		post({vm::EventKind::kDefined, name, "added"});
		return true;
	}

	Status start(const std::string &name) override
	{
		calls.push_back("start " + name);
		auto d = existing(name);
		if (!d)
			return d.status();
		if ((*d)->state == vm::DomainState::kRunning)
			return {};
		if (vm::may_write((*d)->state))
			return Status::error(str("the domain '", name, "' is ", vm::to_string((*d)->state),
						 ", not shut off: wait for it or destroy it before starting it"));
		(*d)->state = vm::DomainState::kRunning;
		(*d)->reason = "booted";
		post({vm::EventKind::kStarted, name, "booted"});
		return {};
	}

	Status shutdown(const std::string &name) override
	{
		calls.push_back("shutdown " + name);
		auto d = existing(name);
		if (!d)
			return d.status();
		if (!vm::may_write((*d)->state))
			return {};
		if (acpi_immediate) {
			guest_powers_off(name);
		} else {
			(*d)->state = vm::DomainState::kShuttingDown;
			(*d)->reason = "user";
		}
		return {};
	}

	Status destroy(const std::string &name) override
	{
		calls.push_back("destroy " + name);
		auto d = existing(name);
		if (!d)
			return d.status();
		if (!vm::may_write((*d)->state))
			return {};
		(*d)->state = vm::DomainState::kShutOff;
		(*d)->reason = "destroyed";
		post({vm::EventKind::kStopped, name, "destroyed"});
		return {};
	}

	Result<vm::DomainInfo> state(const std::string &name) override
	{
		calls.push_back("state " + name);
		if (Status s = gate(); !s)
			return s;
		auto it = domains.find(name);
		if (it == domains.end())
			return vm::DomainInfo{name, vm::DomainState::kMissing, "", false};
		return vm::DomainInfo{name, it->second.state, it->second.reason, true};
	}

	Result<std::vector<vm::DomainInfo>> list() override
	{
		calls.push_back("list");
		if (Status s = gate(); !s)
			return s;
		std::vector<vm::DomainInfo> out;
		for (const auto &[n, d] : domains)
			out.push_back({n, d.state, d.reason, true});
		return out;
	}

	int event_fd() const override { return efd_.get(); }

	std::vector<vm::VmEvent> take_events() override
	{
		uint64_t v;
		[[maybe_unused]] ssize_t r = ::read(efd_.get(), &v, sizeof(v));
		std::vector<vm::VmEvent> out(events_.begin(), events_.end());
		events_.clear();
		return out;
	}

	void post(vm::VmEvent e)
	{
		events_.push_back(std::move(e));
		uint64_t one = 1;
		[[maybe_unused]] ssize_t r = ::write(efd_.get(), &one, sizeof(one));
	}

private:
	Status ensure()
	{
		if (!reachable)
			return Status::error("cannot connect to libvirt at fake:///: Failed to connect socket: No such file or directory");
		if (!connected_) {
			connected_ = true;
			if (lost_) {
				lost_ = false;
				post({vm::EventKind::kConnectionRestored, "", "fake:///"});
			}
		}
		return {};
	}

	Status gate()
	{
		if (!refuse.ok())
			return std::exchange(refuse, Status());
		return ensure();
	}

	Result<Domain *> existing(const std::string &name)
	{
		if (Status s = gate(); !s)
			return s;
		auto it = domains.find(name);
		if (it == domains.end())
			return Status::error(str("no domain '", name, "' is defined on fake:///: define it first (domain-xml in the configuration)"));
		return &it->second;
	}

	UniqueFd efd_;
	std::deque<vm::VmEvent> events_;
	bool connected_ = false, lost_ = false;
};

} // namespace dtrbd::test
