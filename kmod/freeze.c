// SPDX-License-Identifier: GPL-2.0
/*
 * dtrbd: freeze on peer loss (on-peer-loss = freeze).
 *
 * With protocol C a write completes only once the peer has it. When a
 * Primary under this policy loses its connection (a failure, or a
 * disconnect), dtrbd_conn_fail() sets dev->frozen before anything else
 * happens to the writes in flight. From then on no write completes to
 * the application:
 *   - a write whose master bio would complete (the teardown completes the
 *     ones the peer did not confirm) is held on dev->frozen_bios with its
 *     status, by dtrbd_freeze_hold() in the request's completion;
 *   - a new write does not start: it stays on dev->deferred, and the
 *     submit work does not sleep for it (the end of the freeze queues the
 *     work again);
 *   - reads go on.
 * Nothing in userspace has to stay alive for this to hold: only
 * RESUME_IO, FAIL_IO, a successful reconnect or a detach end it.
 *
 * The data generation: the teardown starts none (a continuing Primary
 * does). If writes the peer did not confirm reached our disk, their
 * blocks are marked out of sync and we mark ourselves as a crashed
 * Primary (DTRBD_MDF_CRASHED_PRIMARY): if the peer comes back still in the
 * same generation, the handshake makes us the resync source of exactly
 * those blocks; if the peer moved on (it was promoted), we are the target
 * and the bitmap exchange overwrites them. RESUME_IO starts the new
 * generation before the first held write completes. So a frozen host that
 * is failed over and demoted resyncs from the survivor without a split
 * brain.
 */
#define pr_fmt(fmt) "dtrbd: " fmt

#include "dtrbd_int.h"

/*
 * A write's master bio is about to complete (any context): hold it while
 * frozen (returns true: the caller must not touch it again), or fail it
 * after FAIL_IO.
 */
bool dtrbd_freeze_hold(struct dtrbd_device *dev, struct bio *master)
{
	unsigned long flags;
	bool held = false;

	/*
	 * dtrbd_conn_fail() sets frozen under dev->lock before the teardown
	 * takes that lock to complete the writes the peer did not confirm,
	 * so those always see it; a write racing past this check is one the
	 * peer confirmed.
	 */
	if (!READ_ONCE(dev->frozen) && !READ_ONCE(dev->io_failed))
		return false;
	spin_lock_irqsave(&dev->lock, flags);
	if (dev->frozen) {
		bio_list_add(&dev->frozen_bios, master);
		held = true;
	} else if (dev->io_failed) {
		master->bi_status = BLK_STS_IOERR;
	}
	spin_unlock_irqrestore(&dev->lock, flags);
	return held;
}

static unsigned int dtrbd_freeze_end(struct bio_list *held, bool fail)
{
	unsigned int n = 0;
	struct bio *bio;

	while ((bio = bio_list_pop(held))) {
		if (fail)
			bio->bi_status = BLK_STS_IOERR;
		bio_endio(bio);
		n++;
	}
	return n;
}

/* Under dev->lock: may RESUME_IO / FAIL_IO act now? */
static int dtrbd_freeze_check(struct dtrbd_device *dev, bool resume,
			      struct netlink_ext_ack *extack)
{
	lockdep_assert_held(&dev->lock);
	if (!dev->frozen && !(resume && dev->io_failed)) {
		if (dev->io_failed)
			NL_SET_ERR_MSG(extack,
				       "the device's writes have failed already; run 'dtrbdctl resume-io' to let writes through again");
		else
			NL_SET_ERR_MSG(extack,
				       "the device is not frozen: its writes are not waiting for anything");
		return -EINVAL;
	}
	if (dev->cstate != DTRBD_CONN_STANDALONE) {
		NL_SET_ERR_MSG(extack,
			       "a connection to the peer is being set up; wait until it is connected (which resumes writes) or disconnect, then try again");
		return -EBUSY;
	}
	return 0;
}

int dtrbd_resume_io(struct dtrbd_device *dev, struct netlink_ext_ack *extack)
{
	struct bio_list held;
	bool unacked;
	unsigned int n;
	int ret;

	/* a teardown still running holds writes it has yet to complete */
	flush_work(&dev->teardown_work);
	mutex_lock(&dev->state_mutex);
	spin_lock_irq(&dev->lock);
	ret = dtrbd_freeze_check(dev, true, extack);
	unacked = dev->freeze_unacked || !bio_list_empty(&dev->frozen_bios);
	if (!ret && !unacked)
		dev->gen_pending = true;	/* the first write starts it */
	spin_unlock_irq(&dev->lock);
	if (ret)
		goto out_unlock;
	if (unacked) {
		/* held writes are about to complete that the peer lacks */
		mutex_lock(&dev->md_mutex);
		dtrbd_new_current_uuid(dev);
		mutex_unlock(&dev->md_mutex);
		ret = dtrbd_md_write(dev);
		if (ret) {
			NL_SET_ERR_MSG(extack,
				       "cannot write the new data generation to the metadata; the writes stay frozen: check the backing disk, or run 'dtrbdctl fail-io'");
			goto out_unlock;
		}
	}
	spin_lock_irq(&dev->lock);
	dev->frozen = false;
	dev->io_failed = false;
	dev->freeze_unacked = false;
	held = dev->frozen_bios;
	bio_list_init(&dev->frozen_bios);
	spin_unlock_irq(&dev->lock);
	wake_up_all(&dev->state_wq);
	queue_work(dtrbd_wq, &dev->submit_work);	/* deferred writes start */
	mutex_unlock(&dev->state_mutex);
	n = dtrbd_freeze_end(&held, false);
	dtrbd_info(dev, "writes resumed by the administrator: %u held writes completed, this side goes on alone\n",
		   n);
	dtrbd_notify(dev, DTRBD_EV_RESUMED,
		     "resumed by the administrator: writes complete on this side alone");
	return 0;

out_unlock:
	mutex_unlock(&dev->state_mutex);
	return ret;
}

int dtrbd_fail_io(struct dtrbd_device *dev, struct netlink_ext_ack *extack)
{
	struct bio_list held;
	unsigned int n;
	int ret;

	flush_work(&dev->teardown_work);
	mutex_lock(&dev->state_mutex);
	spin_lock_irq(&dev->lock);
	ret = dtrbd_freeze_check(dev, false, extack);
	if (!ret) {
		dev->frozen = false;
		dev->io_failed = true;
		held = dev->frozen_bios;
		bio_list_init(&dev->frozen_bios);
	}
	spin_unlock_irq(&dev->lock);
	mutex_unlock(&dev->state_mutex);
	if (ret)
		return ret;
	wake_up_all(&dev->state_wq);
	queue_work(dtrbd_wq, &dev->submit_work);	/* deferred writes fail */
	n = dtrbd_freeze_end(&held, true);
	dtrbd_warn(dev, "writes failed by the administrator: %u held writes completed with an I/O error, later writes fail too\n",
		   n);
	dtrbd_notify(dev, DTRBD_EV_IO_FAILED,
		     "writes failed by the administrator: waiting and new writes end with an I/O error until 'dtrbdctl resume-io' or a reconnect");
	return 0;
}

/*
 * The handshake succeeded: the peer is back, and the resync it decided
 * covers every block a held write touched. Held writes complete, new ones
 * go to both sides again.
 */
void dtrbd_freeze_reconnected(struct dtrbd_device *dev)
{
	struct bio_list held;
	bool was;

	spin_lock_irq(&dev->lock);
	was = dev->frozen || dev->io_failed;
	dev->frozen = false;
	dev->io_failed = false;
	dev->freeze_unacked = false;
	held = dev->frozen_bios;
	bio_list_init(&dev->frozen_bios);
	spin_unlock_irq(&dev->lock);
	if (!was)
		return;
	wake_up_all(&dev->state_wq);
	queue_work(dtrbd_wq, &dev->submit_work);
	dtrbd_freeze_end(&held, false);
	dtrbd_info(dev, "writes resumed: reconnected to the peer\n");
	dtrbd_notify(dev, DTRBD_EV_RESUMED, "reconnected to the peer");
}

/* Detach: nobody can resume any more; everything held fails. */
void dtrbd_freeze_release_all(struct dtrbd_device *dev)
{
	struct bio_list held;

	spin_lock_irq(&dev->lock);
	if (dev->frozen)
		dev->io_failed = true;
	dev->frozen = false;
	held = dev->frozen_bios;
	bio_list_init(&dev->frozen_bios);
	spin_unlock_irq(&dev->lock);
	wake_up_all(&dev->state_wq);
	queue_work(dtrbd_wq, &dev->submit_work);
	dtrbd_freeze_end(&held, true);
}
