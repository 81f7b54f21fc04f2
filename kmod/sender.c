// SPDX-License-Identifier: GPL-2.0
/*
 * dtrbd: the sender thread. It is the only writer of the socket: control
 * packets, acks, application data, resync chunks, bitmap slices and
 * keep-alives all go out from here, most latency-critical first, so
 * packets never interleave and the receiver never blocks on a full send
 * buffer.
 */
#define pr_fmt(fmt) "dtrbd: " fmt

#include <linux/kthread.h>
#include <linux/sched/mm.h>
#include <linux/uio.h>
#include <net/sock.h>

#include "dtrbd_conn.h"

static int dtrbd_send_msg(struct dtrbd_device *dev, struct msghdr *msg)
{
	int ret;

	while (msg_data_left(msg)) {
		ret = sock_sendmsg(dev->conn->sock, msg);
		if (ret <= 0)
			return ret ? ret : -EPIPE;
	}
	return 0;
}

/* Send a header and a fixed body; @payload bytes are to follow. */
static int dtrbd_send_packet(struct dtrbd_device *dev, u16 type,
			     const void *body, size_t blen, size_t payload)
{
	struct {
		struct dtrbd_hdr h;
		u8 body[sizeof(struct dtrbd_p_state)];
	} __packed buf;
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };
	struct kvec kv = { .iov_base = &buf, .iov_len = sizeof(buf.h) + blen };

	if (WARN_ON_ONCE(blen > sizeof(buf.body)))
		return -EINVAL;
	buf.h.magic = cpu_to_be32(DTRBD_WIRE_MAGIC);
	buf.h.type = cpu_to_be16(type);
	buf.h.reserved = 0;
	buf.h.length = cpu_to_be32(blen + payload);
	buf.h.seq = cpu_to_be32(dev->conn->tx_seq++);
	if (blen)
		memcpy(buf.body, body, blen);
	if (payload)
		msg.msg_flags |= MSG_MORE;
	iov_iter_kvec(&msg.msg_iter, ITER_SOURCE, &kv, 1, kv.iov_len);
	return dtrbd_send_msg(dev, &msg);
}

static int dtrbd_send_bvecs(struct dtrbd_device *dev, struct bio_vec *bv,
			    unsigned int n, size_t len, bool more)
{
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL | (more ? MSG_MORE : 0) };

	iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, bv, n, len);
	return dtrbd_send_msg(dev, &msg);
}

static int dtrbd_send_req(struct dtrbd_device *dev, struct dtrbd_req *req)
{
	struct dtrbd_p_data p = {
		.id = cpu_to_be64(req->id),
		.sector = cpu_to_be64(req->sector),
		.size = cpu_to_be32(req->size),
		.flags = cpu_to_be32(req->dp_flags),
	};
	struct bio_vec batch[16], bv;
	struct bvec_iter it;
	unsigned int n = 0;
	size_t len = 0, left = req->size;
	int ret;

	ret = dtrbd_send_packet(dev, P_DATA, &p, sizeof(p), req->size);
	if (ret)
		return ret;
	/*
	 * The master bio stays valid only until the peer has all of it: once
	 * its last byte is on the socket, the peer's ack may complete it
	 * (protocols B and C) and its owner free it. So the last batch is
	 * sent after the walk, which never advances past the last segment:
	 * nothing here touches the master after that send (our reference
	 * keeps @req, not the master).
	 */
	__bio_for_each_segment(bv, req->master, it, req->iter) {
		batch[n++] = bv;
		len += bv.bv_len;
		left -= bv.bv_len;
		if (!left)
			break;
		if (n == ARRAY_SIZE(batch)) {
			ret = dtrbd_send_bvecs(dev, batch, n, len, true);
			if (ret)
				return ret;
			n = 0;
			len = 0;
		}
	}
	if (n) {
		ret = dtrbd_send_bvecs(dev, batch, n, len, false);
		if (ret)
			return ret;
	}
	spin_lock_irq(&dev->lock);
	dev->stats.sent += req->size;
	spin_unlock_irq(&dev->lock);
	return 0;
}

static int dtrbd_send_rs_slot(struct dtrbd_device *dev,
			      struct dtrbd_rs_slot *slot, unsigned int idx)
{
	struct dtrbd_p_data p = {
		.id = cpu_to_be64(idx),
		.sector = cpu_to_be64(slot->offset >> SECTOR_SHIFT),
		.size = cpu_to_be32(slot->len),
	};
	int ret;

	if (slot->verify || slot->csum_req) {
		unsigned int blocks = slot->len / DTRBD_MD_BLOCK;
		struct dtrbd_p_csum c = {
			.id = cpu_to_be64(idx),
			.sector = cpu_to_be64(slot->offset >> SECTOR_SHIFT),
			.blocks = cpu_to_be32(blocks),
		};
		struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };
		struct kvec kv = { .iov_base = slot->csum,
				   .iov_len = blocks * sizeof(__be32) };

		ret = dtrbd_send_packet(dev, slot->verify ? P_OV_REQ :
					P_CSUM_REQ, &c, sizeof(c), kv.iov_len);
		if (ret)
			return ret;
		iov_iter_kvec(&msg.msg_iter, ITER_SOURCE, &kv, 1, kv.iov_len);
		return dtrbd_send_msg(dev, &msg);
	}
	ret = dtrbd_send_packet(dev, P_RS_DATA, &p, sizeof(p), slot->len);
	if (!ret)
		ret = dtrbd_send_bvecs(dev, slot->bvecs + slot->first_page,
				       DIV_ROUND_UP(slot->len, PAGE_SIZE),
				       slot->len, false);
	if (!ret) {
		spin_lock_irq(&dev->lock);
		dev->stats.sent += slot->len;
		dev->stats.rs_sent += slot->len;
		spin_unlock_irq(&dev->lock);
	}
	return ret;
}

/* One page of our bitmap as a P_BITMAP slice. */
static int dtrbd_send_bm_page(struct dtrbd_device *dev, u64 pg)
{
	u64 words_total = DIV_ROUND_UP(dev->bm_bits, 64);
	unsigned int words = min_t(u64, DTRBD_BM_WORDS_MAX,
				   words_total - pg * DTRBD_BM_WORDS_MAX);
	bool last = pg + 1 >= dev->bm_npages;
	struct dtrbd_p_bitmap b = {
		.offset = cpu_to_be64(pg * DTRBD_BM_WORDS_MAX),
		.words = cpu_to_be32(words),
		.flags = cpu_to_be32(last ? DTRBD_BM_LAST : 0),
	};
	struct bio_vec bv;
	int ret;

	BUILD_BUG_ON(DTRBD_BM_WORDS_MAX * 8 != PAGE_SIZE);
	ret = dtrbd_send_packet(dev, P_BITMAP, &b, sizeof(b), words * 8);
	if (ret)
		return ret;
	/* bits may change while in flight: the peer ORs, so either is fine */
	bvec_set_page(&bv, dev->bm_pages[pg], words * 8, 0);
	return dtrbd_send_bvecs(dev, &bv, 1, words * 8, false);
}

static int dtrbd_send_ov_reply(struct dtrbd_device *dev,
			       struct dtrbd_ov_reply *r)
{
	struct dtrbd_p_csum c = {
		.id = cpu_to_be64(r->id),
		.sector = cpu_to_be64(r->sector),
		.blocks = cpu_to_be32(r->blocks),
	};
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };
	struct kvec kv = { .iov_base = r->diff, .iov_len = r->blocks };
	int ret;

	ret = dtrbd_send_packet(dev, r->type, &c, sizeof(c), r->blocks);
	if (ret)
		return ret;
	iov_iter_kvec(&msg.msg_iter, ITER_SOURCE, &kv, 1, kv.iov_len);
	return dtrbd_send_msg(dev, &msg);
}

static int dtrbd_send_read_reply(struct dtrbd_device *dev,
				 struct dtrbd_peer_req *preq)
{
	unsigned int payload = preq->error ? 0 : preq->size;
	struct dtrbd_p_ack a = {
		.id = cpu_to_be64(preq->id),
		.sector = cpu_to_be64(preq->sector),
		.size = cpu_to_be32(preq->size),
		.status = cpu_to_be32(preq->error),
	};
	int ret;

	ret = dtrbd_send_packet(dev, P_READ_REPLY, &a, sizeof(a), payload);
	if (ret || !payload)
		return ret;
	ret = dtrbd_send_bvecs(dev, preq->bio.bi_io_vec, preq->bio.bi_vcnt,
			       payload, false);
	if (!ret) {
		spin_lock_irq(&dev->lock);
		dev->stats.sent += payload;
		spin_unlock_irq(&dev->lock);
	}
	return ret;
}

static int dtrbd_send_ack(struct dtrbd_device *dev, u16 type, u64 id,
			  sector_t sector, unsigned int size, int error)
{
	struct dtrbd_p_ack a = {
		.id = cpu_to_be64(id),
		.sector = cpu_to_be64(sector),
		.size = cpu_to_be32(size),
		.status = cpu_to_be32(error),
	};

	return dtrbd_send_packet(dev, type, &a, sizeof(a), 0);
}

/* Under dev->lock: our state as the peer should see it. */
static void dtrbd_fill_state(struct dtrbd_device *dev, struct dtrbd_p_state *s)
{
	lockdep_assert_held(&dev->lock);
	memset(s, 0, sizeof(*s));
	s->role = dev->role;
	s->disk = dev->disk_state;
	s->sync = dev->sync;
	if (dev->flags & DTRBD_F_CRASHED_PRIMARY)
		s->flags |= DTRBD_SF_CRASHED_PRIMARY;
	if (dev->discard_my_data)
		s->flags |= DTRBD_SF_DISCARD_MY_DATA;
	if (dev->md_flags & DTRBD_MDF_FULL_SYNC)
		s->flags |= DTRBD_SF_FULL_SYNC;
	s->after_sb = dev->after_sb;
	s->oos_blocks = cpu_to_be64(dev->bm_set);
	s->size_bytes = cpu_to_be64(dev->size);
	s->current_uuid = cpu_to_be64(dev->current_uuid);
	s->bitmap_uuid = cpu_to_be64(dev->bitmap_uuid);
	s->history_uuid[0] = cpu_to_be64(dev->history_uuid[0]);
	s->history_uuid[1] = cpu_to_be64(dev->history_uuid[1]);
}

static bool dtrbd_sender_has_work(struct dtrbd_device *dev)
{
	return dev->conn->send_limits || dev->send_state || dev->send_sync_done ||
	       dev->send_promote_req || dev->send_promote_reply >= 0 ||
	       (dev->conn->bm_sending && dev->conn->bm_tx_page < dev->bm_npages) ||
	       dev->conn->ov_head != dev->conn->ov_tail || dev->send_uuid_sync ||
	       dev->send_invalidate ||
	       dev->conn->recv_ack_head != dev->conn->recv_ack_tail ||
	       !list_empty(&dev->ack_q) || !list_empty(&dev->send_q) ||
	       !list_empty(&dev->conn->rs_send_q);
}

/*
 * Send one item of pending work, most latency-critical first: control
 * packets, then acks (the peer's writes wait for them), then data.
 * Returns 1 if it sent something, 0 if idle, or a negative errno.
 */
static int dtrbd_send_one(struct dtrbd_device *dev)
{
	struct dtrbd_peer_req *preq;
	struct dtrbd_rs_slot *slot;
	struct dtrbd_req *req;
	union {
		struct dtrbd_p_state st;
		struct dtrbd_p_sync_done sd;
		struct dtrbd_p_promote_reply pr;
		struct dtrbd_recv_ack ra;
		struct dtrbd_p_uuid_sync us;
		struct dtrbd_p_barrier ba;
		struct dtrbd_p_limits li;
		u64 pg;
	} u;
	int ret;

	spin_lock_irq(&dev->lock);
	/* FEAT_LIMITS: our block sizes go before our first state */
	if (dev->conn->send_limits) {
		struct dtrbd_limits l;

		dev->conn->send_limits = false;
		spin_unlock_irq(&dev->lock);
		dtrbd_queue_limits(dev, &l);
		memset(&u.li, 0, sizeof(u.li));
		u.li.logical_block_size = cpu_to_be32(l.lbs);
		u.li.physical_block_size = cpu_to_be32(l.pbs);
		u.li.max_bio_size = cpu_to_be32(l.max_bio);
		return dtrbd_send_packet(dev, P_LIMITS, &u.li, sizeof(u.li),
					 0) ?: 1;
	}
	/* before our state: the peer must adopt it before it sees us UpToDate */
	if (dev->send_uuid_sync) {
		dev->send_uuid_sync = false;
		u.us.current_uuid = cpu_to_be64(dev->current_uuid);
		spin_unlock_irq(&dev->lock);
		return dtrbd_send_packet(dev, P_UUID_SYNC, &u.us, sizeof(u.us),
					 0) ?: 1;
	}
	if (dev->send_state) {
		dev->send_state = false;
		dtrbd_fill_state(dev, &u.st);
		spin_unlock_irq(&dev->lock);
		ret = dtrbd_send_packet(dev, P_STATE, &u.st, sizeof(u.st), 0);
		if (!ret && !READ_ONCE(dev->conn->state_sent)) {
			WRITE_ONCE(dev->conn->state_sent, true);
			wake_up_all(&dev->state_wq);
		}
		return ret ?: 1;
	}
	if (dev->send_invalidate) {
		dev->send_invalidate = false;
		spin_unlock_irq(&dev->lock);
		return dtrbd_send_packet(dev, P_INVALIDATE, NULL, 0, 0) ?: 1;
	}
	if (dev->conn->bm_sending && dev->conn->bm_tx_page < dev->bm_npages) {
		u.pg = dev->conn->bm_tx_page++;
		/* the receiving side ends independently (dtrbd_recv_bitmap) */
		if (dev->conn->bm_tx_page == dev->bm_npages)
			dev->conn->bm_sending = false;
		spin_unlock_irq(&dev->lock);
		return dtrbd_send_bm_page(dev, u.pg) ?: 1;
	}
	if (dev->send_promote_req) {
		dev->send_promote_req = false;
		spin_unlock_irq(&dev->lock);
		return dtrbd_send_packet(dev, P_PROMOTE_REQ, NULL, 0, 0) ?: 1;
	}
	if (dev->send_promote_reply >= 0) {
		u.pr.granted = cpu_to_be32(dev->send_promote_reply ==
					   DTRBD_PR_OK);
		u.pr.reason = cpu_to_be32(dev->send_promote_reply);
		dev->send_promote_reply = -1;
		spin_unlock_irq(&dev->lock);
		return dtrbd_send_packet(dev, P_PROMOTE_REPLY, &u.pr,
					 sizeof(u.pr), 0) ?: 1;
	}
	if (dev->send_sync_done) {
		dev->send_sync_done = false;
		u.sd.current_uuid = cpu_to_be64(dev->current_uuid);
		spin_unlock_irq(&dev->lock);
		return dtrbd_send_packet(dev, P_SYNC_DONE, &u.sd,
					 sizeof(u.sd), 0) ?: 1;
	}
	if (dev->conn->ov_head != dev->conn->ov_tail) {
		struct dtrbd_ov_reply *r = &dev->conn->ov_replies[dev->conn->ov_tail %
							    DTRBD_OV_REPLIES];

		spin_unlock_irq(&dev->lock);
		ret = dtrbd_send_ov_reply(dev, r);
		spin_lock_irq(&dev->lock);
		dev->conn->ov_tail++;
		spin_unlock_irq(&dev->lock);
		wake_up(&dev->peer_wq);
		return ret ?: 1;
	}
	if (dev->conn->recv_ack_head != dev->conn->recv_ack_tail) {
		u.ra = dev->conn->recv_acks[dev->conn->recv_ack_tail % DTRBD_MAX_PEER_REQS];
		dev->conn->recv_ack_tail++;
		spin_unlock_irq(&dev->lock);
		wake_up(&dev->peer_wq);
		return dtrbd_send_ack(dev, P_RECV_ACK, u.ra.id, u.ra.sector,
				      u.ra.size, 0) ?: 1;
	}
	preq = list_first_entry_or_null(&dev->ack_q, struct dtrbd_peer_req,
					list);
	if (preq) {
		list_del(&preq->list);
		spin_unlock_irq(&dev->lock);
		if (preq->ack_type == P_READ_REPLY)
			ret = dtrbd_send_read_reply(dev, preq);
		else
			ret = dtrbd_send_ack(dev, preq->ack_type, preq->id,
					     preq->sector, preq->size,
					     preq->error);
		dtrbd_preq_free(preq);
		return ret ?: 1;
	}
	req = list_first_entry_or_null(&dev->send_q, struct dtrbd_req, send);
	if (req && test_bit(DTRBD_RQ_PEER_READ, &req->flags)) {
		struct dtrbd_p_data p = {
			.id = cpu_to_be64(req->id),
			.sector = cpu_to_be64(req->sector),
			.size = cpu_to_be32(req->size),
		};

		list_del_init(&req->send);
		clear_bit(DTRBD_RQ_QUEUED, &req->flags);
		spin_unlock_irq(&dev->lock);
		return dtrbd_send_packet(dev, P_READ_REQ, &p, sizeof(p), 0) ?: 1;
	}
	if (req && dev->epoch_closed) {
		/*
		 * Protocols A/B: a write completed before the peer wrote it;
		 * everything sent so far must be on the peer's disk before
		 * anything that may depend on it.
		 */
		dev->epoch_closed = false;
		u.ba.epoch = cpu_to_be32(dev->tx_epoch++);
		u.ba.reserved = 0;
		spin_unlock_irq(&dev->lock);
		return dtrbd_send_packet(dev, P_BARRIER, &u.ba, sizeof(u.ba),
					 0) ?: 1;
	}
	if (req) {
		list_del_init(&req->send);
		clear_bit(DTRBD_RQ_QUEUED, &req->flags);
		/* acks may come before we return: keep req until then */
		atomic_inc(&req->refs);
		spin_unlock_irq(&dev->lock);
		ret = dtrbd_send_req(dev, req);
		/* protocol A: handed to the socket is all we wait for */
		if (!ret)
			dtrbd_req_sent(dev, req);
		dtrbd_req_unref(req);
		return ret ?: 1;
	}
	slot = list_first_entry_or_null(&dev->conn->rs_send_q, struct dtrbd_rs_slot,
					list);
	if (slot) {
		list_del(&slot->list);
		slot->queued = false;
		spin_unlock_irq(&dev->lock);
		return dtrbd_send_rs_slot(dev, slot, slot - dev->conn->rs_slots) ?: 1;
	}
	spin_unlock_irq(&dev->lock);
	return 0;
}

int dtrbd_sender(void *arg)
{
	struct dtrbd_device *dev = arg;
	unsigned long ping = msecs_to_jiffies(dev->conn->ping_ms);
	unsigned long last_tx = jiffies;
	unsigned int noio = memalloc_noio_save();
	long idle;
	int ret;

	while (!kthread_should_stop()) {
		ret = dtrbd_send_one(dev);
		if (ret > 0) {
			last_tx = jiffies;
			continue;
		}
		if (!ret && time_after_eq(jiffies, last_tx + ping)) {
			/* keep-alive: the peer's receiver times out without */
			ret = dtrbd_send_packet(dev, P_PING, NULL, 0, 0);
			last_tx = jiffies;
		}
		if (ret == -EAGAIN) {
			/* sk_sndtimeo: the peer stopped reading (conn.c) */
			dtrbd_conn_fail(dev, "the peer accepted no data for %u ms (send timeout: ko-count %u x peer timeout %u ms)",
					jiffies_to_msecs(READ_ONCE(dev->conn->sock->sk->sk_sndtimeo)),
					READ_ONCE(dev->ko_count), dev->timeout_ms);
			break;
		}
		if (ret < 0) {
			dtrbd_conn_fail(dev, "sending to the peer failed (error %d)",
					ret);
			break;
		}
		idle = (long)(last_tx + ping - jiffies);
		wait_event_interruptible_timeout(dev->sender_wq,
			kthread_should_stop() ||
			READ_ONCE(dev->cstate) == DTRBD_CONN_DISCONNECTING ||
			dtrbd_sender_has_work(dev),
			max(idle, 1L));
		if (READ_ONCE(dev->cstate) == DTRBD_CONN_DISCONNECTING)
			break;
	}
	memalloc_noio_restore(noio);
	dtrbd_wait_for_stop();
	return 0;
}
