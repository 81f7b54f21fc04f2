// SPDX-License-Identifier: GPL-2.0
/*
 * dtrbd: full resync, source side.
 *
 * The resyncer walks the device from start to end in DTRBD_RS_CHUNK
 * chunks, with up to DTRBD_RS_SLOTS chunks in flight (read locally, sent,
 * waiting for the peer's P_RS_ACK). Application writes and resync chunks
 * must never overlap in flight, or the peer could write them in either
 * order and keep stale data:
 *  - a chunk is claimed (slot busy) first, so new writes into it wait
 *    (dtrbd_rs_conflict() in the submit path), then
 *  - the resyncer waits until no write already in flight overlaps it, and
 *    only then reads it.
 * The chunk's write on the peer is acked before the slot is released.
 */
#define pr_fmt(fmt) "dtrbd: " fmt

#include <linux/kthread.h>
#include <linux/sched/mm.h>

#include "dtrbd_int.h"

int dtrbd_rs_alloc(struct dtrbd_device *dev)
{
	struct dtrbd_rs_slot *slots;
	unsigned int i, j;

	if (dev->rs_slots)
		return 0;	/* kept from an earlier resync */
	slots = kcalloc(DTRBD_RS_SLOTS, sizeof(*slots), GFP_NOIO);
	if (!slots)
		return -ENOMEM;
	for (i = 0; i < DTRBD_RS_SLOTS; i++) {
		for (j = 0; j < DTRBD_RS_PAGES; j++) {
			struct page *page = alloc_page(GFP_NOIO);

			if (!page)
				goto out_free;
			bvec_set_page(&slots[i].bvecs[j], page, PAGE_SIZE, 0);
		}
	}
	spin_lock_irq(&dev->lock);
	dev->rs_slots = slots;
	spin_unlock_irq(&dev->lock);
	return 0;

out_free:
	dev->rs_slots = slots;
	dtrbd_rs_free(dev);
	return -ENOMEM;
}

/* After the resyncer and the sender have stopped. */
void dtrbd_rs_free(struct dtrbd_device *dev)
{
	struct dtrbd_rs_slot *slots;
	unsigned int i, j;

	spin_lock_irq(&dev->lock);
	slots = dev->rs_slots;
	dev->rs_slots = NULL;
	spin_unlock_irq(&dev->lock);
	if (!slots)
		return;
	for (i = 0; i < DTRBD_RS_SLOTS; i++)
		for (j = 0; j < DTRBD_RS_PAGES; j++)
			if (slots[i].bvecs[j].bv_page)
				__free_page(slots[i].bvecs[j].bv_page);
	kfree(slots);
	wake_up_all(&dev->state_wq);
}

/* Under dev->lock: does [sector, sector + size) overlap a busy chunk? */
bool dtrbd_rs_conflict(struct dtrbd_device *dev, sector_t sector,
		       unsigned int size)
{
	u64 start = (u64)sector << SECTOR_SHIFT, end = start + size;
	unsigned int i;

	if (!dev->rs_slots)
		return false;
	for (i = 0; i < DTRBD_RS_SLOTS; i++) {
		struct dtrbd_rs_slot *s = &dev->rs_slots[i];

		if (s->busy && start < s->offset + s->len && s->offset < end)
			return true;
	}
	return false;
}

int dtrbd_rs_ack(struct dtrbd_device *dev, u64 idx, int error)
{
	struct dtrbd_rs_slot *s;

	if (error)
		return -EIO;
	spin_lock_irq(&dev->lock);
	if (!dev->rs_slots || idx >= DTRBD_RS_SLOTS ||
	    !dev->rs_slots[idx].busy || dev->rs_slots[idx].queued) {
		spin_unlock_irq(&dev->lock);
		dtrbd_err(dev, "peer acknowledged unknown resync chunk %llu\n",
			  idx);
		return -EPROTO;
	}
	s = &dev->rs_slots[idx];
	s->busy = false;
	dev->sync_done += s->len;
	spin_unlock_irq(&dev->lock);
	wake_up(&dev->rs_wq);
	wake_up_all(&dev->state_wq);	/* writes waiting for this chunk */
	return 0;
}

static bool dtrbd_rs_stopping(struct dtrbd_device *dev)
{
	return kthread_should_stop() ||
	       READ_ONCE(dev->cstate) != DTRBD_CONN_CONNECTED;
}

/* Claim a free slot for [off, off + len), or NULL if none is free. */
static struct dtrbd_rs_slot *dtrbd_rs_claim(struct dtrbd_device *dev,
					    u64 off, unsigned int len)
{
	struct dtrbd_rs_slot *s = NULL;
	unsigned int i;

	spin_lock_irq(&dev->lock);
	for (i = 0; i < DTRBD_RS_SLOTS; i++) {
		if (!dev->rs_slots[i].busy) {
			s = &dev->rs_slots[i];
			s->busy = true;
			s->offset = off;
			s->len = len;
			break;
		}
	}
	spin_unlock_irq(&dev->lock);
	return s;
}

static bool dtrbd_rs_write_overlaps(struct dtrbd_device *dev,
				    struct dtrbd_rs_slot *s)
{
	struct dtrbd_req *req;
	bool overlap = false;

	spin_lock_irq(&dev->lock);
	list_for_each_entry(req, &dev->active_writes, active) {
		u64 start = (u64)req->sector << SECTOR_SHIFT;

		if (start < s->offset + s->len &&
		    s->offset < start + req->size) {
			overlap = true;
			break;
		}
	}
	spin_unlock_irq(&dev->lock);
	return overlap;
}

static bool dtrbd_rs_all_acked(struct dtrbd_device *dev)
{
	unsigned int i;
	bool idle = true;

	spin_lock_irq(&dev->lock);
	for (i = 0; i < DTRBD_RS_SLOTS; i++)
		idle &= !dev->rs_slots[i].busy;
	spin_unlock_irq(&dev->lock);
	return idle;
}

static int dtrbd_rs_read(struct dtrbd_device *dev, struct dtrbd_rs_slot *s)
{
	unsigned int n = DIV_ROUND_UP(s->len, PAGE_SIZE), i;
	struct bio *bio;
	int ret;

	bio = bio_alloc(dev->bdev, n, REQ_OP_READ, GFP_NOIO);
	bio->bi_iter.bi_sector = s->offset >> SECTOR_SHIFT;
	for (i = 0; i < n; i++)
		__bio_add_page(bio, s->bvecs[i].bv_page,
			       min_t(unsigned int, PAGE_SIZE,
				     s->len - i * PAGE_SIZE), 0);
	ret = submit_bio_wait(bio);
	bio_put(bio);
	return ret;
}

static int dtrbd_resync_run(struct dtrbd_device *dev)
{
	struct dtrbd_rs_slot *s;
	u64 off = 0;
	int ret;

	dtrbd_info(dev, "resync started as source, %llu bytes\n", dev->size);
	dtrbd_notify(dev, DTRBD_EV_SYNC_STARTED, "source");
	while (off < dev->size) {
		unsigned int len = min_t(u64, DTRBD_RS_CHUNK, dev->size - off);

		s = NULL;
		wait_event_interruptible(dev->rs_wq, dtrbd_rs_stopping(dev) ||
					 (s = dtrbd_rs_claim(dev, off, len)));
		if (dtrbd_rs_stopping(dev))
			return -ESHUTDOWN;
		wait_event_interruptible(dev->rs_wq, dtrbd_rs_stopping(dev) ||
					 !dtrbd_rs_write_overlaps(dev, s));
		if (dtrbd_rs_stopping(dev))
			return -ESHUTDOWN;
		ret = dtrbd_rs_read(dev, s);
		if (ret) {
			dtrbd_err(dev, "resync read failed at %llu: %d\n",
				  off, ret);
			return ret;
		}
		spin_lock_irq(&dev->lock);
		s->queued = true;
		list_add_tail(&s->list, &dev->rs_send_q);
		spin_unlock_irq(&dev->lock);
		wake_up(&dev->sender_wq);
		off += len;
	}
	wait_event_interruptible(dev->rs_wq, dtrbd_rs_stopping(dev) ||
				 dtrbd_rs_all_acked(dev));
	if (dtrbd_rs_stopping(dev))
		return -ESHUTDOWN;

	/* the peer holds our generation now: no older point to keep */
	mutex_lock(&dev->md_mutex);
	dtrbd_clear_bitmap_uuid(dev);
	mutex_unlock(&dev->md_mutex);
	ret = dtrbd_md_write(dev);
	if (ret)
		return ret;
	spin_lock_irq(&dev->lock);
	dev->sync = DTRBD_SYNC_NONE;
	dev->peer_disk = DTRBD_DISK_UPTODATE;
	dev->send_sync_done = true;
	spin_unlock_irq(&dev->lock);
	wake_up(&dev->sender_wq);
	dtrbd_info(dev, "resync finished\n");
	dtrbd_notify(dev, DTRBD_EV_SYNC_FINISHED, NULL);
	return 0;
}

int dtrbd_resync_thread(void *arg)
{
	struct dtrbd_device *dev = arg;
	unsigned int noio = memalloc_noio_save();
	int ret;

	ret = dtrbd_resync_run(dev);
	memalloc_noio_restore(noio);
	if (ret && ret != -ESHUTDOWN)
		dtrbd_conn_fail(dev, "resync failed (error %d)", ret);
	dtrbd_wait_for_stop();
	return 0;
}
