// SPDX-License-Identifier: GPL-2.0
/*
 * dtrbd: resync and online verify, source side.
 *
 * The resyncer walks the out-of-sync bitmap (a full resync is a bitmap
 * with every bit set) and sends each run of set bits, up to DTRBD_RS_CHUNK
 * bytes, with up to DTRBD_RS_SLOTS chunks in flight (read locally, sent,
 * waiting for the peer's P_RS_ACK, which clears the bits). A verify walks
 * every block instead and sends crc32c checksums (P_OV_REQ); the peer
 * answers which blocks differ and those are marked out of sync.
 *
 * Rate: a fixed --resync-rate is enforced by pacing; the dynamic default
 * runs at full speed with all slots while the application is idle and
 * drops to one chunk in flight while it writes, so an application write
 * waits behind at most one resync chunk on the wire.
 *
 * Application writes and resync chunks
 * must never overlap in flight, or the peer could write them in either
 * order and keep stale data:
 *  - a chunk is claimed (slot busy) first, so new writes into it wait
 *    (dtrbd_rs_conflict() in the submit path), then
 *  - the resyncer waits until no write already in flight overlaps it, and
 *    only then reads it.
 * The chunk's write on the peer is acked before the slot is released.
 */
#define pr_fmt(fmt) "dtrbd: " fmt

#include <linux/crc32.h>
#include <linux/kthread.h>
#include <linux/sched/mm.h>

#include "dtrbd_int.h"

/*
 * The connection's resync slots, on its first resync; by the receiver or
 * a state change under state_mutex (never both: see dtrbd_start_sync()).
 * They live as long as the connection (dtrbd_conn_put() frees them).
 */
int dtrbd_rs_alloc(struct dtrbd_device *dev)
{
	struct dtrbd_rs_slot *slots;
	unsigned int i, j;

	if (dev->conn->rs_slots)
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
	dev->conn->rs_slots = slots;
	spin_unlock_irq(&dev->lock);
	return 0;

out_free:
	dtrbd_rs_free(slots);
	return -ENOMEM;
}

/* Resync slots and their pages; nothing may use them any more. */
void dtrbd_rs_free(struct dtrbd_rs_slot *slots)
{
	unsigned int i, j;

	if (!slots)
		return;
	for (i = 0; i < DTRBD_RS_SLOTS; i++)
		for (j = 0; j < DTRBD_RS_PAGES; j++)
			if (slots[i].bvecs[j].bv_page)
				__free_page(slots[i].bvecs[j].bv_page);
	kfree(slots);
}

/* Under dev->lock: does [sector, sector + size) overlap a busy chunk? */
bool dtrbd_rs_conflict(struct dtrbd_device *dev, sector_t sector,
		       unsigned int size)
{
	u64 start = (u64)sector << SECTOR_SHIFT, end = start + size;
	unsigned int i;

	lockdep_assert_held(&dev->lock);
	if (!dev->conn || !dev->conn->rs_slots)
		return false;
	for (i = 0; i < DTRBD_RS_SLOTS; i++) {
		struct dtrbd_rs_slot *s = &dev->conn->rs_slots[i];

		if (s->busy && start < s->offset + s->len && s->offset < end)
			return true;
	}
	return false;
}

/*
 * Under dev->lock: the busy, sent chunk @idx the peer answers, if it is of
 * the kind the answer is for (@verify: P_OV_REQ, @csum_req: P_CSUM_REQ,
 * neither: P_RS_DATA) and, for a checksum answer, covers @blocks; else
 * NULL.
 */
static struct dtrbd_rs_slot *dtrbd_rs_answered(struct dtrbd_device *dev,
					       u64 idx, bool verify,
					       bool csum_req,
					       unsigned int blocks)
{
	struct dtrbd_rs_slot *s;

	lockdep_assert_held(&dev->lock);
	if (!dev->conn->rs_slots || idx >= DTRBD_RS_SLOTS)
		return NULL;
	s = &dev->conn->rs_slots[idx];
	if (!s->busy || s->queued || s->verify != verify ||
	    s->csum_req != csum_req)
		return NULL;
	if ((verify || csum_req) && s->len != blocks * DTRBD_MD_BLOCK)
		return NULL;
	return s;
}

int dtrbd_rs_ack(struct dtrbd_device *dev, u64 idx, int error)
{
	struct dtrbd_rs_slot *s;

	if (error)
		return -EIO;
	spin_lock_irq(&dev->lock);
	s = dtrbd_rs_answered(dev, idx, false, false, 0);
	if (!s) {
		spin_unlock_irq(&dev->lock);
		dtrbd_err(dev, "peer acknowledged unknown resync chunk %llu\n",
			  idx);
		return -EPROTO;
	}
	s->busy = false;
	dev->sync_done += s->len;
	dtrbd_bm_clear(dev, s->offset / DTRBD_MD_BLOCK,
		       (s->offset + s->len) / DTRBD_MD_BLOCK - 1);
	spin_unlock_irq(&dev->lock);
	wake_up(&dev->rs_wq);
	wake_up_all(&dev->state_wq);	/* writes waiting for this chunk */
	return 0;
}

int dtrbd_ov_reply(struct dtrbd_device *dev, u64 idx, const u8 *diff,
		   unsigned int blocks)
{
	struct dtrbd_rs_slot *s;
	unsigned int i, n = 0;
	u64 first;

	spin_lock_irq(&dev->lock);
	s = dtrbd_rs_answered(dev, idx, true, false, blocks);
	if (!s) {
		spin_unlock_irq(&dev->lock);
		dtrbd_err(dev, "peer answered unknown verify request %llu\n",
			  idx);
		return -EPROTO;
	}
	first = s->offset / DTRBD_MD_BLOCK;
	for (i = 0; i < blocks; i++) {
		if (!diff[i])
			continue;
		dtrbd_bm_set(dev, first + i, first + i);
		n++;
	}
	dev->verify_checked += blocks;
	dev->verify_differing += n;
	dev->sync_done += s->len;
	s->busy = false;
	spin_unlock_irq(&dev->lock);
	if (n)
		dtrbd_warn(dev, "verify: %u of %u blocks differ at sector %llu\n",
			   n, blocks, (unsigned long long)(s->offset >> SECTOR_SHIFT));
	wake_up(&dev->rs_wq);
	wake_up_all(&dev->state_wq);
	return 0;
}

/*
 * P_RS_SAME: the peer compared our checksums. Equal blocks are in sync;
 * the differing ones (first to last) go as data from the pages we hold.
 */
int dtrbd_csum_reply(struct dtrbd_device *dev, u64 idx, const u8 *diff,
		     unsigned int blocks)
{
	struct dtrbd_rs_slot *s;
	unsigned int i, lo = blocks, hi = 0;
	u64 first, same;
	bool queued = false;

	spin_lock_irq(&dev->lock);
	s = dtrbd_rs_answered(dev, idx, false, true, blocks);
	if (!s) {
		spin_unlock_irq(&dev->lock);
		dtrbd_err(dev, "peer answered unknown checksum request %llu\n",
			  idx);
		return -EPROTO;
	}
	first = s->offset / DTRBD_MD_BLOCK;
	for (i = 0; i < blocks; i++) {
		if (diff[i]) {
			lo = min(lo, i);
			hi = i;
		}
	}
	if (lo == blocks) {
		same = s->len;
		dtrbd_bm_clear(dev, first, first + blocks - 1);
		s->busy = false;
	} else {
		same = (u64)(blocks - (hi - lo + 1)) * DTRBD_MD_BLOCK;
		if (lo)
			dtrbd_bm_clear(dev, first, first + lo - 1);
		if (hi + 1 < blocks)
			dtrbd_bm_clear(dev, first + hi + 1, first + blocks - 1);
		s->csum_req = false;
		s->first_page = lo;
		s->offset += (u64)lo * DTRBD_MD_BLOCK;
		s->len = (hi - lo + 1) * DTRBD_MD_BLOCK;
		s->queued = true;
		s->peer_wait = true;
		s->peer_since = jiffies;
		list_add_tail(&s->list, &dev->conn->rs_send_q);
		queued = true;
	}
	dev->stats.rs_same += same;
	dev->sync_done += same;
	spin_unlock_irq(&dev->lock);
	if (queued)
		wake_up(&dev->sender_wq);
	wake_up(&dev->rs_wq);
	wake_up_all(&dev->state_wq);
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
	unsigned int i, busy = 0, limit = DTRBD_RS_SLOTS;

	spin_lock_irq(&dev->lock);
	/* dynamic: one chunk in flight while the application writes */
	if (!dev->resync_rate &&
	    time_before(jiffies, dev->last_app_write + HZ / 10))
		limit = 1;
	for (i = 0; i < DTRBD_RS_SLOTS; i++)
		busy += dev->conn->rs_slots[i].busy;
	for (i = 0; i < DTRBD_RS_SLOTS && busy < limit; i++) {
		if (!dev->conn->rs_slots[i].busy) {
			s = &dev->conn->rs_slots[i];
			s->busy = true;
			s->peer_wait = false;	/* our read comes first */
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
	bool overlap;

	spin_lock_irq(&dev->lock);
	overlap = dtrbd_write_overlaps(dev, s->offset >> SECTOR_SHIFT, s->len);
	spin_unlock_irq(&dev->lock);
	return overlap;
}

static bool dtrbd_rs_all_acked(struct dtrbd_device *dev)
{
	unsigned int i;
	bool idle = true;

	spin_lock_irq(&dev->lock);
	for (i = 0; i < DTRBD_RS_SLOTS; i++)
		idle &= !dev->conn->rs_slots[i].busy;
	spin_unlock_irq(&dev->lock);
	return idle;
}

/* Read @blocks 4 KiB blocks at @sector into @pages; crc32c each if @csum. */
static int dtrbd_read_blocks(struct dtrbd_device *dev, struct page **pages,
			     struct bio_vec *bvecs, sector_t sector,
			     unsigned int len, __be32 *csum)
{
	unsigned int n = DIV_ROUND_UP(len, PAGE_SIZE), i;
	struct bio *bio;
	int ret;

	bio = bio_alloc(dev->bdev, n, REQ_OP_READ, GFP_NOIO);
	bio->bi_iter.bi_sector = sector;
	for (i = 0; i < n; i++)
		__bio_add_page(bio, pages ? pages[i] : bvecs[i].bv_page,
			       min_t(unsigned int, PAGE_SIZE,
				     len - i * PAGE_SIZE), 0);
	ret = submit_bio_wait(bio);
	bio_put(bio);
	if (ret || !csum)
		return ret;
	BUILD_BUG_ON(DTRBD_MD_BLOCK != PAGE_SIZE);
	for (i = 0; i < n; i++)
		csum[i] = cpu_to_be32(__crc32c_le(~0u, page_address(
			pages ? pages[i] : bvecs[i].bv_page), PAGE_SIZE));
	return 0;
}

/* Receiver side of a verify: checksums of our own blocks. */
int dtrbd_ov_read_csums(struct dtrbd_device *dev, sector_t sector,
			unsigned int blocks, __be32 *csum)
{
	unsigned int i;

	for (i = 0; i < blocks; i++) {
		if (dev->conn->ov_pages[i])
			continue;
		dev->conn->ov_pages[i] = alloc_page(GFP_NOIO);
		if (!dev->conn->ov_pages[i])
			return -ENOMEM;
	}
	return dtrbd_read_blocks(dev, dev->conn->ov_pages, NULL, sector,
				 blocks * DTRBD_MD_BLOCK, csum);
}

/* Fixed rate: sleep until the bytes sent so far are within the budget. */
static void dtrbd_rs_pace(struct dtrbd_device *dev, unsigned long start,
			  u64 sent)
{
	u32 kib = READ_ONCE(dev->resync_rate);
	u64 due;

	if (!kib)
		return;
	/* jiffies at which @sent bytes are allowed */
	due = start + div64_u64(sent * HZ, (u64)kib << 10);
	while (time_before(jiffies, (unsigned long)due) &&
	       !dtrbd_rs_stopping(dev))
		schedule_timeout_interruptible(min_t(long, due - jiffies, HZ / 10));
}

/* The next run of out-of-sync blocks at or after @pos, at most @max. */
static u64 dtrbd_rs_next(struct dtrbd_device *dev, u64 pos, unsigned int max,
			 unsigned int *n)
{
	u64 b;

	spin_lock_irq(&dev->lock);
	b = dtrbd_bm_find_next(dev, pos);
	*n = 0;
	while (b + *n < dev->bm_bits && *n < max && dtrbd_bm_test(dev, b + *n))
		(*n)++;
	spin_unlock_irq(&dev->lock);
	return b;
}

/* One pass over the bitmap (or, for a verify, over every block). */
static int dtrbd_rs_pass(struct dtrbd_device *dev, bool verify)
{
	const unsigned int max = DTRBD_RS_CHUNK / DTRBD_MD_BLOCK;
	unsigned long start = jiffies;
	struct dtrbd_rs_slot *s;
	u64 pos = 0, sent = 0, b;
	unsigned int n;
	int ret;

	while (pos < dev->bm_bits) {
		if (verify) {
			b = pos;
			n = min_t(u64, max, dev->bm_bits - pos);
		} else {
			b = dtrbd_rs_next(dev, pos, max, &n);
			if (b >= dev->bm_bits)
				break;
		}
		dtrbd_rs_pace(dev, start, sent);

		s = NULL;
		wait_event_interruptible(dev->rs_wq, dtrbd_rs_stopping(dev) ||
			(s = dtrbd_rs_claim(dev, b * DTRBD_MD_BLOCK,
					    n * DTRBD_MD_BLOCK)));
		if (dtrbd_rs_stopping(dev))
			return -ESHUTDOWN;
		s->verify = verify;
		s->csum_req = !verify && READ_ONCE(dev->csum_resync);
		s->first_page = 0;
		wait_event_interruptible(dev->rs_wq, dtrbd_rs_stopping(dev) ||
					 !dtrbd_rs_write_overlaps(dev, s));
		if (dtrbd_rs_stopping(dev))
			return -ESHUTDOWN;
		ret = dtrbd_read_blocks(dev, NULL, s->bvecs,
					s->offset >> SECTOR_SHIFT, s->len,
					verify || s->csum_req ? s->csum : NULL);
		if (ret) {
			dtrbd_err(dev, "%s read failed at %llu: %d\n",
				  verify ? "verify" : "resync", s->offset, ret);
			return ret;
		}
		spin_lock_irq(&dev->lock);
		s->queued = true;
		/* from now on the request timer watches it (conn.c) */
		s->peer_wait = true;
		s->peer_since = jiffies;
		list_add_tail(&s->list, &dev->conn->rs_send_q);
		spin_unlock_irq(&dev->lock);
		wake_up(&dev->sender_wq);
		sent += s->len;
		pos = b + n;
	}
	wait_event_interruptible(dev->rs_wq, dtrbd_rs_stopping(dev) ||
				 dtrbd_rs_all_acked(dev));
	return dtrbd_rs_stopping(dev) ? -ESHUTDOWN : 0;
}

static int dtrbd_resync_run(struct dtrbd_device *dev)
{
	unsigned int pass;
	u64 left;
	int ret;

	dtrbd_info(dev, "resync started as source (%s), %llu KiB\n",
		   dev->sync_kind == DTRBD_SK_FULL ? "full" : "bitmap",
		   dev->sync_total >> 10);
	dtrbd_notify(dev, DTRBD_EV_SYNC_STARTED, "source");
	/* bits set again meanwhile (the peer failed a write) get more passes */
	for (pass = 0; pass < 3; pass++) {
		ret = dtrbd_rs_pass(dev, false);
		if (ret)
			return ret;
		spin_lock_irq(&dev->lock);
		left = dev->bm_set;
		spin_unlock_irq(&dev->lock);
		if (!left)
			break;
	}
	if (left) {
		dtrbd_err(dev, "resync: %llu blocks still out of sync after %u passes\n",
			  left, pass);
		return -EIO;
	}

	/* the peer holds our generation now: no older point to keep */
	mutex_lock(&dev->md_mutex);
	dtrbd_clear_bitmap_uuid(dev);
	dev->md_flags &= ~DTRBD_MDF_CRASHED_PRIMARY;
	mutex_unlock(&dev->md_mutex);
	ret = dtrbd_bm_write(dev, false);
	if (!ret)
		ret = dtrbd_md_write(dev);
	if (ret)
		return ret;
	spin_lock_irq(&dev->lock);
	dev->sync = DTRBD_SYNC_NONE;
	dev->sync_kind = DTRBD_SK_NONE;
	dev->peer_disk = DTRBD_DISK_UPTODATE;
	dev->flags &= ~DTRBD_F_CRASHED_PRIMARY;
	dev->send_sync_done = true;
	spin_unlock_irq(&dev->lock);
	wake_up(&dev->sender_wq);
	dtrbd_info(dev, "resync finished\n");
	dtrbd_notify(dev, DTRBD_EV_SYNC_FINISHED, NULL);
	return 0;
}

static int dtrbd_verify_run(struct dtrbd_device *dev)
{
	u64 differing;
	int ret;

	dtrbd_info(dev, "online verify started, %llu KiB\n", dev->size >> 10);
	dtrbd_notify(dev, DTRBD_EV_VERIFY_STARTED, NULL);
	ret = dtrbd_rs_pass(dev, true);
	if (ret)
		return ret;
	spin_lock_irq(&dev->lock);
	differing = dev->verify_differing;
	dev->sync = DTRBD_SYNC_NONE;
	dev->sync_kind = DTRBD_SK_NONE;
	spin_unlock_irq(&dev->lock);
	/* what differs is marked out of sync: keep it across a crash */
	ret = dtrbd_bm_write(dev, false);
	if (ret)
		return ret;
	dtrbd_info(dev, "online verify finished: %llu of %llu blocks differ\n",
		   differing, dev->verify_checked);
	dtrbd_notify(dev, DTRBD_EV_VERIFY_FINISHED, NULL);
	if (!differing || !dev->verify_repair)
		return 0;

	spin_lock_irq(&dev->lock);
	dev->sync = DTRBD_SYNC_SOURCE;
	dev->sync_kind = DTRBD_SK_BITMAP;
	dev->sync_total = dev->bm_set * DTRBD_MD_BLOCK;
	dev->sync_done = 0;
	dev->rate_stamp = jiffies;
	dev->rate_stamp_done = 0;
	spin_unlock_irq(&dev->lock);
	return dtrbd_resync_run(dev);
}

int dtrbd_resync_thread(void *arg)
{
	struct dtrbd_device *dev = arg;
	unsigned int noio = memalloc_noio_save();
	int ret;

	if (READ_ONCE(dev->sync_kind) == DTRBD_SK_VERIFY)
		ret = dtrbd_verify_run(dev);
	else
		ret = dtrbd_resync_run(dev);
	memalloc_noio_restore(noio);
	if (ret && ret != -ESHUTDOWN)
		dtrbd_conn_fail(dev, "resync failed (error %d)", ret);
	dtrbd_wait_for_stop();
	return 0;
}

/*
 * Start the resync (or verify) thread; sync and sync_kind are claimed.
 * Called with dev->state_mutex held or by the receiver; see
 * dtrbd_start_sync() for why the teardown never misses it.
 */
int dtrbd_start_resyncer(struct dtrbd_device *dev, enum dtrbd_sync_kind k)
{
	struct task_struct *t;
	int ret;

	if (dev->conn->resyncer) {
		/* one resync thread per connection; it has finished */
		kthread_stop(dev->conn->resyncer);
		dev->conn->resyncer = NULL;
	}
	ret = dtrbd_rs_alloc(dev);
	if (ret)
		return ret;
	t = kthread_run(dtrbd_resync_thread, dev, "dtrbd%u_%s", dev->minor,
			k == DTRBD_SK_VERIFY ? "ov" : "rs");
	if (IS_ERR(t))
		return PTR_ERR(t);
	dev->conn->resyncer = t;
	return 0;
}
