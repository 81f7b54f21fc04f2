// SPDX-License-Identifier: GPL-2.0
/*
 * dtrbd: module init, the device registry, attach and detach.
 */
#define pr_fmt(fmt) "dtrbd: " fmt

#include <linux/module.h>
#include <linux/xarray.h>
#include <linux/build_bug.h>

#include "dtrbd_int.h"

static int dtrbd_major;
static DEFINE_XARRAY(dtrbd_devs);
static DEFINE_MUTEX(dtrbd_devs_mutex);
static bool dtrbd_exiting;	/* [dtrbd_devs_mutex] no more attaches */
struct workqueue_struct *dtrbd_wq;
/*
 * Teardowns run on their own queue: the submit work on dtrbd_wq may sleep
 * until a teardown has finished (or a freeze ends), and a rescuer thread
 * that runs one item at a time must never hold the one it waits for.
 */
struct workqueue_struct *dtrbd_conn_wq;
struct bio_set dtrbd_req_bs, dtrbd_peer_bs;

static void dtrbd_check_layout(void)
{
	/* The wire and disk formats are frozen: see dtrbd_protocol.h. */
	BUILD_BUG_ON(sizeof(struct dtrbd_hdr) != 16);
	BUILD_BUG_ON(sizeof(struct dtrbd_p_hello) != 104);
	BUILD_BUG_ON(sizeof(struct dtrbd_p_state) != 56);
	BUILD_BUG_ON(sizeof(struct dtrbd_p_bitmap) != 16);
	BUILD_BUG_ON(sizeof(struct dtrbd_p_limits) != 16);
	BUILD_BUG_ON(sizeof(struct dtrbd_p_barrier) != 8);
	BUILD_BUG_ON(sizeof(struct dtrbd_p_csum) != 24);
	BUILD_BUG_ON(sizeof(struct dtrbd_p_uuid_sync) != 8);
	BUILD_BUG_ON(sizeof(struct dtrbd_al_block) != 4096);
	BUILD_BUG_ON(sizeof(struct dtrbd_p_data) != 24);
	BUILD_BUG_ON(sizeof(struct dtrbd_p_ack) != 24);
	BUILD_BUG_ON(sizeof(struct dtrbd_p_sync_done) != 8);
	BUILD_BUG_ON(sizeof(struct dtrbd_p_promote_reply) != 8);
	BUILD_BUG_ON(sizeof(struct dtrbd_md_super) != 256);
	BUILD_BUG_ON(DTRBD_MAX_PAYLOAD / PAGE_SIZE > BIO_MAX_VECS);
	BUILD_BUG_ON(DTRBD_RS_CHUNK > DTRBD_MAX_PAYLOAD);
}

static int dtrbd_open(struct block_device *bdev, fmode_t mode)
{
	struct dtrbd_device *dev = bdev->bd_disk->private_data;
	int ret = 0;

	spin_lock_irq(&dev->lock);
	if (dev->removing)
		ret = -ENXIO;
	else if (dev->role != DTRBD_ROLE_PRIMARY)
		/*
		 * Secondary: only the Primary opens. A non-blocking read-only
		 * open is a probe (systemd-udevd 252 locks every whole disk it
		 * processes that way and drops the whole event, links and
		 * permissions included, on any error but the "device absent"
		 * ones; it exempts only dm-, md and drbd names): ENXIO.
		 */
		ret = (mode & FMODE_NDELAY) && !(mode & FMODE_WRITE) ?
		      -ENXIO : -EMEDIUMTYPE;
	else
		dev->open_count++;
	spin_unlock_irq(&dev->lock);
	return ret;
}

static void dtrbd_release(struct gendisk *disk, fmode_t mode)
{
	struct dtrbd_device *dev = disk->private_data;
	bool last;

	spin_lock_irq(&dev->lock);
	last = !--dev->open_count;
	spin_unlock_irq(&dev->lock);
	/*
	 * Tell userspace the device can be demoted or detached now (dtrbdd
	 * waits for that in a hand-over). Not from here: disk->open_mutex is
	 * held, and an event takes locks of its own. The work holds a
	 * reference; detach cancels it (no release can follow detach's
	 * check of open_count, since open refuses once removing is set).
	 */
	if (last) {
		kref_get(&dev->kref);
		if (!queue_work(dtrbd_wq, &dev->closed_work))
			dtrbd_dev_put(dev);	/* already queued: never the last */
	}
}

static void dtrbd_closed_work(struct work_struct *work)
{
	struct dtrbd_device *dev = container_of(work, struct dtrbd_device,
						closed_work);
	bool removing;

	spin_lock_irq(&dev->lock);
	removing = dev->removing;
	spin_unlock_irq(&dev->lock);
	if (!removing)
		dtrbd_notify(dev, DTRBD_EV_CLOSED, NULL);
	dtrbd_dev_put(dev);
}

static const struct block_device_operations dtrbd_fops = {
	.owner		= THIS_MODULE,
	.submit_bio	= dtrbd_submit_bio,
	.open		= dtrbd_open,
	.release	= dtrbd_release,
};

static void dtrbd_dev_free(struct kref *kref)
{
	struct dtrbd_device *dev = container_of(kref, struct dtrbd_device,
						kref);

	put_disk(dev->disk);
	dtrbd_bm_free(dev);
	dtrbd_al_free(dev);
	if (dev->md_page)
		__free_page(dev->md_page);
	kfree(dev);
}

void dtrbd_dev_put(struct dtrbd_device *dev)
{
	might_sleep();
	kref_put(&dev->kref, dtrbd_dev_free);
}

struct dtrbd_device *dtrbd_dev_get_by_minor(unsigned int minor)
{
	struct dtrbd_device *dev;

	mutex_lock(&dtrbd_devs_mutex);
	dev = xa_load(&dtrbd_devs, minor);
	/* an attach still in progress holds the minor, nothing else */
	if (dev && !dev->registered)
		dev = NULL;
	if (dev)
		kref_get(&dev->kref);
	mutex_unlock(&dtrbd_devs_mutex);
	return dev;
}

/*
 * Call @fn for every device with minor >= @start, in minor order, each with
 * a reference held and no registry lock, so @fn may sleep. Stops at the
 * first non-zero return and returns it.
 */
int dtrbd_for_each_device(int (*fn)(struct dtrbd_device *, void *),
			  void *arg, unsigned int start)
{
	unsigned long index = start;
	struct dtrbd_device *dev;
	int ret = 0;

	for (;;) {
		mutex_lock(&dtrbd_devs_mutex);
		dev = xa_find(&dtrbd_devs, &index, DTRBD_MAX_MINOR,
			      XA_PRESENT);
		if (dev && !dev->registered) {
			mutex_unlock(&dtrbd_devs_mutex);
			index++;
			continue;
		}
		if (dev)
			kref_get(&dev->kref);
		mutex_unlock(&dtrbd_devs_mutex);
		if (!dev)
			return 0;
		ret = fn(dev, arg);
		dtrbd_dev_put(dev);
		if (ret)
			return ret;
		index++;
	}
}

static void dtrbd_set_limits(struct dtrbd_device *dev)
{
	struct request_queue *q = dev->disk->queue;
	struct block_device *b = dev->bdev;

	blk_queue_logical_block_size(q, max(bdev_logical_block_size(b), 512));
	blk_queue_physical_block_size(q, bdev_physical_block_size(b));
	blk_queue_io_min(q, bdev_io_min(b));
	blk_queue_io_opt(q, bdev_io_opt(b));
	/* one bio must fit in one P_DATA packet */
	blk_queue_max_hw_sectors(q, DTRBD_MAX_PAYLOAD >> SECTOR_SHIFT);
	blk_queue_max_segments(q, DTRBD_MAX_PAYLOAD / PAGE_SIZE);
	/* accept PREFLUSH and FUA: the peer must see them too */
	blk_queue_write_cache(q, true, true);
	blk_queue_flag_set(QUEUE_FLAG_NONROT, q);
	if (!bdev_nonrot(b))
		blk_queue_flag_clear(QUEUE_FLAG_NONROT, q);
}

/* The device queue's limits as P_LIMITS describes them. */
void dtrbd_queue_limits(struct dtrbd_device *dev, struct dtrbd_limits *l)
{
	struct request_queue *q = dev->disk->queue;

	l->lbs = queue_logical_block_size(q);
	l->pbs = queue_physical_block_size(q);
	l->max_bio = min_t(u32, queue_max_hw_sectors(q) << SECTOR_SHIFT,
			   DTRBD_MAX_PAYLOAD);
}

/*
 * Adopt the pair's limits (dtrbd_limits_merge): they only ever get
 * stricter. The caller checked, under dev->lock, that the logical block
 * size grows only while the device is closed.
 */
void dtrbd_adopt_limits(struct dtrbd_device *dev, const struct dtrbd_limits *l)
{
	struct request_queue *q = dev->disk->queue;

	lockdep_assert_held(&dev->lock);
	blk_queue_logical_block_size(q, l->lbs);
	blk_queue_physical_block_size(q, l->pbs);
	blk_queue_max_hw_sectors(q, l->max_bio >> SECTOR_SHIFT);
}

static void dtrbd_bdev_msg(int ret, bool meta, struct netlink_ext_ack *extack)
{
	if (ret == -EBUSY && meta)
		NL_SET_ERR_MSG(extack,
			       "the metadata device is in use (mounted, attached to another dtrbd device, or held by device-mapper)");
	else if (ret == -EBUSY)
		NL_SET_ERR_MSG(extack,
			       "the disk is in use (mounted, attached to another dtrbd device, or held by device-mapper)");
	else if (ret == -ENOENT && meta)
		NL_SET_ERR_MSG(extack, "the metadata device does not exist");
	else if (ret == -ENOENT)
		NL_SET_ERR_MSG(extack, "the disk does not exist");
	else if (ret == -ENOTBLK && meta)
		NL_SET_ERR_MSG(extack, "the metadata device is not a block device");
	else if (ret == -ENOTBLK)
		NL_SET_ERR_MSG(extack, "the disk is not a block device");
	else if (meta)
		NL_SET_ERR_MSG(extack, "cannot open the metadata device");
	else
		NL_SET_ERR_MSG(extack, "cannot open the disk");
}

/*
 * Bring the metadata in: superblock, bitmap, activity log. A device that
 * crashed as Primary marks its activity log extents out of sync, writes the
 * bitmap, and from then on says so (MDF_CRASHED_PRIMARY) until a resync
 * settled it.
 */
static int dtrbd_attach_md(struct dtrbd_device *dev,
			   struct netlink_ext_ack *extack)
{
	bool crashed;
	int ret;

	ret = dtrbd_md_read(dev, extack);
	if (ret)
		return ret;
	ret = dtrbd_bm_alloc(dev);
	if (ret)
		return ret;
	ret = dtrbd_bm_read(dev);
	if (ret) {
		NL_SET_ERR_MSG(extack, "cannot read the bitmap from the disk");
		return ret;
	}
	crashed = dev->md_flags & DTRBD_MDF_PRIMARY;
	ret = dtrbd_al_recover(dev, crashed);
	if (ret) {
		NL_SET_ERR_MSG(extack, "cannot read the activity log from the disk");
		return ret;
	}
	if (!crashed)
		return 0;
	ret = dtrbd_bm_write(dev, true);
	if (!ret) {
		/*
		 * We always come back as Secondary: the flag means "crashed"
		 * next time only if we are promoted again.
		 */
		dev->md_flags &= ~DTRBD_MDF_PRIMARY;
		dev->md_flags |= DTRBD_MDF_CRASHED_PRIMARY;
		ret = dtrbd_md_write(dev);
	}
	if (!ret)
		ret = dtrbd_al_clear(dev);
	if (ret)
		NL_SET_ERR_MSG(extack, "cannot write the metadata");
	return ret;
}

/*
 * /sys/block/dtrbdN/dtrbd/name: the resource name given at attach (empty
 * without one). udev's rules read it for /dev/dtrbd/by-res/NAME on every
 * event, so a later "udevadm trigger" or a replay after a udevd restart
 * keeps the link. The attribute lives while the gendisk is registered;
 * del_gendisk() removes it and waits for readers before the device goes.
 */
static ssize_t name_show(struct device *ddev, struct device_attribute *attr,
			 char *buf)
{
	struct dtrbd_device *dev = dev_to_disk(ddev)->private_data;

	return sysfs_emit(buf, "%s\n", dev->res_name);
}
static DEVICE_ATTR_RO(name);

static struct attribute *dtrbd_disk_attrs[] = {
	&dev_attr_name.attr,
	NULL,
};

static const struct attribute_group dtrbd_disk_group = {
	.name = "dtrbd",
	.attrs = dtrbd_disk_attrs,
};

static const struct attribute_group *dtrbd_disk_groups[] = {
	&dtrbd_disk_group,
	NULL,
};

int dtrbd_attach(unsigned int minor, const char *path, const char *meta_path,
		 const char *res_name, unsigned int al_extents,
		 struct netlink_ext_ack *extack)
{
	const fmode_t mode = FMODE_READ | FMODE_WRITE | FMODE_EXCL;
	struct dtrbd_device *dev;
	struct gendisk *disk;
	int ret;

	dev = kzalloc(sizeof(*dev), GFP_KERNEL);
	if (!dev)
		return -ENOMEM;
	kref_init(&dev->kref);
	dev->minor = minor;
	strscpy(dev->disk_path, path, sizeof(dev->disk_path));
	if (meta_path)
		strscpy(dev->meta_path, meta_path, sizeof(dev->meta_path));
	if (res_name)
		strscpy(dev->res_name, res_name, sizeof(dev->res_name));
	mutex_init(&dev->md_mutex);
	mutex_init(&dev->state_mutex);
	spin_lock_init(&dev->lock);
	init_waitqueue_head(&dev->state_wq);
	init_waitqueue_head(&dev->rs_wq);
	init_waitqueue_head(&dev->sender_wq);
	init_waitqueue_head(&dev->peer_wq);
	dev->write_tree = RB_ROOT_CACHED;
	dev->peer_tree = RB_ROOT_CACHED;
	INIT_LIST_HEAD(&dev->active_reads);
	INIT_LIST_HEAD(&dev->peer_writes);
	INIT_LIST_HEAD(&dev->send_q);
	INIT_LIST_HEAD(&dev->ack_q);
	INIT_LIST_HEAD(&dev->deferred);
	INIT_WORK(&dev->teardown_work, dtrbd_teardown);
	INIT_DELAYED_WORK(&dev->req_timer, dtrbd_req_timer);
	INIT_WORK(&dev->submit_work, dtrbd_submit_work);
	INIT_WORK(&dev->io_error_work, dtrbd_io_error_work);
	INIT_WORK(&dev->closed_work, dtrbd_closed_work);
	atomic_set(&dev->nr_reqs, 0);
	atomic_set(&dev->peer_pages, 0);
	dev->role = DTRBD_ROLE_SECONDARY;
	dev->cstate = DTRBD_CONN_STANDALONE;
	dev->peer_role = DTRBD_ROLE_UNKNOWN;
	dev->peer_disk = DTRBD_DISK_UNKNOWN;
	dev->send_promote_reply = -1;
	dev->protocol = DTRBD_PROT_C;

	ret = dtrbd_al_alloc(dev, al_extents);
	if (ret)
		goto out_free_dev;
	dev->md_page = alloc_page(GFP_KERNEL);
	if (!dev->md_page) {
		ret = -ENOMEM;
		goto out_free_dev;
	}

	disk = blk_alloc_disk(NUMA_NO_NODE);
	if (!disk) {
		ret = -ENOMEM;
		goto out_free_dev;
	}
	dev->disk = disk;
	disk->major = dtrbd_major;
	disk->first_minor = minor;
	disk->minors = 1;
	disk->fops = &dtrbd_fops;
	disk->private_data = dev;
	disk->flags |= GENHD_FL_NO_PART;
	snprintf(disk->disk_name, DISK_NAME_LEN, "dtrbd%u", minor);

	dev->bdev = blkdev_get_by_path(path, mode, dev);
	if (IS_ERR(dev->bdev)) {
		ret = PTR_ERR(dev->bdev);
		dev->bdev = NULL;
		dtrbd_bdev_msg(ret, false, extack);
		goto out_put_disk;
	}
	dev->md_bdev = dev->bdev;
	if (meta_path) {
		dev->md_bdev = blkdev_get_by_path(meta_path, mode, dev);
		if (IS_ERR(dev->md_bdev)) {
			ret = PTR_ERR(dev->md_bdev);
			dev->md_bdev = NULL;
			dtrbd_bdev_msg(ret, true, extack);
			goto out_put_bdev;
		}
		/*
		 * The same holder may claim a device twice: external metadata
		 * (from sector 0) on the data disk would overwrite the data.
		 * A partition and its whole disk cannot both be claimed.
		 */
		if (dev->md_bdev == dev->bdev) {
			NL_SET_ERR_MSG(extack,
				       "the metadata device is the data disk; name a separate device, or leave out --meta for internal metadata");
			/* opened twice: this reference is the second one */
			blkdev_put(dev->md_bdev, mode);
			dev->md_bdev = NULL;
			ret = -EINVAL;
			goto out_put_bdev;
		}
	}

	ret = dtrbd_attach_md(dev, extack);
	if (ret)
		goto out_put_md;
	dev->size = dev->layout.data_size;
	dev->disk_state = (dev->md_flags & DTRBD_MDF_CONSISTENT) ?
			  DTRBD_DISK_UPTODATE : DTRBD_DISK_INCONSISTENT;
	if (dev->md_flags & DTRBD_MDF_CRASHED_PRIMARY)
		dev->flags |= DTRBD_F_CRASHED_PRIMARY;

	dtrbd_set_limits(dev);
	set_capacity(disk, dev->size >> SECTOR_SHIFT);

	mutex_lock(&dtrbd_devs_mutex);
	ret = dtrbd_exiting ? -ESHUTDOWN :
			      xa_insert(&dtrbd_devs, minor, dev, GFP_KERNEL);
	mutex_unlock(&dtrbd_devs_mutex);
	if (ret) {
		if (ret == -EBUSY) {
			ret = -EEXIST;
			NL_SET_ERR_MSG(extack, "this minor is attached already");
		}
		goto out_put_md;
	}

	/* the ADD uevent already sees dtrbd/name */
	ret = device_add_disk(NULL, disk, dtrbd_disk_groups);
	if (ret) {
		NL_SET_ERR_MSG(extack, "cannot register the block device");
		goto out_erase;
	}
	mutex_lock(&dtrbd_devs_mutex);
	dev->registered = true;
	mutex_unlock(&dtrbd_devs_mutex);
	dtrbd_info(dev, "attached%s%s to %s%s%s, %llu bytes, disk %s, %llu KiB out of sync\n",
		   res_name ? " as " : "", res_name ? res_name : "",
		   path, meta_path ? ", metadata on " : "",
		   meta_path ? meta_path : "", dev->size,
		   dev->disk_state == DTRBD_DISK_UPTODATE ? "UpToDate" :
		   "Inconsistent", dev->bm_set * (DTRBD_MD_BLOCK >> 10));
	dtrbd_notify(dev, DTRBD_EV_ATTACHED, NULL);
	return 0;

out_erase:
	mutex_lock(&dtrbd_devs_mutex);
	xa_erase(&dtrbd_devs, minor);
	mutex_unlock(&dtrbd_devs_mutex);
out_put_md:
	if (dev->md_bdev && dev->md_bdev != dev->bdev)
		blkdev_put(dev->md_bdev, mode);
out_put_bdev:
	blkdev_put(dev->bdev, mode);
out_put_disk:
	/* put_disk() frees the queue; dev itself is freed below */
	put_disk(disk);
out_free_dev:
	dtrbd_bm_free(dev);
	dtrbd_al_free(dev);
	if (dev->md_page)
		__free_page(dev->md_page);
	kfree(dev);
	return ret;
}

/*
 * Remove a device: refuse while it is open, drop the connection, wait for
 * every bio, unregister, release the backing disk. Drops the registry's
 * reference; the caller still holds its own.
 */
int dtrbd_detach(struct dtrbd_device *dev, struct netlink_ext_ack *extack)
{
	mutex_lock(&dev->state_mutex);
	spin_lock_irq(&dev->lock);
	if (dev->open_count) {
		spin_unlock_irq(&dev->lock);
		mutex_unlock(&dev->state_mutex);
		NL_SET_ERR_MSG(extack,
			       "the device is open; close it (unmount, stop the VM) first");
		return -EBUSY;
	}
	if (dev->removing) {
		spin_unlock_irq(&dev->lock);
		mutex_unlock(&dev->state_mutex);
		NL_SET_ERR_MSG(extack, "the device is being removed already");
		return -ENODEV;
	}
	dev->removing = true;
	spin_unlock_irq(&dev->lock);
	mutex_unlock(&dev->state_mutex);

	dtrbd_disconnect(dev);
	dtrbd_freeze_release_all(dev);	/* nobody can resume them now */

	mutex_lock(&dtrbd_devs_mutex);
	xa_erase(&dtrbd_devs, dev->minor);
	mutex_unlock(&dtrbd_devs_mutex);

	del_gendisk(dev->disk);
	/* bio-based: del_gendisk() does not wait for our completions */
	wait_var_event(&dev->nr_reqs, !atomic_read(&dev->nr_reqs));

	/* a clean stop: bitmap on disk, nothing hot, not Primary */
	flush_work(&dev->submit_work);
	flush_work(&dev->io_error_work);
	if (cancel_work_sync(&dev->closed_work))
		dtrbd_dev_put(dev);	/* the pending event's reference */
	mutex_lock(&dev->state_mutex);
	if (dtrbd_bm_write(dev, false) || dtrbd_al_clear(dev))
		dtrbd_warn(dev, "could not write the bitmap and activity log\n");
	if (dev->role == DTRBD_ROLE_PRIMARY) {
		dev->role = DTRBD_ROLE_SECONDARY;
		dev->md_flags &= ~DTRBD_MDF_PRIMARY;
		if (dtrbd_md_write(dev))
			dtrbd_warn(dev, "could not record the role change\n");
	}
	mutex_unlock(&dev->state_mutex);

	if (dev->md_bdev != dev->bdev)
		blkdev_put(dev->md_bdev, FMODE_READ | FMODE_WRITE | FMODE_EXCL);
	blkdev_put(dev->bdev, FMODE_READ | FMODE_WRITE | FMODE_EXCL);
	dtrbd_info(dev, "detached\n");
	dtrbd_notify(dev, DTRBD_EV_DETACHED, NULL);
	dtrbd_dev_put(dev);	/* the registry's reference */
	return 0;
}

static int dtrbd_detach_one(struct dtrbd_device *dev, void *arg)
{
	int ret = dtrbd_detach(dev, NULL);

	if (ret)
		pr_err("cannot remove %s at unload: %d\n", dtrbd_name(dev),
		       ret);
	return 0;
}

static int __init dtrbd_init(void)
{
	int ret;

	dtrbd_check_layout();

	ret = bioset_init(&dtrbd_req_bs, BIO_POOL_SIZE,
			  offsetof(struct dtrbd_req, clone), 0);
	if (ret)
		return ret;
	ret = bioset_init(&dtrbd_peer_bs, BIO_POOL_SIZE,
			  offsetof(struct dtrbd_peer_req, bio),
			  BIOSET_NEED_BVECS);
	if (ret)
		goto out_req_bs;

	dtrbd_wq = alloc_workqueue("dtrbd", WQ_MEM_RECLAIM, 0);
	if (!dtrbd_wq) {
		ret = -ENOMEM;
		goto out_peer_bs;
	}
	dtrbd_conn_wq = alloc_workqueue("dtrbd_conn", WQ_MEM_RECLAIM, 0);
	if (!dtrbd_conn_wq) {
		ret = -ENOMEM;
		goto out_wq;
	}

	dtrbd_major = register_blkdev(0, "dtrbd");
	if (dtrbd_major < 0) {
		ret = dtrbd_major;
		goto out_conn_wq;
	}

	ret = dtrbd_nl_init();
	if (ret)
		goto out_blkdev;

	pr_info("loaded, protocol %u-%u, major %d\n", DTRBD_PROTO_MIN,
		DTRBD_PROTO_MAX, dtrbd_major);
	return 0;

out_blkdev:
	unregister_blkdev(dtrbd_major, "dtrbd");
out_conn_wq:
	destroy_workqueue(dtrbd_conn_wq);
out_wq:
	destroy_workqueue(dtrbd_wq);
out_peer_bs:
	bioset_exit(&dtrbd_peer_bs);
out_req_bs:
	bioset_exit(&dtrbd_req_bs);
	return ret;
}

static void __exit dtrbd_exit(void)
{
	/*
	 * The commands first: unregistering waits for every command still
	 * running, and none can start afterwards, so nothing finds a device
	 * while it is being removed. Then remove what is left (none can be
	 * open: an open device holds the module).
	 */
	dtrbd_nl_exit();
	mutex_lock(&dtrbd_devs_mutex);
	dtrbd_exiting = true;
	mutex_unlock(&dtrbd_devs_mutex);
	dtrbd_for_each_device(dtrbd_detach_one, NULL, 0);
	WARN_ON(!xa_empty(&dtrbd_devs));
	unregister_blkdev(dtrbd_major, "dtrbd");
	destroy_workqueue(dtrbd_conn_wq);
	destroy_workqueue(dtrbd_wq);
	bioset_exit(&dtrbd_peer_bs);
	bioset_exit(&dtrbd_req_bs);
	pr_info("unloaded\n");
}

module_init(dtrbd_init);
module_exit(dtrbd_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("dtrbd: disaster-tolerant replicated block device");
MODULE_AUTHOR("The dtrbd developers");
MODULE_ALIAS_GENL_FAMILY(DTRBD_GENL_NAME);
