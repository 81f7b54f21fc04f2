// SPDX-License-Identifier: GPL-2.0
// Hypervisor verbs off the daemon's thread.
//
// A libvirt call blocks for as long as libvirtd takes: starting a domain
// takes seconds (15-20 s in the TCG lab), destroying one that has I/O in
// flight can take longer. dtrbdd is one event loop that also sends the
// heartbeats, keeps the witness lease and reacts to the kernel's events:
// blocked in virDomainCreate it would look dead to its peer (no
// heartbeats) and would not notice its own isolation until the call
// returned. So the core never calls a verb itself: it hands a VmRequest to
// a VmExecutor and the result comes back later as a VmResult, like a
// connection attempt or a witness request.
//
// VmWorker is the real executor: lanes of one thread each, every lane with
// its own VmDriver (its own libvirt connection: a driver is used from one
// thread only), requests run in order within a lane. Each resource has two
// lanes, made when first needed: one for define, start and shutdown, one
// for destroy. So one domain's slow start does not delay another's (a
// failover starts every domain of the dead host at once), and an isolated
// host can pull the plug on a domain within its isolation bound even while
// that domain's start is still running: libvirt's destroy kills the QEMU
// process before it waits for the domain's job, so it cuts a start short.
// A destroy that hangs (a QEMU stuck in uninterruptible I/O) holds up only
// that resource's destroys.
//
// Queries (state, list) and the lifecycle events stay on the daemon's own
// driver: they do not wait for a domain job and return at once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "vm/vm_driver.h"

namespace dtrbd::vm {

enum class VmOp { kDefine, kStart, kShutdown, kDestroy };

std::string_view to_string(VmOp op);

struct VmRequest {
	uint64_t id = 0;	// the arbiter's action id, returned in the result
	std::string resource;
	VmOp op = VmOp::kStart;
	std::string domain;
	// kDefine: the XML file to define the domain from when it is missing
	// (empty: the domain must already be defined), and the replicated
	// device its disks must include; host names this host in the error.
	std::string xml_path;
	std::string device;
	std::string host;
};

struct VmResult {
	uint64_t id = 0;
	std::string resource;
	VmOp op = VmOp::kStart;
	Status status;
};

// Carries out @r on @d, blocking; the synchronous path of the core and the
// worker's threads both use it.
Status perform(VmDriver &d, const VmRequest &r);

// Takes requests without blocking; the results come back later through the
// daemon (Core::on_vm_done), at most one per request.
class VmExecutor {
public:
	virtual ~VmExecutor() = default;
	virtual void submit(VmRequest r) = 0;
};

class VmWorker final : public VmExecutor {
public:
	// Makes a lane's driver; called on the submitting thread when a lane
	// is first needed (it must not block: LibvirtDriver connects lazily).
	using Factory = std::function<Result<std::unique_ptr<VmDriver>>()>;

	static Result<std::unique_ptr<VmWorker>> create(Factory make);
	// Stops the lanes: requests not yet started are dropped (no result);
	// waits for the ones running.
	~VmWorker() override;
	VmWorker(const VmWorker &) = delete;
	VmWorker &operator=(const VmWorker &) = delete;

	// From one thread (the daemon's). A lane that cannot be made (no
	// driver, no thread) gives the request a failed result at once.
	void submit(VmRequest r) override;

	// Readable (POLLIN) while results are queued; take_results() empties
	// the queue and resets it.
	int result_fd() const;
	std::vector<VmResult> take_results();

	size_t lanes() const;	// made so far (for the tests)

	struct Impl;

private:
	explicit VmWorker(std::unique_ptr<Impl> impl);
	std::unique_ptr<Impl> impl_;
};

} // namespace dtrbd::vm
