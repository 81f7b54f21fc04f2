// SPDX-License-Identifier: GPL-2.0
/*
 * dtrbd: the generic netlink family "dtrbd" (see
 * include/uapi/linux/dtrbd.h and Documentation/netlink.md).
 *
 * Strict validation everywhere (resv_start_op 0): unknown attributes,
 * output-only attributes in requests and out-of-range values are refused by
 * the core with an extack message; the handlers add a sentence for every
 * refusal of their own. Every command needs CAP_SYS_ADMIN, and so does
 * joining the events group (device state is not for everyone).
 *
 * Commands run in parallel (parallel_ops): genl_mutex is not held, so a
 * PRIMARY waiting for the peer or a DETACH waiting for the disk stalls
 * neither other dtrbd devices nor other generic netlink families. What the
 * core's lock used to give, the module provides itself: the registry lock
 * and a reference for the device a command runs on (pre_doit/post_doit),
 * dev->state_mutex for everything that changes a device, and
 * dev->removing, checked under state_mutex, so that no command starts I/O
 * on a device a concurrent DETACH is taking apart.
 */
#define pr_fmt(fmt) "dtrbd: " fmt

#include <linux/capability.h>
#include <linux/rwsem.h>
#include <net/genetlink.h>

#include "dtrbd_int.h"

static struct genl_family dtrbd_genl_family;

/*
 * Events go out only while the family is registered: after
 * genl_unregister_family() its group number may belong to another family.
 */
static DECLARE_RWSEM(dtrbd_nl_sem);
static bool dtrbd_nl_up;	/* [dtrbd_nl_sem] */

static struct netlink_range_validation dtrbd_ping_range = {
	.min = DTRBD_PING_MS_MIN, .max = DTRBD_PING_MS_MAX,
};

static struct netlink_range_validation dtrbd_timeout_range = {
	.min = DTRBD_TIMEOUT_MS_MIN, .max = DTRBD_TIMEOUT_MS_MAX,
};

static struct netlink_range_validation dtrbd_ko_range = {
	.min = DTRBD_KO_COUNT_MIN, .max = DTRBD_KO_COUNT_MAX,
};

static struct netlink_range_validation dtrbd_rate_range = {
	.min = 0, .max = DTRBD_RESYNC_RATE_MAX,
};

static struct netlink_range_validation dtrbd_al_range = {
	.min = DTRBD_AL_EXTENTS_MIN, .max = DTRBD_AL_EXTENTS_MAX,
};

static const struct nla_policy dtrbd_policy[DTRBD_A_MAX + 1] = {
	[DTRBD_A_MINOR]		= NLA_POLICY_MAX(NLA_U32, DTRBD_MAX_MINOR),
	[DTRBD_A_DISK_PATH]	= { .type = NLA_NUL_STRING, .len = 255 },
	[DTRBD_A_SOCK_FD]	= { .type = NLA_U32 },
	[DTRBD_A_PROTOCOL]	= NLA_POLICY_RANGE(NLA_U8, DTRBD_PROT_A,
						   DTRBD_PROT_C),
	[DTRBD_A_FORCE]		= { .type = NLA_FLAG },
	[DTRBD_A_PING_MS]	= NLA_POLICY_FULL_RANGE(NLA_U32,
							&dtrbd_ping_range),
	[DTRBD_A_TIMEOUT_MS]	= NLA_POLICY_FULL_RANGE(NLA_U32,
							&dtrbd_timeout_range),
	[DTRBD_A_TIEBREAK]	= NLA_POLICY_MAX(NLA_U8, 1),
	[DTRBD_A_PROTO_VERSION]	= { .type = NLA_U32 },
	[DTRBD_A_FEATURES]	= { .type = NLA_U64 },
	[DTRBD_A_PEER_NAME]	= { .type = NLA_NUL_STRING,
				    .len = DTRBD_NODE_NAME_LEN - 1 },
	[DTRBD_A_PEER_ADDR]	= { .type = NLA_NUL_STRING, .len = 63 },
	[DTRBD_A_DISCARD_MY_DATA] = { .type = NLA_FLAG },
	[DTRBD_A_AFTER_SB]	= NLA_POLICY_MAX(NLA_U8,
						 DTRBD_SB_DISCARD_SECONDARY),
	[DTRBD_A_RESYNC_RATE]	= NLA_POLICY_FULL_RANGE(NLA_U32,
							&dtrbd_rate_range),
	[DTRBD_A_AL_EXTENTS]	= NLA_POLICY_FULL_RANGE(NLA_U32,
							&dtrbd_al_range),
	[DTRBD_A_META_PATH]	= { .type = NLA_NUL_STRING, .len = 255 },
	[DTRBD_A_CLEAR_BITMAP]	= { .type = NLA_FLAG },
	[DTRBD_A_REPAIR]	= { .type = NLA_FLAG },
	[DTRBD_A_CSUM_RESYNC]	= { .type = NLA_FLAG },
	[DTRBD_A_ON_PEER_LOSS]	= NLA_POLICY_MAX(NLA_U8, DTRBD_OPL_FREEZE),
	[DTRBD_A_KO_COUNT]	= NLA_POLICY_FULL_RANGE(NLA_U32, &dtrbd_ko_range),
	[DTRBD_A_RES_NAME]	= { .type = NLA_NUL_STRING,
				    .len = DTRBD_RES_NAME_MAX },
};

struct dtrbd_snapshot {
	enum dtrbd_role role, peer_role;
	enum dtrbd_conn_state cstate;
	enum dtrbd_disk_state disk, peer_disk;
	enum dtrbd_sync_state sync;
	enum dtrbd_sync_kind sync_kind;
	u64 sync_total, sync_done, sync_rate;
	struct dtrbd_stats stats;
	unsigned int open_count, al_used;
	u32 in_flight, flags;
	u64 current_uuid, bitmap_uuid, oos;
	u64 verify_checked, verify_differing;
	u8 on_peer_loss;
	bool frozen, io_failed;
	u32 ko_count;
	enum dtrbd_protocol protocol;
	unsigned int ping_ms, timeout_ms;
	char peer_name[DTRBD_NODE_NAME_LEN];
	char peer_addr[64];
};

/* Under dev->lock: refresh the resync rate estimate at most once a second. */
static void dtrbd_update_rate(struct dtrbd_device *dev)
{
	unsigned long dt = jiffies - dev->rate_stamp;

	if (dev->sync == DTRBD_SYNC_NONE) {
		dev->sync_rate = 0;
		return;
	}
	if (dt < HZ || dev->sync_done < dev->rate_stamp_done)
		return;
	dev->sync_rate = div64_u64((dev->sync_done - dev->rate_stamp_done) * HZ,
				   dt);
	dev->rate_stamp = jiffies;
	dev->rate_stamp_done = dev->sync_done;
}

static int dtrbd_fill(struct sk_buff *skb, struct dtrbd_device *dev,
		      enum dtrbd_event ev, const char *reason)
{
	struct dtrbd_snapshot s;

	spin_lock_irq(&dev->lock);
	s.role = dev->role;
	s.peer_role = dev->peer_role;
	s.cstate = dev->cstate;
	s.disk = dev->disk_state;
	s.peer_disk = dev->peer_disk;
	s.sync = dev->sync;
	s.sync_kind = dev->sync_kind;
	dtrbd_update_rate(dev);
	s.sync_total = dev->sync_total;
	s.sync_done = dev->sync_done;
	s.sync_rate = dev->sync_rate;
	s.stats = dev->stats;
	s.open_count = dev->open_count;
	s.al_used = dev->al_used;
	s.in_flight = dev->in_flight;
	s.flags = dev->flags;
	s.current_uuid = dev->current_uuid;
	s.bitmap_uuid = dev->bitmap_uuid;
	s.oos = dev->bm_set * DTRBD_MD_BLOCK;
	s.verify_checked = dev->verify_checked;
	s.verify_differing = dev->verify_differing;
	s.on_peer_loss = dev->on_peer_loss;
	s.frozen = dev->frozen;
	s.io_failed = dev->io_failed;
	s.ko_count = dev->ko_count;
	s.protocol = dev->protocol;
	s.timeout_ms = dev->timeout_ms;
	/* the connection cannot go while we hold dev->lock */
	if (dev->conn) {
		s.ping_ms = dev->conn->ping_ms;
		strscpy(s.peer_name, dev->conn->peer_name, sizeof(s.peer_name));
		strscpy(s.peer_addr, dev->conn->peer_addr, sizeof(s.peer_addr));
	} else {
		s.ping_ms = 0;
		s.peer_name[0] = s.peer_addr[0] = '\0';
	}
	spin_unlock_irq(&dev->lock);

	if (nla_put_u32(skb, DTRBD_A_MINOR, dev->minor) ||
	    nla_put_string(skb, DTRBD_A_DISK_PATH, dev->disk_path) ||
	    nla_put_u8(skb, DTRBD_A_ROLE, s.role) ||
	    nla_put_u8(skb, DTRBD_A_PEER_ROLE, s.peer_role) ||
	    nla_put_u8(skb, DTRBD_A_CONN, s.cstate) ||
	    nla_put_u8(skb, DTRBD_A_DISK, s.disk) ||
	    nla_put_u8(skb, DTRBD_A_PEER_DISK, s.peer_disk) ||
	    nla_put_u64_64bit(skb, DTRBD_A_SIZE_BYTES, dev->size,
			      DTRBD_A_PAD) ||
	    nla_put_u8(skb, DTRBD_A_SYNC, s.sync) ||
	    nla_put_u64_64bit(skb, DTRBD_A_SYNC_TOTAL, s.sync_total,
			      DTRBD_A_PAD) ||
	    nla_put_u64_64bit(skb, DTRBD_A_SYNC_DONE, s.sync_done,
			      DTRBD_A_PAD) ||
	    nla_put_u64_64bit(skb, DTRBD_A_WRITTEN_BYTES, s.stats.written,
			      DTRBD_A_PAD) ||
	    nla_put_u64_64bit(skb, DTRBD_A_SENT_BYTES, s.stats.sent,
			      DTRBD_A_PAD) ||
	    nla_put_u64_64bit(skb, DTRBD_A_RECEIVED_BYTES, s.stats.received,
			      DTRBD_A_PAD) ||
	    nla_put_u64_64bit(skb, DTRBD_A_CURRENT_UUID, s.current_uuid,
			      DTRBD_A_PAD) ||
	    nla_put_u64_64bit(skb, DTRBD_A_BITMAP_UUID, s.bitmap_uuid,
			      DTRBD_A_PAD) ||
	    nla_put_u32(skb, DTRBD_A_OPEN_COUNT, s.open_count) ||
	    nla_put_u32(skb, DTRBD_A_IN_FLIGHT, s.in_flight) ||
	    nla_put_u64_64bit(skb, DTRBD_A_OOS_BYTES, s.oos, DTRBD_A_PAD) ||
	    nla_put_u64_64bit(skb, DTRBD_A_SYNC_RATE, s.sync_rate,
			      DTRBD_A_PAD) ||
	    nla_put_u8(skb, DTRBD_A_SYNC_KIND, s.sync_kind) ||
	    nla_put_u64_64bit(skb, DTRBD_A_AL_WRITES, s.stats.al_writes,
			      DTRBD_A_PAD) ||
	    nla_put_u32(skb, DTRBD_A_AL_EXTENTS_USED, s.al_used) ||
	    nla_put_u64_64bit(skb, DTRBD_A_RS_SENT_BYTES, s.stats.rs_sent,
			      DTRBD_A_PAD) ||
	    nla_put_u64_64bit(skb, DTRBD_A_RS_RECEIVED_BYTES,
			      s.stats.rs_received, DTRBD_A_PAD) ||
	    nla_put_u64_64bit(skb, DTRBD_A_RS_SAME_BYTES, s.stats.rs_same,
			      DTRBD_A_PAD) ||
	    nla_put_u32(skb, DTRBD_A_FLAGS, s.flags) ||
	    nla_put_u8(skb, DTRBD_A_ON_PEER_LOSS, s.on_peer_loss) ||
	    nla_put_u8(skb, DTRBD_A_FROZEN, s.frozen) ||
	    nla_put_u8(skb, DTRBD_A_IO_FAILED, s.io_failed))
		return -EMSGSIZE;
	/* the last verify's result, once one ran */
	if ((s.verify_checked || s.sync_kind == DTRBD_SK_VERIFY) &&
	    (nla_put_u64_64bit(skb, DTRBD_A_VERIFY_CHECKED, s.verify_checked,
			       DTRBD_A_PAD) ||
	     nla_put_u64_64bit(skb, DTRBD_A_VERIFY_DIFFERING,
			       s.verify_differing, DTRBD_A_PAD)))
		return -EMSGSIZE;
	if (dev->meta_path[0] &&
	    nla_put_string(skb, DTRBD_A_META_DISK, dev->meta_path))
		return -EMSGSIZE;
	/* set once before the disk is registered, never changed */
	if (dev->res_name[0] &&
	    nla_put_string(skb, DTRBD_A_RES_NAME, dev->res_name))
		return -EMSGSIZE;
	/* connection parameters are only meaningful while a socket is held */
	if (s.cstate != DTRBD_CONN_STANDALONE &&
	    (nla_put_u8(skb, DTRBD_A_PROTOCOL, s.protocol) ||
	     nla_put_u32(skb, DTRBD_A_PING_MS, s.ping_ms) ||
	     nla_put_u32(skb, DTRBD_A_TIMEOUT_MS, s.timeout_ms) ||
	     nla_put_u32(skb, DTRBD_A_KO_COUNT, s.ko_count) ||
	     nla_put_string(skb, DTRBD_A_PEER_NAME, s.peer_name) ||
	     nla_put_string(skb, DTRBD_A_PEER_ADDR, s.peer_addr)))
		return -EMSGSIZE;
	if (ev != DTRBD_EV_NONE && nla_put_u8(skb, DTRBD_A_EVENT, ev))
		return -EMSGSIZE;
	if (reason && nla_put_string(skb, DTRBD_A_REASON, reason))
		return -EMSGSIZE;
	return 0;
}

void dtrbd_notify(struct dtrbd_device *dev, enum dtrbd_event ev,
		  const char *reason)
{
	struct sk_buff *skb;
	void *hdr;

	might_sleep();
	skb = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!skb)
		return;
	hdr = genlmsg_put(skb, 0, 0, &dtrbd_genl_family, 0, DTRBD_CMD_EVENT);
	if (!hdr || dtrbd_fill(skb, dev, ev, reason)) {
		nlmsg_free(skb);
		return;
	}
	genlmsg_end(skb, hdr);
	down_read(&dtrbd_nl_sem);
	/* -ESRCH (nobody listening) is not an error */
	if (dtrbd_nl_up)
		genlmsg_multicast(&dtrbd_genl_family, skb, 0, 0, GFP_KERNEL);
	else
		nlmsg_free(skb);
	up_read(&dtrbd_nl_sem);
}

static int dtrbd_pre_doit(const struct genl_ops *ops, struct sk_buff *skb,
			  struct genl_info *info)
{
	struct dtrbd_device *dev;
	u32 minor;

	info->user_ptr[0] = NULL;
	if (!netlink_capable(skb, CAP_SYS_ADMIN)) {
		NL_SET_ERR_MSG(info->extack, "dtrbd commands need CAP_SYS_ADMIN");
		return -EPERM;
	}
	if (GENL_REQ_ATTR_CHECK(info, DTRBD_A_MINOR))
		return -EINVAL;
	if (ops->cmd == DTRBD_CMD_ATTACH)
		return 0;
	minor = nla_get_u32(info->attrs[DTRBD_A_MINOR]);
	dev = dtrbd_dev_get_by_minor(minor);
	if (!dev) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[DTRBD_A_MINOR],
				    "no such device: that minor is not attached");
		return -ENODEV;
	}
	info->user_ptr[0] = dev;
	return 0;
}

static void dtrbd_post_doit(const struct genl_ops *ops, struct sk_buff *skb,
			    struct genl_info *info)
{
	if (info->user_ptr[0])
		dtrbd_dev_put(info->user_ptr[0]);
}

static int dtrbd_nl_attach(struct sk_buff *skb, struct genl_info *info)
{
	unsigned int al = DTRBD_AL_EXTENTS_DEFAULT;
	const char *path, *meta = NULL, *name = NULL;

	if (GENL_REQ_ATTR_CHECK(info, DTRBD_A_DISK_PATH))
		return -EINVAL;
	path = nla_data(info->attrs[DTRBD_A_DISK_PATH]);
	if (path[0] != '/') {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[DTRBD_A_DISK_PATH],
				    "the disk path must be absolute");
		return -EINVAL;
	}
	if (info->attrs[DTRBD_A_META_PATH]) {
		meta = nla_data(info->attrs[DTRBD_A_META_PATH]);
		if (meta[0] != '/') {
			NL_SET_ERR_MSG_ATTR(info->extack,
					    info->attrs[DTRBD_A_META_PATH],
					    "the metadata device path must be absolute");
			return -EINVAL;
		}
	}
	if (info->attrs[DTRBD_A_RES_NAME]) {
		/* the policy guarantees the NUL and the length bound */
		name = nla_data(info->attrs[DTRBD_A_RES_NAME]);
		if (!dtrbd_res_name_ok(name, strlen(name))) {
			NL_SET_ERR_MSG_ATTR(info->extack,
					    info->attrs[DTRBD_A_RES_NAME],
					    "the resource name must be 1 to 31 characters of A-Z a-z 0-9 _ . - and not start with '.' or '-'");
			return -EINVAL;
		}
	}
	if (info->attrs[DTRBD_A_AL_EXTENTS])
		al = nla_get_u32(info->attrs[DTRBD_A_AL_EXTENTS]);
	return dtrbd_attach(nla_get_u32(info->attrs[DTRBD_A_MINOR]), path,
			    meta, name, al, info->extack);
}

static int dtrbd_nl_detach(struct sk_buff *skb, struct genl_info *info)
{
	return dtrbd_detach(info->user_ptr[0], info->extack);
}

static int dtrbd_nl_connect(struct sk_buff *skb, struct genl_info *info)
{
	struct socket *sock;
	int ret;

	if (GENL_REQ_ATTR_CHECK(info, DTRBD_A_SOCK_FD))
		return -EINVAL;
	sock = sockfd_lookup(nla_get_u32(info->attrs[DTRBD_A_SOCK_FD]), &ret);
	if (!sock) {
		NL_SET_ERR_MSG_ATTR(info->extack, info->attrs[DTRBD_A_SOCK_FD],
				    "the file descriptor is not a socket");
		return ret;
	}
	ret = dtrbd_connect(info->user_ptr[0], sock, info);
	if (ret)
		sockfd_put(sock);
	return ret;
}

static int dtrbd_nl_disconnect(struct sk_buff *skb, struct genl_info *info)
{
	dtrbd_disconnect(info->user_ptr[0]);
	return 0;
}

static int dtrbd_nl_primary(struct sk_buff *skb, struct genl_info *info)
{
	return dtrbd_set_primary(info->user_ptr[0],
				 nla_get_flag(info->attrs[DTRBD_A_FORCE]),
				 info->extack);
}

static int dtrbd_nl_secondary(struct sk_buff *skb, struct genl_info *info)
{
	return dtrbd_set_secondary(info->user_ptr[0], info->extack);
}

static int dtrbd_nl_verify(struct sk_buff *skb, struct genl_info *info)
{
	return dtrbd_verify_cmd(info->user_ptr[0],
				nla_get_flag(info->attrs[DTRBD_A_REPAIR]),
				info->extack);
}

static int dtrbd_nl_invalidate(struct sk_buff *skb, struct genl_info *info)
{
	return dtrbd_invalidate_cmd(info->user_ptr[0], false, info->extack);
}

static int dtrbd_nl_invalidate_remote(struct sk_buff *skb,
				      struct genl_info *info)
{
	return dtrbd_invalidate_cmd(info->user_ptr[0], true, info->extack);
}

static int dtrbd_nl_new_uuid(struct sk_buff *skb, struct genl_info *info)
{
	return dtrbd_new_uuid_cmd(info->user_ptr[0],
				  nla_get_flag(info->attrs[DTRBD_A_CLEAR_BITMAP]),
				  info->extack);
}

static int dtrbd_nl_set_options(struct sk_buff *skb, struct genl_info *info)
{
	struct dtrbd_device *dev = info->user_ptr[0];
	struct nlattr **a = info->attrs;
	int ret;

	if (!a[DTRBD_A_RESYNC_RATE] && !a[DTRBD_A_ON_PEER_LOSS] &&
	    !a[DTRBD_A_KO_COUNT]) {
		NL_SET_ERR_MSG(info->extack,
			       "nothing to change: give a resync rate, an on-peer-loss policy or a ko-count");
		return -EINVAL;
	}
	if (a[DTRBD_A_KO_COUNT]) {
		/* first: it may be refused; dev->conn changes under state_mutex */
		ret = dtrbd_lock_for_cmd(dev, info->extack);
		if (ret)
			return ret;
		dtrbd_set_ko_count(dev, nla_get_u32(a[DTRBD_A_KO_COUNT]));
		mutex_unlock(&dev->state_mutex);
		dtrbd_info(dev, "request timeout: ko-count %u\n",
			   nla_get_u32(a[DTRBD_A_KO_COUNT]));
	}
	if (a[DTRBD_A_RESYNC_RATE]) {
		WRITE_ONCE(dev->resync_rate,
			   nla_get_u32(a[DTRBD_A_RESYNC_RATE]));
		dtrbd_info(dev, "resync rate %s\n",
			   dev->resync_rate ? "fixed" : "dynamic");
	}
	if (a[DTRBD_A_ON_PEER_LOSS]) {
		/* takes effect at the next loss; a freeze now stays */
		spin_lock_irq(&dev->lock);
		dev->on_peer_loss = nla_get_u8(a[DTRBD_A_ON_PEER_LOSS]);
		spin_unlock_irq(&dev->lock);
		dtrbd_info(dev, "on peer loss: %s\n",
			   dev->on_peer_loss == DTRBD_OPL_FREEZE ?
			   "freeze" : "continue");
	}
	return 0;
}

static int dtrbd_nl_resume_io(struct sk_buff *skb, struct genl_info *info)
{
	return dtrbd_resume_io(info->user_ptr[0], info->extack);
}

static int dtrbd_nl_fail_io(struct sk_buff *skb, struct genl_info *info)
{
	return dtrbd_fail_io(info->user_ptr[0], info->extack);
}

static int dtrbd_nl_get(struct sk_buff *skb, struct genl_info *info)
{
	struct sk_buff *msg;
	void *hdr;
	int ret;

	msg = genlmsg_new(NLMSG_GOODSIZE, GFP_KERNEL);
	if (!msg)
		return -ENOMEM;
	hdr = genlmsg_put_reply(msg, info, &dtrbd_genl_family, 0,
				DTRBD_CMD_GET_DEVICE);
	if (!hdr) {
		ret = -EMSGSIZE;
		goto out_free;
	}
	ret = dtrbd_fill(msg, info->user_ptr[0], DTRBD_EV_NONE, NULL);
	if (ret)
		goto out_free;
	genlmsg_end(msg, hdr);
	return genlmsg_reply(msg, info);

out_free:
	nlmsg_free(msg);
	return ret;
}

static int dtrbd_nl_dump_start(struct netlink_callback *cb)
{
	if (!netlink_capable(cb->skb, CAP_SYS_ADMIN)) {
		NL_SET_ERR_MSG(cb->extack, "dtrbd commands need CAP_SYS_ADMIN");
		return -EPERM;
	}
	return 0;
}

struct dtrbd_dump_ctx {
	struct sk_buff *skb;
	struct netlink_callback *cb;
};

static int dtrbd_dump_one(struct dtrbd_device *dev, void *arg)
{
	struct dtrbd_dump_ctx *c = arg;
	void *hdr;

	hdr = genlmsg_put(c->skb, NETLINK_CB(c->cb->skb).portid,
			  c->cb->nlh->nlmsg_seq, &dtrbd_genl_family,
			  NLM_F_MULTI, DTRBD_CMD_GET_DEVICE);
	if (!hdr)
		return -EMSGSIZE;
	if (dtrbd_fill(c->skb, dev, DTRBD_EV_NONE, NULL)) {
		genlmsg_cancel(c->skb, hdr);
		return -EMSGSIZE;
	}
	genlmsg_end(c->skb, hdr);
	c->cb->args[0] = dev->minor + 1;	/* resume after this one */
	return 0;
}

static int dtrbd_nl_dump(struct sk_buff *skb, struct netlink_callback *cb)
{
	struct dtrbd_dump_ctx c = { .skb = skb, .cb = cb };

	if (cb->args[0] > DTRBD_MAX_MINOR)
		return 0;
	dtrbd_for_each_device(dtrbd_dump_one, &c, cb->args[0]);
	return skb->len;
}

static const struct genl_ops dtrbd_ops[] = {
	{ .cmd = DTRBD_CMD_ATTACH, .doit = dtrbd_nl_attach },
	{ .cmd = DTRBD_CMD_DETACH, .doit = dtrbd_nl_detach },
	{ .cmd = DTRBD_CMD_CONNECT, .doit = dtrbd_nl_connect },
	{ .cmd = DTRBD_CMD_DISCONNECT, .doit = dtrbd_nl_disconnect },
	{ .cmd = DTRBD_CMD_PRIMARY, .doit = dtrbd_nl_primary },
	{ .cmd = DTRBD_CMD_SECONDARY, .doit = dtrbd_nl_secondary },
	{ .cmd = DTRBD_CMD_VERIFY, .doit = dtrbd_nl_verify },
	{ .cmd = DTRBD_CMD_INVALIDATE, .doit = dtrbd_nl_invalidate },
	{ .cmd = DTRBD_CMD_INVALIDATE_REMOTE, .doit = dtrbd_nl_invalidate_remote },
	{ .cmd = DTRBD_CMD_NEW_CURRENT_UUID, .doit = dtrbd_nl_new_uuid },
	{ .cmd = DTRBD_CMD_SET_OPTIONS, .doit = dtrbd_nl_set_options },
	{ .cmd = DTRBD_CMD_RESUME_IO, .doit = dtrbd_nl_resume_io },
	{ .cmd = DTRBD_CMD_FAIL_IO, .doit = dtrbd_nl_fail_io },
	{
		.cmd = DTRBD_CMD_GET_DEVICE,
		.doit = dtrbd_nl_get,
		.start = dtrbd_nl_dump_start,
		.dumpit = dtrbd_nl_dump,
	},
};

static const struct genl_multicast_group dtrbd_mcgrps[] = {
	/* genl_bind() refuses a listener without CAP_SYS_ADMIN */
	{ .name = DTRBD_GENL_MCGRP_EVENTS, .flags = GENL_MCAST_CAP_SYS_ADMIN },
};

static struct genl_family dtrbd_genl_family __ro_after_init = {
	.name		= DTRBD_GENL_NAME,
	.version	= DTRBD_GENL_VERSION,
	.maxattr	= DTRBD_A_MAX,
	.policy		= dtrbd_policy,
	.module		= THIS_MODULE,
	.ops		= dtrbd_ops,
	.n_ops		= ARRAY_SIZE(dtrbd_ops),
	.mcgrps		= dtrbd_mcgrps,
	.n_mcgrps	= ARRAY_SIZE(dtrbd_mcgrps),
	.pre_doit	= dtrbd_pre_doit,
	.post_doit	= dtrbd_post_doit,
	.netnsok	= false,
	.parallel_ops	= true,
};

int __init dtrbd_nl_init(void)
{
	int ret;

	ret = genl_register_family(&dtrbd_genl_family);
	if (ret)
		return ret;
	down_write(&dtrbd_nl_sem);
	dtrbd_nl_up = true;
	up_write(&dtrbd_nl_sem);
	return 0;
}

/* Waits for every command still running; none starts afterwards. */
void dtrbd_nl_exit(void)
{
	down_write(&dtrbd_nl_sem);
	dtrbd_nl_up = false;
	up_write(&dtrbd_nl_sem);
	genl_unregister_family(&dtrbd_genl_family);
}
