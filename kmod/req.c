// SPDX-License-Identifier: GPL-2.0
/*
 * dtrbd: the life of an application bio.
 *
 * A read is cloned to the backing device. A write is cloned to the backing
 * device and, while connected, queued for the sender; it completes when
 * every part it waits for is done (req->pending): the submitter's own
 * reference, the local write, and (while connected) the peer's ack as the
 * protocol defines it. The clone and the request are one allocation from
 * dtrbd_req_bs (front_pad), so the write path allocates nothing else.
 */
#define pr_fmt(fmt) "dtrbd: " fmt

#include "dtrbd_int.h"

static void dtrbd_req_complete(struct dtrbd_req *req)
{
	struct dtrbd_device *dev = req->dev;
	struct bio *master = req->master;
	unsigned long flags;

	if (op_is_write(bio_op(master))) {
		spin_lock_irqsave(&dev->lock, flags);
		list_del(&req->active);
		spin_unlock_irqrestore(&dev->lock, flags);
		/* the resync may wait for this write to leave its chunk */
		wake_up(&dev->rs_wq);
	}
	master->bi_status = req->status;
	bio_put(&req->clone);
	bio_endio(master);
	if (atomic_dec_and_test(&dev->nr_reqs))
		wake_up_var(&dev->nr_reqs);
}

void dtrbd_req_put(struct dtrbd_req *req)
{
	if (atomic_dec_and_test(&req->pending))
		dtrbd_req_complete(req);
}

static void dtrbd_local_endio(struct bio *clone)
{
	struct dtrbd_req *req = clone->bi_private;

	if (clone->bi_status) {
		req->status = clone->bi_status;
		pr_err_ratelimited("%s: local %s error %d at sector %llu\n",
				   dtrbd_name(req->dev),
				   op_is_write(bio_op(clone)) ? "write" : "read",
				   blk_status_to_errno(clone->bi_status),
				   (unsigned long long)req->sector);
	}
	dtrbd_req_put(req);
}

/* The peer acknowledged request @id; false if no such request waits. */
bool dtrbd_req_peer_done(struct dtrbd_device *dev, u64 id)
{
	struct dtrbd_req *req, *found = NULL;

	spin_lock_irq(&dev->lock);
	/* acks come back roughly in order: the match is near the head */
	list_for_each_entry(req, &dev->active_writes, active) {
		if (req->id != id)
			continue;
		if (test_bit(DTRBD_RQ_PEER, &req->flags) &&
		    !test_bit(DTRBD_RQ_QUEUED, &req->flags)) {
			clear_bit(DTRBD_RQ_PEER, &req->flags);
			dev->in_flight--;
			found = req;
		}
		break;
	}
	spin_unlock_irq(&dev->lock);
	if (!found)
		return false;
	dtrbd_req_put(found);
	return true;
}

/* May a write to [sector, sector + size) start now? Called under lock. */
static bool dtrbd_may_write(struct dtrbd_device *dev, sector_t sector,
			    unsigned int size)
{
	/*
	 * While a connection is being established or torn down the two
	 * sides do not yet agree whether this write must reach the peer;
	 * on teardown the new data generation must be on disk before any
	 * write completes locally only.
	 */
	if (dev->cstate == DTRBD_CONN_CONNECTING ||
	    dev->cstate == DTRBD_CONN_DISCONNECTING)
		return false;
	return !dtrbd_rs_conflict(dev, sector, size);
}

void dtrbd_submit_bio(struct bio *bio)
{
	struct dtrbd_device *dev = bio->bi_bdev->bd_disk->private_data;
	struct dtrbd_req *req;
	struct bio *clone;
	bool is_write, wake = false;

	bio = bio_split_to_limits(bio);
	if (!bio)
		return;

	switch (bio_op(bio)) {
	case REQ_OP_READ:
		is_write = false;
		break;
	case REQ_OP_WRITE:		/* includes empty PREFLUSH bios */
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
	clone->bi_end_io = dtrbd_local_endio;
	clone->bi_private = req;
	atomic_inc(&dev->nr_reqs);

	if (!is_write) {
		atomic_set(&req->pending, 1);
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
	wait_event_lock_irq(dev->state_wq,
			    dtrbd_may_write(dev, req->sector, req->size),
			    dev->lock);
	req->id = ++dev->next_id;
	list_add_tail(&req->active, &dev->active_writes);
	if (dev->cstate == DTRBD_CONN_CONNECTED &&
	    dev->peer_disk >= DTRBD_DISK_INCONSISTENT) {
		if (dev->protocol == DTRBD_PROT_A)
			req->dp_flags |= DTRBD_DP_ACK_NONE;
		else if (dev->protocol == DTRBD_PROT_B)
			req->dp_flags |= DTRBD_DP_ACK_RECV;
		__set_bit(DTRBD_RQ_PEER, &req->flags);
		__set_bit(DTRBD_RQ_QUEUED, &req->flags);
		atomic_inc(&req->pending);
		list_add_tail(&req->send, &dev->send_q);
		dev->in_flight++;
		wake = true;
	}
	dev->stats.written += req->size;
	spin_unlock_irq(&dev->lock);

	if (wake)
		wake_up(&dev->sender_wq);
	submit_bio_noacct(clone);
	dtrbd_req_put(req);
}
