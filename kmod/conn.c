// SPDX-License-Identifier: GPL-2.0
/*
 * dtrbd: the connection to the peer.
 *
 * dtrbdctl connects and handshakes the TCP socket, then hands it over
 * (DTRBD_CMD_CONNECT). From then on two threads own it: the receiver reads
 * packets and acts on them, the sender writes everything this side owes the
 * peer (state, data, acks, resync chunks, keep-alives). Nothing else writes
 * to the socket, so packets never interleave and the receiver never blocks
 * on a full send buffer.
 *
 * Any failure (socket error, protocol violation, peer silent for longer
 * than timeout_ms) goes through dtrbd_conn_fail(): the state becomes
 * DISCONNECTING, the socket is shut down (waking both threads), and the
 * teardown work stops the threads, completes every write that waited for
 * the peer, rotates the data generation on a Primary, and returns to
 * STANDALONE. No I/O waits for a peer that is gone for longer than that.
 */
#define pr_fmt(fmt) "dtrbd: " fmt

#include <linux/kthread.h>
#include <linux/sched/mm.h>
#include <linux/file.h>
#include <linux/uio.h>
#include <net/sock.h>
#include <net/tcp.h>
#include <net/genetlink.h>

#include "dtrbd_int.h"

/* Threads never exit on their own: they wait here for kthread_stop(). */
void dtrbd_wait_for_stop(void)
{
	set_current_state(TASK_INTERRUPTIBLE);
	while (!kthread_should_stop()) {
		schedule();
		set_current_state(TASK_INTERRUPTIBLE);
	}
	__set_current_state(TASK_RUNNING);
}

/* ---- sending ----------------------------------------------------------- */

static int dtrbd_send_msg(struct dtrbd_device *dev, struct msghdr *msg)
{
	int ret;

	while (msg_data_left(msg)) {
		ret = sock_sendmsg(dev->sock, msg);
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
	buf.h.seq = cpu_to_be32(dev->tx_seq++);
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
	/* the master's pages stay valid until the peer part is done */
	__bio_for_each_segment(bv, req->master, it, req->iter) {
		batch[n++] = bv;
		len += bv.bv_len;
		left -= bv.bv_len;
		if (n == ARRAY_SIZE(batch) || !left) {
			ret = dtrbd_send_bvecs(dev, batch, n, len, left);
			if (ret)
				return ret;
			n = 0;
			len = 0;
		}
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

/* A peer request is done with: its pages (reads keep them) and the bio. */
static void dtrbd_preq_free(struct dtrbd_peer_req *preq)
{
	struct bvec_iter_all it;
	struct bio_vec *bv;

	if (preq->ack_type == P_READ_REPLY)
		bio_for_each_segment_all(bv, &preq->bio, it)
			__free_page(bv->bv_page);
	bio_put(&preq->bio);
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
	return dev->send_state || dev->send_sync_done ||
	       dev->send_promote_req || dev->send_promote_reply >= 0 ||
	       (dev->bm_sending && dev->bm_tx_page < dev->bm_npages) ||
	       dev->ov_head != dev->ov_tail || dev->send_uuid_sync ||
	       dev->send_invalidate ||
	       dev->recv_ack_head != dev->recv_ack_tail ||
	       !list_empty(&dev->ack_q) || !list_empty(&dev->send_q) ||
	       !list_empty(&dev->rs_send_q);
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
		u64 pg;
	} u;
	int ret;

	spin_lock_irq(&dev->lock);
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
		if (!ret && !READ_ONCE(dev->state_sent)) {
			WRITE_ONCE(dev->state_sent, true);
			wake_up_all(&dev->state_wq);
		}
		return ret ?: 1;
	}
	if (dev->send_invalidate) {
		dev->send_invalidate = false;
		spin_unlock_irq(&dev->lock);
		return dtrbd_send_packet(dev, P_INVALIDATE, NULL, 0, 0) ?: 1;
	}
	if (dev->bm_sending && dev->bm_tx_page < dev->bm_npages) {
		u.pg = dev->bm_tx_page++;
		/* the receiving side ends independently (dtrbd_recv_bitmap) */
		if (dev->bm_tx_page == dev->bm_npages)
			dev->bm_sending = false;
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
	if (dev->ov_head != dev->ov_tail) {
		struct dtrbd_ov_reply *r = &dev->ov_replies[dev->ov_tail %
							    DTRBD_OV_REPLIES];

		spin_unlock_irq(&dev->lock);
		ret = dtrbd_send_ov_reply(dev, r);
		spin_lock_irq(&dev->lock);
		dev->ov_tail++;
		spin_unlock_irq(&dev->lock);
		wake_up(&dev->peer_wq);
		return ret ?: 1;
	}
	if (dev->recv_ack_head != dev->recv_ack_tail) {
		u.ra = dev->recv_acks[dev->recv_ack_tail % DTRBD_MAX_PEER_REQS];
		dev->recv_ack_tail++;
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
	slot = list_first_entry_or_null(&dev->rs_send_q, struct dtrbd_rs_slot,
					list);
	if (slot) {
		list_del(&slot->list);
		slot->queued = false;
		spin_unlock_irq(&dev->lock);
		return dtrbd_send_rs_slot(dev, slot, slot - dev->rs_slots) ?: 1;
	}
	spin_unlock_irq(&dev->lock);
	return 0;
}

static int dtrbd_sender(void *arg)
{
	struct dtrbd_device *dev = arg;
	unsigned long ping = msecs_to_jiffies(dev->ping_ms);
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

/* ---- receiving --------------------------------------------------------- */

static int dtrbd_recv_msg(struct dtrbd_device *dev, struct msghdr *msg)
{
	unsigned long timeout = msecs_to_jiffies(dev->timeout_ms);
	int ret;

	while (msg_data_left(msg)) {
		ret = sock_recvmsg(dev->sock, msg, MSG_WAITALL | MSG_NOSIGNAL);
		if (ret > 0) {
			dev->last_rx = jiffies;
			continue;
		}
		if (ret == 0)
			return -ECONNRESET;
		if (ret != -EAGAIN && ret != -EINTR && ret != -ERESTARTSYS)
			return ret;
		if (kthread_should_stop() ||
		    READ_ONCE(dev->cstate) == DTRBD_CONN_DISCONNECTING)
			return -ESHUTDOWN;
		if (time_after(jiffies, dev->last_rx + timeout))
			return -ETIMEDOUT;
	}
	return 0;
}

static int dtrbd_recv_buf(struct dtrbd_device *dev, void *buf, size_t len)
{
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };
	struct kvec kv = { .iov_base = buf, .iov_len = len };

	iov_iter_kvec(&msg.msg_iter, ITER_DEST, &kv, 1, len);
	return dtrbd_recv_msg(dev, &msg);
}

/* A packet body of exactly @size bytes; @length is what the header said. */
static int dtrbd_recv_body(struct dtrbd_device *dev, void *buf, size_t size,
			   u32 length)
{
	if (length != size)
		return -EBADMSG;
	return dtrbd_recv_buf(dev, buf, size);
}

static void dtrbd_peer_endio(struct bio *bio)
{
	struct dtrbd_peer_req *preq = container_of(bio, struct dtrbd_peer_req,
						   bio);
	struct dtrbd_device *dev = preq->dev;
	struct bvec_iter_all it;
	struct bio_vec *bv;
	unsigned long flags;

	preq->error = -blk_status_to_errno(bio->bi_status);
	if (preq->error)
		pr_err_ratelimited("%s: %s for the peer failed (%d) at sector %llu\n",
				   dtrbd_name(dev),
				   preq->ack_type == P_READ_REPLY ? "read" : "write",
				   -preq->error, (unsigned long long)preq->sector);
	/* a read's pages go to the peer first */
	if (preq->ack_type != P_READ_REPLY)
		bio_for_each_segment_all(bv, bio, it)
			__free_page(bv->bv_page);

	spin_lock_irqsave(&dev->lock, flags);
	/* our disk failed under a peer write: go diskless, tell the peer */
	if (preq->error && preq->ack_type != P_READ_REPLY)
		dtrbd_disk_failed(dev);
	if (preq->ack_type == P_RS_ACK && !preq->error) {
		/* a resync block landed: it is in sync here now */
		u64 first = ((u64)preq->sector << SECTOR_SHIFT) / DTRBD_MD_BLOCK;

		dtrbd_bm_clear(dev, first,
			       first + preq->size / DTRBD_MD_BLOCK - 1);
		if (dev->sync == DTRBD_SYNC_TARGET)
			dev->sync_done += preq->size;
	}
	if (preq->ack_type && dev->cstate == DTRBD_CONN_CONNECTED) {
		list_add_tail(&preq->list, &dev->ack_q);
		preq = NULL;
		wake_up(&dev->sender_wq);
	}
	dev->peer_inflight--;
	/* under the lock: the teardown waits for zero, then may free dev */
	wake_up(&dev->peer_wq);
	spin_unlock_irqrestore(&dev->lock, flags);
	if (preq && preq->ack_type == P_READ_REPLY)
		dtrbd_preq_free(preq);
	else if (preq)
		bio_put(&preq->bio);
}

static bool dtrbd_rx_stopping(struct dtrbd_device *dev)
{
	return kthread_should_stop() ||
	       READ_ONCE(dev->cstate) == DTRBD_CONN_DISCONNECTING;
}

static bool dtrbd_peer_room(struct dtrbd_device *dev)
{
	bool room;

	spin_lock_irq(&dev->lock);
	room = dev->peer_inflight < DTRBD_MAX_PEER_REQS &&
	       dev->recv_ack_head - dev->recv_ack_tail < DTRBD_MAX_PEER_REQS;
	spin_unlock_irq(&dev->lock);
	return room || dtrbd_rx_stopping(dev);
}

/* Every peer write submitted so far has completed (barriers, verify). */
static int dtrbd_peer_drain(struct dtrbd_device *dev)
{
	wait_event_interruptible(dev->peer_wq,
				 !READ_ONCE(dev->peer_inflight) ||
				 dtrbd_rx_stopping(dev));
	return dtrbd_rx_stopping(dev) ? -ESHUTDOWN : 0;
}

/* P_DATA or P_RS_DATA: receive the payload and write it locally. */
static int dtrbd_recv_write(struct dtrbd_device *dev, u16 type, u32 length)
{
	struct dtrbd_peer_req *preq;
	struct dtrbd_p_data p;
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };
	unsigned int size, flags, nr, i;
	blk_opf_t opf = REQ_OP_WRITE;
	struct bio *bio;
	sector_t sector;
	int ret;

	if (length < sizeof(p))
		return -EBADMSG;
	ret = dtrbd_recv_buf(dev, &p, sizeof(p));
	if (ret)
		return ret;
	size = be32_to_cpu(p.size);
	sector = be64_to_cpu(p.sector);
	flags = be32_to_cpu(p.flags);
	if (length != sizeof(p) + size || size > DTRBD_MAX_PAYLOAD ||
	    size & (SECTOR_SIZE - 1) || flags & ~DTRBD_DP_KNOWN ||
	    sector > dev->size >> SECTOR_SHIFT ||
	    size > dev->size - (sector << SECTOR_SHIFT) ||
	    (type == P_RS_DATA && ((sector << SECTOR_SHIFT) % DTRBD_MD_BLOCK ||
				   size % DTRBD_MD_BLOCK || !size))) {
		dtrbd_err(dev, "peer sent a bad write: sector %llu size %u flags %#x\n",
			  (unsigned long long)sector, size, flags);
		return -EBADMSG;
	}
	if (READ_ONCE(dev->role) == DTRBD_ROLE_PRIMARY) {
		dtrbd_err(dev, "peer sent %s data but we are Primary\n",
			  type == P_DATA ? "application" : "resync");
		return -EPROTO;
	}

	/* bound the memory the peer can make us hold */
	wait_event_interruptible(dev->peer_wq, dtrbd_peer_room(dev));
	if (dtrbd_rx_stopping(dev))
		return -ESHUTDOWN;

	if (flags & DTRBD_DP_FLUSH)
		opf |= REQ_PREFLUSH;
	if (flags & DTRBD_DP_FUA)
		opf |= REQ_FUA;
	if (flags & DTRBD_DP_SYNC)
		opf |= REQ_SYNC;
	nr = DIV_ROUND_UP(size, PAGE_SIZE);
	bio = bio_alloc_bioset(dev->bdev, nr, opf, GFP_NOIO, &dtrbd_peer_bs);
	preq = container_of(bio, struct dtrbd_peer_req, bio);
	preq->dev = dev;
	preq->id = be64_to_cpu(p.id);
	preq->sector = sector;
	preq->size = size;
	preq->error = 0;
	bio->bi_iter.bi_sector = sector;
	bio->bi_end_io = dtrbd_peer_endio;
	for (i = 0; i < nr; i++) {
		struct page *page = alloc_page(GFP_NOIO);

		if (!page) {
			ret = -ENOMEM;
			goto out_free;
		}
		__bio_add_page(bio, page, min_t(unsigned int, PAGE_SIZE,
						size - i * PAGE_SIZE), 0);
	}
	if (size) {
		iov_iter_bvec(&msg.msg_iter, ITER_DEST, bio->bi_io_vec,
			      bio->bi_vcnt, size);
		ret = dtrbd_recv_msg(dev, &msg);
		if (ret)
			goto out_free;
	}

	/* every write is acked once written: the sender's bitmap needs it */
	preq->ack_type = type == P_RS_DATA ? P_RS_ACK : P_WRITE_ACK;

	spin_lock_irq(&dev->lock);
	dev->stats.received += size;
	if (type == P_RS_DATA)
		dev->stats.rs_received += size;
	if (type == P_DATA && (flags & DTRBD_DP_ACK_RECV)) {
		struct dtrbd_recv_ack *ra;

		ra = &dev->recv_acks[dev->recv_ack_head % DTRBD_MAX_PEER_REQS];
		ra->id = preq->id;
		ra->sector = sector;
		ra->size = size;
		dev->recv_ack_head++;
		wake_up(&dev->sender_wq);
	}
	dev->peer_inflight++;
	spin_unlock_irq(&dev->lock);
	submit_bio_noacct(bio);
	return 0;

out_free:
	{
		struct bvec_iter_all it;
		struct bio_vec *bv;

		bio_for_each_segment_all(bv, bio, it)
			__free_page(bv->bv_page);
	}
	bio_put(bio);
	return ret;
}

/* P_READ_REQ: the peer is diskless and reads through us. */
static int dtrbd_recv_read_req(struct dtrbd_device *dev, u32 length)
{
	struct dtrbd_peer_req *preq;
	struct dtrbd_p_data p;
	unsigned int size, nr, i;
	struct bio *bio;
	sector_t sector;
	int ret;

	ret = dtrbd_recv_body(dev, &p, sizeof(p), length);
	if (ret)
		return ret;
	size = be32_to_cpu(p.size);
	sector = be64_to_cpu(p.sector);
	if (!size || size > DTRBD_MAX_PAYLOAD || size & (SECTOR_SIZE - 1) ||
	    sector > dev->size >> SECTOR_SHIFT ||
	    size > dev->size - (sector << SECTOR_SHIFT))
		return -EBADMSG;
	wait_event_interruptible(dev->peer_wq, dtrbd_peer_room(dev));
	if (dtrbd_rx_stopping(dev))
		return -ESHUTDOWN;
	nr = DIV_ROUND_UP(size, PAGE_SIZE);
	bio = bio_alloc_bioset(dev->bdev, nr, REQ_OP_READ, GFP_NOIO,
			       &dtrbd_peer_bs);
	preq = container_of(bio, struct dtrbd_peer_req, bio);
	preq->dev = dev;
	preq->id = be64_to_cpu(p.id);
	preq->sector = sector;
	preq->size = size;
	preq->error = 0;
	preq->ack_type = P_READ_REPLY;
	bio->bi_iter.bi_sector = sector;
	bio->bi_end_io = dtrbd_peer_endio;
	for (i = 0; i < nr; i++) {
		struct page *page = alloc_page(GFP_NOIO);

		if (!page) {
			dtrbd_preq_free(preq);
			return -ENOMEM;
		}
		__bio_add_page(bio, page, min_t(unsigned int, PAGE_SIZE,
						size - i * PAGE_SIZE), 0);
	}
	spin_lock_irq(&dev->lock);
	dev->peer_inflight++;
	spin_unlock_irq(&dev->lock);
	if (READ_ONCE(dev->disk_state) != DTRBD_DISK_UPTODATE) {
		bio->bi_status = BLK_STS_IOERR;	/* nothing valid to read */
		bio_endio(bio);
	} else {
		submit_bio_noacct(bio);
	}
	return 0;
}

/* P_READ_REPLY: the data of one of our reads, straight into its bio. */
static int dtrbd_recv_read_reply(struct dtrbd_device *dev, u32 length)
{
	struct dtrbd_req *req;
	struct dtrbd_p_ack a;
	struct bvec_iter it;
	struct bio_vec bv;
	unsigned int size;
	int ret, status;

	if (length < sizeof(a))
		return -EBADMSG;
	ret = dtrbd_recv_buf(dev, &a, sizeof(a));
	if (ret)
		return ret;
	status = be32_to_cpu(a.status);
	size = be32_to_cpu(a.size);
	req = dtrbd_req_take_read(dev, be64_to_cpu(a.id));
	if (!req || req->size != size ||
	    length != sizeof(a) + (status ? 0 : size)) {
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
				   dtrbd_name(dev), be64_to_cpu(a.sector), status);
	}
	dtrbd_req_read_done(req, status);
	return 0;
}

/*
 * The peer lost its disk: from now on we hold data it lacks. A new
 * generation, and every block marked (we do not know which writes its
 * disk missed before it failed), so its disk is fully resynced if it
 * ever comes back.
 */
static void dtrbd_peer_disk_failed(struct dtrbd_device *dev)
{
	dtrbd_warn(dev, "the peer's disk failed; it now works through ours\n");
	dtrbd_bm_set_all(dev);
	mutex_lock(&dev->md_mutex);
	dtrbd_new_current_uuid(dev);
	mutex_unlock(&dev->md_mutex);
	if (dtrbd_bm_write(dev, false) || dtrbd_md_write(dev))
		dtrbd_err(dev, "could not record that the peer's disk failed\n");
}

#define DTRBD_SB_REASON \
	"split brain: both sides changed the data since they were last connected, and nothing was merged. " \
	"On the side whose changes are to be thrown away run 'dtrbdctl secondary %u' and 'dtrbdctl connect %u ... --discard-my-data', " \
	"and the usual connect on the other side"
#define DTRBD_UNRELATED_REASON \
	"the peer's data has no history in common with ours (a different volume?); " \
	"on the side to be overwritten run 'dtrbdctl connect %u ... --discard-my-data' (a full resync follows)"

/*
 * Under dev->lock: claim the resync direction @dec (so that only one
 * caller starts it) and return it, or DTRBD_DEC_NONE.
 */
static enum dtrbd_sync_decision dtrbd_claim_sync(struct dtrbd_device *dev,
						 enum dtrbd_sync_decision dec)
{
	if (dev->sync != DTRBD_SYNC_NONE)
		return DTRBD_DEC_NONE;
	if (dtrbd_dec_is_source(dec))
		dev->sync = DTRBD_SYNC_SOURCE;
	else if (dtrbd_dec_is_target(dec))
		dev->sync = DTRBD_SYNC_TARGET;
	else
		return DTRBD_DEC_NONE;
	dev->sync_kind = dtrbd_dec_is_full(dec) ? DTRBD_SK_FULL :
						   DTRBD_SK_BITMAP;
	dev->sync_total = 0;
	dev->sync_done = 0;
	return dec;
}

/*
 * Under dev->lock: does a resync have to start now that a state changed
 * while connected (a forced promotion, an invalidate)? Always a full one.
 */
static enum dtrbd_sync_decision dtrbd_sync_needed(struct dtrbd_device *dev)
{
	if (dev->disk_state == DTRBD_DISK_UPTODATE &&
	    dev->peer_disk == DTRBD_DISK_INCONSISTENT)
		return dtrbd_claim_sync(dev, DTRBD_DEC_SOURCE_FULL);
	if (dev->disk_state == DTRBD_DISK_INCONSISTENT &&
	    dev->peer_disk == DTRBD_DISK_UPTODATE)
		return dtrbd_claim_sync(dev, DTRBD_DEC_TARGET_FULL);
	return DTRBD_DEC_NONE;
}

/*
 * Start the resync claimed by dtrbd_claim_sync(), once both bitmaps are
 * merged (or, for a full one, at once). Called by the receiver, or by a
 * state change holding dev->state_mutex; the teardown stops the receiver,
 * then takes state_mutex before it looks at dev->resyncer, so it never
 * misses a resyncer started here.
 */
static int dtrbd_start_sync(struct dtrbd_device *dev,
			    enum dtrbd_sync_decision dec)
{
	int ret;

	if (!dtrbd_dec_is_source(dec) && !dtrbd_dec_is_target(dec))
		return 0;
	if (dtrbd_dec_is_full(dec))
		dtrbd_bm_set_all(dev);
	spin_lock_irq(&dev->lock);
	dev->sync_total = dev->bm_set * DTRBD_MD_BLOCK;
	dev->sync_done = 0;
	dev->rate_stamp = jiffies;
	dev->rate_stamp_done = 0;
	dev->sync_rate = 0;
	spin_unlock_irq(&dev->lock);

	if (dtrbd_dec_is_target(dec)) {
		/* must be on disk before the first resync block lands */
		ret = dtrbd_bm_write(dev, false);
		if (ret)
			return ret;
		mutex_lock(&dev->md_mutex);
		dev->md_flags &= ~DTRBD_MDF_CONSISTENT;
		if (dtrbd_dec_is_full(dec))
			dev->md_flags |= DTRBD_MDF_FULL_SYNC;
		mutex_unlock(&dev->md_mutex);
		ret = dtrbd_md_write(dev);
		if (ret)
			return ret;
		spin_lock_irq(&dev->lock);
		dev->disk_state = DTRBD_DISK_INCONSISTENT;
		dev->send_state = true;
		spin_unlock_irq(&dev->lock);
		wake_up(&dev->sender_wq);
		dtrbd_info(dev, "resync started as target (%s), %llu KiB\n",
			   dtrbd_dec_is_full(dec) ? "full" : "bitmap",
			   dev->sync_total >> 10);
		dtrbd_notify(dev, DTRBD_EV_SYNC_STARTED, "target");
		return 0;
	}

	spin_lock_irq(&dev->lock);
	dev->peer_disk = DTRBD_DISK_INCONSISTENT;
	spin_unlock_irq(&dev->lock);
	return dtrbd_start_resyncer(dev, dev->sync_kind);
}

int dtrbd_maybe_start_sync(struct dtrbd_device *dev)
{
	enum dtrbd_sync_decision dec;

	spin_lock_irq(&dev->lock);
	dec = dev->cstate == DTRBD_CONN_CONNECTED ? dtrbd_sync_needed(dev) :
						     DTRBD_DEC_NONE;
	spin_unlock_irq(&dev->lock);
	return dtrbd_start_sync(dev, dec);
}

/*
 * Our data is not to be trusted (dtrbdctl invalidate here, or
 * invalidate-remote on the peer): become the target of a full resync.
 */
int dtrbd_invalidate_local(struct dtrbd_device *dev)
{
	enum dtrbd_sync_decision dec;

	spin_lock_irq(&dev->lock);
	if (dev->role == DTRBD_ROLE_PRIMARY ||
	    dev->peer_disk != DTRBD_DISK_UPTODATE ||
	    dev->cstate != DTRBD_CONN_CONNECTED) {
		spin_unlock_irq(&dev->lock);
		dtrbd_warn(dev, "invalidate refused: Primary, or the peer has no UpToDate data\n");
		return 0;
	}
	dec = dtrbd_claim_sync(dev, DTRBD_DEC_TARGET_FULL);
	spin_unlock_irq(&dev->lock);
	return dtrbd_start_sync(dev, dec);
}

static const char *dtrbd_dec_name(enum dtrbd_sync_decision d)
{
	static const char *const names[] = {
		[DTRBD_DEC_NONE] = "in sync",
		[DTRBD_DEC_SOURCE] = "bitmap resync source",
		[DTRBD_DEC_TARGET] = "bitmap resync target",
		[DTRBD_DEC_SOURCE_FULL] = "full resync source",
		[DTRBD_DEC_TARGET_FULL] = "full resync target",
		[DTRBD_DEC_BOTH_INCONSISTENT] = "both inconsistent",
		[DTRBD_DEC_SPLIT_BRAIN] = "split brain",
		[DTRBD_DEC_UNRELATED] = "unrelated data",
	};

	return d < ARRAY_SIZE(names) ? names[d] : "?";
}

static int dtrbd_recv_state(struct dtrbd_device *dev, u32 length)
{
	struct dtrbd_p_state p;
	struct dtrbd_gen me, peer;
	enum dtrbd_sync_decision dec;
	enum dtrbd_disk_state peer_was;
	bool first, bitmap;
	int ret;

	ret = dtrbd_recv_body(dev, &p, sizeof(p), length);
	if (ret)
		return ret;
	if (p.role < DTRBD_ROLE_SECONDARY || p.role > DTRBD_ROLE_PRIMARY ||
	    p.disk > DTRBD_DISK_UPTODATE || p.sync > DTRBD_SYNC_TARGET ||
	    p.flags & ~DTRBD_SF_KNOWN)
		return -EBADMSG;
	if (be64_to_cpu(p.size_bytes) != dev->size) {
		dtrbd_conn_fail(dev, "the peer's device has %llu bytes, ours %llu",
				be64_to_cpu(p.size_bytes), dev->size);
		return -EPROTO;
	}

	spin_lock_irq(&dev->lock);
	first = dev->cstate == DTRBD_CONN_CONNECTING;
	peer_was = dev->peer_disk;
	dev->peer_role = p.role;
	dev->peer_disk = p.disk;
	memset(&me, 0, sizeof(me));
	memset(&peer, 0, sizeof(peer));
	me.disk = dev->disk_state;
	me.role = dev->role;
	me.crashed_primary = !!(dev->flags & DTRBD_F_CRASHED_PRIMARY);
	me.discard_my_data = dev->discard_my_data;
	me.full_sync = !!(dev->md_flags & DTRBD_MDF_FULL_SYNC);
	me.after_sb = dev->after_sb;
	me.current_uuid = dev->current_uuid;
	me.bitmap_uuid = dev->bitmap_uuid;
	me.history_uuid[0] = dev->history_uuid[0];
	me.history_uuid[1] = dev->history_uuid[1];
	me.oos_blocks = dev->bm_set;
	peer.disk = p.disk;
	peer.role = p.role;
	peer.crashed_primary = !!(p.flags & DTRBD_SF_CRASHED_PRIMARY);
	peer.discard_my_data = !!(p.flags & DTRBD_SF_DISCARD_MY_DATA);
	peer.full_sync = !!(p.flags & DTRBD_SF_FULL_SYNC);
	peer.after_sb = p.after_sb;
	peer.current_uuid = be64_to_cpu(p.current_uuid);
	peer.bitmap_uuid = be64_to_cpu(p.bitmap_uuid);
	peer.history_uuid[0] = be64_to_cpu(p.history_uuid[0]);
	peer.history_uuid[1] = be64_to_cpu(p.history_uuid[1]);
	peer.oos_blocks = be64_to_cpu(p.oos_blocks);
	if (!first) {
		bool peer_failed = p.disk == DTRBD_DISK_DISKLESS &&
				   peer_was != DTRBD_DISK_DISKLESS &&
				   dev->disk_state == DTRBD_DISK_UPTODATE;

		if (dev->uuid_syncing && p.disk == DTRBD_DISK_UPTODATE)
			dev->uuid_syncing = false;
		dec = dev->uuid_syncing ? DTRBD_DEC_NONE : dtrbd_sync_needed(dev);
		spin_unlock_irq(&dev->lock);
		if (peer_failed)
			dtrbd_peer_disk_failed(dev);
		dtrbd_notify(dev, DTRBD_EV_PEER, NULL);
		return dtrbd_start_sync(dev, dec);
	}
	spin_unlock_irq(&dev->lock);

	dec = dtrbd_decide_sync(&me, &peer, dev->tiebreak);
	/*
	 * Before refusing, let our state reach the peer, so that it refuses
	 * for the same reason instead of seeing the connection just close.
	 */
	wait_event_interruptible_timeout(dev->state_wq,
					 READ_ONCE(dev->state_sent) ||
					 dtrbd_rx_stopping(dev),
					 msecs_to_jiffies(dev->timeout_ms));
	/* a split brain is the news even when both are Primary now */
	if (p.role == DTRBD_ROLE_PRIMARY && me.role == DTRBD_ROLE_PRIMARY &&
	    dec != DTRBD_DEC_SPLIT_BRAIN && dec != DTRBD_DEC_UNRELATED) {
		dtrbd_conn_fail(dev, "both sides are Primary; make one of them Secondary");
		return -EPROTO;
	}
	dtrbd_info(dev, "handshake: %s (ours %016llx/%016llx, peer's %016llx/%016llx)\n",
		   dtrbd_dec_name(dec), me.current_uuid, me.bitmap_uuid,
		   peer.current_uuid, peer.bitmap_uuid);
	switch (dec) {
	case DTRBD_DEC_SPLIT_BRAIN:
		spin_lock_irq(&dev->lock);
		dev->flags |= DTRBD_F_SPLIT_BRAIN;
		spin_unlock_irq(&dev->lock);
		dtrbd_conn_fail(dev, DTRBD_SB_REASON, dev->minor, dev->minor);
		dtrbd_notify(dev, DTRBD_EV_SPLIT_BRAIN, dev->reason);
		return -EPROTO;
	case DTRBD_DEC_UNRELATED:
		spin_lock_irq(&dev->lock);
		dev->flags |= DTRBD_F_SPLIT_BRAIN;
		spin_unlock_irq(&dev->lock);
		dtrbd_conn_fail(dev, DTRBD_UNRELATED_REASON, dev->minor);
		dtrbd_notify(dev, DTRBD_EV_SPLIT_BRAIN, dev->reason);
		return -EPROTO;
	case DTRBD_DEC_TARGET:
	case DTRBD_DEC_TARGET_FULL:
		if (READ_ONCE(dev->role) == DTRBD_ROLE_PRIMARY) {
			dtrbd_conn_fail(dev, dev->discard_my_data ?
					"--discard-my-data needs this side to be Secondary; run dtrbdctl secondary first" :
					"the peer has newer data but we are Primary; make this side Secondary so it can resync");
			return -EPROTO;
		}
		break;
	case DTRBD_DEC_SOURCE:
	case DTRBD_DEC_SOURCE_FULL:
		if (p.role == DTRBD_ROLE_PRIMARY) {
			dtrbd_conn_fail(dev, "we have newer data but the peer is Primary; make the peer Secondary so it can resync");
			return -EPROTO;
		}
		break;
	default:
		break;
	}

	bitmap = dec == DTRBD_DEC_SOURCE || dec == DTRBD_DEC_TARGET;
	spin_lock_irq(&dev->lock);
	dev->cstate = DTRBD_CONN_CONNECTED;
	dev->gen_pending = false;
	dev->flags &= ~DTRBD_F_SPLIT_BRAIN;
	dec = dtrbd_claim_sync(dev, dec);
	if (bitmap && dec != DTRBD_DEC_NONE) {
		/* exchange bitmaps first; the last slice starts the resync */
		dev->pending_dec = dec;
		dev->bm_xchg = DTRBD_BMX_RUNNING;
		dev->bm_sending = true;
		dev->bm_tx_page = 0;
		wake_up(&dev->sender_wq);
	}
	spin_unlock_irq(&dev->lock);
	wake_up_all(&dev->state_wq);
	dtrbd_info(dev, "connected to %s (%s), protocol %c\n", dev->peer_name,
		   dev->peer_addr, 'A' + dev->protocol - DTRBD_PROT_A);
	dtrbd_notify(dev, DTRBD_EV_CONNECTED, NULL);
	if (bitmap)
		return 0;
	return dtrbd_start_sync(dev, dec);
}

/* P_BITMAP: OR the peer's slice in; the last one starts the resync. */
static int dtrbd_recv_bitmap(struct dtrbd_device *dev, u32 length)
{
	u64 words_total = DIV_ROUND_UP(dev->bm_bits, 64), offset;
	struct dtrbd_p_bitmap b;
	enum dtrbd_sync_decision dec;
	unsigned int words, flags;
	int ret;

	if (length < sizeof(b))
		return -EBADMSG;
	ret = dtrbd_recv_buf(dev, &b, sizeof(b));
	if (ret)
		return ret;
	offset = be64_to_cpu(b.offset);
	words = be32_to_cpu(b.words);
	flags = be32_to_cpu(b.flags);
	if (length != sizeof(b) + words * 8 || words > DTRBD_BM_WORDS_MAX ||
	    offset % DTRBD_BM_WORDS_MAX || offset >= words_total ||
	    words > words_total - offset || flags & ~DTRBD_BM_LAST ||
	    READ_ONCE(dev->bm_xchg) != DTRBD_BMX_RUNNING)
		return -EBADMSG;
	ret = dtrbd_recv_buf(dev, page_address(dev->rx_page), words * 8);
	if (ret)
		return ret;
	spin_lock_irq(&dev->lock);
	dtrbd_bm_merge(dev, offset / DTRBD_BM_WORDS_MAX,
		       page_address(dev->rx_page), words);
	spin_unlock_irq(&dev->lock);
	if (!(flags & DTRBD_BM_LAST))
		return 0;

	spin_lock_irq(&dev->lock);
	dec = dev->pending_dec;
	dev->pending_dec = DTRBD_DEC_NONE;
	dev->bm_xchg = DTRBD_BMX_NONE;
	spin_unlock_irq(&dev->lock);
	return dtrbd_start_sync(dev, dec);
}

/* P_BARRIER: what came before is on disk before what comes after. */
static int dtrbd_recv_barrier(struct dtrbd_device *dev, u32 length)
{
	struct dtrbd_p_barrier b;
	int ret;

	ret = dtrbd_recv_body(dev, &b, sizeof(b), length);
	if (ret)
		return ret;
	return dtrbd_peer_drain(dev);
}

/*
 * P_OV_REQ (verify) and P_CSUM_REQ (checksum resync): compare the peer's
 * checksums with our blocks and reply which differ. For a checksum resync
 * the equal blocks are in sync here from now on.
 */
static int dtrbd_recv_ov_req(struct dtrbd_device *dev, u16 type, u32 length)
{
	struct dtrbd_ov_reply *r;
	struct dtrbd_p_csum c;
	__be32 *theirs;
	unsigned int blocks, i;
	sector_t sector;
	int ret;

	if (length < sizeof(c))
		return -EBADMSG;
	ret = dtrbd_recv_buf(dev, &c, sizeof(c));
	if (ret)
		return ret;
	blocks = be32_to_cpu(c.blocks);
	sector = be64_to_cpu(c.sector);
	if (!blocks || blocks > DTRBD_CSUM_BLOCKS_MAX ||
	    length != sizeof(c) + blocks * 4 ||
	    ((u64)sector << SECTOR_SHIFT) % DTRBD_MD_BLOCK ||
	    ((u64)sector << SECTOR_SHIFT) + (u64)blocks * DTRBD_MD_BLOCK > dev->size)
		return -EBADMSG;
	theirs = page_address(dev->rx_page);
	ret = dtrbd_recv_buf(dev, theirs, blocks * 4);
	if (ret)
		return ret;
	/* room in the reply ring; and our own writes must have landed */
	wait_event_interruptible(dev->peer_wq,
		READ_ONCE(dev->ov_head) - READ_ONCE(dev->ov_tail) < DTRBD_OV_REPLIES ||
		dtrbd_rx_stopping(dev));
	ret = dtrbd_peer_drain(dev);
	if (ret)
		return ret;
	ret = dtrbd_ov_read_csums(dev, sector, blocks, dev->ov_csum);
	if (ret) {
		dtrbd_err(dev, "verify: local read failed at sector %llu: %d\n",
			  (unsigned long long)sector, ret);
		return ret;
	}
	r = &dev->ov_replies[dev->ov_head % DTRBD_OV_REPLIES];
	r->type = type == P_OV_REQ ? P_OV_REPLY : P_RS_SAME;
	r->id = be64_to_cpu(c.id);
	r->sector = sector;
	r->blocks = blocks;
	for (i = 0; i < blocks; i++)
		r->diff[i] = theirs[i] != dev->ov_csum[i];
	spin_lock_irq(&dev->lock);
	if (type == P_CSUM_REQ) {
		u64 first = ((u64)sector << SECTOR_SHIFT) / DTRBD_MD_BLOCK;

		for (i = 0; i < blocks; i++) {
			if (r->diff[i])
				continue;
			dtrbd_bm_clear(dev, first + i, first + i);
			dev->stats.rs_same += DTRBD_MD_BLOCK;
			if (dev->sync == DTRBD_SYNC_TARGET)
				dev->sync_done += DTRBD_MD_BLOCK;
		}
	}
	dev->ov_head++;
	spin_unlock_irq(&dev->lock);
	wake_up(&dev->sender_wq);
	return 0;
}

/* P_OV_REPLY / P_RS_SAME: which blocks of our request differ. */
static int dtrbd_recv_ov_reply(struct dtrbd_device *dev, u16 type, u32 length)
{
	struct dtrbd_p_csum c;
	unsigned int blocks;
	int ret;

	if (length < sizeof(c))
		return -EBADMSG;
	ret = dtrbd_recv_buf(dev, &c, sizeof(c));
	if (ret)
		return ret;
	blocks = be32_to_cpu(c.blocks);
	if (!blocks || blocks > DTRBD_CSUM_BLOCKS_MAX ||
	    length != sizeof(c) + blocks)
		return -EBADMSG;
	ret = dtrbd_recv_buf(dev, page_address(dev->rx_page), blocks);
	if (ret)
		return ret;
	if (type == P_RS_SAME)
		return dtrbd_csum_reply(dev, be64_to_cpu(c.id),
					page_address(dev->rx_page), blocks);
	return dtrbd_ov_reply(dev, be64_to_cpu(c.id),
			      page_address(dev->rx_page), blocks);
}

/* P_UUID_SYNC: the peer says our data is identical; adopt its generation. */
static int dtrbd_recv_uuid_sync(struct dtrbd_device *dev, u32 length)
{
	struct dtrbd_p_uuid_sync u;
	int ret;

	ret = dtrbd_recv_body(dev, &u, sizeof(u), length);
	if (ret)
		return ret;
	if (READ_ONCE(dev->sync) != DTRBD_SYNC_NONE)
		return -EPROTO;
	return dtrbd_adopt_uuid(dev, be64_to_cpu(u.current_uuid), false);
}

static int dtrbd_recv_sync_done(struct dtrbd_device *dev, u32 length)
{
	struct dtrbd_p_sync_done p;
	int ret;

	ret = dtrbd_recv_body(dev, &p, sizeof(p), length);
	if (ret)
		return ret;
	/* a repair after verify resyncs an UpToDate peer: nothing to adopt */
	if (READ_ONCE(dev->sync) != DTRBD_SYNC_TARGET)
		return 0;
	/* every resync write was acked only after it was on disk */
	ret = dtrbd_peer_drain(dev);
	if (ret)
		return ret;
	spin_lock_irq(&dev->lock);
	dev->sync = DTRBD_SYNC_NONE;
	dev->sync_kind = DTRBD_SK_NONE;
	dev->sync_done = dev->sync_total;
	spin_unlock_irq(&dev->lock);
	/* we hold the source's data now: its generation, nothing out of sync */
	ret = dtrbd_adopt_uuid(dev, be64_to_cpu(p.current_uuid), false);
	if (ret)
		return ret;
	dtrbd_info(dev, "resync finished: UpToDate\n");
	dtrbd_notify(dev, DTRBD_EV_SYNC_FINISHED, NULL);
	return 0;
}

static int dtrbd_recv_ack(struct dtrbd_device *dev, u16 type, u32 length)
{
	struct dtrbd_p_ack a;
	u64 id;
	int ret, status;

	ret = dtrbd_recv_body(dev, &a, sizeof(a), length);
	if (ret)
		return ret;
	id = be64_to_cpu(a.id);
	status = be32_to_cpu(a.status);
	if (status)
		pr_err_ratelimited("%s: the peer failed to write sector %llu: error %d\n",
				   dtrbd_name(dev), be64_to_cpu(a.sector),
				   status);
	if (type == P_RS_ACK)
		return dtrbd_rs_ack(dev, id, status);
	if (dtrbd_req_ack(dev, type, id, status)) {
		dtrbd_err(dev, "peer acknowledged unknown write %llu (%s)\n", id,
			  type == P_RECV_ACK ? "received" : "written");
		return -EPROTO;
	}
	return 0;
}

static int dtrbd_recv_promote(struct dtrbd_device *dev, u16 type, u32 length)
{
	struct dtrbd_p_promote_reply r;
	int ret;

	if (type == P_PROMOTE_REQ) {
		if (length)
			return -EBADMSG;
		spin_lock_irq(&dev->lock);
		if (dev->role == DTRBD_ROLE_PRIMARY) {
			dev->send_promote_reply = DTRBD_PR_PEER_PRIMARY;
		} else if (dev->promoting && dev->tiebreak) {
			dev->send_promote_reply = DTRBD_PR_CONCURRENT;
		} else {
			/* a concurrent request of ours loses */
			if (dev->promoting)
				dev->promote_lost = true;
			dev->peer_role = DTRBD_ROLE_PRIMARY;
			dev->send_promote_reply = DTRBD_PR_OK;
		}
		spin_unlock_irq(&dev->lock);
		wake_up(&dev->sender_wq);
		return 0;
	}
	ret = dtrbd_recv_body(dev, &r, sizeof(r), length);
	if (ret)
		return ret;
	spin_lock_irq(&dev->lock);
	if (dev->promoting)
		dev->promote_result = be32_to_cpu(r.granted) ? DTRBD_PR_OK :
				      be32_to_cpu(r.reason) ?: DTRBD_PR_CONCURRENT;
	spin_unlock_irq(&dev->lock);
	wake_up_all(&dev->state_wq);
	return 0;
}

static int dtrbd_recv_one(struct dtrbd_device *dev)
{
	struct dtrbd_hdr h;
	u32 length;
	u16 type;
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
	/* nothing but our state exchange until both sides agree */
	if (READ_ONCE(dev->cstate) == DTRBD_CONN_CONNECTING &&
	    type != P_STATE && type != P_PING)
		return -EPROTO;

	switch (type) {
	case P_STATE:
		return dtrbd_recv_state(dev, length);
	case P_DATA:
	case P_RS_DATA:
		return dtrbd_recv_write(dev, type, length);
	case P_WRITE_ACK:
	case P_RECV_ACK:
	case P_RS_ACK:
		return dtrbd_recv_ack(dev, type, length);
	case P_SYNC_DONE:
		return dtrbd_recv_sync_done(dev, length);
	case P_PING:
		return length ? -EBADMSG : 0;
	case P_PROMOTE_REQ:
	case P_PROMOTE_REPLY:
		return dtrbd_recv_promote(dev, type, length);
	case P_BITMAP:
		return dtrbd_recv_bitmap(dev, length);
	case P_BARRIER:
		return dtrbd_recv_barrier(dev, length);
	case P_OV_REQ:
	case P_CSUM_REQ:
		if (type == P_CSUM_REQ &&
		    READ_ONCE(dev->role) == DTRBD_ROLE_PRIMARY)
			return -EPROTO;
		return dtrbd_recv_ov_req(dev, type, length);
	case P_OV_REPLY:
	case P_RS_SAME:
		return dtrbd_recv_ov_reply(dev, type, length);
	case P_UUID_SYNC:
		return dtrbd_recv_uuid_sync(dev, length);
	case P_INVALIDATE:
		if (length)
			return -EBADMSG;
		return dtrbd_invalidate_local(dev);
	case P_READ_REQ:
		return dtrbd_recv_read_req(dev, length);
	case P_READ_REPLY:
		return dtrbd_recv_read_reply(dev, length);
	default:
		dtrbd_err(dev, "unknown packet type %u\n", type);
		return -EPROTO;
	}
}

static int dtrbd_receiver(void *arg)
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

/* ---- connection life --------------------------------------------------- */

void dtrbd_conn_fail(struct dtrbd_device *dev, const char *fmt, ...)
{
	unsigned long flags;
	va_list args;

	spin_lock_irqsave(&dev->lock, flags);
	if (dev->cstate != DTRBD_CONN_CONNECTING &&
	    dev->cstate != DTRBD_CONN_CONNECTED) {
		spin_unlock_irqrestore(&dev->lock, flags);
		return;
	}
	dev->cstate = DTRBD_CONN_DISCONNECTING;
	va_start(args, fmt);
	vsnprintf(dev->reason, sizeof(dev->reason), fmt, args);
	va_end(args);
	spin_unlock_irqrestore(&dev->lock, flags);

	dtrbd_warn(dev, "connection lost: %s\n", dev->reason);
	/* wakes a thread blocked in recvmsg() or sendmsg() */
	kernel_sock_shutdown(dev->sock, SHUT_RDWR);
	wake_up_all(&dev->sender_wq);
	wake_up_all(&dev->state_wq);
	wake_up_all(&dev->rs_wq);
	wake_up_all(&dev->peer_wq);
	queue_work(dtrbd_wq, &dev->teardown_work);
}

void dtrbd_teardown(struct work_struct *work)
{
	struct dtrbd_device *dev = container_of(work, struct dtrbd_device,
						teardown_work);
	struct dtrbd_peer_req *preq, *ptmp;
	LIST_HEAD(acks);
	char reason[DTRBD_REASON_LEN];
	struct socket *sock;
	struct dtrbd_req *req;
	unsigned int i;
	bool was_primary, unconfirmed;

	/* receiver first: it is one of those that may start the resyncer */
	kthread_stop(dev->receiver);
	mutex_lock(&dev->state_mutex);
	if (dev->resyncer)
		kthread_stop(dev->resyncer);
	dev->resyncer = NULL;
	mutex_unlock(&dev->state_mutex);
	kthread_stop(dev->sender);
	dev->receiver = NULL;
	dev->sender = NULL;

	spin_lock_irq(&dev->lock);
	wait_event_lock_irq(dev->peer_wq, !dev->peer_inflight, dev->lock);
	list_splice_init(&dev->ack_q, &acks);
	dev->recv_ack_head = dev->recv_ack_tail = 0;
	dev->ov_head = dev->ov_tail = 0;
	INIT_LIST_HEAD(&dev->rs_send_q);
	dev->bm_xchg = DTRBD_BMX_NONE;
	dev->bm_sending = false;
	dev->pending_dec = DTRBD_DEC_NONE;
	spin_unlock_irq(&dev->lock);

	list_for_each_entry_safe(preq, ptmp, &acks, list)
		dtrbd_preq_free(preq);
	dtrbd_rs_free(dev);
	for (i = 0; i < ARRAY_SIZE(dev->ov_pages); i++) {
		if (dev->ov_pages[i])
			__free_page(dev->ov_pages[i]);
		dev->ov_pages[i] = NULL;
	}

	mutex_lock(&dev->state_mutex);
	was_primary = READ_ONCE(dev->role) == DTRBD_ROLE_PRIMARY;
	spin_lock_irq(&dev->lock);
	unconfirmed = false;
	list_for_each_entry(req, &dev->active_writes, active)
		if (test_bit(DTRBD_RQ_PEER, &req->flags) ||
		    test_bit(DTRBD_RQ_WACK, &req->flags))
			unconfirmed = true;
	/* without writes in flight, the next write starts the generation */
	dev->gen_pending = was_primary && !unconfirmed;
	spin_unlock_irq(&dev->lock);
	if (was_primary && unconfirmed) {
		/* writes are about to complete that the peer lacks */
		mutex_lock(&dev->md_mutex);
		dtrbd_new_current_uuid(dev);
		mutex_unlock(&dev->md_mutex);
		if (dtrbd_md_write(dev))
			dtrbd_err(dev, "could not record the new data generation\n");
	}
	/* writes the peer did not confirm complete locally, out of sync */
	dtrbd_req_conn_lost(dev);
	if (dtrbd_bm_write(dev, false))
		dtrbd_err(dev, "could not write the bitmap\n");
	spin_lock_irq(&dev->lock);
	memcpy(reason, dev->reason, sizeof(reason));
	sock = dev->sock;
	dev->sock = NULL;
	dev->cstate = DTRBD_CONN_STANDALONE;
	dev->peer_role = DTRBD_ROLE_UNKNOWN;
	dev->peer_disk = DTRBD_DISK_UNKNOWN;
	dev->sync = DTRBD_SYNC_NONE;
	dev->sync_kind = DTRBD_SK_NONE;
	dev->promoting = false;
	dev->send_state = false;
	dev->send_sync_done = false;
	dev->send_promote_req = false;
	dev->send_promote_reply = -1;
	dev->send_uuid_sync = false;
	dev->uuid_syncing = false;
	dev->send_invalidate = false;
	dev->discard_my_data = false;
	dev->epoch_closed = false;
	spin_unlock_irq(&dev->lock);
	wake_up_all(&dev->state_wq);
	mutex_unlock(&dev->state_mutex);

	if (dev->rx_page)
		__free_page(dev->rx_page);
	dev->rx_page = NULL;
	sockfd_put(sock);
	dtrbd_info(dev, "disconnected: %s\n", reason);
	dtrbd_notify(dev, DTRBD_EV_DISCONNECTED, reason);
	dtrbd_dev_put(dev);	/* the connection's reference */
}

void dtrbd_disconnect(struct dtrbd_device *dev)
{
	dtrbd_conn_fail(dev, "disconnected by the administrator");
	flush_work(&dev->teardown_work);
}

int dtrbd_connect(struct dtrbd_device *dev, struct socket *sock,
		  struct genl_info *info)
{
	struct netlink_ext_ack *extack = info->extack;
	struct nlattr **a = info->attrs;
	struct sock *sk = sock->sk;
	struct task_struct *rx, *tx;
	int ret;

	if (sk->sk_type != SOCK_STREAM || sk->sk_protocol != IPPROTO_TCP ||
	    (sk->sk_family != AF_INET && sk->sk_family != AF_INET6)) {
		NL_SET_ERR_MSG_ATTR(extack, a[DTRBD_A_SOCK_FD],
				    "the socket is not a TCP socket");
		return -EINVAL;
	}
	if (READ_ONCE(sk->sk_state) != TCP_ESTABLISHED) {
		NL_SET_ERR_MSG_ATTR(extack, a[DTRBD_A_SOCK_FD],
				    "the socket is not connected");
		return -ENOTCONN;
	}

	mutex_lock(&dev->state_mutex);
	spin_lock_irq(&dev->lock);
	if (dev->removing) {
		ret = -ENODEV;
		NL_SET_ERR_MSG(extack, "the device is being removed");
	} else if (dev->cstate != DTRBD_CONN_STANDALONE) {
		ret = -EISCONN;
		NL_SET_ERR_MSG(extack,
			       "the device is connected or connecting already; disconnect it first");
	} else {
		ret = 0;
	}
	spin_unlock_irq(&dev->lock);
	if (ret)
		goto out_unlock;

	dev->protocol = a[DTRBD_A_PROTOCOL] ?
			nla_get_u8(a[DTRBD_A_PROTOCOL]) : DTRBD_PROT_C;
	dev->ping_ms = a[DTRBD_A_PING_MS] ? nla_get_u32(a[DTRBD_A_PING_MS]) :
		       DTRBD_PING_MS_DEFAULT;
	dev->timeout_ms = a[DTRBD_A_TIMEOUT_MS] ?
			  nla_get_u32(a[DTRBD_A_TIMEOUT_MS]) :
			  DTRBD_TIMEOUT_MS_DEFAULT;
	if (dev->timeout_ms <= dev->ping_ms) {
		NL_SET_ERR_MSG_ATTR(extack, a[DTRBD_A_TIMEOUT_MS],
				    "the peer timeout must be longer than the ping interval");
		ret = -EINVAL;
		goto out_unlock;
	}
	dev->tiebreak = a[DTRBD_A_TIEBREAK] && nla_get_u8(a[DTRBD_A_TIEBREAK]);
	dev->proto_version = a[DTRBD_A_PROTO_VERSION] ?
			     nla_get_u32(a[DTRBD_A_PROTO_VERSION]) :
			     DTRBD_PROTO_MAX;
	if (dev->proto_version < DTRBD_PROTO_MIN ||
	    dev->proto_version > DTRBD_PROTO_MAX) {
		NL_SET_ERR_MSG_ATTR(extack, a[DTRBD_A_PROTO_VERSION],
				    "this module does not speak that protocol version");
		ret = -EPROTONOSUPPORT;
		goto out_unlock;
	}
	dev->features = a[DTRBD_A_FEATURES] ?
			nla_get_u64(a[DTRBD_A_FEATURES]) : 0;
	if (dev->features & ~DTRBD_FEATURES_KNOWN) {
		NL_SET_ERR_MSG_ATTR(extack, a[DTRBD_A_FEATURES],
				    "unknown protocol feature bits");
		ret = -EOPNOTSUPP;
		goto out_unlock;
	}
	dev->discard_my_data = nla_get_flag(a[DTRBD_A_DISCARD_MY_DATA]);
	if (dev->discard_my_data && READ_ONCE(dev->role) == DTRBD_ROLE_PRIMARY) {
		NL_SET_ERR_MSG_ATTR(extack, a[DTRBD_A_DISCARD_MY_DATA],
				    "--discard-my-data needs this side to be Secondary; run dtrbdctl secondary first");
		ret = -EINVAL;
		goto out_unlock;
	}
	dev->after_sb = a[DTRBD_A_AFTER_SB] ? nla_get_u8(a[DTRBD_A_AFTER_SB]) :
					       DTRBD_SB_DISCONNECT;
	dev->csum_resync = nla_get_flag(a[DTRBD_A_CSUM_RESYNC]);
	dev->resync_rate = a[DTRBD_A_RESYNC_RATE] ?
			   nla_get_u32(a[DTRBD_A_RESYNC_RATE]) : 0;
	dev->rx_page = alloc_page(GFP_KERNEL);
	if (!dev->rx_page) {
		ret = -ENOMEM;
		goto out_unlock;
	}
	strscpy(dev->peer_name, a[DTRBD_A_PEER_NAME] ?
		nla_data(a[DTRBD_A_PEER_NAME]) : "peer", sizeof(dev->peer_name));
	strscpy(dev->peer_addr, a[DTRBD_A_PEER_ADDR] ?
		nla_data(a[DTRBD_A_PEER_ADDR]) : "?", sizeof(dev->peer_addr));

	/* no reclaim recursion into our own device through the socket */
	sk->sk_allocation = GFP_NOIO;
	sk->sk_rcvtimeo = msecs_to_jiffies(dev->ping_ms);
	sk->sk_sndtimeo = MAX_SCHEDULE_TIMEOUT;
	tcp_sock_set_nodelay(sk);

	rx = kthread_create(dtrbd_receiver, dev, "dtrbd%u_rx", dev->minor);
	if (IS_ERR(rx)) {
		ret = PTR_ERR(rx);
		goto out_free_page;
	}
	tx = kthread_create(dtrbd_sender, dev, "dtrbd%u_tx", dev->minor);
	if (IS_ERR(tx)) {
		ret = PTR_ERR(tx);
		goto out_stop_rx;
	}

	kref_get(&dev->kref);	/* dropped at the end of the teardown */
	dev->sock = sock;
	dev->receiver = rx;
	dev->sender = tx;
	dev->resyncer = NULL;
	dev->tx_seq = 0;
	dev->last_rx = jiffies;
	spin_lock_irq(&dev->lock);
	dev->cstate = DTRBD_CONN_CONNECTING;
	dev->reason[0] = '\0';
	dev->peer_role = DTRBD_ROLE_UNKNOWN;
	dev->peer_disk = DTRBD_DISK_UNKNOWN;
	dev->sync = DTRBD_SYNC_NONE;
	dev->send_state = true;
	dev->send_sync_done = false;
	dev->send_promote_req = false;
	dev->send_promote_reply = -1;
	dev->promoting = false;
	dev->recv_ack_head = dev->recv_ack_tail = 0;
	dev->ov_head = dev->ov_tail = 0;
	dev->bm_xchg = DTRBD_BMX_NONE;
	dev->bm_sending = false;
	dev->state_sent = false;
	dev->epoch_closed = false;
	dev->tx_epoch = 0;
	spin_unlock_irq(&dev->lock);
	wake_up_process(rx);
	wake_up_process(tx);
	mutex_unlock(&dev->state_mutex);
	return 0;

out_stop_rx:
	kthread_stop(rx);	/* never woken: it exits without running */
out_free_page:
	__free_page(dev->rx_page);
	dev->rx_page = NULL;
out_unlock:
	dev->discard_my_data = false;
	mutex_unlock(&dev->state_mutex);
	return ret;
}
