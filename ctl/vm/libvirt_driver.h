// SPDX-License-Identifier: GPL-2.0
// VmDriver over libvirt's C API (qemu:///system on the hosts,
// test:///default in the unit tests).
//
// Event loop integration. libvirt delivers domain events, connection-close
// notices and keepalive pings only while an event loop runs. We register
// libvirt's own default implementation (virEventRegisterDefaultImpl) and run
// virEventRunDefaultImpl on one dedicated thread; the callbacks only append
// to a queue and bump an eventfd, which is what the daemon polls
// (event_fd()/take_events()). We chose this over virEventRegisterImpl (handing
// libvirt add/update/remove hooks for the daemon's own poll loop) because:
// - keepalive and the close callback keep working while the daemon's thread
//   is busy or blocked, so a dead libvirtd is noticed independently of it;
// - the daemon's loop stays libvirt-agnostic: one descriptor, no timers or
//   handle tables to mirror, nothing of libvirt runs on the daemon's thread;
// - the default implementation is libvirt's tested code; the hooks would be
//   ours to get right (re-entrancy, deferred frees).
// The cost is one mostly sleeping thread and a mutex around the queue.
//
// The event loop is process-wide (libvirt allows one implementation per
// process): the first LibvirtDriver registers it and starts the thread, the
// last one destroyed stops the thread (registration stays, as libvirt
// requires).
//
// Reconnection. A close callback (libvirtd exited, socket error, keepalive
// timeout) marks the connection lost and posts kConnectionLost. The next
// verb (or connect()) drops the dead connection and opens a new one, then
// posts kConnectionRestored, so the daemon re-reads every domain's state.
//
// Threads: call the verbs from one thread (the daemon's). Only the event
// queue is shared with libvirt's thread.
#pragma once

#include <memory>
#include <string>

#include "vm/vm_driver.h"

namespace dtrbd::vm {

class LibvirtDriver final : public VmDriver {
public:
	// Fails only when the event descriptor or the event thread cannot be
	// set up; the connection itself is opened lazily (libvirtd may start
	// after the daemon).
	static Result<std::unique_ptr<LibvirtDriver>> create(std::string uri);
	~LibvirtDriver() override;
	LibvirtDriver(const LibvirtDriver &) = delete;
	LibvirtDriver &operator=(const LibvirtDriver &) = delete;

	Status connect() override;
	bool connected() const override;
	Result<bool> ensure_defined(const std::string &name, const std::string &xml_path,
				    const std::string &device) override;
	Status start(const std::string &name) override;
	Status shutdown(const std::string &name) override;
	Status destroy(const std::string &name) override;
	Result<DomainInfo> state(const std::string &name) override;
	Result<std::vector<DomainInfo>> list() override;
	int event_fd() const override;
	std::vector<VmEvent> take_events() override;

	const std::string &uri() const { return uri_; }

	struct Impl;

private:
	LibvirtDriver(std::string uri, std::unique_ptr<Impl> impl);
	std::string uri_;
	std::unique_ptr<Impl> impl_;
};

} // namespace dtrbd::vm
