// SPDX-License-Identifier: GPL-2.0
#include "netlink/netlink_kernel.h"

#include <linux/dtrbd.h>
#include <netlink/errno.h>
#include <netlink/genl/ctrl.h>
#include <poll.h>

#include <cerrno>

#include "common/log.h"
#include "netlink/attrs.h"

namespace dtrbd {

namespace {

std::string dev(uint32_t minor) { return str("dtrbd", minor); }

const nlattr *attrs_of(const nlmsghdr *hdr, int *len)
{
	*len = genlmsg_attrlen(static_cast<genlmsghdr *>(nlmsg_data(hdr)), 0);
	return genlmsg_attrdata(static_cast<genlmsghdr *>(nlmsg_data(hdr)), 0);
}

Status lookup_error(int rc, const char *what)
{
	if (rc == -NLE_OBJ_NOTFOUND)
		return Status::error(
			"the dtrbd kernel module is not loaded (modprobe dtrbd)",
			ENOENT);
	return Status::error(str("could not look up ", what, ": ",
				 nl_geterror(rc)));
}

} // namespace

namespace nl {

namespace {

Result<Message> device_request(int family, uint8_t cmd, uint32_t minor)
{
	auto m = Message::make(family, DTRBD_GENL_VERSION, cmd);
	if (m)
		m->u32(DTRBD_A_MINOR, minor);
	return m;
}

} // namespace

Result<Message> attach_request(int family, const AttachRequest &r)
{
	auto m = device_request(family, DTRBD_CMD_ATTACH, r.minor);
	if (!m)
		return m;
	m->string(DTRBD_A_DISK_PATH, r.disk_path);
	if (r.meta_path)
		m->string(DTRBD_A_META_PATH, *r.meta_path);
	if (r.al_extents)
		m->u32(DTRBD_A_AL_EXTENTS, *r.al_extents);
	if (r.res_name)
		m->string(DTRBD_A_RES_NAME, *r.res_name);
	return m;
}

Result<Message> connect_request(int family, const ConnectRequest &r)
{
	auto m = device_request(family, DTRBD_CMD_CONNECT, r.minor);
	if (!m)
		return m;
	m->u32(DTRBD_A_SOCK_FD, static_cast<uint32_t>(r.sock_fd))
		.u8(DTRBD_A_PROTOCOL, r.protocol)
		.u32(DTRBD_A_PING_MS, r.ping_ms)
		.u32(DTRBD_A_TIMEOUT_MS, r.timeout_ms)
		.u8(DTRBD_A_TIEBREAK, r.tiebreak ? 1 : 0)
		.u32(DTRBD_A_PROTO_VERSION, r.proto_version)
		.u64(DTRBD_A_FEATURES, r.features)
		.string(DTRBD_A_PEER_NAME, r.peer_name)
		.string(DTRBD_A_PEER_ADDR, r.peer_addr);
	if (r.discard_my_data)
		m->flag(DTRBD_A_DISCARD_MY_DATA);
	if (r.csum_resync)
		m->flag(DTRBD_A_CSUM_RESYNC);
	if (r.after_sb)
		m->u8(DTRBD_A_AFTER_SB, *r.after_sb);
	if (r.resync_rate_kib)
		m->u32(DTRBD_A_RESYNC_RATE, *r.resync_rate_kib);
	if (r.on_peer_loss)
		m->u8(DTRBD_A_ON_PEER_LOSS, *r.on_peer_loss);
	if (r.ko_count)
		m->u32(DTRBD_A_KO_COUNT, *r.ko_count);
	return m;
}

Result<Message> verify_request(int family, uint32_t minor, bool repair)
{
	auto m = device_request(family, DTRBD_CMD_VERIFY, minor);
	if (m && repair)
		m->flag(DTRBD_A_REPAIR);
	return m;
}

Result<Message> new_current_uuid_request(int family, uint32_t minor,
					 bool clear_bitmap)
{
	auto m = device_request(family, DTRBD_CMD_NEW_CURRENT_UUID, minor);
	if (m && clear_bitmap)
		m->flag(DTRBD_A_CLEAR_BITMAP);
	return m;
}

Result<Message> set_options_request(int family, const SetOptionsRequest &r)
{
	auto m = device_request(family, DTRBD_CMD_SET_OPTIONS, r.minor);
	if (m && r.resync_rate_kib)
		m->u32(DTRBD_A_RESYNC_RATE, *r.resync_rate_kib);
	if (m && r.on_peer_loss)
		m->u8(DTRBD_A_ON_PEER_LOSS, *r.on_peer_loss);
	if (m && r.ko_count)
		m->u32(DTRBD_A_KO_COUNT, *r.ko_count);
	return m;
}

} // namespace nl

Result<std::unique_ptr<Kernel>> NetlinkKernel::open()
{
	auto sk = nl::Socket::open();
	if (!sk)
		return sk.status();
	int family = genl_ctrl_resolve(sk->get(), DTRBD_GENL_NAME);
	if (family < 0)
		return lookup_error(family, "the dtrbd netlink family");
	return std::unique_ptr<Kernel>(
		new NetlinkKernel(std::move(*sk), family));
}

Result<nl::Message> NetlinkKernel::request(uint8_t cmd, uint32_t minor,
					   int flags)
{
	auto m = nl::Message::make(family_, DTRBD_GENL_VERSION, cmd, flags);
	if (m && !(flags & NLM_F_DUMP))
		m->u32(DTRBD_A_MINOR, minor);
	return m;
}

Status NetlinkKernel::simple(uint8_t cmd, uint32_t minor, const char *verb)
{
	auto m = request(cmd, minor);
	if (!m)
		return m.status();
	return cmd_.transact(*m, str(verb, " ", dev(minor)));
}

Status NetlinkKernel::attach(const AttachRequest &r)
{
	auto m = nl::attach_request(family_, r);
	if (!m)
		return m.status();
	return cmd_.transact(*m, str("attach ", r.disk_path, " as ", dev(r.minor)));
}

Status NetlinkKernel::detach(uint32_t minor)
{
	return simple(DTRBD_CMD_DETACH, minor, "detach");
}

Status NetlinkKernel::disconnect(uint32_t minor)
{
	return simple(DTRBD_CMD_DISCONNECT, minor, "disconnect");
}

Status NetlinkKernel::secondary(uint32_t minor)
{
	return simple(DTRBD_CMD_SECONDARY, minor, "make secondary");
}

Status NetlinkKernel::primary(uint32_t minor, bool force)
{
	auto m = request(DTRBD_CMD_PRIMARY, minor);
	if (!m)
		return m.status();
	if (force)
		m->flag(DTRBD_A_FORCE);
	return cmd_.transact(*m, str("make ", dev(minor), " primary"));
}

Status NetlinkKernel::connect(const ConnectRequest &r)
{
	auto m = nl::connect_request(family_, r);
	if (!m)
		return m.status();
	return cmd_.transact(*m, str("hand the connection to ", dev(r.minor),
				     " to the kernel"));
}

Status NetlinkKernel::verify(uint32_t minor, bool repair)
{
	auto m = nl::verify_request(family_, minor, repair);
	if (!m)
		return m.status();
	return cmd_.transact(*m, str("start a verify of ", dev(minor)));
}

Status NetlinkKernel::invalidate(uint32_t minor)
{
	return simple(DTRBD_CMD_INVALIDATE, minor, "invalidate");
}

Status NetlinkKernel::invalidate_remote(uint32_t minor)
{
	return simple(DTRBD_CMD_INVALIDATE_REMOTE, minor,
		      "invalidate the peer's data of");
}

Status NetlinkKernel::new_current_uuid(uint32_t minor, bool clear_bitmap)
{
	auto m = nl::new_current_uuid_request(family_, minor, clear_bitmap);
	if (!m)
		return m.status();
	return cmd_.transact(*m, str("start a new data generation on ",
				     dev(minor)));
}

Status NetlinkKernel::set_options(const SetOptionsRequest &req)
{
	auto m = nl::set_options_request(family_, req);
	if (!m)
		return m.status();
	return cmd_.transact(*m, str("change the options of ", dev(req.minor)));
}

Status NetlinkKernel::resume_io(uint32_t minor)
{
	return simple(DTRBD_CMD_RESUME_IO, minor, "resume the writes of");
}

Status NetlinkKernel::fail_io(uint32_t minor)
{
	return simple(DTRBD_CMD_FAIL_IO, minor, "fail the waiting writes of");
}

Result<DeviceStatus> NetlinkKernel::get(uint32_t minor)
{
	auto m = request(DTRBD_CMD_GET_DEVICE, minor);
	if (!m)
		return m.status();
	std::optional<DeviceStatus> reply;
	Status st = cmd_.transact(*m, str("query ", dev(minor)),
				  [&](const nlmsghdr *hdr) {
		int len;
		const nlattr *a = attrs_of(hdr, &len);
		reply = nl::parse_status(a, len);
	});
	if (!st)
		return st;
	if (!reply)
		return Status::error(str("the kernel sent no status for ",
					 dev(minor)));
	if (!reply->minor)
		reply->minor = minor;
	return *reply;
}

Result<std::vector<DeviceStatus>> NetlinkKernel::dump()
{
	auto m = request(DTRBD_CMD_GET_DEVICE, 0, NLM_F_DUMP);
	if (!m)
		return m.status();
	std::vector<DeviceStatus> all;
	Status st = cmd_.transact(*m, "list the dtrbd devices",
				  [&](const nlmsghdr *hdr) {
		int len;
		const nlattr *a = attrs_of(hdr, &len);
		all.push_back(nl::parse_status(a, len));
	});
	if (!st)
		return st;
	return all;
}

namespace {

int queue_event(nl_msg *msg, void *arg)
{
	const nlmsghdr *hdr = nlmsg_hdr(msg);
	if (!genlmsg_valid_hdr(const_cast<nlmsghdr *>(hdr), 0))
		return NL_SKIP;
	const auto *gh = static_cast<const genlmsghdr *>(nlmsg_data(hdr));
	if (gh->cmd != DTRBD_CMD_EVENT)
		return NL_SKIP;
	int len;
	const nlattr *a = attrs_of(hdr, &len);
	static_cast<std::deque<Event> *>(arg)->push_back(nl::parse_event(a, len));
	return NL_OK;
}

} // namespace

Status NetlinkKernel::subscribe()
{
	if (events_)
		return {};
	int group = genl_ctrl_resolve_grp(cmd_.get(), DTRBD_GENL_NAME,
					  DTRBD_GENL_MCGRP_EVENTS);
	if (group < 0)
		return lookup_error(group, "the dtrbd events group");
	auto sk = nl::Socket::open();
	if (!sk)
		return sk.status();
	nl_sock *s = sk->get();
	nl_socket_disable_seq_check(s);
	nl_socket_modify_cb(s, NL_CB_VALID, NL_CB_CUSTOM, queue_event, &queue_);
	// Room for bursts (a resync emits few events, a mass detach many).
	nl_socket_set_buffer_size(s, 1 << 20, 0);
	int rc = nl_socket_add_membership(s, group);
	if (rc == -NLE_PERM)
		return Status::error(
			"permission denied: the dtrbd events group needs CAP_SYS_ADMIN; run dtrbdctl events as root",
			EPERM);
	if (rc >= 0)
		rc = nl_socket_set_nonblocking(s);
	if (rc < 0)
		return Status::error(str("could not subscribe to dtrbd events: ",
					 nl_geterror(rc)));
	events_.emplace(std::move(*sk));
	return {};
}

Result<std::optional<Event>> NetlinkKernel::next_event(
	std::chrono::milliseconds timeout)
{
	if (!events_)
		return Status::error("not subscribed to dtrbd events");
	if (queue_.empty()) {
		pollfd p{events_->fd(), POLLIN, 0};
		int n = poll(&p, 1, static_cast<int>(timeout.count()));
		if (n < 0 && errno != EINTR)
			return Status::error(str("could not wait for dtrbd events: ",
						 errno_text(errno)), errno);
		if (n > 0) {
			int rc = nl_recvmsgs_default(events_->get());
			if (rc == -NLE_NOMEM) // ENOBUFS: the socket overran
				log::debug("some dtrbd events were lost");
			else if (rc < 0 && rc != -NLE_AGAIN)
				return Status::error(str("could not read dtrbd events: ",
							 nl_geterror(rc)));
		}
	}
	if (queue_.empty())
		return std::optional<Event>();
	Event ev = std::move(queue_.front());
	queue_.pop_front();
	return std::optional<Event>(std::move(ev));
}

} // namespace dtrbd
