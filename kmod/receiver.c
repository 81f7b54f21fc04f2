// SPDX-License-Identifier: GPL-2.0
/*
 * dtrbd: the receiver thread. It reads one packet header at a time, looks
 * its type up in dtrbd_rx_table (the fixed body size, whether a payload may
 * follow, the connection states in which the type is allowed, the
 * handler), reads the fixed body and hands it to the handler, which
 * receives any payload. Anything else is a protocol violation and ends the
 * connection.
 */
#define pr_fmt(fmt) "dtrbd: " fmt

#include <linux/kthread.h>
#include <linux/sched/mm.h>
#include <linux/uio.h>
#include <net/sock.h>

#include "dtrbd_conn.h"

int dtrbd_recv_msg(struct dtrbd_device *dev, struct msghdr *msg)
{
	unsigned long timeout = msecs_to_jiffies(dev->timeout_ms);
	int ret;

	while (msg_data_left(msg)) {
		ret = sock_recvmsg(dev->conn->sock, msg, MSG_WAITALL | MSG_NOSIGNAL);
		if (ret > 0) {
			dev->conn->last_rx = jiffies;
			continue;
		}
		if (ret == 0)
			return -ECONNRESET;
		if (ret != -EAGAIN && ret != -EINTR && ret != -ERESTARTSYS)
			return ret;
		if (kthread_should_stop() ||
		    READ_ONCE(dev->cstate) == DTRBD_CONN_DISCONNECTING)
			return -ESHUTDOWN;
		if (time_after(jiffies, dev->conn->last_rx + timeout))
			return -ETIMEDOUT;
	}
	return 0;
}

int dtrbd_recv_buf(struct dtrbd_device *dev, void *buf, size_t len)
{
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };
	struct kvec kv = { .iov_base = buf, .iov_len = len };

	iov_iter_kvec(&msg.msg_iter, ITER_DEST, &kv, 1, len);
	return dtrbd_recv_msg(dev, &msg);
}

bool dtrbd_rx_stopping(struct dtrbd_device *dev)
{
	return kthread_should_stop() ||
	       READ_ONCE(dev->cstate) == DTRBD_CONN_DISCONNECTING;
}

/* P_READ_REPLY: the data of one of our reads, straight into its bio. */
static int dtrbd_recv_read_reply(struct dtrbd_device *dev, u16 type,
				 void *body, u32 payload)
{
	struct dtrbd_p_ack *a = body;
	struct dtrbd_req *req;
	struct bvec_iter it;
	struct bio_vec bv;
	unsigned int size;
	int ret, status;

	status = be32_to_cpu(a->status);
	size = be32_to_cpu(a->size);
	req = dtrbd_req_take_read(dev, be64_to_cpu(a->id));
	if (!req || req->size != size || payload != (status ? 0 : size)) {
		dtrbd_err(dev, "peer sent an unexpected read reply\n");
		if (req)
			dtrbd_req_read_done(req, -EIO);
		return -EPROTO;
	}
	if (!status) {
		__bio_for_each_segment(bv, req->master, it, req->iter) {
			struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };

			iov_iter_bvec(&msg.msg_iter, ITER_DEST, &bv, 1,
				      bv.bv_len);
			ret = dtrbd_recv_msg(dev, &msg);
			if (ret) {
				dtrbd_req_read_done(req, -EIO);
				return ret;
			}
		}
		spin_lock_irq(&dev->lock);
		dev->stats.received += size;
		spin_unlock_irq(&dev->lock);
	} else {
		pr_err_ratelimited("%s: the peer could not read sector %llu: error %d\n",
				   dtrbd_name(dev), be64_to_cpu(a->sector), status);
	}
	dtrbd_req_read_done(req, status);
	return 0;
}

/* P_OV_REPLY / P_RS_SAME: which blocks of our request differ. */
static int dtrbd_recv_ov_reply(struct dtrbd_device *dev, u16 type, void *body,
			       u32 payload)
{
	struct dtrbd_p_csum *c = body;
	unsigned int blocks;
	int ret;

	blocks = be32_to_cpu(c->blocks);
	if (!blocks || blocks > DTRBD_CSUM_BLOCKS_MAX || payload != blocks)
		return -EBADMSG;
	ret = dtrbd_recv_buf(dev, page_address(dev->conn->rx_page), blocks);
	if (ret)
		return ret;
	if (type == P_RS_SAME)
		return dtrbd_csum_reply(dev, be64_to_cpu(c->id),
					page_address(dev->conn->rx_page), blocks);
	return dtrbd_ov_reply(dev, be64_to_cpu(c->id),
			      page_address(dev->conn->rx_page), blocks);
}

/* P_WRITE_ACK, P_RECV_ACK, P_RS_ACK */
static int dtrbd_recv_ack(struct dtrbd_device *dev, u16 type, void *body,
			  u32 payload)
{
	struct dtrbd_p_ack *a = body;
	u64 id;
	int status;

	id = be64_to_cpu(a->id);
	status = be32_to_cpu(a->status);
	if (status)
		pr_err_ratelimited("%s: the peer failed to write sector %llu: error %d\n",
				   dtrbd_name(dev), be64_to_cpu(a->sector),
				   status);
	if (type == P_RS_ACK)
		return dtrbd_rs_ack(dev, id, status);
	/* found by the sector range it echoes (req.c's interval tree) */
	if (dtrbd_req_ack(dev, type, id, be64_to_cpu(a->sector),
			  be32_to_cpu(a->size), status)) {
		dtrbd_err(dev, "peer acknowledged unknown write %llu (%s)\n", id,
			  type == P_RECV_ACK ? "received" : "written");
		return -EPROTO;
	}
	return 0;
}

static int dtrbd_recv_ping(struct dtrbd_device *dev, u16 type, void *body,
			   u32 payload)
{
	return 0;
}

/* Connection states in which a packet type may arrive. */
#define DTRBD_RX_CONNECTING	(1u << 0)	/* before the state exchange */
#define DTRBD_RX_CONNECTED	(1u << 1)	/* after it */
#define DTRBD_RX_ANY		(DTRBD_RX_CONNECTING | DTRBD_RX_CONNECTED)

struct dtrbd_rx_entry {
	dtrbd_rx_fn fn;
	u8 body;		/* fixed body bytes */
	bool payload;		/* more may follow the body */
	u8 states;		/* DTRBD_RX_* */
};

#define RX(t, f, b, p, s) [t] = { .fn = f, .body = b, .payload = p, .states = s }
static const struct dtrbd_rx_entry dtrbd_rx_table[] = {
	/* nothing but our state exchange until both sides agree */
	RX(P_STATE, dtrbd_recv_state, sizeof(struct dtrbd_p_state), false,
	   DTRBD_RX_ANY),
	RX(P_PING, dtrbd_recv_ping, 0, false, DTRBD_RX_ANY),
	RX(P_LIMITS, dtrbd_recv_limits, sizeof(struct dtrbd_p_limits), false,
	   DTRBD_RX_CONNECTING),
	RX(P_DATA, dtrbd_recv_write, sizeof(struct dtrbd_p_data), true,
	   DTRBD_RX_CONNECTED),
	RX(P_RS_DATA, dtrbd_recv_write, sizeof(struct dtrbd_p_data), true,
	   DTRBD_RX_CONNECTED),
	RX(P_WRITE_ACK, dtrbd_recv_ack, sizeof(struct dtrbd_p_ack), false,
	   DTRBD_RX_CONNECTED),
	RX(P_RECV_ACK, dtrbd_recv_ack, sizeof(struct dtrbd_p_ack), false,
	   DTRBD_RX_CONNECTED),
	RX(P_RS_ACK, dtrbd_recv_ack, sizeof(struct dtrbd_p_ack), false,
	   DTRBD_RX_CONNECTED),
	RX(P_SYNC_DONE, dtrbd_recv_sync_done, sizeof(struct dtrbd_p_sync_done),
	   false, DTRBD_RX_CONNECTED),
	RX(P_PROMOTE_REQ, dtrbd_recv_promote_req, 0, false,
	   DTRBD_RX_CONNECTED),
	RX(P_PROMOTE_REPLY, dtrbd_recv_promote_reply,
	   sizeof(struct dtrbd_p_promote_reply), false, DTRBD_RX_CONNECTED),
	RX(P_BITMAP, dtrbd_recv_bitmap, sizeof(struct dtrbd_p_bitmap), true,
	   DTRBD_RX_CONNECTED),
	RX(P_BARRIER, dtrbd_recv_barrier, sizeof(struct dtrbd_p_barrier),
	   false, DTRBD_RX_CONNECTED),
	RX(P_OV_REQ, dtrbd_recv_ov_req, sizeof(struct dtrbd_p_csum), true,
	   DTRBD_RX_CONNECTED),
	RX(P_CSUM_REQ, dtrbd_recv_ov_req, sizeof(struct dtrbd_p_csum), true,
	   DTRBD_RX_CONNECTED),
	RX(P_OV_REPLY, dtrbd_recv_ov_reply, sizeof(struct dtrbd_p_csum), true,
	   DTRBD_RX_CONNECTED),
	RX(P_RS_SAME, dtrbd_recv_ov_reply, sizeof(struct dtrbd_p_csum), true,
	   DTRBD_RX_CONNECTED),
	RX(P_UUID_SYNC, dtrbd_recv_uuid_sync, sizeof(struct dtrbd_p_uuid_sync),
	   false, DTRBD_RX_CONNECTED),
	RX(P_INVALIDATE, dtrbd_recv_invalidate, 0, false, DTRBD_RX_CONNECTED),
	RX(P_READ_REQ, dtrbd_recv_read_req, sizeof(struct dtrbd_p_data), false,
	   DTRBD_RX_CONNECTED),
	RX(P_READ_REPLY, dtrbd_recv_read_reply, sizeof(struct dtrbd_p_ack),
	   true, DTRBD_RX_CONNECTED),
};
#undef RX

static int dtrbd_recv_one(struct dtrbd_device *dev)
{
	const struct dtrbd_rx_entry *e;
	union {
		struct dtrbd_p_state st;
		struct dtrbd_p_data d;
		struct dtrbd_p_ack a;
		struct dtrbd_p_bitmap bm;
		struct dtrbd_p_barrier ba;
		struct dtrbd_p_csum c;
		struct dtrbd_p_uuid_sync us;
		struct dtrbd_p_sync_done sd;
		struct dtrbd_p_promote_reply pr;
		struct dtrbd_p_limits li;
	} body;
	struct dtrbd_hdr h;
	u32 length;
	u16 type;
	u8 state;
	int ret;

	ret = dtrbd_recv_buf(dev, &h, sizeof(h));
	if (ret)
		return ret;
	type = be16_to_cpu(h.type);
	length = be32_to_cpu(h.length);
	if (be32_to_cpu(h.magic) != DTRBD_WIRE_MAGIC || h.reserved ||
	    length > DTRBD_MAX_PAYLOAD + sizeof(struct dtrbd_p_data)) {
		dtrbd_err(dev, "bad packet header (magic %#x type %u length %u)\n",
			  be32_to_cpu(h.magic), type, length);
		return -EBADMSG;
	}
	if (type >= ARRAY_SIZE(dtrbd_rx_table) || !dtrbd_rx_table[type].fn) {
		dtrbd_err(dev, "unknown packet type %u\n", type);
		return -EPROTO;
	}
	e = &dtrbd_rx_table[type];
	state = READ_ONCE(dev->cstate) == DTRBD_CONN_CONNECTING ?
		DTRBD_RX_CONNECTING : DTRBD_RX_CONNECTED;
	if (!(e->states & state))
		return -EPROTO;
	if (length < e->body || (!e->payload && length != e->body))
		return -EBADMSG;
	BUILD_BUG_ON(sizeof(body) > U8_MAX);
	if (e->body) {
		ret = dtrbd_recv_buf(dev, &body, e->body);
		if (ret)
			return ret;
	}
	return e->fn(dev, type, &body, length - e->body);
}

int dtrbd_receiver(void *arg)
{
	struct dtrbd_device *dev = arg;
	unsigned int noio = memalloc_noio_save();
	int ret = 0;

	while (!kthread_should_stop()) {
		ret = dtrbd_recv_one(dev);
		if (ret)
			break;
	}
	memalloc_noio_restore(noio);
	if (ret == -ETIMEDOUT)
		dtrbd_conn_fail(dev, "the peer did not answer for %u ms",
				dev->timeout_ms);
	else if (ret == -ECONNRESET)
		dtrbd_conn_fail(dev, "the peer closed the connection");
	else if (ret && ret != -ESHUTDOWN)
		dtrbd_conn_fail(dev, "receiving from the peer failed (error %d)",
				ret);
	dtrbd_wait_for_stop();
	return 0;
}
