// SPDX-License-Identifier: GPL-2.0
#include "vm/libvirt_driver.h"

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <sys/eventfd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/fd.h"
#include "common/log.h"
#include "vm/domain_xml.h"

namespace dtrbd::vm {
namespace {

// ---- RAII over libvirt handles ---------------------------------------------

struct ConnClose {
	void operator()(virConnectPtr c) const { virConnectClose(c); }
};
struct DomainFree {
	void operator()(virDomainPtr d) const { virDomainFree(d); }
};
using ConnPtr = std::unique_ptr<virConnect, ConnClose>;
using DomPtr = std::unique_ptr<virDomain, DomainFree>;

struct CharFree {
	void operator()(char *p) const { std::free(p); }
};
using CString = std::unique_ptr<char, CharFree>;

// libvirt's message for the last failure on this thread.
std::string lv_error()
{
	const char *m = virGetLastErrorMessage();
	return m ? m : "unknown libvirt error";
}

// ---- the process-wide event loop -------------------------------------------

void quiet_errors(void *, virErrorPtr)
{
	// libvirt prints every error to stderr by default; ours go into
	// Status messages instead.
}

class EventLoop {
public:
	static Status acquire()
	{
		static std::once_flag once;
		static Status init_status;
		std::call_once(once, [] {
			if (virInitialize() < 0) {
				init_status = Status::error(str("cannot initialise libvirt: ", lv_error()));
				return;
			}
			virSetErrorFunc(nullptr, quiet_errors);
			if (virEventRegisterDefaultImpl() < 0)
				init_status = Status::error(str("cannot register libvirt's event loop: ", lv_error()));
		});
		if (!init_status)
			return init_status;
		std::lock_guard lock(mu_);
		if (users_++ == 0) {
			quit_ = false;
			try {
				thread_ = std::thread(run);
			} catch (const std::system_error &e) {
				users_--;
				return Status::error(str("cannot start libvirt's event thread: ", e.what()),
						     e.code().value());
			}
		}
		return {};
	}

	static void release()
	{
		std::lock_guard lock(mu_);
		if (--users_ > 0)
			return;
		quit_ = true;
		// A zero timeout wakes the loop (the default implementation
		// interrupts its poll when timers change) and fires at once.
		int t = virEventAddTimeout(0, [](int, void *) {}, nullptr, nullptr);
		thread_.join();
		if (t >= 0)
			virEventRemoveTimeout(t);
	}

private:
	static void run()
	{
		while (!quit_) {
			if (virEventRunDefaultImpl() < 0) {
				log::debug("libvirt event loop: ", lv_error());
				std::this_thread::sleep_for(std::chrono::milliseconds(100));
			}
		}
	}

	static inline std::mutex mu_;
	static inline int users_ = 0;
	static inline std::atomic<bool> quit_{false};
	static inline std::thread thread_;
};

// ---- translations ----------------------------------------------------------

std::string state_reason(int state, int reason)
{
	switch (state) {
	case VIR_DOMAIN_RUNNING:
		switch (reason) {
		case VIR_DOMAIN_RUNNING_BOOTED: return "booted";
		case VIR_DOMAIN_RUNNING_MIGRATED: return "migrated";
		case VIR_DOMAIN_RUNNING_RESTORED: return "restored";
		case VIR_DOMAIN_RUNNING_FROM_SNAPSHOT: return "from-snapshot";
		case VIR_DOMAIN_RUNNING_UNPAUSED: return "unpaused";
		case VIR_DOMAIN_RUNNING_WAKEUP: return "wakeup";
		case VIR_DOMAIN_RUNNING_CRASHED: return "crashed";
		}
		break;
	case VIR_DOMAIN_PAUSED:
		switch (reason) {
		case VIR_DOMAIN_PAUSED_USER: return "user";
		case VIR_DOMAIN_PAUSED_MIGRATION: return "migration";
		case VIR_DOMAIN_PAUSED_SAVE: return "save";
		case VIR_DOMAIN_PAUSED_DUMP: return "dump";
		case VIR_DOMAIN_PAUSED_IOERROR: return "ioerror";
		case VIR_DOMAIN_PAUSED_WATCHDOG: return "watchdog";
		case VIR_DOMAIN_PAUSED_SHUTTING_DOWN: return "shutting-down";
		case VIR_DOMAIN_PAUSED_CRASHED: return "crashed";
		case VIR_DOMAIN_PAUSED_STARTING_UP: return "starting-up";
		}
		break;
	case VIR_DOMAIN_SHUTDOWN:
		if (reason == VIR_DOMAIN_SHUTDOWN_USER)
			return "user";
		break;
	case VIR_DOMAIN_SHUTOFF:
		switch (reason) {
		case VIR_DOMAIN_SHUTOFF_SHUTDOWN: return "shutdown";
		case VIR_DOMAIN_SHUTOFF_DESTROYED: return "destroyed";
		case VIR_DOMAIN_SHUTOFF_CRASHED: return "crashed";
		case VIR_DOMAIN_SHUTOFF_MIGRATED: return "migrated";
		case VIR_DOMAIN_SHUTOFF_SAVED: return "saved";
		case VIR_DOMAIN_SHUTOFF_FAILED: return "failed";
		case VIR_DOMAIN_SHUTOFF_FROM_SNAPSHOT: return "from-snapshot";
		case VIR_DOMAIN_SHUTOFF_DAEMON: return "daemon";
		}
		break;
	case VIR_DOMAIN_CRASHED:
		if (reason == VIR_DOMAIN_CRASHED_PANICKED)
			return "panicked";
		break;
	}
	return "";
}

DomainState map_state(int state, int reason)
{
	switch (state) {
	case VIR_DOMAIN_RUNNING:
	case VIR_DOMAIN_BLOCKED:
		return DomainState::kRunning;
	case VIR_DOMAIN_PAUSED:
		return DomainState::kPaused;
	case VIR_DOMAIN_SHUTDOWN:
		return DomainState::kShuttingDown;
	case VIR_DOMAIN_SHUTOFF:
		return reason == VIR_DOMAIN_SHUTOFF_CRASHED ? DomainState::kCrashed
							     : DomainState::kShutOff;
	case VIR_DOMAIN_CRASHED:
		return DomainState::kCrashed;
	case VIR_DOMAIN_PMSUSPENDED:
		return DomainState::kPmSuspended;
	}
	return DomainState::kUnknown;
}

VmEvent map_event(int event, int detail)
{
	VmEvent e;
	switch (event) {
	case VIR_DOMAIN_EVENT_DEFINED:
		e.kind = EventKind::kDefined;
		e.detail = detail == VIR_DOMAIN_EVENT_DEFINED_UPDATED ? "updated" : "added";
		break;
	case VIR_DOMAIN_EVENT_UNDEFINED:
		e.kind = EventKind::kUndefined;
		break;
	case VIR_DOMAIN_EVENT_STARTED:
		e.kind = EventKind::kStarted;
		switch (detail) {
		case VIR_DOMAIN_EVENT_STARTED_BOOTED: e.detail = "booted"; break;
		case VIR_DOMAIN_EVENT_STARTED_MIGRATED: e.detail = "migrated"; break;
		case VIR_DOMAIN_EVENT_STARTED_RESTORED: e.detail = "restored"; break;
		case VIR_DOMAIN_EVENT_STARTED_WAKEUP: e.detail = "wakeup"; break;
		}
		break;
	case VIR_DOMAIN_EVENT_SUSPENDED:
		e.kind = EventKind::kSuspended;
		switch (detail) {
		case VIR_DOMAIN_EVENT_SUSPENDED_PAUSED: e.detail = "paused"; break;
		case VIR_DOMAIN_EVENT_SUSPENDED_IOERROR: e.detail = "ioerror"; break;
		case VIR_DOMAIN_EVENT_SUSPENDED_WATCHDOG: e.detail = "watchdog"; break;
		case VIR_DOMAIN_EVENT_SUSPENDED_API_ERROR: e.detail = "api-error"; break;
		}
		break;
	case VIR_DOMAIN_EVENT_RESUMED:
		e.kind = EventKind::kResumed;
		break;
	case VIR_DOMAIN_EVENT_STOPPED:
		e.kind = EventKind::kStopped;
		switch (detail) {
		case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN: e.detail = "shutdown"; break;
		case VIR_DOMAIN_EVENT_STOPPED_DESTROYED: e.detail = "destroyed"; break;
		case VIR_DOMAIN_EVENT_STOPPED_CRASHED: e.detail = "crashed"; break;
		case VIR_DOMAIN_EVENT_STOPPED_MIGRATED: e.detail = "migrated"; break;
		case VIR_DOMAIN_EVENT_STOPPED_SAVED: e.detail = "saved"; break;
		case VIR_DOMAIN_EVENT_STOPPED_FAILED: e.detail = "failed"; break;
		}
		break;
	case VIR_DOMAIN_EVENT_SHUTDOWN:
		e.kind = EventKind::kShutdown;
		if (detail == VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED)
			e.detail = "finished";
		break;
	case VIR_DOMAIN_EVENT_PMSUSPENDED:
		e.kind = EventKind::kPmSuspended;
		break;
	case VIR_DOMAIN_EVENT_CRASHED:
		e.kind = EventKind::kCrashed;
		if (detail == VIR_DOMAIN_EVENT_CRASHED_PANICKED)
			e.detail = "panicked";
		break;
	default:
		e.kind = EventKind::kStopped;	// never reached with libvirt 9
		e.detail = str("event ", event);
		break;
	}
	return e;
}

std::string close_reason(int reason)
{
	switch (reason) {
	case VIR_CONNECT_CLOSE_REASON_ERROR: return "socket error";
	case VIR_CONNECT_CLOSE_REASON_EOF: return "libvirtd closed the connection";
	case VIR_CONNECT_CLOSE_REASON_KEEPALIVE: return "libvirtd stopped answering keepalives";
	case VIR_CONNECT_CLOSE_REASON_CLIENT: return "closed by this program";
	}
	return "closed";
}

// ---- the event queue shared with libvirt's thread --------------------------

struct Sink {
	UniqueFd efd;
	std::mutex mu;
	std::deque<VmEvent> queue;
	// Whether the current connection's loss was reported (once each).
	std::atomic<bool> lost{false};

	void post(VmEvent e)
	{
		{
			std::lock_guard lock(mu);
			queue.push_back(std::move(e));
		}
		uint64_t one = 1;
		// Only EAGAIN (counter at its maximum) can fail: still readable.
		[[maybe_unused]] ssize_t r = ::write(efd.get(), &one, sizeof(one));
	}

	void post_lost(const std::string &why)
	{
		if (!lost.exchange(true))
			post({EventKind::kConnectionLost, "", why});
	}
};

// Owned by libvirt (freed through its freecb): keeps the sink alive for as
// long as a callback may run.
using SinkRef = std::shared_ptr<Sink>;

void free_sink_ref(void *opaque)
{
	delete static_cast<SinkRef *>(opaque);
}

int on_lifecycle(virConnectPtr, virDomainPtr dom, int event, int detail, void *opaque)
{
	const SinkRef &sink = *static_cast<SinkRef *>(opaque);
	VmEvent e = map_event(event, detail);
	if (const char *n = virDomainGetName(dom))
		e.domain = n;
	sink->post(std::move(e));
	return 0;
}

void on_close(virConnectPtr, int reason, void *opaque)
{
	const SinkRef &sink = *static_cast<SinkRef *>(opaque);
	sink->post_lost(close_reason(reason));
}

} // namespace

struct LibvirtDriver::Impl {
	std::string uri;
	SinkRef sink;
	ConnPtr conn;
	int lifecycle_id = -1;
	bool close_cb = false;
	bool ever_connected = false;
	bool loop_acquired = false;

	~Impl()
	{
		drop();
		if (loop_acquired)
			EventLoop::release();
	}

	void drop()
	{
		if (!conn)
			return;
		if (lifecycle_id >= 0)
			virConnectDomainEventDeregisterAny(conn.get(), lifecycle_id);
		if (close_cb)
			virConnectUnregisterCloseCallback(conn.get(), on_close);
		lifecycle_id = -1;
		close_cb = false;
		conn.reset();
	}

	bool alive() const
	{
		return conn && !sink->lost && virConnectIsAlive(conn.get()) == 1;
	}

	Status ensure()
	{
		if (alive())
			return {};
		if (conn) {
			sink->post_lost("the connection is no longer alive");
			drop();
		}
		ConnPtr c(virConnectOpen(uri.c_str()));
		if (!c)
			return Status::error(str("cannot connect to libvirt at ", uri, ": ", lv_error()));
		// Notice a hung libvirtd within ~6 s (remote connections only;
		// local drivers such as test:/// have no keepalive).
		if (virConnectSetKeepAlive(c.get(), 2, 3) < 0)
			virResetLastError();
		auto *ref = new SinkRef(sink);
		if (virConnectRegisterCloseCallback(c.get(), on_close, ref, free_sink_ref) < 0) {
			delete ref;
			return Status::error(str("cannot watch the libvirt connection to ", uri, ": ", lv_error()));
		}
		ref = new SinkRef(sink);
		int id = virConnectDomainEventRegisterAny(
			c.get(), nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
			VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), ref, free_sink_ref);
		if (id < 0) {
			std::string msg = lv_error();
			delete ref;
			virConnectUnregisterCloseCallback(c.get(), on_close);
			return Status::error(str("cannot subscribe to libvirt's domain events at ", uri, ": ", msg));
		}
		conn = std::move(c);
		lifecycle_id = id;
		close_cb = true;
		bool was_lost = sink->lost.exchange(false);
		if (ever_connected && was_lost)
			sink->post({EventKind::kConnectionRestored, "", uri});
		ever_connected = true;
		return {};
	}

	// The domain, nullptr when none of that name is defined, or an error.
	Result<DomPtr> lookup(const std::string &name)
	{
		if (Status s = ensure(); !s)
			return s;
		DomPtr d(virDomainLookupByName(conn.get(), name.c_str()));
		if (d)
			return d;
		if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN) {
			virResetLastError();
			return DomPtr();
		}
		return Status::error(str("cannot look up the domain '", name, "': ", lv_error()));
	}

	Result<DomPtr> lookup_existing(const std::string &name)
	{
		auto d = lookup(name);
		if (d && !*d)
			return Status::error(str("no domain '", name, "' is defined on ", uri,
						 ": define it first (domain-xml in the configuration)"));
		return d;
	}

	static Result<DomainInfo> info(virDomainPtr d, const std::string &name)
	{
		int st = 0, reason = 0;
		if (virDomainGetState(d, &st, &reason, 0) < 0)
			return Status::error(str("cannot read the state of the domain '", name, "': ", lv_error()));
		DomainInfo i;
		i.name = name;
		i.state = map_state(st, reason);
		i.reason = state_reason(st, reason);
		int p = virDomainIsPersistent(d);
		if (p < 0)
			return Status::error(str("cannot tell whether the domain '", name, "' is persistent: ", lv_error()));
		i.persistent = p == 1;
		return i;
	}
};

Result<std::unique_ptr<LibvirtDriver>> LibvirtDriver::create(std::string uri)
{
	auto impl = std::make_unique<Impl>();
	impl->uri = uri;
	impl->sink = std::make_shared<Sink>();
	impl->sink->efd.reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
	if (!impl->sink->efd.valid())
		return Status::error(str("cannot create an eventfd for libvirt events: ", errno_text(errno)), errno);
	if (Status s = EventLoop::acquire(); !s)
		return s;
	impl->loop_acquired = true;
	return std::unique_ptr<LibvirtDriver>(new LibvirtDriver(std::move(uri), std::move(impl)));
}

LibvirtDriver::LibvirtDriver(std::string uri, std::unique_ptr<Impl> impl)
	: uri_(std::move(uri)), impl_(std::move(impl)) {}

LibvirtDriver::~LibvirtDriver() = default;

Status LibvirtDriver::connect()
{
	return impl_->ensure();
}

bool LibvirtDriver::connected() const
{
	return impl_->alive();
}

Result<bool> LibvirtDriver::ensure_defined(const std::string &name, const std::string &xml_path,
					   const std::string &device)
{
	auto d = impl_->lookup(name);
	if (!d)
		return d.status();
	if (*d) {
		CString xml(virDomainGetXMLDesc(d->get(), VIR_DOMAIN_XML_INACTIVE));
		if (!xml)
			return Status::error(str("cannot read the definition of the domain '", name, "': ", lv_error()));
		auto facts = scan_domain_xml(xml.get());
		if (!facts)
			return Status::error(str("cannot read libvirt's definition of the domain '", name, "': ",
						 facts.status().message()));
		if (Status s = check_domain_xml(*facts, str("the defined domain '", name, "'"), name, device); !s)
			return Status::error(str(s.message(), " (virsh edit ", name, ")"));
		return false;
	}
	std::ifstream in(xml_path, std::ios::binary);
	if (!in)
		return Status::error(str("cannot read ", xml_path, ": ", errno_text(errno)), errno);
	std::ostringstream buf;
	buf << in.rdbuf();
	if (in.bad())
		return Status::error(str("cannot read ", xml_path, ": ", errno_text(errno)), errno);
	std::string xml = buf.str();
	if (xml.size() > (1u << 20))
		return Status::error(str(xml_path, " is larger than 1 MiB, which is not a domain XML"));
	auto facts = scan_domain_xml(xml);
	if (!facts)
		return Status::error(str(xml_path, ": ", facts.status().message()));
	if (Status s = check_domain_xml(*facts, xml_path, name, device); !s)
		return s;
	DomPtr nd(virDomainDefineXML(impl_->conn.get(), xml.c_str()));
	if (!nd)
		return Status::error(str("cannot define the domain '", name, "' from ", xml_path, ": ", lv_error()));
	return true;
}

Status LibvirtDriver::start(const std::string &name)
{
	auto d = impl_->lookup_existing(name);
	if (!d)
		return d.status();
	auto i = Impl::info(d->get(), name);
	if (!i)
		return i.status();
	if (i->state == DomainState::kRunning)
		return {};
	if (i->state == DomainState::kPaused || i->state == DomainState::kShuttingDown ||
	    i->state == DomainState::kPmSuspended)
		return Status::error(str("the domain '", name, "' is ", to_string(i->state),
					 ", not shut off: wait for it or destroy it before starting it"));
	if (virDomainCreate(d->get()) < 0)
		return Status::error(str("cannot start the domain '", name, "': ", lv_error()));
	return {};
}

Status LibvirtDriver::shutdown(const std::string &name)
{
	auto d = impl_->lookup_existing(name);
	if (!d)
		return d.status();
	auto i = Impl::info(d->get(), name);
	if (!i)
		return i.status();
	if (!may_write(i->state))
		return {};
	if (virDomainShutdown(d->get()) < 0)
		return Status::error(str("cannot shut down the domain '", name, "': ", lv_error()));
	return {};
}

Status LibvirtDriver::destroy(const std::string &name)
{
	auto d = impl_->lookup_existing(name);
	if (!d)
		return d.status();
	auto i = Impl::info(d->get(), name);
	if (!i)
		return i.status();
	if (!may_write(i->state))
		return {};
	if (virDomainDestroy(d->get()) < 0)
		return Status::error(str("cannot destroy the domain '", name, "': ", lv_error()));
	return {};
}

Result<DomainInfo> LibvirtDriver::state(const std::string &name)
{
	auto d = impl_->lookup(name);
	if (!d)
		return d.status();
	if (!*d) {
		DomainInfo i;
		i.name = name;
		i.state = DomainState::kMissing;
		return i;
	}
	return Impl::info(d->get(), name);
}

Result<std::vector<DomainInfo>> LibvirtDriver::list()
{
	if (Status s = impl_->ensure(); !s)
		return s;
	virDomainPtr *doms = nullptr;
	int n = virConnectListAllDomains(impl_->conn.get(), &doms, 0);
	if (n < 0)
		return Status::error(str("cannot list the domains at ", impl_->uri, ": ", lv_error()));
	std::vector<DomPtr> owned;
	owned.reserve(n);
	for (int k = 0; k < n; k++)
		owned.emplace_back(doms[k]);
	std::free(doms);
	std::vector<DomainInfo> out;
	for (auto &d : owned) {
		const char *nm = virDomainGetName(d.get());
		auto i = Impl::info(d.get(), nm ? nm : "");
		if (!i) {
			// Undefined between the listing and now: not an error.
			if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
				continue;
			return i.status();
		}
		out.push_back(std::move(*i));
	}
	return out;
}

int LibvirtDriver::event_fd() const
{
	return impl_->sink->efd.get();
}

std::vector<VmEvent> LibvirtDriver::take_events()
{
	Sink &s = *impl_->sink;
	std::lock_guard lock(s.mu);
	uint64_t v;
	[[maybe_unused]] ssize_t r = ::read(s.efd.get(), &v, sizeof(v));
	std::vector<VmEvent> out(std::make_move_iterator(s.queue.begin()),
				 std::make_move_iterator(s.queue.end()));
	s.queue.clear();
	return out;
}

} // namespace dtrbd::vm
