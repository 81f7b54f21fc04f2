// SPDX-License-Identifier: GPL-2.0
// RAII over libnl3 and the request/reply exchange with extended ACKs.
#pragma once

#include <netlink/genl/genl.h>
#include <netlink/netlink.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace dtrbd::nl {

struct SockFree {
	void operator()(nl_sock *s) const { nl_socket_free(s); }
};
struct MsgFree {
	void operator()(nl_msg *m) const { nlmsg_free(m); }
};
struct CbPut {
	void operator()(nl_cb *cb) const { nl_cb_put(cb); }
};
using SockPtr = std::unique_ptr<nl_sock, SockFree>;
using MsgPtr = std::unique_ptr<nl_msg, MsgFree>;
using CbPtr = std::unique_ptr<nl_cb, CbPut>;

// The NLMSGERR_ATTR_MSG text the kernel attached to an NLMSG_ERROR (or to
// the NLMSG_DONE ending a failed dump), when NLM_F_ACK_TLVS says there are
// TLVs. Bounded: never reads past nlmsg_len.
std::optional<std::string> extack_message(const nlmsghdr *hdr);

// The sentence for a refused request: the kernel's extack message verbatim,
// else a fixed sentence for EPERM, else "could not OP: strerror".
Status kernel_error(std::string_view op, int errnum,
		    const std::optional<std::string> &extack);

// A generic netlink request under construction. Attribute puts are
// chained; the first failure is remembered and reported by status().
class Message {
public:
	static Result<Message> make(int family, uint8_t version, uint8_t cmd,
				    int flags = 0);

	Message &u8(int attr, uint8_t v);
	Message &u32(int attr, uint32_t v);
	Message &u64(int attr, uint64_t v);
	Message &string(int attr, const std::string &v);
	Message &flag(int attr);

	nl_msg *get() const { return msg_.get(); }
	const Status &status() const { return status_; }

private:
	explicit Message(MsgPtr m) : msg_(std::move(m)) {}
	Message &check(int rc, int attr);

	MsgPtr msg_;
	Status status_;
};

// A connected generic netlink socket with NETLINK_EXT_ACK enabled.
class Socket {
public:
	static Result<Socket> open();

	nl_sock *get() const { return sk_.get(); }
	int fd() const { return nl_socket_get_fd(sk_.get()); }

	// Send @msg, hand every reply message to @on_reply, and wait for the
	// terminating ACK or NLMSG_DONE. @op names the operation in errors
	// ("attach dtrbd0").
	using ReplyFn = std::function<void(const nlmsghdr *)>;
	Status transact(const Message &msg, std::string_view op,
			const ReplyFn &on_reply = {});

private:
	explicit Socket(SockPtr sk) : sk_(std::move(sk)) {}
	SockPtr sk_;
};

} // namespace dtrbd::nl
