// SPDX-License-Identifier: GPL-2.0
/*
 * dtrbd: the out-of-sync bitmap.
 *
 * One bit per 4 KiB block of the data area, set when the peer may not hold
 * what we hold there. In memory it is an array of pages in the on-disk
 * format (little-endian 64-bit words, so the _le bit operations), so pages
 * go to and from the disk and the peer without conversion. Bits change
 * under dev->lock; a page whose bits changed is marked in bm_dirty and is
 * written back lazily: at disconnect, detach, the end of a resync, and
 * before its extent leaves the activity log. Together with the activity
 * log the on-disk bitmap is therefore always a superset of the blocks that
 * really differ.
 */
#define pr_fmt(fmt) "dtrbd: " fmt

#include <linux/bitmap.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "dtrbd_int.h"

int dtrbd_bm_alloc(struct dtrbd_device *dev)
{
	unsigned int i;

	mutex_init(&dev->bm_mutex);
	dev->bm_bits = dev->layout.data_size / DTRBD_MD_BLOCK;
	dev->bm_npages = DIV_ROUND_UP(dev->bm_bits, DTRBD_BM_PAGE_BITS);
	dev->bm_pages = kvcalloc(dev->bm_npages, sizeof(*dev->bm_pages),
				 GFP_KERNEL);
	dev->bm_dirty = bitmap_zalloc(dev->bm_npages, GFP_KERNEL);
	if (!dev->bm_pages || !dev->bm_dirty)
		goto out_free;
	for (i = 0; i < dev->bm_npages; i++) {
		dev->bm_pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!dev->bm_pages[i])
			goto out_free;
	}
	dev->bm_set = 0;
	return 0;

out_free:
	dtrbd_bm_free(dev);
	return -ENOMEM;
}

void dtrbd_bm_free(struct dtrbd_device *dev)
{
	unsigned int i;

	if (dev->bm_pages)
		for (i = 0; i < dev->bm_npages; i++)
			if (dev->bm_pages[i])
				__free_page(dev->bm_pages[i]);
	kvfree(dev->bm_pages);
	bitmap_free(dev->bm_dirty);
	dev->bm_pages = NULL;
	dev->bm_dirty = NULL;
}

static void *dtrbd_bm_addr(struct dtrbd_device *dev, u64 bit)
{
	return page_address(dev->bm_pages[bit / DTRBD_BM_PAGE_BITS]);
}

/* Under dev->lock: set [first, last]; returns how many were clear. */
u64 dtrbd_bm_set(struct dtrbd_device *dev, u64 first, u64 last)
{
	u64 b, n = 0;

	lockdep_assert_held(&dev->lock);
	last = min(last, dev->bm_bits - 1);
	for (b = first; b <= last; b++) {
		if (!__test_and_set_bit_le(b % DTRBD_BM_PAGE_BITS,
					   dtrbd_bm_addr(dev, b))) {
			n++;
			__set_bit(b / DTRBD_BM_PAGE_BITS, dev->bm_dirty);
		}
	}
	dev->bm_set += n;
	return n;
}

/* Under dev->lock: clear [first, last]; returns how many were set. */
u64 dtrbd_bm_clear(struct dtrbd_device *dev, u64 first, u64 last)
{
	u64 b, n = 0;

	lockdep_assert_held(&dev->lock);
	last = min(last, dev->bm_bits - 1);
	for (b = first; b <= last; b++) {
		b = dtrbd_bm_find_next(dev, b);
		if (b > last)
			break;
		__clear_bit_le(b % DTRBD_BM_PAGE_BITS, dtrbd_bm_addr(dev, b));
		__set_bit(b / DTRBD_BM_PAGE_BITS, dev->bm_dirty);
		n++;
	}
	dev->bm_set -= n;
	return n;
}

bool dtrbd_bm_test(struct dtrbd_device *dev, u64 block)
{
	return test_bit_le(block % DTRBD_BM_PAGE_BITS,
			   dtrbd_bm_addr(dev, block));
}

/* Under dev->lock: the first set bit at or after @from, or bm_bits. */
u64 dtrbd_bm_find_next(struct dtrbd_device *dev, u64 from)
{
	lockdep_assert_held(&dev->lock);
	while (from < dev->bm_bits) {
		unsigned int pg = from / DTRBD_BM_PAGE_BITS;
		u64 base = (u64)pg * DTRBD_BM_PAGE_BITS;
		unsigned long end = min_t(u64, DTRBD_BM_PAGE_BITS,
					  dev->bm_bits - base);
		unsigned long i;

		i = find_next_bit_le(page_address(dev->bm_pages[pg]), end,
				     from - base);
		if (i < end)
			return base + i;
		from = base + DTRBD_BM_PAGE_BITS;
	}
	return dev->bm_bits;
}

/*
 * Mark every block out of sync (full resync). Page by page so that the
 * lock is never held for long; bits past the end stay clear.
 */
void dtrbd_bm_set_all(struct dtrbd_device *dev)
{
	unsigned int pg;

	for (pg = 0; pg < dev->bm_npages; pg++) {
		u64 base = (u64)pg * DTRBD_BM_PAGE_BITS;

		spin_lock_irq(&dev->lock);
		dtrbd_bm_set(dev, base, base + DTRBD_BM_PAGE_BITS - 1);
		spin_unlock_irq(&dev->lock);
		cond_resched();
	}
}

/*
 * Mark every block in sync (both sides hold the same data). Page by page,
 * a word at a time, dropping the lock between pages: on a multi-TiB device
 * the bitmap has millions of words, and dev->lock keeps interrupts off.
 * Bits past the end are always clear, so a page's weight is its count.
 */
void dtrbd_bm_clear_all(struct dtrbd_device *dev)
{
	unsigned int pg;

	for (pg = 0; pg < dev->bm_npages; pg++) {
		unsigned long *w = page_address(dev->bm_pages[pg]);
		unsigned int n;

		spin_lock_irq(&dev->lock);
		n = bitmap_weight(w, DTRBD_BM_PAGE_BITS);
		if (n) {
			bitmap_zero(w, DTRBD_BM_PAGE_BITS);
			dev->bm_set -= n;
			__set_bit(pg, dev->bm_dirty);
		}
		spin_unlock_irq(&dev->lock);
		cond_resched();
	}
}

/*
 * Under dev->lock: OR @n little-endian words received from the peer into
 * page @pg. Returns the number of bits that were newly set.
 */
u64 dtrbd_bm_merge(struct dtrbd_device *dev, unsigned int pg,
		   const __le64 *words, unsigned int n)
{
	__le64 *w = page_address(dev->bm_pages[pg]);
	u64 base = (u64)pg * DTRBD_BM_PAGE_BITS, added = 0;
	unsigned int i;

	lockdep_assert_held(&dev->lock);
	for (i = 0; i < n; i++) {
		u64 in = le64_to_cpu(words[i]), old = le64_to_cpu(w[i]);
		u64 first = base + (u64)i * 64;

		if (first >= dev->bm_bits)
			break;
		if (dev->bm_bits - first < 64)	/* no bits past the end */
			in &= (1ull << (dev->bm_bits - first)) - 1;
		if (in & ~old) {
			added += hweight64(in & ~old);
			w[i] = cpu_to_le64(old | in);
		}
	}
	if (added) {
		dev->bm_set += added;
		__set_bit(pg, dev->bm_dirty);
	}
	return added;
}

/* Read the whole bitmap at attach; counts the bits, clears the tail. */
int dtrbd_bm_read(struct dtrbd_device *dev)
{
	unsigned int pg;
	u64 set = 0;
	int ret;

	for (pg = 0; pg < dev->bm_npages; pg++) {
		u64 base = (u64)pg * DTRBD_BM_PAGE_BITS;
		unsigned long *w = page_address(dev->bm_pages[pg]);
		unsigned int valid = min_t(u64, DTRBD_BM_PAGE_BITS,
					   dev->bm_bits - base);

		ret = dtrbd_md_rw_page(dev, dev->bm_pages[pg],
				       dev->layout.bm_offset + (u64)pg * PAGE_SIZE,
				       REQ_OP_READ);
		if (ret)
			return ret;
		/* garbage past the last block must not count */
		if (valid < DTRBD_BM_PAGE_BITS) {
			unsigned int b;

			for (b = valid; b < DTRBD_BM_PAGE_BITS; b++)
				__clear_bit_le(b, w);
		}
		set += bitmap_weight(w, DTRBD_BM_PAGE_BITS);
	}
	spin_lock_irq(&dev->lock);
	dev->bm_set = set;
	spin_unlock_irq(&dev->lock);
	return 0;
}

static int dtrbd_bm_write_page(struct dtrbd_device *dev, unsigned int pg)
{
	return dtrbd_md_rw_page(dev, dev->bm_pages[pg],
				dev->layout.bm_offset + (u64)pg * PAGE_SIZE,
				REQ_OP_WRITE | REQ_SYNC | REQ_FUA);
}

/*
 * Write back the dirty pages (or all of them). A bit that changes while its
 * page is being written marks the page dirty again, so it is never lost.
 */
int dtrbd_bm_write(struct dtrbd_device *dev, bool all)
{
	unsigned int pg;
	bool dirty;
	int ret = 0;

	/*
	 * Serialised with dtrbd_bm_write_ext(): a page whose dirty bit we
	 * cleared is not on disk until we return.
	 */
	mutex_lock(&dev->bm_mutex);
	for (pg = 0; pg < dev->bm_npages; pg++) {
		spin_lock_irq(&dev->lock);
		dirty = __test_and_clear_bit(pg, dev->bm_dirty);
		spin_unlock_irq(&dev->lock);
		if (!dirty && !all)
			continue;
		ret = dtrbd_bm_write_page(dev, pg);
		if (ret) {
			spin_lock_irq(&dev->lock);
			__set_bit(pg, dev->bm_dirty);
			spin_unlock_irq(&dev->lock);
			dtrbd_err(dev, "bitmap write failed: %d\n", ret);
			break;
		}
	}
	mutex_unlock(&dev->bm_mutex);
	return ret;
}

/* Before extent @ext leaves the activity log: its bits must be on disk. */
int dtrbd_bm_write_ext(struct dtrbd_device *dev, u32 ext)
{
	u64 first = (u64)ext * (DTRBD_MD_AL_EXTENT / DTRBD_MD_BLOCK);
	unsigned int pg = first / DTRBD_BM_PAGE_BITS;
	bool dirty;
	int ret;

	/* an extent's bits never straddle a page: 1024 divides 32768 */
	BUILD_BUG_ON(DTRBD_BM_PAGE_BITS % (DTRBD_MD_AL_EXTENT / DTRBD_MD_BLOCK));
	if (pg >= dev->bm_npages)
		return 0;
	mutex_lock(&dev->bm_mutex);
	spin_lock_irq(&dev->lock);
	dirty = __test_and_clear_bit(pg, dev->bm_dirty);
	spin_unlock_irq(&dev->lock);
	ret = dirty ? dtrbd_bm_write_page(dev, pg) : 0;
	if (ret) {
		spin_lock_irq(&dev->lock);
		__set_bit(pg, dev->bm_dirty);
		spin_unlock_irq(&dev->lock);
	}
	mutex_unlock(&dev->bm_mutex);
	return ret;
}

/*
 * Under dev->lock: record the outcome of a write to [sector, +size). Not
 * in sync: every block it touched may differ. In sync: the blocks it
 * covered completely are the same on both sides now.
 */
void dtrbd_bm_write_set(struct dtrbd_device *dev, sector_t sector,
			unsigned int size, bool in_sync)
{
	u64 start = (u64)sector << SECTOR_SHIFT, end = start + size;

	lockdep_assert_held(&dev->lock);
	if (!size || !dev->bm_pages)
		return;
	if (!in_sync) {
		dtrbd_bm_set(dev, start / DTRBD_MD_BLOCK,
			     (end - 1) / DTRBD_MD_BLOCK);
		return;
	}
	start = round_up(start, DTRBD_MD_BLOCK);
	end = round_down(end, DTRBD_MD_BLOCK);
	if (start < end && dev->bm_set)
		dtrbd_bm_clear(dev, start / DTRBD_MD_BLOCK,
			       end / DTRBD_MD_BLOCK - 1);
}
