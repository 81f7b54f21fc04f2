// SPDX-License-Identifier: GPL-2.0
/*
 * dtrbd: on-disk metadata (superblock) and generation identifiers.
 */
#define pr_fmt(fmt) "dtrbd: " fmt

#include <linux/crc32.h>
#include <linux/random.h>

#include "dtrbd_int.h"

static u32 dtrbd_md_crc(const struct dtrbd_md_super *sb)
{
	return __crc32c_le(~0u, (const unsigned char *)sb,
			   offsetof(struct dtrbd_md_super, crc));
}

/*
 * Metadata I/O failed on an attached device: the activity log, the bitmap
 * and the generation ids can no longer be kept, so the disk is treated as
 * failed like after a data I/O error (dtrbd_disk_failed: diskless, I/O
 * through the peer). Not while attaching (disk_state is still UNKNOWN; the
 * attach fails instead) nor while detaching (the detach ends with the disk
 * either way, and its io_error_work is flushed already).
 */
static void dtrbd_md_io_failed(struct dtrbd_device *dev, blk_opf_t opf,
			       int err)
{
	unsigned long flags;

	pr_err_ratelimited("%s: metadata %s failed: %d\n", dtrbd_name(dev),
			   op_is_write(opf) ? "write" : "read", err);
	spin_lock_irqsave(&dev->lock, flags);
	if (!dev->removing)
		dtrbd_disk_failed(dev);
	spin_unlock_irqrestore(&dev->lock, flags);
}

/* One page of metadata I/O at byte @off of the metadata device. */
int dtrbd_md_rw_page(struct dtrbd_device *dev, struct page *page, u64 off,
		     blk_opf_t opf)
{
	struct bio_vec bvec;
	struct bio bio;
	int ret;

	/* after an I/O error the (internal) metadata is out of reach too */
	if (READ_ONCE(dev->disk_state) == DTRBD_DISK_DISKLESS &&
	    dev->md_bdev == dev->bdev)
		return -EIO;
	bio_init(&bio, dev->md_bdev, &bvec, 1, opf);
	bio.bi_iter.bi_sector = off >> SECTOR_SHIFT;
	__bio_add_page(&bio, page, PAGE_SIZE, 0);
	ret = submit_bio_wait(&bio);
	bio_uninit(&bio);
	if (ret)
		dtrbd_md_io_failed(dev, opf, ret);
	return ret;
}

static int dtrbd_md_io(struct dtrbd_device *dev, blk_opf_t opf)
{
	BUILD_BUG_ON(DTRBD_MD_SB_SIZE != PAGE_SIZE);
	return dtrbd_md_rw_page(dev, dev->md_page, dev->layout.sb_offset, opf);
}

int dtrbd_md_read(struct dtrbd_device *dev, struct netlink_ext_ack *extack)
{
	struct dtrbd_md_super *sb;
	u64 dev_size = bdev_nr_bytes(dev->bdev);
	bool external = dev->md_bdev != dev->bdev;
	int ret;

	if (external) {
		if (dtrbd_md_layout_external(dev_size,
					     bdev_nr_bytes(dev->md_bdev),
					     &dev->layout)) {
			NL_SET_ERR_MSG(extack,
				       "the metadata device is too small for this disk's bitmap, or the disk is smaller than 1 MiB");
			return -ENOSPC;
		}
	} else if (dtrbd_md_layout(dev_size, &dev->layout)) {
		NL_SET_ERR_MSG(extack,
			       "the disk is too small for dtrbd (it needs at least 1 MiB of data plus metadata)");
		return -ENOSPC;
	}

	mutex_lock(&dev->md_mutex);
	ret = dtrbd_md_io(dev, REQ_OP_READ);
	if (ret) {
		NL_SET_ERR_MSG(extack, "cannot read the metadata from the disk");
		goto out;
	}
	sb = page_address(dev->md_page);
	if (le64_to_cpu(sb->magic) != DTRBD_MD_MAGIC) {
		NL_SET_ERR_MSG(extack,
			       "the disk has no dtrbd metadata; run dtrbdctl create-md first");
		ret = -ENOMEDIUM;
		goto out;
	}
	if (le32_to_cpu(sb->crc) != dtrbd_md_crc(sb)) {
		NL_SET_ERR_MSG(extack,
			       "the dtrbd metadata on the disk is corrupt (checksum mismatch)");
		ret = -EUCLEAN;
		goto out;
	}
	if (le32_to_cpu(sb->version) != DTRBD_MD_VERSION ||
	    le32_to_cpu(sb->sb_size) != DTRBD_MD_SB_SIZE) {
		NL_SET_ERR_MSG(extack,
			       "the dtrbd metadata has a version this module does not know");
		ret = -EPROTO;
		goto out;
	}
	if (!!(le32_to_cpu(sb->flags) & DTRBD_MDF_EXTERNAL) != external) {
		if (external)
			NL_SET_ERR_MSG(extack,
				       "the metadata device holds internal metadata of another disk");
		else
			NL_SET_ERR_MSG(extack,
				       "this disk's metadata is external; attach it with its metadata device");
		ret = -EUCLEAN;
		goto out;
	}
	if (le64_to_cpu(sb->data_size) != dev->layout.data_size ||
	    le64_to_cpu(sb->bm_offset) != dev->layout.bm_offset ||
	    le64_to_cpu(sb->al_offset) != dev->layout.al_offset ||
	    le32_to_cpu(sb->flags) & ~DTRBD_MDF_ALL) {
		NL_SET_ERR_MSG(extack,
			       "the dtrbd metadata does not match the disk's size (was it resized?)");
		ret = -EUCLEAN;
		goto out;
	}
	dev->md_flags = le32_to_cpu(sb->flags);
	dev->current_uuid = le64_to_cpu(sb->current_uuid);
	dev->bitmap_uuid = le64_to_cpu(sb->bitmap_uuid);
	dev->history_uuid[0] = le64_to_cpu(sb->history_uuid[0]);
	dev->history_uuid[1] = le64_to_cpu(sb->history_uuid[1]);
	dev->device_uuid = le64_to_cpu(sb->device_uuid);
out:
	mutex_unlock(&dev->md_mutex);
	return ret;
}

/*
 * Persist the in-memory superblock fields. Callers hold dev->state_mutex
 * (or own the device exclusively during attach). The write is a
 * PREFLUSH|FUA so that everything completed before it is stable too.
 */
int dtrbd_md_write(struct dtrbd_device *dev)
{
	struct dtrbd_md_super *sb;
	int ret;

	mutex_lock(&dev->md_mutex);
	sb = page_address(dev->md_page);
	memset(sb, 0, DTRBD_MD_SB_SIZE);
	sb->magic = cpu_to_le64(DTRBD_MD_MAGIC);
	sb->version = cpu_to_le32(DTRBD_MD_VERSION);
	sb->sb_size = cpu_to_le32(DTRBD_MD_SB_SIZE);
	sb->dev_size = cpu_to_le64(dev->md_bdev != dev->bdev ?
				   bdev_nr_bytes(dev->bdev) :
				   dev->layout.sb_offset + DTRBD_MD_SB_SIZE);
	sb->data_size = cpu_to_le64(dev->layout.data_size);
	sb->bm_offset = cpu_to_le64(dev->layout.bm_offset);
	sb->bm_size = cpu_to_le64(dev->layout.bm_size);
	sb->al_offset = cpu_to_le64(dev->layout.al_offset);
	sb->al_size = cpu_to_le32(DTRBD_MD_AL_SIZE);
	sb->al_extent_size = cpu_to_le32(DTRBD_MD_AL_EXTENT);
	sb->bm_block_size = cpu_to_le32(DTRBD_MD_BLOCK);
	sb->flags = cpu_to_le32(dev->md_flags);
	sb->current_uuid = cpu_to_le64(dev->current_uuid);
	sb->bitmap_uuid = cpu_to_le64(dev->bitmap_uuid);
	sb->history_uuid[0] = cpu_to_le64(dev->history_uuid[0]);
	sb->history_uuid[1] = cpu_to_le64(dev->history_uuid[1]);
	sb->device_uuid = cpu_to_le64(dev->device_uuid);
	sb->crc = cpu_to_le32(dtrbd_md_crc(sb));
	ret = dtrbd_md_io(dev, REQ_OP_WRITE | REQ_SYNC | REQ_PREFLUSH |
			  REQ_FUA);
	mutex_unlock(&dev->md_mutex);
	if (ret)
		dtrbd_err(dev, "metadata write failed: %d\n", ret);
	return ret;
}

/*
 * Start a new data generation: from now on this side has data the peer
 * lacks. The old current id becomes the bitmap id (the point the peer can
 * resync from) unless one is kept already, in which case the peer is still
 * further behind and that older point stays.
 */
void dtrbd_new_current_uuid(struct dtrbd_device *dev)
{
	u64 uuid;

	do {
		uuid = get_random_u64();
	} while (!uuid);
	if (!dev->bitmap_uuid)
		dev->bitmap_uuid = dev->current_uuid;
	dev->current_uuid = uuid;
}

/* A resync finished: the peer holds our current generation now. */
void dtrbd_clear_bitmap_uuid(struct dtrbd_device *dev)
{
	if (!dev->bitmap_uuid)
		return;
	dev->history_uuid[1] = dev->history_uuid[0];
	dev->history_uuid[0] = dev->bitmap_uuid;
	dev->bitmap_uuid = 0;
}
