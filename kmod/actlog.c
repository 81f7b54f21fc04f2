// SPDX-License-Identifier: GPL-2.0
/*
 * dtrbd: the activity log.
 *
 * A write may only touch a "hot" 4 MiB extent: one that is recorded on disk
 * (in the activity log area of the metadata) before the write starts. After
 * a crash as Primary, only the extents the last transaction lists can hold
 * writes the peer may lack, so only they are resynced, not the whole disk.
 *
 * The hot set has al_nr slots. A write to hot extents takes a reference on
 * each (dtrbd_al_try_get, under dev->lock, no I/O). A write to a cold
 * extent goes through dtrbd_al_get() in process context: it evicts idle
 * extents (least recently used first; their bitmap bits are written out
 * before they leave), then writes one transaction block that lists the
 * whole new hot set, with FUA, and only then lets the write start.
 *
 * Transactions go round-robin into DTRBD_AL_SLOTS blocks; each carries a
 * sequence number and a crc32c, so recovery picks the newest intact one.
 */
#define pr_fmt(fmt) "dtrbd: " fmt

#include <linux/crc32.h>
#include <linux/hash.h>
#include <linux/slab.h>

#include "dtrbd_int.h"

#define DTRBD_EXT_SHIFT	(ilog2(DTRBD_MD_AL_EXTENT) - SECTOR_SHIFT)

static void dtrbd_al_range(sector_t sector, unsigned int size, u32 *first,
			   u32 *last)
{
	*first = sector >> DTRBD_EXT_SHIFT;
	*last = (sector + (size >> SECTOR_SHIFT) - 1) >> DTRBD_EXT_SHIFT;
}

int dtrbd_al_alloc(struct dtrbd_device *dev, unsigned int nr)
{
	unsigned int i;

	mutex_init(&dev->al_mutex);
	init_waitqueue_head(&dev->al_wq);
	INIT_LIST_HEAD(&dev->al_lru);
	INIT_LIST_HEAD(&dev->al_free);
	for (i = 0; i < ARRAY_SIZE(dev->al_hash); i++)
		INIT_HLIST_HEAD(&dev->al_hash[i]);
	dev->al_ents = kcalloc(nr, sizeof(*dev->al_ents), GFP_KERNEL);
	dev->al_page = alloc_page(GFP_KERNEL);
	if (!dev->al_ents || !dev->al_page) {
		dtrbd_al_free(dev);
		return -ENOMEM;
	}
	dev->al_nr = nr;
	for (i = 0; i < nr; i++) {
		INIT_HLIST_NODE(&dev->al_ents[i].hash);
		list_add_tail(&dev->al_ents[i].lru, &dev->al_free);
	}
	return 0;
}

void dtrbd_al_free(struct dtrbd_device *dev)
{
	kfree(dev->al_ents);
	dev->al_ents = NULL;
	if (dev->al_page)
		__free_page(dev->al_page);
	dev->al_page = NULL;
}

static struct hlist_head *dtrbd_al_bucket(struct dtrbd_device *dev, u32 ext)
{
	return &dev->al_hash[hash_32(ext, DTRBD_AL_HASH_BITS)];
}

/* Under dev->lock. */
static struct dtrbd_al_ent *dtrbd_al_find(struct dtrbd_device *dev, u32 ext)
{
	struct dtrbd_al_ent *e;

	lockdep_assert_held(&dev->lock);
	hlist_for_each_entry(e, dtrbd_al_bucket(dev, ext), hash)
		if (e->ext == ext)
			return e;
	return NULL;
}

/* Under dev->lock: take references if every extent is hot. */
static bool __dtrbd_al_try_get(struct dtrbd_device *dev, u32 first, u32 last)
{
	struct dtrbd_al_ent *e[2];
	u32 x;

	lockdep_assert_held(&dev->lock);
	for (x = first; x <= last; x++) {
		e[x - first] = dtrbd_al_find(dev, x);
		if (!e[x - first])
			return false;
	}
	for (x = first; x <= last; x++) {
		e[x - first]->refs++;
		list_move_tail(&e[x - first]->lru, &dev->al_lru);
	}
	return true;
}

bool dtrbd_al_try_get(struct dtrbd_device *dev, sector_t sector,
		      unsigned int size)
{
	u32 first, last;

	lockdep_assert_held(&dev->lock);
	if (!size)
		return true;
	dtrbd_al_range(sector, size, &first, &last);
	/* one bio is at most DTRBD_MAX_PAYLOAD: two extents at most */
	if (WARN_ON_ONCE(last - first > 1))
		return false;
	return __dtrbd_al_try_get(dev, first, last);
}

void dtrbd_al_put(struct dtrbd_device *dev, sector_t sector,
		  unsigned int size)
{
	struct dtrbd_al_ent *e;
	bool wake = false;
	u32 first, last, x;

	lockdep_assert_held(&dev->lock);
	if (!size)
		return;
	dtrbd_al_range(sector, size, &first, &last);
	for (x = first; x <= last; x++) {
		e = dtrbd_al_find(dev, x);
		if (WARN_ON_ONCE(!e || !e->refs))
			continue;
		if (!--e->refs)
			wake = true;
	}
	if (wake)
		wake_up(&dev->al_wq);
}

/* Write one transaction listing every hot extent plus @extra. */
static int dtrbd_al_write(struct dtrbd_device *dev, const u32 *extra,
			  unsigned int n_extra)
{
	struct dtrbd_al_block *b = page_address(dev->al_page);
	struct dtrbd_al_ent *e;
	unsigned int n = 0, i, slot;
	int ret;

	memset(b, 0, sizeof(*b));
	spin_lock_irq(&dev->lock);
	list_for_each_entry(e, &dev->al_lru, lru)
		b->extents[n++] = cpu_to_le32(e->ext);
	spin_unlock_irq(&dev->lock);
	for (i = 0; i < n_extra; i++)
		b->extents[n++] = cpu_to_le32(extra[i]);
	b->magic = cpu_to_le32(DTRBD_AL_MAGIC);
	b->seq = cpu_to_le64(dev->al_seq);
	b->n = cpu_to_le32(n);
	b->crc = cpu_to_le32(__crc32c_le(~0u, (u8 *)b, sizeof(*b)));
	slot = dev->al_seq % DTRBD_AL_SLOTS;
	ret = dtrbd_md_rw_page(dev, dev->al_page,
			       dev->layout.al_offset + (u64)slot * 4096,
			       REQ_OP_WRITE | REQ_SYNC | REQ_FUA);
	if (ret)
		return ret;
	dev->al_seq++;
	spin_lock_irq(&dev->lock);
	dev->stats.al_writes++;
	spin_unlock_irq(&dev->lock);
	return 0;
}

/* Under dev->lock: is there an idle or free slot? */
static bool dtrbd_al_room(struct dtrbd_device *dev)
{
	struct dtrbd_al_ent *e;

	lockdep_assert_held(&dev->lock);
	if (!list_empty(&dev->al_free))
		return true;
	list_for_each_entry(e, &dev->al_lru, lru)
		if (!e->refs)
			return true;
	return false;
}

/*
 * Process context: make the extents of [sector, +size) hot (writing a
 * transaction if needed) and take a reference on each.
 */
int dtrbd_al_get(struct dtrbd_device *dev, sector_t sector, unsigned int size)
{
	struct dtrbd_al_ent *slot[2], *e;
	u32 first, last, x, need[2], victim[2];
	unsigned int n_need, n_victim, i;
	int ret = 0;

	might_sleep();
	if (!size)
		return 0;
	dtrbd_al_range(sector, size, &first, &last);
	mutex_lock(&dev->al_mutex);
	for (;;) {
		spin_lock_irq(&dev->lock);
		if (__dtrbd_al_try_get(dev, first, last)) {
			spin_unlock_irq(&dev->lock);
			goto out;
		}
		n_need = 0;
		n_victim = 0;
		for (x = first; x <= last; x++)
			if (!dtrbd_al_find(dev, x))
				need[n_need++] = x;
		/* a slot for each missing extent: free ones, then idle LRU */
		for (i = 0; i < n_need; i++) {
			slot[i] = list_first_entry_or_null(&dev->al_free,
							   struct dtrbd_al_ent,
							   lru);
			if (slot[i]) {
				list_del_init(&slot[i]->lru);
				continue;
			}
			slot[i] = NULL;
			list_for_each_entry(e, &dev->al_lru, lru) {
				if (!e->refs) {
					slot[i] = e;
					break;
				}
			}
			if (!slot[i])
				break;
			/* evict: no new references from here on */
			hlist_del_init(&slot[i]->hash);
			list_del_init(&slot[i]->lru);
			victim[n_victim++] = slot[i]->ext;
			dev->al_used--;
		}
		if (i == n_need)
			break;
		/* not enough room: give back what we took and wait */
		while (i--)
			list_add(&slot[i]->lru, &dev->al_free);
		spin_unlock_irq(&dev->lock);
		for (i = 0; i < n_victim; i++)
			dtrbd_bm_write_ext(dev, victim[i]);
		wait_event(dev->al_wq, ({
			bool room;

			spin_lock_irq(&dev->lock);
			room = dtrbd_al_room(dev);
			spin_unlock_irq(&dev->lock);
			room;
		}));
	}
	spin_unlock_irq(&dev->lock);

	/* what leaves the log must be recorded in the on-disk bitmap */
	for (i = 0; i < n_victim; i++) {
		ret = dtrbd_bm_write_ext(dev, victim[i]);
		if (ret)
			goto out_undo;
	}
	ret = dtrbd_al_write(dev, need, n_need);
	if (ret)
		goto out_undo;

	spin_lock_irq(&dev->lock);
	for (i = 0; i < n_need; i++) {
		slot[i]->ext = need[i];
		slot[i]->refs = 0;
		hlist_add_head(&slot[i]->hash, dtrbd_al_bucket(dev, need[i]));
		list_add_tail(&slot[i]->lru, &dev->al_lru);
		dev->al_used++;
	}
	if (!__dtrbd_al_try_get(dev, first, last))
		WARN_ON_ONCE(1);
	spin_unlock_irq(&dev->lock);
	goto out;

out_undo:
	dtrbd_err(dev, "activity log update failed: %d\n", ret);
	spin_lock_irq(&dev->lock);
	for (i = 0; i < n_need; i++)
		list_add(&slot[i]->lru, &dev->al_free);
	spin_unlock_irq(&dev->lock);
out:
	mutex_unlock(&dev->al_mutex);
	return ret;
}

/*
 * At attach: find the newest intact transaction. With @apply (we crashed
 * as Primary) mark every extent it lists out of sync. Transactions then
 * continue after it.
 */
int dtrbd_al_recover(struct dtrbd_device *dev, bool apply)
{
	struct dtrbd_al_block *b = page_address(dev->al_page);
	u64 best_seq = 0;
	int best = -1, ret;
	unsigned int slot, i, n;
	u32 crc;

	mutex_lock(&dev->al_mutex);
	for (slot = 0; slot < DTRBD_AL_SLOTS; slot++) {
		ret = dtrbd_md_rw_page(dev, dev->al_page,
				       dev->layout.al_offset + slot * 4096,
				       REQ_OP_READ);
		if (ret)
			goto out;
		if (le32_to_cpu(b->magic) != DTRBD_AL_MAGIC)
			continue;
		crc = le32_to_cpu(b->crc);
		b->crc = 0;
		if (crc != __crc32c_le(~0u, (u8 *)b, sizeof(*b)) ||
		    le32_to_cpu(b->n) > DTRBD_AL_BLOCK_EXTENTS)
			continue;
		if (best < 0 || le64_to_cpu(b->seq) > best_seq) {
			best = slot;
			best_seq = le64_to_cpu(b->seq);
		}
	}
	dev->al_seq = best < 0 ? 0 : best_seq + 1;
	ret = 0;
	if (best < 0 || !apply)
		goto out;
	ret = dtrbd_md_rw_page(dev, dev->al_page,
			       dev->layout.al_offset + best * 4096,
			       REQ_OP_READ);
	if (ret)
		goto out;
	n = le32_to_cpu(b->n);
	spin_lock_irq(&dev->lock);
	for (i = 0; i < n; i++) {
		u64 first = (u64)le32_to_cpu(b->extents[i]) *
			    (DTRBD_MD_AL_EXTENT / DTRBD_MD_BLOCK);

		if (first < dev->bm_bits)
			dtrbd_bm_set(dev, first, first +
				     DTRBD_MD_AL_EXTENT / DTRBD_MD_BLOCK - 1);
	}
	spin_unlock_irq(&dev->lock);
	dtrbd_info(dev, "crashed as Primary: %u activity log extents (%u MiB) marked for resync\n",
		   n, n * (DTRBD_MD_AL_EXTENT >> 20));
out:
	mutex_unlock(&dev->al_mutex);
	return ret;
}

/*
 * Write an empty transaction (nothing hot). Only when no write is in
 * flight (at detach, and after crash recovery at attach) and after the
 * bitmap is on disk.
 */
int dtrbd_al_clear(struct dtrbd_device *dev)
{
	struct dtrbd_al_ent *e, *tmp;
	int ret;

	mutex_lock(&dev->al_mutex);
	spin_lock_irq(&dev->lock);
	list_for_each_entry_safe(e, tmp, &dev->al_lru, lru) {
		if (e->refs)
			continue;
		hlist_del_init(&e->hash);
		list_move(&e->lru, &dev->al_free);
		dev->al_used--;
	}
	spin_unlock_irq(&dev->lock);
	ret = dtrbd_al_write(dev, NULL, 0);
	mutex_unlock(&dev->al_mutex);
	return ret;
}
