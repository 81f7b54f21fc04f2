// SPDX-License-Identifier: GPL-2.0
/*
 * dtrbd: the life of an application bio.
 *
 * A read is cloned to the backing device. A write takes activity log
 * references on its extents, is cloned to the backing device and, while
 * connected, queued for the sender. Its master bio completes when every
 * part the protocol waits for is done (req->pending: the submitter, the
 * local write, and the peer's ack for protocols B and C, or the hand-over
 * to the socket for A). The request itself lives on (req->refs) until the
 * peer also reported the write done or the connection is gone; only then
 * is it known whether its blocks are in sync (bitmap), and only then does
 * it leave the activity log and the resync's view.
 *
 * submit_bio never sleeps: a write that has to wait (a cold extent needs
 * an activity log transaction, a resync chunk in flight overlaps it, an
 * earlier write to overlapping sectors is still being written locally, the
 * connection is changing state) goes on dev->deferred and the submit work
 * starts it in order. The clone and the request are one allocation from
 * dtrbd_req_bs (front_pad), so the write path allocates nothing else.
 *
 * Writes in flight are kept in an interval tree by sector
 * (dev->write_tree, under dev->lock), from start until the request is
 * freed (the peer wrote it, or the connection is gone). It answers three
 * questions: does a new write overlap one whose local write has not ended
 * (then it waits: both disks must see overlapping writes in one order, and
 * the peer applies them in the order they arrive, see the receiver);
 * does a resync chunk overlap a write in flight (resync.c); and which
 * write the peer acknowledges (by sector, size and id).
 */
#define pr_fmt(fmt) "dtrbd: " fmt

#include <linux/interval_tree_generic.h>

#include "dtrbd_int.h"

#define DTRBD_REQ_START(r)	((r)->sector)
#define DTRBD_REQ_LAST(r)	DTRBD_IV_LAST((r)->sector, (r)->size)
INTERVAL_TREE_DEFINE(struct dtrbd_req, rb, sector_t, subtree_last,
		     DTRBD_REQ_START, DTRBD_REQ_LAST, static, dtrbd_wtree)

#define DTRBD_PREQ_START(p)	((p)->sector)
#define DTRBD_PREQ_LAST(p)	DTRBD_IV_LAST((p)->sector, (p)->size)
INTERVAL_TREE_DEFINE(struct dtrbd_peer_req, rb, sector_t, subtree_last,
		     DTRBD_PREQ_START, DTRBD_PREQ_LAST, static __maybe_unused,
		     dtrbd_ptree)

#define dtrbd_wtree_for_each(req, dev, first, last)			\
	for (req = dtrbd_wtree_iter_first(&(dev)->write_tree, first, last); \
	     req; req = dtrbd_wtree_iter_next(req, first, last))

/* Under dev->lock: does a write in flight overlap [sector, +size)? */
bool dtrbd_write_overlaps(struct dtrbd_device *dev, sector_t sector,
			  unsigned int size)
{
	lockdep_assert_held(&dev->lock);
	return dtrbd_wtree_iter_first(&dev->write_tree, sector,
				      DTRBD_IV_LAST(sector, size));
}

/* Under dev->lock: does any write still wait for the peer's part? */
bool dtrbd_req_unconfirmed(struct dtrbd_device *dev)
{
	struct dtrbd_req *req;

	lockdep_assert_held(&dev->lock);
	dtrbd_wtree_for_each(req, dev, 0, ~(sector_t)0)
		if (test_bit(DTRBD_RQ_PEER, &req->flags) ||
		    test_bit(DTRBD_RQ_WACK, &req->flags))
			return true;
	return false;
}

/*
 * Under dev->lock: must @req wait for an earlier write to overlapping
 * sectors? It must while that one's local write has not ended. The earlier
 * one is marked WAITED so that its completion wakes us; the barrier pairs
 * with the one in dtrbd_local_endio(), so either we see LOCAL_DONE or it
 * sees WAITED.
 */
static bool dtrbd_write_conflict(struct dtrbd_device *dev,
				 struct dtrbd_req *req)
{
	sector_t last = DTRBD_REQ_LAST(req);
	struct dtrbd_req *e;

	if (!req->size)
		return false;	/* an empty flush orders nothing by itself */
	dtrbd_wtree_for_each(e, dev, req->sector, last) {
		if (!e->size)
			continue;
		set_bit(DTRBD_RQ_WAITED, &e->flags);
		smp_mb__after_atomic();
		if (!test_bit(DTRBD_RQ_LOCAL_DONE, &e->flags))
			return true;
	}
	return false;
}

/*
 * Peer writes in flight on this side (the receiver's). The peer may have
 * several overlapping writes in flight (protocols A and B complete them
 * before we wrote them; resync and application writes meet here too): the
 * receiver submits a write only when no earlier one overlaps it, so they
 * land in the order they were sent.
 */
void dtrbd_peer_tree_insert(struct dtrbd_device *dev,
			    struct dtrbd_peer_req *preq)
{
	lockdep_assert_held(&dev->lock);
	dtrbd_ptree_insert(preq, &dev->peer_tree);
}

void dtrbd_peer_tree_remove(struct dtrbd_device *dev,
			    struct dtrbd_peer_req *preq)
{
	lockdep_assert_held(&dev->lock);
	dtrbd_ptree_remove(preq, &dev->peer_tree);
}

/* Under dev->lock: does a peer write in flight overlap [sector, +size)? */
bool dtrbd_peer_overlaps(struct dtrbd_device *dev, sector_t sector,
			 unsigned int size)
{
	lockdep_assert_held(&dev->lock);
	return size && dtrbd_ptree_iter_first(&dev->peer_tree, sector,
					      DTRBD_IV_LAST(sector, size));
}

static void dtrbd_req_free(struct dtrbd_req *req)
{
	struct dtrbd_device *dev = req->dev;
	unsigned long flags;

	/*
	 * Not req->master: with protocols A and B the master bio completed
	 * long ago and may be reused; the clone is ours until bio_put().
	 */
	if (op_is_write(bio_op(&req->clone))) {
		spin_lock_irqsave(&dev->lock, flags);
		dtrbd_wtree_remove(req, &dev->write_tree);
		dtrbd_bm_write_set(dev, req->sector, req->size,
				   test_bit(DTRBD_RQ_IN_SYNC, &req->flags) &&
				   !test_bit(DTRBD_RQ_LOCAL_ERR, &req->flags));
		if (test_bit(DTRBD_RQ_AL, &req->flags))
			dtrbd_al_put(dev, req->sector, req->size);
		spin_unlock_irqrestore(&dev->lock, flags);
		/* the resync may wait for this write to leave its chunk */
		wake_up(&dev->rs_wq);
	}
	bio_put(&req->clone);
	if (atomic_dec_and_test(&dev->nr_reqs))
		wake_up_var(&dev->nr_reqs);
}

void dtrbd_req_unref(struct dtrbd_req *req)
{
	if (atomic_dec_and_test(&req->refs))
		dtrbd_req_free(req);
}

static void dtrbd_req_complete(struct dtrbd_req *req)
{
	struct dtrbd_device *dev = req->dev;
	struct bio *master = req->master;
	unsigned long flags;

	/*
	 * Protocols A and B: a write that completes before the peer wrote
	 * it closes the epoch, so the next one is sent behind a barrier.
	 */
	if (op_is_write(bio_op(master)) && test_bit(DTRBD_RQ_WACK, &req->flags)) {
		spin_lock_irqsave(&dev->lock, flags);
		dev->epoch_closed = true;
		spin_unlock_irqrestore(&dev->lock, flags);
	}
	/*
	 * A write whose local copy failed (or that never had one: diskless)
	 * succeeded only if the peer wrote it; never report success for a
	 * write that reached no disk.
	 */
	if (op_is_write(bio_op(master)) &&
	    (test_bit(DTRBD_RQ_LOCAL_ERR, &req->flags) ||
	     test_bit(DTRBD_RQ_DISKLESS, &req->flags)))
		req->status = test_bit(DTRBD_RQ_IN_SYNC, &req->flags) ?
			      BLK_STS_OK : BLK_STS_IOERR;
	master->bi_status = req->status;
	/* on-peer-loss freeze: the write waits for RESUME_IO or FAIL_IO */
	if (!op_is_write(bio_op(master)) || !dtrbd_freeze_hold(dev, master))
		bio_endio(master);
	dtrbd_req_unref(req);
}

void dtrbd_req_put(struct dtrbd_req *req)
{
	if (atomic_dec_and_test(&req->pending))
		dtrbd_req_complete(req);
}

/* Under dev->lock: may this read be served by the peer? Queue it if so. */
static bool dtrbd_read_from_peer(struct dtrbd_device *dev,
				 struct dtrbd_req *req)
{
	if (dev->cstate != DTRBD_CONN_CONNECTED ||
	    dev->peer_disk != DTRBD_DISK_UPTODATE)
		return false;
	set_bit(DTRBD_RQ_PEER_READ, &req->flags);
	req->id = ++dev->next_id;
	/* oldest first: the request timer looks at the head (conn.c) */
	req->peer_since = jiffies;
	list_add_tail(&req->active, &dev->active_reads);
	list_add_tail(&req->send, &dev->send_q);
	return true;
}

/*
 * Under dev->lock: the backing disk failed. From now on the device works
 * without it (diskless): reads and writes go to the peer. The work tells
 * the peer and userspace.
 */
void dtrbd_disk_failed(struct dtrbd_device *dev)
{
	lockdep_assert_held(&dev->lock);
	/* diskless already, or still attaching (UNKNOWN): nothing to fail */
	if (dev->disk_state <= DTRBD_DISK_DISKLESS)
		return;
	dev->disk_state = DTRBD_DISK_DISKLESS;
	queue_work(dtrbd_wq, &dev->io_error_work);
}

static void dtrbd_local_endio(struct bio *clone)
{
	struct dtrbd_req *req = clone->bi_private;
	struct dtrbd_device *dev = req->dev;
	bool write = op_is_write(bio_op(clone)), requeued = false;
	unsigned long flags;

	if (clone->bi_status) {
		set_bit(DTRBD_RQ_LOCAL_ERR, &req->flags);
		pr_err_ratelimited("%s: local %s error %d at sector %llu\n",
				   dtrbd_name(dev), write ? "write" : "read",
				   blk_status_to_errno(clone->bi_status),
				   (unsigned long long)req->sector);
		spin_lock_irqsave(&dev->lock, flags);
		dtrbd_disk_failed(dev);
		if (write && test_bit(DTRBD_RQ_WACK, &req->flags)) {
			/* the outcome is the peer's: wait for its write ack */
			set_bit(DTRBD_RQ_HOLD, &req->flags);
			atomic_inc(&req->pending);
		} else if (!write) {
			requeued = dtrbd_read_from_peer(dev, req);
		}
		spin_unlock_irqrestore(&dev->lock, flags);
		if (requeued) {
			wake_up(&dev->sender_wq);
			return;
		}
		if (!write)
			req->status = clone->bi_status;
	}
	if (write) {
		/* a later overlapping write may start now */
		set_bit(DTRBD_RQ_LOCAL_DONE, &req->flags);
		smp_mb__after_atomic();
		if (test_bit(DTRBD_RQ_WAITED, &req->flags))
			wake_up_all(&dev->state_wq);
	}
	dtrbd_req_put(req);
}

void dtrbd_io_error_work(struct work_struct *work)
{
	struct dtrbd_device *dev = container_of(work, struct dtrbd_device,
						io_error_work);

	spin_lock_irq(&dev->lock);
	dev->send_state = dev->cstate == DTRBD_CONN_CONNECTED;
	spin_unlock_irq(&dev->lock);
	wake_up(&dev->sender_wq);
	dtrbd_err(dev, "the backing disk failed: no longer using it, serving I/O through the peer (diskless)\n");
	dtrbd_notify(dev, DTRBD_EV_IO_ERROR,
		     "the backing disk failed; dtrbd stopped using it and serves reads and writes through the peer. Move the workload to the peer, then detach this device and replace the disk");
}

/*
 * P_READ_REPLY for read @id: the receiver has @size bytes of payload for
 * it (when @status is 0) and calls this to find the request; it returns
 * the request's bio position through @req (NULL: unknown id).
 */
struct dtrbd_req *dtrbd_req_take_read(struct dtrbd_device *dev, u64 id)
{
	struct dtrbd_req *req;

	spin_lock_irq(&dev->lock);
	list_for_each_entry(req, &dev->active_reads, active) {
		if (req->id == id && !test_bit(DTRBD_RQ_QUEUED, &req->flags)) {
			list_del_init(&req->active);
			spin_unlock_irq(&dev->lock);
			return req;
		}
	}
	spin_unlock_irq(&dev->lock);
	return NULL;
}

void dtrbd_req_read_done(struct dtrbd_req *req, int status)
{
	req->status = status ? BLK_STS_IOERR : BLK_STS_OK;
	dtrbd_req_put(req);
}

/*
 * The peer acknowledged write @id: received (P_RECV_ACK) or written
 * (P_WRITE_ACK, with its status). Returns -EPROTO for an unknown id.
 */
int dtrbd_req_ack(struct dtrbd_device *dev, u16 type, u64 id,
		  sector_t sector, unsigned int size, int status)
{
	struct dtrbd_req *req, *found = NULL;
	bool put = false, unref = false, hold = false;
	sector_t last = DTRBD_IV_LAST(sector, size);

	if (last < sector)
		return -EPROTO;	/* wraps: no write of ours */
	spin_lock_irq(&dev->lock);
	/* the peer echoes sector and size: look only at overlapping writes */
	dtrbd_wtree_for_each(req, dev, sector, last) {
		if (req->id != id || req->sector != sector || req->size != size)
			continue;
		if (test_bit(DTRBD_RQ_QUEUED, &req->flags))
			break;	/* not even sent yet: a confused peer */
		found = req;
		/* a write ack implies the receive ack */
		if ((type == P_WRITE_ACK ||
		     (req->dp_flags & DTRBD_DP_ACK_RECV)) &&
		    test_and_clear_bit(DTRBD_RQ_PEER, &req->flags)) {
			dev->in_flight--;
			put = true;
		}
		if (type == P_WRITE_ACK &&
		    test_and_clear_bit(DTRBD_RQ_WACK, &req->flags)) {
			list_del_init(&req->peer_wait);
			if (!status)
				set_bit(DTRBD_RQ_IN_SYNC, &req->flags);
			unref = true;
			if (test_and_clear_bit(DTRBD_RQ_HOLD, &req->flags))
				hold = true;
		}
		break;
	}
	if (found && (put || unref))
		atomic_inc(&found->refs);	/* across the puts below */
	spin_unlock_irq(&dev->lock);
	if (!found)
		return -EPROTO;
	if (!put && !unref) {
		if (type != P_RECV_ACK)
			dtrbd_err(dev, "write ack for %llu: flags %#lx\n", id,
				  found->flags);
		return type == P_RECV_ACK ? 0 : -EPROTO;
	}
	if (hold)
		dtrbd_req_put(found);
	if (put)
		dtrbd_req_put(found);
	if (unref)
		dtrbd_req_unref(found);
	dtrbd_req_unref(found);
	return 0;
}

/* The sender handed @req to the socket; protocol A completes here. */
void dtrbd_req_sent(struct dtrbd_device *dev, struct dtrbd_req *req)
{
	bool put = false;

	if (!(req->dp_flags & DTRBD_DP_ACK_NONE))
		return;
	spin_lock_irq(&dev->lock);
	if (test_and_clear_bit(DTRBD_RQ_PEER, &req->flags)) {
		dev->in_flight--;
		put = true;
	}
	spin_unlock_irq(&dev->lock);
	if (put)
		dtrbd_req_put(req);
}

/*
 * The connection is gone (teardown, threads stopped): every write still
 * waiting for the peer completes on the local write alone, and every write
 * the peer did not confirm stays out of sync in the bitmap.
 */
void dtrbd_req_conn_lost(struct dtrbd_device *dev)
{
	struct dtrbd_req *req, *tmp;
	LIST_HEAD(orphans);
	LIST_HEAD(reads);

	spin_lock_irq(&dev->lock);
	list_for_each_entry_safe(req, tmp, &dev->send_q, send) {
		list_del_init(&req->send);
		clear_bit(DTRBD_RQ_QUEUED, &req->flags);
	}
	dtrbd_wtree_for_each(req, dev, 0, ~(sector_t)0) {
		if (test_and_clear_bit(DTRBD_RQ_PEER, &req->flags))
			set_bit(DTRBD_RQ_DROP_PEER, &req->flags);
		if (test_and_clear_bit(DTRBD_RQ_WACK, &req->flags)) {
			list_del_init(&req->peer_wait);
			set_bit(DTRBD_RQ_DROP_WACK, &req->flags);
		}
		if (test_and_clear_bit(DTRBD_RQ_HOLD, &req->flags))
			set_bit(DTRBD_RQ_DROP_HOLD, &req->flags);
		if (!test_bit(DTRBD_RQ_DROP_PEER, &req->flags) &&
		    !test_bit(DTRBD_RQ_DROP_WACK, &req->flags) &&
		    !test_bit(DTRBD_RQ_DROP_HOLD, &req->flags))
			continue;
		atomic_inc(&req->refs);		/* while on our list */
		list_add_tail(&req->send, &orphans);
	}
	dev->in_flight = 0;
	/* reads the peer was to serve fail: there is no other copy */
	list_splice_init(&dev->active_reads, &reads);
	spin_unlock_irq(&dev->lock);

	list_for_each_entry_safe(req, tmp, &reads, active) {
		list_del_init(&req->active);
		dtrbd_req_read_done(req, -EIO);
	}
	list_for_each_entry_safe(req, tmp, &orphans, send) {
		list_del_init(&req->send);
		if (test_and_clear_bit(DTRBD_RQ_DROP_HOLD, &req->flags))
			dtrbd_req_put(req);
		if (test_and_clear_bit(DTRBD_RQ_DROP_PEER, &req->flags))
			dtrbd_req_put(req);
		if (test_and_clear_bit(DTRBD_RQ_DROP_WACK, &req->flags))
			dtrbd_req_unref(req);
		dtrbd_req_unref(req);
	}
}

/*
 * Under dev->lock: may write @req start now, as
 * far as the connection and the resync are concerned? While a connection
 * is being established or torn down the two sides do not yet agree
 * whether this write must reach the peer. dev->gen_pending is not part of
 * this: only the submit work clears it (dtrbd_start_generation), so it
 * must never be a condition that work sleeps on.
 */
static bool dtrbd_may_write(struct dtrbd_device *dev, struct dtrbd_req *req)
{
	lockdep_assert_held(&dev->lock);
	if (dev->cstate == DTRBD_CONN_CONNECTING ||
	    dev->cstate == DTRBD_CONN_DISCONNECTING)
		return false;
	return !dtrbd_rs_conflict(dev, req->sector, req->size) &&
	       !dtrbd_write_conflict(dev, req);
}

/*
 * The first write of a Primary that lost its peer without writes in
 * flight: from now on this side has data the peer lacks, so a new data
 * generation goes on disk before the write does. A reconnect without any
 * such write needs no resync at all.
 */
static void dtrbd_start_generation(struct dtrbd_device *dev)
{
	bool needed;

	mutex_lock(&dev->state_mutex);
	spin_lock_irq(&dev->lock);
	needed = dev->gen_pending;
	spin_unlock_irq(&dev->lock);
	if (needed) {
		mutex_lock(&dev->md_mutex);
		dtrbd_new_current_uuid(dev);
		mutex_unlock(&dev->md_mutex);
		if (dtrbd_md_write(dev))
			dtrbd_err(dev, "could not record the new data generation\n");
		spin_lock_irq(&dev->lock);
		dev->gen_pending = false;
		spin_unlock_irq(&dev->lock);
		wake_up_all(&dev->state_wq);
	}
	mutex_unlock(&dev->state_mutex);
}

/* Under dev->lock: the write may go; register it and queue it for the peer. */
static bool dtrbd_req_start(struct dtrbd_device *dev, struct dtrbd_req *req)
{
	bool peer = false;

	req->id = ++dev->next_id;
	dtrbd_wtree_insert(req, &dev->write_tree);
	if (dev->disk_state == DTRBD_DISK_DISKLESS) {
		set_bit(DTRBD_RQ_DISKLESS, &req->flags);
		set_bit(DTRBD_RQ_LOCAL_DONE, &req->flags);
	}
	if (dev->cstate == DTRBD_CONN_CONNECTED &&
	    dev->peer_disk >= DTRBD_DISK_INCONSISTENT) {
		/* without a local copy only the peer's write ack counts */
		if (test_bit(DTRBD_RQ_DISKLESS, &req->flags))
			;
		else if (dev->protocol == DTRBD_PROT_A)
			req->dp_flags |= DTRBD_DP_ACK_NONE;
		else if (dev->protocol == DTRBD_PROT_B)
			req->dp_flags |= DTRBD_DP_ACK_RECV;
		set_bit(DTRBD_RQ_PEER, &req->flags);
		set_bit(DTRBD_RQ_QUEUED, &req->flags);
		set_bit(DTRBD_RQ_WACK, &req->flags);
		/* the request timer watches the oldest (conn.c) */
		req->peer_since = jiffies;
		list_add_tail(&req->peer_wait, &dev->peer_writes);
		atomic_inc(&req->pending);
		atomic_inc(&req->refs);
		list_add_tail(&req->send, &dev->send_q);
		dev->in_flight++;
		peer = true;
	}
	dev->stats.written += req->size;
	dev->last_app_write = jiffies;
	return peer;
}

static void dtrbd_req_go(struct dtrbd_device *dev, struct dtrbd_req *req,
			 bool peer)
{
	if (peer)
		wake_up(&dev->sender_wq);
	if (test_bit(DTRBD_RQ_DISKLESS, &req->flags))
		dtrbd_req_put(req);	/* no local write */
	else
		submit_bio_noacct(&req->clone);
	dtrbd_req_put(req);
}

/* A write that never started: nothing but the bio to finish. */
static void dtrbd_req_fail_unstarted(struct dtrbd_device *dev,
				     struct dtrbd_req *req)
{
	req->master->bi_status = BLK_STS_IOERR;
	bio_endio(req->master);
	bio_put(&req->clone);
	if (atomic_dec_and_test(&dev->nr_reqs))
		wake_up_var(&dev->nr_reqs);
}

void dtrbd_submit_work(struct work_struct *work)
{
	struct dtrbd_device *dev = container_of(work, struct dtrbd_device,
						submit_work);
	struct dtrbd_req *req;
	bool peer;
	int ret;

	for (;;) {
		spin_lock_irq(&dev->lock);
		req = list_first_entry_or_null(&dev->deferred,
					       struct dtrbd_req, send);
		/*
		 * Frozen: the writes stay deferred and this work ends; the
		 * end of the freeze queues it again (freeze.c). It never
		 * sleeps for a freeze, which may last for as long as nobody
		 * resumes.
		 */
		if (dev->frozen)
			req = NULL;
		spin_unlock_irq(&dev->lock);
		if (!req)
			return;

		ret = READ_ONCE(dev->disk_state) == DTRBD_DISK_DISKLESS ? 1 :
		      dtrbd_al_get(dev, req->sector, req->size);
		spin_lock_irq(&dev->lock);
		list_del_init(&req->send);
		/* the disk failed under the activity log: go on without it */
		if (ret && dev->disk_state == DTRBD_DISK_DISKLESS)
			ret = 1;
		if (ret < 0) {
			spin_unlock_irq(&dev->lock);
			dtrbd_req_fail_unstarted(dev, req);
			continue;
		}
		if (req->size && !ret)
			set_bit(DTRBD_RQ_AL, &req->flags);
		/*
		 * A teardown may set gen_pending while we wait (a Primary
		 * that lost its peer with nothing in flight): start the new
		 * generation before this write, then look again.
		 */
		for (;;) {
			wait_event_lock_irq(dev->state_wq,
					    dev->frozen ||
					    dtrbd_may_write(dev, req),
					    dev->lock);
			if (dev->frozen || !dev->gen_pending)
				break;
			spin_unlock_irq(&dev->lock);
			dtrbd_start_generation(dev);
			spin_lock_irq(&dev->lock);
		}
		if (dev->frozen) {
			/* back to the head, in order; see above */
			if (test_and_clear_bit(DTRBD_RQ_AL, &req->flags))
				dtrbd_al_put(dev, req->sector, req->size);
			list_add(&req->send, &dev->deferred);
			spin_unlock_irq(&dev->lock);
			return;
		}
		if (dev->io_failed) {
			/* FAIL_IO while it waited in a freeze */
			if (test_and_clear_bit(DTRBD_RQ_AL, &req->flags))
				dtrbd_al_put(dev, req->sector, req->size);
			spin_unlock_irq(&dev->lock);
			dtrbd_req_fail_unstarted(dev, req);
			continue;
		}
		peer = dtrbd_req_start(dev, req);
		spin_unlock_irq(&dev->lock);
		dtrbd_req_go(dev, req, peer);
	}
}

void dtrbd_submit_bio(struct bio *bio)
{
	struct dtrbd_device *dev = bio->bi_bdev->bd_disk->private_data;
	struct dtrbd_req *req;
	struct bio *clone;
	bool is_write, peer;

	bio = bio_split_to_limits(bio);
	if (!bio)
		return;

	switch (bio_op(bio)) {
	case REQ_OP_READ:
		is_write = false;
		break;
	case REQ_OP_WRITE:		/* includes empty PREFLUSH bios */
		/*
		 * An empty write that is not a flush (e.g. FUA alone) has
		 * nothing to make durable; the peer refuses such a P_DATA.
		 */
		if (!bio->bi_iter.bi_size && !(bio->bi_opf & REQ_PREFLUSH)) {
			bio_endio(bio);
			return;
		}
		is_write = true;
		break;
	default:			/* discard etc. are not advertised */
		bio->bi_status = BLK_STS_NOTSUPP;
		bio_endio(bio);
		return;
	}

	clone = bio_alloc_clone(dev->bdev, bio, GFP_NOIO, &dtrbd_req_bs);
	req = container_of(clone, struct dtrbd_req, clone);
	req->dev = dev;
	req->master = bio;
	req->sector = bio->bi_iter.bi_sector;
	req->size = bio->bi_iter.bi_size;
	req->iter = bio->bi_iter;
	req->flags = 0;
	req->status = BLK_STS_OK;
	INIT_LIST_HEAD(&req->send);
	INIT_LIST_HEAD(&req->active);
	INIT_LIST_HEAD(&req->peer_wait);
	RB_CLEAR_NODE(&req->rb);
	clone->bi_end_io = dtrbd_local_endio;
	clone->bi_private = req;
	atomic_set(&req->refs, 1);	/* the master's completion */
	atomic_inc(&dev->nr_reqs);

	if (!is_write) {
		atomic_set(&req->pending, 1);
		if (READ_ONCE(dev->disk_state) == DTRBD_DISK_DISKLESS) {
			bool queued;

			spin_lock_irq(&dev->lock);
			queued = dtrbd_read_from_peer(dev, req);
			spin_unlock_irq(&dev->lock);
			if (queued) {
				wake_up(&dev->sender_wq);
			} else {
				req->status = BLK_STS_IOERR;
				dtrbd_req_put(req);
			}
			return;
		}
		submit_bio_noacct(clone);
		return;
	}

	req->dp_flags = 0;
	if (bio->bi_opf & REQ_PREFLUSH)
		req->dp_flags |= DTRBD_DP_FLUSH;
	if (bio->bi_opf & REQ_FUA)
		req->dp_flags |= DTRBD_DP_FUA;
	if (bio->bi_opf & REQ_SYNC)
		req->dp_flags |= DTRBD_DP_SYNC;
	atomic_set(&req->pending, 2);	/* submitter + local write */

	spin_lock_irq(&dev->lock);
	if ((dev->disk_state == DTRBD_DISK_DISKLESS &&
	     (dev->cstate != DTRBD_CONN_CONNECTED ||
	      dev->peer_disk != DTRBD_DISK_UPTODATE)) || dev->io_failed) {
		/* no disk here and none there: nowhere to write; FAIL_IO */
		spin_unlock_irq(&dev->lock);
		bio->bi_status = BLK_STS_IOERR;
		bio_endio(bio);
		bio_put(clone);
		if (atomic_dec_and_test(&dev->nr_reqs))
			wake_up_var(&dev->nr_reqs);
		return;
	}
	if (list_empty(&dev->deferred) && !dev->gen_pending && !dev->frozen &&
	    dtrbd_may_write(dev, req) &&
	    (dev->disk_state == DTRBD_DISK_DISKLESS ||
	     dtrbd_al_try_get(dev, req->sector, req->size))) {
		if (req->size && dev->disk_state != DTRBD_DISK_DISKLESS)
			set_bit(DTRBD_RQ_AL, &req->flags);
		peer = dtrbd_req_start(dev, req);
		spin_unlock_irq(&dev->lock);
		dtrbd_req_go(dev, req, peer);
		return;
	}
	list_add_tail(&req->send, &dev->deferred);
	spin_unlock_irq(&dev->lock);
	queue_work(dtrbd_wq, &dev->submit_work);
}
