// SPDX-License-Identifier: GPL-2.0
/*
 * dtrbd: I/O on the peer's behalf. The receiver turns P_DATA/P_RS_DATA
 * into local writes and P_READ_REQ into local reads (struct dtrbd_peer_req,
 * one bio with its own pages); their completion queues the ack for the
 * sender. P_BARRIER and the verify/checksum requests wait for those writes
 * to land first. At most DTRBD_MAX_PEER_REQS are in flight per device,
 * holding at most DTRBD_PEER_PAGES_MAX pages between them (counted from
 * allocation until the pages are freed, which for a read is after its
 * reply went out): the receiver waits for room before it reads more, so
 * a peer cannot make us pin more memory than that whatever it sends and
 * however slow our disk is.
 */
#define pr_fmt(fmt) "dtrbd: " fmt

#include <linux/kthread.h>
#include <linux/uio.h>
#include <net/sock.h>

#include "dtrbd_conn.h"

static void dtrbd_preq_free_pages(struct bio *bio)
{
	struct dtrbd_peer_req *preq = container_of(bio, struct dtrbd_peer_req,
						   bio);
	struct dtrbd_device *dev = preq->dev;
	struct bvec_iter_all it;
	struct bio_vec *bv;
	unsigned int n = 0;

	bio_for_each_segment_all(bv, bio, it) {
		__free_page(bv->bv_page);
		n++;
	}
	if (n) {
		atomic_sub(n, &dev->peer_pages);
		wake_up(&dev->peer_wq);
	}
}

/* A peer request is done with: its pages (reads keep them) and the bio. */
void dtrbd_preq_free(struct dtrbd_peer_req *preq)
{
	if (preq->ack_type == P_READ_REPLY)
		dtrbd_preq_free_pages(&preq->bio);
	bio_put(&preq->bio);
}

/* A peer request that was never submitted: all its pages and the bio. */
static void dtrbd_preq_discard(struct dtrbd_peer_req *preq)
{
	dtrbd_preq_free_pages(&preq->bio);
	bio_put(&preq->bio);
}

static void dtrbd_peer_endio(struct bio *bio);

/*
 * A peer request for [sector, +size) with @size bytes of fresh pages
 * (none for an empty flush), or NULL when the pages cannot be had.
 */
static struct dtrbd_peer_req *dtrbd_preq_alloc(struct dtrbd_device *dev,
					       blk_opf_t opf, u64 id,
					       sector_t sector,
					       unsigned int size, u16 ack_type)
{
	unsigned int nr = DIV_ROUND_UP(size, PAGE_SIZE), i;
	struct dtrbd_peer_req *preq;
	struct bio *bio;

	bio = bio_alloc_bioset(dev->bdev, nr, opf, GFP_NOIO, &dtrbd_peer_bs);
	preq = container_of(bio, struct dtrbd_peer_req, bio);
	preq->dev = dev;
	preq->id = id;
	preq->sector = sector;
	preq->size = size;
	preq->error = 0;
	preq->ack_type = ack_type;
	RB_CLEAR_NODE(&preq->rb);	/* in dev->peer_tree once submitted */
	bio->bi_iter.bi_sector = sector;
	bio->bi_end_io = dtrbd_peer_endio;
	for (i = 0; i < nr; i++) {
		struct page *page = alloc_page(GFP_NOIO);

		if (!page) {
			dtrbd_preq_discard(preq);
			return NULL;
		}
		atomic_inc(&dev->peer_pages);
		__bio_add_page(bio, page, min_t(unsigned int, PAGE_SIZE,
						size - i * PAGE_SIZE), 0);
	}
	return preq;
}

static void dtrbd_peer_endio(struct bio *bio)
{
	struct dtrbd_peer_req *preq = container_of(bio, struct dtrbd_peer_req,
						   bio);
	struct dtrbd_device *dev = preq->dev;
	unsigned long flags;

	preq->error = -blk_status_to_errno(bio->bi_status);
	if (preq->error)
		pr_err_ratelimited("%s: %s for the peer failed (%d) at sector %llu\n",
				   dtrbd_name(dev),
				   preq->ack_type == P_READ_REPLY ? "read" : "write",
				   -preq->error, (unsigned long long)preq->sector);
	/* a read's pages go to the peer first */
	if (preq->ack_type != P_READ_REPLY)
		dtrbd_preq_free_pages(bio);

	spin_lock_irqsave(&dev->lock, flags);
	if (!RB_EMPTY_NODE(&preq->rb))
		dtrbd_peer_tree_remove(dev, preq);
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
	if (preq)
		dtrbd_preq_free(preq);	/* a write's pages are gone already */
}

/*
 * Room for one more peer request of @size bytes? Only the receiver adds
 * pages, so the answer holds until it allocates them.
 */
static bool dtrbd_peer_room(struct dtrbd_device *dev, unsigned int size)
{
	unsigned int pages = DIV_ROUND_UP(size, PAGE_SIZE);
	bool room;

	BUILD_BUG_ON(DTRBD_PEER_PAGES_MAX < DTRBD_MAX_PAYLOAD / PAGE_SIZE);
	spin_lock_irq(&dev->lock);
	room = dev->peer_inflight < DTRBD_MAX_PEER_REQS &&
	       dev->conn->recv_ack_head - dev->conn->recv_ack_tail < DTRBD_MAX_PEER_REQS &&
	       atomic_read(&dev->peer_pages) + pages <= DTRBD_PEER_PAGES_MAX;
	spin_unlock_irq(&dev->lock);
	return room || dtrbd_rx_stopping(dev);
}

/* Does a peer write still in flight overlap [sector, +size)? (req.c) */
static bool dtrbd_peer_conflict(struct dtrbd_device *dev, sector_t sector,
				unsigned int size)
{
	bool conflict;

	spin_lock_irq(&dev->lock);
	conflict = dtrbd_peer_overlaps(dev, sector, size);
	spin_unlock_irq(&dev->lock);
	return conflict;
}

/* Every peer write submitted so far has completed (barriers, verify). */
int dtrbd_peer_drain(struct dtrbd_device *dev)
{
	wait_event_interruptible(dev->peer_wq,
				 !READ_ONCE(dev->peer_inflight) ||
				 dtrbd_rx_stopping(dev));
	return dtrbd_rx_stopping(dev) ? -ESHUTDOWN : 0;
}

/* P_DATA or P_RS_DATA: receive the payload and write it locally. */
/* P_DATA or P_RS_DATA: receive the payload and write it locally. */
int dtrbd_recv_write(struct dtrbd_device *dev, u16 type, void *body,
		     u32 payload)
{
	struct dtrbd_p_data *p = body;
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };
	struct dtrbd_peer_req *preq;
	unsigned int size, flags;
	blk_opf_t opf = REQ_OP_WRITE;
	sector_t sector;
	int ret;

	size = be32_to_cpu(p->size);
	sector = be64_to_cpu(p->sector);
	flags = be32_to_cpu(p->flags);
	if (payload != size || size > DTRBD_MAX_PAYLOAD ||
	    flags & ~DTRBD_DP_KNOWN ||
	    !dtrbd_peer_range_ok(sector, size, dev->size,
				 type == P_RS_DATA ? DTRBD_MD_BLOCK : SECTOR_SIZE) ||
	    (type == P_RS_DATA && !size) ||
	    (type == P_DATA &&
	     !dtrbd_peer_data_size_ok(size, flags, DTRBD_DP_FLUSH))) {
		dtrbd_err(dev, "peer sent a bad write: sector %llu size %u flags %#x\n",
			  (unsigned long long)sector, size, flags);
		return -EBADMSG;
	}
	if (READ_ONCE(dev->role) == DTRBD_ROLE_PRIMARY) {
		dtrbd_err(dev, "peer sent %s data but we are Primary\n",
			  type == P_DATA ? "application" : "resync");
		return -EPROTO;
	}
	/*
	 * Application writes come only from a Primary peer: our grant of its
	 * promotion (or its first P_STATE) made it one before its first
	 * P_DATA, and its P_STATE saying Secondary follows its last.
	 */
	if (type == P_DATA && READ_ONCE(dev->peer_role) != DTRBD_ROLE_PRIMARY) {
		dtrbd_err(dev, "peer sent application data but it is not Primary\n");
		return -EPROTO;
	}

	/* bound the memory the peer can make us hold */
	wait_event_interruptible(dev->peer_wq, dtrbd_peer_room(dev, size));
	if (dtrbd_rx_stopping(dev))
		return -ESHUTDOWN;

	if (flags & DTRBD_DP_FLUSH)
		opf |= REQ_PREFLUSH;
	if (flags & DTRBD_DP_FUA)
		opf |= REQ_FUA;
	if (flags & DTRBD_DP_SYNC)
		opf |= REQ_SYNC;
	/* every write is acked once written: the sender's bitmap needs it */
	preq = dtrbd_preq_alloc(dev, opf, be64_to_cpu(p->id), sector, size,
				type == P_RS_DATA ? P_RS_ACK : P_WRITE_ACK);
	if (!preq)
		return -ENOMEM;
	if (size) {
		iov_iter_bvec(&msg.msg_iter, ITER_DEST, preq->bio.bi_io_vec,
			      preq->bio.bi_vcnt, size);
		ret = dtrbd_recv_msg(dev, &msg);
		if (ret) {
			dtrbd_preq_discard(preq);
			return ret;
		}
	}

	/*
	 * Overlapping writes land in the order they were sent: the peer may
	 * have several in flight (protocols A/B, resync next to application
	 * writes), and our disk could reorder them.
	 */
	wait_event_interruptible(dev->peer_wq,
				 !dtrbd_peer_conflict(dev, sector, size) ||
				 dtrbd_rx_stopping(dev));
	if (dtrbd_rx_stopping(dev)) {
		dtrbd_preq_discard(preq);
		return -ESHUTDOWN;
	}

	spin_lock_irq(&dev->lock);
	dev->stats.received += size;
	if (type == P_RS_DATA)
		dev->stats.rs_received += size;
	if (type == P_DATA && (flags & DTRBD_DP_ACK_RECV)) {
		struct dtrbd_recv_ack *ra;

		ra = &dev->conn->recv_acks[dev->conn->recv_ack_head % DTRBD_MAX_PEER_REQS];
		ra->id = preq->id;
		ra->sector = sector;
		ra->size = size;
		dev->conn->recv_ack_head++;
		wake_up(&dev->sender_wq);
	}
	dev->peer_inflight++;
	if (size)
		dtrbd_peer_tree_insert(dev, preq);
	spin_unlock_irq(&dev->lock);
	submit_bio_noacct(&preq->bio);
	return 0;
}

/* P_READ_REQ: the peer is diskless and reads through us. */
int dtrbd_recv_read_req(struct dtrbd_device *dev, u16 type, void *body,
			u32 payload)
{
	struct dtrbd_p_data *p = body;
	struct dtrbd_peer_req *preq;
	unsigned int size;
	sector_t sector;

	size = be32_to_cpu(p->size);
	sector = be64_to_cpu(p->sector);
	if (!size || size > DTRBD_MAX_PAYLOAD ||
	    !dtrbd_peer_range_ok(sector, size, dev->size, SECTOR_SIZE)) {
		dtrbd_err(dev, "peer sent a bad read request: sector %llu size %u\n",
			  (unsigned long long)sector, size);
		return -EBADMSG;
	}
	wait_event_interruptible(dev->peer_wq, dtrbd_peer_room(dev, size));
	if (dtrbd_rx_stopping(dev))
		return -ESHUTDOWN;
	preq = dtrbd_preq_alloc(dev, REQ_OP_READ, be64_to_cpu(p->id), sector,
				size, P_READ_REPLY);
	if (!preq)
		return -ENOMEM;
	spin_lock_irq(&dev->lock);
	dev->peer_inflight++;
	spin_unlock_irq(&dev->lock);
	if (READ_ONCE(dev->disk_state) != DTRBD_DISK_UPTODATE) {
		preq->bio.bi_status = BLK_STS_IOERR;	/* nothing valid to read */
		bio_endio(&preq->bio);
	} else {
		submit_bio_noacct(&preq->bio);
	}
	return 0;
}

/* P_BARRIER: what came before is on disk before what comes after. */
int dtrbd_recv_barrier(struct dtrbd_device *dev, u16 type, void *body,
		       u32 payload)
{
	return dtrbd_peer_drain(dev);
}

/*
 * P_OV_REQ (verify) and P_CSUM_REQ (checksum resync): compare the peer's
 * checksums with our blocks and reply which differ. For a checksum resync
 * the equal blocks are in sync here from now on.
 */
int dtrbd_recv_ov_req(struct dtrbd_device *dev, u16 type, void *body,
		      u32 payload)
{
	struct dtrbd_p_csum *c = body;
	struct dtrbd_ov_reply *r;
	__be32 *theirs;
	unsigned int blocks, i;
	sector_t sector;
	int ret;

	/* only a resync source sends checksums to compare */
	if (type == P_CSUM_REQ && READ_ONCE(dev->role) == DTRBD_ROLE_PRIMARY)
		return -EPROTO;
	blocks = be32_to_cpu(c->blocks);
	sector = be64_to_cpu(c->sector);
	if (!blocks || blocks > DTRBD_CSUM_BLOCKS_MAX ||
	    payload != blocks * 4 ||
	    !dtrbd_peer_range_ok(sector, (u64)blocks * DTRBD_MD_BLOCK,
				 dev->size, DTRBD_MD_BLOCK)) {
		dtrbd_err(dev, "peer sent a bad checksum request: sector %llu blocks %u\n",
			  (unsigned long long)sector, blocks);
		return -EBADMSG;
	}
	theirs = page_address(dev->conn->rx_page);
	ret = dtrbd_recv_buf(dev, theirs, blocks * 4);
	if (ret)
		return ret;
	/* room in the reply ring; and our own writes must have landed */
	wait_event_interruptible(dev->peer_wq,
		READ_ONCE(dev->conn->ov_head) - READ_ONCE(dev->conn->ov_tail) < DTRBD_OV_REPLIES ||
		dtrbd_rx_stopping(dev));
	ret = dtrbd_peer_drain(dev);
	if (ret)
		return ret;
	ret = dtrbd_ov_read_csums(dev, sector, blocks, dev->conn->ov_csum);
	if (ret) {
		dtrbd_err(dev, "verify: local read failed at sector %llu: %d\n",
			  (unsigned long long)sector, ret);
		return ret;
	}
	r = &dev->conn->ov_replies[dev->conn->ov_head % DTRBD_OV_REPLIES];
	r->type = type == P_OV_REQ ? P_OV_REPLY : P_RS_SAME;
	r->id = be64_to_cpu(c->id);
	r->sector = sector;
	r->blocks = blocks;
	for (i = 0; i < blocks; i++)
		r->diff[i] = theirs[i] != dev->conn->ov_csum[i];
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
	dev->conn->ov_head++;
	spin_unlock_irq(&dev->lock);
	wake_up(&dev->sender_wq);
	return 0;
}
