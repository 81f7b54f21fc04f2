// SPDX-License-Identifier: GPL-2.0
#include "netlink/nl.h"

#include <linux/netlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

namespace dtrbd::nl {

std::optional<std::string> extack_message(const nlmsghdr *hdr)
{
	if (hdr->nlmsg_len < NLMSG_HDRLEN ||
	    !(hdr->nlmsg_flags & NLM_F_ACK_TLVS))
		return std::nullopt;
	const auto *data = static_cast<const char *>(NLMSG_DATA(hdr));
	size_t payload = hdr->nlmsg_len - NLMSG_HDRLEN;
	size_t off;

	if (hdr->nlmsg_type == NLMSG_ERROR) {
		if (payload < sizeof(nlmsgerr))
			return std::nullopt;
		nlmsgerr err;
		memcpy(&err, data, sizeof(err));
		off = sizeof(err);
		// Unless capped, the whole original request follows.
		if (!(hdr->nlmsg_flags & NLM_F_CAPPED)) {
			if (err.msg.nlmsg_len < NLMSG_HDRLEN)
				return std::nullopt;
			off += err.msg.nlmsg_len - NLMSG_HDRLEN;
		}
	} else if (hdr->nlmsg_type == NLMSG_DONE) {
		off = sizeof(int);
	} else {
		return std::nullopt;
	}

	for (off = NLMSG_ALIGN(off); off + NLA_HDRLEN <= payload;) {
		nlattr a;
		memcpy(&a, data + off, sizeof(a));
		if (a.nla_len < NLA_HDRLEN || a.nla_len > payload - off)
			break;
		if ((a.nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
			const char *s = data + off + NLA_HDRLEN;
			std::string msg(s, strnlen(s, a.nla_len - NLA_HDRLEN));
			if (msg.empty())
				break;
			return msg;
		}
		off += NLA_ALIGN(a.nla_len);
	}
	return std::nullopt;
}

Status kernel_error(std::string_view op, int errnum,
		    const std::optional<std::string> &extack)
{
	if (extack)
		return Status::error(*extack, errnum);
	if (errnum == EPERM)
		return Status::error(
			"permission denied: dtrbdctl needs CAP_SYS_ADMIN",
			errnum);
	return Status::error(str("could not ", op, ": ", errno_text(errnum)),
			     errnum);
}

// ---- Message --------------------------------------------------------------

Result<Message> Message::make(int family, uint8_t version, uint8_t cmd,
			      int flags)
{
	MsgPtr m(nlmsg_alloc());
	if (!m || !genlmsg_put(m.get(), NL_AUTO_PORT, NL_AUTO_SEQ, family, 0,
			       flags, cmd, version))
		return Status::error("out of memory building a netlink request",
				     ENOMEM);
	return Message(std::move(m));
}

Message &Message::check(int rc, int attr)
{
	if (rc < 0 && status_.ok())
		status_ = Status::error(str("could not add netlink attribute ",
					    attr, ": ", nl_geterror(rc)));
	return *this;
}

Message &Message::u8(int attr, uint8_t v)
{
	return check(nla_put_u8(msg_.get(), attr, v), attr);
}
Message &Message::u32(int attr, uint32_t v)
{
	return check(nla_put_u32(msg_.get(), attr, v), attr);
}
Message &Message::u64(int attr, uint64_t v)
{
	return check(nla_put_u64(msg_.get(), attr, v), attr);
}
Message &Message::string(int attr, const std::string &v)
{
	return check(nla_put_string(msg_.get(), attr, v.c_str()), attr);
}
Message &Message::flag(int attr)
{
	return check(nla_put_flag(msg_.get(), attr), attr);
}

// ---- Socket ---------------------------------------------------------------

Result<Socket> Socket::open()
{
	SockPtr sk(nl_socket_alloc());
	if (!sk)
		return Status::error("out of memory opening a netlink socket",
				     ENOMEM);
	int rc = genl_connect(sk.get());
	if (rc < 0)
		return Status::error(str("could not open a generic netlink socket: ",
					 nl_geterror(rc)));
	int fd = nl_socket_get_fd(sk.get()), one = 1;
	// Ask for the kernel's error sentences (extack) in every ACK...
	if (setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one)))
		log::debug("NETLINK_EXT_ACK: ", errno_text(errno));
	// ...and not for a copy of our own request in error ACKs.
	if (setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one)))
		log::debug("NETLINK_CAP_ACK: ", errno_text(errno));
	nl_socket_enable_msg_peek(sk.get());
	return Socket(std::move(sk));
}

namespace {

struct Exchange {
	uint32_t seq = 0;
	bool done = false;
	int errnum = 0;
	std::optional<std::string> extack;
	const Socket::ReplyFn *on_reply = nullptr;
};

int seq_check(nl_msg *msg, void *arg)
{
	auto *x = static_cast<Exchange *>(arg);
	return nlmsg_hdr(msg)->nlmsg_seq == x->seq ? NL_OK : NL_SKIP;
}

int on_valid(nl_msg *msg, void *arg)
{
	auto *x = static_cast<Exchange *>(arg);
	if (*x->on_reply)
		(*x->on_reply)(nlmsg_hdr(msg));
	return NL_OK;
}

int on_ack(nl_msg *, void *arg)
{
	static_cast<Exchange *>(arg)->done = true;
	return NL_STOP;
}

int on_finish(nl_msg *msg, void *arg)
{
	auto *x = static_cast<Exchange *>(arg);
	const nlmsghdr *hdr = nlmsg_hdr(msg);
	int err = 0;
	if (hdr->nlmsg_len >= NLMSG_LENGTH(sizeof(err)))
		memcpy(&err, NLMSG_DATA(hdr), sizeof(err));
	if (err < 0) {
		x->errnum = -err;
		x->extack = extack_message(hdr);
	}
	x->done = true;
	return NL_STOP;
}

int on_error(sockaddr_nl *, nlmsgerr *err, void *arg)
{
	auto *x = static_cast<Exchange *>(arg);
	// libnl hands us the payload of the NLMSG_ERROR message; its header
	// sits right before it.
	const auto *hdr = reinterpret_cast<const nlmsghdr *>(
		reinterpret_cast<const char *>(err) - NLMSG_HDRLEN);
	x->errnum = -err->error;
	x->extack = extack_message(hdr);
	x->done = true;
	return NL_STOP;
}

} // namespace

Status Socket::transact(const Message &msg, std::string_view op,
			const ReplyFn &on_reply)
{
	if (!msg.status().ok())
		return msg.status();
	CbPtr cb(nl_cb_alloc(NL_CB_DEFAULT));
	if (!cb)
		return Status::error("out of memory", ENOMEM);
	Exchange x;
	x.on_reply = &on_reply;
	nl_cb_set(cb.get(), NL_CB_SEQ_CHECK, NL_CB_CUSTOM, seq_check, &x);
	nl_cb_set(cb.get(), NL_CB_VALID, NL_CB_CUSTOM, on_valid, &x);
	nl_cb_set(cb.get(), NL_CB_ACK, NL_CB_CUSTOM, on_ack, &x);
	nl_cb_set(cb.get(), NL_CB_FINISH, NL_CB_CUSTOM, on_finish, &x);
	nl_cb_err(cb.get(), NL_CB_CUSTOM, on_error, &x);

	int rc = nl_send_auto(sk_.get(), msg.get());
	if (rc < 0)
		return Status::error(str("could not send the ", op,
					 " request: ", nl_geterror(rc)));
	x.seq = nlmsg_hdr(msg.get())->nlmsg_seq;
	while (!x.done) {
		rc = nl_recvmsgs(sk_.get(), cb.get());
		if (!x.done && rc < 0)
			return Status::error(str("could not ", op, ": ",
						 nl_geterror(rc)));
	}
	if (x.errnum)
		return kernel_error(op, x.errnum, x.extack);
	return {};
}

} // namespace dtrbd::nl
